"""test.py: whole folders, original sizes, upstream weights, tiling, bad files."""

import copy
import os
import sys
import test as colorize_cli

import numpy as np
import pytest
import torch
from PIL import Image

from data.transforms import to_tensor
from inference import colorizer as colorizer_module
from inference.colorizer import Colorizer
from inference.generator_loader import LoadedGenerator
from inference.pipeline import working_width
from models.networks import define_G
from options.train_options import parse_train_options, save_options
from util.device import resolve_precision


def _page(path, size, seed=0, mode="RGB"):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (max(2, size[1] // 8), max(2, size[0] // 8))).astype(np.uint8)
    img = Image.fromarray(small).resize(size, Image.BILINEAR).convert(mode)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    img.save(path)
    return path


def _run(args):
    return colorize_cli.main(args)


@pytest.mark.parametrize("extra", [[], ["--preprocess", "scale_width", "--load_size", "100"], ["--keep_lines"],
                                   ["--tile_size", "96", "--tile_overlap", "16"], ["--precision", "bf16"]])
def test_output_size_equals_input_size(tmp_path, run_folder, extra):
    src = tmp_path / "in"
    _page(str(src / "odd.png"), (333, 517))
    _page(str(src / "gray.png"), (75, 41), mode="L")
    _page(str(src / "sub" / "deeper" / "rgba.png"), (50, 66), mode="RGBA")
    out = tmp_path / "out"
    assert _run(["--dataroot", str(src), "--name", "tiny", "--checkpoints_dir", run_folder,
                 "--output_dir", str(out), "--results_dir", str(tmp_path / "res"), "--device", "cpu"] + extra) == 0
    for rel, size in (("odd.png", (333, 517)), ("gray.png", (75, 41)), ("sub/deeper/rgba.png", (50, 66))):
        with Image.open(out / rel) as img:
            assert img.size == size and img.mode == "RGB", rel
    page = (tmp_path / "res" / "tiny" / "test_latest" / "index.html").read_text()
    assert all(name in page for name in ("odd.png", "gray.png", "sub/deeper/rgba.png"))


def test_keep_lines_keeps_the_scan_luminance(tmp_path, run_folder):
    src = tmp_path / "in"
    path = _page(str(src / "p.png"), (120, 90), mode="L")
    out = tmp_path / "out"
    assert _run(["--dataroot", str(src), "--name", "tiny", "--checkpoints_dir", run_folder, "--keep_lines",
                 "--output_dir", str(out), "--results_dir", str(tmp_path / "r"), "--load_size", "40"]) == 0
    luma_in = np.asarray(Image.open(path).convert("L"), dtype=np.int16)
    luma_out = np.asarray(Image.open(out / "p.png").convert("L"), dtype=np.int16)
    assert np.abs(luma_in - luma_out).mean() < 2.5  # only YCbCr round-off and chroma clipping


def test_upstream_weights_give_upstream_output(tmp_path):
    torch.manual_seed(1)
    net = define_G("resnet_9blocks", 3, 3, ngf=4).eval()
    state = net.state_dict()
    # Older upstream versions saved running stats for InstanceNorm layers; they must be ignored.
    state["model.2.running_mean"] = torch.zeros(4)
    state["model.2.running_var"] = torch.ones(4)
    run_dir = tmp_path / "ck" / "horse2zebra"
    run_dir.mkdir(parents=True)
    torch.save(state, run_dir / "latest_net_G_A.pth")
    src = tmp_path / "in"
    path = _page(str(src / "page.png"), (64, 48))
    out = tmp_path / "out"
    assert _run(["--dataroot", str(src), "--name", "horse2zebra", "--checkpoints_dir", str(tmp_path / "ck"),
                 "--model", "test", "--model_suffix", "_A", "--no_dropout", "--ngf", "4", "--precision", "fp32",
                 "--output_dir", str(out), "--results_dir", str(tmp_path / "r")]) == 0
    with torch.no_grad():
        y = net(to_tensor(Image.open(path).convert("RGB")).unsqueeze(0))[0]
    expected = ((y.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(Image.open(out / "page.png")), expected)


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / max(mse, 1e-12))


@pytest.mark.parametrize("net_g,upsampling", [("resnet_6blocks", "transpose"), ("resnet_9blocks", "resize")])
def test_exact_tiling_matches_untiled(tmp_path, net_g, upsampling):
    torch.manual_seed(0)
    net = define_G(net_g, 3, 3, ngf=8, upsampling=upsampling).eval()
    page = Image.open(_page(str(tmp_path / "p.png"), (301, 222), seed=3))
    whole = Colorizer(net, torch.device("cpu"), 4, output_nc=3, input_nc=3, tile_size=0).colorize(page)
    tiled = Colorizer(net, torch.device("cpu"), 4, output_nc=3, input_nc=3, tile_size=96).colorize(page)
    assert tiled.size == whole.size == (301, 222)
    assert _psnr(np.asarray(tiled), np.asarray(whole)) >= 60.0  # equal up to float rounding


def test_approximate_tiling_for_other_generators_stays_close(tmp_path):
    torch.manual_seed(0)
    net = define_G("unet_128", 3, 3, ngf=4, norm="instance").eval()
    page = Image.open(_page(str(tmp_path / "p.png"), (300, 260), seed=4))
    whole = Colorizer(net, torch.device("cpu"), 128, output_nc=3, input_nc=3, tile_size=0).colorize(page)
    tiled = Colorizer(net, torch.device("cpu"), 128, output_nc=3, input_nc=3, tile_size=256,
                      tile_overlap=64).colorize(page)
    assert tiled.size == whole.size
    assert _psnr(np.asarray(tiled), np.asarray(whole)) >= 25.0


@pytest.mark.parametrize("bf16_cpu,capability,isa,expected", [
    (True, "AVX512", None, "bf16"),              # AVX512-BF16 and nothing capping it
    (True, "AVX512", "AVX512_CORE_BF16", "bf16"),
    (True, "AVX2", None, "fp32"),                # ATEN_CPU_CAPABILITY=avx2: bf16 would be emulated
    (True, "AVX512", "AVX2", "fp32"),            # ONEDNN_MAX_CPU_ISA=AVX2: the same
    (False, "AVX512", None, "fp32"),             # AVX-512 without bf16
    (False, "AVX2", None, "fp32"),               # a plain AVX2 CPU
])
def test_precision_auto_follows_the_cpu(monkeypatch, bf16_cpu, capability, isa, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: bf16_cpu)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: capability)
    environ = {} if isa is None else {"ONEDNN_MAX_CPU_ISA": isa}
    assert resolve_precision("auto", torch.device("cpu"), environ) == expected
    assert resolve_precision("fp16", torch.device("cpu"), environ) == "fp16"  # an explicit choice stands


def test_bad_files_are_named_the_rest_colorized_exit_1(tmp_path, run_folder, caplog):
    src = tmp_path / "in"
    _page(str(src / "a.png"), (40, 40))
    _page(str(src / "b.jpg"), (44, 40))
    (src / "text.jpg").write_text("not an image")
    good = (src / "a.png").read_bytes()
    (src / "truncated.png").write_bytes(good[: len(good) // 2])
    (src / "notes.txt").write_text("ignored")
    out = tmp_path / "out"
    with caplog.at_level("INFO"):
        code = _run(["--dataroot", str(src), "--name", "tiny", "--checkpoints_dir", run_folder,
                     "--output_dir", str(out), "--results_dir", str(tmp_path / "r")])
    assert code == 1
    assert "failed " + str(src / "text.jpg") in caplog.text
    assert "failed " + str(src / "truncated.png") in caplog.text
    assert "colorized 2, failed 2" in caplog.text
    assert sorted(os.listdir(out)) == [".colorized_with.json", "a.png", "b.png"]


def test_skip_existing_resumes_a_folder(tmp_path, run_folder, caplog):
    src = tmp_path / "in"
    for i in range(3):
        _page(str(src / f"{i}.png"), (32, 32), seed=i)
    args = ["--dataroot", str(src), "--name", "tiny", "--checkpoints_dir", run_folder,
            "--results_dir", str(tmp_path / "r")]
    assert _run(args + ["--num_test", "2"]) == 0
    with caplog.at_level("INFO"):
        assert _run(args + ["--skip_existing"]) == 0
    assert "colorized 1, failed 0, skipped 2" in caplog.text
    images = tmp_path / "r" / "tiny" / "test_latest" / "images"
    assert sorted(os.listdir(images)) == [".colorized_with.json", "0.png", "1.png", "2.png"]


def test_a_dataset_root_colorizes_its_phase_a_pages_only(tmp_path, run_folder):
    root = tmp_path / "pages"
    for folder in ("trainA", "trainB", "testA", "testB", "testMasks"):
        _page(str(root / folder / "p001.png"), (32, 32))
    args = ["--dataroot", str(root), "--name", "tiny", "--checkpoints_dir", run_folder,
            "--results_dir", str(tmp_path / "r")]
    assert _run(args + ["--output_dir", str(tmp_path / "out")]) == 0
    assert sorted(os.listdir(tmp_path / "out")) == [".colorized_with.json", "p001.png"]
    # With --phase val there is no valA/: the root is an ordinary folder and everything under it is colorized.
    assert _run(args + ["--output_dir", str(tmp_path / "all"), "--phase", "val"]) == 0
    assert sorted(os.listdir(tmp_path / "all")) == [".colorized_with.json", "testA", "testB", "testMasks",
                                                    "trainA", "trainB"]


@pytest.mark.parametrize("case,message", [
    ("empty", "no images"),
    ("missing", "generator weights not found"),
    ("misfit", "does not fit --netG resnet_9blocks --ngf 64"),
    ("inside", "is inside --dataroot"),
])
def test_startup_errors_exit_2_with_one_line(tmp_path, run_folder, capsys, case, message):
    src = tmp_path / "in"
    src.mkdir()
    if case != "empty":
        _page(str(src / "a.png"), (32, 32))
    args = ["--dataroot", str(src), "--results_dir", str(tmp_path / "r")]
    if case == "missing":
        args += ["--name", "nope", "--checkpoints_dir", run_folder]
    elif case == "misfit":
        run_dir = tmp_path / "up" / "x"
        run_dir.mkdir(parents=True)
        torch.save(define_G("resnet_6blocks", 3, 3, ngf=4).state_dict(), run_dir / "latest_net_G_A.pth")
        args += ["--name", "x", "--checkpoints_dir", str(tmp_path / "up")]
    else:
        args += ["--name", "tiny", "--checkpoints_dir", run_folder]
    if case == "inside":
        args += ["--output_dir", str(src / "colored")]
    assert _run(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert sorted(os.listdir(src)) == ([] if case == "empty" else ["a.png"])


@pytest.mark.parametrize("arch", [{}, {"level_channels": 2}, {"gray_octaves": 3}])
def test_onnx_export_round_trip(tmp_path, run_folder, arch):
    pytest.importorskip("onnxruntime", reason="onnxruntime is an optional dependency")
    pytest.importorskip("onnx", reason="onnx is an optional dependency")
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "scripts"))
    import export_onnx

    # level channels: the stem's instance norm sees a channel slice, which ONNX must size; gray
    # octaves: sin and cos in the graph.
    if arch:
        run_folder = str(tmp_path / "arch")
        flags = [token for key, value in arch.items() for token in (f"--{key}", str(value))]
        opt = parse_train_options(["--dataroot", "unused", "--name", "tiny", "--checkpoints_dir", run_folder,
                                   "--netG", "resnet_6blocks", "--ngf", "4", *flags])
        os.makedirs(os.path.join(run_folder, "tiny"))
        save_options(opt, os.path.join(run_folder, "tiny"))
        torch.save(define_G("resnet_6blocks", 3, 3, ngf=4, **arch).state_dict(),
                   os.path.join(run_folder, "tiny", "latest_net_G_A.pth"))
    out = tmp_path / "g.onnx"
    assert export_onnx.main(["--name", "tiny", "--checkpoints_dir", run_folder, "--output", str(out)]) == 0
    assert out.stat().st_size > 0


@pytest.mark.parametrize("middle_max_pixels, min_psnr, arch", [
    (colorizer_module.MIDDLE_MAX_PIXELS, 60.0, {}),  # exact: the style pooled from the whole page's bottleneck
    (colorizer_module.MIDDLE_MAX_PIXELS, 60.0, {"level_channels": 3}),  # unnormalized level channels in the stem
    (colorizer_module.MIDDLE_MAX_PIXELS, 60.0, {"gray_octaves": 3}),  # the stem sees an encoding of the gray
    (colorizer_module.MIDDLE_MAX_PIXELS, 60.0, {"gray_octaves": 3, "gray_window": 7}),  # of a neighbourhood's
    (0, 25.0, {})])  # the approximate path of huge pages: the style from a downscaled copy
def test_global_context_tiles_share_one_page_style(tmp_path, monkeypatch, middle_max_pixels, min_psnr, arch):
    monkeypatch.setattr(colorizer_module, "MIDDLE_MAX_PIXELS", middle_max_pixels)
    torch.manual_seed(0)
    net = define_G("resnet_6blocks", 3, 3, ngf=8, upsampling="resize", global_context=True, **arch).eval()
    with torch.no_grad():
        for p in net.context.parameters():
            p.normal_(0.0, 0.1)  # a style that matters: with a style per tile this scores ~17 dB
    page = Image.open(_page(str(tmp_path / "p.png"), (300, 260), seed=4))
    whole = Colorizer(copy.deepcopy(net), torch.device("cpu"), 4, output_nc=3, input_nc=3, tile_size=0).colorize(page)
    tiled = Colorizer(copy.deepcopy(net), torch.device("cpu"), 4, output_nc=3, input_nc=3, tile_size=96,
                      tile_overlap=32).colorize(page)
    assert tiled.size == whole.size
    assert _psnr(np.asarray(tiled), np.asarray(whole)) >= min_psnr


@pytest.mark.parametrize("preprocess, output_luma, trained_scaled, expected", [
    ("auto", "multiply", True, 32), ("auto", "multiply_headroom", True, 32),  # a color layer: its training scale
    ("auto", "generator", True, None), ("auto", "darker", True, None),  # the page itself: full resolution
    ("auto", "multiply", False, None),  # trained on unscaled crops: full resolution is its scale
    ("none", "multiply", True, None), ("scale_width", "generator", False, 32), ("auto", "input", False, 32)])
def test_auto_working_width_follows_what_the_model_paints(preprocess, output_luma, trained_scaled, expected):
    gen = LoadedGenerator(torch.nn.Identity(), "resnet_6blocks", 3, 3, 32, trained_scaled, "w.pth", output_luma)
    assert working_width(preprocess, None, gen, output_luma) == expected
    assert working_width(preprocess, 48, gen, output_luma) == (None if expected is None else 48)


def test_color_layer_model_runs_at_its_training_width_by_default(tmp_path):
    ck = tmp_path / "ck"
    opt = parse_train_options(["--dataroot", "unused", "--name", "layer", "--checkpoints_dir", str(ck),
                               "--netG", "resnet_6blocks", "--ngf", "4", "--output_luma", "multiply",
                               "--preprocess", "scale_width_and_crop", "--load_size", "32", "--crop_size", "32"])
    (ck / "layer").mkdir(parents=True)
    save_options(opt, str(ck / "layer"))
    torch.manual_seed(0)
    torch.save(define_G("resnet_6blocks", 3, 3, ngf=4).state_dict(), ck / "layer" / "latest_net_G_A.pth")
    src = tmp_path / "in"
    _page(str(src / "p.png"), (96, 72), mode="L")
    outputs = {}
    for name, extra in (("auto", []), ("scaled", ["--preprocess", "scale_width", "--load_size", "32"]),
                        ("full", ["--preprocess", "none"])):
        assert _run(["--dataroot", str(src), "--name", "layer", "--checkpoints_dir", str(ck), "--precision", "fp32",
                     "--output_dir", str(tmp_path / name), "--results_dir", str(tmp_path / "r"), *extra]) == 0
        outputs[name] = np.asarray(Image.open(tmp_path / name / "p.png"))
    assert outputs["auto"].shape == (72, 96, 3)
    assert np.array_equal(outputs["auto"], outputs["scaled"])
    assert not np.array_equal(outputs["auto"], outputs["full"])
