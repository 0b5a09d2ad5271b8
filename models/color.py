"""Luminance and chroma of [-1, 1] image tensors, in full-range BT.601 YCbCr (what JPEG and Pillow use).

The transform is linear, so it holds in [-1, 1] as well as in [0, 1]: Y = 0.299 R + 0.587 G + 0.114 B.
"""

import torch

from util.bt601 import KB, KG, KR

# --output_luma: whose luminance G_A's output gets (see output_with_luma).
OUTPUT_LUMA_MODES = ("generator", "input", "darker", "multiply", "multiply_headroom")
# multiply_headroom: the color layer spans [0, headroom] instead of [0, 1] and the product is
# clipped at white, so white (the most common target: paper, bubbles) sits at tanh(0.54) for the
# default headroom, not at tanh's asymptote, where the generator's gradient vanishes and it cannot
# come back. HEADROOM is --layer_headroom's default, and what runs from before that flag used.
HEADROOM = 1.25
# The modes whose generator paints a color layer that multiplies the page, rather than the page
# itself: the layer carries no line detail, so it may be painted at a lower resolution.
COLOR_LAYER_MODES = ("multiply", "multiply_headroom")
# --white_clip: how multiply_headroom's clip at white passes gradients in training (the forward
# value is the same). hard: none past white, so a channel pushed past it stops learning there;
# straight_through: as if there were no clip (Bengio et al., 2013, "Estimating or propagating
# gradients through stochastic neurons"), so the layer is pulled back toward the target's value;
# darken: only the gradients that would darken a pixel past white pass, so a white shirt whose
# layer went past 1 can still be pulled down to its color, while nothing drives the layer further
# up (straight-through's pushes toward an unreachable "whiter than white" run the layer into tanh's
# asymptote, where it stops learning); darken_identity: darken in the identity losses, whose
# targets are known (a color page, never lighter than white), and hard in the adversarial and cycle
# passes, whose pushes past white on paper are a critic's guesses (darken there tints the paper).
# output_with_luma takes one clip per pass; darken_identity is the model's choice of one per pass.
PASS_CLIPS = ("hard", "straight_through", "darken")
WHITE_CLIPS = (*PASS_CLIPS, "darken_identity")


class _ClipAtWhiteDarkenOnly(torch.autograd.Function):
    """min(x, 2) whose backward past 2 keeps only the gradients that would lower x.

    Gradient descent moves x by -grad, so a positive gradient darkens: it passes, a negative one is
    dropped. Below the clip the gradient is the identity's.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return x.clamp(max=2.0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return torch.where(x > 2.0, grad.clamp(min=0.0), grad)


def luma(x: torch.Tensor) -> torch.Tensor:
    """N x 1 x H x W luminance of an N x C x H x W batch (a 1-channel batch is its own luminance)."""
    if x.shape[1] < 3:
        return x[:, :1]
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return KR * r + KG * g + KB * b


def gray_like(x: torch.Tensor, channels: int) -> torch.Tensor:
    """The luminance of `x` with `channels` channels (repeated for RGB)."""
    y = luma(x)
    return y if channels == 1 else y.expand(-1, channels, -1, -1).contiguous()


def with_luma(color: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """`color`'s chroma (Cb, Cr) on the luminance `y` (N x 1 x H x W), back in RGB within [-1, 1].

    Where the chroma does not fit at that luminance it is scaled down (not clipped per channel,
    which would change the luminance): black stays black and white stays white, whatever the
    color. Channels past the third are kept.
    """
    y = y.clamp(-1.0, 1.0)
    if color.shape[1] < 3:
        return y.expand_as(color)
    rgb = color[:, :3]
    # R - Y, G - Y, B - Y: the chroma as offsets that a luminance change leaves alone.
    offsets = rgb - luma(rgb)
    room = torch.where(offsets > 0, 1.0 - y, -1.0 - y)  # how far each channel may move from y
    moves = offsets.abs() > 1e-6  # a channel already at y needs no room
    ones = torch.ones_like(offsets)
    scale = torch.where(moves, room / torch.where(moves, offsets, ones), ones).amin(dim=1, keepdim=True)
    out = (y + offsets * scale.clamp(0.0, 1.0)).clamp(-1.0, 1.0)
    return torch.cat([out, color[:, 3:]], dim=1) if color.shape[1] > 3 else out


def output_with_luma(out: torch.Tensor, page: torch.Tensor, mode: str, headroom: float = HEADROOM,
                     white_clip: str = "hard") -> torch.Tensor:
    """A generator's output `out` for the B/W `page`, with the luminance `mode` asks for.

    generator: `out` as it is. input: the page's luminance, so lines, lettering and screentone pass
    through and the generator only chooses colors. darker: per pixel the darker of the two, so ink
    stays ink while paper and light fills can darken into colors (a colored fill is darker than the
    white it replaces; the generator can never lighten a line away). multiply: the page times the
    output read as a color layer in [0, 1], the way colorists lay flat colors under line art: black
    ink stays black and neutral, and an anti-aliased line edge keeps only its share of the color, so
    outlines are never tinted; the result is never lighter than the page either.
    multiply_headroom: multiply with a layer in [0, headroom], the product clipped at white; ink
    stays black, and a gray pixel may lighten by up to the headroom (a tone's dots can fade a little).
    `white_clip` (PASS_CLIPS) only changes that clip's gradient, never the output.
    Raises ValueError for an unknown mode or white_clip.
    """
    if mode == "generator":
        return out
    y_page = luma(page).to(out.dtype)
    if mode == "input":
        return with_luma(out, y_page)
    if mode == "darker":
        return with_luma(out, torch.minimum(y_page, luma(out)))
    if mode == "multiply":
        return (out + 1.0) * (y_page + 1.0) * 0.5 - 1.0  # ((out + 1) / 2) * ((y + 1) / 2), back in [-1, 1]
    if mode == "multiply_headroom":
        layer = (out + 1.0) * (0.5 * headroom)
        product = layer * (y_page + 1.0)
        # min(1, layer * (y + 1) / 2), back in [-1, 1] below; the modes differ only in the gradient.
        if white_clip == "hard":
            clipped = product.clamp(max=2.0)
        elif white_clip == "straight_through":
            clipped = product - (product - product.clamp(max=2.0)).detach()
        elif white_clip == "darken":
            clipped = _ClipAtWhiteDarkenOnly.apply(product)
        else:
            raise ValueError(f"unknown white_clip {white_clip!r} for one pass; choose from {', '.join(PASS_CLIPS)}")
        return clipped - 1.0
    raise ValueError(f"unknown output_luma {mode!r}; choose from {', '.join(OUTPUT_LUMA_MODES)}")
