"""Load one generator for inference from a run folder: ours (opt.json + weights) or upstream's (weights only).

Our run folders carry the architecture in opt.json, so no architecture flags are needed. Weights
trained with upstream pytorch-CycleGAN-and-pix2pix come without it; then the caller's
architecture flags describe the network, exactly as upstream's test.py requires.
"""

import argparse
import dataclasses
import itertools
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn

from data.transforms import PREPROCESS_MODES, preprocess_mode
from inference.colorizer import strip_upstream_extras
from models import EARLIER_RUN_VALUES, generator_arguments
from models.color import HEADROOM, OUTPUT_LUMA_MODES
from models.networks import GENERATORS, UPSAMPLINGS, define_G
from options.train_options import load_options, options_from_dict
from util.checkpoint import (OPTIONS_JSON, checkpoint_path, load_checkpoint, read_weights_config,
                             weights_config_path, weights_path)
from util.errors import UserError

log = logging.getLogger(__name__)


@dataclasses.dataclass
class LoadedGenerator:
    net: nn.Module
    net_g: str
    input_nc: int
    output_nc: int
    train_load_size: Optional[int]  # the --load_size it was trained with, when known
    trained_scaled: bool  # its training images were scaled to train_load_size (--preprocess resize*/scale_width*)
    source: str
    output_luma: str = "generator"  # --output_luma it was trained with (models/color.py)
    layer_headroom: float = HEADROOM  # --layer_headroom it was trained with (multiply_headroom's bound)
    descreen: bool = False  # trained on descreened B/W pages (--descreen, data/descreen.py)


def _conv_shapes(state: Dict[str, torch.Tensor]) -> List[Tuple[int, ...]]:
    return [tuple(v.shape) for v in state.values() if isinstance(v, torch.Tensor) and v.dim() == 4]


def fitting_flags(state: Dict[str, torch.Tensor], arch: argparse.Namespace, input_nc: int, output_nc: int
                  ) -> Optional[str]:
    """The architecture flags under which `state` loads, as a command-line fragment, or None.

    --ngf, --input_nc and --gray_octaves are read off the first convolution's weights (a
    GrayEncodingConv stem, model.1.conv, has input_nc + 2 * octaves inputs); --netG, --norm,
    --upsampling, --global_context and --output_nc are tried (the flags given first). --level_channels
    and --gray_window leave no trace in the shapes and are not named."""
    shapes = _conv_shapes(state)
    if not shapes:
        return None
    ngf, first_in = shapes[0][0], shapes[0][1]
    octaves = 0
    if "model.1.conv.weight" in state and first_in > input_nc and (first_in - input_nc) % 2 == 0:
        first_in, octaves = input_nc, (first_in - input_nc) // 2
    last = shapes[-1]
    outputs = dict.fromkeys([output_nc, last[0], last[1]])
    nets = dict.fromkeys([arch.netG, *GENERATORS])
    for net_g, norm, upsampling, context, out_nc in itertools.product(
            nets, dict.fromkeys([arch.norm, "instance", "batch", "none"]),
            dict.fromkeys([arch.upsampling, *UPSAMPLINGS]), dict.fromkeys([arch.global_context, False, True]), outputs):
        if (context or octaves) and not net_g.startswith("resnet"):
            continue
        try:
            net = define_G(net_g, first_in, out_nc, ngf, norm=norm, upsampling=upsampling, global_context=context,
                           gray_octaves=octaves)
            net.load_state_dict(strip_upstream_extras(state, net))
        except (RuntimeError, ValueError):
            continue
        return _architecture_flags(argparse.Namespace(netG=net_g, ngf=ngf, norm=norm, upsampling=upsampling,
                                                     global_context=context, gray_octaves=octaves), first_in, out_nc)
    return None


def _architecture_flags(arch: argparse.Namespace, input_nc: int, output_nc: int) -> str:
    """`arch`'s --netG, --ngf, --norm, --upsampling, --global_context and --gray_octaves, with the
    channel counts, as a command-line fragment (the switches only where set)."""
    return (f"--netG {arch.netG} --ngf {arch.ngf} --norm {arch.norm} --upsampling {arch.upsampling}"
            f"{' --global_context' if arch.global_context else ''}"
            f"{f' --gray_octaves {arch.gray_octaves}' if arch.gray_octaves else ''} "
            f"--input_nc {input_nc} --output_nc {output_nc}")


