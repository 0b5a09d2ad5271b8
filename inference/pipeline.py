"""One B/W page in, one colored page out: the steps that test.py and the web app (scripts/app.py)
share, so both colorize a page exactly the same way."""

import argparse
import logging
import os
from dataclasses import dataclass
from typing import Optional

import torch
from PIL import Image

from data.descreen import descreen
from inference.colorizer import Colorizer
from inference.flat_fills import flat_fill
from inference.generator_loader import LoadedGenerator, load_generator
from inference.speech_bubbles import keep_bubbles
from models.color import COLOR_LAYER_MODES
from models.networks import required_multiple
from options.test_options import generator_network
from util.checkpoint import checkpoint_label
from util.device import resolve_precision

log = logging.getLogger(__name__)
DEFAULT_WORK_WIDTH = 512  # --keep_lines / scale_width without a training --load_size to follow


@dataclass
class PagePipeline:
    """Callable: an 'L' or 'RGB' page (the generator's input mode) -> the colored page, same size."""

    generator: LoadedGenerator
    colorizer: Colorizer
    precision: str
    work_width: Optional[int]
    flat_fills: bool
    keep_bubbles: bool

    def __call__(self, page: Image.Image) -> Image.Image:
        # A model trained on descreened pages sees, and multiplies with, the page descreened.
        seen = descreen(page) if self.generator.descreen else page
        result = self.colorizer.colorize(seen)
        if self.flat_fills and result.mode == "RGB":
            result = flat_fill(result, seen)
        if self.keep_bubbles and result.mode == "RGB":
            result = keep_bubbles(result, seen)
        return result

    def describe(self) -> str:
        """How pages are colorized, for the log: precision, scale, luminance rule, descreening."""
        luma = {"input": ", keep_lines", "darker": ", darker luminance", "multiply": ", page times color layer",
                "multiply_headroom": ", page times color layer"}.get(self.colorizer.output_luma, "")
        scale = f", working width {self.work_width} px (narrower pages as they are)" if self.work_width else \
            ", full resolution"
        fast = f", {self.colorizer.fast_convolutions} convolutions by Winograd/FFT" if self.colorizer.fast_convolutions else ""
        return (f"{self.precision}{fast}{scale}"
                f"{luma}{', descreened' if self.generator.descreen else ''}{', flat fills' if self.flat_fills else ''}"
                f"{', bubbles kept' if self.keep_bubbles else ''}")


def working_width(preprocess: str, load_size: Optional[int], gen: LoadedGenerator, output_luma: str
                  ) -> Optional[int]:
    """The width in px the generator runs at (pages are scaled down to it, never up), or None for
    full resolution.

    `preprocess` is test.py's: "none", "scale_width", or "auto", which picks scale_width for a
    model that paints a color layer (COLOR_LAYER_MODES) and was trained on images scaled to its
    --load_size: it then sees lines at the scale it learned them, and only the smooth color layer
    is upsampled, while the page keeps its full-resolution lines. A model whose output is the page
    itself keeps full resolution, as its lines would blur. --keep_lines always needs a width."""
    if preprocess == "scale_width" or output_luma == "input":
        return load_size or gen.train_load_size or DEFAULT_WORK_WIDTH
    if preprocess == "auto" and output_luma in COLOR_LAYER_MODES and gen.trained_scaled:
        return load_size or gen.train_load_size
    return None


def build_pipeline(opt: argparse.Namespace, device: torch.device) -> PagePipeline:
    """The generator that test.py's flags name (--checkpoints_dir, --name, --epoch, --load_iter,
    --direction/--model_suffix, --no_ema) set up as --keep_lines, --preprocess, --load_size,
    --precision, --cpu_kernels, --tile_size/--tile_overlap, --flat_fills and --keep_bubbles ask. UserError if the weights are
    missing or do not fit."""
    label = checkpoint_label(opt.epoch, opt.load_iter)
    gen = load_generator(os.path.join(opt.checkpoints_dir, opt.name), label, generator_network(opt), opt, device,
                         use_average=not opt.no_ema)
    # --keep_lines asks for the scan's own luminance, whatever the model was trained with.
    output_luma = "input" if opt.keep_lines else gen.output_luma
    if output_luma == "input" and not opt.keep_lines:
        log.info("the generator was trained with --output_luma input: keeping the pages' luminance (--keep_lines)")
    work_width = working_width(opt.preprocess, opt.load_size, gen, output_luma)
    precision = resolve_precision(opt.precision, device)
    colorizer = Colorizer(gen.net, device, required_multiple(gen.net_g), output_nc=gen.output_nc,
                          input_nc=gen.input_nc, precision=precision, tile_size=opt.tile_size,
                          tile_overlap=opt.tile_overlap, output_luma=output_luma, work_width=work_width,
                          layer_headroom=gen.layer_headroom, cpu_kernels=opt.cpu_kernels)
    return PagePipeline(gen, colorizer, precision, work_width, opt.flat_fills, opt.keep_bubbles)
