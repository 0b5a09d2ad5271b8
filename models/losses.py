"""Adversarial objectives, the WGAN-GP gradient penalty and the fill-weighted grayscale identity."""

from typing import List, Union

import torch
import torch.nn as nn

# What a critic returns: one score map, or one per scale (networks.MultiscaleDiscriminator).
Scores = Union[torch.Tensor, List[torch.Tensor]]

GAN_MODES = ("lsgan", "vanilla", "wgangp")
# In [-1, 1]: above 0.96 (250 of 255) a B/W pixel is blank paper; below it, a color channel is not white.
PAPER_LEVEL = 0.96


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


def fill_weighted_l1(pred: torch.Tensor, target: torch.Tensor, bw: torch.Tensor, fill_weight: float) -> torch.Tensor:
    """Mean |pred - target| in which the fills count 1 + `fill_weight` times, normalized by the mean
    weight (so only the balance between pixels changes, not the loss's scale).

    A fill here is a pixel that the B/W version `bw` shows as blank paper (> PAPER_LEVEL) while the
    color page `target` colors it (a channel below PAPER_LEVEL): the colors that a B/W style like
    `ink` or `ink_tone` whitens, which G_A can only invent from who or what is drawn. On manga pages
    they are a few percent of the pixels, so a plain L1 is ruled by the toned ground. With
    `--bw_style gray` (the B/W version is the page's own luminance) only the palest tints qualify,
    those with luma above 250 and a channel below it, and this is nearly the plain L1.

    pred, target: N x 3 x H x W; bw: N x 1 or 3 x H x W; all in [-1, 1]. Returns a 0-d fp32 tensor.
    ValueError for tensors that are not 4-D."""
    if pred.dim() != 4 or bw.dim() != 4:
        raise ValueError(f"fill_weighted_l1 needs N x C x H x W tensors, got {tuple(pred.shape)} and {tuple(bw.shape)}")
    fills = (bw.mean(1, keepdim=True) > PAPER_LEVEL) & (target < PAPER_LEVEL).any(1, keepdim=True)
    weight = 1 + fill_weight * fills.float()
    return ((pred.float() - target.float()).abs() * weight).mean() / weight.mean()
