"""scripts/prepare_dataset.py: raw scan folders -> trainA/trainB/testA/testB and a report."""

import hashlib
import io
import json
import os
import shutil
import sys
from typing import Dict, Tuple

import numpy as np
import pytest
from PIL import Image, ImageDraw

from data import create_dataset
from options.train_options import parse_train_options, size_rule

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import prepare_dataset as prep  # noqa: E402

PAPER = (246, 238, 222)  # slightly yellowed paper: a B/W scan saved as RGB is still B/W
PAGE = (200, 280)
# Small pages: 160 px wide outputs, and 96 px is the shortest page side that is kept.
SMALL = ["--width", "160", "--min_size", "96", "--workers", "1"]


def manga_page(seed: int, size: Tuple[int, int] = PAGE, color: bool = False, paper=PAPER) -> Image.Image:
    """Panels with outlined shapes and strokes, a screentone patch on B/W pages, flat fills on color ones."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(img)
    rows, y = int(rng.integers(2, 4)), 4
    for _ in range(rows):
        panel_h = (h - 8) // rows - 4
        cols, x = int(rng.integers(1, 3)), 4
        for _ in range(cols):
            panel_w = (w - 8) // cols - 4
            box = (x, y, x + panel_w, y + panel_h)
            fill = tuple(int(v) for v in rng.integers(60, 255, 3)) if color else None
            draw.rectangle(box, fill=fill, outline=(20, 20, 20), width=2)
            for _ in range(6):
                x0, x1 = sorted(int(v) for v in rng.integers(box[0], box[2], 2))
                y0, y1 = sorted(int(v) for v in rng.integers(box[1], box[3], 2))
                shape_fill = tuple(int(v) for v in rng.integers(0, 255, 3)) if color else (
                    (0, 0, 0) if rng.random() < 0.2 else None)
                draw.ellipse((x0, y0, x1, y1), fill=shape_fill, outline=(0, 0, 0))
                points = [(int(rng.integers(box[0], box[2])), int(rng.integers(box[1], box[3]))) for _ in range(2)]
                draw.line(points, fill=(0, 0, 0), width=1)
            x += panel_w + 4
        y += panel_h + 4
    if not color:
        pixels = np.asarray(img).copy()
        yy, xx = np.mgrid[0:h, 0:w]
        tone = (yy % 4 < 2) & (xx % 4 < 2) & (yy > h // 2) & (yy < h // 2 + 30) & (xx > 10) & (xx < w // 2)
        pixels[tone] = (40, 40, 40)
        img = Image.fromarray(pixels)
    return img


def _save(img: Image.Image, path, **kwargs) -> str:
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    img.save(str(path), **kwargs)
    return str(path)


def _jpeg(img: Image.Image, quality: int = 85) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def tree_digest(folder) -> Dict[str, str]:
    digests = {}
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                digests[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
    return digests


@pytest.fixture
def mixed(tmp_path) -> str:
    """One folder as users have it: B/W JPEGs, color PNGs, a spread, copies, broken and blank files."""
    src = tmp_path / "scans"
    for i in range(1, 5):
        _save(manga_page(i), src / "vol1" / f"p{i:02d}.jpg", quality=85)
    _save(manga_page(5, size=(2 * PAGE[0], PAGE[1])), src / "vol1" / "p05.jpg", quality=85)
    for i in range(1, 4):
        _save(manga_page(100 + i, color=True), src / "color" / f"c{i:02d}.png")
    os.makedirs(src / "vol1" / "reprint")
    shutil.copy(src / "vol1" / "p01.jpg", src / "vol1" / "reprint" / "p01.jpg")  # exact duplicate
    smaller = Image.open(src / "vol1" / "p02.jpg").resize((180, 252), Image.BICUBIC)
    _save(smaller, src / "vol1" / "reprint" / "p02_small.jpg", quality=70)  # near duplicate
    noise = np.random.default_rng(0).normal(0, 3, (PAGE[1], PAGE[0], 1))
    blank = np.clip(np.array(PAPER, dtype=np.float64) + noise, 0, 255).astype(np.uint8)
    _save(Image.fromarray(blank), src / "blank.png")
    _save(manga_page(6, size=(60, 84)), src / "vol1" / "tiny.png")  # would need 2.7x upscaling
    (src / "broken.png").write_bytes(np.random.default_rng(1).bytes(600))
    (src / "empty.jpg").write_bytes(b"")
    data = (src / "vol1" / "p03.jpg").read_bytes()
    (src / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (src / "notes.txt").write_text("scan credits")
    return str(src)


def _report(out) -> dict:
    with open(os.path.join(str(out), "report.json"), encoding="utf-8") as f:
        return json.load(f)


def _listing(out) -> Dict[str, list]:
    return {name: sorted(os.listdir(os.path.join(str(out), name))) for name in prep.OUTPUT_DIRS}


def test_mixed_folder_end_to_end(mixed, tmp_path, capsys):
    before = tree_digest(mixed)
    out = tmp_path / "datasets" / "manga"
    assert prep.main(["--mixed", mixed, "--out", str(out), "--split_spreads", "--test_fraction", "0", *SMALL]) == 0

    assert _listing(out) == {
        "trainA": ["vol1__p01.png", "vol1__p02.png", "vol1__p03.png", "vol1__p04.png",
                   "vol1__p05_1.png", "vol1__p05_2.png"],
        "trainB": ["color__c01.png", "color__c02.png", "color__c03.png"],
        "testA": [], "testB": []}
    report = _report(out)
    assert report["counts"] == {"trainA": 6, "trainB": 3, "testA": 0, "testB": 0}
    assert report["classification"]["B/W"] == 6 and report["classification"]["color"] == 3
    assert report["classification"]["color_threshold"] == 0.05
    scores = {p["path"]: p["color_score"] for p in report["pages"]}
    assert max(scores[os.path.join(mixed, "vol1", f"p0{i}.jpg")] for i in range(1, 5)) < 0.5
    assert min(scores[os.path.join(mixed, "color", f"c0{i}.png")] for i in range(1, 4)) > 2

    drops = {os.path.relpath(d["path"], mixed): d for d in report["dropped"]}
    assert {rel: d["reason"] for rel, d in drops.items()} == {
        "broken.png": "unreadable", "empty.jpg": "unreadable", "truncated.jpg": "unreadable",
        "blank.png": "blank", "vol1/tiny.png": "too_small",
        "vol1/reprint/p01.jpg": "duplicate", "vol1/reprint/p02_small.jpg": "near_duplicate"}
    assert drops["vol1/reprint/p01.jpg"]["duplicate_of"] == os.path.join(mixed, "vol1", "p01.jpg")
    assert drops["vol1/reprint/p02_small.jpg"]["duplicate_of"] == os.path.join(mixed, "vol1", "p02.jpg")
    assert "0 bytes" in drops["empty.jpg"]["detail"]
    assert report["dropped_by_reason"] == {"unreadable": 3, "too_small": 1, "blank": 1, "duplicate": 1,
                                           "near_duplicate": 1}
    assert report["spreads_split"] == 1
    assert report["files_ignored"] == [os.path.join(mixed, "notes.txt")]

    # every page one width; B/W written as grayscale, color as RGB
    for name in os.listdir(out / "trainA"):
        with Image.open(out / "trainA" / name) as img:
            assert img.mode == "L" and img.size[0] == 160
    for name in os.listdir(out / "trainB"):
        with Image.open(out / "trainB" / name) as img:
            assert img.mode == "RGB" and img.size == (160, 224)

    # manga reads right to left: _1 is the right half of the spread
    spread = Image.open(os.path.join(mixed, "vol1", "p05.jpg")).convert("L")
    first = np.asarray(Image.open(out / "trainA" / "vol1__p05_1.png"), dtype=np.float32)

    def difference(box):
        half = np.asarray(spread.crop(box).resize(first.shape[::-1], Image.BICUBIC), dtype=np.float32)
        return np.abs(half - first).mean()

    assert difference((PAGE[0], 0, 2 * PAGE[0], PAGE[1])) < 3 < difference((0, 0, PAGE[0], PAGE[1]))

    summary = capsys.readouterr().out
    assert "trainA 6" in summary and "trainB 3" in summary
    assert "unreadable 3" in summary and "near duplicate 1" in summary
    assert tree_digest(mixed) == before  # sources untouched, nothing added

    opt = parse_train_options(["--dataroot", str(out), "--load_size", "64", "--crop_size", "64"])
    ds = create_dataset(opt, size_rule(opt))
    assert len(ds.paths_A) == 6 and len(ds.paths_B) == 3
    item = ds[(0, 0)]
    assert item["A"].shape == (3, 64, 64) and item["B"].shape == (3, 64, 64)


def test_bw_and_color_folders_with_worker_pool_and_test_split(tmp_path, capsys):
    bw, color = tmp_path / "bw", tmp_path / "color"
    for i in range(6):
        _save(manga_page(i), bw / f"ch{i // 3}" / f"{i:03d}.jpg", quality=85)
    for i in range(4):
        _save(manga_page(50 + i, color=True), color / f"{i:03d}.png")
    # a colored page filed under B/W stays B/W (written gray) but is listed
    _save(manga_page(60, color=True), bw / "ch9" / "oops.png")
    (color / "zero.png").write_bytes(b"")
    before = tree_digest(tmp_path)

    def run(out) -> dict:
        args = ["--bw", str(bw), "--color", str(color), "--out", str(out), "--test_fraction", "0.25",
                "--seed", "3", *SMALL]
        args[args.index("--workers") + 1] = "2"
        assert prep.main(args) == 0
        return _report(out)

    report = run(tmp_path / "out")
    counts = report["counts"]
    assert counts["trainA"] + counts["testA"] == 7 and counts["trainB"] + counts["testB"] == 4
    assert counts["testA"] == 2 and counts["testB"] == 1  # round(0.25 * n), at least 1
    assert [d["path"] for d in report["dropped"]] == [str(color / "zero.png")]
    assert [m["path"] for m in report["classification"]["mismatched"]] == [str(bw / "ch9" / "oops.png")]
    assert "ch9__oops.png" in os.listdir(tmp_path / "out" / "trainA") + os.listdir(tmp_path / "out" / "testA")
    assert tree_digest(tmp_path / "bw") == {k[3:]: v for k, v in before.items() if k.startswith("bw/")}

    again = run(tmp_path / "out2")  # same seed, same split
    assert [p["output"] for p in again["pages"]] == [p["output"] for p in report["pages"]]


def test_chroma_rule_tint_jpeg_and_stamps():
    def score(img: Image.Image) -> float:
        area, share = prep.color_stats(np.asarray(prep.analysis_copy(img)))
        return prep.color_score(area, share, 0.05)

    page = manga_page(1, size=(600, 840))
    assert score(page) == 0.0
    assert score(_jpeg(manga_page(1, size=(600, 840), paper=(240, 225, 180)), quality=75)) < 0.5  # yellowed
    sepia = np.asarray(page, dtype=np.float32) * np.array([1.0, 0.93, 0.8], dtype=np.float32)
    assert score(_jpeg(Image.fromarray(sepia.astype(np.uint8)))) < 0.5  # the cast tints the ink too
    stamped = page.copy()
    ImageDraw.Draw(stamped).ellipse((20, 20, 60, 60), fill=(220, 30, 30))
    assert score(_jpeg(stamped)) < 1.0
    assert score(_jpeg(manga_page(2, size=(600, 840), color=True), quality=60)) > 2
    # a colored figure on much white paper: little colored area, but most of what is drawn
    figure = Image.new("RGB", (300, 420), "white")
    ImageDraw.Draw(figure).ellipse((120, 150, 180, 230), fill=(240, 190, 160), outline=(0, 0, 0), width=2)
    assert score(figure) > 1.0


def test_perceptual_hash_near_and_far():
    page = manga_page(1)
    assert prep.hamming(prep.dhash(page), prep.dhash(_jpeg(page.resize((180, 252)), quality=60))) <= 4
    assert min(prep.hamming(prep.dhash(manga_page(i)), prep.dhash(manga_page(j)))
               for i in range(4) for j in range(i + 1, 4)) > 8
    values = np.array([0, 1, 2**63, 2**64 - 1], dtype=np.uint64)
    assert prep.popcount64(values).tolist() == [0, 1, 1, 64]


def test_output_names_never_collide():
    keys = [("a/p1.jpg", 0), ("a/p1.png", 0), ("a__p1.jpg", 0), ("b/s.jpg", 1), ("b/s.jpg", 2), ("b/s_1.jpg", 0)]
    stems = prep.output_stems(keys)
    assert len(set(stems.values())) == len(keys)
    assert stems[("b/s.jpg", 2)] == "b__s_2"


def _src(tmp_path, color_pages: int = 1, bw_pages: int = 1) -> str:
    src = tmp_path / "src"
    for i in range(bw_pages):
        _save(manga_page(i), src / f"bw{i}.jpg", quality=85)
    for i in range(color_pages):
        _save(manga_page(10 + i, color=True), src / f"c{i}.png")
    return str(src)


@pytest.mark.parametrize("case", ["out_inside_source", "source_inside_out", "not_empty", "empty_source",
                                  "no_color_page", "all_unreadable", "missing", "no_mode", "overlap"])
def test_user_errors_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, case):
    src = _src(tmp_path)
    out = str(tmp_path / "out")
    args = ["--mixed", src, "--out", out]
    expected = {"out_inside_source": "is inside --mixed", "source_inside_out": "is inside --out",
                "not_empty": "pass --overwrite", "empty_source": "no images", "no_color_page": "no color page",
                "all_unreadable": "no usable page in --bw", "missing": "folder not found",
                "no_mode": "give --mixed DIR", "overlap": "overlap"}[case]
    if case == "out_inside_source":
        args = ["--mixed", src, "--out", os.path.join(src, "dataset")]
    elif case == "source_inside_out":
        out = str(tmp_path)
        args = ["--mixed", src, "--out", out]
    elif case == "not_empty":
        os.makedirs(out)
        open(os.path.join(out, "keep.txt"), "w").close()
    elif case == "empty_source":
        os.makedirs(tmp_path / "nothing" / "sub")
        (tmp_path / "nothing" / "readme.txt").write_text("no pages")
        args = ["--mixed", str(tmp_path / "nothing"), "--out", out]
    elif case == "no_color_page":
        shutil.rmtree(src)
        src = _src(tmp_path, color_pages=0, bw_pages=2)
    elif case == "all_unreadable":
        os.makedirs(tmp_path / "bad")
        (tmp_path / "bad" / "a.jpg").write_bytes(b"not a jpeg")
        args = ["--bw", str(tmp_path / "bad"), "--color", src, "--out", out]
    elif case == "missing":
        args = ["--mixed", str(tmp_path / "nope"), "--out", out]
    elif case == "no_mode":
        args = ["--bw", src, "--out", out]
    elif case == "overlap":
        args = ["--bw", src, "--color", os.path.join(src), "--out", out]
    before = tree_digest(tmp_path)

    assert prep.main([*args, *SMALL]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # log lines (e.g. the unreadable file) may come first
    assert err[-1].startswith("prepare_dataset.py: error: ") and expected in err[-1]
    assert sum("prepare_dataset.py: error" in line for line in err) == 1 and not any("Traceback" in line for line in err)
    assert tree_digest(tmp_path) == before  # nothing written, nothing removed
    if case not in ("not_empty", "source_inside_out"):
        assert not os.path.exists(out)


def test_overwrite_replaces_only_our_outputs(tmp_path, capsys):
    src = _src(tmp_path, color_pages=2, bw_pages=2)
    out = tmp_path / "out"
    assert prep.main(["--mixed", src, "--out", str(out), *SMALL]) == 0
    (out / "trainA" / "stale.png").write_bytes(b"old")
    (out / "notes.md").write_text("mine")
    (out / (prep.STAGING_PREFIX + "killed")).mkdir()  # as a killed run leaves it
    assert prep.main(["--mixed", src, "--out", str(out), *SMALL]) == 2  # non-empty without --overwrite
    assert (out / "trainA" / "stale.png").exists()
    assert prep.main(["--mixed", src, "--out", str(out), "--overwrite", *SMALL]) == 0
    assert not (out / "trainA" / "stale.png").exists() and (out / "notes.md").read_text() == "mine"
    assert sorted(os.listdir(out)) == ["notes.md", "report.json", "testA", "testB", "trainA", "trainB"]

    # a failing run with --overwrite leaves the earlier dataset as it was
    earlier = tree_digest(out)
    assert prep.main(["--mixed", src, "--out", str(out), "--overwrite", *SMALL, "--width", "1000"]) == 2
    assert tree_digest(out) == earlier
