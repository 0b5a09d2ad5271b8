"""What a reader sees on a manga page, scored with label masks: bubbles, lettering, fills, consistency.

A masks folder sits beside the ground-truth folder (``testB`` -> ``testMasks``, ``valB`` ->
``valMasks``; ``scripts/build_demo_dataset.py --pages`` writes them). It holds one label image
per page, named like the page (``page_000.png``), and ``labels.json``, which maps a page's stem
to its character placements: ``{"page_000": [{"label": 16, "character": "dee", "panel": 0}, ...]}``.
This module owns that format; the page composer (``scripts/manga_pages.py``) imports it.

Label values (uint8): ``LABEL_OTHER`` 0 (paper, ink, backgrounds), ``LABEL_BUBBLE`` 1 (inside a
speech bubble, lettering excluded), ``LABEL_LETTERING`` 2 (glyph pixels), and
``LABEL_FILL_BASE + k`` (16 + k) for the fill of character placement k: where a colorist lays a
character's flat colors.

Metrics, all on CIELAB under D65 (scikit-image), per page and then averaged over pages:

- ``bubble_ciede2000``: mean CIEDE2000 between the prediction and paper white inside bubbles
  (lower is better; about 1 is a just-noticeable difference). Speech bubbles are paper white.
- ``lettering_dL``: mean |L*_pred - L*_gt| on lettering pixels (lower is better; L* is 0-100).
  The ground truth's lettering is the scan's, so this is how much the lettering changed.
- ``fill_ciede2000``: mean CIEDE2000 against the ground truth on fill pixels (lower is better).
- ``fill_chroma_pred`` / ``fill_chroma_gt``: mean chroma C*ab = sqrt(a*^2 + b*^2) on fill pixels:
  is there color at all where characters are (0 = gray).
- ``consistency_pred`` / ``consistency_gt``: for each character, the spread of its fills' mean
  (a*, b*) across every placement on every page (panels and pages), as the RMS distance to their
  centroid in a*b* units; then the mean over characters. The ground truth's spread is not 0
  (a close-up shows more face, a full figure more trousers), so compare the two:
  ``consistency_ratio_max`` is the largest per-character ratio pred / gt. A gray page has a
  spread of 0, so read it beside ``fill_chroma_pred``.
- ``owner_accuracy`` / ``owner_contrast``: who wears what. Each placement's mean fill (a*, b*) is
  taken relative to the mean over all placements (the prediction's relative to the prediction's,
  the truth's to the truth's), so a cast shared by every character does not count. A placement is
  owned right when its prediction lies nearer its own character's mean truth than any other
  character's; ``owner_accuracy`` is the share owned right (1 / characters is chance: a model
  that paints everyone one color scores the share of the character whose true color is nearest the
  average). ``owner_contrast`` is the RMS distance of the characters' mean predictions from their
  average over the same for the truth: 0 when everyone wears one color, 1 when the characters
  differ as much as in the truth. Both need at least two characters.
"""

import json
import os
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

from util.errors import UserError

LABEL_OTHER = 0
LABEL_BUBBLE = 1
LABEL_LETTERING = 2
LABEL_FILL_BASE = 16
LABELS_FILE = "labels.json"
MASKS_SUFFIX = "Masks"  # testB -> testMasks
MIN_FILL_PIXELS = 64  # a sliver of a character cropped by a panel edge has no reliable mean color
# Paper white, sRGB (255, 255, 255) through the same conversion as the pages, so that a white
# bubble scores exactly 0 (scikit-image's white is L* 100 with a* b* a few thousandths off 0).
WHITE_LAB = rgb2lab(np.ones((1, 1, 3)))[0, 0]

