"""No lost work: one bad page never costs the others, no output is overwritten unasked, training
stops before a non-finite step reaches a checkpoint, and resume continues at the same sample."""

import html.parser
import json
import os
import signal
import subprocess
import sys
import test as colorize_cli
import time
import urllib.parse

import numpy as np
import pytest
import torch
from conftest import ROOT, tiny_flags, write_images
from PIL import Image

import train
from inference.colorizer import Colorizer
from models.networks import define_G
from options.train_options import parse_train_options, save_options
from util.checkpoint import load_checkpoint
from util.rng import SEED_DERIVATION


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
    real = Colorizer.colorize

    def flaky(self, page):  # any exception type, raised for b.png only
        if page.size == (33, 32):
            raise ValueError("Expected more than 1 spatial element when training")
        return real(self, page)
    monkeypatch.setattr(Colorizer, "colorize", flaky)
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


# --------------------------------------------------------------------------------------------
# training

def _train(argv):
    return train.main(argv)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _all_finite(state):
    tensors = state["networks"].values() if "networks" in state else [state]
    return all(bool(torch.isfinite(t).all()) for sd in tensors for t in sd.values() if t.is_floating_point())


def test_a_non_finite_loss_stops_the_run_and_keeps_the_good_checkpoints(dataroot, tmp_path, capsys):
    ck = str(tmp_path / "ck")
    flags = tiny_flags(dataroot, ck)
    assert _train(flags + ["--n_epochs_decay", "0"]) == 0  # one good epoch
    run_dir = tmp_path / "ck" / "tiny"
    good = {name: (run_dir / name).read_bytes() for name in
            ("latest_checkpoint.pth", "latest_net_G_A.pth", "1_checkpoint.pth")}
    capsys.readouterr()
    assert _train(flags + ["--continue_train", "--lr", "1e20", "--n_epochs", "3"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("train.py: error: step ") and len(err.splitlines()) == 1
    assert "not finite" in err or "nan" in err or "inf" in err
    for name, data in good.items():
        assert (run_dir / name).read_bytes() == data, f"{name} was overwritten"
    assert all(_all_finite(_weights(p)) for p in run_dir.glob("*.pth"))
    # The last good checkpoint is still the one --continue_train picks up.
    assert _train(flags + ["--continue_train", "--n_epochs", "2"]) == 0
    assert load_checkpoint(str(run_dir / "latest_checkpoint.pth"))["epoch"] == 3


def test_resuming_a_finished_run_says_so_and_touches_nothing(dataroot, tmp_path, capsys):
    ck = str(tmp_path / "ck")
    flags = tiny_flags(dataroot, ck)
    assert _train(flags) == 0
    run_dir = tmp_path / "ck" / "tiny"
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.rglob("*")}
    capsys.readouterr()
    assert _train(flags + ["--continue_train"]) == 2
    err = capsys.readouterr().err.strip()
    assert "already finished its 2 epochs" in err and "--n_epochs_decay" in err and len(err.splitlines()) == 1
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.rglob("*")} == before


@pytest.mark.parametrize("mid_epoch", [False, True])
def test_resume_with_another_batch_size_continues_at_the_same_sample(tmp_path, mid_epoch, caplog):
    root = tmp_path / "data"
    write_images(str(root / "trainA"), 6, 32, color=False, seed=1)
    write_images(str(root / "trainB"), 6, 32, color=True, seed=2)
    ck = str(tmp_path / "ck")
    base = tiny_flags(str(root), ck) + ["--n_epochs", "2", "--n_epochs_decay", "0"]
    # Two epochs of 6 samples: batch 2 for the first 4 (or all 6) samples, then batch 1.
    first = ["--batch_size", "2", "--save_by_iter", "--save_latest_freq", "2"] if mid_epoch else \
        ["--batch_size", "2", "--n_epochs", "1"]
    assert _train(base + first) == 0
    resume = ["--load_iter", "2"] if mid_epoch else []
    with caplog.at_level("INFO"):
        assert _train(base + ["--continue_train", "--batch_size", "1", *resume]) == 0
    state = load_checkpoint(str(tmp_path / "ck" / "tiny" / "latest_checkpoint.pth"))
    # 4 samples at batch 2 (2 steps), then 2 + 6 at batch 1; or 3 steps, then 6.
    assert state["global_step"] == (2 + 8 if mid_epoch else 3 + 6)
    assert (state["epoch"], state["epoch_samples"]) == (2, 6)
    assert ("resuming at epoch 1, sample 4 of 6" if mid_epoch else "resuming at epoch 2, sample 0 of 6") in caplog.text
    # The options record stays as the run began; the resume appends what it changed.
    run_dir = tmp_path / "ck" / "tiny"
    assert json.loads((run_dir / "opt.json").read_text())["batch_size"] == 2
    changes = [json.loads(line) for line in (run_dir / "opt_changes.jsonl").read_text().splitlines()]
    assert len(changes) == 1 and changes[0]["changed"]["batch_size"] == [2, 1]
    assert ("n_epochs" in changes[0]["changed"]) == (not mid_epoch) and "seed" not in changes[0]["changed"]


