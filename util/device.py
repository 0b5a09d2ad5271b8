"""Choosing the compute device from --device and --gpu_ids."""

from typing import List

import torch

from util.errors import UserError


def select_device(choice: str, gpu_ids: List[int]) -> torch.device:
    """auto: the first id in --gpu_ids if CUDA is present, else CPU; --gpu_ids -1 means CPU."""
    if choice == "cpu" or (choice == "auto" and (not gpu_ids or not torch.cuda.is_available())):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA device is visible to PyTorch; use --device auto or --device cpu")
    index = gpu_ids[0] if gpu_ids else 0
    if index >= torch.cuda.device_count():
        raise UserError(f"--gpu_ids {index}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return torch.device("cuda", index)