REGION_KEYS = ("bubble_ciede2000", "lettering_dL", "fill_ciede2000", "fill_chroma_pred", "fill_chroma_gt")  # per page
CONSISTENCY_KEYS = ("consistency_pred", "consistency_gt", "consistency_ratio_max")  # over the whole set
OWNER_KEYS = ("owner_accuracy", "owner_contrast")  # over the whole set
PAGE_KEYS = REGION_KEYS + CONSISTENCY_KEYS + OWNER_KEYS
PAGE_HIGHER_IS_BETTER = {"bubble_ciede2000": False, "lettering_dL": False, "fill_ciede2000": False,
                         "owner_accuracy": True}


class Fill(NamedTuple):
    """The mean color of one character placement's fill: prediction and ground truth, a*/b* units."""

    character: str
    pred_ab: Tuple[float, float]
    gt_ab: Tuple[float, float]


def masks_folder_for(gt_dir: str) -> str:
    """The masks folder that belongs to a ground-truth folder: ``.../testB`` -> ``.../testMasks``."""
    gt_dir = os.path.normpath(gt_dir)
    name = os.path.basename(gt_dir)
    stem = name[:-1] if name.endswith("B") else name
    return os.path.join(os.path.dirname(gt_dir), stem + MASKS_SUFFIX)


def find_masks(gt_dir: str) -> Optional["PageMasks"]:
    """The masks beside `gt_dir` (masks_folder_for), or None when that folder does not exist."""
    folder = masks_folder_for(gt_dir)
    return PageMasks(folder) if os.path.isdir(folder) else None


