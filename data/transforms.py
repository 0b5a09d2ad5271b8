"""Preprocessing with Pillow + NumPy (no torchvision): resize, crop, pad, flip, to tensor.

Random choices come from the `rng` passed in, so a sample's augmentation is a pure function
of its seed (see data/sampler.py) and does not depend on worker count or resume point.
"""

import dataclasses
from typing import Callable, Dict, Tuple

import numpy as np
import torch
from PIL import Image


def _resize(img: Image.Image, width: int, height: int) -> Image.Image:
    if img.size == (width, height):
        return img
    return img.resize((width, height), Image.BICUBIC)


def scale_width(img: Image.Image, target_width: int, min_height: int = 1) -> Image.Image:
    """Resize to `target_width`, keeping the aspect ratio (height at least `min_height`, as upstream)."""
    w, h = img.size
    return _resize(img, target_width, max(min_height, int(round(target_width * h / w))))


def random_crop(img: Image.Image, size: int, rng: np.random.Generator) -> Image.Image:
    w, h = img.size
    if w < size or h < size:
        # Too small to crop: scale up just enough rather than fail mid-epoch.
        scale = size / min(w, h)
        img = _resize(img, max(size, int(round(w * scale))), max(size, int(round(h * scale))))
        w, h = img.size
    x = int(rng.integers(0, w - size + 1))
    y = int(rng.integers(0, h - size + 1))
    return img.crop((x, y, x + size, y + size))


def pad_to_multiple(img: Image.Image, multiple: int) -> Image.Image:
    """Pad right and bottom by mirroring so both sides are multiples of `multiple` (no resampling)."""
    w, h = img.size
    pad_w, pad_h = (-w) % multiple, (-h) % multiple
    if pad_w == 0 and pad_h == 0:
        return img
    array = np.asarray(img)
    widths = ((0, pad_h), (0, pad_w)) + (((0, 0),) if array.ndim == 3 else ())
    return Image.fromarray(np.pad(array, widths, mode="symmetric"))


def _resize_and_crop(img: Image.Image, load_size: int, crop_size: int, multiple: int,
                     rng: np.random.Generator) -> Image.Image:
    return random_crop(_resize(img, load_size, load_size), crop_size, rng)


def _crop(img: Image.Image, load_size: int, crop_size: int, multiple: int, rng: np.random.Generator) -> Image.Image:
    return random_crop(img, crop_size, rng)


def _scale_width(img: Image.Image, load_size: int, crop_size: int, multiple: int,
                 rng: np.random.Generator) -> Image.Image:
    return pad_to_multiple(scale_width(img, load_size), multiple)


def _scale_width_and_crop(img: Image.Image, load_size: int, crop_size: int, multiple: int,
                          rng: np.random.Generator) -> Image.Image:
    return random_crop(scale_width(img, load_size, min_height=crop_size), crop_size, rng)


def _none(img: Image.Image, load_size: int, crop_size: int, multiple: int, rng: np.random.Generator) -> Image.Image:
    return pad_to_multiple(img, multiple)


@dataclasses.dataclass(frozen=True)
class PreprocessMode:
    """One --preprocess mode (upstream's names): what it does to a training image."""

    apply: Callable[[Image.Image, int, int, int, np.random.Generator], Image.Image]  # img, load, crop, multiple, rng
    crops: bool  # the result is a random --crop_size square (so batches of any images stack)
    scales_to_load_size: bool  # every image is first scaled to --load_size (square or wide)


PREPROCESS_MODES: Dict[str, PreprocessMode] = {
    "resize_and_crop": PreprocessMode(_resize_and_crop, crops=True, scales_to_load_size=True),
    "crop": PreprocessMode(_crop, crops=True, scales_to_load_size=False),
    "scale_width": PreprocessMode(_scale_width, crops=False, scales_to_load_size=True),
    "scale_width_and_crop": PreprocessMode(_scale_width_and_crop, crops=True, scales_to_load_size=True),
    "none": PreprocessMode(_none, crops=False, scales_to_load_size=False),
}


def preprocess_mode(mode: str) -> PreprocessMode:
    """ValueError naming the choices for an unknown --preprocess."""
    if mode not in PREPROCESS_MODES:
        raise ValueError(f"unknown preprocess mode {mode!r}; choose from {', '.join(PREPROCESS_MODES)}")
    return PREPROCESS_MODES[mode]


def trained_size(size: Tuple[int, int], mode: str, load_size: int, crop_size: int, multiple: int
                 ) -> Tuple[int, int]:
    """(width, height) of an image of `size` after `preprocess` in `mode`, without decoding it."""
    spec = preprocess_mode(mode)
    if spec.crops:
        return crop_size, crop_size  # random_crop scales a smaller image up to the crop
    width, height = size
    if spec.scales_to_load_size:  # scale_width
        width, height = load_size, max(1, int(round(load_size * height / width)))
    return width + (-width) % multiple, height + (-height) % multiple


def preprocess(img: Image.Image, mode: str, load_size: int, crop_size: int, multiple: int, flip: bool,
               rng: np.random.Generator) -> Image.Image:
    """Apply a --preprocess mode, then a random horizontal flip when `flip`."""
    img = preprocess_mode(mode).apply(img, load_size, crop_size, multiple, rng)
    if flip and rng.random() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL 'L' or 'RGB' image to a float C x H x W tensor in [-1, 1] (the generator's tanh range)."""
    array = np.asarray(img, dtype=np.float32)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.transpose(2, 0, 1).copy()).div_(127.5).sub_(1.0)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    """A C x H x W tensor in [-1, 1] to an H x W x 3 uint8 array (gray repeated to RGB)."""
    t = tensor.detach().float().cpu().clamp(-1, 1)
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    array = ((t[:3] + 1.0) * 127.5).round().to(torch.uint8)
    return array.permute(1, 2, 0).numpy()
