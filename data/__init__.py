"""Datasets and loaders. `create_dataset` is the only place that reads the data flags; the size
rule (which sizes the networks accept) comes from the caller (options.train_options.size_rule)."""

import argparse
from typing import Callable, Dict

import torch
from torch.utils.data import DataLoader, Dataset

from data.image_folder import domain_folder
from data.sampler import EpochSampler
from data.unaligned_dataset import SizeRule, UnalignedDataset, discover_domain


def _unaligned(opt: argparse.Namespace, sizes: SizeRule) -> Dataset:
    # --direction BtoA swaps the folders, so the model's real_A always has --input_nc channels.
    side_A, side_B = ("A", "B") if opt.direction == "AtoB" else ("B", "A")
    hint = "--dataroot must hold {phase}A/ (B/W scans) and {phase}B/ (color pages)".format(phase=opt.phase)
    paths_A = discover_domain(domain_folder(opt.dataroot, opt.phase, side_A), opt.max_dataset_size, hint, sizes)
    paths_B = discover_domain(domain_folder(opt.dataroot, opt.phase, side_B), opt.max_dataset_size, hint, sizes)
    return UnalignedDataset(paths_A, paths_B, channels_A=opt.input_nc, channels_B=opt.output_nc,
                            preprocess_mode=opt.preprocess, load_size=opt.load_size, crop_size=opt.crop_size,
                            multiple=sizes.multiple, flip=not opt.no_flip,
                            serial_batches=opt.serial_batches,
                            bw_style=opt.bw_style if opt.lambda_gray_identity > 0 else None,
                            descreen_A=opt.descreen, scale_jitter=opt.scale_jitter)


DATASETS: Dict[str, Callable[[argparse.Namespace, SizeRule], Dataset]] = {"unaligned": _unaligned}


def create_dataset(opt: argparse.Namespace, sizes: SizeRule) -> Dataset:
    """The training dataset that --dataset_mode, --dataroot, --phase and the data flags ask for;
    `sizes` says which image sizes the networks accept. ValueError for an unknown mode; UserError
    (one line) for missing or unusable folders and images."""
    if opt.dataset_mode not in DATASETS:
        raise ValueError(f"unknown dataset_mode {opt.dataset_mode!r}; choose from {', '.join(sorted(DATASETS))}")
    return DATASETS[opt.dataset_mode](opt, sizes)


def create_loader(dataset: Dataset, sampler: EpochSampler, batch_size: int, num_workers: int,
                  device: torch.device) -> DataLoader:
    """Batches in the sampler's order; the last partial batch is kept, as upstream does."""
    on_gpu = device.type == "cuda"
    # On a GPU, keeping workers alive between epochs and pinning memory keep decoding ahead of the
    # model; the sampler is iterated in this process, so set_epoch still reaches persistent workers.
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      pin_memory=on_gpu, persistent_workers=on_gpu and num_workers > 0,
                      prefetch_factor=4 if num_workers > 0 else None)
