"""No lost work: one bad page never costs the others, no output is overwritten unasked, training
stops before a non-finite step reaches a checkpoint, and resume continues at the same sample."""

import html.parser
import os
import urllib.parse

import numpy as np
import pytest
import torch
from PIL import Image

import test as colorize_cli
from models.networks import define_G
from options.train_options import parse_train_options, save_options


def _page(path, size, seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3)).astype(np.uint8)).convert(mode)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path)
    return path


def _run_folder(root, name="tiny", seed=0):
    """A run folder as train.py leaves it (opt.json and random G_A weights, ngf 4)."""
    opt = parse_train_options(["--dataroot", "unused", "--name", name, "--checkpoints_dir", str(root),
                               "--netG", "resnet_6blocks", "--ngf", "4"])
    run_dir = root / name
    run_dir.mkdir(parents=True)
    save_options(opt, str(run_dir))
    torch.manual_seed(seed)
    torch.save(define_G("resnet_6blocks", 3, 3, ngf=4).state_dict(), run_dir / "latest_net_G_A.pth")
    return str(root)


def _colorize(src, ck, out, results, *extra, name="tiny"):
    return colorize_cli.main(["--dataroot", str(src), "--name", name, "--checkpoints_dir", ck, "--output_dir",
                              str(out), "--results_dir", str(results), "--precision", "fp32", *extra])


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (200, 2), (5, 7)])
def test_pages_smaller_than_the_network_are_padded_and_cropped_back(tmp_path, size, caplog):
    ck = _run_folder(tmp_path / "ck")
    src = tmp_path / "in"
    _page(str(src / "a.png"), (40, 40))
    _page(str(src / "tiny.png"), size)
    _page(str(src / "z.png"), (36, 44))
    with caplog.at_level("INFO"):
        assert _colorize(src, ck, tmp_path / "out", tmp_path / "r") == 0
    for name, expected in (("a.png", (40, 40)), ("tiny.png", size), ("z.png", (36, 44))):
        with Image.open(tmp_path / "out" / name) as img:
            assert img.size == expected
    assert "colorized 3, failed 0" in caplog.text
    assert (tmp_path / "r" / "tiny" / "test_latest" / "index.html").is_file()


def test_any_failure_of_one_page_is_one_line_and_the_rest_is_done(tmp_path, caplog, monkeypatch):
    ck = _run_folder(tmp_path / "ck")
    src = tmp_path / "in"
    for name, size in (("a.png", (32, 32)), ("b.png", (33, 32)), ("c.png", (32, 32))):
        _page(str(src / name), size)
    real = colorize_cli.Colorizer.colorize

    def flaky(self, page):  # any exception type, raised for b.png only
        if page.size == (33, 32):
            raise ValueError("Expected more than 1 spatial element when training")
        return real(self, page)
    monkeypatch.setattr(colorize_cli.Colorizer, "colorize", flaky)
    with caplog.at_level("INFO"):
        assert _colorize(src, ck, tmp_path / "out", tmp_path / "r") == 1
    assert f"failed {src / 'b.png'}: ValueError: Expected more than 1 spatial element" in caplog.text
    assert "colorized 2, failed 1" in caplog.text
    assert sorted(p for p in os.listdir(tmp_path / "out") if p.endswith(".png")) == ["a.png", "c.png"]
    html = (tmp_path / "r" / "tiny" / "test_latest" / "index.html").read_text()
    assert "a.png" in html and "c.png" in html


