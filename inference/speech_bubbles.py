"""Speech bubbles stay paper white (test.py --keep_bubbles).

A colorist leaves speech bubbles and their lettering as printed: white paper, black letters. A
generator that learned the colors of a panel tends to tint the bubble with it. This module finds
the bubbles on the B/W scan and puts the scan back there.

A bubble here is a region that the ink encloses (``flat_fills.enclosed_regions``), away from the
page's edge, which is blank paper and holds a line of lettering: at least ``MIN_GLYPHS`` ink
components wholly inside it, of nearly the same size, close together in a row (horizontal
lettering) or a column (vertical lettering, as in Japanese), with no large paper region inside
them. Those rules keep out a face (two eyes are not a line of text), a white panel holding a
figure (the figure encloses paper regions: face, shirt) and the page margin. A bubble holding
one or two letters ("NO") is not found; the page keeps the model's color there.
"""

from typing import List, Tuple

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.measure import label

from inference.flat_fills import INK_THRESHOLD, enclosed_regions

PAPER_LEVEL = 230  # scan luma at or above is blank paper (a bubble's interior, away from its letters)
MIN_PAPER_FRACTION = 0.97  # of a region's pixels: tone, shading and descreened grays stay below it
MAX_INNER_PAPER = 0.5  # paper of regions inside the bubble's holes, over the lettering's ink
MIN_GLYPHS = 3  # letters in one row or column
MIN_GLYPH_PX = 3  # smaller components are specks, not letters
MIN_BUBBLE_PX = 16 * MIN_GLYPH_PX ** 2  # smaller regions cannot hold a line of letters
SIZE_TOLERANCE = 0.25  # glyphs of one line differ in height (row) or width (column) by at most this
ALIGN_TOLERANCE = 0.3  # ... and their centers by at most this fraction of that size across the line
STACK_GAP = 0.2  # across a line, in letter sizes: the dot of a "?" is closer, the next line farther
MAX_GAP = 1.0  # between neighbouring letters of a line, in letter sizes (a space is about half)

Box = Tuple[int, int, int, int]  # y0, x0, y1, x1 (exclusive)


def _stacked(boxes: List[Box], along: int) -> List[Box]:
    """Boxes whose spans along the line overlap and that nearly touch across it, merged: the dot
    and stroke of "?" or "!", a letter and its accent (not the letters of the next line)."""
    across = 1 - along
    merged: List[List[int]] = []
    for b in sorted(boxes, key=lambda b: (b[along], b[across])):
        last = merged[-1] if merged else None
        if (last is not None and b[along] < last[2 + along]
                and max(b[across] - last[2 + across], last[across] - b[2 + across])
                <= STACK_GAP * (last[2 + across] - last[across])):
            merged[-1] = [min(last[0], b[0]), min(last[1], b[1]), max(last[2], b[2]), max(last[3], b[3])]
        else:
            merged.append(list(b))
    return [tuple(m) for m in merged]  # type: ignore[misc]


def _has_text_line(boxes: List[Box]) -> bool:
    """Whether the boxes hold a line of at least MIN_GLYPHS letters: boxes of the same size across
    the line (height for a row, width for a column), centered on one line, each within MAX_GAP
    sizes of the next. Two eyes, or the pieces of a figure spread over a panel, are not a line."""
    for across in (0, 1):  # 0: a row (letters of one height side by side); 1: a column
        along = 1 - across
        stacked = [b for b in _stacked(boxes, along) if b[2 + across] - b[across] >= MIN_GLYPH_PX]
        for b in stacked:
            size = b[2 + across] - b[across]
            mid = (b[across] + b[2 + across]) / 2
            line = sorted((c[along], c[2 + along]) for c in stacked
                          if abs((c[2 + across] - c[across]) - size) <= SIZE_TOLERANCE * size
                          and abs((c[across] + c[2 + across]) / 2 - mid) <= ALIGN_TOLERANCE * size)
            letters, end = 0, -np.inf
            for start, stop in line:
                letters = letters + 1 if start - end <= MAX_GAP * size else 1
                end = stop
                if letters >= MIN_GLYPHS:
                    return True
    return False


def find_speech_bubbles(page: Image.Image, ink_threshold: int = INK_THRESHOLD) -> np.ndarray:
    """H x W bool mask of the speech bubbles on a B/W scan: interior, lettering and the edge
    pixels next to both (see the module docstring for what counts as a bubble).

    page: the scan in any mode (its luma is used), descreened or not: a bubble is blank paper
    either way. Runs in roughly linear time in the number of pixels.
    """
    gray = np.asarray(page.convert("L"))
    regions = enclosed_regions(gray, ink_threshold)
    ink = gray < ink_threshold
    glyphs = label(ink, connectivity=2)
    glyph_sizes = np.bincount(glyphs.ravel())
    height, width = gray.shape
    paper = gray >= PAPER_LEVEL
    counts = np.bincount(regions.ravel())
    paper_counts = np.bincount(regions.ravel(), weights=paper.ravel(), minlength=counts.size)
    bubbles = np.zeros(gray.shape, dtype=bool)
    for index, box in enumerate(ndimage.find_objects(regions), start=1):
        if box is None or counts[index] < MIN_BUBBLE_PX:
            continue
        if box[0].start == 0 or box[1].start == 0 or box[0].stop == height or box[1].stop == width:
            continue  # the page's margin and gutters: every panel would count as a hole in it
        if paper_counts[index] < MIN_PAPER_FRACTION * counts[index]:
            continue
        region = regions[box] == index
        filled = ndimage.binary_fill_holes(region)
        holes = filled & ~region
        inside = glyphs[box][holes]
        ids, pixels = np.unique(inside[inside > 0], return_counts=True)
        whole = ids[pixels == glyph_sizes[ids]]  # glyphs wholly inside the bubble, not its outline
        # What the bubble encloses is lettering: ink, and at most small counters (the inside of
        # an O). A panel encloses figures, and a figure encloses large regions (face, shirt).
        inner = regions[box][holes]
        if (inner > 0).sum() > MAX_INNER_PAPER * max(np.isin(inside, whole).sum(), 1):
            continue
        boxes = [(sl[0].start, sl[1].start, sl[0].stop, sl[1].stop)
                 for sl in ndimage.find_objects(label(np.isin(glyphs[box], whole), connectivity=2)) if sl is not None]
        if not _has_text_line(boxes):
            continue
        # Grow by the pixel that enclosed_regions took from the ink's neighbours.
        bubbles[box] |= ndimage.binary_dilation(filled, structure=np.ones((3, 3), bool))
    return bubbles


def keep_bubbles(colored: Image.Image, page: Image.Image, ink_threshold: int = INK_THRESHOLD) -> Image.Image:
    """`colored` (the model's RGB output for `page`) with the scan put back inside its speech bubbles.

    page: the B/W scan the model colorized, the same size. Returns an RGB image of that size.
    Raises ValueError when the sizes differ.
    """
    if colored.size != page.size:
        raise ValueError(f"colored page {colored.size} and scan {page.size} differ in size")
    out = np.array(colored.convert("RGB"))
    mask = find_speech_bubbles(page, ink_threshold)
    out[mask] = np.asarray(page.convert("RGB"))[mask]
    return Image.fromarray(out)
