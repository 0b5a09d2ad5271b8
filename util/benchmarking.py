"""Helpers for the benchmark and check scripts: whole-process timing with peak memory, conv FLOP
counts, and synthetic pages to train and colorize."""

import json
import os
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw

# Runs a script in a fresh process and reports that process's peak resident memory (VmHWM: unlike
# getrusage's maxrss, it is not inherited from the parent across fork and exec).
_WRAPPER = (
    "import runpy, sys, json\n"
    "script = sys.argv[1]; sys.argv = sys.argv[1:]\n"
    "code = 0\n"
    "try:\n    runpy.run_path(script, run_name='__main__')\n"
    "except SystemExit as e:\n    code = e.code or 0\n"
    "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
    "print(json.dumps({'rss_mb': int(hwm) / 1024, 'code': code}), file=sys.stderr)\n"
)


def run_process(script: str, args: List[str], cwd: str) -> Dict[str, float]:
    """Wall time and peak RSS of `python script args` in a fresh process; RuntimeError if it fails."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, script] + args, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    if report["code"] != 0:
        raise RuntimeError(f"{script} failed: {proc.stderr[-2000:]}")
    return {"wall_s": wall, "rss_mb": report["rss_mb"], "stderr": proc.stderr}


def conv_gflop(net: nn.Module, channels: int, height: int, width: int) -> float:
    """Forward conv FLOPs (2 x multiply-adds) of `net` on one C x H x W image, counted with hooks
    on a 1/8-size copy and scaled (conv cost is linear in pixels)."""
    total = [0.0]

    def hook(module: nn.Module, inputs, output) -> None:
        k = module.in_channels * module.kernel_size[0] * module.kernel_size[1] // module.groups
        if isinstance(module, nn.ConvTranspose2d):
            total[0] += 2.0 * k * inputs[0].shape[2] * inputs[0].shape[3] * module.out_channels
        else:
            total[0] += 2.0 * k * output.numel() / output.shape[0]

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    small_h, small_w = max(32, height // 8 // 4 * 4), max(32, width // 8 // 4 * 4)
    try:
        with torch.inference_mode():
            net(torch.zeros(1, channels, small_h, small_w))
    finally:
        for h in handles:
            h.remove()
    return total[0] * (height * width) / (small_h * small_w) / 1e9


def synthetic_pages(folder: str, count: int, width: int, height: int, color: bool, seed: int) -> None:
    """Line-art-like pages saved as JPEG (as scans usually are)."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        img = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(img)
        for _ in range(40):
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            fill = tuple(int(v) for v in rng.integers(0, 255, 3)) if color else (0, 0, 0)
            draw.line([(x0, y0), (x0 + int(rng.integers(-200, 200)), y0 + int(rng.integers(-200, 200)))],
                      fill=fill, width=int(rng.integers(1, 8)))
        img.save(os.path.join(folder, f"page{i:03d}.jpg"), quality=90)
