"""The colorization options (off by default) and the experiment harness, at toy size."""

import json
import logging
import os
import shutil
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import test as colorize_cli
import train
from conftest import tiny_flags
from data.bw_synthesis import synthesize_bw
from data.unaligned_dataset import UnalignedDataset
from models import create_model
from models.color import gray_like, luma, output_with_luma, with_luma
from models.ema import WeightAverage
from models.losses import GANLoss, fill_weighted_l1, gradient_penalty
from models.networks import GrayEncodingConv, define_D
from options.presets import DRAWINGS_RECIPE, as_flags
from options.train_options import parse_train_options

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import run_experiment  # noqa: E402


def _chroma(x: torch.Tensor) -> torch.Tensor:
    return x[:, :3] - luma(x)  # B - Y, G - Y, R - Y: zero for gray, unchanged by a luminance shift


def test_with_luma_takes_the_luminance_and_keeps_the_chroma():
    torch.manual_seed(0)
    color = torch.rand(2, 3, 8, 8) * 1.0 - 0.5  # mid-range colors: no clipping after the shift
    y = torch.rand(2, 1, 8, 8) * 0.6 - 0.3
    out = with_luma(color, y)
    assert torch.allclose(luma(out), y, atol=1e-6)
    assert torch.allclose(_chroma(out), _chroma(color), atol=1e-6)
    assert with_luma(color, torch.ones(2, 1, 8, 8) * 5).max() <= 1.0  # clamped to the image range
    assert torch.equal(gray_like(color, 1), luma(color))
    assert gray_like(color, 3).shape == (2, 3, 8, 8)


def _page() -> Image.Image:
    """A light-blue fill (luminance ~0.7) with a black outline, on white paper."""
    a = np.full((48, 48, 3), 255, np.uint8)
    a[8:40, 8:40] = (150, 180, 230)
    a[8:10, 8:40] = a[38:40, 8:40] = a[8:40, 8:10] = a[8:40, 38:40] = 0
    return Image.fromarray(a)


def test_bw_styles_gray_ink_screentone():
    page = _page()
    rng = lambda: np.random.default_rng(3)  # noqa: E731
    assert np.array_equal(np.asarray(synthesize_bw(page, "gray", rng())), np.asarray(page.convert("L")))

    ink = np.asarray(synthesize_bw(page, "ink", rng()))
    assert ink[20, 20] == 255 and ink[8, 20] == 0 and ink[0, 0] == 255  # the light fill goes white; ink stays

    tone = np.asarray(synthesize_bw(page, "screentone", rng()))
    fill = tone[12:36, 12:36]
    assert set(np.unique(fill)) == {0, 255}, "a flat mid-tone becomes pure dots"
    gray_fill = np.asarray(page.convert("L"))[20, 20] / 255.0
    assert abs(fill.mean() / 255.0 - gray_fill) < 0.08, "dots keep the tone's mean darkness"
    assert tone[8, 20] == 0 and tone[0, 0] == 255
    assert np.array_equal(tone, np.asarray(synthesize_bw(page, "screentone", rng()))), "a function of the rng"
    with pytest.raises(ValueError, match="unknown B/W style"):
        synthesize_bw(page, "sepia", rng())


SKY = (157, 210, 252)  # a background tint of the demo pages, BT.601 luma 199
SHIRT = (240, 220, 200)  # a light fill, luma 225: white under any ink white point


def _toned_page(fill_side: int) -> Image.Image:
    """64 x 64: sky ground, a black outline around a square SHIRT fill of `fill_side` px."""
    a = np.zeros((64, 64, 3), np.uint8)
    a[:] = SKY
    a[18:22 + fill_side, 18:22 + fill_side] = 0
    a[20:20 + fill_side, 20:20 + fill_side] = SHIRT
    return Image.fromarray(a)


def test_bw_style_ink_tone_keeps_the_toned_ground_and_inks_the_fills():
    rng = lambda: np.random.default_rng(5)  # noqa: E731
    page = _toned_page(8)  # the fill covers 64 / 4096 = 1.6% of the page: a figure's fill
    gray = np.asarray(page.convert("L"))
    bw = np.asarray(synthesize_bw(page, "ink_tone", rng()))
    assert np.array_equal(bw[:16], gray[:16]) and bw[0, 0] == 199, "the ground keeps the gray its tone prints"
    assert (bw[20:28, 20:28] == 255).all(), "the fill goes white, as in the scans"
    assert bw[18, 24] == 0, "ink stays"
    assert np.asarray(synthesize_bw(page, "ink", rng()))[0, 0] > 225, "where ink alone lightens the ground"
    big = _toned_page(14)  # flat inside its 1 px rim: 144 / 4096 = 3.5%, large enough to count as ground
    assert (np.asarray(synthesize_bw(big, "ink_tone", rng()))[21:33, 21:33]
            == np.asarray(big.convert("L"))[20, 20]).all()


