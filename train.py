"""Train an unpaired B/W -> color CycleGAN.

    python train.py                                            # demo preset on datasets/demo (CPU, ~10 min)
    python train.py --dataroot datasets/manga --name onepiece  # your data, upstream defaults
    python train.py --dataroot datasets/manga --name onepiece --continue_train   # exact resume
    tensorboard --logdir checkpoints/onepiece

Run folder <checkpoints_dir>/<name>: opt.txt / opt.json (resolved flags), train.log, loss_log.jsonl,
TensorBoard events, web/index.html, <label>_checkpoint.pth and <label>_net_G_A.pth / _net_G_B.pth.
"""

import argparse
import contextlib
import functools
import logging
import math
import os
import random
import sys
import time
from typing import Any, Dict, Iterator, List, Optional, Sequence

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
from models import ARCHITECTURE_KEYS, GENERATOR_USE_KEYS, create_model
from models.cycle_gan import CycleGANModel, Visuals
from models.networks import count_parameters, required_multiple, smallest_generator_side
from options.train_options import format_options, options_to_dict, parse_train_options, save_options
from util.checkpoint import (architecture_mismatch, checkpoint_label, checkpoint_path, load_checkpoint,
                              save_checkpoint)
from util.cli import configure_console_logging
from util.device import peak_memory_note, precision_reason, resolve_precision, select_device
from util.distributed import (DistContext, average_gradients, broadcast_parameters, init_distributed,
                              mean_over_ranks, shutdown, weights_in_sync)
from util.errors import TrainingDiverged, UserError
from util.fileio import atomic_save_image
from util.html_page import HTMLPage
from util.image_grid import make_row, stack_rows
from util.rng import restore_rng_state, seed_everything
from util.run_logger import RunLogger
from util.schedule import lr_factor
from util.stats import Smoother, StatsTracker
from util.validation import Validator, is_better

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
    try:
        return _train(opt, run_dir, device, ctx)
    finally:
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
    resume = None
    if opt.continue_train:
        label = checkpoint_label(opt.epoch, opt.load_iter)
        resume = load_checkpoint(checkpoint_path(run_dir, label))
        mismatch = architecture_mismatch(resume["options"], vars(opt), ARCHITECTURE_KEYS + GENERATOR_USE_KEYS)
        if mismatch:
            raise UserError(f"{checkpoint_path(run_dir, label)} was trained with " + ", ".join(mismatch)
                            + "; pass the checkpoint's values or start a new --name")
        saved_seed = resume["options"]["seed"]
        if opt.seed is not None and opt.seed != saved_seed:
            log.warning("--seed %s ignored: resuming continues the checkpoint's seed %s", opt.seed, saved_seed)
        opt.seed = saved_seed
        if opt.epoch_count != 1:
            log.warning("--epoch_count ignored: resuming continues at the checkpoint's epoch")
    elif opt.seed is None:
        opt.seed = random.SystemRandom().randrange(2**31)
        if ctx.enabled:  # every process must share rank 0's seed
            shared = [opt.seed]
            torch.distributed.broadcast_object_list(shared, src=0)
            opt.seed = shared[0]
    seed_everything(opt.seed)

    dataset = create_dataset(opt)
    grad_sync = functools.partial(average_gradients, world_size=ctx.world_size) if ctx.enabled else None
    # Pools draw per process; the networks start from rank 0's weights.
    precision = resolve_precision(opt.precision, device)
    log.info("precision: %s", precision_reason(opt.precision, precision, device))
    model = create_model(opt, device, opt.seed + 100_003 * ctx.rank, precision, grad_sync=grad_sync)
    epoch, epoch_samples, global_step = opt.epoch_count, 0, 0
    if resume is not None:
        try:
            model.load_state_dict(resume, device)
        except (RuntimeError, KeyError, ValueError) as exc:
            raise UserError(f"checkpoint in {run_dir} does not fit the model built from the flags: "
                            f"{str(exc).splitlines()[0]}") from exc
        restore_rng_state(resume["rng"])
        epoch, epoch_samples, global_step = resume["epoch"], resumed_samples(resume), resume["global_step"]
        if epoch_samples >= samples_per_epoch(len(dataset), ctx.world_size):  # saved at the epoch's end
            epoch, epoch_samples = epoch + 1, 0
        last_epoch = opt.n_epochs + opt.n_epochs_decay
        if epoch > last_epoch:
            raise UserError(f"{run_dir} already finished its {last_epoch} epochs (step {global_step}); to train "
                            f"longer, raise --n_epochs or --n_epochs_decay (e.g. --n_epochs_decay "
                            f"{opt.n_epochs_decay + max(1, last_epoch // 2)}); nothing was changed")
    if ctx.enabled and opt.norm == "batch":
        if device.type == "cuda":
            # Batch statistics over all processes' images, not each process's small batch.
            model.convert_sync_batchnorm()
        else:
            log.warning("--norm batch: SyncBatchNorm needs CUDA; each process normalises over its own batch")
    if ctx.enabled:
        averaged = [model.ema.net] if model.ema is not None else []
        broadcast_parameters([*model.networks.values(), *averaged])
        torch.manual_seed(opt.seed + ctx.rank)  # e.g. the gradient penalty's mixing weights differ per process
    if opt.compile:
        model.compile()

    validator = None
    if opt.val_dataroot and ctx.is_main:
        validator = Validator(opt.val_dataroot, opt.input_nc, opt.load_size, required_multiple(opt.netG),
                              opt.val_max_images, opt.val_metric, device, opt.val_phase, opt.descreen,
                              smallest_generator_side(opt.netG))
    best = resume.get("best") if resume is not None else None

    if not ctx.is_main:
        return _train_loop(opt, run_dir, device, dataset, model, epoch, epoch_samples, global_step,
                           resume is not None, ctx, None, None)
    os.makedirs(run_dir, exist_ok=True)
    with log_to_file(os.path.join(run_dir, "train.log")):
        return _train_loop(opt, run_dir, device, dataset, model, epoch, epoch_samples, global_step,
                           resume is not None, ctx, validator, best)