@pytest.mark.parametrize("use_output_dir", [True, False])
def test_inputs_with_the_same_name_keep_their_extension(tmp_path, caplog, use_output_dir):
    ck = _run_folder(tmp_path / "ck")
    src = tmp_path / "in"
    _page(str(src / "p001.jpg"), (32, 32), seed=1)
    _page(str(src / "p001.png"), (40, 32), seed=2)
    for i in (2, 3, 4):
        _page(str(src / f"p00{i}.png"), (32, 32), seed=i)
    out = tmp_path / "out"
    with caplog.at_level("INFO"):
        code = colorize_cli.main(["--dataroot", str(src), "--name", "tiny", "--checkpoints_dir", ck,
                                  "--results_dir", str(tmp_path / "r"), "--precision", "fp32",
                                  *(["--output_dir", str(out)] if use_output_dir else [])])
    assert code == 0 and "colorized 5, failed 0" in caplog.text
    images = out if use_output_dir else tmp_path / "r" / "tiny" / "test_latest" / "images"
    written = sorted(p for p in os.listdir(images) if not p.startswith("."))
    assert written == ["p001.jpg.png", "p001.png.png", "p002.png", "p003.png", "p004.png"]
    with Image.open(images / "p001.png.png") as img:
        assert img.size == (40, 32)
    html = (tmp_path / "r" / "tiny" / "test_latest" / "index.html").read_text()
    assert html.count("p001.jpg.png") == 1 and html.count("p001.png.png") == 1


def test_names_that_clash_even_with_extensions_are_refused_at_start_up(tmp_path, capsys):
    ck = _run_folder(tmp_path / "ck")
    src = tmp_path / "in"
    _page(str(src / "P001.png"), (32, 32))
    _page(str(src / "p001.PNG"), (32, 32))
    assert _colorize(src, ck, tmp_path / "out", tmp_path / "r") == 2
    err = capsys.readouterr().err.strip()
    assert "would both be written as" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_another_models_results_are_not_overwritten_unasked(tmp_path, capsys):
    ck_a, ck_b = _run_folder(tmp_path / "ck_a", seed=0), _run_folder(tmp_path / "ck_b", seed=1)
    src, out = tmp_path / "in", tmp_path / "out"
    _page(str(src / "a.png"), (32, 32))
    assert _colorize(src, ck_a, out, tmp_path / "r") == 0
    first = (out / "a.png").read_bytes()
    assert _colorize(src, ck_a, out, tmp_path / "r") == 0  # the same weights again: allowed
    assert _colorize(src, ck_b, out, tmp_path / "r2") == 2
    err = capsys.readouterr().err.strip()
    assert "other weights" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert (out / "a.png").read_bytes() == first
    assert _colorize(src, ck_b, out, tmp_path / "r2", "--overwrite") == 0
    assert (out / "a.png").read_bytes() != first


def test_results_of_unknown_origin_are_kept_unless_asked(tmp_path, capsys):
    ck = _run_folder(tmp_path / "ck")
    src, out = tmp_path / "in", tmp_path / "out"
    _page(str(src / "a.png"), (32, 32))
    _page(str(out / "a.png"), (32, 32), seed=9)  # e.g. written by an older version or another tool
    before = (out / "a.png").read_bytes()
    assert _colorize(src, ck, out, tmp_path / "r") == 2
    assert "unknown weights" in capsys.readouterr().err
    assert (out / "a.png").read_bytes() == before


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        self.found += [value for key, value in attrs if key in ("href", "src")]


@pytest.mark.parametrize("name", ["page #1.png", "what?.png", "100%.png", "ünïcödé ページ.png", "a&b;c'd.png"])
def test_any_file_name_works_end_to_end_in_test_py_and_its_html(tmp_path, name):
    ck = _run_folder(tmp_path / "ck")
    src = tmp_path / "in"
    _page(str(src / name), (32, 32))
    results = tmp_path / "r"
    assert _colorize(src, ck, tmp_path / "out", results) == 0
    page_dir = results / "tiny" / "test_latest"
    parser = _Links()
    parser.feed((page_dir / "index.html").read_text(encoding="utf-8"))
    assert len(parser.found) == 4  # input and output: thumbnail and full size
    for link in parser.found:
        assert (page_dir / urllib.parse.unquote(link)).resolve().is_file(), link
