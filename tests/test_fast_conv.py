"""models/fast_conv.py: Winograd/FFT convolutions for fp32 CPU inference, equal to the direct ones up to rounding."""

import copy

import numpy as np
import pytest
import torch
from PIL import Image

import test as colorize_cli
from inference.colorizer import Colorizer
from models import fast_conv
from models.fast_conv import FastConv2d, fast_convolutions_available, use_fast_convolutions
from models.networks import define_G

needs_nnpack = pytest.mark.skipif(not fast_convolutions_available(), reason="NNPACK does not run on this CPU")


@pytest.fixture
def nnpack_calls(monkeypatch):
    """The input shapes NNPACK was called with."""
    calls = []
    real = torch._nnpack_spatial_convolution

    def counting(x, *args):
        calls.append(tuple(x.shape))
        return real(x, *args)

    monkeypatch.setattr(torch, "_nnpack_spatial_convolution", counting)
    return calls


@needs_nnpack
def test_swap_keeps_the_weights_and_the_result(nnpack_calls):
    torch.manual_seed(0)
    net = define_G("resnet_6blocks", 3, 3, ngf=16, upsampling="resize").eval()
    fast = copy.deepcopy(net)
    # The 7x7 stem and output, the resize-convolutions' 3x3s and the blocks' 3x3s, and the stride-2 convs in bands.
    assert use_fast_convolutions(fast) == 2 + 2 + 12 + 2
    assert [type(m).__name__ for m in fast.model if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)] == \
        ["BandedConv2d"] * 2
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), fast.state_dict().values()))
    assert list(net.state_dict()) == list(fast.state_dict())
    x = torch.rand(1, 3, 128, 96) * 2 - 1
    with torch.inference_mode():
        direct, quick = net(x), fast(x)
    # Full-resolution layers (128 x 96 out) run by NNPACK, the 32 x 24 blocks and the 64 x 48 resize-conv directly.
    assert sorted(nnpack_calls) == [(1, 3, 134, 102), (1, 16, 134, 102), (1, 32, 130, 98)]
    assert 0 < (direct - quick).abs().max() < 1e-4  # another algorithm: rounding differs, nothing else


@needs_nnpack
def test_direct_forward_wherever_nnpack_would_not_serve(nnpack_calls):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 16, 3)
    fast = FastConv2d.from_conv(conv)
    x = torch.rand(1, 16, 80, 80)
    assert torch.equal(fast(x), conv(x))  # gradients on: training keeps PyTorch's own convolution
    with torch.no_grad():
        assert torch.equal(fast(x[:, :, :40]), conv(x[:, :, :40]))  # 38 px out: too small to gain
        assert torch.equal(fast.bfloat16()(x.bfloat16()), conv.bfloat16()(x.bfloat16()))  # not fp32
        assert nnpack_calls == []
        fast.float()(x)
    assert nnpack_calls == [(1, 16, 80, 80)]


@needs_nnpack
def test_colorizer_uses_them_only_for_fp32_on_cpu():
    torch.manual_seed(0)
    net = define_G("resnet_6blocks", 3, 3, ngf=16)
    cpu = torch.device("cpu")
    assert Colorizer(copy.deepcopy(net).eval(), cpu, 4, output_nc=3, input_nc=3).fast_convolutions > 0
    assert Colorizer(copy.deepcopy(net).eval(), cpu, 4, output_nc=3, input_nc=3, cpu_kernels="upstream"
                     ).fast_convolutions == 0
    assert Colorizer(copy.deepcopy(net).eval(), cpu, 4, output_nc=3, input_nc=3, precision="bf16"
                     ).fast_convolutions == 0
    with pytest.raises(ValueError, match="cpu_kernels"):
        Colorizer(copy.deepcopy(net).eval(), cpu, 4, output_nc=3, input_nc=3, cpu_kernels="winograd")


