"""Whole-page inference: any size in, the same size out, in bounded memory.

A page is padded (mirrored) to the multiple the generator needs and cropped back, never stretched.

Large pages run in tiles. Instance norm normalises by statistics of the whole image, so a tile
normalised by its own statistics would shift color from tile to tile. For the ResNet generators the
tiling is exact: the full-resolution layers (before the first stride-2 conv, from the last
upsampling on) run tile by tile, each tile with a halo of context that is cropped away, and each of
their norm layers first gathers its statistics over all tiles in turn; everything at half
resolution or less runs on the whole page at once, where it is cheap in memory; a --global_context
generator pools its page style there too, from the whole page's bottleneck. Pages above
MIDDLE_MAX_PIXELS and the U-Nets take the statistics (and the page style) from one pass over a
downscaled copy (STATS_MAX_PIXELS) and blend overlapping tiles: close, not exact.
"""

import math
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from data.transforms import scale_width, to_tensor
from models.color import HEADROOM, OUTPUT_LUMA_MODES, output_with_luma
from models.fast_conv import CPU_KERNELS, FastConv2d, use_fast_convolutions
from models.networks import RESNET_SMALLEST_SIDE, ResnetGenerator, Style, modulate

# Pages above this many pixels are tiled unless --tile_size says otherwise; by bytes per stored
# value, so both budgets keep a whole resnet_9blocks ngf 64 pass under ~1.5 GB.
AUTO_TILE_PIXELS = {4: 1_000_000, 2: 2_500_000}
# With --cpu_kernels fast (and NNPACK) every large convolution of a plain ResNet generator runs in
# bands (models/fast_conv.py) and the norms in place: a whole fp32 pass measured ~1030 MB over the
# process's own ~320 MB on a 1200x1700 page (~500 bytes per pixel, resnet_9blocks ngf 64, 40 MB
# bands), so pages up to this size stay under ~1.5 GB untiled.
FAST_AUTO_TILE_PIXELS = 2_100_000
AUTO_TILE_SIZE = 768
STATS_MAX_PIXELS = 1_000_000  # approximate path: statistics from a copy downscaled to this size
MIDDLE_MAX_PIXELS = 6_000_000  # exact path up to this page size (its memory grows as pixels * ngf / 2)
HALO = 16  # context pixels (full resolution) around each tile of the exact path
PRECISION_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class _StopForward(Exception):
    """Raised by a norm layer gathering statistics: nothing after it needs computing."""