@pytest.mark.parametrize("preprocess,skipped", [
    ("scale_width_and_crop", []),  # every crop is 32 px (small images are scaled up to it)
    ("none", ["strip.png", "tiny.png"]),  # 200 x 20 and 3 x 3: the PatchGAN needs 24 px
    ("scale_width", ["strip.png"]),  # 36 x 4 at --load_size 36; 3 x 3 becomes 36 x 36
])
def test_images_too_small_or_thin_are_skipped_by_name_and_the_run_completes(tmp_path, preprocess, skipped, caplog):
    root = tmp_path / "data"
    write_images(str(root / "trainA"), 3, 40, color=False, seed=1)
    write_images(str(root / "trainB"), 3, 40, color=True, seed=2)
    for folder in ("trainA", "trainB"):
        Image.new("RGB", (200, 20), (128, 128, 128)).save(root / folder / "strip.png")
        Image.new("RGB", (3, 3), (128, 128, 128)).save(root / folder / "tiny.png")
    flags = tiny_flags(str(root), str(tmp_path / "ck")) + ["--preprocess", preprocess, "--load_size", "36",
                                                           "--crop_size", "32", "--display_freq", "1"]
    with caplog.at_level("WARNING"):
        assert _train(flags) == 0
    assert load_checkpoint(str(tmp_path / "ck" / "tiny" / "latest_checkpoint.pth"))["epoch"] == 2
    warned = {line.split("skipping ")[1].split(":")[0] for line in caplog.text.splitlines()
              if "skipping " in line and "probe" not in line}
    assert warned == {str(root / folder / name) for folder in ("trainA", "trainB") for name in skipped}
    # No testA: the probe pages come from trainA, under the same rule at the probes' scale.
    assert preprocess == "none" or f"skipping probe page {root / 'trainA' / 'strip.png'}" in caplog.text


def test_a_folder_of_only_unusable_images_stops_in_one_line(tmp_path, capsys):
    root = tmp_path / "data"
    for folder in ("trainA", "trainB"):
        (root / folder).mkdir(parents=True)
        Image.new("RGB", (3, 3), (128, 128, 128)).save(root / folder / "tiny.png")
    assert _train(tiny_flags(str(root), str(tmp_path / "ck")) + ["--preprocess", "none"]) == 2
    err = capsys.readouterr().err.strip()
    assert "tiny" not in err or "at least 24 px" in err
    assert "none of its images is large enough" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "ck" / "tiny").exists()


def test_sigkill_while_a_checkpoint_is_written_then_resume_matches_an_uninterrupted_run(dataroot, tmp_path):
    """A real train.py process, killed with SIGKILL the moment a checkpoint's temporary file appears."""
    flags = tiny_flags(dataroot, str(tmp_path / "straight")) + ["--save_latest_freq", "1", "--n_epochs", "2",
                                                                "--n_epochs_decay", "1"]
    assert _train(flags) == 0
    reference = load_checkpoint(str(tmp_path / "straight" / "tiny" / "latest_checkpoint.pth"))

    killed_flags = [str(tmp_path / "killed") if f == str(tmp_path / "straight") else f for f in flags]
    run_dir = tmp_path / "killed" / "tiny"
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *killed_flags], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen, deadline = 0, time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            temporary = [e.name for e in os.scandir(run_dir)] if run_dir.is_dir() else []
            if any(n.startswith(".latest_checkpoint.pth.") and n.endswith(".tmp") for n in temporary):
                seen += 1
                if seen == 5:  # mid-run, with a good latest checkpoint already on disk
                    proc.send_signal(signal.SIGKILL)
                    break
                while proc.poll() is None and any(e.name.startswith(".latest_checkpoint.pth.")
                                                  for e in os.scandir(run_dir)):
                    pass  # wait for this save to finish: count each save once
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-save"
    interrupted = load_checkpoint(str(run_dir / "latest_checkpoint.pth"))  # the last complete save
    assert 0 < interrupted["global_step"] < reference["global_step"]

    assert _train(killed_flags + ["--continue_train"]) == 0
    final = load_checkpoint(str(run_dir / "latest_checkpoint.pth"))
    assert final["global_step"] == reference["global_step"]
    for net, weights in reference["networks"].items():
        assert all(torch.equal(weights[k], final["networks"][net][k]) for k in weights), net


