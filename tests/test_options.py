import math
import os

import pytest

from options.presets import PRESETS
from options.train_options import (build_parser, load_options, parse_train_options, save_options)

UPSTREAM_DEFAULTS = {
    "name": "experiment_name", "checkpoints_dir": "./checkpoints", "model": "cycle_gan", "input_nc": 3,
    "output_nc": 3, "ngf": 64, "ndf": 64, "netD": "basic", "netG": "resnet_9blocks", "n_layers_D": 3,
    "norm": "instance", "init_type": "normal", "init_gain": 0.02, "no_dropout": True, "dataset_mode": "unaligned",
    "direction": "AtoB", "serial_batches": False, "num_threads": 4, "batch_size": 1, "load_size": 286,
    "crop_size": 256, "max_dataset_size": math.inf, "preprocess": "resize_and_crop", "no_flip": False,
    "display_winsize": 256, "epoch": "latest", "load_iter": 0, "verbose": False, "suffix": "",
    "display_freq": 400, "update_html_freq": 1000, "print_freq": 100, "no_html": False,
    "save_latest_freq": 5000, "save_epoch_freq": 5, "save_by_iter": False, "continue_train": False,
    "epoch_count": 1, "phase": "train", "n_epochs": 100, "n_epochs_decay": 100, "beta1": 0.5, "lr": 0.0002,
    "gan_mode": "lsgan", "pool_size": 50, "lr_policy": "linear", "lr_decay_iters": 50, "lambda_A": 10.0,
    "lambda_B": 10.0, "lambda_identity": 0.5,
}


def test_upstream_defaults_when_dataroot_given():
    opt = parse_train_options(["--dataroot", "somewhere"])
    for key, value in UPSTREAM_DEFAULTS.items():
        assert getattr(opt, key) == value, key
    assert opt.preset is None


def test_demo_preset_without_dataroot_and_cli_wins():
    opt = parse_train_options(["--ngf", "8"])
    assert opt.preset == "demo" and opt.dataroot == PRESETS["demo"]["dataroot"]
    assert opt.ngf == 8
    assert opt.netG == PRESETS["demo"]["netG"]


def test_manga_preset_is_the_page_recipe_and_the_demo_the_drawings_one():
    manga = parse_train_options(["--dataroot", "somewhere", "--preset", "manga"])
    assert manga.output_luma == "multiply_headroom" and manga.descreen  # plain multiply collapses on pages
    # On pages the grayscale identity uses luminance: a tint's gray is what its descreened tone prints.
    assert manga.bw_style == "gray" and manga.global_context and manga.ema_decay == 0.999
    # A tone's gray says which tint it stands for: the stem sees it absolutely and Fourier-encoded.
    assert manga.level_channels == 8 and manga.gray_octaves == 5
    # ...in G_A only: G_B with the encoding hides colors in faint grays for G_A to read back.
    assert manga.gray_octaves_B == 0
    # ...and G_A restores the color page from a noisy copy of G_B's, so a faint code does not pass.
    assert manga.cycle_noise == 0.4
    demo = parse_train_options([])
    assert demo.output_luma == "multiply" and not demo.descreen  # the drawings have no screentone


def test_page_demo_preset_is_the_page_recipe_on_the_demo_pages_at_half_width():
    pages = parse_train_options(["--preset", "demo_pages"])
    assert pages.dataroot == pages.val_dataroot == "datasets/demo_pages" and pages.name == "demo_pages"
    assert pages.val_phase == "val"  # chosen on the validation pages; the test pages stay for the report
    assert (pages.preprocess, pages.load_size, pages.crop_size) == ("scale_width_and_crop", 192, 112)
    manga = parse_train_options(["--dataroot", "datasets/demo_pages", "--preset", "manga"])
    for key in PRESETS["manga"]:
        assert getattr(pages, key) == getattr(manga, key), key
    drawings = parse_train_options([])
    for key in ("netG", "ngf", "ndf", "crop_size", "seed", "val_freq", "print_freq"):
        assert getattr(pages, key) == getattr(drawings, key), key  # the demo's network and reports
    # 60 pages and 120 drawings per side: the same 1680 iterations
    assert (pages.n_epochs + pages.n_epochs_decay) * 60 == (drawings.n_epochs + drawings.n_epochs_decay) * 120 == 1680


def test_help_lists_model_flags(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--lambda_A", "--lambda_identity", "--pool_size", "--netG", "--gan_mode", "--seed", "--device"):
        assert flag in out


@pytest.mark.parametrize("argv,message", [
    (["--crop_size", "300"], "--crop_size (300) must be <= --load_size (286)"),
    (["--netG", "resnet_99"], "invalid choice: 'resnet_99'"),
    (["--input_nc", "1"], "--lambda_identity 0.5 needs --input_nc == --output_nc"),
    (["--lr", "-1"], "must be > 0"),
    (["--batch_size", "0"], "must be >= 1"),
    (["--batch_size", "4", "--preprocess", "none"], "--batch_size 4 needs equal-sized images"),
    (["--netG", "unet_256", "--crop_size", "200", "--load_size", "286"], "must be a multiple of 256"),
    (["--gpu_ids", "0,1"], "launch torchrun --nproc_per_node N"),
    (["--gpu_ids", "x"], "expected comma-separated integers"),
    (["--white_clip", "straight_through"], "--white_clip only applies to --output_luma multiply_headroom"),
    (["--netG", "unet_256", "--crop_size", "256", "--gray_octaves", "2"], "--gray_octaves 2 needs a ResNet --netG"),
    (["--gray_window", "5"], "--gray_window 5 must be odd and sets what --gray_octaves encodes"),
    (["--gray_octaves", "2", "--gray_window", "4"], "--gray_window 4 must be odd"),
])
def test_bad_flags_exit_2_with_one_line_naming_the_flag(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_train_options(["--dataroot", "d"] + argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_unknown_choice_error_lists_valid_names(capsys):
    with pytest.raises(SystemExit):
        parse_train_options(["--dataroot", "d", "--netD", "huge"])
    err = capsys.readouterr().err
    assert "basic" in err and "n_layers" in err and "pixel" in err


def test_identity_off_allows_gray_input():
    opt = parse_train_options(["--dataroot", "d", "--input_nc", "1", "--lambda_identity", "0"])
    assert opt.input_nc == 1


def test_suffix_formats_with_options():
    opt = parse_train_options(["--dataroot", "d", "--name", "run", "--suffix", "{netG}_size{load_size}"])
    assert opt.name == "run_resnet_9blocks_size286"


def test_parsing_has_no_side_effects(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parse_train_options(["--dataroot", "d", "--name", "x"])
    assert os.listdir(tmp_path) == []


def test_saved_options_read_back(tmp_path):
    opt = parse_train_options(["--dataroot", "d", "--ngf", "16", "--seed", "3"])
    save_options(opt, str(tmp_path))
    text = (tmp_path / "opt.txt").read_text()
    assert "ngf: 16" in text.replace("  ", " ") or "ngf: 16" in text
    assert "[default: 64]" in text
    back = load_options(str(tmp_path))
    assert vars(back) == vars(opt)
