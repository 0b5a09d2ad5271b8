"""Black-and-white pages made from color pages, as inputs for the grayscale identity loss.

`--lambda_gray_identity` asks G_A to turn a B/W version of a real color page back into that page:
the color domain then supervises colorization directly. How the B/W version is made matters,
because real B/W scans are not the luminance of a color page:
- gray: the BT.601 luminance (scans of gray-wash art, or `--input_nc 1` on grayscale data);
- ink: light tones pushed to white by a random white point, as inked B/W pages leave fills white;
- screentone: flat mid-tone areas printed as a halftone dot screen of random pitch and angle, as
  manga is printed (dots with the same mean darkness as the tone they replace); lines and their
  anti-aliased edges are left alone;
- ink_tone: ink-style figures on toned ground, as a descreened manga page shows them. Large flat
  areas (panel backgrounds, skies, walls) keep their gray, which is what the screentone that
  prints them averages to; everything else is done as in `ink`, so the figures' fills go white.
  It looks at the whole page, so it must be made before the page is cropped (`PAGE_STYLES`).
Random choices come from the sample's own `rng` (see data/sampler.py), so resume stays exact.
"""

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage
from skimage.measure import label

BW_STYLES = ("gray", "ink", "screentone", "ink_tone")
FILL_WHITENING_STYLES = ("ink", "ink_tone")  # styles that leave light fills as blank paper, as line art does
PAGE_STYLES = ("ink_tone",)  # styles that need the whole page, not a crop of it
INK_WHITE_POINT = (0.6, 0.85)  # luminance at and above which a fill becomes paper white
SCREEN_PITCH = (3.0, 6.0)  # halftone cell size in pixels
SCREEN_TONES = (0.12, 0.92)  # tones outside this range stay solid ink or paper
FLAT_RANGE = 0.08  # a pixel is in a flat area when its 3 x 3 neighbourhood varies less than this
# A flat area this large (fraction of the page) is toned ground, not a figure's fill. On the 8
# validation pages of datasets/demo_pages it keeps 0.2% of the fills' pixels gray and turns 2.7%
# of the background tints' pixels white (at 1%: 23% and 1.1%).
TONE_MIN_AREA = 0.025


def _levels(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    white = rng.uniform(*INK_WHITE_POINT)
    return np.clip(y / white, 0.0, 1.0)


def _screen(y: np.ndarray, flat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mid-tones as a rotated dot screen: a pixel is ink where its tone is darker than the screen's threshold."""
    h, w = y.shape
    pitch = rng.uniform(*SCREEN_PITCH)
    angle = rng.uniform(0.0, np.pi / 2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u = (xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / pitch)
    v = (-xx * np.sin(angle) + yy * np.cos(angle)) * (2 * np.pi / pitch)
    # A threshold field in [0, 1] whose level sets are round dots growing from the cell centres;
    # ranking it makes it uniform, so the fraction of ink in a flat area equals 1 - tone.
    field = np.cos(u) * np.cos(v)
    ranks = field.ravel().argsort().argsort().reshape(h, w)
    threshold = (ranks + 0.5) / ranks.size
    dots = (y > threshold).astype(np.float64)
    screened = flat & (y > SCREEN_TONES[0]) & (y < SCREEN_TONES[1])
    return np.where(screened, dots, y)


def _flat(gray: Image.Image) -> np.ndarray:
    """H x W bool: pixels whose 3 x 3 neighbourhood spans less than FLAT_RANGE in gray."""
    spread = (np.asarray(gray.filter(ImageFilter.MaxFilter(3)), dtype=np.float64)
              - np.asarray(gray.filter(ImageFilter.MinFilter(3)), dtype=np.float64)) / 255.0
    return spread < FLAT_RANGE


def toned_ground(gray: Image.Image) -> np.ndarray:
    """H x W bool: the flat areas of a page (4-connected) that cover at least TONE_MIN_AREA of it,
    with the 1 px rim next to a line that the 3 x 3 flatness test leaves out."""
    regions = label(_flat(gray), connectivity=1)
    area = np.bincount(regions.ravel())
    area[0] = 0  # label 0 is the non-flat pixels
    return ndimage.binary_dilation((area >= TONE_MIN_AREA * regions.size)[regions], np.ones((3, 3), bool))


def synthesize_bw(img: Image.Image, style: str, rng: np.random.Generator) -> Image.Image:
    """A mode 'L' B/W page from an RGB (or 'L') page in the given style (a `PAGE_STYLES` one
    expects the whole page). ValueError for an unknown style."""
    if style not in BW_STYLES:
        raise ValueError(f"unknown B/W style {style!r}; choose from {', '.join(BW_STYLES)}")
    gray = img.convert("L")
    if style == "gray":
        return gray
    y = np.asarray(gray, dtype=np.float64) / 255.0
    if style == "ink":
        y = _levels(y, rng)
    elif style == "ink_tone":
        y = np.where(toned_ground(gray), y, _levels(y, rng))
    else:
        y = _screen(y, _flat(gray), rng)
    return Image.fromarray(np.round(y * 255.0).astype(np.uint8), mode="L")