def _train_loop(opt: argparse.Namespace, run_dir: str, device: torch.device, dataset: torch.utils.data.Dataset,
                model: CycleGANModel, epoch: int, epoch_samples: int, global_step: int, resumed: bool,
                ctx: DistContext, validator: Optional[Validator], best: Optional[Dict[str, Any]]) -> Dict[str, float]:
    """The loop; only the main process (rank 0) writes logs, images, HTML, checkpoints and validates."""
    main = ctx.is_main
    if main:
        save_options(opt, run_dir)
    log.info("%s", format_options(opt))
    log.info("device %s, seed %d, %d A and %d B images, %d samples per epoch%s", device, opt.seed,
             len(dataset.paths_A), len(dataset.paths_B), len(dataset),
             f", {ctx.world_size} processes x batch {opt.batch_size}" if ctx.enabled else "")
    for name, net in model.networks.items():
        log.info("network %s: %.3f M parameters", name, count_parameters(net) / 1e6)
        if opt.verbose:
            log.info("%s", net)

    logger = RunLogger(run_dir) if main else None
    if logger is not None:
        logger.text("options", "```\n" + format_options(opt) + "\n```")
    html = None if opt.no_html or not main else HTMLPage(os.path.join(run_dir, "web"), f"Experiment {opt.name}",
                                                          opt.display_winsize)
    probes = load_probes(opt) if main else []

    sampler = EpochSampler(len(dataset), opt.seed, shuffle=not opt.serial_batches, rank=ctx.rank,
                           world_size=ctx.world_size)
    loader = create_loader(dataset, sampler, opt.batch_size, opt.num_threads, device)
    iters_per_epoch = math.ceil(sampler.total // ctx.world_size / opt.batch_size)
    sampler.set_epoch(epoch, start=epoch_samples)
    first_epoch_iters = math.ceil(len(sampler) / opt.batch_size)  # left in the epoch it starts in
    epoch_iter = iters_per_epoch - first_epoch_iters
    last_epoch = opt.n_epochs + opt.n_epochs_decay
    total_steps = global_step + first_epoch_iters + max(0, last_epoch - epoch) * iters_per_epoch
    if resumed:
        log.info("resuming at epoch %d, sample %d of %d (step %d)", epoch, epoch_samples, sampler.total, global_step)

    latest_saved_at = -1

    def save(labels: List[str], at_epoch: int, at_iter: int) -> None:
        nonlocal latest_saved_at
        if "latest" in labels and latest_saved_at == global_step:
            labels = [label for label in labels if label != "latest"]  # nothing changed since
        if not labels:
            return
        broken = nonfinite_weights(model)
        if broken:
            raise TrainingDiverged(f"step {global_step}: the weights of {', '.join(broken)} are not finite; not "
                                   f"saved over the {'/'.join(labels)} checkpoint. Resume the last good checkpoint "
                                   "with --continue_train and a lower --lr")
        save_checkpoint(run_dir, labels, model.state_dict(), at_epoch, at_iter, global_step, options_to_dict(opt),
                        best=best, epoch_samples=epoch_samples)
        if "latest" in labels:
            latest_saved_at = global_step
        log.info("saved %s checkpoint (epoch %d, step %d)", "/".join(labels), at_epoch, global_step)

    def validate(at_epoch: int, at_iter: int) -> None:
        nonlocal best
        values, grid = validator.run(model.colorize)
        logger.scalars(global_step, at_epoch, {f"val/{k}": v for k, v in values.items()})
        logger.image("images/val", global_step, grid)
        if html is not None:
            rel = f"images/step{global_step:07d}_val.png"
            atomic_save_image(Image.fromarray(grid), os.path.join(html.web_dir, rel))
            html.add_entry(global_step, at_epoch, [("validation: input | colorized | ground truth", rel)])
        value = values[validator.metric]
        log.info("validation at step %d: %s", global_step, " ".join(f"{k} {v:.4g}" for k, v in sorted(values.items())))
        if is_better(validator.metric, value, None if best is None else best["value"]):
            best = {"metric": validator.metric, "value": value, "step": global_step}
            save(["best"], at_epoch, at_iter)

    def show_images(visuals: Visuals, to_tensorboard: bool, to_html: bool) -> None:
        grids = batch_grids(visuals)
        probe = probe_grid(model, probes, device) if probes else None
        if to_tensorboard:
            logger.image("images/A", global_step, grids["A"])
            logger.image("images/B", global_step, grids["B"])
            if probe is not None:
                logger.image("images/probe", global_step, probe)
        if to_html and html is not None:
            entries = []
            for kind, caption, array in (("probe", "probe pages: input | colorized", probe),
                                         ("train", "training batch A: real | fake B | reconstructed", grids["A"])):
                if array is not None:
                    rel = f"images/step{global_step:07d}_{kind}.png"
                    atomic_save_image(Image.fromarray(array), os.path.join(html.web_dir, rel))
                    entries.append((caption, rel))
            html.add_entry(global_step, epoch, entries)

    stats, smoother = StatsTracker(), Smoother()
    last_losses: Dict[str, float] = {}
    visuals = None
    images_in_interval, interval_start = 0, time.perf_counter()
    model.train()
    with logging_redirect_tqdm(), tqdm(total=total_steps, initial=global_step, unit="it", dynamic_ncols=True,
                                       disable=None if main else True) as bar:
        while epoch <= last_epoch:
            lr = opt.lr * lr_factor(epoch, opt.lr_policy, opt.n_epochs, opt.n_epochs_decay, opt.lr_decay_iters)
            model.set_lr(lr)
            sampler.set_epoch(epoch, start=epoch_samples)
            bar.set_description(f"epoch {epoch}/{last_epoch}")
            data_start = time.perf_counter()
            for batch in loader:
                step_start = time.perf_counter()
                real_A = batch["A"].to(device, non_blocking=True)
                real_B = batch["B"].to(device, non_blocking=True)
                if opt.channels_last:
                    real_A = real_A.contiguous(memory_format=torch.channels_last)
                    real_B = real_B.contiguous(memory_format=torch.channels_last)

                bw_B = batch["B_bw"].to(device, non_blocking=True) if "B_bw" in batch else None
                visuals, g_stats = model.generator_step(real_A, real_B, bw_B)
                d_stats = model.discriminator_step(visuals)
                check_finite_losses(global_step + 1, {**g_stats, **d_stats})

                global_step += 1
                epoch_iter += 1
                epoch_samples = min(sampler.total, epoch_samples + real_A.shape[0] * ctx.world_size)
                images_in_interval += real_A.shape[0] * ctx.world_size
                stats.report("loss", g_stats)
                stats.report("loss", d_stats)
                stats.report("time", {"data": step_start - data_start, "step": time.perf_counter() - step_start})
                bar.update(1)

                if global_step % opt.print_freq == 0:
                    now = time.perf_counter()
                    values = stats.averages()
                    values["lr"] = lr
                    values["throughput/images_per_s"] = images_in_interval / max(now - interval_start, 1e-9)
                    images_in_interval, interval_start = 0, now
                    if ctx.enabled:
                        values = mean_over_ranks(values, device)
                    if logger is not None:
                        logger.scalars(global_step, epoch, values)
                    last_losses = {k: v for k, v in values.items() if k.startswith("loss/")}
                    smooth = smoother.update({k[5:]: v for k, v in last_losses.items()})
                    bar.set_postfix({k: f"{v:.3f}" for k, v in smooth.items() if k in ("G", "D_A", "D_B", "cycle_A")}
                                    | {"img/s": f"{values['throughput/images_per_s']:.1f}"})
                    log.info("epoch %d iter %d/%d step %d | %s | lr %.2e | %.2f img/s", epoch, epoch_iter,
                             iters_per_epoch, global_step,
                             " ".join(f"{k[5:]} {v:.3f}" for k, v in sorted(last_losses.items())),
                             lr, values["throughput/images_per_s"])
                display = global_step % opt.display_freq == 0
                to_html = global_step % opt.update_html_freq == 0
                if main and (display or to_html):
                    show_images(visuals, display, to_html)
                if validator is not None and global_step % opt.val_freq == 0:
                    validate(epoch, epoch_iter)
                if main and global_step % opt.save_latest_freq == 0:
                    save(["latest"] + ([f"iter_{global_step}"] if opt.save_by_iter else []), epoch, epoch_iter)
                data_start = time.perf_counter()

            labels = ["latest"] + ([str(epoch)] if epoch % opt.save_epoch_freq == 0 or epoch == last_epoch else [])
            if main:
                save(labels, epoch, epoch_iter)
            log.info("end of epoch %d / %d (lr %.2e)", epoch, last_epoch, lr)
            epoch, epoch_iter, epoch_samples = epoch + 1, 0, 0

    leftover = stats.averages()
    if ctx.enabled:
        if leftover:
            leftover = mean_over_ranks(leftover, device)
        if weights_in_sync(model.networks.values(), device):
            log.info("%d processes hold identical weights", ctx.world_size)
        else:
            log.warning("the %d processes' weights differ: data-parallel training diverged", ctx.world_size)
    if not main:
        return last_losses
    if leftover:
        logger.scalars(global_step, epoch - 1, leftover)
        last_losses = {k: v for k, v in leftover.items() if k.startswith("loss/")} or last_losses
    if visuals is not None and global_step % opt.display_freq != 0:
        show_images(visuals, True, True)  # the final state is always on the page
    if validator is not None and visuals is not None and global_step % opt.val_freq != 0:
        validate(epoch - 1, iters_per_epoch)
    if best is not None:
        log.info("best validation %s %.4g at step %d (best_checkpoint.pth)", best["metric"], best["value"], best["step"])
    hparams = {k: v for k, v in options_to_dict(opt).items()
               if k in ARCHITECTURE_KEYS + ("lr", "beta1", "gan_mode", "lambda_A", "lambda_B", "lambda_identity",
                                            "pool_size", "batch_size", "crop_size", "n_epochs", "n_epochs_decay", "seed")}
    metrics = {"hparam/" + k[5:]: v for k, v in last_losses.items()}
    if best is not None:
        metrics[f"hparam/best_val_{best['metric']}"] = best["value"]
    logger.hparams(hparams, metrics)
    logger.close()
    log.info("done: %d steps; run folder %s%s", global_step, run_dir, peak_memory_note(device))
    return last_losses


def main(argv: Optional[Sequence[str]] = None) -> int:
    opt = parse_train_options(argv)
    configure_console_logging()
    try:
        train(opt)
    except UserError as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 2
    except TrainingDiverged as exc:
        print(f"train.py: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("train.py: interrupted; resume from the last saved checkpoint with --continue_train", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
