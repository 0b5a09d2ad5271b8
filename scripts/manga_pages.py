"""Compose manga pages from character drawings: panels, speech bubbles, lettering, screentone.

Used by ``scripts/build_demo_dataset.py --pages``. A page is planned once (``plan_page``) and can
then be rendered in either style from the same plan (``render_page``): the B/W style draws the
ink version of each character and prints every tinted panel background as screentone; the color
style draws the colored twin and lays the tint flat. Pairs of test pages therefore differ only in
what a colorist would change, and ``page_labels`` says which pixel belongs to what.

Sizes are in pixels and scale with the page width; ``BASE_WIDTH`` is the width at which a
character at scale 1 is drawn on a ``BASE_CHARACTER`` px square, the size of the single-drawing
demo set, so scale 1 here is "today's" scale and 3 is a close-up.

The label image (``page_labels``) follows the format ``evaluation/page_metrics.py`` owns: 0 for paper,
gutters, borders, backgrounds and ink lines, 1 inside a speech bubble, 2 on lettering, and
16 + k on the fill of character placement ``k`` (``PagePlan.placements[k]`` names the character
and the panel): the pixels inside the character's silhouette that are light in the ink drawing,
where a colorist lays color, not covered by a later character or a bubble.

Run as part of ``scripts/build_demo_dataset.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from evaluation.page_metrics import LABEL_BUBBLE, LABEL_FILL_BASE, LABEL_LETTERING, LABEL_OTHER
from util.bt601 import luma

BASE_WIDTH = 384
BASE_CHARACTER = 128
PAGE_ASPECT = 1.414  # ISO 216 (B5/A5 tankobon pages are this shape)
SCALES = (1.0, 1.5, 2.0, 3.0)  # character size relative to the single-drawing demo set

MAX_PLACEMENTS = 255 - LABEL_FILL_BASE

# Flat tints a colorist lays behind characters (wall, grass, sky, dusk, night), RGB 0-255. Their
# BT.601 lumas step by 0.07 (0.92, 0.85, 0.78, 0.71, 0.64), so the tone that prints each one has its
# own density, as a letterer picks a lighter or darker tone for a lighter or darker color. (The
# first page set's five pale tints sat within 0.09 luma of each other, so their tones could not say
# which tint a panel had, and no model could learn it.)
TINTS = ((246, 236, 190), (195, 236, 174), (157, 210, 252), (242, 161, 121), (162, 151, 226))
INK = 0
PAPER = 255
_OUTLINE_GRAY, _BUBBLE_GRAY, _TEXT_GRAY = 50, 100, 250  # page_labels' private drawing values

# Short syllable words: the lettering only has to look like lettering to the networks.
WORDS = ("HEY", "WAIT", "WHAT", "NO", "YES", "OK", "LOOK", "THERE", "REALLY", "COME", "ON", "WHY", "NOW",
         "GO", "STOP", "THAT", "IS", "IT", "YOU", "ME", "WE", "HUH", "OH", "SO", "RUN", "LATE", "AGAIN")

RenderCharacter = Callable[[str, object, int], Image.Image]


@dataclass(frozen=True)
class Placement:
    """One character drawn in one panel: ``combo`` is whatever the renderer draws (a pose)."""

    character: str
    combo: object
    panel: int
    box: Tuple[int, int, int]  # x, y of the drawing's top-left on the page, and its square size


@dataclass(frozen=True)
class Bubble:
    panel: int
    box: Tuple[int, int, int, int]  # ellipse x0, y0, x1, y1 on the page
    tail: Tuple[Tuple[int, int], Tuple[int, int], Tuple[int, int]]
    lines: Tuple[str, ...]


@dataclass(frozen=True)
class PagePlan:
    width: int
    height: int
    panels: Tuple[Tuple[int, int, int, int], ...]  # x0, y0, x1, y1 (inclusive-exclusive)
    tints: Tuple[int, ...]  # per panel: index into TINTS, or -1 for paper
    placements: Tuple[Placement, ...]
    bubbles: Tuple[Bubble, ...]
    border: int
    font_size: int


# --------------------------------------------------------------------------------------------
# planning


def _split(total: int, parts: int, gap: int, rng: random.Random) -> List[Tuple[int, int]]:
    """Cut [0, total) into `parts` spans separated by `gap`, with uneven random widths."""
    weights = [rng.uniform(0.7, 1.3) for _ in range(parts)]
    usable = total - gap * (parts - 1)
    spans, start = [], 0
    for i, weight in enumerate(weights):
        size = usable - sum(e - s for s, e in spans) if i == parts - 1 else int(usable * weight / sum(weights))
        spans.append((start, start + size))
        start += size + gap
    return spans


def _layout(width: int, height: int, rng: random.Random) -> List[Tuple[int, int, int, int]]:
    """3 to 5 rectangular panels in 2 or 3 rows, read right to left inside a row as manga is."""
    margin, gutter = round(width * 0.035), round(width * 0.022)
    while True:
        n_rows = rng.choice((2, 3))
        columns = [rng.choice((1, 2, 2)) for _ in range(n_rows)]
        if 3 <= sum(columns) <= 5:
            break
    panels = []
    for (y0, y1), n_cols in zip(_split(height - 2 * margin, n_rows, gutter, rng), columns):
        for x0, x1 in reversed(_split(width - 2 * margin, n_cols, gutter, rng)):
            panels.append((margin + x0, margin + y0, margin + x1, margin + y1))
    return panels


def _place_character(panel: Tuple[int, int, int, int], size: int, rng: random.Random) -> Tuple[int, int, int]:
    """Top-left of a size x size drawing so its middle lies in the panel; big ones are cropped by it.

    comicgen draws a figure in the middle ~60% of the square's width, head at the top, so the
    square may hang over the panel's edges; close-ups keep the head in and lose the legs.
    """
    x0, y0, x1, y1 = panel
    cx = rng.uniform(x0 + 0.3 * (x1 - x0), x1 - 0.3 * (x1 - x0))
    if size <= (y1 - y0):
        top = rng.uniform(y0, y1 - size)
    else:  # taller than the panel: keep the head (upper part of the square) inside
        top = rng.uniform(y0 - 0.15 * size, y0 + 0.02 * size)
    return int(round(cx - size / 2)), int(round(top)), size


def _plan_bubble(panel: Tuple[int, int, int, int], index: int, font_size: int, rng: random.Random) -> Bubble:
    x0, y0, x1, y1 = panel
    lines = tuple(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 2))) + rng.choice(("!", "?", "...", ""))
                  for _ in range(rng.randint(1, 3)))
    longest = max(len(line) for line in lines)
    bw = min(int(longest * font_size * 0.72 + 2.2 * font_size), x1 - x0 - 8)
    bh = min(int(len(lines) * font_size * 1.2 + 1.6 * font_size), (y1 - y0) // 2)
    bx = rng.randint(x0 + 4, max(x0 + 4, x1 - 4 - bw))
    by = rng.randint(y0 + 4, max(y0 + 4, y0 + (y1 - y0) // 3 - bh // 2))
    base_x = bx + bw // 2 + rng.randint(-bw // 5, bw // 5)
    base_y = by + bh - max(2, bh // 8)
    tip = (base_x + rng.randint(-bw // 4, bw // 4), min(y1 - 4, by + bh + max(6, bh // 3)))
    tail = ((base_x - max(3, bw // 10), base_y), (base_x + max(3, bw // 10), base_y), tip)
    return Bubble(index, (bx, by, bx + bw, by + bh), tail, lines)


def font_size(width: int) -> int:
    """Lettering size in px for a page `width` px wide (11 px at BASE_WIDTH, as a 9 pt letterer's font)."""
    return max(8, round(11 * width / BASE_WIDTH))


def plan_page(width: int, cast_pool: Dict[str, Sequence[object]], rng: random.Random) -> PagePlan:
    """Lay out one page: panels, a tint or paper per panel, characters and bubbles.

    `cast_pool` maps a character name to the drawings (combos) it may appear in. Two or three
    characters form the page's cast and recur from panel to panel, as in a scene.
    """
    height = int(round(width * PAGE_ASPECT))
    unit = width / BASE_WIDTH
    panels = _layout(width, height, rng)
    cast = rng.sample(sorted(cast_pool), k=min(len(cast_pool), rng.choice((2, 2, 3))))
    tints, placements, bubbles = [], [], []
    letter_size = font_size(width)
    for index, panel in enumerate(panels):
        tints.append(rng.randrange(len(TINTS)) if rng.random() < 0.5 else -1)
        for character in rng.sample(cast, k=rng.choice((1, 1, 2)) if len(cast) > 1 else 1):
            size = int(round(BASE_CHARACTER * unit * rng.choice(SCALES)))
            combo = rng.choice(list(cast_pool[character]))
            placements.append(Placement(character, combo, index, _place_character(panel, size, rng)))
        if rng.random() < 0.8:
            bubbles.append(_plan_bubble(panel, index, letter_size, rng))
    if len(placements) > MAX_PLACEMENTS:
        raise ValueError(f"a page holds at most {MAX_PLACEMENTS} characters, planned {len(placements)}")
    return PagePlan(width, height, tuple(panels), tuple(tints), tuple(placements), tuple(bubbles),
                    border=max(2, round(2 * unit)), font_size=letter_size)


# --------------------------------------------------------------------------------------------
# rendering


def screentone(width: int, height: int, coverage: float, period: float, supersample: int = 4) -> np.ndarray:
    """A 45-degree halftone dot screen, H x W float in [0, 1] (1 = paper), with `coverage` of ink.

    Dots grow from the cells' centres of a period x period lattice rotated by 45 degrees, as
    printed screentone (e.g. a 60-line tone at 600 dpi is a period of 10 px). Rendered at
    `supersample` x and box-filtered so the dot edges are anti-aliased like a scan.
    """
    s = supersample
    yy, xx = np.mgrid[0:height * s, 0:width * s].astype(np.float64) / s
    u = (xx + yy) / (period * np.sqrt(2.0))
    v = (xx - yy) / (period * np.sqrt(2.0))
    spot = np.cos(2 * np.pi * u) * np.cos(2 * np.pi * v)  # 1 at a dot's centre
    threshold = np.quantile(spot, 1.0 - coverage) if coverage > 0 else np.inf
    ink = (spot >= threshold).astype(np.float64)
    paper = 1.0 - ink.reshape(height, s, width, s).mean(axis=(1, 3))
    return paper


def _tone_coverage(tint: Tuple[int, int, int]) -> float:
    """Ink coverage whose mean gray matches the tint's BT.601 luma, as a letterer picks a tone."""
    return float(np.clip(1.0 - luma(np.array(tint)) / 255.0, 0.05, 0.6))


def _background(plan: PagePlan, color: bool) -> Image.Image:
    page = np.full((plan.height, plan.width, 3), PAPER, dtype=np.uint8)
    period = max(3.0, 4.0 * plan.width / BASE_WIDTH)
    for (x0, y0, x1, y1), tint in zip(plan.panels, plan.tints):
        if tint < 0:
            continue
        if color:
            page[y0:y1, x0:x1] = TINTS[tint]
        else:
            tone = screentone(x1 - x0, y1 - y0, _tone_coverage(TINTS[tint]), period)
            page[y0:y1, x0:x1] = np.round(tone * 255).astype(np.uint8)[..., None]
    return Image.fromarray(page)


def _panel_mask(plan: PagePlan, index: int) -> Image.Image:
    mask = Image.new("L", (plan.width, plan.height), 0)
    x0, y0, x1, y1 = plan.panels[index]
    mask.paste(255, (x0, y0, x1, y1))
    return mask


def _draw_bubble(draw: ImageDraw.ImageDraw, bubble: Bubble, border: int, font: ImageFont.FreeTypeFont,
                 fill: int, outline: int, text: int) -> None:
    draw.ellipse(bubble.box, fill=fill, outline=outline, width=border)
    draw.polygon(bubble.tail, fill=fill, outline=outline, width=border)
    # Paint the tail's join over the ellipse outline so the two read as one shape.
    (ax, ay), (bx, by), _ = bubble.tail
    draw.line([(ax + border, ay - 1), (bx - border, by - 1)], fill=fill, width=border + 2)
    x0, y0, x1, y1 = bubble.box
    draw.multiline_text(((x0 + x1) / 2, (y0 + y1) / 2), "\n".join(bubble.lines), fill=text, font=font,
                        anchor="mm", align="center", spacing=max(1, font.size // 5))


def _placed(plan: PagePlan, placement: Placement, drawing: Image.Image) -> Tuple[Image.Image, Image.Image]:
    """The drawing (RGBA) pasted on a transparent page, and its alpha clipped to its panel."""
    layer = Image.new("RGBA", (plan.width, plan.height), (0, 0, 0, 0))
    x, y, _ = placement.box
    layer.paste(drawing, (x, y))
    alpha = Image.fromarray(np.minimum(np.asarray(layer.getchannel("A")),
                                       np.asarray(_panel_mask(plan, placement.panel))))
    layer.putalpha(alpha)
    return layer, alpha


def render_page(plan: PagePlan, color: bool, render_character: RenderCharacter,
                font: ImageFont.FreeTypeFont) -> Image.Image:
    """The page as RGB (color) or L (B/W, ink and screentone), size plan.width x plan.height.

    `render_character(character, combo, size)` returns the drawing as a size x size RGBA image,
    ink version for ``color=False`` and colored version for ``color=True``; `font` letters the
    bubbles. Drawing order: backgrounds, characters in plan order, panel borders, bubbles.
    """
    page = _background(plan, color).convert("RGBA")
    for placement in plan.placements:
        drawing = render_character(placement.character, placement.combo, placement.box[2])
        layer, _ = _placed(plan, placement, drawing)
        page.alpha_composite(layer)
    draw = ImageDraw.Draw(page)
    for x0, y0, x1, y1 in plan.panels:
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=(INK, INK, INK, 255), width=plan.border)
    for bubble in plan.bubbles:
        _draw_bubble(draw, bubble, plan.border, font, (PAPER,) * 3 + (255,), (INK,) * 3 + (255,), (INK,) * 3 + (255,))
    page = page.convert("RGB")
    return page if color else page.convert("L")


def page_labels(plan: PagePlan, render_character: RenderCharacter, font: ImageFont.FreeTypeFont) -> np.ndarray:
    """The H x W uint8 label image of a page (module docstring), from the ink drawings.

    A character's fill is where its silhouette (alpha >= 0.5, inside its panel) is lighter than
    mid-gray in the ink drawing; the ink lines themselves stay LABEL_OTHER.
    """
    labels = np.zeros((plan.height, plan.width), dtype=np.uint8)
    for k, placement in enumerate(plan.placements):
        drawing = render_character(placement.character, placement.combo, placement.box[2])
        layer, alpha = _placed(plan, placement, drawing)
        inside = np.asarray(alpha) >= 128
        light = np.asarray(layer.convert("L")) >= 128
        labels[inside] = LABEL_OTHER  # a later character hides what it covers, lines included
        labels[inside & light] = LABEL_FILL_BASE + k
    for x0, y0, x1, y1 in plan.panels:
        b = plan.border
        labels[y0:y0 + b, x0:x1] = labels[y1 - b:y1, x0:x1] = LABEL_OTHER
        labels[y0:y1, x0:x0 + b] = labels[y0:y1, x1 - b:x1] = LABEL_OTHER
    for bubble in plan.bubbles:
        # Drawn in three grays on black. The glyphs are anti-aliased over the bubble's gray, so
        # their soft edges (neither pure) count as neither bubble nor lettering.
        canvas = Image.new("L", (plan.width, plan.height), 0)
        _draw_bubble(ImageDraw.Draw(canvas), bubble, plan.border, font, fill=_BUBBLE_GRAY, outline=_OUTLINE_GRAY,
                     text=_TEXT_GRAY)
        drawn = np.asarray(canvas)
        labels[drawn > 0] = LABEL_OTHER
        labels[drawn == _BUBBLE_GRAY] = LABEL_BUBBLE
        labels[drawn >= (_BUBBLE_GRAY + _TEXT_GRAY) // 2] = LABEL_LETTERING
    return labels


def placement_table(plan: PagePlan) -> List[Dict[str, object]]:
    """What each fill label means: ``[{"label": 16 + k, "character": ..., "panel": ...}, ...]``."""
    return [{"label": LABEL_FILL_BASE + k, "character": p.character, "panel": p.panel,
             "scale": round(p.box[2] * BASE_WIDTH / (BASE_CHARACTER * plan.width), 2)}
            for k, p in enumerate(plan.placements)]