@pytest.mark.parametrize("built,fits", [
    (dict(net_g="resnet_6blocks", ngf=8, upsampling="resize", global_context=True),
     "--netG resnet_6blocks --ngf 8 --norm instance --upsampling resize --global_context --input_nc 3"),
    (dict(net_g="unet_128", ngf=4, norm="batch"), "--netG unet_128 --ngf 4 --norm batch --upsampling transpose"),
    (dict(net_g="resnet_9blocks", ngf=4, input_nc=1), "--netG resnet_9blocks --ngf 4 --norm instance"),
    (dict(net_g="resnet_6blocks", ngf=4, gray_octaves=2),  # the stem's extra inputs say how many octaves
     "--netG resnet_6blocks --ngf 4 --norm instance --upsampling transpose --gray_octaves 2 --input_nc 3"),
])
def test_weights_that_do_not_fit_name_the_flags_that_would(tmp_path, capsys, built, fits):
    run_dir = tmp_path / "ck" / "up"
    run_dir.mkdir(parents=True)
    net_g = built.pop("net_g")
    input_nc = built.pop("input_nc", 3)
    torch.save(define_G(net_g, input_nc, 3, **built).state_dict(), run_dir / "latest_net_G_A.pth")
    src = tmp_path / "in"
    _page(str(src / "a.png"), (32, 32))
    assert _colorize(src, str(tmp_path / "ck"), tmp_path / "out", tmp_path / "r", name="up") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"these weights fit {fits}" in err, err[:400]


def test_a_two_process_run_resumed_by_one_process_continues_at_the_same_sample(tmp_path, caplog):
    root = tmp_path / "data"
    write_images(str(root / "trainA"), 6, 32, color=False, seed=1)
    write_images(str(root / "trainB"), 6, 32, color=True, seed=2)
    flags = tiny_flags(str(root), str(tmp_path / "ck")) + ["--n_epochs", "1", "--n_epochs_decay", "0"]
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           os.path.join(ROOT, "train.py"), *flags, "--save_by_iter", "--save_latest_freq", "1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "ck" / "tiny"
    assert load_checkpoint(str(run_dir / "iter_1_checkpoint.pth"))["epoch_samples"] == 2  # one step of 2 processes
    with caplog.at_level("INFO"):
        assert _train(flags + ["--continue_train", "--load_iter", "1"]) == 0
    assert "resuming at epoch 1, sample 2 of 6" in caplog.text
    state = load_checkpoint(str(run_dir / "latest_checkpoint.pth"))
    assert (state["global_step"], state["epoch_samples"]) == (1 + 4, 6)  # samples 2..5, one per step


