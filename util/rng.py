"""Seeding, the seeds derived for each random stream, and the global RNG states that a checkpoint
carries for exact resume."""

import enum
import random
from typing import Any, Dict

import numpy as np
import torch


# Which way derive_seed turns --seed into streams; checkpoints record it, since a resume in the middle
# of an epoch regenerates that epoch's order. 2: derive_seed (2026-12-01); before it, ad-hoc offsets.
SEED_DERIVATION = 2


class SeedTag(enum.IntEnum):
    """The random streams of a run; each draws from its own seed (derive_seed), so none repeats another."""

    EPOCH_ORDER = 1  # the shuffle of one epoch (data/sampler.py)
    SAMPLE = 2  # one sample's crop, flip and random B partner (data/sampler.py)
    PROCESS = 3  # one process of a multi-process run: its torch RNG and image pools (train.py)
    IMAGE_POOL_FAKE_A = 4  # which stored fake the critic sees (models/cycle_gan.py)
    IMAGE_POOL_FAKE_B = 5


def derive_seed(seed: int, tag: SeedTag, *values: int) -> int:
    """The 32-bit seed of stream `tag` (with `values`, e.g. epoch and position; all >= 0) in a run
    seeded `seed`: NumPy's SeedSequence child (spawn key) (tag, *values) of `seed`, so distinct
    inputs give independent streams and the same inputs the same seed on every machine. (A plain
    entropy list would not do: SeedSequence ignores its trailing zeros, so (1,) and (1, 0) collide.)"""
    return int(np.random.SeedSequence(seed, spawn_key=(int(tag), *values)).generate_state(1)[0])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng_state() -> Dict[str, Any]:
    # NumPy's state holds an ndarray, which weights_only loading refuses: store it as a tensor.
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: Dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
