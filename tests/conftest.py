"""Shared fixtures: tiny generated datasets and a tiny-network flag set."""

import os
import sys
from typing import List

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models.networks import define_G  # noqa: E402  (after the path above)
from options.train_options import parse_train_options, save_options  # noqa: E402


def write_images(folder: str, count: int, size: int, color: bool, seed: int) -> List[str]:
    """Blobby test images: gray line-art-ish for A, saturated colors for B."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        base = rng.integers(0, 255, size=(size // 4, size // 4, 3 if color else 1)).astype(np.uint8)
        img = Image.fromarray(base.squeeze()).resize((size, size), Image.BILINEAR)
        img = img.convert("RGB")
        path = os.path.join(folder, f"img_{i:03d}.png")
        img.save(path)
        paths.append(path)
    return paths


@pytest.fixture
def dataroot(tmp_path) -> str:
    root = tmp_path / "data"
    write_images(str(root / "trainA"), 4, 32, color=False, seed=1)
    write_images(str(root / "trainB"), 3, 32, color=True, seed=2)
    write_images(str(root / "testA"), 2, 32, color=False, seed=3)
    return str(root)


def tiny_flags(dataroot: str, checkpoints_dir: str, name: str = "tiny") -> List[str]:
    """Upstream flags at toy scale: 32 px crops, ngf/ndf 4, two epochs of 4 iterations."""
    return ["--dataroot", dataroot, "--checkpoints_dir", checkpoints_dir, "--name", name,
            "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--load_size", "36", "--crop_size", "32",
            "--n_epochs", "1", "--n_epochs_decay", "1", "--num_threads", "0", "--seed", "7",
            "--print_freq", "2", "--display_freq", "4", "--update_html_freq", "4",
            "--save_latest_freq", "100", "--save_epoch_freq", "1", "--pool_size", "3", "--device", "cpu"]


@pytest.fixture
def run_folder(tmp_path):
    """A run folder as train.py leaves it: opt.json and latest_net_G_A.pth (random weights, ngf 4)."""
    ck = tmp_path / "ck"
    opt = parse_train_options(["--dataroot", "unused", "--name", "tiny", "--checkpoints_dir", str(ck),
                               "--netG", "resnet_6blocks", "--ngf", "4", "--load_size", "64", "--crop_size", "64"])
    run_dir = ck / "tiny"
    run_dir.mkdir(parents=True)
    save_options(opt, str(run_dir))
    torch.manual_seed(0)
    net = define_G("resnet_6blocks", 3, 3, ngf=4)
    torch.save(net.state_dict(), run_dir / "latest_net_G_A.pth")
    return str(ck)
