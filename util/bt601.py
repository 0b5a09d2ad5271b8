"""BT.601 luma, the one definition of "luminance" this project uses for RGB images.

Y' = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601-7, item 2.5.1), as JPEG and Pillow's "L" and
"YCbCr" modes compute it. The torch version for [-1, 1] tensors is models/color.py's, built on
these weights.
"""

import numpy as np

KR, KG, KB = 0.299, 0.587, 0.114


def luma(rgb: np.ndarray) -> np.ndarray:
    """Luma of an ... x 3 RGB array, in the input's units (0-255 for uint8), as float64.

    Not rounded, so metrics computed on it (SSIM) see no extra quantization.
    """
    return np.asarray(rgb, dtype=np.float64) @ np.array([KR, KG, KB])
