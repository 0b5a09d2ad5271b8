"""Training options: upstream pytorch-CycleGAN-and-pix2pix flag names and defaults, parsed once.

`parse_train_options(argv)` has no side effects: it reads nothing from disk and creates
no folders, so tests can call it. Every flag (model flags included) is in `--help`.
Priority: upstream defaults < `--preset` (the `demo` preset when no `--dataroot`) < command line.
"""

import argparse
import json
import math
import os
import time
from typing import Any, Dict, Optional, Sequence

from data.bw_synthesis import BW_STYLES, FILL_WHITENING_STYLES
from data.transforms import PREPROCESS_MODES
from data.unaligned_dataset import SizeRule
from evaluation.metrics import HIGHER_IS_BETTER
from models import EARLIER_RUN_VALUES, generator_B_width
from models.color import HEADROOM, OUTPUT_LUMA_MODES, WHITE_CLIPS
from models.losses import GAN_MODES
from models.networks import (DISCRIMINATORS, GENERATORS, INIT_TYPES, NORMS, UPSAMPLINGS, required_multiple,
                             smallest_input, smallest_training_side)
from options.presets import PRESETS
from options.types import gpu_ids_type, number_type, run_name_problem
from util.checkpoint import OPTIONS_CHANGES, OPTIONS_JSON, OPTIONS_TXT
from util.device import PRECISION_CHOICES
from util.fileio import atomic_write_text
from util.schedule import LR_POLICIES

VAL_METRIC_CHOICES = ("auto", *HIGHER_IS_BETTER)

