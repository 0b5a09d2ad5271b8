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

NNPACK's workspace is about three times its output (1.4 GB for the 7x7 output convolution of a
1200x1700 page), so a large input runs in bands of rows, each within FAST_BAND_BYTES; a band costs
no more time per row than the whole.

A transposed convolution (upstream's upsampling) on a whole half-resolution page needs about three
times its output in oneDNN's temporary layouts: 0.75 GB at the peak for the first upsampling of a
1200x1700 page, more than the rest of the generator. Run over bands of input rows whose outputs are
summed where they overlap, it needs only its output.
"""

from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

CONV_ALGORITHMS = ("auto", "direct")  # test.py --conv_algorithm: auto swaps in FastConv2d for fp32 on CPUs

# Where NNPACK was measured faster than oneDNN (the module docstring): square 3x3 and 7x7 kernels,
# stride 1, outputs at least 64 px on each side, at least 16 channels on one side of the convolution.
# Only unpadded convolutions: the generators pad by reflection before each of these, and a band of
# rows then needs no padding of its own.
FAST_KERNEL_SIZES = ((3, 3), (7, 7))
FAST_MIN_OUTPUT_SIDE = 64
FAST_MIN_CHANNELS = 16
# A band's input and output together stay under this many bytes; NNPACK's workspace adds ~2.6
# times that. A band's rows are whole output tiles: 6 for Winograd F(6x6, 3x3), 10 for the
# 16-point FFT of a 7x7 kernel.
FAST_BAND_BYTES = 40 * 2 ** 20
FAST_TILE_ROWS = {3: 6, 7: 10}


def fast_convolutions_available() -> bool:
    """True where NNPACK runs on this CPU. The check also initialises NNPACK, which its
    convolution needs before the first call."""
    return torch.backends.nnpack.is_available()


class FastConv2d(nn.Conv2d):
    """nn.Conv2d (same parameters, same state-dict keys) whose fp32 CPU forward without gradients
    runs NNPACK when the input is large enough to gain; any other call runs nn.Conv2d's own forward.
    Build it with `from_conv`; `use_fast_convolutions` swaps a network's eligible layers."""

    @classmethod
    def from_conv(cls, conv: nn.Conv2d) -> "FastConv2d":
        fast = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                   padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                   bias=conv.bias is not None, padding_mode=conv.padding_mode,
                   device=conv.weight.device, dtype=conv.weight.dtype)
        fast.weight = conv.weight  # shared, not copied: the swap keeps the network's parameters
        fast.bias = conv.bias
        return fast

    def _runs_fast(self, x: torch.Tensor) -> bool:
        if torch.is_grad_enabled() or x.device.type != "cpu" or x.dtype != torch.float32:
            return False
        if self.weight.dtype != torch.float32 or x.dim() != 4:
            return False
        out_h, out_w = x.shape[2] - self.kernel_size[0] + 1, x.shape[3] - self.kernel_size[1] + 1
        return min(out_h, out_w) >= FAST_MIN_OUTPUT_SIDE

    def _band_rows(self, batch: int, out_w: int) -> int:
        per_row = batch * (self.in_channels + self.out_channels) * (out_w + self.kernel_size[1] - 1) * 4
        tile = FAST_TILE_ROWS[self.kernel_size[0]]
        return max(tile, FAST_BAND_BYTES // per_row // tile * tile)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._runs_fast(x):
            return super().forward(x)
        reach = self.kernel_size[0] - 1
        out_h, out_w = x.shape[2] - reach, x.shape[3] - self.kernel_size[1] + 1
        rows = self._band_rows(x.shape[0], out_w)
        if rows >= out_h:
            return torch._nnpack_spatial_convolution(x.contiguous(), self.weight, self.bias, [0, 0], [1, 1])
        out = x.new_empty(x.shape[0], self.out_channels, out_h, out_w)
        for top in range(0, out_h, rows):
            bottom = min(out_h, top + rows)
            band = x[:, :, top:bottom + reach].contiguous()
            out[:, :, top:bottom] = torch._nnpack_spatial_convolution(band, self.weight, self.bias, [0, 0], [1, 1])
        return out


class BandedConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d (same parameters and keys) whose CPU forward without gradients, on inputs
    taller than a band, runs over bands of input rows: each band's outputs are added into the
    result where neighbouring bands overlap (k - stride rows), which equals the whole up to the
    order of the sums. Build it with `from_conv`."""

    @classmethod
    def from_conv(cls, conv: nn.ConvTranspose2d) -> "BandedConvTranspose2d":
        banded = cls(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                     padding=conv.padding, output_padding=conv.output_padding, groups=conv.groups,
                     bias=conv.bias is not None, dilation=conv.dilation, padding_mode=conv.padding_mode,
                     device=conv.weight.device, dtype=conv.weight.dtype)
        banded.weight = conv.weight
        banded.bias = conv.bias
        return banded

    def forward(self, x: torch.Tensor, output_size: Optional[List[int]] = None) -> torch.Tensor:
        stride, pad, extra = self.stride[0], self.padding[0], self.output_padding[0]
        in_h, out_w_per_row = x.shape[2], self.out_channels * x.shape[3] * self.stride[1]
        per_row = x.shape[0] * (self.in_channels * x.shape[3] + stride * out_w_per_row) * x.element_size()
        rows = max(1, FAST_BAND_BYTES // per_row)
        if (torch.is_grad_enabled() or x.device.type != "cpu" or output_size is not None or x.dim() != 4
                or rows >= in_h):
            return super().forward(x, output_size)
        kernel = self.kernel_size[0]
        out_h = (in_h - 1) * stride - 2 * pad + kernel + extra
        out = None
        for top in range(0, in_h, rows):
            part = F.conv_transpose2d(x[:, :, top:top + rows], self.weight, None, stride=self.stride,
                                      padding=(0, self.padding[1]), output_padding=(0, self.output_padding[1]),
                                      groups=self.groups, dilation=self.dilation)
            if out is None:
                out = part.new_zeros(part.shape[0], part.shape[1], out_h, part.shape[3])
            # The band's first row is full-output row top * stride; the result drops the first `pad`.
            start = top * stride - pad
            skip = max(0, -start)
            end = min(out_h, start + part.shape[2])
            out[:, :, start + skip:end] += part[:, :, skip:end - start]
        if self.bias is not None:
            out += self.bias.view(1, -1, 1, 1).to(out.dtype)
        return out


def _eligible(conv: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and conv.kernel_size in FAST_KERNEL_SIZES and conv.stride == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.padding == (0, 0)
            and max(conv.in_channels, conv.out_channels) >= FAST_MIN_CHANNELS)


def _bandable(conv: nn.Module) -> bool:
    return type(conv) is nn.ConvTranspose2d and conv.dilation == (1, 1) and conv.padding_mode == "zeros"


def use_fast_convolutions(net: nn.Module) -> int:
    """Swap `net`'s eligible nn.Conv2d layers for FastConv2d (where NNPACK runs) and its
    nn.ConvTranspose2d layers for BandedConvTranspose2d, in place (the state dict is unchanged);
    returns how many layers were swapped."""
    fast = fast_convolutions_available()
    swapped = 0
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if fast and _eligible(child):
                setattr(parent, name, FastConv2d.from_conv(child))
            elif _bandable(child):
                setattr(parent, name, BandedConvTranspose2d.from_conv(child))
            else:
                continue
            swapped += 1
    return swapped
