"""Options of test.py (colorize a folder). Parsed once, no side effects, same conventions as training.

Architecture flags (--netG, --ngf, --norm, ...) only matter for weights that come without our
opt.json (e.g. trained with upstream); a run folder of ours rebuilds the generator from opt.json.
"""

import argparse
import math
from typing import Optional, Sequence

from data.comic_archive import DEFAULT_SIZE_LIMIT_MB
from models.fast_conv import CPU_KERNELS
from models.networks import GENERATORS, NORMS, UPSAMPLINGS
from options.types import gpu_ids_type, number_type, run_name_problem
from util.device import PRECISION_CHOICES

TEST_PREPROCESS = ("auto", "none", "scale_width")


def add_weights_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that pick a generator and, for weights without opt.json, describe its architecture."""
    g = parser.add_argument_group("which weights")
    g.add_argument("--name", default="experiment_name", help="run folder under --checkpoints_dir holding the weights")
    g.add_argument("--checkpoints_dir", default="./checkpoints", help="where run folders live")
    g.add_argument("--model", default="cycle_gan", choices=("cycle_gan", "test"),
                   help="cycle_gan: <epoch>_net_G_A.pth (G_B with --direction BtoA); "
                        "test: upstream's single generator <epoch>_net_G<model_suffix>.pth")
    g.add_argument("--model_suffix", default="", help="with --model test: e.g. _A loads <epoch>_net_G_A.pth")
    g.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"), help="AtoB uses G_A (B/W -> color)")
    g.add_argument("--epoch", default="latest", help="which weights: latest or an epoch number")
    g.add_argument("--load_iter", type=number_type(int, 0), default=0, help="if > 0, use the iter_<load_iter> weights")
    g.add_argument("--no_ema", action="store_true",
                   help="runs trained with --ema_decay: use G_A's last weights instead of their moving average")

    g = parser.add_argument_group("architecture (only for weights without opt.json, e.g. from upstream)")
    g.add_argument("--netG", default="resnet_9blocks", choices=sorted(GENERATORS))
    g.add_argument("--ngf", type=number_type(int, 1), default=64)
    g.add_argument("--norm", default="instance", choices=NORMS)
    g.add_argument("--input_nc", type=number_type(int, 1, 4), default=3)
    g.add_argument("--output_nc", type=number_type(int, 1, 4), default=3)
    g.add_argument("--upsampling", default="transpose", choices=UPSAMPLINGS)
    g.add_argument("--global_context", action="store_true", help="the weights were trained with --global_context")
    g.add_argument("--level_channels", type=number_type(int, 0), default=0,
                   help="the weights were trained with --level_channels (the weights alone cannot tell: "
                        "a wrong value loads without error and colorizes wrongly)")
    g.add_argument("--gray_octaves", type=number_type(int, 0, 8), default=0,
                   help="the weights were trained with --gray_octaves")
    g.add_argument("--gray_window", type=number_type(int, 1, 15), default=1,
                   help="the weights were trained with --gray_window (the weights alone cannot tell)")
    g.add_argument("--no_dropout", action="store_true", default=True, help="accepted for upstream compatibility")
    g.add_argument("--dropout", dest="no_dropout", action="store_false", help="the weights were trained with dropout")


def add_processing_flags(parser: argparse.ArgumentParser) -> None:
    """How a page is colorized (test.py and the web page, scripts/app.py, share these)."""
    pos_int = number_type(int, 1)
    nonneg_int = number_type(int, 0)
    g = parser.add_argument_group("how pages are processed")
    g.add_argument("--preprocess", default="auto", choices=TEST_PREPROCESS,
                   help="none: run at full resolution; scale_width: run at --load_size wide, then back to full size; "
                        "auto: scale_width for models that paint a color layer (--output_luma multiply*) and were "
                        "trained on pages scaled to --load_size, none otherwise")
    g.add_argument("--load_size", type=pos_int, default=None,
                   help="working width for scale_width and --keep_lines, and for auto where it picks one (default: the "
                        "training --load_size, else 512)")
    g.add_argument("--keep_lines", action="store_true",
                   help="keep the scan's own luminance at full resolution; take only color from the generator")
    g.add_argument("--flat_fills", action="store_true",
                   help="one color layer per region the ink encloses, multiplied under the scan as colorists lay "
                        "flats: no halos, fringes or blotches, each region consistent (inference/flat_fills.py)")
    g.add_argument("--keep_bubbles", action="store_true",
                   help="speech bubbles stay as scanned: paper white, black lettering (inference/speech_bubbles.py)")
    g.add_argument("--tile_size", type=nonneg_int, default=None,
                   help="run the generator on tiles of this size (0 = never); default: tile pages above 2 megapixels")
    g.add_argument("--tile_overlap", type=pos_int, default=64, help="pixels each tile shares with its neighbours")
    g.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                   help="compute precision (bf16/fp16 via autocast); auto: bf16 where the hardware has it natively")
    g.add_argument("--cpu_kernels", default="fast", choices=CPU_KERNELS,
                   help="fast: in fp32 on a CPU, Winograd/FFT convolutions (NNPACK) and an in-place instance norm, "
                        "~2x faster, equal up to rounding (models/fast_conv.py); upstream: PyTorch's own layers")
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="auto: CUDA if present, else CPU")
    g.add_argument("--gpu_ids", type=gpu_ids_type, default="0", help="GPU id; -1 for CPU")


def generator_network(opt: argparse.Namespace) -> str:
    """Which generator: G_A or G_B by --direction; with upstream's --model test, the file its
    --model_suffix names (`G<model_suffix>`, e.g. G_A, or G for the bare `<epoch>_net_G.pth`)."""
    if opt.model == "test":
        return "G" + opt.model_suffix
    return "G_A" if opt.direction == "AtoB" else "G_B"


def build_test_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="test.py",
        description="Colorize every image under --dataroot at its original size.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    pos_int = number_type(int, 1)

    g = parser.add_argument_group("input and output")
    g.add_argument("--dataroot", required=True,
                   help="B/W pages: a folder (searched recursively for images and CBZ/ZIP volumes), one image, "
                        "or one .cbz/.zip volume")
    g.add_argument("--results_dir", default="./results/", help="results and index.html go to <results_dir>/<name>/<phase>_<epoch>/")
    g.add_argument("--output_dir", default=None,
                   help="write only the colorized pages here, as <relative path>/<stem>.png (sub-folders mirrored)")
    g.add_argument("--phase", default="test", help="used in the results folder name")
    g.add_argument("--num_test", type=number_type(float, 1), default=math.inf, help="colorize at most this many loose pages (volumes are always whole)")
    g.add_argument("--skip_existing", action="store_true",
                   help="leave pages and volumes whose output already exists (resume a folder)")
    g.add_argument("--archive_size_limit", type=pos_int, default=DEFAULT_SIZE_LIMIT_MB,
                   help="refuse a CBZ/ZIP volume that unpacks to more than this many MB (guards against zip bombs)")
    g.add_argument("--overwrite", action="store_true",
                   help="write over pages that other weights colorized into the output folder (refused otherwise)")
    g.add_argument("--display_winsize", type=pos_int, default=256, help="thumbnail width on the HTML page")
    g.add_argument("--num_threads", type=number_type(int, 0), default=2,
                   help="threads decoding and encoding pages beside compute")
    g.add_argument("--eval", action="store_true", help="accepted for upstream compatibility (always eval mode here)")

    add_weights_flags(parser)

    add_processing_flags(parser)
    return parser


def parse_test_options(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = build_test_parser()
    opt = parser.parse_args(argv)
    check_weights_and_processing_flags(parser, opt)
    return opt


def check_weights_and_processing_flags(parser: argparse.ArgumentParser, opt: argparse.Namespace) -> None:
    """parser.error (one line, exit 2) for combinations argparse cannot check by itself."""
    if opt.tile_size is not None and 0 < opt.tile_size <= 2 * opt.tile_overlap:
        parser.error(f"--tile_size ({opt.tile_size}) must be more than twice --tile_overlap ({opt.tile_overlap})")
    if opt.model == "test" and opt.direction == "BtoA" and opt.model_suffix == "":
        parser.error("--model test loads one generator; choose it with --model_suffix (_A or _B), not --direction")
    if len(opt.gpu_ids) > 1:
        parser.error("--gpu_ids: test.py uses one GPU")
    problem = run_name_problem(opt.name)
    if problem:
        parser.error(problem)
