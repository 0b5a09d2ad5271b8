import pytest
import torch
import torch.nn.functional as F

from models.networks import (DISCRIMINATORS, GENERATORS, INIT_TYPES, NORMS, define_D, define_G,
                             required_multiple)


@pytest.mark.parametrize("net_g", sorted(GENERATORS))
def test_every_generator_keeps_size_and_range(net_g):
    size = max(32, required_multiple(net_g))
    net = define_G(net_g, 3, 3, ngf=4, norm="instance")
    out = net(torch.randn(1, 3, size, size))
    assert out.shape == (1, 3, size, size)
    assert out.abs().max() <= 1.0


@pytest.mark.parametrize("input_nc,output_nc", [(1, 3), (3, 1)])
def test_generator_channel_counts(input_nc, output_nc):
    net = define_G("resnet_6blocks", input_nc, output_nc, ngf=4)
    assert net(torch.randn(2, input_nc, 16, 24)).shape == (2, output_nc, 16, 24)


def test_resize_upsampling_has_no_transposed_conv_and_keeps_size():
    net = define_G("resnet_6blocks", 3, 3, ngf=4, upsampling="resize")
    assert not any(isinstance(m, torch.nn.ConvTranspose2d) for m in net.modules())
    assert net(torch.randn(1, 3, 20, 28)).shape == (1, 3, 20, 28)


@pytest.mark.parametrize("net_d", sorted(DISCRIMINATORS))
@pytest.mark.parametrize("norm", NORMS)
def test_every_discriminator_gives_patch_scores(net_d, norm):
    net = define_D(net_d, 3, ndf=4, n_layers_D=2, norm=norm)
    out = net(torch.randn(2, 3, 64, 64))
    assert out.shape[:2] == (2, 1)
    if net_d == "pixel":
        assert out.shape[2:] == (64, 64)


