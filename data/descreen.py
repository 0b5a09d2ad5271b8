"""Descreening: screentone areas of a B/W page become the flat gray they stand for.

A colorist replaces screentone with a flat tint. Under `--output_luma multiply` the model can
only darken the scan, so tone dots left in the input stay in the output as dark specks on the
tint; descreening first gives the color layer a flat gray to tint. Lines, lettering and paper
are left exactly as they are.

How tone is found: the page's ink pixels (darker than paper and clearly darker than the mean of
the 9 x 9 square around them, so the dots of a dense screen stay apart) are split into 4-connected
components. Ink lines and
letters are long or large components; tone dots are small ones, on a lattice. The screen's
pitch is the median distance from a small component to its nearest small neighbour. A pixel is
tone when its square of ~2.5 pitches holds at least half the dots a screen would put there (a
screen fills it, lettering's full stops and a pair of eyes do not), it lies within about half a
pitch of a dot, and it is not part of a large component. Each tone pixel becomes the
Gaussian-weighted mean (sigma = one pitch) of the tone pixels around it, dots and the paper
between them: the gray the screen prints. One pitch per page (a page mixing very different
screens is read at its commonest); tested on screens of period 4 to 8 px (a 60-line tone
scanned at 240 to 480 dpi) and 8% to 40% ink. A page with fewer than MIN_SCREEN_DOTS small
components has no tone.
"""

import math
from typing import NamedTuple

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import cKDTree

PAPER_LEVEL = 0.9  # luminance in [0, 1] below which a pixel may count as ink (dot or line)
LOCAL_WINDOW = 9  # pixels: ink is darker than the mean of this square around it, by LOCAL_MARGIN
LOCAL_MARGIN = 0.02
# Where that mean is darker than DENSE (a screen of over ~25% ink), ink must also be darker than
# DOT_CORE times the mean: between the dots of a dense screen the anti-aliased bridges are gray,
# and counting them as ink joins the dots into a lattice that is read as line art and left on the
# page in patches. Not on light ground, where it would break thin lettering into dot-sized bits.
DENSE = 0.75
DOT_CORE = 0.75
DOT_CELLS = 4.0  # a dot covers at most this many pitch x pitch cells (touching dots of a dense screen merge)
LINE_AREA = 64  # pixels: components at least this large are always lines, never tone
MIN_SCREEN_DOTS = 50  # fewer small components on a page: no screen to remove
WINDOW_PITCHES = 2.5  # side of the square in which dots are counted, in pitches


def ink_mask(y: np.ndarray) -> np.ndarray:
    """H x W bool: the pixels of luminance `y` (H x W in [0, 1]) that are ink, dots or lines."""
    local = ndimage.uniform_filter(y, size=LOCAL_WINDOW, mode="reflect")
    return (y < PAPER_LEVEL) & (y < local - LOCAL_MARGIN) & ((local >= DENSE) | (y < DOT_CORE * local))


class _Ink(NamedTuple):
    """A page's ink (ink_mask), its 4-connected components (0 = paper) and their pixel counts."""

    dark: np.ndarray
    labels: np.ndarray
    sizes: np.ndarray  # sizes[k]: pixels of component k; sizes[0] counts the paper


def _ink(y: np.ndarray) -> _Ink:
    dark = ink_mask(y)
    labels, _ = ndimage.label(dark)
    return _Ink(dark, labels, np.bincount(labels.ravel()))


def _pitch(ink: _Ink) -> float:
    small = np.flatnonzero(ink.sizes[1:] <= LINE_AREA // 4) + 1
    if len(small) < MIN_SCREEN_DOTS:
        return 0.0
    centres = np.asarray(ndimage.center_of_mass(np.ones(ink.labels.shape), ink.labels, small))
    distances, _ = cKDTree(centres).query(centres, k=2)
    return float(np.median(distances[:, 1]))


def screen_pitch(y: np.ndarray) -> float:
    """The page's tone pitch in pixels (module docstring), or 0.0 when it has no screen.

    `y`: H x W luminance in [0, 1].
    """
    return _pitch(_ink(y))


def tone_mask(y: np.ndarray, pitch: float) -> np.ndarray:
    """Where a page is screentone: H x W bool, from its H x W luminance `y` in [0, 1] and its
    screen's `pitch` in pixels (screen_pitch)."""
    return _tone(_ink(y), pitch)


def _tone(ink: _Ink, pitch: float) -> np.ndarray:
    dark, labels, sizes = ink
    if pitch <= 0:
        return np.zeros_like(dark)
    small = sizes <= max(LINE_AREA // 4, DOT_CELLS * pitch * pitch)
    small[0] = False  # label 0 is paper
    dots = small[labels]
    # One seed pixel per small component, so a dot counts once however many pixels it covers;
    # ndimage.label numbers components 0..count, so np.unique lists every label once, in order.
    _, first = np.unique(labels.ravel(), return_index=True)
    seeds = np.zeros(labels.size, dtype=np.float64)
    seeds[first[small]] = 1.0
    window = 2 * int(round(WINDOW_PITCHES * pitch / 2)) + 1
    dots_near = ndimage.uniform_filter(seeds.reshape(labels.shape), size=window, mode="constant") * window * window
    # A screen puts one dot per pitch x pitch cell (a 45-degree lattice of that pitch).
    screen = dots_near >= max(4.0, 0.5 * window * window / (pitch * pitch))
    square = np.ones((3, 3), bool)
    reach = max(1, int(math.ceil(pitch / 2)))
    near_dot = ndimage.binary_dilation(dots, structure=square, iterations=reach)
    tone = screen & near_dot & ~(dark & ~dots)
    # Along a panel border or an outline half the window is outside the screen, so too few dots
    # are counted there: the screen grows over the dots within half a window of it.
    tone |= near_dot & ~(dark & ~dots) & ndimage.binary_dilation(tone, structure=square, iterations=window // 2)
    # Neighbouring dots of a denser screen touch and make mid-sized components; closing the
    # mask takes those in, and the lines (large components) are taken out again.
    line = (sizes >= LINE_AREA)[labels] & dark
    return ndimage.binary_closing(tone, structure=square, iterations=reach) & ~line


def descreen(img: Image.Image) -> Image.Image:
    """The page with its screentone areas replaced by their mean gray (module docstring).

    `img`: mode 'L' or 'RGB' (a B/W scan; an RGB one is read through its luminance, and its tone
    areas become neutral gray). Returns an image of the same mode and size; pages without tone
    come back unchanged.
    """
    gray = img if img.mode == "L" else img.convert("L")
    y = np.asarray(gray, dtype=np.float64) / 255.0
    ink = _ink(y)  # labelled once, for the pitch and for the tone
    pitch = _pitch(ink)
    tone = _tone(ink, pitch)
    if not tone.any():
        return img
    weight = ndimage.gaussian_filter(tone.astype(np.float64), sigma=pitch, mode="constant")
    total = ndimage.gaussian_filter(np.where(tone, y, 0.0), sigma=pitch, mode="constant")
    flat = np.where(tone, total / np.maximum(weight, 1e-12), y)
    flat_u8 = np.round(np.clip(flat, 0.0, 1.0) * 255.0).astype(np.uint8)
    if img.mode == "L":
        return Image.fromarray(flat_u8)
    rgb = np.array(img.convert("RGB"))
    rgb[tone] = flat_u8[tone, None]
    return Image.fromarray(rgb)
