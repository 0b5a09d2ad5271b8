"""Model construction: `create_model` is the only place that reads the model flags."""

import argparse
from typing import Any, Dict, Optional

import torch

from models.color import HEADROOM
from models.cycle_gan import CycleGANModel, GradSync
from models.networks import define_D, define_G

# Flags that change the networks, their shapes or what a layer computes (--level_channels): a
# checkpoint only fits flags that agree on these.
ARCHITECTURE_KEYS = ("model", "netG", "netD", "ngf", "ngf_B", "ndf", "n_layers_D", "norm", "input_nc", "output_nc",
                     "upsampling", "no_dropout", "spectral_norm", "num_D", "global_context",
                     "level_channels", "gray_octaves", "gray_octaves_B", "gray_window")
# Flags that change what G_A's output means without changing its shape (how test.py combines it
# with the page, what it is fed). Resuming with other values would make one run's weights mean two
# things, so a resume must agree on these too.
GENERATOR_USE_KEYS = ("output_luma", "layer_headroom", "descreen")
# Of the flags in both tuples, those added after runs were first saved, with the value that every run
# saved before them was trained with: a checkpoint or a weights description without the key means this.
EARLIER_RUN_VALUES: Dict[str, Any] = {"level_channels": 0, "gray_octaves": 0, "gray_octaves_B": -1, "gray_window": 1,
                                      "layer_headroom": HEADROOM, "ngf_B": 0}


def generator_B_width(opt: argparse.Namespace) -> int:
    """G_B's width: --ngf_B, or --ngf where that is 0."""
    return opt.ngf_B or opt.ngf


def generator_B_gray_octaves(opt: argparse.Namespace) -> int:
    """G_B's gray encoding: --gray_octaves_B, or --gray_octaves where that is -1."""
    return opt.gray_octaves if opt.gray_octaves_B < 0 else opt.gray_octaves_B


def generator_arguments(opt: argparse.Namespace, network: str) -> Dict[str, Any]:
    """define_G's keyword arguments (but the initialisation) for `network`, "G_A" (B/W to color) or
    "G_B" (color to B/W, of width generator_B_width and encoding generator_B_gray_octaves)."""
    if network == "G_A":
        input_nc, output_nc, ngf, octaves = opt.input_nc, opt.output_nc, opt.ngf, opt.gray_octaves
    elif network == "G_B":
        input_nc, output_nc, ngf, octaves = opt.output_nc, opt.input_nc, generator_B_width(opt), \
            generator_B_gray_octaves(opt)
    else:
        raise ValueError(f"unknown generator {network!r}; choose from G_A, G_B")
    return {"net_g": opt.netG, "input_nc": input_nc, "output_nc": output_nc, "ngf": ngf, "norm": opt.norm,
            "use_dropout": not opt.no_dropout, "upsampling": opt.upsampling, "global_context": opt.global_context,
            "level_channels": opt.level_channels, "gray_octaves": octaves,
            "gray_window": opt.gray_window if octaves else 1}


def generator_configs(opt: argparse.Namespace) -> Dict[str, Dict[str, Any]]:
    """What each saved generator (G_A, G_B, and G_A_ema with --ema_decay) is, for the description
    beside its bare weights (util/checkpoint.py): define_G's arguments, whether it is a moving
    average, and how its output meets the page (output_luma, layer_headroom, descreen) at which scale."""
    scale = {"load_size": opt.load_size, "preprocess": opt.preprocess}
    g_a = {"define_G": generator_arguments(opt, "G_A"), "output_luma": opt.output_luma,
           "layer_headroom": opt.layer_headroom, "descreen": opt.descreen, **scale}
    configs = {"G_A": {**g_a, "average": False},
               "G_B": {"define_G": generator_arguments(opt, "G_B"),
                       "output_luma": "generator", "descreen": False, **scale, "average": False}}
    if opt.ema_decay > 0:
        configs["G_A_ema"] = {**g_a, "average": True}
    return configs


def create_generator(opt: argparse.Namespace, network: str) -> torch.nn.Module:
    return define_G(**generator_arguments(opt, network), init_type=opt.init_type,
                    init_gain=opt.init_gain)


def create_model(opt: argparse.Namespace, device: torch.device, seed: int, precision: str,
                 grad_sync: Optional[GradSync] = None) -> CycleGANModel:
    """Build the four networks (initialised from torch's RNG, so seed it first) and the optimizers.
    `precision`: fp32, bf16 or fp16 (--precision auto already resolved, util/device.resolve_precision)."""
    if opt.model != "cycle_gan":
        raise ValueError(f"unknown model {opt.model!r}; choose from cycle_gan")
    G_A = create_generator(opt, "G_A").to(device)
    G_B = create_generator(opt, "G_B").to(device)
    D_A = define_D(opt.netD, opt.output_nc, opt.ndf, opt.n_layers_D, norm=opt.norm, init_type=opt.init_type,
                   init_gain=opt.init_gain, spectral_norm=opt.spectral_norm, num_D=opt.num_D).to(device)
    D_B = define_D(opt.netD, opt.input_nc, opt.ndf, opt.n_layers_D, norm=opt.norm, init_type=opt.init_type,
                   init_gain=opt.init_gain, spectral_norm=opt.spectral_norm, num_D=opt.num_D).to(device)
    if opt.channels_last:
        for net in (G_A, G_B, D_A, D_B):
            net.to(memory_format=torch.channels_last)
    return CycleGANModel(G_A, G_B, D_A, D_B, gan_mode=opt.gan_mode, lambda_A=opt.lambda_A, lambda_B=opt.lambda_B,
                         lambda_identity=opt.lambda_identity, lambda_gp=opt.lambda_gp, pool_size=opt.pool_size,
                         lr=opt.lr, beta1=opt.beta1, seed=seed, precision=precision,
                         device_type=device.type, grad_sync=grad_sync, output_luma=opt.output_luma,
                         lambda_gray_identity=opt.lambda_gray_identity, lambda_luma=opt.lambda_luma, lr_D=opt.lr_D,
                         ema_decay=opt.ema_decay, detach_cycle_A=opt.detach_cycle_A,
                         detach_cycle_B=opt.detach_cycle_B, layer_headroom=opt.layer_headroom,
                         white_clip=opt.white_clip, fill_weight=opt.fill_weight,
                         cycle_noise=opt.cycle_noise, cycle_noise_input_only=opt.cycle_noise_input_only)