def test_dataset_makes_page_styles_from_the_whole_page_and_crops_them_with_B(tmp_path):
    for domain in ("A", "B"):
        os.makedirs(tmp_path / domain)
    paths_A = [str(tmp_path / "A" / "scan.png")]
    _toned_page(8).convert("L").save(paths_A[0])
    paths_B = []
    for k, side in enumerate((8, 6, 10)):
        paths_B.append(str(tmp_path / "B" / f"page{k}.png"))
        _toned_page(side).save(paths_B[-1])
    common = dict(channels_A=1, channels_B=3, preprocess_mode="resize_and_crop", load_size=48, crop_size=32,
                  multiple=4, flip=True, serial_batches=False)
    plain = UnalignedDataset(paths_A, paths_B, **common)
    toned = UnalignedDataset(paths_A, paths_B, bw_style="ink_tone", **common)
    for key in [(0, seed) for seed in range(12)]:
        item, reference = toned[key], plain[key]
        assert torch.equal(item["A"], reference["A"]) and torch.equal(item["B"], reference["B"]), "same crop and flip"
        bw, gray = item["B_bw"][0] * 127.5 + 127.5, luma(item["B"][None])[0, 0] * 127.5 + 127.5
        rgb = item["B"] * 127.5 + 127.5
        ground = (rgb - torch.tensor(SKY)[:, None, None]).abs().amax(0) <= 2
        fill = (rgb - torch.tensor(SHIRT)[:, None, None]).abs().amax(0) <= 3
        assert ground.sum() > 200 and (bw[ground] - gray[ground]).abs().max() <= 2, f"the ground moved at {key}"
        assert (bw[fill] >= 250).all(), f"the fill is not white at {key}"
        assert (bw >= gray - 2).all(), "ink only lightens"


@pytest.mark.parametrize("channels_A", [1, 3])
def test_dataset_adds_a_bw_version_of_B_only_when_asked(dataroot, channels_A):
    paths_A = sorted(os.path.join(dataroot, "trainA", f) for f in os.listdir(os.path.join(dataroot, "trainA")))
    paths_B = sorted(os.path.join(dataroot, "trainB", f) for f in os.listdir(os.path.join(dataroot, "trainB")))
    common = dict(channels_A=channels_A, channels_B=3, preprocess_mode="resize_and_crop", load_size=36,
                  crop_size=32, multiple=4, flip=True, serial_batches=False)
    plain = UnalignedDataset(paths_A, paths_B, **common)[(1, 11)]
    assert "B_bw" not in plain
    item = UnalignedDataset(paths_A, paths_B, bw_style="gray", **common)[(1, 11)]
    assert torch.equal(item["A"], plain["A"]) and torch.equal(item["B"], plain["B"]), "same crop and flip"
    assert item["B_bw"].shape == (channels_A, 32, 32)
    assert torch.allclose(item["B_bw"][:1], luma(item["B"][None])[0], atol=2 / 255 + 1e-6)


def test_scale_jitter_scales_each_image_by_a_drawn_factor(tmp_path, capsys):
    ramp = np.tile(np.linspace(0, 255, 64), (64, 1)).astype(np.uint8)  # gray rises 255 / width per pixel
    path = str(tmp_path / "ramp.png")
    Image.fromarray(ramp).save(path)
    common = dict(channels_A=1, channels_B=1, preprocess_mode="resize_and_crop", load_size=32, crop_size=16,
                  multiple=4, flip=True, serial_batches=False)

    def widths(**extra):  # the width each crop was scaled to, read off the ramp's slope
        dataset = UnalignedDataset([path], [path], **common, **extra)
        crops = [dataset[(0, seed)]["A"][0] * 127.5 for seed in range(40)]
        return np.array([255.0 / float((crop[:, 1:] - crop[:, :-1]).mean().abs()) for crop in crops])

    assert np.allclose(widths(), 32 * 63 / 64, rtol=0.02), "no jitter: every image at --load_size"
    jittered = widths(scale_jitter=2.0)
    assert jittered.min() > 15 and jittered.max() < 65, "within load_size / 2 ... load_size * 2"
    assert jittered.min() < 22 and jittered.max() > 45, "and spread over that range"
    flags = ["--dataroot", "unused", "--preprocess", "scale_width", "--scale_jitter", "1.5"]
    with pytest.raises(SystemExit):
        parse_train_options(flags)
    assert "--scale_jitter needs" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # 286 / 1.5 = 191 px, below the 256 px crop
        parse_train_options(["--dataroot", "unused", "--scale_jitter", "1.5"])
    assert "use at most 1.12" in capsys.readouterr().err


def _model(tmp_path, dataroot, extra):
    opt = parse_train_options(tiny_flags(dataroot, str(tmp_path)) + extra)
    torch.manual_seed(0)
    return create_model(opt, torch.device("cpu"), seed=0, precision=opt.precision), opt


def test_defaults_are_upstream_losses_only(tmp_path, dataroot):
    model, _ = _model(tmp_path, dataroot, [])
    _, stats = model.generator_step(torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1)
    assert set(stats) == {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "G"}


def test_output_luma_darker_keeps_ink_and_only_darkens():
    torch.manual_seed(0)
    page = torch.rand(1, 1, 16, 16) * 2 - 1
    page[..., :4] = -1.0  # a black line
    out = torch.rand(1, 3, 16, 16) * 2 - 1
    darker = output_with_luma(out, page, "darker")
    assert (luma(darker) <= luma(page) + 1e-5).all()
    assert torch.allclose(darker[..., :4], torch.full_like(darker[..., :4], -1.0)), "ink stays black"
    already_darker = (luma(out) <= luma(page)).expand_as(out)
    assert already_darker.any() and torch.allclose(darker[already_darker], out[already_darker], atol=1e-6)
    assert torch.equal(output_with_luma(out, page, "generator"), out)
    assert torch.allclose(luma(output_with_luma(out * 0.3, page * 0.3, "input")), luma(page * 0.3), atol=1e-5)