CROPPING_MODES = tuple(name for name, mode in PREPROCESS_MODES.items() if mode.crops)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train an unpaired CycleGAN colorizer (A = B/W scans, B = color pages).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    pos_int = number_type(int, 1)
    nonneg_int = number_type(int, 0)
    pos_float = number_type(float, 0, low_open=True)
    nonneg_float = number_type(float, 0)

    g = parser.add_argument_group("experiment")
    g.add_argument("--dataroot", default=None,
                   help="folder with trainA/ (B/W) and trainB/ (color); omitted: the demo preset on datasets/demo")
    g.add_argument("--name", default="experiment_name", help="run name: files go to <checkpoints_dir>/<name>")
    g.add_argument("--checkpoints_dir", default="./checkpoints", help="where run folders are created")
    g.add_argument("--suffix", default="", help="appended to --name, formatted with the options, e.g. {netG}_size{load_size}")
    g.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help="named defaults, command-line flags still win (options/presets.py): demo, the drawings demo "
                        "on datasets/demo (the default without --dataroot); demo_pages, the page demo on "
                        "datasets/demo_pages; manga, the page recipe for your own --dataroot")
    g.add_argument("--seed", type=nonneg_int, default=None, help="random seed; omitted: drawn at start and saved in opt.json")
    g.add_argument("--gpu_ids", type=gpu_ids_type, default="0", help="GPU id to use, e.g. 0; -1 for CPU")
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: CUDA if present, else CPU")
    g.add_argument("--verbose", action="store_true", help="print network architectures and sizes")

    g = parser.add_argument_group("speed")
    g.add_argument("--precision", default="fp32", choices=PRECISION_CHOICES,
                   help="training precision: bf16/fp16 autocast (fp16 with loss scaling); auto: bf16 where the "
                        "hardware computes it natively (GPUs with bf16, CPUs with AVX512-BF16 or AMX), else fp32")
    g.add_argument("--channels_last", action="store_true", help="NHWC memory layout for networks and batches")
    g.add_argument("--compile", action="store_true", help="torch.compile the networks (compiling takes a while)")

    g = parser.add_argument_group("model")
    g.add_argument("--model", default="cycle_gan", choices=("cycle_gan",), help="training algorithm")
    g.add_argument("--input_nc", type=number_type(int, 1, 4), default=3, help="channels of domain A (1 = grayscale scans)")
    g.add_argument("--output_nc", type=number_type(int, 1, 4), default=3, help="channels of domain B")
    g.add_argument("--ngf", type=pos_int, default=64, help="generator width (filters in the last conv layer)")
    g.add_argument("--ngf_B", type=nonneg_int, default=0,
                   help="width of G_B (color -> B/W) alone; 0 = --ngf. G_B only serves the cycles during "
                        "training and is not used to colorize, so a narrower one saves time and memory, but G_A "
                        "also learns from G_B's fake scans: at 8 for the demo's 24 it colored worse (not in upstream)")
    g.add_argument("--ndf", type=pos_int, default=64, help="discriminator width (filters in the first conv layer)")
    g.add_argument("--netG", default="resnet_9blocks", choices=sorted(GENERATORS), help="generator architecture")
    g.add_argument("--netD", default="basic", choices=sorted(DISCRIMINATORS),
                   help="discriminator: basic = 70x70 PatchGAN, n_layers = PatchGAN with --n_layers_D, pixel = 1x1")
    g.add_argument("--n_layers_D", type=pos_int, default=3, help="layers of the n_layers discriminator")
    g.add_argument("--norm", default="instance", choices=NORMS, help="normalization layer")
    g.add_argument("--init_type", default="normal", choices=INIT_TYPES, help="weight initialization")
    g.add_argument("--init_gain", type=pos_float, default=0.02, help="scale for normal, xavier and orthogonal init")
    g.add_argument("--upsampling", default="transpose", choices=UPSAMPLINGS,
                   help="ResNet generator upsampling: transpose (upstream) or resize (nearest resize + conv, no checkerboard)")
    g.add_argument("--no_dropout", action="store_true", default=True,
                   help="no dropout in the generator (CycleGAN's default; kept for upstream compatibility)")
    g.add_argument("--global_context", action="store_true",
                   help="ResNet generators: pool the whole page's features into a style for the decoder, so a "
                        "fill's color can depend on the face or hair far from it (not in upstream)")
    g.add_argument("--no_global_context", dest="global_context", action="store_false",
                   help="turn --global_context off (it is on in the presets)")
    g.add_argument("--level_channels", type=nonneg_int, default=0,
                   help="ResNet generators with --norm instance: this many (fewer than --ngf) of the first "
                        "convolution's output channels skip instance norm, so G sees each pixel's absolute gray "
                        "and not only its contrast with the rest of the crop (a screentone's gray says which "
                        "tint it stands for); 0 = upstream")
    g.add_argument("--gray_octaves", type=number_type(int, 0, 8), default=0,
                   help="ResNet generators: the first convolution also sees sin and cos of each pixel's gray at "
                        "this many octaves (models/networks.py GrayEncodingConv), so neighbouring tones can "
                        "stand for very different tints; 0 = upstream, at most 8 (past that one cycle is "
                        "shorter than an 8-bit gray step)")
    g.add_argument("--gray_octaves_B", type=number_type(int, -1, 8), default=-1,
                   help="G_B's --gray_octaves (G_B maps color to B/W, and its stem would encode the red channel); "
                        "-1 = the same as --gray_octaves")
    g.add_argument("--gray_window", type=number_type(int, 1, 15), default=1,
                   help="with --gray_octaves: encode the lightest gray within this many pixels square (odd), the "
                        "tone behind the ink, so lines and their soft edges do not read as tones; 1 = each "
                        "pixel's own gray; at most 15, so tiled colorization stays exact")
    g.add_argument("--dropout", dest="no_dropout", action="store_false", help="use dropout in the generator")

    g = parser.add_argument_group("losses")
    g.add_argument("--gan_mode", default="lsgan", choices=GAN_MODES, help="GAN objective")
    g.add_argument("--lambda_A", type=nonneg_float, default=10.0, help="weight of cycle loss A -> B -> A")
    g.add_argument("--lambda_B", type=nonneg_float, default=10.0, help="weight of cycle loss B -> A -> B")
    g.add_argument("--lambda_identity", type=nonneg_float, default=0.5,
                   help="identity loss weight, relative to lambda_A/lambda_B (0 disables it)")
    g.add_argument("--lambda_gp", type=nonneg_float, default=10.0, help="gradient penalty weight for --gan_mode wgangp")
    g.add_argument("--pool_size", type=nonneg_int, default=50, help="fake images kept for the discriminators (0 = no pool)")

    g = parser.add_argument_group("colorization (not in upstream; all off by default, see docs/experiments.md)")
    g.add_argument("--output_luma", default="generator", choices=OUTPUT_LUMA_MODES,
                   help="luminance of G_A's output: generator (upstream), input (G_A only chooses colors; "
                        "lines, lettering and screentone pass through), darker (the darker of the two per "
                        "pixel: ink is kept, paper and fills may take color) or multiply (the page times a "
                        "color layer from G_A, as colorists lay flats under line art: ink stays black, "
                        "outlines are never tinted) or multiply_headroom (multiply with a layer up to "
                        "--layer_headroom, clipped at white, so white paper is not at tanh's asymptote: the recipe; plain "
                        "multiply can saturate to an all-white layer on pages). test.py applies the same")
    g.add_argument("--layer_headroom", type=number_type(float, 1), default=HEADROOM,
                   help="--output_luma multiply_headroom: the color layer's largest value, 1 or more (a channel "
                        "may be this many times the scan's gray before the clip at white; the demo pages' tints "
                        "need up to 1.39 over their tones' gray); recorded with the weights, a resume must agree")
    g.add_argument("--white_clip", default="hard", choices=WHITE_CLIPS,
                   help="--output_luma multiply_headroom, training only: how the clip at white passes gradients. "
                        "hard: none past white; straight_through: as if unclipped, so a channel pushed past "
                        "white is pulled back; darken: only the gradients that darken pass past white, so a fill left "
                        "white can still take its color; darken_identity: darken in the identity losses (known targets) "
                        "and hard elsewhere (the output is the same in every mode, so test.py needs nothing)")
    g.add_argument("--descreen", action="store_true",
                   help="turn the B/W pages' screentone into the flat gray it stands for before G_A sees them "
                        "(data/descreen.py), so a multiply can tint it; test.py does the same for such a model")
    g.add_argument("--lambda_gray_identity", type=nonneg_float, default=0.0,
                   help="weight of |G_A(B/W version of a color page) - that page| (works with --input_nc 1)")
    g.add_argument("--bw_style", default="gray", choices=BW_STYLES,
                   help="how --lambda_gray_identity makes B/W from color: gray (luminance), ink (light fills "
                        "to white), screentone (flat mid-tones as halftone dots) or ink_tone (ink, but flat areas "
                        "covering 2.5%% of the page or more keep their gray: ink figures on a descreened toned ground)")
    g.add_argument("--fill_weight", type=nonneg_float, default=0.0,
                   help="--lambda_gray_identity's fills (blank paper in the B/W version, colored in the page: what "
                        "--bw_style ink or ink_tone whitens) count 1 + this many times, the loss normalized by the "
                        "mean weight; on pages the fills are a few percent of the pixels")
    g.add_argument("--lambda_luma", type=nonneg_float, default=0.0,
                   help="weight of |Y(G_A(A)) - Y(A)|: a soft version of --output_luma input")
    g.add_argument("--detach_cycle_A", action="store_true",
                   help="the A -> B -> A cycle trains G_B only: G_A gains nothing by hiding hints about the scan "
                        "in its colors")
    g.add_argument("--detach_cycle_B", action="store_true",
                   help="the B -> A -> B cycle trains G_A only: G_B gains nothing by hiding color hints in its "
                        "B/W pages, so G_A learns to colorize B/W pages that look like real scans")
    g.add_argument("--cycle_noise", type=nonneg_float, default=0.0,
                   help="standard deviation of Gaussian noise added to G_B's B/W page (values in [-1, 1]) before "
                        "G_A restores the color page from it in the B -> A -> B cycle: a faint code that G_B hides "
                        "in the fills, and that real scans never carry, no longer gets through")
    g.add_argument("--cycle_noise_input_only", action="store_true",
                   help="with --cycle_noise, only G_A's network sees the noisy page; --output_luma takes the "
                        "luminance from the clean one, so the restored color page carries no noise of its own")
    g.add_argument("--spectral_norm", action="store_true", help="spectral normalization on the discriminators' convs")
    g.add_argument("--lr_D", type=pos_float, default=None,
                   help="discriminator learning rate (two time-scale update rule); default: --lr")
    g.add_argument("--num_D", type=pos_int, default=1,
                   help="critics per domain, the i-th on the page downsampled 2^i times (pix2pixHD's "
                        "multi-scale PatchGAN); 1 = upstream's single PatchGAN")
    g.add_argument("--ema_decay", type=number_type(float, 0, 1, high_open=True), default=0.0,
                   help="keep a moving average of G_A's weights with this decay (e.g. 0.999; 0 = off); "
                        "validation and test.py colorize with the average")

    g = parser.add_argument_group("data")
    g.add_argument("--dataset_mode", default="unaligned", choices=("unaligned",), help="how A and B images are paired")
    g.add_argument("--phase", default="train", help="subfolder prefix: <dataroot>/<phase>A and <phase>B")
    g.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"), help="AtoB colorizes A")
    g.add_argument("--serial_batches", action="store_true", help="take images in order instead of shuffling; B not random")
    g.add_argument("--num_threads", type=nonneg_int, default=4, help="data loading worker processes")
    g.add_argument("--batch_size", type=pos_int, default=1, help="images per iteration")
    g.add_argument("--load_size", type=pos_int, default=286, help="scale images to this size")
    g.add_argument("--crop_size", type=pos_int, default=256, help="then crop to this size")
    g.add_argument("--max_dataset_size", type=number_type(float, 0, low_open=True), default=math.inf,
                   help="use at most this many images per domain")
    g.add_argument("--preprocess", default="resize_and_crop", choices=tuple(PREPROCESS_MODES),
                   help="none pads to the size multiple the generator needs instead of resizing")
    g.add_argument("--no_flip", action="store_true", help="no random horizontal flips")
    g.add_argument("--scale_jitter", type=number_type(float, 1), default=1.0,
                   help="scale augmentation for resize_and_crop and scale_width_and_crop: each image is scaled to "
                        "--load_size times a factor between 1/J and J (log-uniform) before the crop, so lines, "
                        "faces and tones are seen at more sizes; --load_size / J must be at least --crop_size; "
                        "1 = upstream (not in upstream)")
    g.add_argument("--display_winsize", type=pos_int, default=256, help="image width on the HTML page")

    g = parser.add_argument_group("schedule and optimizer")
    g.add_argument("--n_epochs", type=nonneg_int, default=100, help="epochs at the initial learning rate")
    g.add_argument("--n_epochs_decay", type=nonneg_int, default=100, help="epochs to decay the learning rate to zero")
    g.add_argument("--epoch_count", type=pos_int, default=1, help="first epoch number of a fresh run (resume reads it from the checkpoint)")
    g.add_argument("--lr", type=pos_float, default=0.0002, help="initial Adam learning rate")
    g.add_argument("--beta1", type=number_type(float, 0, 1), default=0.5, help="Adam beta1")
    g.add_argument("--lr_policy", default="linear", choices=LR_POLICIES,
                   help="learning-rate schedule (a pure function of the epoch)")
    g.add_argument("--lr_decay_iters", type=pos_int, default=50, help="step policy: multiply by 0.1 every this many epochs")

    g = parser.add_argument_group("logging and checkpoints (frequencies count iterations)")
    g.add_argument("--print_freq", type=pos_int, default=100, help="log interval-averaged losses every N iterations")
    g.add_argument("--display_freq", type=pos_int, default=400, help="write image grids and probe pages every N iterations")
    g.add_argument("--update_html_freq", type=pos_int, default=1000, help="add the probe pages to web/index.html every N iterations")
    g.add_argument("--no_html", action="store_true", help="do not write web/index.html")
    g.add_argument("--save_latest_freq", type=pos_int, default=5000, help="save the latest checkpoint every N iterations")
    g.add_argument("--save_epoch_freq", type=pos_int, default=5, help="save a numbered checkpoint every N epochs")
    g.add_argument("--save_by_iter", action="store_true", help="also keep iter_<N> checkpoints at --save_latest_freq")
    g.add_argument("--continue_train", action="store_true", help="resume exactly from a checkpoint of this run")
    g.add_argument("--val_dataroot", default=None,
                   help="folder with testA/ (B/W) and testB/ (color; same file names = pairs) to score during "
                        "training (see --val_phase)")
    g.add_argument("--val_phase", default="test",
                   help="validate on <val_dataroot>/<val_phase>A and <val_phase>B (and <val_phase>Masks for the "
                        "page metrics); use val for a split kept apart from the test pages")
    g.add_argument("--val_freq", type=pos_int, default=1000, help="validate every N iterations (and at the end)")
    g.add_argument("--val_metric", default="auto", choices=VAL_METRIC_CHOICES,
                   help="keeps the 'best' checkpoint; auto: ciede2000 with pairs (direct color error, "
                        "stable on small sets), else kid")
    g.add_argument("--val_max_images", type=pos_int, default=100, help="validate on at most this many pages")
    g.add_argument("--epoch", default="latest", help="checkpoint to resume from: latest or an epoch number")
    g.add_argument("--load_iter", type=nonneg_int, default=0, help="if > 0, resume from the iter_<load_iter> checkpoint")
    return parser


