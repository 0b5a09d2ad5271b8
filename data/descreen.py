"""Descreening: screentone areas of a B/W page become the flat gray they stand for.

A colorist replaces screentone with a flat tint. Under `--output_luma multiply` the model can
only darken the scan, so tone dots left in the input stay in the output as dark specks on the
tint; descreening first gives the color layer a flat gray to tint. Lines, lettering and paper
are left exactly as they are.

How a pixel is found to be tone: the page's dark pixels are split into 4-connected components.
Ink lines and letters are long or large components; tone dots are small ones. A pixel is tone
when at least `min_dots` small components start in the `window` x `window` square around it
(lettering has a few isolated dots, a screen has many), it lies within 2 px of a dot, and it is
not part of a large component. Each tone pixel becomes the mean of the tone pixels in the
`window` x `window` square around it (the dots and the paper between them), which is the gray
the screen prints. The default sizes suit screens of period 3 to 6 px (a 60-line tone scanned
at 200 to 300 dpi); for larger scans raise `max_dot_area` and `window` with the period.
"""

import numpy as np
from PIL import Image
from scipy import ndimage

PAPER_LEVEL = 0.9  # luminance in [0, 1] below which a pixel counts as ink (dot or line)
MAX_DOT_AREA = 16  # pixels: larger connected components are lines or letters
WINDOW = 9  # pixels: the square in which dots are counted and tone is averaged
MIN_DOTS = 5  # dots in a window that make it a screen
DOT_REACH = 2  # pixels: how far beyond a dot the tone area reaches (the paper between dots)
LINE_AREA = 64  # pixels: components at least this large are always lines, never tone


def tone_mask(y: np.ndarray, max_dot_area: int = MAX_DOT_AREA, window: int = WINDOW,
              min_dots: int = MIN_DOTS) -> np.ndarray:
    """Where a page is screentone: H x W bool, from its H x W luminance `y` in [0, 1]."""
    dark = y < PAPER_LEVEL
    labels, count = ndimage.label(dark)
    if count == 0:
        return np.zeros_like(dark)
    sizes = np.bincount(labels.ravel())
    small = sizes <= max_dot_area
    small[0] = False  # label 0 is paper
    dots = small[labels]
    # One seed pixel per small component, so a dot counts once however many pixels it covers.
    # ndimage.label numbers components 0..count, so np.unique lists every label once, in order.
    _, first = np.unique(labels.ravel(), return_index=True)
    seeds = np.zeros(y.size, dtype=np.float64)
    seeds[first[small]] = 1.0
    dots_near = ndimage.uniform_filter(seeds.reshape(y.shape), size=window, mode="constant") * window * window
    screen = dots_near >= min_dots - 0.5
    square = np.ones((3, 3), bool)
    near_dot = ndimage.binary_dilation(dots, structure=square, iterations=DOT_REACH)
    tone = screen & near_dot & ~(dark & ~dots)
    # Neighbouring dots of a denser screen touch and make mid-sized components; closing the
    # mask takes those in, and the lines (large components) are taken out again.
    line = dark & (sizes >= LINE_AREA)[labels]
    line[labels == 0] = False
    return ndimage.binary_closing(tone, structure=square, iterations=DOT_REACH) & ~line


def descreen(img: Image.Image, max_dot_area: int = MAX_DOT_AREA, window: int = WINDOW,
             min_dots: int = MIN_DOTS) -> Image.Image:
    """The page with its screentone areas replaced by their mean gray (module docstring).

    `img`: mode 'L' or 'RGB' (a B/W scan; an RGB one is read through its luminance, and its tone
    areas become neutral gray). Returns an image of the same mode and size; pages without tone
    come back unchanged.
    """
    gray = img if img.mode == "L" else img.convert("L")
    y = np.asarray(gray, dtype=np.float64) / 255.0
    tone = tone_mask(y, max_dot_area, window, min_dots)
    if not tone.any():
        return img
    weight = ndimage.uniform_filter(tone.astype(np.float64), size=window, mode="constant")
    total = ndimage.uniform_filter(np.where(tone, y, 0.0), size=window, mode="constant")
    flat = np.where(tone, total / np.maximum(weight, 1e-12), y)
    flat_u8 = np.round(np.clip(flat, 0.0, 1.0) * 255.0).astype(np.uint8)
    if img.mode == "L":
        return Image.fromarray(flat_u8)
    rgb = np.array(img.convert("RGB"))
    rgb[tone] = flat_u8[tone, None]
    return Image.fromarray(rgb)