def test_output_luma_multiply_is_the_page_times_a_color_layer():
    torch.manual_seed(0)
    page = torch.rand(1, 1, 16, 16) * 2 - 1
    page[..., :4] = -1.0  # a black line
    page[..., 4:8] = 1.0  # paper
    out = torch.rand(1, 3, 16, 16) * 2 - 1
    mixed = output_with_luma(out, page, "multiply")
    assert torch.equal(mixed[..., :4], torch.full_like(mixed[..., :4], -1.0)), "ink stays black"
    assert torch.allclose(mixed[..., 4:8], out[..., 4:8]), "on paper the color layer shows as it is"
    lightness = (page + 1) / 2
    assert torch.allclose(_chroma(mixed), _chroma(out) * lightness, atol=1e-6), "a gray line edge keeps its share"
    assert (luma(mixed) <= luma(page) + 1e-6).all()


def test_multiply_headroom_reaches_white_without_saturating_and_keeps_ink():
    from models.color import HEADROOM

    page = torch.ones(1, 1, 4, 4)
    page[..., :2] = -1.0  # ink
    # White paper needs a layer of 1, i.e. out = 2 / HEADROOM - 1: well inside tanh's range.
    out = torch.full((1, 3, 4, 4), 2.0 / HEADROOM - 1.0, requires_grad=True)
    mixed = output_with_luma(out, page, "multiply_headroom")
    assert torch.allclose(mixed[..., 2:], torch.ones(1, 3, 4, 2), atol=1e-6), "paper reaches white"
    assert torch.equal(mixed[..., :2], torch.full((1, 3, 4, 2), -1.0)), "ink stays black"
    assert 2.0 / HEADROOM - 1.0 < 0.7, "white is far from the tanh asymptote"
    # Just below white the gradient flows; past white the product is clipped, never brighter than paper.
    (output_with_luma(out - 0.1, page, "multiply_headroom")[..., 2:].sum()).backward()
    assert out.grad[..., 2:].abs().min() > 0.5
    brighter = output_with_luma(torch.ones(1, 3, 4, 4), page, "multiply_headroom")
    assert brighter.max() <= 1.0


def test_a_straight_through_white_clip_changes_the_gradient_not_the_output(tmp_path, dataroot):
    model, _ = _model(tmp_path, dataroot, ["--output_luma", "multiply_headroom", "--white_clip", "straight_through"])
    assert model.white_clip == "straight_through", "the flag reaches the training step"
    page = torch.zeros(1, 1, 2, 2)  # mid-gray
    out = torch.tensor([0.9, 0.0]).view(1, 2, 1, 1).expand(1, 2, 2, 2)  # a channel past white, one below
    out = torch.cat([out, out[:, :1]], dim=1).clone().requires_grad_(True)
    grads = {}
    for clip in ("hard", "straight_through"):
        mixed = output_with_luma(out, page, "multiply_headroom", headroom=2.5, white_clip=clip)
        grads[clip] = torch.autograd.grad(mixed.sum(), out)[0]
        assert torch.equal(mixed[:, 0], torch.ones(1, 2, 2)), "clipped at white either way"
    assert torch.equal(grads["hard"][:, 0], torch.zeros(1, 2, 2)), "past white, a hard clip passes nothing"
    assert (grads["straight_through"][:, 0] > 0.5).all(), "straight-through passes the unclipped gradient"
    assert torch.equal(grads["hard"][:, 1], grads["straight_through"][:, 1]), "below white nothing changes"
    with pytest.raises(ValueError, match="white_clip"):
        output_with_luma(out, page, "multiply_headroom", white_clip="soft")


def test_a_darken_white_clip_passes_only_the_gradients_that_darken_past_white():
    page = torch.zeros(1, 1, 2, 2)  # mid-gray
    out = torch.tensor([0.9, 0.0, 0.9]).view(1, 3, 1, 1).expand(1, 3, 2, 2).clone().requires_grad_(True)
    mixed = output_with_luma(out, page, "multiply_headroom", headroom=2.5, white_clip="darken")
    assert torch.equal(mixed, output_with_luma(out, page, "multiply_headroom", headroom=2.5)), "same output"
    # A loss that grows with the output: descent darkens, so the gradient passes past white.
    darken = torch.autograd.grad(mixed.sum(), out, retain_graph=True)[0]
    # A loss that wants it lighter than white: nothing passes past white, as with the hard clip.
    lighten = torch.autograd.grad((-mixed).sum(), out)[0]
    hard_lighten = torch.autograd.grad((-output_with_luma(out, page, "multiply_headroom", headroom=2.5)).sum(), out)[0]
    assert (darken[:, 0] > 0.5).all() and (darken[:, 2] > 0.5).all(), "past white, darkening passes"
    assert torch.equal(lighten[:, 0], torch.zeros(1, 2, 2)), "past white, lightening is dropped"
    assert torch.equal(lighten, hard_lighten), "so a lighter-than-white pull is the hard clip's"
    assert (lighten[:, 1] < -0.5).all(), "below white both ways pass"


