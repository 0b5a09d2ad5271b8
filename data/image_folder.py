"""Finding and decoding image files: the one place that knows about formats and modes."""

import logging
import os
from typing import IO, Callable, Dict, List, Optional, Tuple, Union

import numpy as np
from PIL import ExifTags, Image, ImageOps

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
IMG_KINDS = ", ".join(ext[1:] for ext in IMG_EXTENSIONS)  # for messages: "png, jpg, ..."

log = logging.getLogger(__name__)


def is_image_file(path: str) -> bool:
    return path.lower().endswith(IMG_EXTENSIONS)


def domain_folder(dataroot: str, phase: str, side: str) -> str:
    """<dataroot>/<phase><side> in upstream's dataset layout, e.g. datasets/demo/testA: side "A"
    holds the B/W scans, "B" the color pages."""
    return os.path.join(dataroot, phase + side)


def find_files(folder: str, accept: Callable[[str], bool]) -> List[str]:
    """Files under `folder` (recursive, hidden files skipped) whose name `accept`s, sorted by path so
    every run sees the same order."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs.sort()
        found.extend(os.path.join(root, name) for name in files if accept(name) and not name.startswith("."))
    return sorted(found)


def find_images(folder: str, max_count: float = float("inf")) -> List[str]:
    """Image files under `folder` (recursive), sorted by path; at most `max_count`."""
    found = find_files(folder, is_image_file)
    return found[: int(min(max_count, len(found)))]


# EXIF orientations that turn the stored image by 90 degrees (load_image applies them).
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


def check_readable(paths: List[str]) -> Tuple[Dict[str, Tuple[int, int]], List[Tuple[str, str]]]:
    """Split paths into {path: (width, height) upright} for those whose header opens, and
    (path, reason) for the rest.

    Only the header is read (cheap, so every file can be checked before training);
    a truncated body is caught later, when the dataset decodes the file.
    """
    good, bad = {}, []
    for path in paths:
        try:
            with Image.open(path) as img:
                width, height = img.size
                if img.getexif().get(ExifTags.Base.Orientation) in _TRANSPOSING_ORIENTATIONS:
                    width, height = height, width
            good[path] = (width, height)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            bad.append((path, f"{type(exc).__name__}: {exc}"))
    return good, bad


def _to_8bit(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit integer grayscale to 8-bit, keeping the full range (Pillow's convert clips)."""
    array = np.asarray(img)
    if array.dtype == np.uint8:
        return img
    array = array.astype(np.float64)
    peak = 65535.0 if array.max() > 255 else 255.0
    return Image.fromarray(np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), mode="L")


def load_image(path: Union[str, IO[bytes]], channels: int, draft_size: Optional[int] = None) -> Image.Image:
    """Decode `path` (a file name, or a binary file object such as an archive member's bytes) upright (EXIF orientation), transparency composited on white paper,
    as mode 'L' for channels == 1 and 'RGB' otherwise. Raises OSError/ValueError on bad files.

    `draft_size`: the caller will shrink the image to about this many pixels per side anyway, so
    a JPEG may be decoded at a reduced scale (1/2, 1/4, 1/8) that still has both sides >= it;
    decoding a 4000 px scan at 1/4 scale is several times faster.
    """
    with Image.open(path) as img:
        if draft_size is not None and img.format == "JPEG":
            img.draft(img.mode, (draft_size, draft_size))
        img.load()
        img = ImageOps.exif_transpose(img)
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        img = _to_8bit(img)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(paper, rgba)
    if img.mode == "F":
        img = Image.fromarray(np.clip(np.asarray(img), 0, 255).astype(np.uint8), mode="L")
    return img.convert("L" if channels == 1 else "RGB")
