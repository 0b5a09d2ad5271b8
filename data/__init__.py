"""Datasets and loaders. `create_dataset` is the only place that reads the data flags."""

import argparse
import os
from typing import Callable, Dict

import torch
from torch.utils.data import DataLoader, Dataset

from data.sampler import EpochSampler
from data.unaligned_dataset import SizeRule, UnalignedDataset, discover_domain
from models.networks import required_multiple, smallest_training_side


def size_rule(opt: argparse.Namespace) -> SizeRule:
    """The size rule for training images under these flags (also used for probe pages)."""
    return SizeRule(opt.preprocess, opt.load_size, opt.crop_size, required_multiple(opt.netG),
                    smallest_training_side(opt.netG, opt.netD, opt.n_layers_D, opt.num_D))


def _unaligned(opt: argparse.Namespace) -> Dataset:
    # --direction BtoA swaps the folders, so the model's real_A always has --input_nc channels.
    side_A, side_B = ("A", "B") if opt.direction == "AtoB" else ("B", "A")
    hint = "--dataroot must hold {phase}A/ (B/W scans) and {phase}B/ (color pages)".format(phase=opt.phase)
    sizes = size_rule(opt)
    paths_A = discover_domain(os.path.join(opt.dataroot, opt.phase + side_A), opt.max_dataset_size, hint, sizes)
    paths_B = discover_domain(os.path.join(opt.dataroot, opt.phase + side_B), opt.max_dataset_size, hint, sizes)
    return UnalignedDataset(paths_A, paths_B, channels_A=opt.input_nc, channels_B=opt.output_nc,
                            preprocess_mode=opt.preprocess, load_size=opt.load_size, crop_size=opt.crop_size,
                            multiple=required_multiple(opt.netG), flip=not opt.no_flip,
                            serial_batches=opt.serial_batches,
                            bw_style=opt.bw_style if opt.lambda_gray_identity > 0 else None,
                            descreen_A=opt.descreen)


DATASETS: Dict[str, Callable[[argparse.Namespace], Dataset]] = {"unaligned": _unaligned}


def create_dataset(opt: argparse.Namespace) -> Dataset:
    if opt.dataset_mode not in DATASETS:
        raise ValueError(f"unknown dataset_mode {opt.dataset_mode!r}; choose from {', '.join(sorted(DATASETS))}")
    return DATASETS[opt.dataset_mode](opt)


def create_loader(dataset: Dataset, sampler: EpochSampler, batch_size: int, num_workers: int,
                  device: torch.device) -> DataLoader:
    """Batches in the sampler's order; the last partial batch is kept, as upstream does."""
    on_gpu = device.type == "cuda"
    # On a GPU, keeping workers alive between epochs and pinning memory keep decoding ahead of the
    # model; the sampler is iterated in this process, so set_epoch still reaches persistent workers.
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      pin_memory=on_gpu, persistent_workers=on_gpu and num_workers > 0,
                      prefetch_factor=4 if num_workers > 0 else None)
