"""Unpaired data: <dataroot>/<phase>A (B/W scans) and <dataroot>/<phase>B (color pages).

An epoch walks max(len(A), len(B)) samples; each A image is paired with a random B image
(or B in order with --serial_batches), so the model never relies on pairs existing.
"""

import copy
import logging
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from data.bw_synthesis import PAGE_STYLES, synthesize_bw
from data.descreen import descreen
from data.image_folder import check_readable, find_images, load_image
from data.transforms import PREPROCESS_MODES, preprocess, to_tensor, trained_size
from util.errors import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SizeRule:
    """What a training image becomes (--preprocess, --load_size, --crop_size, the generator's
    multiple) and the smallest side the networks accept after that (models/networks.py)."""

    mode: str
    load_size: int
    crop_size: int
    multiple: int
    smallest: int

    def too_small(self, size: Tuple[int, int]) -> Optional[str]:
        """Why an image of (width, height) `size` cannot be trained on, or None."""
        width, height = trained_size(size, self.mode, self.load_size, self.crop_size, self.multiple)
        if min(width, height) >= self.smallest:
            return None
        return (f"{size[0]}x{size[1]} becomes {width}x{height} with --preprocess {self.mode}; the networks need "
                f"at least {self.smallest} px per side")


def discover_domain(folder: str, max_count: float, flag_hint: str, sizes: Optional[SizeRule] = None) -> List[str]:
    """Readable image files in `folder` (large enough for `sizes`), or a UserError saying what
    is missing and what to do. Unusable files are skipped with a warning naming each."""
    if not os.path.isdir(folder):
        raise UserError(f"{folder}: folder not found; {flag_hint}")
    paths = find_images(folder)
    if not paths:
        raise UserError(f"{folder}: no images (png, jpg, jpeg, webp, bmp, tif, tiff) found; {flag_hint}")
    readable, bad = check_readable(paths)
    for path, reason in bad:
        log.warning("skipping unreadable image %s (%s)", path, reason)
    if not readable:
        raise UserError(f"{folder}: none of its {len(paths)} image files can be read; check the files")
    good = []
    for path, size in readable.items():
        reason = sizes.too_small(size) if sizes is not None else None
        if reason is None:
            good.append(path)
        else:
            log.warning("skipping %s: %s", path, reason)
    if not good:
        raise UserError(f"{folder}: none of its images is large enough ({sizes.too_small(next(iter(readable.values())))}"
                        "); use larger images or a cropping --preprocess")
    return good[: int(min(max_count, len(good)))]


class UnalignedDataset(Dataset):
    def __init__(self, paths_A: List[str], paths_B: List[str], channels_A: int, channels_B: int, preprocess_mode: str,
                 load_size: int, crop_size: int, multiple: int, flip: bool, serial_batches: bool,
                 bw_style: Optional[str] = None, descreen_A: bool = False, scale_jitter: float = 1.0) -> None:
        """`bw_style` (see data/bw_synthesis.py): also return "B_bw", a B/W version of the B image
        made in that style, with A's channel count (for the grayscale identity loss). `descreen_A`:
        A images are descreened (data/descreen.py) at their stored size, before resizing and crops.
        `scale_jitter` J >= 1: each image is scaled to `load_size` times a log-uniform factor in
        [1/J, J] before the crop (a mode that scales to load_size and crops)."""
        self.paths_A = paths_A
        self.paths_B = paths_B
        self.channels_A = channels_A
        self.channels_B = channels_B
        self.preprocess_mode = preprocess_mode
        self.load_size = load_size
        self.crop_size = crop_size
        self.multiple = multiple
        self.flip = flip
        self.serial_batches = serial_batches
        self.bw_style = bw_style
        self.descreen_A = descreen_A
        self.scale_jitter = scale_jitter
        # Modes that scale every image to --load_size can let JPEGs decode at reduced size.
        scaled = PREPROCESS_MODES[preprocess_mode].scales_to_load_size
        self.draft_size = int(np.ceil(load_size * scale_jitter)) if scaled else None
        self._warned = set()

    def __len__(self) -> int:
        return max(len(self.paths_A), len(self.paths_B))

    def _decode(self, paths: List[str], index: int, channels: int) -> Tuple[Image.Image, str]:
        """Decode paths[index]; a file that fails to decode is replaced by the next good one, with a warning."""
        for attempt in range(len(paths)):
            path = paths[(index + attempt) % len(paths)]
            try:
                return load_image(path, channels, self.draft_size), path
            except (OSError, ValueError, SyntaxError) as exc:
                if path not in self._warned:
                    self._warned.add(path)
                    log.warning("skipping corrupt image %s (%s: %s)", path, type(exc).__name__, exc)
        raise RuntimeError(f"no image in the folder of {paths[0]} can be decoded any more")

    def _preprocess(self, img: Image.Image, rng: np.random.Generator) -> Image.Image:
        load_size = self.load_size
        if self.scale_jitter != 1:  # no draw without it, so runs without it stay as they were
            spread = np.log(self.scale_jitter)
            load_size = max(1, int(round(load_size * np.exp(rng.uniform(-spread, spread)))))
        return preprocess(img, self.preprocess_mode, load_size, self.crop_size, self.multiple, self.flip, rng)

    def __getitem__(self, key: Union[int, Tuple[int, int]]) -> Dict[str, object]:
        index, seed = (key, key) if isinstance(key, int) else key
        rng = np.random.default_rng(seed)
        index_B = index % len(self.paths_B) if self.serial_batches else int(rng.integers(len(self.paths_B)))
        A, path_A = self._decode(self.paths_A, index % len(self.paths_A), self.channels_A)
        if self.descreen_A:  # at the stored size, where the dots are sharpest
            A = descreen(A)
        A = self._preprocess(A, rng)
        page_B, path_B = self._decode(self.paths_B, index_B, self.channels_B)
        # A page style is made from the whole page (at its stored size, so a large scan costs more),
        # then resized, cropped and flipped exactly as B is: the same draws, from a copy of the generator.
        twin = copy.deepcopy(rng) if self.bw_style in PAGE_STYLES else None
        B = self._preprocess(page_B, rng)
        bw = None
        if twin is not None:
            bw = self._preprocess(synthesize_bw(page_B, self.bw_style, rng), twin)
        elif self.bw_style is not None:
            bw = synthesize_bw(B, self.bw_style, rng)
        item: Dict[str, object] = {"A": to_tensor(A), "B": to_tensor(B), "A_paths": path_A, "B_paths": path_B}
        if bw is not None:
            item["B_bw"] = to_tensor(bw if self.channels_A == 1 else bw.convert("RGB"))
        return item
