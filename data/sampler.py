"""Epoch order and per-sample seeds as pure functions of (seed, epoch, position).

Every sample carries its own seed, so random crops, flips and the random B partner depend
only on where the sample falls in the run, not on worker processes or on whether the run
was resumed. Resuming mid-epoch regenerates the epoch's order and skips what was done.
"""

from typing import Iterator, Tuple

import torch
from torch.utils.data import Sampler

from util.rng import SeedTag, derive_seed

SampleKey = Tuple[int, int]  # (dataset index, sample seed)


def sample_seed(seed: int, epoch: int, position: int) -> int:
    return derive_seed(seed, SeedTag.SAMPLE, epoch, position)


def order_seed(seed: int, epoch: int) -> int:
    return derive_seed(seed, SeedTag.EPOCH_ORDER, epoch)


def samples_per_epoch(length: int, world_size: int) -> int:
    """Samples in one epoch over all processes: `length` padded to a multiple of `world_size`."""
    return -(-length // world_size) * world_size


class EpochSampler(Sampler):
    """Yields (index, sample_seed) for this process's share of one epoch, from global position `start`.

    With `world_size` processes the epoch's order is padded (wrapping around) to a multiple of
    world_size and dealt out round-robin, so every process gets the same number of samples, and
    the union is what a single process would see.
    """

    def __init__(self, length: int, seed: int, shuffle: bool, rank: int = 0, world_size: int = 1) -> None:
        self.length = length
        self.seed = seed
        self.shuffle = shuffle
        self.rank = rank
        self.world_size = world_size
        self.total = samples_per_epoch(length, world_size)
        self.epoch = 1
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """`start`: global position to begin at: the samples of this epoch that all processes
        together have already trained on (whatever batch size and process count they used)."""
        self.epoch = epoch
        self.start = start

    def order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.length)
        generator = torch.Generator().manual_seed(order_seed(self.seed, self.epoch))
        return torch.randperm(self.length, generator=generator)

    def __iter__(self) -> Iterator[SampleKey]:
        order = self.order().tolist()
        for position in range(self.start + self.rank, self.total, self.world_size):
            yield order[position % self.length], sample_seed(self.seed, self.epoch, position)

    def __len__(self) -> int:
        return len(range(self.start + self.rank, self.total, self.world_size))
