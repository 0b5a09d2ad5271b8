"""test.py on volumes (CBZ/ZIP archives) and single files; data/comic_archive.py's safety rules."""

import io
import os
import random
import zipfile

import numpy as np
import pytest
from PIL import Image

import test as colorize_cli
from data.comic_archive import natural_key

COMIC_INFO = b'<?xml version="1.0"?>\n<ComicInfo><Series>Tiny</Series><Number>1</Number></ComicInfo>\n'


def _page_bytes(seed: int, size=(40, 56), fmt="PNG") -> bytes:
    """A gray page: flat paper with a few dark strokes (every channel equal, so chroma is 0)."""
    rng = np.random.default_rng(seed)
    page = np.full(size[::-1], 235, np.uint8)
    for _ in range(6):
        y, x = rng.integers(0, size[1] - 4), rng.integers(0, size[0] - 10)
        page[y:y + 3, x:x + 10] = 20
    buffer = io.BytesIO()
    Image.fromarray(page).convert("RGB").save(buffer, format=fmt)
    return buffer.getvalue()


def _chroma(data: bytes) -> float:
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)
    return float((rgb.max(axis=2) - rgb.min(axis=2)).mean())


def _args(src, out, run_folder, tmp_path, *extra):
    return ["--dataroot", str(src), "--name", "tiny", "--checkpoints_dir", run_folder, "--output_dir", str(out),
            "--results_dir", str(tmp_path / "res"), "--device", "cpu", *extra]


