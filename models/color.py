"""Luminance and chroma of [-1, 1] image tensors, in full-range BT.601 YCbCr (what JPEG and Pillow use).

The transform is linear, so it holds in [-1, 1] as well as in [0, 1]: Y = 0.299 R + 0.587 G + 0.114 B.
"""

import torch

_KR, _KG, _KB = 0.299, 0.587, 0.114


def luma(x: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W luminance of an N x C x H x W batch (a 1-channel batch is its own luminance)."""
    if x.shape[1] < 3:
        return x[:, :1]
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return _KR * r + _KG * g + _KB * b


def gray_like(x: torch.Tensor, channels: int) -> torch.Tensor:
    """The luminance of `x` with `channels` channels (repeated for RGB)."""
    y = luma(x)
    return y if channels == 1 else y.expand(-1, channels, -1, -1).contiguous()


def with_luma(color: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`color`'s chroma (Cb, Cr) on the luminance `y` (N x 1 x H x W), back in RGB and clamped to [-1, 1].

    Used by --preserve_luma: the generator proposes colors, and the page's own luminance (its
    lines, lettering and screentone) passes through untouched. Channels past the third are kept.
    """
    if color.shape[1] < 3:
        return y.expand_as(color)
    r, g, b = color[:, 0:1], color[:, 1:2], color[:, 2:3]
    old_y = _KR * r + _KG * g + _KB * b
    # Adding the same luminance change to R, G and B leaves Cb and Cr unchanged (they are
    # differences B - Y and R - Y): that is the whole YCbCr round trip in one step.
    shifted = color[:, :3] + (y - old_y)
    out = shifted.clamp(-1.0, 1.0)
    return torch.cat([out, color[:, 3:]], dim=1) if color.shape[1] > 3 else out