class PageMasks:
    """The label images and placements of a masks folder (module docstring).

    Raises UserError when the folder has no readable ``labels.json``.
    """

    def __init__(self, folder: str) -> None:
        path = os.path.join(folder, LABELS_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                self.placements: Dict[str, List[Dict[str, Any]]] = json.load(f)
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read the page labels ({exc}); rebuild the masks folder") from exc
        self.folder = folder

    def __contains__(self, stem: str) -> bool:
        return stem in self.placements and os.path.isfile(os.path.join(self.folder, stem + ".png"))

    def labels(self, stem: str, size_hw: Tuple[int, int]) -> np.ndarray:
        """The page's H x W uint8 label image, resized (nearest neighbour) to `size_hw` if needed."""
        image = Image.open(os.path.join(self.folder, stem + ".png"))
        if image.mode != "L":
            raise UserError(f"{image.filename}: a label image must be 8-bit grayscale, got mode {image.mode}")
        if image.size != (size_hw[1], size_hw[0]):
            image = image.resize((size_hw[1], size_hw[0]), Image.NEAREST)
        return np.asarray(image)

    def characters(self, stem: str) -> Dict[int, str]:
        """Fill label -> character name for one page."""
        return {int(p["label"]): str(p["character"]) for p in self.placements[stem]}


def _mean_or_none(values: np.ndarray) -> Optional[float]:
    return float(values.mean()) if values.size else None


def region_scores(pred: np.ndarray, gt: np.ndarray, labels: np.ndarray, characters: Dict[int, str]
                  ) -> Tuple[Dict[str, Optional[float]], List[Fill]]:
    """Per-page region metrics and the mean fill color of each character placement.

    pred, gt: H x W x 3 uint8 RGB of one size; labels: H x W uint8 (module docstring);
    characters: fill label -> character name. A region absent from the page scores None.
    Raises ValueError when the shapes differ.
    """
    if pred.shape != gt.shape or labels.shape != gt.shape[:2]:
        raise ValueError(f"pred {pred.shape}, gt {gt.shape} and labels {labels.shape} must have one size")
    lab_pred = rgb2lab(pred.astype(np.float64) / 255.0)
    lab_gt = rgb2lab(gt.astype(np.float64) / 255.0)
    bubble = labels == LABEL_BUBBLE
    text = labels == LABEL_LETTERING
    fill = labels >= LABEL_FILL_BASE
    chroma_pred = np.hypot(lab_pred[..., 1], lab_pred[..., 2])
    chroma_gt = np.hypot(lab_gt[..., 1], lab_gt[..., 2])
    scores = {
        "bubble_ciede2000": _mean_or_none(deltaE_ciede2000(np.broadcast_to(WHITE_LAB, lab_pred[bubble].shape),
                                                          lab_pred[bubble])),
        "lettering_dL": _mean_or_none(np.abs(lab_pred[text][:, 0] - lab_gt[text][:, 0])),
        "fill_ciede2000": _mean_or_none(deltaE_ciede2000(lab_gt[fill], lab_pred[fill])),
        "fill_chroma_pred": _mean_or_none(chroma_pred[fill]),
        "fill_chroma_gt": _mean_or_none(chroma_gt[fill]),
    }
    fills = []
    for label, character in sorted(characters.items()):
        where = labels == label
        if int(where.sum()) >= MIN_FILL_PIXELS:
            fills.append(Fill(character, tuple(lab_pred[where][:, 1:].mean(axis=0)),
                              tuple(lab_gt[where][:, 1:].mean(axis=0))))
    return scores, fills


def _spread(points: np.ndarray) -> float:
    """RMS distance of 2-d points to their centroid."""
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def consistency(fills: Sequence[Fill]) -> Dict[str, Dict[str, float]]:
    """Per character with at least two placements: its fill-color spread, predicted and true.

    Returns ``{character: {"pred": spread, "gt": spread, "placements": n}}`` in a*b* units.
    """
    by_character: Dict[str, List[Fill]] = {}
    for item in fills:
        by_character.setdefault(item.character, []).append(item)
    result = {}
    for character, items in sorted(by_character.items()):
        if len(items) >= 2:
            result[character] = {"pred": _spread(np.array([f.pred_ab for f in items])),
                                 "gt": _spread(np.array([f.gt_ab for f in items])),
                                 "placements": float(len(items))}
    return result


def owners(fills: Sequence[Fill]) -> Dict[str, Optional[float]]:
    """Who wears what (module docstring): ``{"owner_accuracy": share, "owner_contrast": ratio}``,
    both None with fewer than two characters (the contrast also when the truth's characters all
    wear one color)."""
    names = sorted({f.character for f in fills})
    if len(names) < 2:
        return {"owner_accuracy": None, "owner_contrast": None}
    pred = np.array([f.pred_ab for f in fills], dtype=np.float64)
    gt = np.array([f.gt_ab for f in fills], dtype=np.float64)
    pred -= pred.mean(axis=0)
    gt -= gt.mean(axis=0)
    who = np.array([names.index(f.character) for f in fills])
    gt_means = np.array([gt[who == k].mean(axis=0) for k in range(len(names))])
    pred_means = np.array([pred[who == k].mean(axis=0) for k in range(len(names))])
    nearest = ((pred[:, None, :] - gt_means[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    gt_rms = _spread(gt_means)
    return {"owner_accuracy": float((nearest == who).mean()),
            "owner_contrast": _spread(pred_means) / gt_rms if gt_rms > 1e-6 else None}


def summarize(page_scores: Sequence[Dict[str, Optional[float]]], fills: Sequence[Fill]
              ) -> Tuple[Dict[str, Optional[float]], Dict[str, Dict[str, float]]]:
    """Means over pages of each region metric (pages without the region left out), and consistency.

    Returns the PAGE_KEYS summary (None where nothing was measured) and the per-character table.
    """
    summary: Dict[str, Optional[float]] = {}
    for key in REGION_KEYS:
        values = [s[key] for s in page_scores if s.get(key) is not None]
        summary[key] = float(np.mean(values)) if values else None
    per_character = consistency(fills)
    if per_character:
        summary["consistency_pred"] = float(np.mean([c["pred"] for c in per_character.values()]))
        summary["consistency_gt"] = float(np.mean([c["gt"] for c in per_character.values()]))
        summary["consistency_ratio_max"] = float(max(c["pred"] / max(c["gt"], 1e-6) for c in per_character.values()))
    else:
        summary.update(consistency_pred=None, consistency_gt=None, consistency_ratio_max=None)
    summary.update(owners(fills))
    return summary, per_character