def _volume(path, members):
    """Write (name, bytes) members in the given order."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members:
            zf.writestr(name, data)


def test_a_volume_of_12_pages_keeps_order_names_metadata_and_a_failed_page(tmp_path, run_folder, caplog):
    names = [f"p{i}.png" for i in range(1, 11)] + ["p11 #extra.jpg", "p12.png"]
    pages = {name: _page_bytes(i, fmt="JPEG" if name.endswith(".jpg") else "PNG") for i, name in enumerate(names)}
    pages["p7.png"] = b"\x89PNG\r\n\x1a\n this page is corrupt"
    members = [("ComicInfo.xml", COMIC_INFO), *pages.items()]
    random.Random(0).shuffle(members)  # the stored order is not the page order
    src = tmp_path / "volumes"
    src.mkdir()
    _volume(src / "vol 1.cbz", members)
    out = tmp_path / "colored"
    with caplog.at_level("INFO"):
        assert colorize_cli.main(_args(src, out, run_folder, tmp_path)) == 1

    with zipfile.ZipFile(out / "vol 1.cbz") as zf:
        listed = zf.namelist()
        assert listed == ["ComicInfo.xml", *names]  # natural order: p2 before p10
        assert zf.read("ComicInfo.xml") == COMIC_INFO
        assert zf.read("p7.png") == pages["p7.png"]  # kept as it was
        for name in names:
            if name == "p7.png":
                continue
            data = zf.read(name)
            with Image.open(io.BytesIO(data)) as img:
                assert img.size == (40, 56) and img.format == ("JPEG" if name.endswith(".jpg") else "PNG"), name
            assert _chroma(data) > 2.0 and _chroma(pages[name]) < 1.0, name
    summary = [line for line in caplog.text.splitlines() if "colorized 11, failed 1" in line]
    assert len(summary) == 1 and "vol 1.cbz:p7.png" in summary[0]
    html = (tmp_path / "res" / "tiny" / "test_latest" / "index.html").read_text()
    assert "vol 1.cbz: p11 #extra.jpg" in html
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


def test_skip_existing_skips_a_finished_volume(tmp_path, run_folder, caplog):
    src = tmp_path / "volumes"
    src.mkdir()
    _volume(src / "a.cbz", [("1.png", _page_bytes(1))])
    _volume(src / "b.zip", [("1.png", _page_bytes(2))])
    out = tmp_path / "colored"
    assert colorize_cli.main(_args(src / "a.cbz", out, run_folder, tmp_path)) == 0
    before = (out / "a.cbz").stat().st_mtime_ns
    with caplog.at_level("INFO"):
        assert colorize_cli.main(_args(src, out, run_folder, tmp_path, "--skip_existing")) == 0
    assert "colorized 1, failed 0, skipped 1" in caplog.text
    assert (out / "a.cbz").stat().st_mtime_ns == before and (out / "b.zip").exists()


@pytest.mark.parametrize("case", ["traversal", "absolute", "bomb", "not_a_zip"])
def test_a_malicious_or_broken_volume_is_refused_in_one_line(tmp_path, run_folder, caplog, case):
    src = tmp_path / "in"
    src.mkdir()
    evil = src / "evil.cbz"
    if case == "traversal":
        _volume(evil, [("p1.png", _page_bytes(1)), ("../escaped.png", _page_bytes(2))])
    elif case == "absolute":
        _volume(evil, [("/tmp/escaped.png", _page_bytes(2))])
    elif case == "bomb":  # 64 MB of zeros deflate to ~64 KB; the limit below is 8 MB
        with zipfile.ZipFile(evil, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("p1.png", bytes(64 * 2**20))
    else:
        evil.write_bytes(b"PK\x03\x04 not really a zip")
    _volume(src / "good.cbz", [("p1.png", _page_bytes(3))])
    out = tmp_path / "out"
    with caplog.at_level("INFO"):
        code = colorize_cli.main(_args(src, out, run_folder, tmp_path, "--archive_size_limit", "8"))
    assert code == 1
    lines = [line for line in caplog.text.splitlines() if line.startswith("ERROR") or "failed " + str(evil) in line]
    refused = [line for line in lines if "failed " + str(evil) in line]
    assert len(refused) == 1, caplog.text
    assert {"traversal": "points outside", "absolute": "points outside", "bomb": "over the 8 MB limit",
            "not_a_zip": "not a readable CBZ/ZIP"}[case] in refused[0]
    assert sorted(os.listdir(out)) == [".colorized_with.json", "good.cbz"]  # the good volume is still done
    assert not list(tmp_path.rglob("escaped.png")) and not os.path.exists("/tmp/escaped.png")


def test_clashing_member_names_are_renamed_not_lost(tmp_path, run_folder):
    src = tmp_path / "v.cbz"
    with pytest.warns(UserWarning):  # zipfile itself warns about the duplicate
        _volume(src, [("P1.png", _page_bytes(1)), ("p1.png", _page_bytes(2)), ("p1.png", _page_bytes(3))])
    out = tmp_path / "out"
    assert colorize_cli.main(_args(src, out, run_folder, tmp_path)) == 0
    with zipfile.ZipFile(out / "v.cbz") as zf:
        assert sorted(name.casefold() for name in zf.namelist()) == ["p1 (2).png", "p1 (3).png", "p1.png"]


def test_utf8_names_without_the_utf8_flag_are_read_as_utf8(tmp_path, run_folder):
    name = "第1話/p1.png".encode("utf-8")
    placeholder = b"x" * (len(name) - len(b"p1.png")) + b"p1.png"  # ASCII: stored without the flag
    src = tmp_path / "v.cbz"
    _volume(src, [(placeholder.decode(), _page_bytes(1))])
    src.write_bytes(src.read_bytes().replace(placeholder, name))  # same length: the archive stays valid
    with zipfile.ZipFile(src) as zf:
        assert not zf.infolist()[0].flag_bits & 0x800
    out = tmp_path / "out"
    assert colorize_cli.main(_args(src, out, run_folder, tmp_path)) == 0
    with zipfile.ZipFile(out / "v.cbz") as zf:
        assert zf.namelist() == ["第1話/p1.png"]


def test_single_page_and_unsupported_archive(tmp_path, run_folder, capsys):
    page = tmp_path / "scan #1.png"
    page.write_bytes(_page_bytes(4))
    out = tmp_path / "out"
    assert colorize_cli.main(_args(page, out, run_folder, tmp_path)) == 0
    with Image.open(out / "scan #1.png") as img:
        assert img.size == (40, 56)
    rar = tmp_path / "vol.cbr"
    rar.write_bytes(b"Rar!\x1a\x07\x00")
    assert colorize_cli.main(_args(rar, tmp_path / "out2", run_folder, tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not supported" in err[0] and "vol.cbr" in err[0]
    assert not (tmp_path / "out2").exists()


def test_natural_order():
    names = ["p10.png", "p2.png", "P1.png", "p1b.png", "cover.png", "p01a.png"]
    assert sorted(names, key=natural_key) == ["cover.png", "P1.png", "p01a.png", "p1b.png", "p2.png", "p10.png"]
