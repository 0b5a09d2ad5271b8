"""Flat fills at inference (test.py --flat_fills): one color per region that the ink encloses.

Colorists lay "flats": every area closed by line art gets a single flat color before any
shading. Doing the same to a generator's output removes halos and fringes along lines and makes
each region one color by construction. The regions are the connected components (4-connected)
of the scan's non-ink pixels, with the ink grown by one pixel so that a line with a one-pixel
gap still closes its region. Within each region the output keeps its own luminance (BT.601 Y,
so lines, tone dots and shading stay as the model drew them) and takes the region's mean
chroma (Cb, Cr). Pixels on or next to ink keep the model's color.
"""

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.measure import label

INK_THRESHOLD = 128  # scan luma below mid-gray is line ink, the usual binarization of line art


def enclosed_regions(gray: np.ndarray, ink_threshold: int = INK_THRESHOLD) -> np.ndarray:
    """The regions that the ink of a scan encloses: H x W int labels, 0 on and next to ink.

    gray: H x W uint8 luma. Regions are 4-connected components of the non-ink pixels after the ink
    is grown by one pixel (3 x 3), so a line with a one-pixel gap still closes its region.
    """
    closed = ndimage.binary_dilation(gray < ink_threshold, structure=np.ones((3, 3), bool))
    return label(~closed, connectivity=1)


def flat_fill(colored: Image.Image, page: Image.Image, ink_threshold: int = INK_THRESHOLD) -> Image.Image:
    """`colored` (RGB, the model's output for `page`) with one chroma per ink-enclosed region.

    page: the B/W scan (any mode; its luma is used), the same size as `colored`. Returns an RGB
    image of that size. Raises ValueError when the sizes differ.
    """
    if colored.size != page.size:
        raise ValueError(f"colored page {colored.size} and scan {page.size} differ in size")
    regions = enclosed_regions(np.asarray(page.convert("L")), ink_threshold)
    ycc = np.asarray(colored.convert("RGB").convert("YCbCr")).astype(np.float64)
    inside = regions > 0
    counts = np.bincount(regions[inside], minlength=regions.max() + 1)
    for channel in (1, 2):
        sums = np.bincount(regions[inside], weights=ycc[..., channel][inside], minlength=counts.size)
        means = sums / np.maximum(counts, 1)
        ycc[..., channel][inside] = means[regions[inside]]
    flat = np.asarray(Image.fromarray(np.clip(np.round(ycc), 0, 255).astype(np.uint8), mode="YCbCr").convert("RGB"))
    out = np.array(colored.convert("RGB"))
    out[inside] = flat[inside]  # the YCbCr round trip is not exact: leave the other pixels untouched
    return Image.fromarray(out)
