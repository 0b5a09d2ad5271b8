"""Flat fills at inference (test.py --flat_fills): one color per region that the ink encloses.

Colorists lay "flats": every area closed by line art gets a single flat color on a layer that is
multiplied under the line art, before any shading. Doing the same to a generator's output removes
halos, fringes along lines and blotches inside a panel, and makes each region one color by
construction. The regions are the connected components (4-connected) of the scan's non-ink
pixels, with the ink grown by one pixel so that a line with a one-pixel gap still closes its
region.

The color of a region is read off the generator's output as a layer: output / scan luma, per RGB
channel (the layer that `--output_luma multiply` paints). Each region takes the median of its
layer, so a blotch or glow that covers less than half of the region does not move it, and the
flat layer is multiplied back onto the scan: lines, descreened tone and the scan's own shading
stay as scanned. Pixels on or next to ink keep the model's color.
"""

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.measure import label

INK_THRESHOLD = 128  # scan luma below mid-gray is line ink, the usual binarization of line art
LAYER_STEPS = 1024  # the layer's median is taken on this grid per unit: 1/4 of a gray level on white paper


def enclosed_regions(gray: np.ndarray, ink_threshold: int = INK_THRESHOLD) -> np.ndarray:
    """The regions that the ink of a scan encloses: H x W int labels, 0 on and next to ink.

    gray: H x W uint8 luma. Regions are 4-connected components of the non-ink pixels after the ink
    is grown by one pixel (3 x 3), so a line with a one-pixel gap still closes its region.
    """
    closed = ndimage.binary_dilation(gray < ink_threshold, structure=np.ones((3, 3), bool))
    return label(~closed, connectivity=1)


def region_medians(codes: np.ndarray, regions: np.ndarray, count: int, n_codes: int) -> np.ndarray:
    """The lower median of `codes` within each region: int64, shape (count,).

    codes: 1-D ints in [0, n_codes); regions: 1-D ints in [0, count), the same length. A region
    without pixels gets 0. One sort of (region, code) keys, so it costs the same for a few regions
    or 100 000. ValueError when a code or a region is out of its range."""
    if codes.size and (codes.min() < 0 or codes.max() >= n_codes):
        raise ValueError(f"codes must lie in [0, {n_codes})")
    if regions.size and (regions.min() < 0 or regions.max() >= count):
        raise ValueError(f"regions must lie in [0, {count})")
    keys = np.sort(regions.astype(np.int64) * n_codes + codes)
    sizes = np.bincount(regions, minlength=count)
    lower = np.cumsum(sizes) - sizes + (sizes - 1) // 2
    medians = np.zeros(count, np.int64)
    medians[sizes > 0] = keys[lower[sizes > 0]] % n_codes
    return medians


def flat_fill(colored: Image.Image, page: Image.Image, ink_threshold: int = INK_THRESHOLD) -> Image.Image:
    """`colored` (RGB, the model's output for `page`) with one flat color layer per ink-enclosed region.

    page: the B/W scan (any mode; its luma is used), the same size as `colored`. In each region the
    output is the scan's luma times the region's median layer (output / scan luma per channel),
    rounded and clipped to [0, 255]. Returns an RGB image of that size. Raises ValueError when the
    sizes differ.
    """
    if colored.size != page.size:
        raise ValueError(f"colored page {colored.size} and scan {page.size} differ in size")
    gray = np.asarray(page.convert("L"))
    regions = enclosed_regions(gray, ink_threshold)
    inside = regions > 0
    labels = regions[inside]
    scan = gray[inside].astype(np.float64)
    divisor = np.maximum(scan, 1)
    # A region's pixels are at least ink_threshold, so no layer there exceeds 255 / ink_threshold.
    n_codes = int(np.ceil(255 / max(ink_threshold, 1) * LAYER_STEPS)) + 1
    out = np.array(colored.convert("RGB"))
    count = int(regions.max()) + 1
    for channel in range(3):
        layer = out[..., channel][inside] / divisor
        codes = np.clip(np.round(layer * LAYER_STEPS), 0, n_codes - 1).astype(np.int64)
        flat = region_medians(codes, labels, count, n_codes)[labels] / LAYER_STEPS
        out[..., channel][inside] = np.clip(np.round(scan * flat), 0, 255).astype(np.uint8)
    return Image.fromarray(out)
