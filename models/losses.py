"""Adversarial objectives and the WGAN-GP gradient penalty."""

from typing import List, Union

import torch
import torch.nn as nn

# What a critic returns: one score map, or one per scale (networks.MultiscaleDiscriminator).
Scores = Union[torch.Tensor, List[torch.Tensor]]

GAN_MODES = ("lsgan", "vanilla", "wgangp")


class GANLoss(nn.Module):
    """Adversarial loss against a constant real/fake target, for any discriminator output shape.

    lsgan (CycleGAN's choice): least squares gives gradients to fakes that are already on the
    right side of the boundary, which trains more stably than the log loss of `vanilla`.
    wgangp: the Wasserstein critic score; use it with `gradient_penalty`.
    """

    def __init__(self, gan_mode: str, real_label: float = 1.0, fake_label: float = 0.0) -> None:
        super().__init__()
        if gan_mode not in GAN_MODES:
            raise ValueError(f"unknown gan_mode {gan_mode!r}; choose from {', '.join(GAN_MODES)}")
        self.gan_mode = gan_mode
        self.real_label = real_label
        self.fake_label = fake_label

    def forward(self, prediction: Scores, target_is_real: bool) -> torch.Tensor:
        if isinstance(prediction, list):  # a multi-scale critic: every scale counts the same
            return torch.stack([self._loss(p, target_is_real) for p in prediction]).mean()
        return self._loss(prediction, target_is_real)

    def _loss(self, prediction: torch.Tensor, target_is_real: bool) -> torch.Tensor:
        if self.gan_mode == "wgangp":
            return -prediction.mean() if target_is_real else prediction.mean()
        target = torch.full_like(prediction, self.real_label if target_is_real else self.fake_label)
        if self.gan_mode == "lsgan":
            return nn.functional.mse_loss(prediction, target)
        return nn.functional.binary_cross_entropy_with_logits(prediction, target)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Gulrajani et al.'s penalty (||grad D(x_hat)|| - 1)^2 on random mixes of real and fake."""
    alpha = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(mixed)
    total = sum(s.sum() for s in scores) if isinstance(scores, list) else scores.sum()
    (grad,) = torch.autograd.grad(total, mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()
