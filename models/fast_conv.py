"""Convolutions for fp32 inference on CPUs: Winograd for 3x3 kernels, FFT for 7x7, and transposed
convolutions in bands of rows.

PyTorch computes an fp32 convolution on a CPU directly (oneDNN), and at a page's size that runs
near the cores' peak multiply rate, so only an algorithm with fewer multiplies makes it faster.
Winograd's minimal filtering computes each 6x6 block of a 3x3 convolution's output with 64
multiplies per channel pair instead of 324 (F(6x6, 3x3); Lavin & Gray, 2016, "Fast algorithms for
convolutional neural networks"); large kernels are cheaper as products in the Fourier domain.
NNPACK, built into PyTorch's CPU wheels for x86-64 with AVX2 and for ARM, implements both.

Measured on a 2-core Zen 4 (torch 2.13.0, fp32, the same ratios with AVX2 kernels,
`ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2`), NNPACK's time over oneDNN's: 0.32-0.45 for
3x3 convolutions with 256 channels at 64-256 px, 0.5-0.7 with 64 channels, 0.15-0.3 for the 7x7
convolution to 3 output channels, 0.6-0.9 for the 7x7 stem; slower at stride 2, below 64 px, and
with 8 channels. The results differ from the direct ones by rounding only (~1e-5 relative).

The generators pad by reflection before each such convolution; the swap folds that padding into
the convolution (nn.Conv2d's padding_mode "reflect"), so each band is padded as it is cut out
instead of the whole map being copied once more.

NNPACK's workspace is about 2.6 times its input and output together (1.4 GB for the 7x7 output
convolution of a 1200x1700 page), so a large input runs in bands of rows, each within FAST_BAND_BYTES; a band costs
no more time per row than the whole.

A transposed convolution (upstream's upsampling) on a whole half-resolution page needs about three
times its output in oneDNN's temporary layouts (a strided one, the downsampling, about twice):
0.75 GB at the peak for the first upsampling of a 1200x1700 page, more than the rest of the
generator. Run over bands of input rows whose outputs are summed where they overlap, it needs only
its output (the strided one runs over bands of output rows); and each band runs channels-last,
where oneDNN's transposed convolution is 2.7x faster than on NCHW maps (150 against 55 GFLOP/s).

PyTorch owns NNPACK's state: its thread pool is sized by torch's thread count at the first call,
and its workspace stays at the largest size a call needed, for the life of the thread.
"""

from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

# test.py --cpu_kernels: "fast" swaps these layers in for fp32 on CPUs (inference/colorizer.py), "upstream"
# keeps PyTorch's own, whose results equal upstream's eager test path bit for bit.
CPU_KERNELS = ("fast", "upstream")

# Where NNPACK was measured faster than oneDNN (the module docstring): square 3x3 and 7x7 kernels,
# stride 1, outputs at least 64 px on each side, at least 16 channels on one side of the convolution.
# Only unpadded convolutions (a reflection padding before one is folded into it).
FAST_KERNEL_SIZES = ((3, 3), (7, 7))
FAST_MIN_OUTPUT_SIDE = 64
FAST_MIN_CHANNELS = 16
# A band's input and output together stay under this many bytes; NNPACK's workspace adds ~2.6
# times that. A band's rows are whole output tiles: 6 for Winograd F(6x6, 3x3), 10 for the
# 16-point FFT of a 7x7 kernel.
FAST_BAND_BYTES = 40 * 2 ** 20
FAST_TILE_ROWS = {3: 6, 7: 10}


def _sharing_parameters(layer: nn.Module, conv: nn.Module) -> nn.Module:
    """`layer`, built on the meta device, given `conv`'s weight and bias (shared, not copied). On the
    meta device its own initial weights were never drawn: a CPU build would take them from torch's
    generator only to replace them, and shift every random number drawn after the swap."""
    layer.weight = conv.weight
    layer.bias = conv.bias
    return layer


def fast_convolutions_available() -> bool:
    """True where NNPACK runs on this CPU. The check also initialises NNPACK, which its
    convolution needs before the first call."""
    return torch.backends.nnpack.is_available()


