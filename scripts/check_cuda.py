"""Run every CUDA path of the project on one GPU and print a table: it/s, peak memory, pass/fail.

    python scripts/check_cuda.py                          # all checks, about 3-5 minutes on one GPU
    python scripts/check_cuda.py --only train_bf16 test_tiled
    python scripts/check_cuda.py --device cpu --small     # the same plumbing on CPU, small sizes

Each check is the project's own entry point in a fresh process (train.py, torchrun, test.py,
scripts/export_onnx.py) on synthetic pages, except `fused_adam` and `cudnn_benchmark`, which time
training steps in this process. Training checks use resnet_9blocks ngf 64, 256 px crops, batch 4
(--small: ngf 8, 64 px, batch 2). it/s is the last logged interval's (after warm-up and
compilation); peak memory is what the process's tensors held on the GPU (the
`peak CUDA memory` of its last log line). torchrun uses nccl on CUDA (gloo on CPU); its two-process
check runs only with two GPUs. Without a visible CUDA device (and without --device cpu) the
script says so and exits 0. Exit status 1 if a check fails.
"""

import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from models import create_model
from models.networks import define_G
from options.train_options import parse_train_options, save_options
from util.benchmarking import synthetic_pages

PEAK = re.compile(r"peak CUDA memory (\d+) MB")
RUN = "check"  # the run folder of random weights that test.py and the export load


@dataclasses.dataclass
class Result:
    name: str
    what: str
    passed: Optional[bool]  # None: skipped
    its: Optional[float] = None
    peak_mb: Optional[float] = None
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Sizes:
    ngf: int
    crop: int
    batch: int
    pages: int  # per domain
    page_size: tuple  # the synthetic training pages
    big_page: tuple  # test.py's page
    tile: int
    tile_overlap: int


FULL = Sizes(ngf=64, crop=256, batch=4, pages=16, page_size=(512, 724), big_page=(2400, 3400), tile=768,
             tile_overlap=64)
SMALL = Sizes(ngf=8, crop=64, batch=2, pages=8, page_size=(96, 128), big_page=(300, 420), tile=128, tile_overlap=16)