def test_a_run_keeps_one_meaning_resume_refuses_another_output_luma(dataroot, tmp_path, capsys):
    ck = str(tmp_path / "ck")
    flags = tiny_flags(dataroot, ck) + ["--output_luma", "multiply"]
    assert train.main(flags) == 0
    run_dir = os.path.join(ck, "tiny")
    before = {name: os.stat(os.path.join(run_dir, name)).st_mtime_ns for name in os.listdir(run_dir)}
    capsys.readouterr()
    assert train.main(tiny_flags(dataroot, ck) + ["--output_luma", "generator", "--continue_train",
                                                  "--n_epochs", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--output_luma multiply (flags say generator)" in err[0]
    assert {name: os.stat(os.path.join(run_dir, name)).st_mtime_ns for name in os.listdir(run_dir)} == before


def _colorize_epoch_1(src, ck, out, results):
    """test.py on `src` with run tiny's epoch-1 weights in fp32: {page name: PNG bytes}."""
    assert colorize_cli.main(["--dataroot", src, "--name", "tiny", "--checkpoints_dir", ck, "--epoch", "1",
                              "--output_dir", str(out), "--results_dir", str(results),
                              "--precision", "fp32", "--overwrite"]) == 0
    return {name: (out / name).read_bytes() for name in os.listdir(out) if name.endswith(".png")}


def test_a_label_colorizes_as_its_checkpoint_was_trained_whatever_opt_json_says(dataroot, tmp_path):
    ck = str(tmp_path / "ck")
    assert train.main(tiny_flags(dataroot, ck) + ["--output_luma", "multiply"]) == 0
    src = os.path.join(dataroot, "testA")

    def colorize(out):
        return _colorize_epoch_1(src, ck, out, tmp_path / "r")
    as_trained = colorize(tmp_path / "a")
    # An opt.json rewritten after these weights were saved (older versions let a resume do that).
    opt_json = os.path.join(ck, "tiny", "opt.json")
    with open(opt_json, encoding="utf-8") as f:
        options = json.load(f)
    options["output_luma"] = "generator"
    with open(opt_json, "w", encoding="utf-8") as f:
        json.dump(options, f)
    assert colorize(tmp_path / "b") == as_trained


def test_bare_weights_describe_themselves(dataroot, tmp_path):
    """Each bare weights file has its description beside it, so a label colorizes the way it was
    trained even with the run's checkpoints and opt.json gone (users delete the large files)."""
    ck = str(tmp_path / "ck")
    assert train.main(tiny_flags(dataroot, ck) + ["--output_luma", "multiply", "--ema_decay", "0.9",
                                                  "--upsampling", "resize"]) == 0
    run_dir = os.path.join(ck, "tiny")
    with open(os.path.join(run_dir, "1_net_G_A_ema.json"), encoding="utf-8") as f:
        average = json.load(f)
    assert (average["network"], average["average"], average["output_luma"]) == ("G_A_ema", True, "multiply")
    assert average["layer_headroom"] == 1.25
    assert average["define_G"] == {"net_g": "resnet_6blocks", "input_nc": 3, "output_nc": 3, "ngf": 4,
                                   "norm": "instance", "use_dropout": False, "upsampling": "resize",
                                   "global_context": False, "level_channels": 0, "gray_octaves": 0,
                                   "gray_window": 1}
    with open(os.path.join(run_dir, "1_net_G_B.json"), encoding="utf-8") as f:
        assert json.load(f)["output_luma"] == "generator"
    src = os.path.join(dataroot, "testA")

    def colorize(out):
        return _colorize_epoch_1(src, ck, out, tmp_path / "r")
    as_trained = colorize(tmp_path / "a")
    # The average's weights gone, its checkpoint there: the average, from the checkpoint, not G_A.
    os.rename(os.path.join(run_dir, "1_net_G_A_ema.pth"), os.path.join(tmp_path, "ema.pth"))
    assert colorize(tmp_path / "e") == as_trained
    os.rename(os.path.join(tmp_path, "ema.pth"), os.path.join(run_dir, "1_net_G_A_ema.pth"))
    for name in os.listdir(run_dir):
        if name.endswith("_checkpoint.pth") or name.startswith("opt"):
            os.remove(os.path.join(run_dir, name))
    assert colorize(tmp_path / "b") == as_trained
    # A description written before --level_channels, --gray_octaves, --gray_window and --layer_headroom
    # existed means none, none, each pixel's own gray and 1.25.
    with open(os.path.join(run_dir, "1_net_G_A_ema.json"), "w", encoding="utf-8") as f:
        json.dump({**{k: v for k, v in average.items() if k != "layer_headroom"},
                   "define_G": {k: v for k, v in average["define_G"].items()
                                if k not in ("level_channels", "gray_octaves", "gray_window")}}, f)
    assert colorize(tmp_path / "o") == as_trained
    # A description that cannot be read or used is one line naming it, not a traceback.
    with open(os.path.join(run_dir, "1_net_G_B.json"), encoding="utf-8") as f:
        other = f.read()
    for broken in ("{not json", json.dumps({**average, "format_version": "1"}), other,
                   json.dumps({**average, "define_G": {**average["define_G"], "net_g": "resnet_7"}}),
                   json.dumps({**average, "define_G": {k: v for k, v in average["define_G"].items() if k != "norm"}}),
                   json.dumps({**average, "define_G": {**average["define_G"], "ngf": "4"}}),
                   *(json.dumps({**average, "define_G": {**average["define_G"], "level_channels": bad}})
                     for bad in (4, None, 2.5, True)),
                   *(json.dumps({**average, "define_G": {**average["define_G"], "gray_octaves": bad}})
                     for bad in (2, -1, None, 2.5, True)),  # 2: the weights' stem does not fit
                   *(json.dumps({**average, "define_G": {**average["define_G"], "gray_window": bad}})
                     for bad in (3, 0, None)),  # 3: needs gray_octaves
                   json.dumps({**average, "layer_headroom": "2"}), json.dumps({**average, "layer_headroom": 0.5}),
                   json.dumps({**average, "preprocess": "bogus"}), json.dumps({**average, "output_luma": "bogus"}),
                   json.dumps({**average, "load_size": -5}), json.dumps({**average, "load_size": "36"}),
                   json.dumps({k: v for k, v in average.items() if k != "load_size"})):
        with open(os.path.join(run_dir, "1_net_G_A_ema.json"), "w", encoding="utf-8") as f:
            f.write(broken)
        assert colorize_cli.main(["--dataroot", src, "--name", "tiny", "--checkpoints_dir", ck, "--epoch", "1",
                                  "--output_dir", str(tmp_path / "c"), "--results_dir", str(tmp_path / "r")]) == 2, broken


def test_the_layer_headroom_travels_with_the_weights(dataroot, tmp_path):
    """test.py must multiply with the headroom G_A was trained with, read from the weights'
    description, or from the checkpoint for runs without one."""
    from inference.generator_loader import load_generator

    ck = str(tmp_path / "ck")
    assert train.main(tiny_flags(dataroot, ck) + ["--output_luma", "multiply_headroom", "--layer_headroom", "2"]) == 0
    run_dir = os.path.join(ck, "tiny")
    cpu = torch.device("cpu")
    assert load_generator(run_dir, "1", "G_A", None, cpu).layer_headroom == 2.0
    for name in os.listdir(run_dir):
        if name.endswith(".json") and "_net_" in name:
            os.remove(os.path.join(run_dir, name))
    assert load_generator(run_dir, "1", "G_A", None, cpu).layer_headroom == 2.0
    # Resuming with another headroom would make one run's weights mean two things.
    assert train.main(tiny_flags(dataroot, ck) + ["--output_luma", "multiply_headroom", "--continue_train",
                                                  "--n_epochs", "2"]) == 2
    # A checkpoint from before the flag was trained with 1.25, and says so by lacking the key.
    path = os.path.join(run_dir, "latest_checkpoint.pth")
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["options"] = {k: v for k, v in checkpoint["options"].items() if k != "layer_headroom"}
    torch.save(checkpoint, path)
    assert train.main(tiny_flags(dataroot, ck) + ["--output_luma", "multiply_headroom", "--layer_headroom", "2",
                                                  "--continue_train", "--n_epochs", "2"]) == 2


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_get_the_permissions_open_would_give(tmp_path, umask, mode):
    from util.fileio import atomic_write_text

    old = os.umask(umask)
    try:
        atomic_write_text(str(tmp_path / "a.txt"), "x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == mode
    assert os.listdir(tmp_path) == ["a.txt"]


def test_a_mid_epoch_checkpoint_from_before_the_seed_derivation_resumes_with_a_warning(tmp_path, caplog):
    root = tmp_path / "data"
    write_images(str(root / "trainA"), 6, 32, color=False, seed=1)
    write_images(str(root / "trainB"), 6, 32, color=True, seed=2)
    flags = tiny_flags(str(root), str(tmp_path / "ck")) + ["--n_epochs", "1", "--n_epochs_decay", "0",
                                                           "--save_by_iter", "--save_latest_freq", "2"]
    assert _train(flags) == 0
    path = str(tmp_path / "ck" / "tiny" / "iter_2_checkpoint.pth")
    state = load_checkpoint(path)
    assert state["epoch_samples"] == 2 and state["seed_derivation"] == SEED_DERIVATION
    with caplog.at_level("INFO"):
        assert _train(flags + ["--continue_train", "--load_iter", "2"]) == 0
    assert "derived seeds differently" not in caplog.text
    del state["seed_derivation"]  # as checkpoints saved before it existed
    torch.save(state, path)
    caplog.clear()
    with caplog.at_level("INFO"):
        assert _train(flags + ["--continue_train", "--load_iter", "2"]) == 0
    assert "the rest of epoch 1 is drawn in another order" in caplog.text
