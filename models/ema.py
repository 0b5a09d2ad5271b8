"""A moving average of a generator's weights, for inference (Polyak averaging; Karras et al., 2018).

A GAN generator's weights never settle: each step chases the critic, so consecutive iterates
color the same page differently. Their exponential moving average colors it with what recent
iterates agree on, which is steadier and usually better than any single iterate. Training itself
never sees the average; only validation, the probes and test.py do.
"""

import copy
from typing import Any, Dict

import torch
import torch.nn as nn


class WeightAverage:
    """`net` holds the average; `update(source)` after every optimizer step of `source`.

    The effective decay is min(decay, (1 + n) / (10 + n)) after n updates, so a short run averages
    over its recent past instead of dragging its random initial weights along (with decay 0.999
    the first ~1000 steps use a shorter memory)."""

    def __init__(self, source: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the moving-average decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.net = copy.deepcopy(source).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for mine, theirs in zip(self.net.parameters(), source.parameters()):
            mine.lerp_(theirs, 1.0 - decay)
        for mine, theirs in zip(self.net.buffers(), source.buffers()):
            mine.copy_(theirs)  # batch-norm statistics and counters: the current ones, not an average
        self.updates += 1

    def reset(self, source: nn.Module) -> None:
        """Start over from `source`'s weights (a checkpoint saved without an average)."""
        self.load(source.state_dict(), updates=0)

    def load(self, weights: Dict[str, Any], updates: int) -> None:
        self.net.load_state_dict(weights)
        self.updates = updates
