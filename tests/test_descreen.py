"""Descreening (data/descreen.py): tone becomes its mean gray; lines, lettering and paper stay;
a model trained with --descreen gets descreened pages in test.py."""

import os
import sys
import test as colorize_cli

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from data.descreen import descreen, screen_pitch, tone_mask
from inference.generator_loader import load_generator
from models.networks import define_G
from options.train_options import parse_train_options, save_options

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import manga_pages  # noqa: E402  (scripts/manga_pages.py)

COVERAGE = 0.15


def toned_page() -> np.ndarray:
    """120 x 160 uint8: a screentone panel (left, 15% ink) crossed by a 3 px line, paper on the right."""
    page = np.full((120, 160), 255, dtype=np.uint8)
    tone = manga_pages.screentone(80, 120, COVERAGE, period=4.0)
    page[:, :80] = np.round(tone * 255).astype(np.uint8)
    page[58:61, 10:150] = 0  # an ink line through tone and paper
    return page


@pytest.mark.parametrize("period", [4.0, 6.0, 8.0])
@pytest.mark.parametrize("coverage", [0.08, COVERAGE, 0.3, 0.4])
def test_tone_becomes_its_mean_gray(period, coverage):
    page = np.full((120, 160), 255, dtype=np.uint8)
    page[:, :80] = np.round(manga_pages.screentone(80, 120, coverage, period) * 255).astype(np.uint8)
    # screentone()'s 45-degree lattice puts a dot's nearest neighbours period / sqrt(2) away.
    assert screen_pitch(page / 255.0) == pytest.approx(period / np.sqrt(2), rel=0.15)
    out = np.asarray(descreen(Image.fromarray(page)), dtype=np.float64) / 255.0
    inner = out[10:-10, 10:70]  # away from the panel's edge
    assert abs(inner.mean() - (1.0 - coverage)) < 0.02
    assert inner.std() < 0.03  # the dots are gone (the screen's own std is 0.25 to 0.45)
    assert np.array_equal(out[:, 90:], page[:, 90:] / 255.0)  # paper untouched


def test_lines_and_paper_stay_exactly():
    page = toned_page()
    out = np.asarray(descreen(Image.fromarray(page)))
    assert np.array_equal(out[58:61, 10:150], page[58:61, 10:150])
    assert np.array_equal(out[:, 84:], page[:, 84:])
    assert 0.6 < tone_mask(page / 255.0, screen_pitch(page / 255.0))[:, :80].mean() < 1.0


def test_lettering_and_line_art_without_tone_are_unchanged():
    page = Image.new("L", (200, 120), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=11)
    draw.multiline_text((10, 10), "WAIT... WHY?!\nHUH? NO! i.j:;\nOH... OK...", fill=0, font=font)
    draw.ellipse((100, 40, 180, 110), outline=0, width=2)
    for x in range(110, 170, 12):  # a few isolated specks: eyes, stars, not a screen
        draw.point((x, 75), fill=0)
    assert np.array_equal(np.asarray(descreen(page)), np.asarray(page))


def test_rgb_scans_come_back_rgb_with_neutral_tone():
    rgb = Image.fromarray(toned_page()).convert("RGB")
    out = np.asarray(descreen(rgb), dtype=np.int16)
    assert out.shape == (120, 160, 3)
    assert np.abs(out[..., 0] - out[..., 1]).max() == 0 and np.abs(out[..., 1] - out[..., 2]).max() == 0


def _run_folder(tmp_path, extra):
    ck = tmp_path / "ck"
    opt = parse_train_options(["--dataroot", "unused", "--name", "tiny", "--checkpoints_dir", str(ck),
                               "--netG", "resnet_6blocks", "--ngf", "4", "--input_nc", "1",
                               "--output_luma", "multiply_headroom", "--lambda_identity", "0", *extra])
    run_dir = ck / "tiny"
    run_dir.mkdir(parents=True)
    save_options(opt, str(run_dir))
    torch.manual_seed(0)
    torch.save(define_G("resnet_6blocks", 1, 3, ngf=4).state_dict(), run_dir / "latest_net_G_A.pth")
    return str(ck)


@pytest.mark.parametrize("descreened", [False, True])
def test_test_py_descreens_for_a_model_trained_on_descreened_pages(tmp_path, descreened):
    ck = _run_folder(tmp_path, ["--descreen"] if descreened else [])
    assert load_generator(os.path.join(ck, "tiny"), "latest", "G_A", None, torch.device("cpu")).descreen is descreened
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    Image.fromarray(toned_page()).save(src / "p.png")
    assert colorize_cli.main(["--dataroot", str(src), "--name", "tiny", "--checkpoints_dir", ck, "--output_dir",
                              str(out), "--results_dir", str(tmp_path / "r"), "--precision", "fp32"]) == 0
    luma = np.asarray(Image.open(out / "p.png").convert("L"), dtype=np.float64)[10:50, 10:70]
    scan = toned_page()[10:50, 10:70]
    # Under a multiply the screen's dots stay dark unless the page was descreened first.
    ratio = luma[scan < 128].mean() / luma[scan == 255].mean()
    assert (ratio > 0.85) if descreened else (ratio < 0.5), ratio