class PageStatsNorm(nn.Module):
    """Instance norm whose statistics can come from elsewhere than its current input (tiles).

    modes: "live" plain instance norm; "record" instance norm that keeps its mean/var;
    "accumulate" adds sums over `core` (a y0, y1, x0, x1 box of its input) and stops the forward;
    "frozen" normalises with the kept mean/var.
    """

    def __init__(self, norm: nn.InstanceNorm2d) -> None:
        super().__init__()
        self.eps = norm.eps
        self.weight = norm.weight
        self.bias = norm.bias
        self.mode = "live"
        # Live fp32 maps too by hand (in place where it may), not by F.instance_norm: 4x faster on CPUs.
        self.by_hand = False
        self.mean: Optional[torch.Tensor] = None
        self.var: Optional[torch.Tensor] = None
        self.core = (0, 0, 0, 0)
        self._sums: List[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def start_accumulating(self) -> None:
        self.mode = "accumulate"
        self._sums = []

    def finish_accumulating(self) -> None:
        # Per-tile (count, mean, variance) merged exactly (Chan et al.'s pairwise formula), in float64.
        counts = torch.stack([c for c, _, _ in self._sums])
        means = torch.stack([m for _, m, _ in self._sums])
        variances = torch.stack([v for _, _, v in self._sums])
        n = counts.sum()
        mean = (counts[:, None] * means).sum(0) / n
        var = (counts[:, None] * (variances + (means - mean) ** 2)).sum(0) / n
        self.mean = mean.float().view(1, -1, 1, 1)
        self.var = var.float().view(1, -1, 1, 1)
        self.mode = "frozen"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "live" and x.dtype == torch.float32 and x.is_contiguous() and not self.by_hand:
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)  # upstream's numerics
        if self.mode == "accumulate":
            y0, y1, x0, x1 = self.core
            core = x[:, :, y0:y1, x0:x1]
            mean = core.mean(dim=(0, 2, 3), dtype=torch.float32)
            var = _channel_mean_square(core - mean.view(1, -1, 1, 1)).flatten()  # centred: exact where mean >> spread
            count = torch.tensor(float(core.shape[2] * core.shape[3]), dtype=torch.float64)
            self._sums.append((count, mean.double().cpu(), var.double().cpu()))
            raise _StopForward
        # Done by hand because F.instance_norm first copies channels-last and bf16 inputs into
        # another layout. Statistics accumulate in fp32; the variance comes from the centred
        # values, so it stays accurate in bf16 storage even where the mean dwarfs the spread.
        # Inference only, on a fresh tensor (a conv output): normalise in place to save memory.
        inplace = torch.is_inference_mode_enabled() and x._base is None
        if self.mode == "frozen":
            mean, var = self.mean.to(x.device), self.var.to(x.device)
        else:
            mean = _channel_mean(x)
        centred = x.sub_(mean.to(x.dtype)) if inplace else x - mean.to(x.dtype)
        if self.mode != "frozen":
            var = _channel_mean_square(centred)
            if self.mode == "record":
                self.mean, self.var = mean, var
        scale = torch.rsqrt(var + self.eps)
        if self.weight is not None:
            scale = scale * self.weight.view(1, -1, 1, 1).float()
        out = centred.mul_(scale.to(x.dtype)) if inplace else centred * scale.to(x.dtype)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1).to(x.dtype)
        return out


def _channel_mean_square(x: torch.Tensor, chunk: int = 65536) -> torch.Tensor:
    """Per-channel mean of x**2 in fp32, squaring a chunk of pixels at a time (no full-size temporary)."""
    if x.shape[0] == 1 and x.is_contiguous(memory_format=torch.channels_last):
        pixels = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
        total = torch.zeros(x.shape[1], dtype=torch.float32, device=x.device)
        for start in range(0, pixels.shape[0], chunk):
            part = pixels[start:start + chunk]
            total += (part * part).sum(0, dtype=torch.float32)
        return (total / pixels.shape[0]).view(1, -1, 1, 1)
    # The 2-norm squared: no full-size temporary, and 4x faster than squaring on CPUs.
    norm = torch.linalg.vector_norm(x, 2, dim=(2, 3), keepdim=True, dtype=torch.float32)
    return norm.square_() / (x.shape[2] * x.shape[3])


def _channel_mean(x: torch.Tensor) -> torch.Tensor:
    """Per-channel mean over H and W, accumulated in fp32, shaped 1 x C x 1 x 1."""
    if x.shape[0] == 1 and x.is_contiguous(memory_format=torch.channels_last):
        # Channels-last: a (pixels x channels) view; column sums beat a strided reduction.
        pixels = x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
        return (pixels.sum(0, dtype=torch.float32) / pixels.shape[0]).view(1, -1, 1, 1)
    return x.mean(dim=(2, 3), keepdim=True, dtype=torch.float32)