@needs_nnpack
def test_exact_tiling_stays_exact_with_fast_convolutions():
    torch.manual_seed(0)
    net = define_G("resnet_6blocks", 3, 3, ngf=16, upsampling="resize").eval()
    rng = np.random.default_rng(0)
    page = Image.fromarray(rng.integers(0, 255, (40, 30), dtype=np.uint8)).resize((300, 400), Image.BILINEAR).convert("RGB")
    whole = Colorizer(copy.deepcopy(net), torch.device("cpu"), 4, output_nc=3, input_nc=3, tile_size=0,
                      cpu_kernels="upstream").colorize(page)
    colorizer = Colorizer(copy.deepcopy(net), torch.device("cpu"), 4, output_nc=3, input_nc=3, tile_size=128)
    tiled = colorizer.colorize(page)
    assert colorizer.fast_convolutions > 0
    diff = np.abs(np.asarray(tiled, np.int16) - np.asarray(whole, np.int16))
    assert diff.max() <= 1  # rounding to 8 bits at most one step apart


def test_test_py_refuses_an_unknown_algorithm(capsys):
    with pytest.raises(SystemExit):
        colorize_cli.main(["--dataroot", "x", "--cpu_kernels", "fft"])
    assert "--cpu_kernels" in capsys.readouterr().err


@needs_nnpack
def test_large_inputs_run_in_bands_with_the_same_result(monkeypatch, nnpack_calls):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 24, 7)
    fast = FastConv2d.from_conv(conv)
    x = torch.rand(1, 16, 100, 76)
    with torch.no_grad():
        whole = fast(x)
        assert len(nnpack_calls) == 1
        # 30 rows of input and output (16 + 24 channels, 76 px): 94 output rows in bands of 30, 30, 30 and 4
        monkeypatch.setattr(fast_conv, "FAST_BAND_BYTES", 30 * (16 + 24) * 76 * 4)
        banded = fast(x)
        direct = conv(x)
    assert [shape[2] for shape in nnpack_calls[1:]] == [36, 36, 36, 10]
    assert torch.allclose(banded, whole, atol=1e-5) and torch.allclose(banded, direct, atol=1e-4)


@pytest.mark.parametrize("kernel,stride,padding,output_padding",
                         [(3, 2, 1, 1), (4, 2, 1, 0), (3, 1, 1, 0), (5, 3, 2, 2), (3, 2, 0, 1)])
def test_banded_transposed_convolution_equals_the_whole(monkeypatch, kernel, stride, padding, output_padding):
    torch.manual_seed(0)
    conv = torch.nn.ConvTranspose2d(16, 8, kernel, stride=stride, padding=padding, output_padding=output_padding)
    banded = fast_conv.BandedConvTranspose2d.from_conv(conv)
    x = torch.randn(2, 16, 37, 21)
    row_bytes = 2 * (16 * 21 + stride * 8 * 21 * stride) * 4
    monkeypatch.setattr(fast_conv, "FAST_BAND_BYTES", 5 * row_bytes)  # 5 input rows per band: 8 bands
    calls = []
    real = torch.nn.functional.conv_transpose2d
    monkeypatch.setattr(torch.nn.functional, "conv_transpose2d", lambda *a, **k: calls.append(1) or real(*a, **k))
    with torch.no_grad():
        whole, parts = conv(x), banded(x)
    assert len(calls) == 8 + 1  # the whole (nn.ConvTranspose2d's own call) and 8 bands
    assert parts.shape == whole.shape and torch.allclose(parts, whole, atol=1e-5)
    assert torch.equal(banded(x), conv(x))  # with gradients: nn.ConvTranspose2d's own forward


