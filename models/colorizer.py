"""Whole-page inference: any size in, the same size out, in bounded memory.

A page is padded (mirrored) to the multiple the generator needs and cropped back, never stretched.
Large pages are cut into overlapping tiles that are blended with linear ramps. Instance norm
normalises by statistics of the whole image, so a tile normalised by its own statistics would
shift color from tile to tile; instead the statistics of every norm layer are taken once per page
from a pass over the page (or, for pages above STATS_MAX_PIXELS, a downscaled copy) and held fixed
while the tiles run.
"""

import math
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from data.transforms import scale_width, to_tensor

AUTO_TILE_PIXELS = 2_000_000  # pages above this are tiled unless --tile_size says otherwise
AUTO_TILE_SIZE = 512
STATS_MAX_PIXELS = 1_000_000  # the statistics pass runs at most at this size (downscaled beyond)
PRECISION_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class PageStatsNorm(nn.Module):
    """Instance norm whose statistics can be recorded on one input and reused on others (tiles).

    mode "live" is plain instance norm; "record" is instance norm that keeps its mean/var;
    "frozen" normalises with the kept mean/var.
    """

    def __init__(self, norm: nn.InstanceNorm2d) -> None:
        super().__init__()
        self.eps = norm.eps
        self.weight = norm.weight
        self.bias = norm.bias
        self.mode = "live"
        self.mean: Optional[torch.Tensor] = None
        self.var: Optional[torch.Tensor] = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "live":
            return F.instance_norm(x, weight=self.weight, bias=self.bias, eps=self.eps)
        if self.mode == "frozen":
            mean, var = self.mean.to(x.dtype), self.var.to(x.dtype)
        else:
            xf = x.float()
            var, mean = torch.var_mean(xf, dim=(2, 3), keepdim=True, correction=0)
            if self.mode == "record":
                self.mean, self.var = mean, var
            mean, var = mean.to(x.dtype), var.to(x.dtype)
        out = (x - mean) * torch.rsqrt(var + self.eps)
        if self.weight is not None:
            out = out * self.weight.view(1, -1, 1, 1).to(x.dtype) + self.bias.view(1, -1, 1, 1).to(x.dtype)
        return out


def _swap_instance_norms(net: nn.Module) -> List[PageStatsNorm]:
    """Replace the InstanceNorm2d layers of `net` in place; returns all its PageStatsNorm layers
    (also those swapped in by an earlier Colorizer on the same network)."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.InstanceNorm2d):
                setattr(parent, name, PageStatsNorm(child))
    return [m for m in net.modules() if isinstance(m, PageStatsNorm)]


def _pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    h, w = x.shape[2:]
    ph, pw = (-h) % multiple, (-w) % multiple
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
    """Runs a generator on PIL pages. The generator must already be in eval mode."""

    def __init__(self, net: nn.Module, device: torch.device, multiple: int, output_nc: int, input_nc: int,
                 precision: str = "fp32", tile_size: Optional[int] = None, tile_overlap: int = 64,
                 keep_lines: bool = False, work_width: Optional[int] = None) -> None:
        self.net = net
        self.device = device
        self.multiple = multiple
        self.input_nc = input_nc
        self.output_nc = output_nc
        self.dtype = PRECISION_DTYPES[precision]
        self.tile_size = tile_size
        self.tile_overlap = tile_overlap
        self.keep_lines = keep_lines
        self.work_width = work_width
        self.norms = _swap_instance_norms(net)

    def _tile_size_for(self, h: int, w: int) -> int:
        if self.tile_size is not None:
            size = self.tile_size
        else:
            size = AUTO_TILE_SIZE if h * w > AUTO_TILE_PIXELS else 0
        if size <= 0 or (h <= size and w <= size):
            return 0
        return max(self.multiple, size // self.multiple * self.multiple)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        if self.dtype is None:
            return self.net(x).float()
        with torch.autocast(device_type=self.device.type, dtype=self.dtype):
            return self.net(x).float()

    def _set_mode(self, mode: str) -> None:
        for norm in self.norms:
            norm.mode = mode

    def _record_stats(self, x: torch.Tensor) -> None:
        h, w = x.shape[2:]
        scale = min(1.0, math.sqrt(STATS_MAX_PIXELS / (h * w)))
        if scale < 1.0:
            size = (max(self.multiple, int(h * scale) // self.multiple * self.multiple),
                    max(self.multiple, int(w * scale) // self.multiple * self.multiple))
            x = F.interpolate(x, size=size, mode="area")
        self._set_mode("record")
        try:
            self._forward(x)
        finally:
            self._set_mode("live")

    @torch.inference_mode()
    def run_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """1 x C x H x W in [-1, 1] -> 1 x C' x H x W in [-1, 1], tiled when the page is large."""
        h, w = x.shape[2:]
        xp = _pad_to_multiple(x, self.multiple)
        hp, wp = xp.shape[2:]
        tile = self._tile_size_for(hp, wp)
        if tile == 0:
            return self._forward(xp)[:, :, :h, :w].cpu()
        if self.norms:
            self._record_stats(xp)
            self._set_mode("frozen")
        try:
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
                    piece = self._forward(xp[:, :, y:y + th, x0:x0 + tw]).cpu()
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
        if self.keep_lines and self.output_nc >= 3:
            # Luminance from the scan itself, at full resolution; only chroma from the generator.
            _, cb, cr = out.convert("YCbCr").split()
            luma = page.convert("L")
            return Image.merge("YCbCr", (luma, cb.resize(size, Image.BICUBIC), cr.resize(size, Image.BICUBIC))).convert("RGB")
        if out.size != size:
            out = out.resize(size, Image.BICUBIC)
        return out


def strip_upstream_extras(state: Dict[str, torch.Tensor], net: nn.Module) -> Dict[str, torch.Tensor]:
    """Make upstream state dicts load: drop a DataParallel 'module.' prefix and the running
    statistics that old upstream versions stored for InstanceNorm layers (never used here)."""
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    expected = set(net.state_dict())
    return {k: v for k, v in state.items()
            if k in expected or not k.endswith(("running_mean", "running_var", "num_batches_tracked"))}