def test_darken_identity_darkens_past_white_only_in_the_identity_passes(tmp_path, dataroot):
    model, _ = _model(tmp_path, dataroot, ["--output_luma", "multiply_headroom", "--white_clip", "darken_identity"])

    class PastWhite(torch.nn.Module):  # a generator whose layer is 1.19: past white on white paper
        def __init__(self) -> None:
            super().__init__()
            self.out = torch.nn.Parameter(torch.full((1, 3, 4, 4), 0.9))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out

    net, page = PastWhite(), torch.ones(1, 1, 4, 4)
    grads = {supervised: torch.autograd.grad(model._G_A(page, net, supervised=supervised).sum(), net.out)[0]
             for supervised in (False, True)}  # descent on this loss darkens
    assert torch.equal(grads[False], torch.zeros(1, 3, 4, 4)), "adversarial and cycle passes: the hard clip"
    assert (grads[True] > 0).all(), "identity passes: darkening passes the clip"


def test_the_layer_headroom_bounds_the_color_layer():
    page = torch.zeros(1, 1, 2, 2)  # mid-gray, 0.5 in [0, 1]
    assert torch.equal(output_with_luma(torch.full((1, 3, 2, 2), 0.9), page, "multiply_headroom", headroom=2.5),
                       torch.ones(1, 3, 2, 2)), "clipped at white"
    # The largest layer is the headroom: gray 0.5 reaches 0.5 * 1.25 at the default, white at 2.
    top = torch.ones(1, 3, 2, 2)
    assert torch.allclose(output_with_luma(top, page, "multiply_headroom"), torch.full((1, 3, 2, 2), 0.25))
    assert torch.equal(output_with_luma(top, page, "multiply_headroom", headroom=2.0), torch.ones(1, 3, 2, 2))


def test_fill_weighted_l1_weighs_the_fills_the_bw_version_whitens():
    # A 1 x 4 page: ground (gray in B/W and color), a fill (white in B/W, red in color), blank paper
    # (white in both) and a second ground pixel. The prediction misses the fill by 1 and the ground by 0.5.
    target = torch.tensor([[0.2, 0.5, 1.0, 0.2], [0.2, -0.5, 1.0, 0.2], [0.2, -0.5, 1.0, 0.2]])[None, :, None, :]
    bw = torch.tensor([0.2, 1.0, 1.0, 0.2])[None, None, None, :]
    pred = target.clone()
    pred[..., 1] -= 1.0
    pred[..., 0] += 0.5
    errors = torch.tensor([0.5, 1.0, 0.0, 0.0])  # per pixel, the same in each channel
    assert fill_weighted_l1(pred, target, bw, 0.0).item() == pytest.approx(errors.mean().item())
    weights = torch.tensor([1.0, 11.0, 1.0, 1.0])  # only the fill: paper in B/W, not white in color
    assert fill_weighted_l1(pred, target, bw, 10.0).item() == pytest.approx(
        ((errors * weights).mean() / weights.mean()).item())
    # With a luminance B/W version (--bw_style gray) no pixel is paper but the paper itself: the plain L1.
    gray = gray_like(target, 1)
    assert fill_weighted_l1(pred, target, gray, 10.0).item() == pytest.approx(errors.mean().item())


def test_fill_weight_changes_the_grayscale_identity_and_needs_it(tmp_path, dataroot, capsys):
    g = torch.Generator().manual_seed(0)
    real_A, real_B = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1, torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    paper = torch.rand(1, 1, 32, 32, generator=g) > 0.5
    bw_B = torch.where(paper, torch.ones(1, 1, 32, 32), gray_like(real_B, 1)).expand(-1, 3, -1, -1)
    model, _ = _model(tmp_path, dataroot, ["--lambda_gray_identity", "5", "--bw_style", "ink", "--fill_weight", "10"])
    with torch.no_grad():
        colored = model._G_A(bw_B)  # before the step changes the weights
    weighted = fill_weighted_l1(colored, real_B, bw_B, 10.0)
    assert weighted.item() != pytest.approx(F.l1_loss(colored, real_B).item(), rel=1e-4)
    _, stats = model.generator_step(real_A, real_B, bw_B)
    assert stats["gray_idt"].item() == pytest.approx(5 * weighted.item(), rel=1e-5)
    with pytest.raises(SystemExit):
        parse_train_options(["--dataroot", "unused", "--fill_weight", "4"])
    assert "--fill_weight 4.0 weighs the grayscale identity" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # a luminance B/W version has (nearly) no paper-white fills to weigh
        parse_train_options(["--dataroot", "unused", "--fill_weight", "4", "--lambda_gray_identity", "5"])
    assert "use --bw_style ink or ink_tone" in capsys.readouterr().err


def test_output_luma_input_gray_identity_luma_loss_and_lr_D(tmp_path, dataroot):
    model, _ = _model(tmp_path, dataroot, ["--output_luma", "input", "--lambda_gray_identity", "2", "--lambda_luma", "1",
                                           "--lr_D", "0.0004"])
    real_A = torch.rand(1, 3, 32, 32) - 0.5
    real_B = torch.rand(1, 3, 32, 32) - 0.5
    visuals, stats = model.generator_step(real_A, real_B, gray_like(real_B, 3))
    assert {"gray_idt", "luma"} <= set(stats)
    assert stats["luma"].item() < 1e-3, "with --output_luma input the luminance loss has nothing left to do"
    assert torch.allclose(luma(visuals.fake_B), luma(real_A), atol=0.02)  # up to clipping at black/white
    assert torch.allclose(luma(model.colorize(real_A)), luma(real_A), atol=0.02)
    assert model.optimizer_D.param_groups[0]["lr"] == pytest.approx(4e-4)
    model.set_lr(1e-4)
    assert model.optimizer_G.param_groups[0]["lr"] == pytest.approx(1e-4)
    assert model.optimizer_D.param_groups[0]["lr"] == pytest.approx(2e-4), "TTUR ratio kept through the schedule"


