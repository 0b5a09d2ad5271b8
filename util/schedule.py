"""Learning-rate schedules as pure functions of the epoch (1-based), so resume can never desync them.

linear: constant for n_epochs epochs, then a straight line over n_epochs_decay epochs that ends one
        step above zero (upstream's lambda rule, counted from epoch 1).
step:   multiplied by 0.1 every lr_decay_iters epochs.
cosine: half a cosine from 1 to 0 over all epochs.
Upstream's `plateau` is left out: it needs a validation metric to watch, and the training losses of
a GAN are not one.
"""

import math

LR_POLICIES = ("linear", "step", "cosine")


def lr_factor(epoch: int, policy: str, n_epochs: int, n_epochs_decay: int, lr_decay_iters: int = 50) -> float:
    """Multiplier of the initial learning rate during `epoch`."""
    if policy == "linear":
        return 1.0 - max(0, epoch - n_epochs) / float(n_epochs_decay + 1)
    if policy == "step":
        return 0.1 ** ((epoch - 1) // lr_decay_iters)
    if policy == "cosine":
        total = max(1, n_epochs + n_epochs_decay)
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch - 1, total) / total))
    raise ValueError(f"unknown lr_policy {policy!r}; choose from {', '.join(LR_POLICIES)}")