def _explicit_dests(argv: Sequence[str]) -> set:
    """The option names the user typed, found by parsing again with every default suppressed."""
    quiet = build_parser()
    for action in quiet._actions:
        action.default = argparse.SUPPRESS
    return set(vars(quiet.parse_args(argv)))


def size_rule(opt: argparse.Namespace) -> SizeRule:
    """Which training images these flags accept and how they are sized: --preprocess,
    --load_size, --crop_size, and the generator's and discriminators' size limits."""
    return SizeRule(opt.preprocess, opt.load_size, opt.crop_size, required_multiple(opt.netG),
                    smallest_training_side(opt.netG, opt.netD, opt.n_layers_D, opt.num_D))


def _cross_check(opt: argparse.Namespace) -> Optional[str]:
    """Problems no single flag can see; the message names the flag to change."""
    mode = PREPROCESS_MODES[opt.preprocess]
    if mode.crops and mode.scales_to_load_size and opt.crop_size > opt.load_size:
        return f"--crop_size ({opt.crop_size}) must be <= --load_size ({opt.load_size}) with --preprocess {opt.preprocess}"
    if opt.scale_jitter != 1 and not (mode.crops and mode.scales_to_load_size):
        return (f"--scale_jitter needs a --preprocess that scales to --load_size and then crops (resize_and_crop, "
                f"scale_width_and_crop), got --preprocess {opt.preprocess}")
    if opt.load_size / opt.scale_jitter < opt.crop_size:
        return (f"--scale_jitter {opt.scale_jitter} would scale images to {opt.load_size / opt.scale_jitter:.0f} px, "
                f"smaller than --crop_size ({opt.crop_size}); use at most {opt.load_size / opt.crop_size:.2f}")
    multiple = required_multiple(opt.netG)
    if opt.preprocess in CROPPING_MODES and opt.crop_size % multiple:
        return f"--crop_size ({opt.crop_size}) must be a multiple of {multiple} for --netG {opt.netG}"
    if opt.lambda_identity > 0 and opt.input_nc != opt.output_nc:
        return (f"--lambda_identity {opt.lambda_identity} needs --input_nc == --output_nc "
                f"(got {opt.input_nc} and {opt.output_nc}); pass --lambda_identity 0")
    if opt.level_channels and (not opt.netG.startswith("resnet") or opt.norm != "instance"
                               or opt.level_channels >= min(opt.ngf, generator_B_width(opt))):
        return (f"--level_channels {opt.level_channels} needs a ResNet --netG, --norm instance and fewer channels "
                f"than --ngf ({opt.ngf}) and G_B's width ({generator_B_width(opt)}); --preset manga sets 8, pass "
                "--level_channels 0 to turn it off")
    if opt.gray_octaves and not opt.netG.startswith("resnet"):
        return (f"--gray_octaves {opt.gray_octaves} needs a ResNet --netG (got --netG {opt.netG}); --preset manga "
                "sets 5, pass --gray_octaves 0 to turn it off")
    if opt.gray_octaves_B > 0 and not opt.netG.startswith("resnet"):
        return f"--gray_octaves_B {opt.gray_octaves_B} needs a ResNet --netG (got --netG {opt.netG})"
    if opt.gray_window != 1 and (not opt.gray_octaves or opt.gray_window % 2 == 0):
        return (f"--gray_window {opt.gray_window} must be odd and sets what --gray_octaves encodes "
                f"(got --gray_octaves {opt.gray_octaves}): pass an odd window and --gray_octaves > 0, or --gray_window 1")
    if opt.fill_weight and opt.lambda_gray_identity <= 0:
        return f"--fill_weight {opt.fill_weight} weighs the grayscale identity: pass --lambda_gray_identity > 0 too"
    if opt.fill_weight and opt.bw_style not in FILL_WHITENING_STYLES:
        origin = f" (given or set by --preset {opt.preset})" if opt.preset else ""
        return (f"--fill_weight weighs the fills that the B/W version shows as paper; --bw_style {opt.bw_style}{origin} "
                f"keeps them gray: use --bw_style {' or '.join(FILL_WHITENING_STYLES)}")
    if opt.layer_headroom != HEADROOM and opt.output_luma != "multiply_headroom":
        return f"--layer_headroom only applies to --output_luma multiply_headroom (got --output_luma {opt.output_luma})"
    if opt.cycle_noise_input_only and opt.cycle_noise <= 0:
        return "--cycle_noise_input_only needs --cycle_noise > 0 (the noise it keeps out of the restored page)"
    if opt.white_clip != "hard" and opt.output_luma != "multiply_headroom":
        return f"--white_clip only applies to --output_luma multiply_headroom (got --output_luma {opt.output_luma})"
    if opt.output_luma != "generator" and opt.output_nc < 3:
        return f"--output_luma {opt.output_luma} needs color output (--output_nc 3, got {opt.output_nc})"
    if opt.num_D > 1 and opt.preprocess in CROPPING_MODES:
        coarsest, needed = opt.crop_size >> (opt.num_D - 1), smallest_input(opt.netD, opt.n_layers_D)
        if coarsest < needed:
            return (f"--num_D {opt.num_D} shrinks --crop_size {opt.crop_size} to {coarsest} px for the coarsest "
                    f"critic, which needs at least {needed}; lower --num_D or raise --crop_size")
    if opt.batch_size > 1 and opt.preprocess not in CROPPING_MODES:
        return (f"--batch_size {opt.batch_size} needs equal-sized images: use a cropping --preprocess "
                f"({', '.join(CROPPING_MODES)}) or --batch_size 1")
    if opt.n_epochs + opt.n_epochs_decay < 1:
        return "--n_epochs + --n_epochs_decay must be at least 1"
    if len(opt.gpu_ids) > 1:
        return (f"--gpu_ids {','.join(map(str, opt.gpu_ids))}: one GPU per process; for several GPUs launch "
                "torchrun --nproc_per_node N train.py ...")
    if opt.norm == "batch" and opt.batch_size == 1 and opt.netG.startswith("unet"):
        return "--norm batch with --batch_size 1 breaks the U-Net's 1x1 bottleneck; use --norm instance or a larger batch"
    return None