@needs_nnpack
def test_a_reflection_padding_is_folded_into_the_convolution(monkeypatch, nnpack_calls):
    torch.manual_seed(0)
    direct = torch.nn.Sequential(torch.nn.ReflectionPad2d(3), torch.nn.Conv2d(16, 8, 7), torch.nn.ReLU())
    fast = copy.deepcopy(direct)
    assert use_fast_convolutions(fast) == 1
    assert isinstance(fast[0], torch.nn.Identity) and fast[1].padding_mode == "reflect"
    x = torch.rand(1, 16, 90, 70)
    with torch.no_grad():
        whole = fast(x)
        monkeypatch.setattr(fast_conv, "FAST_BAND_BYTES", 20 * (16 + 8) * 76 * 4)  # bands of 20 rows
        banded = fast(x)
        expected = direct(x)
    assert [shape[2:] for shape in nnpack_calls] == [(96, 76)] + [(26, 76)] * 4 + [(16, 76)]
    assert torch.allclose(whole, expected, atol=1e-5) and torch.allclose(banded, expected, atol=1e-5)
    assert torch.equal(fast(x), direct(x))  # with gradients: nn.Conv2d's own reflection padding
    with pytest.raises(ValueError, match="unpadded"):
        FastConv2d.from_conv(torch.nn.Conv2d(16, 16, 3, padding=1))


def test_resnet_block_without_autograd_adds_in_place_to_the_same_sum():
    torch.manual_seed(0)
    net = define_G("resnet_6blocks", 3, 3, ngf=8).eval()
    x = torch.rand(1, 3, 40, 40) * 2 - 1
    with_grad = net(x)
    with torch.no_grad():
        assert torch.equal(net(x), with_grad)


@needs_nnpack
def test_fast_kernels_normalise_in_place_within_rounding():
    torch.manual_seed(0)
    net = define_G("resnet_6blocks", 3, 3, ngf=16).eval()
    x = torch.rand(1, 3, 96, 80) * 2 - 1
    fast = Colorizer(copy.deepcopy(net), torch.device("cpu"), 4, output_nc=3, input_nc=3, tile_size=0)
    upstream = Colorizer(copy.deepcopy(net), torch.device("cpu"), 4, output_nc=3, input_nc=3, tile_size=0,
                         cpu_kernels="upstream")
    assert all(norm.by_hand for norm in fast.norms) and not any(norm.by_hand for norm in upstream.norms)
    a, b = fast.run_tensor(x), upstream.run_tensor(x)
    assert torch.equal(b, net(x).detach())  # upstream: PyTorch's own layers, bit for bit
    assert 0 < (a - b).abs().max() < 1e-4


@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, 1), (4, 2, 1), (3, 3, 0), (5, 2, 2)])
def test_banded_strided_convolution_equals_the_whole(monkeypatch, kernel, stride, padding):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 16, kernel, stride=stride, padding=padding)
    banded = fast_conv.BandedConv2d.from_conv(conv)
    x = torch.randn(2, 8, 41, 23)
    out_w = (23 + 2 * padding - kernel) // stride + 1
    monkeypatch.setattr(fast_conv, "FAST_BAND_BYTES", 4 * 2 * (8 * 23 * stride + 16 * out_w) * 4)  # 4 rows a band
    calls = []
    real = torch.nn.functional.conv2d
    monkeypatch.setattr(torch.nn.functional, "conv2d", lambda *a, **k: calls.append(1) or real(*a, **k))
    with torch.no_grad():
        whole, parts = conv(x), banded(x)
    assert len(calls) == 1 + -(-whole.shape[2] // 4)
    assert parts.shape == whole.shape and torch.allclose(parts, whole, atol=1e-6)
    assert torch.equal(banded(x), conv(x)) and len(calls) == 3 + -(-whole.shape[2] // 4)  # with gradients: whole


def test_swaps_leave_what_they_cannot_compute_and_torch_random_numbers_alone():
    uneven = torch.nn.Sequential(torch.nn.ReflectionPad2d((1, 1, 2, 2)), torch.nn.Conv2d(16, 16, 3))
    sparse = torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 8, 1, stride=2))  # kernel < stride: gaps between bands
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    use_fast_convolutions(uneven)
    use_fast_convolutions(sparse)
    assert torch.equal(torch.rand(1), expected)  # no initial weights drawn for the swapped layers
    assert isinstance(uneven[0], torch.nn.ReflectionPad2d)  # not folded: it pads rows and columns differently
    assert type(sparse[0]) is torch.nn.ConvTranspose2d