class FastConv2d(nn.Conv2d):
    """nn.Conv2d (same parameters, same state-dict keys) whose fp32 CPU forward without gradients
    runs NNPACK when the input is large enough to gain; any other call runs nn.Conv2d's own forward.
    Build it with `from_conv`; `use_fast_convolutions` swaps a network's eligible layers."""

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, reflect: int = 0) -> "FastConv2d":
        """`conv` (unpadded) preceded by a reflection padding of `reflect` px on every side, at most
        (kernel - 1) / 2. ValueError otherwise."""
        if conv.padding != (0, 0) or not 0 <= reflect <= (conv.kernel_size[0] - 1) // 2:
            raise ValueError(f"FastConv2d takes an unpadded convolution and a reflection padding of at most "
                             f"(kernel - 1) / 2, got padding {conv.padding} and reflect {reflect}")
        return _sharing_parameters(cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                                       padding=reflect, dilation=conv.dilation, groups=conv.groups,
                                       bias=conv.bias is not None, padding_mode="reflect" if reflect else "zeros",
                                       device="meta"), conv)

    def _runs_fast(self, x: torch.Tensor, out_size: Tuple[int, int]) -> bool:
        if torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32:
            return False
        return self.weight.dtype == torch.float32 and min(out_size) >= FAST_MIN_OUTPUT_SIDE

    def _out_size(self, x: torch.Tensor) -> Tuple[int, int]:
        pad = self.padding[0]
        return x.shape[2] + 2 * pad - self.kernel_size[0] + 1, x.shape[3] + 2 * pad - self.kernel_size[1] + 1

    def _band_rows(self, batch: int, out_w: int) -> int:
        per_row = batch * (self.in_channels + self.out_channels) * (out_w + self.kernel_size[1] - 1) * 4
        tile = FAST_TILE_ROWS[self.kernel_size[0]]
        return max(tile, FAST_BAND_BYTES // per_row // tile * tile)

    def _band(self, x: torch.Tensor, top: int, bottom: int) -> torch.Tensor:
        """The input rows that output rows [top, bottom) need, reflection-padded, contiguous (NNPACK reads NCHW)."""
        pad = self.padding[0]
        return _padded_rows(x, top - pad, bottom + self.kernel_size[0] - 1 - pad, pad, "reflect")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            return super().forward(x)
        out_h, out_w = self._out_size(x)
        if not self._runs_fast(x, (out_h, out_w)):
            return super().forward(x)
        rows = self._band_rows(x.shape[0], out_w)
        if rows >= out_h:
            return torch._nnpack_spatial_convolution(self._band(x, 0, out_h), self.weight, self.bias, [0, 0], [1, 1])
        out = x.new_empty(x.shape[0], self.out_channels, out_h, out_w)
        for top in range(0, out_h, rows):
            bottom = min(out_h, top + rows)
            out[:, :, top:bottom] = torch._nnpack_spatial_convolution(self._band(x, top, bottom), self.weight,
                                                                      self.bias, [0, 0], [1, 1])
        return out


def _padded_rows(x: torch.Tensor, first: int, last: int, pad_w: int, mode: str) -> torch.Tensor:
    """Rows [first, last) of N x C x H x W `x`, rows outside [0, H) and `pad_w` columns on each side
    filled by F.pad's `mode`, as a contiguous tensor."""
    height = x.shape[2]
    rows = x[:, :, max(0, first):min(height, last)]
    top, bottom = max(0, -first), max(0, last - height)
    if top or bottom or pad_w:
        rows = F.pad(rows, (pad_w, pad_w, top, bottom), mode=mode)
    return rows.contiguous()


class BandedConv2d(nn.Conv2d):
    """A strided nn.Conv2d (the generators' downsampling; same parameters and keys) whose CPU forward
    without gradients, on inputs taller than a band, runs over bands of output rows: oneDNN's
    temporary layouts then hold a band, not the whole map. Build it with `from_conv`."""

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "BandedConv2d":
        return _sharing_parameters(cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                                       padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                                       bias=conv.bias is not None, padding_mode=conv.padding_mode,
                                       device="meta"), conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.device.type != "cpu" or x.dim() != 4:
            return super().forward(x)
        (stride, stride_w), (pad, pad_w), (kernel, kernel_w) = self.stride, self.padding, self.kernel_size
        out_h = (x.shape[2] + 2 * pad - kernel) // stride + 1
        out_w = (x.shape[3] + 2 * pad_w - kernel_w) // stride_w + 1
        per_row = x.shape[0] * (self.in_channels * x.shape[3] * stride + self.out_channels * out_w) * x.element_size()
        rows = max(1, FAST_BAND_BYTES // per_row)
        if rows >= out_h:
            return super().forward(x)
        out = x.new_empty(x.shape[0], self.out_channels, out_h, out_w)
        for top in range(0, out_h, rows):
            bottom = min(out_h, top + rows)
            band = _padded_rows(x, top * stride - pad, (bottom - 1) * stride - pad + kernel, pad_w, "constant")
            out[:, :, top:bottom] = F.conv2d(band, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return out


class BandedConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d (same parameters and keys) whose CPU forward without gradients, on inputs
    taller than a band, runs over bands of input rows: each band's outputs are added into the
    result where neighbouring bands overlap (k - stride rows), which equals the whole up to the
    order of the sums. Build it with `from_conv`."""

    @classmethod
    def from_conv(cls, conv: nn.ConvTranspose2d) -> "BandedConvTranspose2d":
        return _sharing_parameters(cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                                       padding=conv.padding, output_padding=conv.output_padding, groups=conv.groups,
                                       bias=conv.bias is not None, dilation=conv.dilation,
                                       padding_mode=conv.padding_mode, device="meta"), conv)

    def forward(self, x: torch.Tensor, output_size: Optional[List[int]] = None) -> torch.Tensor:
        if torch.is_grad_enabled() or x.device.type != "cpu" or output_size is not None or x.dim() != 4:
            return super().forward(x, output_size)
        (stride, stride_w), (pad, pad_w), (extra, extra_w) = self.stride, self.padding, self.output_padding
        in_h, in_w = x.shape[2:]
        out_h = (in_h - 1) * stride - 2 * pad + self.kernel_size[0] + extra
        out_w = (in_w - 1) * stride_w - 2 * pad_w + self.kernel_size[1] + extra_w
        # Each input row adds `stride` output rows of about in_w * stride_w px.
        per_row = (x.shape[0] * (self.in_channels * in_w + stride * self.out_channels * in_w * stride_w)
                   * x.element_size())
        rows = max(1, FAST_BAND_BYTES // per_row)
        if rows >= in_h:
            return super().forward(x)
        channels_last = x.is_contiguous(memory_format=torch.channels_last)
        layout = torch.channels_last if channels_last else torch.contiguous_format
        out = torch.empty(x.shape[0], self.out_channels, out_h, out_w, dtype=x.dtype, device=x.device,
                          memory_format=layout)
        written = 0  # rows [0, written) hold sums already; a band adds to those, copies the rest
        for top in range(0, in_h, rows):
            # oneDNN's transposed convolution is 2.7x faster on channels-last maps than on NCHW ones.
            band = x[:, :, top:top + rows].contiguous(memory_format=torch.channels_last)
            part = F.conv_transpose2d(band, self.weight, None, stride=self.stride,
                                      padding=(0, pad_w), output_padding=(0, extra_w),
                                      groups=self.groups, dilation=self.dilation)
            # The band's first row is full-output row top * stride; the result drops the first `pad`.
            start = top * stride - pad
            skip = max(0, -start)
            end = min(out_h, start + part.shape[2])
            overlap = min(written, end)
            out[:, :, start + skip:overlap] += part[:, :, skip:overlap - start]
            out[:, :, overlap:end] = part[:, :, overlap - start:end - start]
            written = end
        out[:, :, written:] = 0  # output_padding rows that no input row reaches
        if self.bias is not None:
            out += self.bias.view(1, -1, 1, 1).to(out.dtype)
        return out


def _eligible(conv: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and conv.kernel_size in FAST_KERNEL_SIZES and conv.stride == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding == (0, 0)
            and max(conv.in_channels, conv.out_channels) >= FAST_MIN_CHANNELS)


def _bandable(conv: nn.Module) -> bool:
    """A transposed or strided convolution that bands of rows can compute: a transposed one's
    bands must overlap or touch (kernel >= stride), or rows between them would go unwritten."""
    strided = type(conv) is nn.Conv2d and conv.stride != (1, 1)
    transposed = type(conv) is nn.ConvTranspose2d and conv.kernel_size[0] >= conv.stride[0]
    return ((transposed or strided) and conv.dilation == (1, 1)
            and conv.padding_mode == "zeros" and not isinstance(conv.padding, str))


def _reflection(pad: nn.Module) -> int:
    """The padding of an nn.ReflectionPad2d that pads every side alike, else 0."""
    if isinstance(pad, nn.ReflectionPad2d) and len(set(pad.padding)) == 1:
        return pad.padding[0]
    return 0


def use_fast_convolutions(net: nn.Module) -> int:
    """Swap `net`'s eligible nn.Conv2d layers for FastConv2d (where NNPACK runs; a reflection
    padding just before one in an nn.Sequential becomes nn.Identity and is folded into it), its
    strided ones for BandedConv2d and its nn.ConvTranspose2d layers for BandedConvTranspose2d, in
    place (the state dict is unchanged: padding has no parameters); returns how many convolutions
    were swapped."""
    fast = fast_convolutions_available()
    swapped = 0
    for parent in list(net.modules()):
        children = list(parent.named_children())
        for i, (name, child) in enumerate(children):
            if fast and _eligible(child):
                before = children[i - 1][1] if i > 0 and isinstance(parent, nn.Sequential) else None
                reflect = _reflection(before) if before is not None else 0
                if reflect:
                    setattr(parent, children[i - 1][0], nn.Identity())
                setattr(parent, name, FastConv2d.from_conv(child, reflect))
            elif _bandable(child):
                banded = BandedConvTranspose2d if isinstance(child, nn.ConvTranspose2d) else BandedConv2d
                setattr(parent, name, banded.from_conv(child))
            else:
                continue
            swapped += 1
    return swapped
