"""Time page colorization: upstream-style eager pass vs whole test.py processes, per mode and precision.

    python scripts/benchmark_inference.py                          # 1200x1700 pages, resnet_9blocks ngf 64
    python scripts/benchmark_inference.py --pages 2 --modes default keep_lines --precisions fp32 bf16
    python scripts/benchmark_inference.py --width 4000 --height 6000 --pages 1 --modes default

Prints one row per configuration: seconds per page, GFLOP/s (counted at full resolution, so the
cheaper modes show the speed a user perceives), and the peak resident memory of the process.
The weights are random (speed does not depend on them); pages are synthetic line art.
Every row is a fresh process over --pages same-size pages, start-up and model load included, its
wall time divided by the page count; the baseline row does what upstream's test.py does per page.
"""

import argparse
import os
import sys
import tempfile
from typing import List

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from models.networks import define_G
from util.benchmarking import conv_gflop, run_process

MODES = {
    "default": [],
    "untiled": ["--tile_size", "0"],
    "scale_width": ["--preprocess", "scale_width", "--load_size", "512"],
    "keep_lines": ["--keep_lines", "--load_size", "512"],
}

# Upstream's test path, as a whole process: load the generator, then per page decode, scale to
# [-1, 1], one eager fp32 forward under no_grad at full resolution, save.
_EAGER = """
import os, sys, numpy as np, torch
from PIL import Image
from models.networks import define_G
ck, pages, out = sys.argv[1:4]
net = define_G("resnet_9blocks", 3, 3, ngf=64).eval()
net.load_state_dict(torch.load(ck, weights_only=True))
for name in sorted(os.listdir(pages)):
    x = torch.from_numpy(np.asarray(Image.open(os.path.join(pages, name)).convert("RGB"), np.float32))
    x = (x.permute(2, 0, 1)[None] / 127.5 - 1)
    with torch.no_grad():
        y = net(x)[0]
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
    for _ in range(8):
        x0, y0 = rng.integers(0, width - 200), rng.integers(0, height - 200)
        draw.rectangle([x0, y0, x0 + 200, y0 + 150], outline=0, width=4, fill=int(rng.integers(150, 255)))
    return img.convert("RGB")


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1700)
    parser.add_argument("--pages", type=int, default=3, help="same-size pages per test.py process")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--precisions", nargs="+", default=["auto", "fp32"], choices=["auto", "fp32", "bf16", "fp16"])
    parser.add_argument("--skip_eager", action="store_true", help="skip the upstream-style eager baseline")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    net = define_G("resnet_9blocks", 3, 3, ngf=64).eval()
    gflop = conv_gflop(net, 3, args.height, args.width)
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
            script = os.path.join(tmp, "eager.py")
            with open(script, "w") as f:
                f.write(_EAGER)
            os.makedirs(os.path.join(tmp, "out_eager"))
            base = run_process(script, [os.path.join(ck, "latest_net_G_A.pth"), pages, os.path.join(tmp, "out_eager")], ROOT)
            rows.append(("upstream-style eager fp32", base["wall_s"] / args.pages, base["rss_mb"]))
        del net
        for mode in args.modes:
            for precision in args.precisions:
                out = os.path.join(tmp, f"out_{mode}_{precision}")
                result = run_process("test.py", [
                    "--dataroot", pages, "--name", "bench", "--checkpoints_dir", os.path.join(tmp, "ck"),
                    "--model", "test", "--model_suffix", "_A", "--output_dir", out,
                    "--results_dir", os.path.join(out, "results"), "--device", "cpu", "--precision", precision,
                ] + MODES[mode], ROOT)
                rows.append((f"test.py {mode} {precision}", result["wall_s"] / args.pages, result["rss_mb"]))

    print(f"\n{args.width}x{args.height} page, resnet_9blocks ngf 64: {gflop:.0f} GFLOP at full resolution, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'configuration':<44}{'s/page':>9}{'GFLOP/s':>10}{'peak RSS MB':>13}")
    for name, seconds, rss in rows:
        print(f"{name:<44}{seconds:>9.2f}{gflop / seconds:>10.0f}{rss:>13.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