def parse_train_options(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and check the training flags; exits with status 2 and a one-line message on bad input."""
    parser = build_parser()
    opt = parser.parse_args(argv)
    explicit = _explicit_dests(list(argv) if argv is not None else None)

    preset_name = opt.preset if opt.preset is not None else ("demo" if opt.dataroot is None else None)
    if preset_name is not None:
        for key, value in PRESETS[preset_name].items():
            if key not in explicit:
                setattr(opt, key, value)
    opt.preset = preset_name
    if opt.dataroot is None:
        parser.error("--dataroot is required with --preset " + str(preset_name))

    if opt.suffix:
        try:
            opt.name = opt.name + "_" + opt.suffix.format(**vars(opt))
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            parser.error(f"--suffix {opt.suffix!r}: not a format of option names like {{netG}}_size{{load_size}} "
                         f"({type(exc).__name__}: {exc})")
    problem = run_name_problem(opt.name, "--name and --suffix" if opt.suffix else "--name") or _cross_check(opt)
    if problem:
        parser.error(problem)
    return opt


def options_to_dict(opt: argparse.Namespace) -> Dict[str, Any]:
    """A JSON-safe copy (inf becomes the string 'inf', as on the command line)."""
    out = {}
    for key, value in sorted(vars(opt).items()):
        out[key] = "inf" if isinstance(value, float) and math.isinf(value) else value
    return out


def options_from_dict(values: Dict[str, Any]) -> argparse.Namespace:
    """Inverse of options_to_dict, filling flags added since the file was written with the values the
    runs before them used (models.EARLIER_RUN_VALUES), else with today's defaults."""
    opt = build_parser().parse_args([])
    for key, value in {**EARLIER_RUN_VALUES, **values}.items():
        if key == "max_dataset_size" and value == "inf":
            value = math.inf
        setattr(opt, key, value)
    return opt


def format_options(opt: argparse.Namespace) -> str:
    """Readable listing; flags that differ from upstream's defaults show the default beside them."""
    defaults = vars(build_parser().parse_args([]))
    lines = ["----------------- Options ---------------"]
    for key, value in sorted(vars(opt).items()):
        default = defaults.get(key)
        note = f"\t[default: {default}]" if key in defaults and value != default else ""
        lines.append(f"{key:>25}: {value!s:<30}{note}")
    lines.append("----------------- End -------------------")
    return "\n".join(lines)


def save_options(opt: argparse.Namespace, run_dir: str, resumed: bool = False) -> None:
    """A run's options record. A new run writes opt.txt (for people) and opt.json (read back by
    load_options and test.py). A resume (`resumed`) leaves both as the run began and appends what
    its flags change, old and new value per option, as one JSON line to opt_changes.jsonl."""
    json_path = os.path.join(run_dir, OPTIONS_JSON)
    if resumed and os.path.isfile(json_path):
        with open(json_path, encoding="utf-8") as f:
            before = json.load(f)
        after = options_to_dict(opt)
        changed = {key: [before.get(key), value] for key, value in after.items() if before.get(key) != value}
        changes_path = os.path.join(run_dir, OPTIONS_CHANGES)
        earlier = ""
        if os.path.isfile(changes_path):
            with open(changes_path, encoding="utf-8") as f:
                earlier = f.read()
        record = {"resumed": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "changed": changed}
        atomic_write_text(changes_path, earlier + json.dumps(record) + "\n")
        return
    atomic_write_text(os.path.join(run_dir, OPTIONS_TXT), format_options(opt) + "\n")
    atomic_write_text(json_path, json.dumps(options_to_dict(opt), indent=2) + "\n")


def load_options(run_dir: str) -> argparse.Namespace:
    with open(os.path.join(run_dir, OPTIONS_JSON), encoding="utf-8") as f:
        return options_from_dict(json.load(f))
