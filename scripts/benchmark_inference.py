"""Time page colorization: upstream-style eager pass vs whole test.py processes, per mode and precision.

    python scripts/benchmark_inference.py                          # 1200x1700 pages, resnet_9blocks ngf 64
    python scripts/benchmark_inference.py --pages 2 --modes default keep_lines --precisions fp32 bf16
    python scripts/benchmark_inference.py --width 4000 --height 6000 --pages 1 --modes default

Prints one row per configuration: seconds per page, GFLOP/s (counted at full resolution, so the
cheaper modes show the speed a user perceives), and the peak resident memory of the process.
The weights are random (speed does not depend on them); pages are synthetic line art.
Each test.py row runs a fresh process over --pages same-size pages, start-up and model load
included, and divides its wall time by the page count.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from models.networks import define_G  # noqa: E402

MODES = {
    "default": [],
    "untiled": ["--tile_size", "0"],
    "scale_width": ["--preprocess", "scale_width", "--load_size", "512"],
    "keep_lines": ["--keep_lines", "--load_size", "512"],
}

# Runs test.py in this process and reports its peak RSS: the number covers the whole run.
_WRAPPER = (
    "import resource, runpy, sys, json;"
    "sys.argv = ['test.py'] + sys.argv[1:];"
    "code = 0\n"
    "try:\n    runpy.run_path('test.py', run_name='__main__')\n"
    "except SystemExit as e:\n    code = e.code or 0\n"
    "print(json.dumps({'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'code': code}),"
    " file=sys.stderr)\n"
)


def conv_gflop(net: torch.nn.Module, height: int, width: int) -> float:
    """Multiply-adds x 2 of every conv for one page, counted with forward hooks on a tiny copy of the shape."""
    total = [0.0]

    def hook(module: torch.nn.Module, inputs, output) -> None:
        if isinstance(module, torch.nn.ConvTranspose2d):
            k = module.in_channels * module.kernel_size[0] * module.kernel_size[1] // module.groups
            total[0] += 2.0 * k * inputs[0].shape[2] * inputs[0].shape[3] * module.out_channels
        else:
            k = module.in_channels * module.kernel_size[0] * module.kernel_size[1] // module.groups
            total[0] += 2.0 * k * output.numel() / output.shape[0]

    handles = [m.register_forward_hook(hook) for m in net.modules()
               if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    scale = 8  # count on a 1/8-size page and scale: conv cost is linear in pixels
    with torch.inference_mode():
        net(torch.zeros(1, 3, height // scale // 4 * 4, width // scale // 4 * 4))
    for h in handles:
        h.remove()
    pixels_small = (height // scale // 4 * 4) * (width // scale // 4 * 4)
    return total[0] * (height * width) / pixels_small / 1e9


def synthetic_page(width: int, height: int, seed: int) -> Image.Image:
    """Ink-like strokes and panels on white, so the page resembles a scan rather than noise."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        draw.line([(x0, y0), (x0 + rng.integers(-300, 300), y0 + rng.integers(-300, 300))], fill=0,
                  width=int(rng.integers(1, 6)))
    for _ in range(8):
        x0, y0 = rng.integers(0, width - 200), rng.integers(0, height - 200)
        draw.rectangle([x0, y0, x0 + 200, y0 + 150], outline=0, width=4, fill=int(rng.integers(150, 255)))
    return img.convert("RGB")


def eager_baseline(net: torch.nn.Module, width: int, height: int, repeats: int) -> Dict[str, float]:
    """Upstream's test path: no_grad, eager fp32, the whole padded page at once."""
    x = torch.rand(1, 3, height, width) * 2 - 1
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            start = time.perf_counter()
            net(x)
            times.append(time.perf_counter() - start)
    return {"s_per_page": float(np.median(times)),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_test_py(ck: str, pages: str, out: str, extra: List[str]) -> Dict[str, float]:
    args = [sys.executable, "-c", _WRAPPER, "--dataroot", pages, "--name", "bench", "--checkpoints_dir", ck,
            "--model", "test", "--model_suffix", "_A", "--output_dir", out, "--results_dir",
            os.path.join(out, "results"), "--device", "cpu"] + extra
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    if report["code"] != 0:
        raise RuntimeError(f"test.py failed: {proc.stderr[-2000:]}")
    return {"wall_s": wall, "rss_mb": report["rss_mb"]}


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1700)
    parser.add_argument("--pages", type=int, default=3, help="same-size pages per test.py process")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--skip_eager", action="store_true", help="skip the in-process eager baseline")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    net = define_G("resnet_9blocks", 3, 3, ngf=64).eval()
    gflop = conv_gflop(net, args.height, args.width)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "ck", "bench")
        os.makedirs(ck)
        torch.save(net.state_dict(), os.path.join(ck, "latest_net_G_A.pth"))
        pages = os.path.join(tmp, "pages")
        os.makedirs(pages)
        for i in range(args.pages):
            synthetic_page(args.width, args.height, i).save(os.path.join(pages, f"page{i}.png"))

        if not args.skip_eager:
            base = eager_baseline(net, args.width, args.height, repeats=2)
            rows.append(("eager fp32 (upstream-style, in-process)", base["s_per_page"], base["rss_mb"]))
        del net
        for mode in args.modes:
            for precision in args.precisions:
                out = os.path.join(tmp, f"out_{mode}_{precision}")
                result = run_test_py(os.path.join(tmp, "ck"), pages, out, MODES[mode] + ["--precision", precision])
                rows.append((f"test.py {mode} {precision}", result["wall_s"] / args.pages, result["rss_mb"]))

    print(f"\n{args.width}x{args.height} page, resnet_9blocks ngf 64: {gflop:.0f} GFLOP at full resolution, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'configuration':<44}{'s/page':>9}{'GFLOP/s':>10}{'peak RSS MB':>13}")
    for name, seconds, rss in rows:
        print(f"{name:<44}{seconds:>9.2f}{gflop / seconds:>10.0f}{rss:>13.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
