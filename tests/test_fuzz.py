"""A bounded fuzz pass over decoding and options. The rule: no traceback, and every bad input is
named. Decoding either gives an upright 'L'/'RGB' image or raises one of the errors the callers
report by file name; a flag either parses or stops the parser with one line naming the flag."""

import io
import os

import numpy as np
import pytest
from PIL import Image

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import test as colorize_cli  # noqa: E402
from data.image_folder import check_readable, load_image  # noqa: E402
from options.test_options import parse_test_options  # noqa: E402
from options.train_options import parse_train_options  # noqa: E402
from tests.test_no_lost_work import _run_folder  # noqa: E402

DECODE_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)
FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
MODES = ("1", "L", "LA", "P", "PA", "I;16", "I", "F", "RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV")
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")


@st.composite
def image_files(draw) -> bytes:
    """A real image of odd mode, shape and format, then maybe cut short or overwritten in places."""
    mode = draw(st.sampled_from(MODES))
    fmt = draw(st.sampled_from(FORMATS))
    width, height = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    try:
        img = Image.fromarray(pixels).convert(mode)
        buffer = io.BytesIO()
        img.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):  # this format cannot store this mode: store it as PNG
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    damage = draw(st.sampled_from(("none", "truncate", "overwrite", "garbage")))
    if damage == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif damage == "overwrite" and data:
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif damage == "garbage":
        data = data[:8] + draw(st.binary(max_size=200))
    return bytes(data)


@FUZZ
@given(data=image_files(), channels=st.sampled_from((1, 3)), suffix=st.sampled_from((".png", ".jpg", ".tif")))
def test_decoding_gives_an_upright_page_or_a_named_error(tmp_path_factory, data, channels, suffix):
    path = str(tmp_path_factory.mktemp("fuzz") / f"page{suffix}")
    with open(path, "wb") as f:
        f.write(data)
    readable, bad = check_readable([path])
    assert list(readable) == [path] or [p for p, _ in bad] == [path]
    try:
        img = load_image(path, channels)
    except DECODE_ERRORS:
        return
    assert img.mode == ("L" if channels == 1 else "RGB")
    assert img.size == readable[path]


def test_test_py_names_every_fuzzed_file_it_cannot_colorize(tmp_path, caplog):
    """End to end over a folder of fuzzed files: exit 0 or 1, each failure one line naming its file."""
    ck = _run_folder(tmp_path / "ck")
    src = tmp_path / "in"
    src.mkdir()
    examples = []

    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(image_files())
    def collect(data):
        examples.append(data)
    collect()
    for i, data in enumerate(examples):
        (src / f"f{i:02d}.png").write_bytes(data)
    with caplog.at_level("INFO"):
        code = colorize_cli.main(["--dataroot", str(src), "--name", "tiny", "--checkpoints_dir", ck, "--output_dir",
                                  str(tmp_path / "out"), "--results_dir", str(tmp_path / "r"), "--precision", "fp32"])
    assert code in (0, 1)
    written = {name for name in os.listdir(tmp_path / "out") if not name.startswith(".")}
    for i in range(len(examples)):
        name = f"f{i:02d}.png"
        assert name in written or f"failed {src / name}: " in caplog.text, name


FLAG_VALUES = st.one_of(st.integers(-5, 5000).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                        st.text(max_size=12), st.sampled_from(("", "-1", "0", "1e308", "nan", "inf", "{", "{x}", "%s")))
TRAIN_FLAGS = ("--load_size", "--crop_size", "--ngf", "--ndf", "--n_layers_D", "--lr", "--beta1", "--batch_size",
               "--n_epochs", "--n_epochs_decay", "--pool_size", "--lambda_A", "--lambda_identity", "--num_D",
               "--ema_decay", "--val_freq", "--print_freq", "--max_dataset_size", "--suffix", "--name",
               "--preprocess", "--netG", "--precision", "--gpu_ids", "--seed", "--lr_decay_iters")
TEST_FLAGS = ("--tile_size", "--tile_overlap", "--num_test", "--load_size", "--epoch", "--load_iter", "--gpu_ids",
              "--display_winsize", "--num_threads", "--precision")


NASTY = ("", "-1", "0", "1e308", "-1e308", "nan", "inf", "-inf", "1e-320", "{", "{x}", "{0}", "%s", "../up", "a/b",
         "0x10", "1_000", " 7 ", "٣")


def _parses_or_names_the_flag(parse, argv, flag, capsys) -> None:
    """The flags parse to finite numbers and a plain run name, or the parser exits 2 naming the flag."""
    try:
        opt = parse(argv)
    except SystemExit as exc:
        assert exc.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err and "error:" in err[-1] and "Traceback" not in "\n".join(err)
        assert flag.lstrip("-") in err[-1] or flag.lstrip("-").split("_")[0] in err[-1], err[-1]
        return
    for key, value in vars(opt).items():
        if isinstance(value, float) and key not in ("max_dataset_size", "num_test"):  # inf means all
            assert value == value and abs(value) != float("inf"), (key, value)
    if hasattr(opt, "name") and hasattr(opt, "checkpoints_dir"):
        assert opt.name and os.path.basename(opt.name) == opt.name and opt.name not in (".", ".."), opt.name


@pytest.mark.parametrize("flag", TRAIN_FLAGS)
def test_train_flags_with_nasty_values(capsys, flag):
    for value in NASTY:
        _parses_or_names_the_flag(parse_train_options, ["--dataroot", "x", flag, value], flag, capsys)


@pytest.mark.parametrize("flag", TEST_FLAGS)
def test_test_flags_with_nasty_values(capsys, flag):
    for value in NASTY:
        _parses_or_names_the_flag(parse_test_options, ["--dataroot", "x", flag, value], flag, capsys)


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(TRAIN_FLAGS), value=FLAG_VALUES)
def test_train_flags_parse_or_name_the_flag(capsys, flag, value):
    _parses_or_names_the_flag(parse_train_options, ["--dataroot", "x", flag, value], flag, capsys)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(TEST_FLAGS), value=FLAG_VALUES)
def test_test_flags_parse_or_name_the_flag(capsys, flag, value):
    _parses_or_names_the_flag(parse_test_options, ["--dataroot", "x", flag, value], flag, capsys)
