"""Time CycleGAN training steps per configuration, and the input pipeline on large scans.

    python scripts/benchmark_train.py                                   # 256 px, resnet_9blocks ngf 64, batch 1
    python scripts/benchmark_train.py --configs fp32 bf16 bf16+channels_last bf16+compile
    python scripts/benchmark_train.py --crop 128 --ngf 32 --configs fp32 bf16
    python scripts/benchmark_train.py --loader_only                    # data loading: images/s

Each configuration is a whole `train.py` process on synthetic pages (start-up, data loading and
the end-of-epoch checkpoint included in the wall time). s/iter is the median of the logged
interval averages after the first interval (warm-up, and compilation with +compile); GFLOP/s
counts 3x the forward convolutions of one iteration (forward + backward), so it is approximate.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Optional

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from data import create_dataset, create_loader
from data.sampler import EpochSampler
from models.networks import define_D, define_G
from options.train_options import parse_train_options, size_rule
from util.benchmarking import conv_gflop, run_process, synthetic_pages

CONFIGS = {
    "fp32": [],
    "bf16": ["--precision", "bf16"],
    "fp16": ["--precision", "fp16"],
    "fp32+channels_last": ["--channels_last"],
    "bf16+channels_last": ["--precision", "bf16", "--channels_last"],
    "bf16+compile": ["--precision", "bf16", "--compile"],
}


def iteration_gflop(ngf: int, ndf: int, net_g: str, crop: int, batch: int) -> float:
    g = conv_gflop(define_G(net_g, 3, 3, ngf=ngf), 3, crop, crop)
    d = conv_gflop(define_D("basic", 3, ndf=ndf), 3, crop, crop)
    # 6 generator and 6 critic forwards per iteration (with identity loss); backward ~ 2x forward.
    return 3 * batch * (6 * g + 6 * d)


def bench_config(name: str, extra: List[str], data: str, work: str, args: argparse.Namespace) -> Dict[str, float]:
    ck = os.path.join(work, "ck")
    flags = ["--dataroot", data, "--name", name.replace("+", "_"), "--checkpoints_dir", ck, "--netG", args.netG,
             "--ngf", str(args.ngf), "--ndf", str(args.ndf), "--load_size", str(args.crop + args.crop // 8),
             "--crop_size", str(args.crop), "--batch_size", str(args.batch), "--n_epochs", "1",
             "--n_epochs_decay", "0", "--num_threads", str(args.workers), "--print_freq", str(args.interval),
             "--display_freq", "1000000", "--update_html_freq", "1000000", "--save_latest_freq", "1000000",
             "--no_html", "--seed", "0", "--device", args.device] + extra
    result = run_process("train.py", flags, ROOT)
    rows = [json.loads(line) for line in open(os.path.join(ck, name.replace("+", "_"), "loss_log.jsonl"))]
    steps = [r["time/step"] + r["time/data"] for r in rows if "time/step" in r][1:] or [rows[-1]["time/step"]]
    return {"s_per_iter": statistics.median(steps), "wall_s": result["wall_s"], "rss_mb": result["rss_mb"]}


def bench_loader(data: str, args: argparse.Namespace) -> None:
    for workers in sorted({0, args.workers}):
        opt = parse_train_options(["--dataroot", data, "--num_threads", str(workers), "--load_size", "286",
                                   "--crop_size", "256", "--seed", "0"])
        dataset = create_dataset(opt, size_rule(opt))
        sampler = EpochSampler(len(dataset), 0, shuffle=True)
        loader = create_loader(dataset, sampler, 1, workers, torch.device("cpu"))
        start, n = time.perf_counter(), 0
        for batch in loader:
            n += batch["A"].shape[0] * 2  # an A and a B image per sample
        elapsed = time.perf_counter() - start
        print(f"loader, {workers} workers, {args.page_width}x{args.page_height} JPEG scans -> 256 px crops: "
              f"{n / elapsed:.1f} images/s")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["fp32", "bf16", "fp32+channels_last", "bf16+channels_last"],
                        choices=list(CONFIGS))
    parser.add_argument("--netG", default="resnet_9blocks")
    parser.add_argument("--ngf", type=int, default=64)
    parser.add_argument("--ndf", type=int, default=64)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=8, help="iterations per configuration (one epoch)")
    parser.add_argument("--interval", type=int, default=2, help="iterations per logged interval")
    parser.add_argument("--workers", type=int, default=2, help="data loading processes")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--page_width", type=int, default=1200)
    parser.add_argument("--page_height", type=int, default=1700)
    parser.add_argument("--loader_only", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "data")
        n_pages = args.iters * args.batch
        synthetic_pages(os.path.join(data, "trainA"), n_pages, args.page_width, args.page_height, False, 1)
        synthetic_pages(os.path.join(data, "trainB"), n_pages, args.page_width, args.page_height, True, 2)
        if args.loader_only:
            bench_loader(data, args)
            return 0
        gflop = iteration_gflop(args.ngf, args.ndf, args.netG, args.crop, args.batch)
        print(f"{args.netG} ngf {args.ngf} ndf {args.ndf}, {args.crop} px crops, batch {args.batch}: "
              f"~{gflop:.0f} GFLOP per iteration; torch {torch.__version__}, {torch.get_num_threads()} threads")
        print(f"{'configuration':<22}{'s/iter':>9}{'images/s':>10}{'GFLOP/s':>9}{'process s':>11}{'peak RSS MB':>13}")
        for name in args.configs:
            r = bench_config(name, CONFIGS[name], data, work, args)
            print(f"{name:<22}{r['s_per_iter']:>9.2f}{args.batch / r['s_per_iter']:>10.2f}"
                  f"{gflop / r['s_per_iter']:>9.0f}{r['wall_s']:>11.1f}{r['rss_mb']:>13.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
