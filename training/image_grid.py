"""Image grids from [-1, 1] tensors, with NumPy (no torchvision)."""

from typing import List, Sequence

import numpy as np
import torch

from data.transforms import to_uint8


def make_row(images: Sequence[torch.Tensor], gap: int = 2) -> np.ndarray:
    """Side-by-side H x W x 3 uint8 strip of C x H x W tensors (gray shown as RGB), white gaps."""
    tiles = [to_uint8(img) for img in images]
    height = max(t.shape[0] for t in tiles)
    parts: List[np.ndarray] = []
    for i, tile in enumerate(tiles):
        if tile.shape[0] < height:
            tile = np.pad(tile, ((0, height - tile.shape[0]), (0, 0), (0, 0)), constant_values=255)
        if i:
            parts.append(np.full((height, gap, 3), 255, np.uint8))
        parts.append(tile)
    return np.concatenate(parts, axis=1)


def stack_rows(rows: Sequence[np.ndarray], gap: int = 2) -> np.ndarray:
    """Rows of possibly different widths, stacked top to bottom on white."""
    width = max(r.shape[1] for r in rows)
    parts: List[np.ndarray] = []
    for i, row in enumerate(rows):
        if row.shape[1] < width:
            row = np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255)
        if i:
            parts.append(np.full((gap, width, 3), 255, np.uint8))
        parts.append(row)
    return np.concatenate(parts, axis=0)