def test_spectral_norm_discriminators_train_and_resume(tmp_path, dataroot):
    flags = tiny_flags(dataroot, str(tmp_path), name="sn") + ["--spectral_norm"]
    model, _ = _model(tmp_path, dataroot, ["--spectral_norm"])
    keys = model.networks["D_A"].state_dict()
    assert any(k.endswith("parametrizations.weight.original") for k in keys)
    assert not any("parametrizations" in k for k in model.networks["G_A"].state_dict()), "G stays upstream-shaped"
    assert train.main(flags) == 0
    assert train.main(flags[:-1] + ["--continue_train"]) == 2, "resuming without the flag is an architecture mismatch"
    assert train.main(flags + ["--continue_train", "--n_epochs_decay", "2"]) == 0


def test_multiscale_discriminator_scores_every_scale():
    single = define_D("basic", 3, ndf=4)
    assert not any(k.startswith("scales.") for k in single.state_dict()), "num_D 1 keeps upstream's keys"
    multi = define_D("basic", 3, ndf=4, num_D=2)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    scores = multi(x)
    assert [s.shape[-1] for s in scores] == [6, 2]
    assert torch.allclose(scores[0], multi.scales[0](x)), "the first critic sees the page at full size"
    half = torch.nn.functional.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
    assert torch.allclose(scores[1], multi.scales[1](half)), "the second sees it at half size"
    loss = GANLoss("lsgan")
    assert torch.allclose(loss(scores, True), (loss(scores[0], True) + loss(scores[1], True)) / 2)
    assert gradient_penalty(multi, x, x.flip(0)).item() >= 0
    with pytest.raises(ValueError, match="num_D must be at least 1"):
        define_D("basic", 3, ndf=4, num_D=0)


