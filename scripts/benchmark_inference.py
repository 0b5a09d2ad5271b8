"""Time page colorization: upstream-style eager pass vs whole test.py processes, per model, mode and precision.

    python scripts/benchmark_inference.py                          # 1200x1700 pages, resnet_9blocks ngf 64
    python scripts/benchmark_inference.py --models page --pages 2 --modes default full --precisions auto
    python scripts/benchmark_inference.py --models upstream --modes default upstream_kernels   # --cpu_kernels fast vs upstream
    python scripts/benchmark_inference.py --width 4000 --height 6000 --pages 1 --modes default

Two models of one network (resnet_9blocks ngf 64): upstream's generator, and the same network
trained with the page recipe (MODELS). Per model, one row per configuration: seconds per page,
the ratio to the eager baseline, GFLOP/s (counted at full resolution, so the cheaper modes show
the speed a user perceives), the peak resident memory of the process, and the PSNR of its pages
against the baseline's (a precision's cost; rows that run at another width or keep the scan's
lines compute another function and differ by design). The weights are random (speed does not
depend on them); pages are synthetic line art. Every row is a fresh process over --pages
same-size pages, start-up and model load included, its wall time divided by the page count; the
baseline row does what upstream's test.py does per page, on the whole page in eager fp32.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from typing import Any, Dict, List, Tuple

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from evaluation.metrics import PSNR_CAP_DB, psnr
from models import generator_configs
from models.networks import define_G
from options.train_options import parse_train_options, save_options
from util.benchmarking import conv_gflop, run_process
from util.checkpoint import weights_path
from util.device import cpu_kind

MODES = {
    "default": [],
    "untiled": ["--tile_size", "0"],
    "full": ["--preprocess", "none"],
    "scale_width": ["--preprocess", "scale_width", "--load_size", "512"],
    "keep_lines": ["--keep_lines", "--load_size", "512"],
    "upstream_kernels": ["--cpu_kernels", "upstream"],  # the default without Winograd/FFT and banded convolutions
}

# The generators timed: upstream's CycleGAN generator as upstream trains it (its weights, loaded
# with upstream's flags), and the same network trained with the page recipe as the README's page
# command does it (a run folder of ours: it paints a color layer at the width it was trained at).
PAGE_RUN_FLAGS = ["--preset", "manga", "--netG", "resnet_9blocks", "--ngf", "64",
                  "--preprocess", "scale_width_and_crop", "--load_size", "512", "--crop_size", "256"]
MODELS = {  # the flags that trained it, test.py's flags that load it, and the modes that apply
    "upstream": {"train_flags": [], "flags": ["--model", "test", "--model_suffix", "_A"],
                 "modes": ("default", "untiled", "scale_width", "keep_lines", "upstream_kernels")},
    "page": {"train_flags": PAGE_RUN_FLAGS, "flags": [], "modes": ("default", "full", "keep_lines")},
}

# Upstream's test path, as a whole process: load the generator, then per page decode, scale to
# [-1, 1], one eager fp32 forward under no_grad at full resolution, save. For the page model the
# forward's color layer multiplies the page, as training did.
_EAGER = """
import json, os, sys, numpy as np, torch
from PIL import Image
from models.color import output_with_luma
from models.networks import define_G
ck, config, pages, out = sys.argv[1:5]
config = json.loads(config)
luma = config["output_luma"]
net = define_G(**config["define_G"]).eval()
net.load_state_dict(torch.load(ck, weights_only=True))
for name in sorted(os.listdir(pages)):
    x = torch.from_numpy(np.asarray(Image.open(os.path.join(pages, name)).convert("RGB"), np.float32))
    x = (x.permute(2, 0, 1)[None] / 127.5 - 1)
    with torch.no_grad():
        y = output_with_luma(net(x), x, luma, config["layer_headroom"])[0]
    Image.fromarray(((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()).save(os.path.join(out, name))
"""


def synthetic_page(width: int, height: int, seed: int) -> Image.Image:
    """Ink-like strokes and panels on white, so the page resembles a scan rather than noise."""
    rng = np.random.default_rng(seed)
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    for _ in range(60):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        draw.line([(x0, y0), (x0 + rng.integers(-300, 300), y0 + rng.integers(-300, 300))], fill=0,
                  width=int(rng.integers(1, 6)))
    box_w, box_h = min(200, width // 2), min(150, height // 2)  # small pages (the tests) get smaller panels
    for _ in range(8):
        x0, y0 = rng.integers(0, width - box_w), rng.integers(0, height - min(200, height // 2))
        draw.rectangle([x0, y0, x0 + box_w, y0 + box_h], outline=0, width=4, fill=int(rng.integers(150, 255)))
    return img.convert("RGB")


def _mean_psnr(folder: str, reference: str) -> float:
    names = sorted(os.listdir(reference))
    return float(np.mean([psnr(np.asarray(Image.open(os.path.join(folder, n))), np.asarray(Image.open(os.path.join(reference, n))))
                          for n in names]))


def _run_folder(tmp: str, model: str) -> Tuple[str, Dict[str, Any], nn.Module]:
    """A run folder holding random weights for `model`: the weights' path, their description
    (models.generator_configs: define_G's arguments, output_luma) and the network."""
    ck = os.path.join(tmp, "ck", model)
    os.makedirs(ck)
    opt = parse_train_options(["--dataroot", "unused", "--name", model, *MODELS[model]["train_flags"]])
    # Upstream's folder holds bare weights only; ours also the options (what test.py reads there).
    name = "G_A" if model == "upstream" else "G_A_ema" if opt.ema_decay > 0 else "G_A"
    if model != "upstream":
        save_options(opt, ck)
    config = generator_configs(opt)[name]
    torch.manual_seed(0)
    net = define_G(**config["define_G"]).eval()
    torch.save(net.state_dict(), weights_path(ck, "latest", name))
    return weights_path(ck, "latest", name), config, net


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1700)
    parser.add_argument("--pages", type=int, default=3, help="same-size pages per test.py process")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES),
                        help="test.py modes to time (each model times those that apply to it)")
    parser.add_argument("--precisions", nargs="+", default=["auto", "fp32"], choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pages = os.path.join(tmp, "pages")
        os.makedirs(pages)
        for i in range(args.pages):
            synthetic_page(args.width, args.height, i).save(os.path.join(pages, f"page{i}.png"))
        for model in args.models:
            weights, config, net = _run_folder(tmp, model)
            gflop = conv_gflop(net, 3, args.height, args.width)
            script = os.path.join(tmp, "eager.py")
            with open(script, "w") as f:
                f.write(_EAGER)
            eager_out = os.path.join(tmp, f"out_{model}_eager")
            os.makedirs(eager_out)
            base = run_process(script, [weights, json.dumps(config), pages, eager_out], ROOT)
            eager_s = base["wall_s"] / args.pages
            rows.append((model, "eager fp32 (upstream-style, whole page)", eager_s, 1.0, gflop, base["rss_mb"], None))
            for mode in (m for m in MODELS[model]["modes"] if m in args.modes):
                for precision in args.precisions:
                    out = os.path.join(tmp, f"out_{model}_{mode}_{precision}")
                    result = run_process("test.py", [
                        "--dataroot", pages, "--name", model, "--checkpoints_dir", os.path.join(tmp, "ck"),
                        "--output_dir", out, "--results_dir", os.path.join(out, "results"), "--device", "cpu",
                        "--precision", precision, *MODELS[model]["flags"], *MODES[mode]], ROOT)
                    seconds = result["wall_s"] / args.pages
                    rows.append((model, f"test.py {mode} {precision}", seconds, seconds / eager_s, gflop,
                                 result["rss_mb"], _mean_psnr(out, eager_out)))

    # A Markdown table, as the README shows it, under a line saying where and when it was measured.
    print(f"\n{args.width}x{args.height} pages, resnet_9blocks ngf 64, {args.pages} pages per process, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}, {time.strftime('%Y-%m-%d')}; {cpu_kind()}")
    print(f"page model: the same network trained with {' '.join(PAGE_RUN_FLAGS)}\n")
    print("| model | configuration | s/page | × eager | GFLOP/s | peak RSS | PSNR vs eager |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model, name, seconds, ratio, gflop, rss, quality in rows:
        shown = "-" if quality is None else ("identical" if quality >= PSNR_CAP_DB else f"{quality:.1f} dB")
        print(f"| {model} | {name} | {seconds:.2f} | {ratio:.2f} | {gflop / seconds:.0f} | {rss:.0f} MB | {shown} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