def _swap_instance_norms(net: nn.Module) -> List[PageStatsNorm]:
    """Replace the InstanceNorm2d layers of `net` in place; returns all its PageStatsNorm layers
    (also those swapped in by an earlier Colorizer on the same network)."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.InstanceNorm2d):
                setattr(parent, name, PageStatsNorm(child))
    return [m for m in net.modules() if isinstance(m, PageStatsNorm)]


def _spans(length: int, tile: int, align: int) -> List[Tuple[int, int]]:
    """Split [0, length) into near-equal spans of at most ~`tile`, boundaries on multiples of `align`."""
    n = max(1, math.ceil(length / tile))
    cuts = sorted({0, length} | {round(i * length / n / align) * align for i in range(1, n)})
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


def _norm_scales(seq: nn.Sequential, channels: int, size: int, device: torch.device,
                 dtype: torch.dtype = torch.float32) -> Dict[PageStatsNorm, float]:
    """Each norm layer's resolution relative to the segment's input, found with a tiny probe."""
    scales: Dict[PageStatsNorm, float] = {}

    def note(module: nn.Module, args: Tuple[torch.Tensor, ...]) -> None:
        scales[module] = args[0].shape[2] / size

    hooks = [m.register_forward_pre_hook(note) for m in seq.modules() if isinstance(m, PageStatsNorm)]
    modes = {m: m.mode for m in seq.modules() if isinstance(m, PageStatsNorm)}
    for m in modes:
        m.mode = "live"
    try:
        with torch.inference_mode():
            seq(torch.zeros(1, channels, size, size, device=device, dtype=dtype))
    finally:
        for h in hooks:
            h.remove()
        for m, mode in modes.items():
            m.mode = mode
    return scales


def _resnet_split(net: nn.Module) -> Optional[Tuple[int, int]]:
    """Where a ResnetGenerator's full-resolution head ends and its full-resolution tail starts, as
    indices into net.model, or None for other generators.

    The head ends with the first stride-2 convolution and the tail starts with the last upsampling
    layer, so everything between works at half resolution or less, where the whole page fits in memory.
    """
    if not isinstance(net, ResnetGenerator):
        return None
    layers = list(net.model)
    down = [i for i, m in enumerate(layers) if isinstance(m, nn.Conv2d) and m.stride == (2, 2)]
    up = [i for i, m in enumerate(layers) if isinstance(m, (nn.ConvTranspose2d, nn.Upsample))]
    if not down or not up:
        return None
    return down[0] + 1, up[-1]


class _Modulate(nn.Module):
    """A global-context style applied after one decoder norm layer, as ResnetGenerator.forward does."""

    def __init__(self, gamma: torch.Tensor, beta: torch.Tensor) -> None:
        super().__init__()
        self.gamma, self.beta = gamma, beta

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return modulate(h, self.gamma, self.beta)


def _segment(net: ResnetGenerator, start: int, end: int, style: Optional[Style] = None) -> nn.Sequential:
    """net.model[start:end] as one Sequential; with the page's `style`, each styled norm layer in it
    is followed by its modulation, so the segment computes what forward does there."""
    modulation = dict(zip(net.styled_layers, style)) if style is not None else {}
    modules: List[nn.Module] = []
    for i in range(start, end):
        modules.append(net.model[i])
        if i in modulation:
            modules.append(_Modulate(*modulation[i]))
    return nn.Sequential(*modules)


def _pad_to_multiple(x: torch.Tensor, multiple: int, smallest: int = 1) -> torch.Tensor:
    """Pad right and bottom to sides that are multiples of `multiple` and at least `smallest`."""
    h, w = x.shape[2:]
    ph, pw = max(smallest - h, (-h) % multiple), max(smallest - w, (-w) % multiple)
    ph, pw = ph + (-(h + ph)) % multiple, pw + (-(w + pw)) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"  # reflect needs the pad smaller than the side
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def _tile_starts(length: int, tile: int, overlap: int, multiple: int) -> List[int]:
    """Tile origins covering [0, length), each a multiple of `multiple` so the strided convs
    sample the same grid as on the whole page."""
    if length <= tile:
        return [0]
    stride = max(multiple, (tile - overlap) // multiple * multiple)
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def _blend_weights(length: int, overlap: int, first: bool, last: bool) -> torch.Tensor:
    """Weights along one side of a tile. Towards a neighbouring tile the outer quarter of the
    overlap is discarded (there the network saw mirrored padding, not the page) and the next
    half ramps up linearly; sides on the page border keep full weight."""
    i = torch.arange(length, dtype=torch.float32)
    margin = overlap // 4
    ramp = torch.clamp((i + 0.5 - margin) / max(overlap - 2 * margin, 1), 0.0, 1.0)
    w = torch.ones(length)
    if not first:
        w = torch.minimum(w, ramp)
    if not last:
        w = torch.minimum(w, ramp.flip(0))
    return w


class Colorizer:
    """Runs a generator on PIL pages. The generator must already be in eval mode, and is adapted in
    place: its InstanceNorm layers become PageStatsNorm, for bf16/fp16 on CPU its weights are cast and
    stored channels-last, and for fp32 on CPU with `cpu_kernels` "fast" its large convolutions run
    by Winograd or FFT (models/fast_conv.py) and its instance norms in place. Give each Colorizer
    its own generator."""

    def __init__(self, net: nn.Module, device: torch.device, multiple: int, output_nc: int, input_nc: int,
                 precision: str = "fp32", tile_size: Optional[int] = None, tile_overlap: int = 64,
                 output_luma: str = "generator", work_width: Optional[int] = None,
                 layer_headroom: float = HEADROOM, cpu_kernels: str = "fast") -> None:
        """`output_luma` (models/color.py): "input" keeps the page's own luminance at full resolution
        and takes only color from the generator (test.py --keep_lines); "darker" and "multiply"
        combine the full-resolution page with the output as the model was trained (multiply_headroom
        with the `layer_headroom` it was trained with)."""
        self.net = net
        self.device = device
        self.multiple = multiple
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.dtype = PRECISION_DTYPES[precision]
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        if output_luma not in OUTPUT_LUMA_MODES:
            raise ValueError(f"unknown output_luma {output_luma!r}; choose from {', '.join(OUTPUT_LUMA_MODES)}")
        if cpu_kernels not in CPU_KERNELS:
            raise ValueError(f"unknown cpu_kernels {cpu_kernels!r}; choose from {', '.join(CPU_KERNELS)}")
        self.output_luma = output_luma
        self.layer_headroom = layer_headroom
        self.work_width = work_width
        self.norms = _swap_instance_norms(net)
        self.split = _resnet_split(net)
        self.styled = isinstance(net, ResnetGenerator) and net.context is not None
        self.smallest = RESNET_SMALLEST_SIDE if isinstance(net, ResnetGenerator) else multiple
        # On CPUs, half precision runs fastest as bf16/fp16 weights in channels-last layout
        # (oneDNN's native format) rather than under autocast, which converts every conv's input.
        self.cast_dtype = self.dtype if device.type == "cpu" else None
        if self.cast_dtype is not None:
            net.to(self.cast_dtype).to(memory_format=torch.channels_last)
        fp32_on_cpu = device.type == "cpu" and self.dtype is None
        fast = cpu_kernels == "fast" and fp32_on_cpu
        if fast:
            use_fast_convolutions(net)
        self.fast_convolutions = sum(isinstance(m, FastConv2d) for m in net.modules())  # those NNPACK runs
        for norm in self.norms:
            norm.by_hand = fast

    def _tile_size_for(self, h: int, w: int) -> int:
        if self.tile_size is not None:
            size = self.tile_size
        else:
            element = torch.finfo(self.cast_dtype or torch.float32).bits // 8
            # The budget was measured for upstream's ResNet; a page style's modulation adds
            # full-resolution maps (2.2 GB untiled for a 1200x1700 page), so styled ones, and the
            # unmeasured U-Nets, keep the fp32 limit.
            banded = self.fast_convolutions and self.split is not None and not self.styled
            limit = FAST_AUTO_TILE_PIXELS if banded else AUTO_TILE_PIXELS[element]
            size = AUTO_TILE_SIZE if h * w > limit else 0
        if size <= 0 or (h <= size and w <= size):
            return 0
        return max(self.multiple, size // self.multiple * self.multiple)

    def _call(self, fn: Callable[[torch.Tensor], Any], x: torch.Tensor) -> Any:
        """fn(x) on the device, in the precision asked for."""
        if self.cast_dtype is not None:
            return fn(x.to(self.device, self.cast_dtype).contiguous(memory_format=torch.channels_last))
        x = x.to(self.device)
        if self.dtype is None:
            return fn(x)
        with torch.autocast(device_type=self.device.type, dtype=self.dtype):
            return fn(x)

    def _forward(self, x: torch.Tensor, module: Optional[nn.Module] = None, style: Optional[Style] = None
                 ) -> torch.Tensor:
        module = self.net if module is None else module
        if style is None:
            return self._call(module, x).float()
        return self._call(lambda t: module(t, style), x).float()

    def _run_segment(self, seq: nn.Sequential, x: torch.Tensor, tile: int, halo: int, align: int) -> torch.Tensor:
        """Run a segment of local layers tile by tile with exact whole-input norm statistics.

        Each norm layer, in order, first sums its input over the core of every tile (earlier norms
        already frozen at their whole-input values); then a last pass assembles the output from the
        tile cores. Halos give each core its true context; their outputs are cropped away.
        """
        _, channels, h, w = x.shape
        rows, cols = _spans(h, tile, align), _spans(w, tile, align)
        norms = [m for m in seq.modules() if isinstance(m, PageStatsNorm)]
        dtype = self.cast_dtype or torch.float32
        scales = _norm_scales(seq, channels, 16 * align, self.device, dtype) if norms else {}

        def run_tiles(visit: Callable[[torch.Tensor, Tuple[int, int, int, int], Tuple[int, int]], None]) -> None:
            for y0, y1 in rows:
                for x0, x1 in cols:
                    ys, ye, xs, xe = max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo)
                    visit(x[:, :, ys:ye, xs:xe], (y0 - ys, y1 - ys, x0 - xs, x1 - xs), (y0, x0))

        for norm in norms:
            def gather(piece: torch.Tensor, core: Tuple[int, int, int, int], origin: Tuple[int, int]) -> None:
                s = scales[norm]
                norm.core = tuple(int(round(c * s)) for c in core)
                try:
                    self._forward(piece, seq)
                except _StopForward:
                    pass
            norm.start_accumulating()
            run_tiles(gather)
            norm.finish_accumulating()

        result: List[torch.Tensor] = []

        def assemble(piece: torch.Tensor, core: Tuple[int, int, int, int], origin: Tuple[int, int]) -> None:
            y = self._forward(piece, seq)
            s = y.shape[2] / piece.shape[2]
            if not result:
                result.append(torch.empty(1, y.shape[1], int(h * s), int(w * s), dtype=y.dtype))
            cy0, cy1, cx0, cx1 = (int(round(c * s)) for c in core)
            oy, ox = int(round(origin[0] * s)), int(round(origin[1] * s))
            result[0][:, :, oy:oy + cy1 - cy0, ox:ox + cx1 - cx0] = y[:, :, cy0:cy1, cx0:cx1].cpu()

        run_tiles(assemble)
        return result[0]

    def _run_exact(self, xp: torch.Tensor, tile: int) -> torch.Tensor:
        net = self.net
        head_end, tail_start = self.split
        for norm in self.norms:
            norm.mode = "frozen"  # head and tail norms are replaced one by one as their statistics arrive
        try:
            features = self._run_segment(_segment(net, 0, head_end), xp, tile, HALO, 2).to(self.device)
            for norm in net.model[head_end:tail_start].modules():
                if isinstance(norm, PageStatsNorm):
                    norm.mode = "live"  # the whole half-resolution map is here: plain instance norm
            style, middle_start = None, head_end
            if self.styled:  # the style is pooled from the whole page's bottleneck, as forward does
                features = self._forward(features, _segment(net, head_end, net.bottleneck_end)).to(self.device)
                style = self._call(net.context, features)
                middle_start = net.bottleneck_end
            features = self._forward(features, _segment(net, middle_start, tail_start, style))
            return self._run_segment(_segment(net, tail_start, len(net.model), style), features,
                                     max(1, tile // 2), HALO // 2, 1)
        finally:
            self._set_mode("live")

    def _set_mode(self, mode: str) -> None:
        for norm in self.norms:
            norm.mode = mode

    def _downscaled(self, x: torch.Tensor) -> torch.Tensor:
        """The page at most STATS_MAX_PIXELS large: what the approximate path takes page-wide values from."""
        h, w = x.shape[2:]
        scale = min(1.0, math.sqrt(STATS_MAX_PIXELS / (h * w)))
        if scale < 1.0:
            size = (max(self.multiple, int(h * scale) // self.multiple * self.multiple),
                    max(self.multiple, int(w * scale) // self.multiple * self.multiple))
            x = F.interpolate(x, size=size, mode="area")
        return x

    def _record_stats(self, x: torch.Tensor) -> None:
        self._set_mode("record")
        try:
            self._forward(x)
        finally:
            self._set_mode("live")

    @torch.inference_mode()
    def run_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """1 x C x H x W in [-1, 1] -> 1 x C' x H x W in [-1, 1], tiled when the page is large."""
        h, w = x.shape[2:]
        xp = _pad_to_multiple(x, self.multiple, self.smallest)  # a tiny page is padded up, then cropped back
        hp, wp = xp.shape[2:]
        tile = self._tile_size_for(hp, wp)
        if tile == 0:
            return self._forward(xp)[:, :, :h, :w].cpu()
        if self.split is not None and hp * wp <= MIDDLE_MAX_PIXELS:
            return self._run_exact(xp, tile)[:, :, :h, :w]
        style = None
        small = self._downscaled(xp) if self.norms or self.styled else None
        if self.norms:
            self._record_stats(small)
            self._set_mode("frozen")
        try:
            if self.styled:  # one page-wide style for every tile, from the page its norms were recorded on
                style = self._call(self.net.page_style, small)
            out = torch.zeros(1, self.output_nc, hp, wp)
            weight = torch.zeros(1, 1, hp, wp)
            th, tw = min(tile, hp), min(tile, wp)
            ys = _tile_starts(hp, th, self.tile_overlap, self.multiple)
            xs = _tile_starts(wp, tw, self.tile_overlap, self.multiple)
            for y in ys:
                wy = _blend_weights(th, self.tile_overlap, y == ys[0], y == ys[-1])
                for x0 in xs:
                    wx = _blend_weights(tw, self.tile_overlap, x0 == xs[0], x0 == xs[-1])
                    blend = wy[:, None] * wx[None, :]
                    piece = self._forward(xp[:, :, y:y + th, x0:x0 + tw], style=style).cpu()
                    out[:, :, y:y + th, x0:x0 + tw] += piece * blend
                    weight[:, :, y:y + th, x0:x0 + tw] += blend
        finally:
            self._set_mode("live")
        return (out / weight)[:, :, :h, :w]

    def colorize(self, page: Image.Image) -> Image.Image:
        """A page (mode 'L' or 'RGB' matching the generator's input) to an RGB (or 'L') page of the same size."""
        size = page.size
        work = page
        if self.work_width is not None and self.work_width < page.size[0]:
            work = scale_width(page, self.work_width)  # never upscale: that only costs time
        y = self.run_tensor(to_tensor(work).unsqueeze(0))[0]
        array = ((y.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
        out = Image.fromarray(array[:, :, 0] if self.output_nc == 1 else array[:, :, :3])
        if out.size != size:
            out = out.resize(size, Image.BICUBIC)
        if self.output_luma != "generator" and self.output_nc >= 3:
            return _apply_output_luma(out, page, self.output_luma, self.layer_headroom)
        return out


def _apply_output_luma(out: Image.Image, page: Image.Image, mode: str, headroom: float, band: int = 256) -> Image.Image:
    """The generator's full-size RGB `out` combined with the page as `mode` asks, by the training's
    own function (models/color.py output_with_luma), in bands of rows so a large page needs little
    extra memory."""
    color = np.array(out, dtype=np.uint8)  # writable copies: torch.from_numpy wants them
    gray = np.array(page.convert("L"), dtype=np.uint8)
    result = np.empty_like(color)
    for top in range(0, color.shape[0], band):
        c = torch.from_numpy(color[top:top + band]).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        g = torch.from_numpy(gray[top:top + band])[None, None].float() / 127.5 - 1.0
        mixed = output_with_luma(c, g, mode, headroom)
        result[top:top + band] = ((mixed[0] + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(result)


def strip_upstream_extras(state: Dict[str, torch.Tensor], net: nn.Module) -> Dict[str, torch.Tensor]:
    """Make upstream state dicts load: drop a DataParallel 'module.' prefix and the running
    statistics that old upstream versions stored for InstanceNorm layers (never used here)."""
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    expected = set(net.state_dict())
    return {k: v for k, v in state.items()
            if k in expected or not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