def test_basic_discriminator_is_70px_patchgan():
    # 3 stride-2 layers and 2 stride-1 layers of 4x4 kernels: 256 -> 30x30 patch scores.
    assert define_D("basic", 3, ndf=4)(torch.randn(1, 3, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("init_type", INIT_TYPES)
def test_init_types(init_type):
    torch.manual_seed(0)
    net = define_G("resnet_6blocks", 3, 3, ngf=4, init_type=init_type, init_gain=0.02)
    first = net.model[1]
    assert first.bias.abs().max() == 0
    if init_type == "normal":
        assert 0.01 < first.weight.std() < 0.03


def test_batch_norm_init_gamma_near_one():
    net = define_D("basic", 3, ndf=8, norm="batch", init_gain=0.02)
    bn = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert abs(bn.weight.mean().item() - 1.0) < 0.05


# Key names of upstream's ResnetGenerator / UnetGenerator (pytorch-CycleGAN-and-pix2pix),
# which released weights use; they must load without renaming.
UPSTREAM_RESNET9_KEYS = {"model.1.weight", "model.1.bias", "model.4.weight", "model.7.weight",
                         "model.10.conv_block.1.weight", "model.10.conv_block.5.weight",
                         "model.18.conv_block.5.bias", "model.19.weight", "model.22.weight",
                         "model.26.weight", "model.26.bias"}


def test_resnet_generator_uses_upstream_parameter_names():
    keys = set(define_G("resnet_9blocks", 3, 3, ngf=4).state_dict())
    assert UPSTREAM_RESNET9_KEYS <= keys
    assert len(keys) == 2 + 2 + 2 + 9 * 4 + 2 + 2 + 2


def test_resnet_dropout_shifts_second_conv_like_upstream():
    keys = set(define_G("resnet_6blocks", 3, 3, ngf=4, use_dropout=True).state_dict())
    assert "model.10.conv_block.6.weight" in keys and "model.10.conv_block.5.weight" not in keys


def test_unet_uses_upstream_nesting():
    keys = set(define_G("unet_128", 3, 3, ngf=4, norm="batch").state_dict())
    assert {"model.model.0.weight", "model.model.1.model.1.weight", "model.model.1.model.2.running_mean",
            "model.model.3.weight", "model.model.3.bias"} <= keys
    assert "model.model.0.bias" not in keys  # batch norm follows, so no conv bias (as upstream)


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="resnet_9blocks"):
        define_G("resnet_99", 3, 3, ngf=4)
    with pytest.raises(ValueError, match="basic"):
        define_D("huge", 3, ndf=4)


def test_global_context_adds_a_page_style_and_keeps_the_upstream_keys():
    torch.manual_seed(0)
    plain = define_G("resnet_6blocks", 3, 3, ngf=4, upsampling="resize")
    net = define_G("resnet_6blocks", 3, 3, ngf=4, upsampling="resize", global_context=True).eval()
    keys = set(net.state_dict())
    assert set(plain.state_dict()) == {k for k in keys if k.startswith("model.")}
    assert keys - set(plain.state_dict()) and all(k.startswith("context.") for k in keys - set(plain.state_dict()))
    with torch.no_grad():
        for p in net.context.parameters():
            p.normal_(0.0, 0.5)  # a trained-sized style, so that it visibly matters
        a, b = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
        assert torch.equal(net(a), net(a, net.page_style(a)))
        # The style is page-wide: another page's style changes every pixel's output.
        assert (net(a, net.page_style(b)) - net(a)).abs().mean() > 1e-3
    with pytest.raises(ValueError, match="ResNet"):
        define_G("unet_128", 3, 3, ngf=4, global_context=True)
    with pytest.raises(ValueError, match="--norm instance or batch"):
        define_G("resnet_6blocks", 3, 3, ngf=4, norm="none", global_context=True)


def test_level_channels_let_the_generator_see_absolute_gray():
    torch.manual_seed(0)
    page = torch.rand(1, 3, 32, 32) * 2 - 1
    darker = 0.5 * page - 0.3  # the same page, uniformly darker: another screentone's gray
    plain = define_G("resnet_6blocks", 3, 3, ngf=8).eval()
    level = define_G("resnet_6blocks", 3, 3, ngf=8, level_channels=3).eval()
    assert set(level.state_dict()) == set(plain.state_dict())  # upstream's keys and shapes
    with torch.no_grad():
        # Instance norm after the first convolution: blind to a uniform brightness change.
        assert (plain(page) - plain(darker)).abs().max() < 1e-2
        assert (level(page) - level(darker)).abs().max() > 0.1
    for bad in ({"level_channels": 8}, {"level_channels": -1}, {"level_channels": 2, "norm": "batch"}):
        with pytest.raises(ValueError, match="level_channels"):
            define_G("resnet_6blocks", 3, 3, ngf=8, **bad)
    with pytest.raises(ValueError, match="ResNet"):
        define_G("unet_128", 3, 3, ngf=4, level_channels=2)


def test_gray_octaves_encode_each_pixel_gray_for_the_stem():
    net = define_G("resnet_6blocks", 3, 3, ngf=8, gray_octaves=2)
    assert net.state_dict()["model.1.conv.weight"].shape == (8, 3 + 4, 7, 7)
    assert set(net.state_dict()) - set(define_G("resnet_6blocks", 3, 3, ngf=8).state_dict()) == {
        "model.1.conv.weight", "model.1.conv.bias"}, "only the stem's keys differ from upstream's"
    seen = []
    net.model[1].conv.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    page = torch.full((1, 3, 16, 16), -0.5)  # gray 0.25 in [0, 1]
    net(page)
    # sin and cos of 2 pi * 0.25 and 4 pi * 0.25, after the page (reflection padding keeps a flat page flat)
    expected = torch.tensor([-0.5, -0.5, -0.5, 1.0, 0.0, 0.0, -1.0]).view(1, 7, 1, 1)
    assert torch.allclose(seen[0], expected.expand_as(seen[0]), atol=1e-6)
    with pytest.raises(ValueError, match="gray_octaves"):
        define_G("resnet_6blocks", 3, 3, ngf=8, gray_octaves=-1)
    with pytest.raises(ValueError, match="ResNet"):
        define_G("unet_128", 3, 3, ngf=4, gray_octaves=2)


def test_gray_window_encodes_the_tone_behind_the_ink():
    net = define_G("resnet_6blocks", 1, 1, ngf=8, gray_octaves=1, gray_window=5)
    seen = []
    net.model[1].conv.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    page = torch.ones(1, 1, 32, 32)  # white paper ...
    page[..., 16:, :] = 0.0  # ... over a tone of gray 0.5 (in [-1, 1]: 0)
    page[..., 8, :] = page[..., 24, :] = page[..., :, 5] = -1.0  # 1 px ink lines across both
    page[..., 9, :], page[..., 25, :] = 0.6, -0.4  # and their soft edges
    net(page)
    padded = F.pad(page, (3, 3, 3, 3), mode="reflect")  # the stem's reflection padding comes first
    expected = torch.zeros_like(padded)
    expected[..., :3 + 16 + 2, :] = 1.0  # white down to 2 px into the tone, whose edge the window erodes
    phase = (expected + 1.0) * 0.5 * 2 * torch.pi
    assert torch.equal(seen[0][:, :1], padded), "the page itself passes unchanged"
    assert torch.allclose(seen[0][:, 1:], torch.cat([phase.sin(), phase.cos()], dim=1), atol=1e-6), \
        "the encoding sees white and the tone, with no lines or soft edges"
    # A window of 1 is each pixel's own gray: the lines show in the encoding.
    plain = define_G("resnet_6blocks", 1, 1, ngf=8, gray_octaves=1)
    plain.model[1].conv.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    plain(page)
    assert torch.allclose(seen[1][:, 1:2], ((padded + 1.0) * 0.5 * 2 * torch.pi).sin(), atol=1e-6)
    for bad in (dict(gray_octaves=2, gray_window=4), dict(gray_octaves=2, gray_window=0), dict(gray_window=3)):
        with pytest.raises(ValueError, match="gray_window"):
            define_G("resnet_6blocks", 3, 3, ngf=8, **bad)
