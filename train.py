"""Train an unpaired B/W -> color CycleGAN.

    python train.py                                            # demo preset on datasets/demo (CPU, ~10-17 min)
    python train.py --preset demo_pages                        # the page demo on datasets/demo_pages (~20 min)
    python train.py --dataroot datasets/manga --name onepiece  # your data, upstream defaults
    python train.py --dataroot datasets/manga --name onepiece --continue_train   # exact resume
    tensorboard --logdir checkpoints/onepiece

Run folder <checkpoints_dir>/<name>: opt.txt / opt.json (resolved flags), train.log, loss_log.jsonl,
TensorBoard events, web/index.html, <label>_checkpoint.pth and <label>_net_G_A.pth / _net_G_B.pth.
"""

import argparse
import contextlib
import dataclasses
import functools
import logging
import math
import os
import random
import sys
import time
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from data import create_dataset, create_loader
from data.descreen import descreen
from data.image_folder import find_images, load_image
from data.sampler import EpochSampler, samples_per_epoch
from data.transforms import pad_to_multiple, scale_width, to_tensor
from models import ARCHITECTURE_KEYS, EARLIER_RUN_VALUES, GENERATOR_USE_KEYS, create_model, generator_configs
from models.cycle_gan import CycleGANModel, Visuals
from models.networks import count_parameters, required_multiple, smallest_generator_side
from options.train_options import format_options, options_to_dict, parse_train_options, save_options, size_rule
from training.html_page import HTMLPage
from training.image_grid import make_row, stack_rows
from training.run_logger import RunLogger
from training.stats import Smoother, StatsTracker
from training.validation import Validator, is_better
from util.checkpoint import (TRAIN_LOG, WEB_DIR, architecture_mismatch, checkpoint_label, checkpoint_path,
                             load_checkpoint, save_checkpoint)
from util.cli import run_main
from util.device import peak_memory_note, precision_reason, resolve_precision, select_device
from util.distributed import (DistContext, average_gradients, broadcast_parameters, init_distributed, mean_over_ranks,
                              shutdown, weights_in_sync)
from util.errors import TrainingDiverged, UserError
from util.fileio import atomic_save_image
from util.rng import SEED_DERIVATION, SeedTag, derive_seed, restore_rng_state, seed_everything
from util.schedule import lr_factor

log = logging.getLogger("train")
N_PROBES = 4


def resumed_samples(checkpoint: Dict[str, Any]) -> int:
    """Samples of its epoch a checkpoint had trained on. Checkpoints older than epoch_samples
    stored iterations only: those ran as one process, at the batch size in their options."""
    if checkpoint.get("epoch_samples") is not None:
        return int(checkpoint["epoch_samples"])
    return int(checkpoint["epoch_iter"]) * int(checkpoint["options"].get("batch_size", 1))