def _run(cmd: List[str], timeout: float, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def _failure(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    return lines[-1][:160] if lines else f"exit status {proc.returncode}"


def _peak(text: str) -> Optional[float]:
    found = PEAK.findall(text)
    return max(float(v) for v in found) if found else None


def _last_its(run_dir: str, batch: int) -> Optional[float]:
    """Iterations per second of the last logged interval (loss_log.jsonl), per process."""
    path = os.path.join(run_dir, "loss_log.jsonl")
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rates = [row["throughput/images_per_s"] for row in rows if "throughput/images_per_s" in row]
    return rates[-1] / batch if rates else None


class Checker:
    def __init__(self, device: str, sizes: Sizes, work: str, timeout: float) -> None:
        self.device = device
        self.sizes = sizes
        self.work = work
        self.timeout = timeout
        self.data = os.path.join(work, "data")
        synthetic_pages(os.path.join(self.data, "trainA"), sizes.pages, *sizes.page_size, False, 1)
        synthetic_pages(os.path.join(self.data, "trainB"), sizes.pages, *sizes.page_size, True, 2)

    def train_flags(self, name: str) -> List[str]:
        s = self.sizes
        iters = s.pages // s.batch
        return ["--dataroot", self.data, "--name", name, "--checkpoints_dir", os.path.join(self.work, "ck"),
                "--netG", "resnet_9blocks", "--ngf", str(s.ngf), "--ndf", str(s.ngf), "--preprocess",
                "scale_width_and_crop", "--load_size", str(s.page_size[0]), "--crop_size", str(s.crop),
                "--batch_size", str(s.batch), "--n_epochs", "2", "--n_epochs_decay", "0",
                "--print_freq", str(max(1, iters // 2)), "--display_freq", "100000", "--update_html_freq", "100000",
                "--no_html", "--num_threads", "2", "--seed", "0", "--device", self.device]

    def train(self, name: str, what: str, flags: Sequence[str]) -> Result:
        proc = _run([sys.executable, "train.py", *self.train_flags(name), *flags], self.timeout)
        if proc.returncode != 0:
            return Result(name, what, False, note=_failure(proc))
        return Result(name, what, True, _last_its(os.path.join(self.work, "ck", name), self.sizes.batch),
                      _peak(proc.stdout + proc.stderr))

    def torchrun(self, name: str, what: str, nproc: int) -> Result:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
               "train.py", *self.train_flags(name)]
        proc = _run(cmd, self.timeout)
        text = proc.stdout + proc.stderr
        if proc.returncode != 0:
            return Result(name, what, False, note=_failure(proc))
        backend = "nccl" if self.device == "cuda" else "gloo"
        if nproc > 1 and "hold identical weights" not in text:
            return Result(name, what, False, note="the processes' weights differ at the end")
        return Result(name, what, True, _last_its(os.path.join(self.work, "ck", name), self.sizes.batch),
                      _peak(text), note=f"{backend}, {nproc} process{'es' if nproc > 1 else ''}")

    def weights(self) -> str:
        """A run folder with random resnet_9blocks weights and its opt.json (once)."""
        ck = os.path.join(self.work, "weights")
        run_dir = os.path.join(ck, RUN)
        if not os.path.isdir(run_dir):
            opt = parse_train_options(["--dataroot", self.data, "--name", RUN, "--checkpoints_dir", ck,
                                       "--netG", "resnet_9blocks", "--ngf", str(self.sizes.ngf)])
            os.makedirs(run_dir)
            save_options(opt, run_dir)
            torch.manual_seed(0)
            torch.save(define_G("resnet_9blocks", 3, 3, ngf=self.sizes.ngf).state_dict(),
                       os.path.join(run_dir, "latest_net_G_A.pth"))
        return ck

    def test_tiled(self, name: str, what: str) -> Result:
        page_dir = os.path.join(self.work, "big")
        synthetic_pages(page_dir, 1, *self.sizes.big_page, False, 3)
        out = os.path.join(self.work, "colored")
        proc = _run([sys.executable, "test.py", "--dataroot", page_dir, "--name", RUN, "--checkpoints_dir",
                     self.weights(), "--output_dir", out, "--results_dir", os.path.join(self.work, "results"),
                     "--tile_size", str(self.sizes.tile),
                     "--tile_overlap", str(self.sizes.tile_overlap), "--device", self.device, "--overwrite"], self.timeout)
        if proc.returncode != 0:
            return Result(name, what, False, note=_failure(proc))
        seconds = re.findall(r"colorized 1, failed 0 in ([0-9.]+) s", proc.stdout + proc.stderr)
        its = 1.0 / float(seconds[-1]) if seconds and float(seconds[-1]) > 0 else None
        return Result(name, what, True, its, _peak(proc.stdout + proc.stderr),
                      note=f"{self.sizes.big_page[0]}x{self.sizes.big_page[1]}, tiles of {self.sizes.tile}; it/s = pages/s")

    def onnx_export(self, name: str, what: str) -> Result:
        path = os.path.join(self.work, "check.onnx")
        proc = _run([sys.executable, os.path.join("scripts", "export_onnx.py"), "--name", RUN, "--checkpoints_dir",
                     self.weights(), "--output", path, "--device", self.device], self.timeout)
        if proc.returncode != 0:
            return Result(name, what, False, note=_failure(proc))
        checked = re.findall(r"relative L2 ([0-9.e+-]+)", proc.stdout + proc.stderr)
        return Result(name, what, True, note=f"onnxruntime vs torch: {checked[-1]}" if checked else "not checked")

    def _steps(self, benchmark: bool, steps: int) -> tuple:
        """Time `steps` training steps in this process (after 2 warm-up steps): (it/s, peak MB, fused)."""
        device = torch.device(self.device)
        s = self.sizes
        opt = parse_train_options(["--dataroot", self.data, "--name", "inproc", "--netG", "resnet_9blocks",
                                   "--ngf", str(s.ngf), "--ndf", str(s.ngf)])
        torch.backends.cudnn.benchmark = benchmark
        torch.manual_seed(0)
        model = create_model(opt, device, 0, "fp32")
        real_A = torch.rand(s.batch, 3, s.crop, s.crop, device=device) * 2 - 1
        real_B = torch.rand(s.batch, 3, s.crop, s.crop, device=device) * 2 - 1
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for i in range(steps + 2):
            if i == 2:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
            visuals, _ = model.generator_step(real_A, real_B, None)
            model.discriminator_step(visuals)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        its = steps / (time.perf_counter() - start)
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        return its, peak, bool(model.optimizer_G.defaults.get("fused"))

    def fused_adam(self, name: str, what: str) -> Result:
        its, peak, fused = self._steps(benchmark=True, steps=3)
        if self.device == "cuda" and not fused:
            return Result(name, what, False, its, peak, "Adam is not fused on CUDA")
        return Result(name, what, True, its, peak, "fused" if fused else "not fused (CPU: foreach)")

    def cudnn_benchmark(self, name: str, what: str) -> Result:
        off, _, _ = self._steps(benchmark=False, steps=5)
        on, peak, _ = self._steps(benchmark=True, steps=5)
        return Result(name, what, True, on, peak, f"{on / off:.2f}x the it/s with it off ({off:.2f} it/s)")


@dataclasses.dataclass(frozen=True)
class Check:
    name: str
    what: str
    run: Callable[[Checker, str, str], Result]
    gpus: int = 1  # GPUs it needs
    cpu_too: bool = True  # runs with --device cpu


CHECKS = (
    Check("train_fp32", "train.py, fp32 (cudnn.benchmark, fused Adam)", lambda c, n, w: c.train(n, w, [])),
    Check("train_bf16", "train.py, bf16 autocast", lambda c, n, w: c.train(n, w, ["--precision", "bf16"])),
    Check("train_fp16", "train.py, fp16 autocast + loss scalers", lambda c, n, w: c.train(n, w, ["--precision", "fp16"])),
    Check("train_channels_last", "train.py, bf16 + channels_last",
          lambda c, n, w: c.train(n, w, ["--precision", "bf16", "--channels_last"])),
    Check("train_compile", "train.py, bf16 + --compile", lambda c, n, w: c.train(n, w, ["--precision", "bf16", "--compile"]),
          cpu_too=False),
    Check("fused_adam", "training steps in-process: Adam fused on CUDA", lambda c, n, w: c.fused_adam(n, w)),
    Check("cudnn_benchmark", "training steps in-process: cudnn.benchmark on vs off",
          lambda c, n, w: c.cudnn_benchmark(n, w)),
    Check("torchrun_1", "torchrun train.py, one process", lambda c, n, w: c.torchrun(n, w, 1)),
    Check("torchrun_2", "torchrun train.py, two processes", lambda c, n, w: c.torchrun(n, w, 2), gpus=2, cpu_too=False),
    Check("test_tiled", "test.py on a large page, tiled", lambda c, n, w: c.test_tiled(n, w)),
    Check("onnx_export", "scripts/export_onnx.py traced on the device", lambda c, n, w: c.onnx_export(n, w)),
)


def format_table(results: Sequence[Result]) -> str:
    rows = ["| check | what | it/s | peak memory MB | result | note |", "|---|---|---:|---:|---|---|"]
    for r in results:
        result = "skipped" if r.passed is None else "pass" if r.passed else "**FAIL**"
        rows.append(f"| `{r.name}` | {r.what} | {'' if r.its is None else f'{r.its:.2f}'} | "
                    f"{'' if r.peak_mb is None else f'{r.peak_mb:.0f}'} | {result} | {r.note} |")
    return "\n".join(rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                        help="cpu runs the same checks on CPU (no nccl, no compile): a check of the script itself")
    parser.add_argument("--small", action="store_true", help="tiny networks and pages (seconds per check)")
    parser.add_argument("--only", nargs="+", choices=[c.name for c in CHECKS], help="run only these checks")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds one check may take")
    parser.add_argument("--keep", default=None, help="keep the work folder here (default: a temporary one)")
    opt = parser.parse_args(argv)

    if opt.device == "cuda" and not torch.cuda.is_available():
        print(f"check_cuda.py: no GPU: PyTorch {torch.__version__} sees no CUDA device "
              f"(built with CUDA {torch.version.cuda or 'none'}); nothing to check. "
              "Run it on a machine with a GPU, or with --device cpu to try the script itself.")
        return 0
    gpus = torch.cuda.device_count() if opt.device == "cuda" else 0
    name = torch.cuda.get_device_name(0) if opt.device == "cuda" else platform.processor() or platform.machine()
    print(f"# {datetime.date.today()}: {name}, {gpus} GPU(s), torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"cuDNN {torch.backends.cudnn.version() if opt.device == 'cuda' else '-'}; "
          f"sizes: {'small' if opt.small else 'full'}", flush=True)

    work = opt.keep or tempfile.mkdtemp(prefix="check_cuda_")
    os.makedirs(work, exist_ok=True)
    results = []
    start = time.perf_counter()
    try:
        checker = Checker(opt.device, SMALL if opt.small else FULL, work, opt.timeout)
        for check in CHECKS:
            if opt.only and check.name not in opt.only:
                continue
            if opt.device == "cpu" and not check.cpu_too:
                results.append(Result(check.name, check.what, None, note="CUDA only"))
            elif opt.device == "cuda" and gpus < check.gpus:
                results.append(Result(check.name, check.what, None, note=f"needs {check.gpus} GPUs"))
            else:
                t0 = time.perf_counter()
                try:
                    result = check.run(checker, check.name, check.what)
                except subprocess.TimeoutExpired:
                    result = Result(check.name, check.what, False, note=f"over the {opt.timeout:.0f} s limit")
                except Exception as exc:  # one check's failure is a row, not the end of the table
                    result = Result(check.name, check.what, False, note=f"{type(exc).__name__}: {exc}"[:160])
                result.note = f"{result.note}; {time.perf_counter() - t0:.0f} s".lstrip("; ")
                results.append(result)
            print(f"{results[-1].name}: {'skipped' if results[-1].passed is None else 'pass' if results[-1].passed else 'FAIL'}",
                  flush=True)
    finally:
        if opt.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(format_table(results))
    failed = [r.name for r in results if r.passed is False]
    ran = sum(r.passed is not None for r in results)
    print(f"\n{ran - len(failed)} of {ran} checks ran clean in {time.perf_counter() - start:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
