"""GFLOP/s of single 3x3 convolutions, forward and forward + backward, per precision: what the
CPU itself gives the networks, without the rest of a training step.

    python scripts/benchmark_conv.py
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 python scripts/benchmark_conv.py   # as an AVX2-only CPU

Shapes: the demo's generator trunk (96 channels at 28 x 28: ngf 24 at 112 px crops), its first
layer (24 channels at 112 x 112), and resnet_9blocks ngf 64 at 256 px (256 channels at 64 x 64).
Each figure is the best of --repeats timed runs after a warm-up; bf16 runs as oneDNN runs it
(weights and input in bf16, channels-last), which is emulated where the CPU lacks AVX512-BF16.
"""

import argparse
import sys
import time
from typing import List, Optional

import torch

from util.device import cpu_kind

SHAPES = (("demo trunk", 1, 96, 28), ("demo first layer", 1, 24, 112), ("9blocks trunk", 1, 256, 64))


def best_seconds(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    opt = parser.parse_args(argv)
    print(f"{cpu_kind()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'shape':<18}{'precision':>10}{'fwd GFLOP/s':>13}{'fwd+bwd GFLOP/s':>17}")
    for label, n, c, size in SHAPES:
        for precision in opt.precisions:
            dtype = torch.bfloat16 if precision == "bf16" else torch.float32
            conv = torch.nn.Conv2d(c, c, 3, padding=1).to(dtype)
            x = torch.randn(n, c, size, size, dtype=dtype)
            if precision == "bf16":
                conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
            flop = 2.0 * n * c * c * 9 * size * size
            with torch.no_grad():
                fwd = best_seconds(lambda: conv(x), opt.repeats)
            xg = x.clone().requires_grad_(True)
            both = best_seconds(lambda: conv(xg).sum().backward(), opt.repeats)
            print(f"{label:<18}{precision:>10}{flop / fwd / 1e9:>13.1f}{3 * flop / both / 1e9:>17.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
