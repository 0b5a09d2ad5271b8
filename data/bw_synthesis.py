"""Black-and-white pages made from color pages, as inputs for the grayscale identity loss.

`--lambda_gray_identity` asks G_A to turn a B/W version of a real color page back into that page:
the color domain then supervises colorization directly. How the B/W version is made matters,
because real B/W scans are not the luminance of a color page:
- gray: the BT.601 luminance (scans of gray-wash art, or `--input_nc 1` on grayscale data);
- ink: light tones pushed to white by a random white point, as inked B/W pages leave fills white;
- screentone: flat mid-tone areas printed as a halftone dot screen of random pitch and angle, as
  manga is printed (dots with the same mean darkness as the tone they replace); lines and their
  anti-aliased edges are left alone.
Random choices come from the sample's own `rng` (see data/sampler.py), so resume stays exact.
"""

import numpy as np
from PIL import Image, ImageFilter

BW_STYLES = ("gray", "ink", "screentone")
INK_WHITE_POINT = (0.6, 0.85)  # luminance at and above which a fill becomes paper white
SCREEN_PITCH = (3.0, 6.0)  # halftone cell size in pixels
SCREEN_TONES = (0.12, 0.92)  # tones outside this range stay solid ink or paper
FLAT_RANGE = 0.08  # a pixel is in a flat area when its 3 x 3 neighbourhood varies less than this


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


def synthesize_bw(img: Image.Image, style: str, rng: np.random.Generator) -> Image.Image:
    """A mode 'L' B/W page from an RGB (or 'L') page in the given style."""
    if style not in BW_STYLES:
        raise ValueError(f"unknown B/W style {style!r}; choose from {', '.join(BW_STYLES)}")
    gray = img.convert("L")
    if style == "gray":
        return gray
    y = np.asarray(gray, dtype=np.float64) / 255.0
    if style == "ink":
        y = _levels(y, rng)
    else:
        spread = (np.asarray(gray.filter(ImageFilter.MaxFilter(3)), dtype=np.float64)
                  - np.asarray(gray.filter(ImageFilter.MinFilter(3)), dtype=np.float64)) / 255.0
        y = _screen(y, spread < FLAT_RANGE, rng)
    return Image.fromarray(np.round(y * 255.0).astype(np.uint8), mode="L")
