"""Manga pages: the page composer (scripts/manga_pages.py), the page metrics on known answers
(evaluation/page_metrics.py), and the metrics in evaluate.py and in validation during training."""

import json
import os
import random
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from evaluation.page_metrics import (LABEL_BUBBLE, LABEL_FILL_BASE, LABEL_LETTERING, Fill, PageMasks, consistency,
                                     masks_folder_for, owners, region_scores, summarize)
from tests.conftest import tiny_flags, write_images

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import evaluate  # noqa: E402  (scripts/evaluate.py)
import manga_pages  # noqa: E402  (scripts/manga_pages.py)

RED = (220, 40, 40)


def fake_character(_name: str, combo: object, size: int, color: bool) -> Image.Image:
    """A stand-in drawing: a disc with a black outline, white inside (ink) or red (colored)."""
    image = Image.new("RGBA", (size, size), (255, 255, 255, 0))
    pad = size // 5
    ImageDraw.Draw(image).ellipse((pad, pad, size - pad, size - pad), fill=RED + (255,) if color else (255,) * 4,
                                  outline=(0, 0, 0, 255), width=max(2, size // 30))
    return image


def ink(name, combo, size):
    return fake_character(name, combo, size, False)


def colored(name, combo, size):
    return fake_character(name, combo, size, True)


@pytest.fixture(scope="module")
def font():
    return ImageFont.load_default(size=11)


@pytest.fixture(scope="module")
def page(font):
    """A planned page rendered both ways, with its labels."""
    plan = manga_pages.plan_page(192, {"dee": ["a", "b"], "dey": ["c"], "ringo": ["d"]}, random.Random("test/3"))
    bw = np.asarray(manga_pages.render_page(plan, False, ink, font))
    color = np.asarray(manga_pages.render_page(plan, True, colored, font))
    return plan, bw, color, manga_pages.page_labels(plan, ink, font)


# --------------------------------------------------------------------------------------------
# the composer


@pytest.mark.parametrize("seed", range(8))
def test_layouts_have_3_to_5_disjoint_panels_inside_the_page(seed):
    plan = manga_pages.plan_page(384, {"dee": ["a"], "dey": ["b"]}, random.Random(seed))
    assert 3 <= len(plan.panels) <= 5
    assert plan.height == round(384 * manga_pages.PAGE_ASPECT)
    covered = np.zeros((plan.height, plan.width), int)
    for x0, y0, x1, y1 in plan.panels:
        assert 0 < x0 < x1 < plan.width and 0 < y0 < y1 < plan.height
        covered[y0:y1, x0:x1] += 1
    assert covered.max() == 1  # gutters: panels never overlap
    assert {p.panel for p in plan.placements} == set(range(len(plan.panels)))  # every panel has someone
    assert len({p.character for p in plan.placements}) < len(plan.placements)  # the cast recurs


def test_pages_differ_only_where_a_colorist_works(page):
    plan, bw, color, labels = page
    assert bw.ndim == 2 and color.shape == bw.shape + (3,)
    bubble, text = labels == LABEL_BUBBLE, labels == LABEL_LETTERING
    assert bubble.any() and text.any()
    assert (bw[bubble] == 255).all() and (color[bubble] == 255).all()  # bubbles are paper in both
    assert bw[text].max() <= 128 and color[text].max() <= 128  # lettering: at least half-covered by ink
    fill = labels >= LABEL_FILL_BASE
    assert (bw[fill] >= 128).all()  # fills are light in the ink drawing ...
    assert np.abs(color[fill].astype(int) - RED).max() < 40  # ... and the character's color on the color page
    assert set(np.unique(labels[fill]) - LABEL_FILL_BASE) <= set(range(len(plan.placements)))


def test_tinted_panels_are_flat_in_color_and_screentone_in_bw(page):
    plan, bw, color, labels = page
    tinted = [i for i, t in enumerate(plan.tints) if t >= 0]
    assert tinted, "the fixture page should have a tinted panel"
    for i in tinted:
        x0, y0, x1, y1 = plan.panels[i]
        inner = (slice(y0 + 3, y1 - 3), slice(x0 + 3, x1 - 3))
        background = (labels[inner] == 0) & (bw[inner] > 0)  # not a character, not its outline
        background &= np.all(np.abs(color[inner].astype(int) - manga_pages.TINTS[plan.tints[i]]) <= 1, axis=-1)
        assert background.mean() > 0.3
        values = bw[inner][background]
        assert len(np.unique(values)) > 2 and values.std() > 10  # dots, not a flat gray
        assert (values > 200).mean() > 0.3
        # The tone prints the tint's lightness: its mean gray is the tint's BT.601 luma.
        luma = np.dot(manga_pages.TINTS[plan.tints[i]], (0.299, 0.587, 0.114))
        assert abs(values.mean() - luma) < 12


@pytest.mark.parametrize("coverage", [0.1, 0.3, 0.5])
def test_screentone_has_the_asked_ink_coverage(coverage):
    tone = manga_pages.screentone(80, 64, coverage, period=4.0)
    assert tone.shape == (64, 80) and 0.0 <= tone.min() and tone.max() <= 1.0
    assert 1.0 - tone.mean() == pytest.approx(coverage, abs=0.03)


def test_labels_json_names_each_fill(page):
    plan, _, _, _ = page
    table = manga_pages.placement_table(plan)
    assert [row["label"] for row in table] == [LABEL_FILL_BASE + k for k in range(len(plan.placements))]
    assert {row["character"] for row in table} <= {"dee", "dey", "ringo"}


# --------------------------------------------------------------------------------------------
# the metrics, on known answers


def _page_with_regions():
    """8 x 8 white page: rows 0-1 bubble, row 2 lettering (black in gt), rows 4-7 a fill (gray)."""
    gt = np.full((8, 8, 3), 255, np.uint8)
    labels = np.zeros((8, 8), np.uint8)
    labels[0:2] = LABEL_BUBBLE
    labels[2] = LABEL_LETTERING
    gt[2] = 0
    labels[4:8] = LABEL_FILL_BASE
    gt[4:8] = 128
    return gt, labels


def test_bubble_and_lettering_scores_have_known_values():
    gt, labels = _page_with_regions()
    pred = gt.copy()
    scores, _ = region_scores(pred, gt, labels, {LABEL_FILL_BASE: "dee"})
    assert scores["bubble_ciede2000"] == pytest.approx(0.0, abs=1e-3)
    assert scores["lettering_dL"] == pytest.approx(0.0, abs=1e-3)
    assert scores["fill_ciede2000"] == pytest.approx(0.0, abs=1e-3)
    # Half the bubble black: CIEDE2000(white, black) is 100 (dL 100 at mean L* 50, where S_L = 1).
    pred[0] = 0
    # Lettering turned white: L* goes from 0 to 100.
    pred[2] = 255
    scores, _ = region_scores(pred, gt, labels, {LABEL_FILL_BASE: "dee"})
    assert scores["bubble_ciede2000"] == pytest.approx(50.0, abs=0.01)
    assert scores["lettering_dL"] == pytest.approx(100.0, abs=0.01)


def test_fill_scores_and_chroma_move_the_right_way():
    gt, labels = _page_with_regions()
    gt[4:8] = RED
    gray = gt.copy()
    gray[4:8] = 128
    exact, _ = region_scores(gt, gt, labels, {LABEL_FILL_BASE: "dee"})
    flat, _ = region_scores(gray, gt, labels, {LABEL_FILL_BASE: "dee"})
    assert exact["fill_ciede2000"] == pytest.approx(0.0, abs=1e-3)
    assert flat["fill_ciede2000"] > 20
    assert flat["fill_chroma_pred"] == pytest.approx(0.0, abs=0.01)
    assert flat["fill_chroma_gt"] == exact["fill_chroma_pred"] > 50  # a saturated red


def test_absent_regions_score_none_and_small_fills_are_left_out():
    gt = np.full((8, 8, 3), 255, np.uint8)
    labels = np.zeros((8, 8), np.uint8)
    labels[0, 0] = LABEL_FILL_BASE  # one pixel: below MIN_FILL_PIXELS
    scores, fills = region_scores(gt, gt, labels, {LABEL_FILL_BASE: "dee"})
    assert scores["bubble_ciede2000"] is None and scores["lettering_dL"] is None
    assert fills == []


def test_consistency_is_the_rms_distance_to_the_centroid():
    fills = [Fill("dee", (0.0, 0.0), (1.0, 1.0)), Fill("dee", (6.0, 8.0), (1.0, 3.0)),
             Fill("dey", (2.0, 2.0), (0.0, 0.0))]  # dey has one placement: no spread
    table = consistency(fills)
    assert set(table) == {"dee"}
    assert table["dee"]["pred"] == pytest.approx(5.0)  # centroid (3, 4), both points 5 away
    assert table["dee"]["gt"] == pytest.approx(1.0)
    summary, _ = summarize([{"bubble_ciede2000": 1.0}, {"bubble_ciede2000": None}], fills)
    assert summary["bubble_ciede2000"] == 1.0  # a page without bubbles does not count
    assert summary["consistency_ratio_max"] == pytest.approx(5.0)


def test_owner_metrics_know_who_wears_what():
    truth = {"dee": (0.0, -20.0), "dey": (-10.0, 20.0), "priya": (20.0, 5.0)}
    placements = [(name, ab) for name, ab in truth.items() for _ in range(2)]
    # Everyone's true colors under one shared cast: the cast does not count.
    cast = [Fill(name, (ab[0] + 3.0, ab[1] + 7.0), ab) for name, ab in placements]
    assert owners(cast) == {"owner_accuracy": pytest.approx(1.0), "owner_contrast": pytest.approx(1.0)}
    # Half as strong, same directions: all owned right, half the contrast.
    faint = [Fill(name, (ab[0] / 2, ab[1] / 2), ab) for name, ab in placements]
    assert owners(faint) == {"owner_accuracy": pytest.approx(1.0), "owner_contrast": pytest.approx(0.5)}
    # One color for everyone: no contrast, and only the character nearest the average is owned right.
    one = [Fill(name, (4.0, 4.0), ab) for name, ab in placements]
    result = owners(one)
    assert result["owner_contrast"] == pytest.approx(0.0) and result["owner_accuracy"] == pytest.approx(1 / 3)
    # dee's and dey's colors swapped: both wrong, priya right.
    swapped = {"dee": truth["dey"], "dey": truth["dee"], "priya": truth["priya"]}
    assert owners([Fill(n, swapped[n], ab) for n, ab in placements])["owner_accuracy"] == pytest.approx(1 / 3)
    assert owners([Fill("dee", (1.0, 1.0), (2.0, 2.0))]) == {"owner_accuracy": None, "owner_contrast": None}
    summary, _ = summarize([], cast)
    assert summary["owner_accuracy"] == pytest.approx(1.0)


def test_masks_folder_sits_beside_the_ground_truth():
    assert masks_folder_for(os.path.join("d", "testB")) == os.path.join("d", "testMasks")
    assert masks_folder_for(os.path.join("d", "valB") + os.sep) == os.path.join("d", "valMasks")


# --------------------------------------------------------------------------------------------
# evaluate.py and validation


def write_page_set(root: str, page, phase: str = "test", count: int = 2) -> None:
    """<phase>A/B/Masks with `count` copies of the fixture page."""
    plan, bw, color, labels = page
    table = manga_pages.placement_table(plan)
    for folder in ("A", "B", "Masks"):
        os.makedirs(os.path.join(root, phase + folder), exist_ok=True)
    for i in range(count):
        name = f"page_{i:03d}"
        Image.fromarray(bw).save(os.path.join(root, phase + "A", name + ".png"))
        Image.fromarray(color).save(os.path.join(root, phase + "B", name + ".png"))
        Image.fromarray(labels).save(os.path.join(root, phase + "Masks", name + ".png"))
    with open(os.path.join(root, phase + "Masks", "labels.json"), "w") as f:
        json.dump({f"page_{i:03d}": table for i in range(count)}, f)


def test_evaluate_reports_page_metrics_where_masks_exist(tmp_path, page, capsys):
    write_page_set(str(tmp_path), page)
    out = tmp_path / "m.json"
    # The B/W page as the prediction: bubbles and lettering perfect, fills gray.
    assert evaluate.main(["--pred", str(tmp_path / "testA"), "--gt", str(tmp_path / "testB"), "--no_fid",
                          "--out", str(out)]) == 0
    summary = json.loads(out.read_text())
    assert summary["n_masked"] == 2
    assert summary["bubble_ciede2000"] == pytest.approx(0.0, abs=0.01)
    assert summary["lettering_dL"] == pytest.approx(0.0, abs=0.1)  # rounding of anti-aliased glyphs
    assert summary["fill_ciede2000"] > 10 and summary["fill_chroma_pred"] < 0.5
    assert "dee" in summary["consistency_per_character"] or "dey" in summary["consistency_per_character"]
    printed = capsys.readouterr().out
    assert "bubble_ciede2000" in printed and "page metrics on 2 of 2 pairs" in printed
    assert "fill_ciede2000" in (tmp_path / "m.csv").read_text().splitlines()[0]


def test_evaluate_without_masks_says_so_in_one_line(tmp_path, page, capsys):
    write_page_set(str(tmp_path), page)
    os.rename(tmp_path / "testMasks", tmp_path / "elsewhere")
    assert evaluate.main(["--pred", str(tmp_path / "testA"), "--gt", str(tmp_path / "testB"), "--no_fid"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "page metrics" in ln]
    assert len(lines) == 1 and "skipped" in lines[0] and "testMasks" in lines[0]
    assert evaluate.main(["--pred", str(tmp_path / "testA"), "--gt", str(tmp_path / "testB"), "--no_fid",
                          "--masks", str(tmp_path / "elsewhere")]) == 0
    assert "bubble_ciede2000" in capsys.readouterr().out


def test_validation_logs_page_metrics_from_the_val_split(tmp_path, page):
    from train import main as train_main

    data = tmp_path / "data"
    write_images(str(data / "trainA"), 4, 32, color=False, seed=1)
    write_images(str(data / "trainB"), 4, 32, color=True, seed=2)
    write_page_set(str(data), page, phase="val")
    flags = tiny_flags(str(data), str(tmp_path / "ck")) + [
        "--val_dataroot", str(data), "--val_phase", "val", "--val_freq", "4", "--load_size", "64"]
    assert train_main(flags) == 0
    events = EventAccumulator(str(tmp_path / "ck" / "tiny"), size_guidance={"scalars": 0}).Reload()
    tags = events.Tags()["scalars"]
    for tag in ("val/ciede2000", "val/bubble_ciede2000", "val/lettering_dL", "val/fill_ciede2000",
                "val/consistency_pred", "val/consistency_gt"):
        assert tag in tags, tag


def test_page_masks_refuse_a_broken_labels_file(tmp_path):
    from util.errors import UserError

    (tmp_path / "labels.json").write_text("{not json")
    with pytest.raises(UserError, match="labels.json"):
        PageMasks(str(tmp_path))


# --------------------------------------------------------------------------------------------
# flat fills at inference


def test_flat_fill_lays_one_layer_per_enclosed_region_under_the_scan():
    from inference.flat_fills import flat_fill

    scan = np.full((40, 40), 255, np.uint8)
    scan[:, 19:21] = 0  # a vertical line: two regions
    scan[:, 21:] = np.linspace(160, 250, 40).astype(np.uint8)[:, None]  # the right one shaded top to bottom
    rng = np.random.default_rng(0)
    layer = np.zeros((40, 40, 3))
    layer[:, :19] = (1.0, 0.6, 0.6)
    layer[:, 21:] = (0.5, 0.6, 1.0)
    layer *= 1 + rng.uniform(-0.03, 0.03, layer.shape)  # a noisy layer
    layer[:12, :19] = (0.3, 0.3, 0.3)  # a dark blotch over 30% of the left region
    colored = np.clip(np.round(scan[..., None] * layer), 0, 255).astype(np.uint8)
    out = np.asarray(flat_fill(Image.fromarray(colored), Image.fromarray(scan))).astype(float)
    left, right = np.s_[:, :18], np.s_[:, 22:]
    assert np.abs(out[left] - (255, 153, 153)).max() <= 8  # the median: the blotch and the noise are gone
    expected_right = scan[right][..., None] * np.median(layer[right].reshape(-1, 3), axis=0)
    assert np.abs(out[right] - expected_right).max() <= 3  # one layer, under the scan's own shading
    assert out[right][0, :, 0].mean() < out[right][-1, :, 0].mean() - 30  # the shading is kept
    assert (out[:, 18:22] == colored[:, 18:22]).all()  # ink and the pixels beside it untouched


def test_region_medians_match_numpy():
    from inference.flat_fills import region_medians

    rng = np.random.default_rng(1)
    regions = rng.integers(0, 6, 500)
    codes = rng.integers(0, 4096, 500)
    medians = region_medians(codes, regions, 8, 4096)
    for r in range(6):
        values = np.sort(codes[regions == r])
        assert medians[r] == values[(len(values) - 1) // 2]  # the lower median
    assert (medians[6:] == 0).all()  # regions without pixels
    with pytest.raises(ValueError, match="codes"):  # a code past the range would leak into the next region
        region_medians(np.array([5000, 1]), np.array([0, 1]), 2, 4096)
    with pytest.raises(ValueError, match="regions"):
        region_medians(np.array([5, 1]), np.array([0, 2]), 2, 4096)


def test_test_py_flat_fills_and_keep_bubbles_run_on_a_trained_model(dataroot, tmp_path):
    from test import main as test_main

    from train import main as train_main

    flags = tiny_flags(dataroot, str(tmp_path / "ck")) + ["--output_luma", "multiply"]
    assert train_main(flags) == 0
    pages_in = tmp_path / "pages"
    pages_in.mkdir()
    for name in os.listdir(os.path.join(dataroot, "testA")):
        Image.open(os.path.join(dataroot, "testA", name)).save(pages_in / name)
    manga_page = os.path.join(ROOT, "datasets", "demo_pages", "testA", "page_000.png")
    Image.open(manga_page).save(pages_in / "manga_page.png")
    labels = np.asarray(Image.open(manga_page.replace("testA", "testMasks")))
    out = tmp_path / "out"
    assert test_main(["--dataroot", str(pages_in), "--name", "tiny", "--checkpoints_dir", str(tmp_path / "ck"),
                      "--output_dir", str(out), "--flat_fills", "--keep_bubbles", "--device", "cpu",
                      "--num_threads", "0"]) == 0
    pages = sorted(p for p in os.listdir(out) if not p.startswith("."))
    assert len(pages) == len(os.listdir(pages_in))
    assert all(Image.open(out / p).size == (32, 32) for p in pages if p != "manga_page.png")
    colored = np.asarray(Image.open(out / "manga_page.png").convert("RGB")).astype(int)
    bubble = labels == LABEL_BUBBLE
    found = bubble & (colored == 255).all(axis=-1)
    assert found.sum() >= 0.85 * bubble.sum()  # the bubbles as scanned, whatever the tiny model did


# --------------------------------------------------------------------------------------------
# speech bubbles kept at inference


def lettered_bubble(text_box, font, vertical: bool = False) -> np.ndarray:
    """A 120 x 120 scan: an outlined ellipse holding `text_box` lettering (a row, or a column)."""
    scan = Image.new("L", (120, 120), 255)
    draw = ImageDraw.Draw(scan)
    draw.ellipse((10, 10, 110, 110), outline=0, width=2)
    draw.multiline_text((60, 60), "\n".join(text_box) if vertical else text_box, fill=0, font=font, anchor="mm",
                        align="center")
    return np.asarray(scan)


def test_speech_bubbles_are_found_in_rows_and_columns_of_lettering():
    from inference.speech_bubbles import find_speech_bubbles

    font = ImageFont.load_default(size=12)
    # A column of glyphs of one width stands for vertical Japanese lettering (square kana and kanji).
    for scan in (lettered_bubble("WHAT NOW?", font), lettered_bubble("HUH", font, vertical=True)):
        found = find_speech_bubbles(Image.fromarray(scan))
        assert found[30:90, 30:90].all() and not found[:5].any()  # the inside, not the paper around it


def test_faces_and_marks_on_a_white_panel_are_not_speech_bubbles():
    from inference.speech_bubbles import find_speech_bubbles

    face = Image.new("L", (120, 120), 255)
    draw = ImageDraw.Draw(face)
    draw.ellipse((10, 10, 110, 110), outline=0, width=2)
    for x in (40, 74):
        draw.ellipse((x, 45, x + 8, 55), fill=0)  # two eyes: aligned, the same size, but only two
    draw.arc((45, 70, 75, 90), 20, 160, fill=0, width=2)  # a mouth
    assert not find_speech_bubbles(face).any()
    panel = Image.new("L", (300, 300), 255)
    draw = ImageDraw.Draw(panel)
    draw.rectangle((5, 5, 294, 294), outline=0, width=3)  # a white panel ...
    draw.text((240, 30), "zzz", fill=0, font=ImageFont.load_default(size=10))  # ... with a small mark in it
    draw.ellipse((60, 100, 160, 260), outline=0, width=3)  # and a figure
    assert not find_speech_bubbles(panel).any()
    assert find_speech_bubbles(Image.fromarray(lettered_bubble("NO", ImageFont.load_default(size=12)))).sum() == 0


@pytest.mark.parametrize("split, recall", [("val", 0.95), ("test", 0.85)])
def test_speech_bubbles_on_the_demo_pages(split, recall):
    from inference.speech_bubbles import find_speech_bubbles

    root = os.path.join(ROOT, "datasets", "demo_pages")
    found_px = bubble_px = 0
    for name in sorted(os.listdir(os.path.join(root, split + "A"))):
        found = find_speech_bubbles(Image.open(os.path.join(root, split + "A", name)))
        labels = np.asarray(Image.open(os.path.join(root, split + "Masks", name)))
        bubble = labels == LABEL_BUBBLE
        found_px, bubble_px = found_px + (found & bubble).sum(), bubble_px + bubble.sum()
        assert not (found & (labels >= LABEL_FILL_BASE)).any(), name  # no character's fill is taken for one
    assert found_px >= recall * bubble_px  # bubbles of one or two letters are missed (module docstring)


def test_keep_bubbles_puts_the_scan_back_inside_bubbles_only():
    from inference.speech_bubbles import keep_bubbles

    scan = lettered_bubble("WAIT WHAT", ImageFont.load_default(size=12))
    colored = np.zeros((120, 120, 3), np.uint8)
    colored[...] = (250, 200, 120)
    out = np.asarray(keep_bubbles(Image.fromarray(colored), Image.fromarray(scan)))
    assert (out[30:90, 30:90] == scan[30:90, 30:90, None]).all()  # paper white and black letters
    assert (out[:5] == (250, 200, 120)).all()  # outside the bubble the model's color stays
    with pytest.raises(ValueError, match="differ in size"):
        keep_bubbles(Image.fromarray(colored[:60]), Image.fromarray(scan))