def load_probes(opt: argparse.Namespace) -> List[torch.Tensor]:
    """A fixed handful of pages, rendered at every display step so progress compares across time and runs.

    Held-out pages (<dataroot>/testA) when present, else training pages, spread evenly over the
    sorted folder; shown at the scale the generator trains at (--load_size wide; native size,
    capped at twice --crop_size, for the crop and none modes), descreened with --descreen, and
    padded to the multiple it needs. A page too small for the generator at that scale is skipped.
    """
    side = "A" if opt.direction == "AtoB" else "B"
    smallest = smallest_generator_side(opt.netG)
    for folder in (os.path.join(opt.dataroot, "test" + side), os.path.join(opt.dataroot, opt.phase + side)):
        paths = find_images(folder) if os.path.isdir(folder) else []
        picks = [paths[i * len(paths) // N_PROBES] for i in range(N_PROBES)] if len(paths) > N_PROBES else paths
        probes = []
        for path in picks:
            try:
                img = load_image(path, opt.input_nc)
            except (OSError, ValueError, SyntaxError):
                continue
            if opt.preprocess in ("crop", "none"):
                width = min(img.size[0], 2 * opt.crop_size)
            else:
                width = opt.load_size
            img = pad_to_multiple(scale_width(descreen(img) if opt.descreen else img, width),
                                  required_multiple(opt.netG))
            if min(img.size) < smallest:
                log.warning("skipping probe page %s: %dx%d at the training scale, the generator needs at least "
                            "%d px per side", path, img.size[0], img.size[1], smallest)
                continue
            probes.append(to_tensor(img).unsqueeze(0))
        if probes:
            return probes
    return []


def probe_grid(model: CycleGANModel, probes: List[torch.Tensor], device: torch.device) -> np.ndarray:
    rows = [make_row([probe[0], model.colorize(probe.to(device))[0]]) for probe in probes]
    return stack_rows(rows)


def check_finite_losses(step: int, losses: Dict[str, torch.Tensor]) -> None:
    """TrainingDiverged naming the step and the losses that are NaN or infinite (one sync per step)."""
    if bool(torch.isfinite(torch.stack([v.reshape(()) for v in losses.values()])).all()):
        return
    bad = ", ".join(f"{k} = {float(v):g}" for k, v in losses.items() if not bool(torch.isfinite(v)))
    raise TrainingDiverged(f"step {step}: loss {bad}; training stopped, nothing saved from this step on. "
                           "Resume the last good checkpoint with --continue_train and a lower --lr "
                           "(or --precision fp32)")


def nonfinite_weights(model: CycleGANModel) -> List[str]:
    """Names of the networks holding a NaN or infinite weight."""
    return [name for name, net in model.networks.items()
            if not all(bool(torch.isfinite(p).all()) for p in net.parameters())]


def batch_grids(visuals: Visuals) -> Dict[str, np.ndarray]:
    """First item of the batch: real | translated | reconstructed (| identity) for each direction."""
    row_A = [visuals.real_A[0], visuals.fake_B[0], visuals.rec_A[0]]
    row_B = [visuals.real_B[0], visuals.fake_A[0], visuals.rec_B[0]]
    if visuals.idt_B is not None:
        row_A.append(visuals.idt_B[0])
        row_B.append(visuals.idt_A[0])
    return {"A": make_row(row_A), "B": make_row(row_B)}


@contextlib.contextmanager
def log_to_file(path: str) -> Iterator[None]:
    """Copy everything logged during the run into the run folder's train.log."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def train(opt: argparse.Namespace) -> Dict[str, float]:
    """Run (or resume) training; returns the last interval's average losses."""
    run_dir = os.path.join(opt.checkpoints_dir, opt.name)
    device = select_device(opt.device, opt.gpu_ids)
    ctx = init_distributed(use_cuda=device.type == "cuda")
    root_level = logging.getLogger().level  # non-main ranks quieten the root logger while they train
    try:
        return _train(opt, run_dir, device, ctx)
    finally:
        logging.getLogger().setLevel(root_level)
        shutdown(ctx)


def _train(opt: argparse.Namespace, run_dir: str, device: torch.device, ctx: DistContext) -> Dict[str, float]:
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop sizes: let cuDNN pick the fastest kernels
    if not ctx.is_main:
        logging.getLogger().setLevel(logging.WARNING)  # one process reports
    if opt.preset:
        log.info("using the %s preset (on %s); flags given on the command line override it", opt.preset, opt.dataroot)

    # Everything that can fail on bad input is checked before the run folder is touched.
    resume = load_resume(opt, run_dir) if opt.continue_train else None
    # The run's seed, resolved once: a copy of the options carries it (the caller's are not changed).
    seed = resume["options"]["seed"] if resume is not None else agreed_seed(opt.seed, ctx)
    opt = argparse.Namespace(**{**vars(opt), "seed": seed})
    seed_everything(opt.seed)

    dataset = create_dataset(opt, size_rule(opt))
    grad_sync = functools.partial(average_gradients, world_size=ctx.world_size) if ctx.enabled else None
    precision = resolve_precision(opt.precision, device)
    log.info("precision: %s", precision_reason(opt.precision, precision, device))
    # Pools draw per process; the networks start from rank 0's weights.
    process_seed = derive_seed(opt.seed, SeedTag.PROCESS, ctx.rank)
    model = create_model(opt, device, process_seed, precision, grad_sync=grad_sync)
    state = TrainState(epoch=opt.epoch_count, epoch_iter=0, epoch_samples=0, global_step=0)
    if resume is not None:
        state = restore(model, resume, opt, run_dir, device, samples_per_epoch(len(dataset), ctx.world_size))
    if ctx.enabled and opt.norm == "batch":
        if device.type == "cuda":
            # Batch statistics over all processes' images, not each process's small batch.
            model.convert_sync_batchnorm()
        else:
            log.warning("--norm batch: SyncBatchNorm needs CUDA; each process normalises over its own batch")
    if ctx.enabled:
        averaged = [model.ema.net] if model.ema is not None else []
        broadcast_parameters([*model.networks.values(), *averaged])
        torch.manual_seed(process_seed)  # e.g. the gradient penalty's mixing weights differ per process
    if opt.compile:
        model.compile()

    validator = None
    if opt.val_dataroot and ctx.is_main:
        validator = Validator(opt.val_dataroot, opt.input_nc, opt.load_size, required_multiple(opt.netG),
                              opt.val_max_images, opt.val_metric, device, opt.val_phase, opt.descreen,
                              smallest_generator_side(opt.netG))
    run = Run(opt, run_dir, device, ctx, model, state)
    if not ctx.is_main:
        return run.train(dataset, resume is not None, validator)
    os.makedirs(run_dir, exist_ok=True)
    with log_to_file(os.path.join(run_dir, TRAIN_LOG)):
        return run.train(dataset, resume is not None, validator)


def load_resume(opt: argparse.Namespace, run_dir: str) -> Dict[str, Any]:
    """The checkpoint --continue_train names, after checking that the flags agree with it."""
    label = checkpoint_label(opt.epoch, opt.load_iter)
    resume = load_checkpoint(checkpoint_path(run_dir, label))
    saved = {**EARLIER_RUN_VALUES, **resume["options"]}
    mismatch = architecture_mismatch(saved, vars(opt), ARCHITECTURE_KEYS + GENERATOR_USE_KEYS)
    if mismatch:
        raise UserError(f"{checkpoint_path(run_dir, label)} was trained with " + ", ".join(mismatch)
                        + "; pass the checkpoint's values or start a new --name")
    saved_seed = resume["options"]["seed"]
    if opt.seed is not None and opt.seed != saved_seed:
        log.warning("--seed %s ignored: resuming continues the checkpoint's seed %s", opt.seed, saved_seed)
    if opt.epoch_count != 1:
        log.warning("--epoch_count ignored: resuming continues at the checkpoint's epoch")
    return resume


def agreed_seed(seed: Optional[int], ctx: DistContext) -> int:
    """--seed, or one drawn now; with several processes, rank 0's for all."""
    if seed is not None:
        return seed
    seed = random.SystemRandom().randrange(2**31)
    if ctx.enabled:  # every process must share rank 0's seed
        shared = [seed]
        torch.distributed.broadcast_object_list(shared, src=0)
        seed = shared[0]
    return seed


def restore(model: CycleGANModel, resume: Dict[str, Any], opt: argparse.Namespace, run_dir: str,
            device: torch.device, epoch_size: int) -> "TrainState":
    """Load the checkpoint into `model` and the RNGs; where it left off (the next epoch when it was
    saved at an epoch's end). UserError if it does not fit or the run has finished."""
    try:
        model.load_state_dict(resume, device)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise UserError(f"checkpoint in {run_dir} does not fit the model built from the flags: "
                        f"{str(exc).splitlines()[0]}") from exc
    restore_rng_state(resume["rng"])
    epoch, epoch_samples = resume["epoch"], resumed_samples(resume)
    if epoch_samples >= epoch_size:  # saved at the epoch's end
        epoch, epoch_samples = epoch + 1, 0
    if epoch_samples > 0 and resume.get("seed_derivation", 1) != SEED_DERIVATION:
        log.warning("this checkpoint was saved mid-epoch by an older version that derived seeds differently: the "
                    "rest of epoch %d is drawn in another order (some of its samples repeat, others are skipped); "
                    "later epochs are unaffected", epoch)
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    if epoch > last_epoch:
        raise UserError(f"{run_dir} already finished its {last_epoch} epochs (step {resume['global_step']}); to "
                        f"train longer, raise --n_epochs or --n_epochs_decay (e.g. --n_epochs_decay "
                        f"{opt.n_epochs_decay + max(1, last_epoch // 2)}); nothing was changed")
    return TrainState(epoch=epoch, epoch_iter=0, epoch_samples=epoch_samples, global_step=resume["global_step"],
                      best=resume.get("best"))


@dataclasses.dataclass
class TrainState:
    """Where training stands: what a checkpoint records and a resume restores."""

    epoch: int
    epoch_iter: int  # iterations done in `epoch`
    epoch_samples: int  # samples of `epoch` trained on, over all processes
    global_step: int
    best: Optional[Dict[str, Any]] = None  # {metric, value, step} of the best validation so far
    latest_saved_at: int = -1  # the step of the last 'latest' save (nothing new to save there)


@dataclasses.dataclass
class Outputs:
    """What rank 0 writes besides checkpoints; other ranks have none of these."""

    logger: Optional[RunLogger] = None
    html: Optional[HTMLPage] = None
    probes: List[torch.Tensor] = dataclasses.field(default_factory=list)
    validator: Optional[Validator] = None


@dataclasses.dataclass
class Interval:
    """Losses and throughput gathered between two --print_freq reports."""

    stats: StatsTracker = dataclasses.field(default_factory=StatsTracker)
    smoother: Smoother = dataclasses.field(default_factory=Smoother)
    images: int = 0
    start: float = dataclasses.field(default_factory=time.perf_counter)
    last_losses: Dict[str, float] = dataclasses.field(default_factory=dict)


class Run:
    """One training run's loop: `train` runs the epochs with `train_one_epoch`; `save`, `validate`
    and `show` each write one kind of output. Only the main process (rank 0) writes logs, images,
    HTML and checkpoints, and validates."""

    def __init__(self, opt: argparse.Namespace, run_dir: str, device: torch.device, ctx: DistContext,
                 model: CycleGANModel, state: TrainState) -> None:
        self.opt, self.run_dir, self.device, self.ctx = opt, run_dir, device, ctx
        self.model, self.state = model, state
        self.outputs = Outputs()
        self.interval = Interval()

    def train(self, dataset: torch.utils.data.Dataset, resumed: bool,
              validator: Optional[Validator]) -> Dict[str, float]:
        opt, state = self.opt, self.state
        self.start_outputs(dataset, validator, resumed)
        sampler = EpochSampler(len(dataset), opt.seed, shuffle=not opt.serial_batches, rank=self.ctx.rank,
                               world_size=self.ctx.world_size)
        loader = create_loader(dataset, sampler, opt.batch_size, opt.num_threads, self.device)
        iters_per_epoch = math.ceil(sampler.total // self.ctx.world_size / opt.batch_size)
        sampler.set_epoch(state.epoch, start=state.epoch_samples)
        first_epoch_iters = math.ceil(len(sampler) / opt.batch_size)  # left in the epoch it starts in
        state.epoch_iter = iters_per_epoch - first_epoch_iters
        last_epoch = opt.n_epochs + opt.n_epochs_decay
        total_steps = state.global_step + first_epoch_iters + max(0, last_epoch - state.epoch) * iters_per_epoch
        if resumed:
            log.info("resuming at epoch %d, sample %d of %d (step %d)", state.epoch, state.epoch_samples,
                     sampler.total, state.global_step)
        visuals = None
        self.model.train()
        with logging_redirect_tqdm(), tqdm(total=total_steps, initial=state.global_step, unit="it", dynamic_ncols=True,
                                           disable=None if self.ctx.is_main else True) as bar:
            while state.epoch <= last_epoch:
                lr = opt.lr * lr_factor(state.epoch, opt.lr_policy, opt.n_epochs, opt.n_epochs_decay,
                                        opt.lr_decay_iters)
                self.model.set_lr(lr)
                sampler.set_epoch(state.epoch, start=state.epoch_samples)
                bar.set_description(f"epoch {state.epoch}/{last_epoch}")
                visuals = self.train_one_epoch(loader, sampler.total, lr, iters_per_epoch, bar) or visuals
                labels = ["latest"] + ([str(state.epoch)] if state.epoch % opt.save_epoch_freq == 0
                                       or state.epoch == last_epoch else [])
                if self.ctx.is_main:
                    self.save(labels, state.epoch, state.epoch_iter)
                log.info("end of epoch %d / %d (lr %.2e)", state.epoch, last_epoch, lr)
                state.epoch, state.epoch_iter, state.epoch_samples = state.epoch + 1, 0, 0
        return self.finish(visuals, iters_per_epoch)

    def start_outputs(self, dataset: torch.utils.data.Dataset, validator: Optional[Validator], resumed: bool) -> None:
        """Log what is being trained; on rank 0 also record the options and open the writers."""
        opt = self.opt
        if self.ctx.is_main:
            save_options(opt, self.run_dir, resumed)
        log.info("%s", format_options(opt))
        log.info("device %s, seed %d, %d A and %d B images, %d samples per epoch%s", self.device, opt.seed,
                 len(dataset.paths_A), len(dataset.paths_B), len(dataset),
                 f", {self.ctx.world_size} processes x batch {opt.batch_size}" if self.ctx.enabled else "")
        for name, net in self.model.networks.items():
            log.info("network %s: %.3f M parameters", name, count_parameters(net) / 1e6)
            if opt.verbose:
                log.info("%s", net)
        if not self.ctx.is_main:
            return
        logger = RunLogger(self.run_dir)
        logger.text("options", "```\n" + format_options(opt) + "\n```")
        html = None if opt.no_html else HTMLPage(os.path.join(self.run_dir, WEB_DIR), f"Experiment {opt.name}",
                                                 opt.display_winsize)
        self.outputs = Outputs(logger, html, load_probes(opt), validator)

    def train_one_epoch(self, loader: Iterable, epoch_size: int, lr: float, iters_per_epoch: int,
                        bar: tqdm) -> Optional[Visuals]:
        """The rest of the current epoch: a generator and a discriminator step per batch, with the
        reports, images, validation and saves that fall due. The last step's visuals (None if none)."""
        opt, state, model, ctx = self.opt, self.state, self.model, self.ctx
        visuals = None
        data_start = time.perf_counter()
        for batch in loader:
            step_start = time.perf_counter()
            real_A = batch["A"].to(self.device, non_blocking=True)
            real_B = batch["B"].to(self.device, non_blocking=True)
            if opt.channels_last:
                real_A = real_A.contiguous(memory_format=torch.channels_last)
                real_B = real_B.contiguous(memory_format=torch.channels_last)
            bw_B = batch["B_bw"].to(self.device, non_blocking=True) if "B_bw" in batch else None
            visuals, g_stats = model.generator_step(real_A, real_B, bw_B)
            d_stats = model.discriminator_step(visuals)
            check_finite_losses(state.global_step + 1, {**g_stats, **d_stats})

            state.global_step += 1
            state.epoch_iter += 1
            state.epoch_samples = min(epoch_size, state.epoch_samples + real_A.shape[0] * ctx.world_size)
            self.interval.images += real_A.shape[0] * ctx.world_size
            self.interval.stats.report("loss", g_stats)
            self.interval.stats.report("loss", d_stats)
            self.interval.stats.report("time", {"data": step_start - data_start,
                                                "step": time.perf_counter() - step_start})
            bar.update(1)
            self.after_step(visuals, lr, iters_per_epoch, bar)
            data_start = time.perf_counter()
        return visuals

    def after_step(self, visuals: Visuals, lr: float, iters_per_epoch: int, bar: tqdm) -> None:
        """The reports, images, validation and saves that fall due at this step."""
        opt, step = self.opt, self.state.global_step
        if step % opt.print_freq == 0:
            self.report(lr, iters_per_epoch, bar)
        display, to_html = step % opt.display_freq == 0, step % opt.update_html_freq == 0
        if self.ctx.is_main and (display or to_html):
            self.show(visuals, display, to_html, self.state.epoch)
        if self.outputs.validator is not None and step % opt.val_freq == 0:
            self.validate(self.state.epoch, self.state.epoch_iter)
        if self.ctx.is_main and step % opt.save_latest_freq == 0:
            self.save(["latest"] + ([f"iter_{step}"] if opt.save_by_iter else []), self.state.epoch,
                      self.state.epoch_iter)

    def report(self, lr: float, iters_per_epoch: int, bar: tqdm) -> None:
        """The --print_freq report: TensorBoard, loss_log.jsonl, the console and the progress bar."""
        state, interval = self.state, self.interval
        now = time.perf_counter()
        values = interval.stats.averages()
        values["lr"] = lr
        values["throughput/images_per_s"] = interval.images / max(now - interval.start, 1e-9)
        interval.images, interval.start = 0, now
        if self.ctx.enabled:
            values = mean_over_ranks(values, self.device)
        if self.outputs.logger is not None:
            self.outputs.logger.scalars(state.global_step, state.epoch, values)
        interval.last_losses = {k: v for k, v in values.items() if k.startswith("loss/")}
        smooth = interval.smoother.update({k[5:]: v for k, v in interval.last_losses.items()})
        bar.set_postfix({k: f"{v:.3f}" for k, v in smooth.items() if k in ("G", "D_A", "D_B", "cycle_A")}
                        | {"img/s": f"{values['throughput/images_per_s']:.1f}"})
        log.info("epoch %d iter %d/%d step %d | %s | lr %.2e | %.2f img/s", state.epoch, state.epoch_iter,
                 iters_per_epoch, state.global_step,
                 " ".join(f"{k[5:]} {v:.3f}" for k, v in sorted(interval.last_losses.items())),
                 lr, values["throughput/images_per_s"])

    def save(self, labels: List[str], at_epoch: int, at_iter: int) -> None:
        """Checkpoint under `labels` (rank 0). 'latest' is skipped when nothing changed since its last
        save; weights that are not finite are never written (TrainingDiverged)."""
        state = self.state
        if "latest" in labels and state.latest_saved_at == state.global_step:
            labels = [label for label in labels if label != "latest"]  # nothing changed since
        if not labels:
            return
        broken = nonfinite_weights(self.model)
        if broken:
            raise TrainingDiverged(f"step {state.global_step}: the weights of {', '.join(broken)} are not finite; "
                                   f"not saved over the {'/'.join(labels)} checkpoint. Resume the last good "
                                   "checkpoint with --continue_train and a lower --lr")
        save_checkpoint(self.run_dir, labels, self.model.state_dict(), at_epoch, at_iter, state.global_step,
                        options_to_dict(self.opt), best=state.best, epoch_samples=state.epoch_samples,
                        generator_configs=generator_configs(self.opt))
        if "latest" in labels:
            state.latest_saved_at = state.global_step
        log.info("saved %s checkpoint (epoch %d, step %d)", "/".join(labels), at_epoch, state.global_step)

    def validate(self, at_epoch: int, at_iter: int) -> None:
        """Score the validation pages (rank 0); a new best is saved as the 'best' checkpoint."""
        state, outputs = self.state, self.outputs
        values, grid = outputs.validator.run(self.model.colorize)
        outputs.logger.scalars(state.global_step, at_epoch, {f"val/{k}": v for k, v in values.items()})
        outputs.logger.image("images/val", state.global_step, grid)
        if outputs.html is not None:
            rel = f"images/step{state.global_step:07d}_val.png"
            atomic_save_image(Image.fromarray(grid), os.path.join(outputs.html.web_dir, rel))
            outputs.html.add_entry(state.global_step, at_epoch, [("validation: input | colorized | ground truth", rel)])
        metric = outputs.validator.metric
        log.info("validation at step %d: %s", state.global_step,
                 " ".join(f"{k} {v:.4g}" for k, v in sorted(values.items())))
        if is_better(metric, values[metric], None if state.best is None else state.best["value"]):
            state.best = {"metric": metric, "value": values[metric], "step": state.global_step}
            self.save(["best"], at_epoch, at_iter)

    def show(self, visuals: Visuals, to_tensorboard: bool, to_html: bool, at_epoch: int) -> None:
        """The training batch and the probe pages, to TensorBoard and/or the HTML page (rank 0)."""
        outputs, step = self.outputs, self.state.global_step
        grids = batch_grids(visuals)
        probe = probe_grid(self.model, outputs.probes, self.device) if outputs.probes else None
        if to_tensorboard:
            outputs.logger.image("images/A", step, grids["A"])
            outputs.logger.image("images/B", step, grids["B"])
            if probe is not None:
                outputs.logger.image("images/probe", step, probe)
        if to_html and outputs.html is not None:
            entries = []
            for kind, caption, array in (("probe", "probe pages: input | colorized", probe),
                                         ("train", "training batch A: real | fake B | reconstructed", grids["A"])):
                if array is not None:
                    rel = f"images/step{step:07d}_{kind}.png"
                    atomic_save_image(Image.fromarray(array), os.path.join(outputs.html.web_dir, rel))
                    entries.append((caption, rel))
            outputs.html.add_entry(step, at_epoch, entries)

    def finish(self, visuals: Optional[Visuals], iters_per_epoch: int) -> Dict[str, float]:
        """After the last epoch: the leftover interval, the weights' agreement across processes, the final
        images and validation, the hyperparameter summary. The last interval's average losses."""
        opt, state, outputs, ctx = self.opt, self.state, self.outputs, self.ctx
        last_epoch = state.epoch - 1  # the loop has moved past it
        leftover = self.interval.stats.averages()
        if ctx.enabled:
            if leftover:
                leftover = mean_over_ranks(leftover, self.device)
            if weights_in_sync(self.model.networks.values(), self.device):
                log.info("%d processes hold identical weights", ctx.world_size)
            else:
                log.warning("the %d processes' weights differ: data-parallel training diverged", ctx.world_size)
        last_losses = self.interval.last_losses
        if not ctx.is_main:
            return last_losses
        if leftover:
            outputs.logger.scalars(state.global_step, last_epoch, leftover)
            last_losses = {k: v for k, v in leftover.items() if k.startswith("loss/")} or last_losses
        if visuals is not None and state.global_step % opt.display_freq != 0:
            self.show(visuals, True, True, last_epoch)  # the final state is always on the page
        if outputs.validator is not None and visuals is not None and state.global_step % opt.val_freq != 0:
            self.validate(last_epoch, iters_per_epoch)
        self.summarize(last_losses)
        return last_losses

    def summarize(self, last_losses: Dict[str, float]) -> None:
        """The best validation, TensorBoard's hyperparameter table, and the closing log line."""
        best, logger = self.state.best, self.outputs.logger
        if best is not None:
            log.info("best validation %s %.4g at step %d (best_checkpoint.pth)", best["metric"], best["value"],
                     best["step"])
        hparams = {k: v for k, v in options_to_dict(self.opt).items()
                   if k in ARCHITECTURE_KEYS + ("lr", "beta1", "gan_mode", "lambda_A", "lambda_B", "lambda_identity",
                                                "pool_size", "batch_size", "crop_size", "n_epochs", "n_epochs_decay",
                                                "seed")}
        metrics = {"hparam/" + k[5:]: v for k, v in last_losses.items()}
        if best is not None:
            metrics[f"hparam/best_val_{best['metric']}"] = best["value"]
        logger.hparams(hparams, metrics)
        logger.close()
        log.info("done: %d steps; run folder %s%s", self.state.global_step, self.run_dir,
                 peak_memory_note(self.device))


def main(argv: Optional[Sequence[str]] = None) -> int:
    opt = parse_train_options(argv)

    def body() -> int:
        train(opt)
        return 0

    return run_main("train.py", body, failures=(TrainingDiverged,),
                    on_interrupt="interrupted; resume from the last saved checkpoint with --continue_train")


if __name__ == "__main__":
    sys.exit(main())