def test_num_D_too_deep_for_the_crop_is_a_flag_error(tmp_path, dataroot, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_train_options(tiny_flags(dataroot, str(tmp_path)) + ["--num_D", "2"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--num_D 2 shrinks --crop_size 32 to 16 px" in err and "needs at least 24" in err
    assert parse_train_options(tiny_flags(dataroot, str(tmp_path)) + ["--num_D", "2", "--netD", "pixel"]).num_D == 2
    with pytest.raises(SystemExit):
        parse_train_options(tiny_flags(dataroot, str(tmp_path)) + ["--ema_decay", "1"])
    assert "--ema_decay: must be < 1, got 1" in capsys.readouterr().err


def test_weight_average_follows_with_warmup_and_colorize_uses_it(tmp_path, dataroot):
    net = torch.nn.Linear(2, 2)
    average = WeightAverage(net, decay=0.999)
    start = average.net.weight.clone()
    with torch.no_grad():
        net.weight.add_(1.0)
    average.update(net)  # decay min(0.999, 1/10) at the first update
    assert torch.allclose(average.net.weight, start + 0.9)
    assert not average.net.weight.requires_grad

    model, _ = _model(tmp_path, dataroot, ["--ema_decay", "0.99"])
    real_A, real_B = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    for _ in range(3):
        model.discriminator_step(model.generator_step(real_A, real_B)[0])
    assert model.ema.updates == 3
    raw = model.networks["G_A"].eval()(real_A)
    assert torch.allclose(model.colorize(real_A), model.ema.net(real_A))
    assert not torch.allclose(model.colorize(real_A), raw), "validation colorizes with the average"
    assert set(model.state_dict()["networks"]) == {"G_A", "G_B", "D_A", "D_B", "G_A_ema"}


def test_ema_and_multiscale_d_resume_exactly_and_test_py_uses_the_average(tmp_path, dataroot, caplog):
    extra = ["--ema_decay", "0.9", "--num_D", "2", "--load_size", "52", "--crop_size", "48"]
    straight = tiny_flags(dataroot, str(tmp_path / "a"), name="ema") + extra
    assert train.main(straight + ["--save_latest_freq", "3", "--save_by_iter"]) == 0
    resumed_dir = tmp_path / "b" / "ema"
    resumed_dir.mkdir(parents=True)
    shutil.copy(tmp_path / "a" / "ema" / "iter_3_checkpoint.pth", resumed_dir)
    assert train.main(tiny_flags(dataroot, str(tmp_path / "b"), name="ema") + extra
                      + ["--continue_train", "--load_iter", "3"]) == 0
    a = torch.load(tmp_path / "a" / "ema" / "latest_checkpoint.pth", weights_only=True)
    b = torch.load(resumed_dir / "latest_checkpoint.pth", weights_only=True)
    assert a["ema_updates"] == b["ema_updates"] == 8
    for net in ("G_A_ema", "D_A"):
        assert all(torch.equal(a["networks"][net][k], b["networks"][net][k]) for k in a["networks"][net])
    assert train.main(straight + ["--continue_train", "--num_D", "1"]) == 2, "num_D is part of the architecture"

    run_dir = tmp_path / "a" / "ema"
    average = torch.load(run_dir / "latest_net_G_A_ema.pth", weights_only=True)
    assert all(torch.equal(average[k], a["networks"]["G_A_ema"][k]) for k in average)
    out = {}
    for flags in ([], ["--no_ema"]):
        out_dir = tmp_path / ("out" + "".join(flags))
        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert colorize_cli.main(["--dataroot", os.path.join(dataroot, "testA"), "--name", "ema",
                                      "--checkpoints_dir", str(tmp_path / "a"), "--output_dir", str(out_dir),
                                      "--precision", "fp32", *flags]) == 0
        used = "latest_net_G_A_ema.pth" if not flags else "latest_net_G_A.pth"
        assert used in caplog.text
        first = sorted(n for n in os.listdir(out_dir) if not n.startswith("."))[0]
        out[tuple(flags)] = np.asarray(Image.open(out_dir / first), dtype=float)
    assert np.abs(out[()] - out[("--no_ema",)]).max() > 0, "--no_ema colorizes with the last weights"


def _colorized_luma(tmp_path, dataroot, name):
    """test.py on <dataroot>/testA with run `name` under tmp_path/ck: (page, output) luminance pairs."""
    out = tmp_path / "out"
    assert colorize_cli.main(["--dataroot", os.path.join(dataroot, "testA"), "--name", name,
                              "--checkpoints_dir", str(tmp_path / "ck"), "--output_dir", str(out),
                              "--precision", "fp32"]) == 0
    for file in os.listdir(os.path.join(dataroot, "testA")):
        page = np.asarray(Image.open(os.path.join(dataroot, "testA", file)).convert("L"), dtype=float)
        yield page, np.asarray(Image.open(out / file).convert("L"), dtype=float)


def test_grayscale_scans_train_with_gray_identity_and_test_keeps_their_luminance(tmp_path, dataroot):
    """--input_nc 1 cannot use the identity loss; the grayscale identity stands in for it."""
    flags = tiny_flags(dataroot, str(tmp_path / "ck"), name="gray") + [
        "--input_nc", "1", "--lambda_identity", "0", "--output_luma", "input", "--lambda_gray_identity", "5",
        "--bw_style", "screentone"]
    assert train.main(flags) == 0
    run_dir = tmp_path / "ck" / "gray"
    lines = [json.loads(line) for line in open(run_dir / "loss_log.jsonl")]
    assert "loss/gray_idt" in lines[-1] and lines[-1]["loss/gray_idt"] > 0

    for page, result in _colorized_luma(tmp_path, dataroot, "gray"):
        assert np.abs(result - page).max() <= 3  # luminance passed through (YCbCr rounding aside)


def test_output_luma_needs_color_output(tmp_path, dataroot, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_train_options(tiny_flags(dataroot, str(tmp_path)) + ["--output_luma", "darker", "--output_nc", "1",
                                                                    "--lambda_identity", "0"])
    assert exc.value.code == 2 and "--output_luma darker needs color output" in capsys.readouterr().err


# --------------------------------------------------------------------------
# scripts/run_experiment.py

def _row(config, seed, ciede, s_per_iter=0.2):
    metrics = {"ciede2000": ciede, "ssim": 0.99, "kid": 0.05, "fid": 150.0, "psnr": 27.0, "ab_mae": 0.5,
               "colorfulness_pred": 10.0, "colorfulness_gt": 11.3, "kid_std": 0.01}
    return {"config": config, "seed": seed, "epochs": 4, "metrics": metrics, "s_per_iter": s_per_iter,
            "pred_dir": "x", "flags": [], "iterations": 960, "train_s": 1.0, "dataroot": "d"}


def test_experiment_table_means_and_spreads(tmp_path):
    results = str(tmp_path / "results.jsonl")
    for row in (_row("plain", 0, 2.0), _row("plain", 1, 3.0), _row("recipe", 0, 0.8), _row("recipe", 0, 9, 0.3)):
        run_experiment.append_row(results, row)
    rows = run_experiment.read_rows(results)
    assert len(rows) == 4
    rows[-1]["epochs"] = 2  # another budget: not in this table
    table = run_experiment.format_table(rows, epochs=4)
    assert "| `plain` | 2 | 2.50 ± 0.71 |" in table
    assert "| `recipe` | 1 | 0.80 |" in table and "9.00" not in table
    assert "colorfulness (gt 11.3)" in table
    with pytest.raises(Exception, match="no rows with --epochs 7"):
        run_experiment.format_table(rows, epochs=7)


def test_experiment_cli_rejects_unknown_configs(capsys):
    assert run_experiment.main(["nonsense"]) == 2
    assert "unknown configuration 'nonsense'" in capsys.readouterr().err
    assert run_experiment.main(["--list"]) == 0
    assert "plain" in capsys.readouterr().out


def test_experiment_grid_shows_pages_and_names_a_missing_prediction_folder(tmp_path, dataroot, capsys):
    for copy in (os.path.join(dataroot, "testB"), tmp_path / "pred"):
        shutil.copytree(os.path.join(dataroot, "testA"), copy)
    results = str(tmp_path / "results.jsonl")
    run_experiment.append_row(results, {**_row("plain", 0, 2.0), "pred_dir": str(tmp_path / "pred")})
    grid = ["--grid", "bw_input", "plain", "gt", "--pages", "2", "--epochs", "4", "--results", results,
            "--dataroot", dataroot, "--out", str(tmp_path / "grid.png")]
    assert run_experiment.main(grid) == 0
    assert Image.open(tmp_path / "grid.png").size == (3 * 32 + 2 * 4, 2 * 32 + 4)
    shutil.rmtree(tmp_path / "pred")
    assert run_experiment.main(grid) == 2
    assert f"--grid plain: no colorized pages in {tmp_path / 'pred'}" in capsys.readouterr().err


def test_every_experiment_config_parses(tmp_path, dataroot):
    for name, config in run_experiment.CONFIGS.items():
        flags = [*run_experiment.budget_flags(1), *config.flags]
        opt = parse_train_options(["--dataroot", dataroot, *flags])
        assert opt.n_epochs == 1, name


@pytest.mark.parametrize("mode, gain", [("darker", 1.0), ("multiply", 1.0), ("multiply_headroom", 1.25)])
def test_darker_and_multiply_models_keep_the_scan_ink_in_test_py(tmp_path, dataroot, mode, gain):
    flags = tiny_flags(dataroot, str(tmp_path / "ck"), name="dark") + ["--output_luma", mode]
    assert train.main(flags) == 0
    for page, result in _colorized_luma(tmp_path, dataroot, "dark"):
        # Never lighter than the scan, or than its headroom allows (YCbCr rounding aside): ink stays ink.
        assert (result <= np.minimum(255, page * gain) + 3).all()


def test_the_recipe_flags_set_the_preset_values(dataroot):
    """run_experiment's recipe row is built from the preset (as_flags): the flags must parse back to
    exactly the preset's values, and without a preset nothing of the recipe is on."""
    recipe = parse_train_options(["--dataroot", dataroot, *as_flags(DRAWINGS_RECIPE)])
    for key, value in DRAWINGS_RECIPE.items():
        assert vars(recipe)[key] == value, key
    assert run_experiment.CONFIGS[run_experiment.PRESET_CONFIG].flags == tuple(as_flags(DRAWINGS_RECIPE))
    upstream = parse_train_options(["--dataroot", dataroot])
    assert all(vars(upstream)[key] != value for key, value in DRAWINGS_RECIPE.items())
    assert not parse_train_options(["--dataroot", dataroot, "--preset", "manga", "--no_global_context"]).global_context
    with pytest.raises(ValueError):
        as_flags({"global_context": False})


def test_experiment_targets_report_met_and_missed():
    preset = run_experiment.PRESET_CONFIG
    rows = [_row("bw_input", 0, 1.0, None), _row("plain", 0, 3.0), _row("plain", 1, 3.0), _row(preset, 0, 0.9, 0.3)]
    rows[0]["epochs"] = 0  # the do-nothing row belongs to every budget
    rows[1]["metrics"]["kid"] = rows[2]["metrics"]["kid"] = 0.2
    report = run_experiment.check_targets(rows, epochs=4)
    assert "NOT met: CIEDE2000 at least 20% below the B/W input: 0.90 vs 1.00 (-10%)" in report
    assert "- met: KID at least 30% below plain CycleGAN: 0.050 vs 0.200 (-75%)" in report
    assert "NOT met: at most 15% slower per iteration than plain: +50%" in report
    assert "met: colorfulness within 15% of the ground truth" in report
    assert f"no rows yet for {preset}" in run_experiment.check_targets(rows[:3], epochs=4)


def test_global_context_trains_resumes_and_colorizes(tmp_path, dataroot):
    flags = tiny_flags(dataroot, str(tmp_path / "ck"), name="gc") + ["--global_context", "--upsampling", "resize"]
    assert train.main(flags) == 0
    state = torch.load(tmp_path / "ck" / "gc" / "latest_net_G_A.pth", weights_only=True)
    assert any(k.startswith("context.") for k in state)
    assert train.main([f for f in flags if f != "--global_context"] + ["--continue_train"]) == 2, \
        "global_context is part of the architecture"
    pages = list(_colorized_luma(tmp_path, dataroot, "gc"))  # test.py rebuilds it from opt.json
    assert pages and all(page.shape == result.shape for page, result in pages)


def _generator_grads(tmp_path, dataroot, extra):
    model, _ = _model(tmp_path, dataroot, ["--lambda_identity", "0", *extra])
    torch.manual_seed(1)
    model.generator_step(torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1)
    return {name: [p.grad.clone() for p in model.networks[name].parameters()] for name in ("G_A", "G_B")}


@pytest.mark.parametrize("cycle,first,second", [("A", "G_A", "G_B"), ("B", "G_B", "G_A")])
def test_detached_cycle_trains_only_its_second_generator(tmp_path, dataroot, cycle, first, second):
    def same(a, b):
        return all(torch.equal(x, y) for x, y in zip(a, b))

    for detach in (True, False):
        flag = [f"--detach_cycle_{cycle}"] if detach else []
        with_cycle = _generator_grads(tmp_path, dataroot, flag)
        without = _generator_grads(tmp_path, dataroot, flag + [f"--lambda_{cycle}", "0"])
        assert not same(with_cycle[second], without[second]), "the cycle always trains its second generator"
        assert same(with_cycle[first], without[first]) == detach, "it reaches the first one unless detached"


def test_cycle_noise_reaches_only_the_B_cycle_and_repeats_with_the_seed(tmp_path, dataroot):
    def losses(extra):
        model, _ = _model(tmp_path, dataroot, ["--lambda_identity", "0", *extra])
        torch.manual_seed(1)
        real_A, real_B = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
        torch.manual_seed(2)
        return model.generator_step(real_A, real_B)[1]

    plain, noisy, again = losses([]), losses(["--cycle_noise", "0.5"]), losses(["--cycle_noise", "0.5"])
    assert noisy["cycle_B"].item() != plain["cycle_B"].item(), "G_A restores a noisy page"
    assert noisy["cycle_A"].item() == plain["cycle_A"].item(), "the other cycle is untouched"
    assert noisy["cycle_B"].item() == again["cycle_B"].item(), "the noise comes from torch's seeded RNG"


def test_cycle_noise_input_only_restores_the_clean_pages_luminance(tmp_path, dataroot):
    from models.color import luma

    def step(extra):
        # --output_luma input gives the restored page exactly the luminance of the page it is tied to.
        model, _ = _model(tmp_path, dataroot, ["--output_luma", "input", "--cycle_noise", "0.5", *extra])
        torch.manual_seed(2)
        visuals, _ = model.generator_step(torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1)
        return (luma(visuals.rec_B) - luma(visuals.fake_A)).abs().max().item()

    assert step(["--cycle_noise_input_only"]) < 1e-5, "G_A's output takes the clean page's luminance"
    assert step([]) > 0.1, "without it, the noisy page's"
    with pytest.raises(SystemExit):
        parse_train_options(tiny_flags(dataroot, str(tmp_path)) + ["--cycle_noise_input_only"])


def test_a_narrow_G_B_trains_resumes_and_is_loaded_at_its_width(tmp_path, dataroot, capsys):
    from inference.generator_loader import load_generator
    from util.checkpoint import weights_config_path

    base = tiny_flags(dataroot, str(tmp_path / "ck"), name="gb")
    flags = base + ["--ngf_B", "2"]
    assert train.main(flags) == 0
    run_dir = str(tmp_path / "ck" / "gb")
    first_conv = lambda state: next(v for k, v in state.items() if k.endswith("weight") and v.dim() == 4)  # noqa: E731
    assert first_conv(torch.load(os.path.join(run_dir, "latest_net_G_A.pth"), weights_only=True)).shape[0] == 4
    assert first_conv(torch.load(os.path.join(run_dir, "latest_net_G_B.pth"), weights_only=True)).shape[0] == 2
    loaded = load_generator(run_dir, "latest", "G_B", parse_train_options(flags), torch.device("cpu"))
    g_b_size = sum(p.numel() for p in loaded.net.parameters())
    assert g_b_size < sum(
        p.numel() for p in load_generator(run_dir, "latest", "G_A", parse_train_options(flags),
                                          torch.device("cpu")).net.parameters()) / 2
    os.remove(weights_config_path(run_dir, "latest", "G_B"))  # a run without descriptions: from opt.json
    assert sum(p.numel() for p in load_generator(run_dir, "latest", "G_B", parse_train_options(base),
                                                 torch.device("cpu")).net.parameters()) == g_b_size
    assert train.main(base + ["--ngf_B", "3", "--continue_train"]) == 2, "ngf_B is architecture"
    assert "ngf_B" in capsys.readouterr().err
    assert next(_colorized_luma(tmp_path, dataroot, "gb"))  # test.py colorizes with G_A as before
    with pytest.raises(SystemExit):
        parse_train_options(flags + ["--level_channels", "2"])
    assert "G_B's width (2)" in capsys.readouterr().err


def test_gray_octaves_B_sets_G_Bs_encoding_and_older_runs_keep_theirs(tmp_path, dataroot):
    flags = tiny_flags(dataroot, str(tmp_path / "ck"), name="gb") + ["--gray_octaves", "2", "--gray_window", "3"]

    def stem_inputs(model):  # the page's 3 channels, and 2 per octave of an encoding
        stems = {name: model.networks[name].model[1] for name in ("G_A", "G_B")}
        return {name: (stem.conv if isinstance(stem, GrayEncodingConv) else stem).in_channels
                for name, stem in stems.items()}
    assert stem_inputs(_model(tmp_path, dataroot, ["--gray_octaves", "2"])[0]) == {"G_A": 7, "G_B": 7}
    model, _ = _model(tmp_path, dataroot, ["--gray_octaves", "2", "--gray_octaves_B", "0", "--gray_window", "3"])
    assert stem_inputs(model) == {"G_A": 7, "G_B": 3}, "G_B's stem sees the page only"
    assert train.main(flags + ["--gray_octaves_B", "0"]) == 0
    run_dir = tmp_path / "ck" / "gb"
    with open(run_dir / "latest_net_G_B.json", encoding="utf-8") as f:
        described = json.load(f)["define_G"]
    assert (described["gray_octaves"], described["gray_window"]) == (0, 1)
    assert train.main(flags + ["--continue_train"]) == 2, "G_B's encoding is part of the architecture"
    # A run saved before --gray_octaves_B existed gave G_B the same encoding as G_A.
    checkpoint = run_dir / "latest_checkpoint.pth"
    state = torch.load(checkpoint, weights_only=False)
    del state["options"]["gray_octaves_B"]
    torch.save(state, checkpoint)
    assert train.main(flags + ["--gray_octaves_B", "0", "--continue_train"]) == 2