def _recorded_options(run_dir: str, label: str) -> Optional[Tuple[argparse.Namespace, str]]:
    """The options the weights of `label` were trained with, and where they were read: the label's own
    checkpoint when it exists (what trained those very weights), else the run's opt.json (upstream
    run folders have neither: None). The checkpoint is memory-mapped, so only its options are read."""
    path = checkpoint_path(run_dir, label)
    if os.path.isfile(path):
        try:
            options = torch.load(path, map_location="cpu", weights_only=True, mmap=True).get("options")
        except Exception:  # an unreadable checkpoint is reported when its weights are needed
            options = None
        if isinstance(options, dict):
            return options_from_dict(options), path
    if os.path.isfile(os.path.join(run_dir, OPTIONS_JSON)):
        return load_options(run_dir), os.path.join(run_dir, OPTIONS_JSON)
    return None


def _described_weights(run_dir: str, label: str, network: str, use_average: bool
                       ) -> Optional[Tuple[str, Dict[str, Any]]]:
    """The bare weights that `network` (and `use_average`) ask for, with the description saved beside
    them (util/checkpoint.py), or None where the run predates descriptions or is upstream's."""
    if network not in ("G_A", "G_B"):
        return None  # upstream's --model_suffix names its own files
    name = network
    if network == "G_A" and use_average:
        average = (weights_path(run_dir, label, "G_A_ema"), weights_config_path(run_dir, label, "G_A_ema"))
        if any(os.path.isfile(path) for path in average):
            name = "G_A_ema"  # the run has a moving average: that or nothing (the checkpoint may hold it)
    if not os.path.isfile(weights_path(run_dir, label, name)):
        return None
    config = read_weights_config(run_dir, label, name)
    return None if config is None else (weights_path(run_dir, label, name), _checked(config, name, run_dir, label))


_DEFINE_G_KEYS = ("net_g", "input_nc", "output_nc", "ngf", "norm", "use_dropout", "upsampling", "global_context")
_LATER_DEFINE_G_KEYS = ("level_channels", "gray_octaves", "gray_window")  # added since descriptions began: missing means EARLIER_RUN_VALUES


def _is_whole(value: Any, least: int) -> bool:
    """A JSON whole number (not a bool) of at least `least`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _checked(config: Dict[str, Any], network: str, run_dir: str, label: str) -> Dict[str, Any]:
    """`config`, with the fields older descriptions lack filled in as those runs were trained, if
    every field test.py uses is there and valid; else UserError naming the file."""
    problem = None
    load_size = config.get("load_size")
    headroom = config.get("layer_headroom", EARLIER_RUN_VALUES["layer_headroom"])
    define = config.get("define_G")
    if isinstance(define, dict):
        define = {**{key: EARLIER_RUN_VALUES[key] for key in _LATER_DEFINE_G_KEYS}, **define}
    if config.get("network") != network:
        problem = f"describes {config.get('network')!r}, not {network}"
    elif not isinstance(define, dict) or set(define) != set(_DEFINE_G_KEYS + _LATER_DEFINE_G_KEYS):
        problem = (f"needs define_G with the keys {', '.join(_DEFINE_G_KEYS)} "
                   f"(and optionally {', '.join(_LATER_DEFINE_G_KEYS)})")
    elif not all(_is_whole(define[key], 0) for key in _LATER_DEFINE_G_KEYS):
        problem = (f"has {', '.join(f'{key} {define[key]!r}' for key in _LATER_DEFINE_G_KEYS)}; each must be a "
                   "whole number, 0 or more")
    elif config.get("output_luma") not in OUTPUT_LUMA_MODES:
        problem = f"has output_luma {config.get('output_luma')!r}; choose from {', '.join(OUTPUT_LUMA_MODES)}"
    elif config.get("preprocess") not in PREPROCESS_MODES:
        problem = f"has preprocess {config.get('preprocess')!r}; choose from {', '.join(PREPROCESS_MODES)}"
    elif not _is_whole(load_size, 1):
        problem = f"has load_size {load_size!r}; it must be a whole number of pixels, 1 or more"
    elif not isinstance(config.get("descreen"), bool):
        problem = "needs descreen, true or false"
    elif (isinstance(headroom, bool) or not isinstance(headroom, (int, float))
          or not 1 <= headroom < float("inf")):
        problem = f"has layer_headroom {headroom!r}; it must be a number, 1 or more"
    if problem is not None:
        raise UserError(f"{weights_config_path(run_dir, label, network)} {problem}; fix it, or delete it to fall "
                        "back to the run's checkpoint or opt.json")
    return {**config, "define_G": define, "layer_headroom": float(headroom)}


def _read_weights(path: str) -> Dict[str, torch.Tensor]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # many unpickling error types, one meaning
        raise UserError(f"{path}: cannot be read as generator weights ({type(exc).__name__}: {exc})") from exc


def load_generator(run_dir: str, label: str, network: str, arch_flags: argparse.Namespace,
                   device: torch.device, use_average: bool = True) -> LoadedGenerator:
    """Generator `network` ("G_A", "G_B", or upstream's "G<model_suffix>") of save `label` in
    `run_dir`: `<label>_net_<network>.pth` (or the label's full checkpoint), in eval mode, weights
    frozen. For G_A of a run trained with --ema_decay, the moving average `<label>_net_G_A_ema.pth`
    unless `use_average` is False.

    What the weights are comes from the description saved beside them; for runs saved before
    descriptions, from the label's checkpoint or the run's opt.json; for upstream's weights, from
    `arch_flags`. UserError if missing or unfitting."""
    described = _described_weights(run_dir, label, network, use_average)
    if described is not None:
        path, config = described
        args = config["define_G"]
        try:
            net = define_G(**args)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise UserError(f"{path}: the define_G arguments in the description beside it do not build a "
                            f"generator ({exc})") from exc
        _load_state(net, _read_weights(path), path, args)
        log.info("%s: --netG %s --ngf %d --norm %s%s, described beside it", path, args["net_g"], args["ngf"],
                 args["norm"], ", a moving average" if config.get("average") else "")
        net.eval().requires_grad_(False).to(device)
        return LoadedGenerator(net, args["net_g"], args["input_nc"], args["output_nc"], config["load_size"],
                               preprocess_mode(config["preprocess"]).scales_to_load_size, path,
                               config["output_luma"], config["layer_headroom"], config["descreen"])

    arch, train_load_size, trained_scaled, output_luma, descreen = arch_flags, None, False, "generator", False
    headroom = EARLIER_RUN_VALUES["layer_headroom"]
    recorded = _recorded_options(run_dir, label)
    if recorded is not None:
        arch, where = recorded
        train_load_size = arch.load_size
        trained_scaled = preprocess_mode(arch.preprocess).scales_to_load_size
        if network == "G_A":  # only G_A was trained with these
            output_luma = arch.output_luma
            headroom = arch.layer_headroom
            descreen = arch.descreen
            if arch.ema_decay > 0 and use_average:
                network = "G_A_ema"
    weights = weights_path(run_dir, label, network)

    if os.path.isfile(weights):
        source = weights
        state = _read_weights(weights)
    elif os.path.isfile(checkpoint_path(run_dir, label)):
        source = checkpoint_path(run_dir, label)
        state = load_checkpoint(source)["networks"][network]
    else:
        raise UserError(f"{weights}: generator weights not found; check --name, --checkpoints_dir and --epoch")

    if recorded is not None:
        args = generator_arguments(arch, "G_B" if network == "G_B" else "G_A")
        log.info("architecture from %s: --netG %s --ngf %d --norm %s", where, arch.netG, args["ngf"], arch.norm)
    else:  # upstream's weights: the caller's flags describe this very network, G_B's channels swapped
        args = generator_arguments(arch, "G_A")
        if network == "G_B":
            args.update(input_nc=arch.output_nc, output_nc=arch.input_nc)
    try:
        net = define_G(**args)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{source}: its architecture flags do not build a generator ({exc})") from exc
    _load_state(net, state, source, args)
    net.eval().requires_grad_(False).to(device)
    return LoadedGenerator(net, arch.netG, args["input_nc"], args["output_nc"], train_load_size, trained_scaled,
                           source, output_luma, headroom, descreen)


def _load_state(net: nn.Module, state: Dict[str, torch.Tensor], source: str, args: Dict[str, Any]) -> None:
    """`state` into `net`, built from define_G's keyword arguments `args`; UserError naming the flags
    it fits instead, when some do."""
    try:
        net.load_state_dict(strip_upstream_extras(state, net))
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:300]
        arch = argparse.Namespace(netG=args["net_g"], ngf=args["ngf"], norm=args["norm"],
                                  upsampling=args["upsampling"], global_context=args["global_context"],
                                  gray_octaves=args["gray_octaves"])
        input_nc, output_nc = args["input_nc"], args["output_nc"]
        fits = fitting_flags(state, arch, input_nc, output_nc)
        hint = f"; these weights fit {fits}" if fits else ""
        raise UserError(f"{source} does not fit {_architecture_flags(arch, input_nc, output_nc)}{hint}: "
                        f"{detail}") from exc
