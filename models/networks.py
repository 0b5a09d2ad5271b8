"""Generators and discriminators, with upstream's parameter names.

The module layouts (`model.1.weight`, `model.10.conv_block.1.weight`, the nested U-Net
`model.model.1...`) match pytorch-CycleGAN-and-pix2pix's ResnetGenerator, UnetGenerator,
NLayerDiscriminator and PixelDiscriminator, so state dicts trained there load here unchanged.
Builders take explicit keyword arguments; `define_G`/`define_D` are the only registry lookups.
"""

import dataclasses
import functools
import math
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import init

NORMS = ("instance", "batch", "none")
INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")
UPSAMPLINGS = ("transpose", "resize")


def norm_layer_factory(norm: str) -> Callable[[int], nn.Module]:
    """instance: no affine, no running stats (upstream's CycleGAN choice); batch: affine with running stats."""
    if norm == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if norm == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if norm == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm {norm!r}; choose from {', '.join(NORMS)}")


def _conv_bias(norm: str) -> bool:
    # Upstream gives convolutions a bias only before instance norm (batch norm has its own
    # shift; with no norm upstream also drops it). Kept so upstream state dicts load.
    return norm == "instance"


class ResnetBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection; reflection padding avoids border artifacts."""

    def __init__(self, dim: int, norm: str, use_dropout: bool) -> None:
        super().__init__()
        norm_layer = norm_layer_factory(norm)
        bias = _conv_bias(norm)
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, bias=bias), norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3, bias=bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return x + self.conv_block(x)
        # Without autograd, the sum goes into the block's fresh output: one full-size map less to allocate.
        return self.conv_block(x).add_(x)


class LevelKeepingNorm(nn.Module):
    """`norm_layer` on the first `channels - kept` channels; the last `kept` pass through unnormalized.

    Instance norm removes each channel's mean and scale over the image, so a network that starts
    with a convolution and instance norm returns the same output for a page and for any uniform
    brightening or darkening of it (a x + b, a > 0): it sees contrast, never a pixel's absolute
    gray. On manga the absolute gray is what says which tint a screentone stands for. The kept
    channels carry it (after the ReLU that follows, as thresholds on the gray level) into the rest
    of the network. Shapes are the norm's: N x C x H x W in and out.
    """

    def __init__(self, norm_layer: Callable[[int], nn.Module], channels: int, kept: int) -> None:
        super().__init__()
        # A stored count rather than one computed from x.shape: ONNX export needs a fixed channel count.
        self.normalized = channels - kept
        self.norm = norm_layer(self.normalized)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.norm(x[:, :self.normalized]), x[:, self.normalized:]], dim=1)


class GrayEncodingConv(nn.Module):
    """A convolution over the page and a Fourier encoding of its gray level: sin(2^k 2 pi y) and
    cos(2^k 2 pi y) for k = 0 .. octaves - 1, y the first channel read as a gray in [0, 1].

    On manga a tone's gray says which tint it stands for, and the hues of neighbouring grays can
    be far apart (the demo pages: yellow, green, blue, orange, lavender, 18 gray levels apart). A
    network learns smooth functions of its input first (Rahaman et al., 2019, "On the spectral bias
    of neural networks"); given the gray alone it paints a ramp of hues over gray. The encoding makes
    a sharp function of the gray as easy to learn as a smooth one (Tancik et al., 2020, "Fourier
    features let networks learn high frequency functions in low dimensional domains"). It is per
    pixel, so tiled colorization stays exact. N x C x H x W in, N x out_channels x H' x W' out;
    `conv` is the stem's 7x7 convolution, with C + 2 * octaves input channels.

    With `window` > 1 the gray encoded is the lightest within a window x window square around each
    pixel (a grayscale dilation of the page, i.e. an erosion of its ink). Ink is drawn over tone, so
    that is the tone behind the lines: lines, their anti-aliasing and stray dots narrower than the
    window drop out, and a white shirt's code is white's even next to its outline. At window 1 a
    pixel 3% below white, a line's soft edge, gets a code as far from white's as a tint's.
    """

    def __init__(self, in_channels: int, out_channels: int, octaves: int, bias: bool, window: int = 1) -> None:
        super().__init__()
        if window < 1 or window % 2 == 0:
            raise ValueError(f"--gray_window {window} must be an odd number of pixels, at least 1")
        self.octaves = octaves
        self.window = window
        self.conv = nn.Conv2d(in_channels + 2 * octaves, out_channels, kernel_size=7, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # In fp32 even when the network runs in bf16: the top octave turns 2^(octaves-1) 2 pi radians
        # per unit of gray, and bf16's 8-bit mantissa would scramble its phase. The frequencies are made
        # here rather than kept as a buffer, which casting the network to bf16 would round (100.53 -> 100.5).
        frequencies = (2.0 * math.pi) * 2.0 ** torch.arange(self.octaves, dtype=torch.float32, device=x.device)
        gray = x[:, :1].float()
        if self.window > 1:  # padded with -inf, so a border pixel's window is the part inside the page
            gray = F.max_pool2d(gray, self.window, stride=1, padding=self.window // 2)
        phase = (gray + 1.0) * 0.5 * frequencies.view(1, self.octaves, 1, 1)
        encoding = torch.cat([torch.sin(phase), torch.cos(phase)], dim=1).to(x.dtype)
        return self.conv(torch.cat([x, encoding], dim=1))


Style = List[Tuple[torch.Tensor, torch.Tensor]]  # (gamma, beta) per decoder norm, each N x C x 1 x 1


class GlobalContext(nn.Module):
    """One style vector per page, from the whole bottleneck, as scale and shift for the decoder's norms.

    A ResNet generator's colors come from a neighbourhood of each pixel: a shirt's color is chosen
    from the shirt, not from the face or hair that say whose shirt it is. This pools the bottleneck
    over the whole page (mean and max of a learned projection; the residual stream's own channel
    means carry little, as every block ends in instance norm) and turns the result into a
    per-channel (1 + gamma, beta) for each decoder norm, as Iizuka et al. (2016) fuse global
    features into colorization and AdaIN injects style. Scaling matters: a shift alone would be
    removed by the next instance norm.
    """

    def __init__(self, channels: int, targets: Sequence[int]) -> None:
        super().__init__()
        self.targets = list(targets)
        self.project = nn.Sequential(nn.Conv2d(channels, channels, kernel_size=1), nn.ReLU(True))
        self.mlp = nn.Sequential(nn.Linear(2 * channels, channels), nn.ReLU(True),
                                 nn.Linear(channels, 2 * sum(self.targets)))

    def forward(self, h: torch.Tensor) -> Style:
        feats = self.project(h)
        pooled = torch.cat([feats.mean(dim=(2, 3)), feats.amax(dim=(2, 3))], dim=1)
        styles = self.mlp(pooled).split([2 * c for c in self.targets], dim=1)
        return [(s[:, :c, None, None], s[:, c:, None, None]) for s, c in zip(styles, self.targets)]


def modulate(h: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
    """A global-context style on the output `h` of one decoder norm layer (N x C x H x W; gamma and
    beta N x C x 1 x 1): a scale around 1 and a shift, as in FiLM (Perez et al., 2018)."""
    return h * (1 + gamma) + beta


class ResnetGenerator(nn.Module):
    """Johnson et al.'s encoder / residual blocks / decoder, as used by CycleGAN.

    `upsampling="resize"` replaces each stride-2 transposed conv by nearest 2x resize + 3x3 conv:
    transposed convs with stride 2 overlap unevenly and print a checkerboard on flat areas
    (Odena et al., 2016), which shows badly on manga's large white and black regions.
    `global_context` adds a GlobalContext that modulates the decoder; `level_channels` > 0 keeps that
    many of the first convolution's channels out of instance norm (LevelKeepingNorm), so the network
    sees absolute gray levels; `gray_octaves` > 0 makes the stem a GrayEncodingConv, so hues may
    change sharply from one gray level to the next (of the lightest gray in a `gray_window` square).
    `model` keeps upstream's keys but for that stem (model.1.conv.*).
    """

    def __init__(self, input_nc: int, output_nc: int, ngf: int = 64, norm: str = "instance",
                 use_dropout: bool = False, n_blocks: int = 9, upsampling: str = "transpose",
                 global_context: bool = False, level_channels: int = 0, gray_octaves: int = 0,
                 gray_window: int = 1) -> None:
        super().__init__()
        if upsampling not in UPSAMPLINGS:
            raise ValueError(f"unknown upsampling {upsampling!r}; choose from {', '.join(UPSAMPLINGS)}")
        if level_channels and norm != "instance":
            raise ValueError(f"--level_channels needs --norm instance (got --norm {norm})")
        if not 0 <= level_channels < ngf:
            raise ValueError(f"--level_channels {level_channels} must be at least 0 and below --ngf {ngf}")
        norm_layer = norm_layer_factory(norm)
        bias = _conv_bias(norm)
        if gray_octaves < 0:
            raise ValueError(f"--gray_octaves {gray_octaves} must be at least 0")
        if gray_window != 1 and not gray_octaves:
            raise ValueError(f"--gray_window {gray_window} sets what --gray_octaves encodes: pass --gray_octaves > 0")
        stem_norm = LevelKeepingNorm(norm_layer, ngf, level_channels) if level_channels else norm_layer(ngf)
        stem = (GrayEncodingConv(input_nc, ngf, gray_octaves, bias, gray_window) if gray_octaves
                else nn.Conv2d(input_nc, ngf, kernel_size=7, bias=bias))
        layers = [nn.ReflectionPad2d(3), stem, stem_norm, nn.ReLU(True)]
        n_down = 2
        for i in range(n_down):
            mult = 2 ** i
            layers += [nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=bias),
                       norm_layer(ngf * mult * 2), nn.ReLU(True)]
        mult = 2 ** n_down
        layers += [ResnetBlock(ngf * mult, norm=norm, use_dropout=use_dropout) for _ in range(n_blocks)]
        for i in range(n_down):
            mult = 2 ** (n_down - i)
            out = ngf * mult // 2
            if upsampling == "transpose":
                layers += [nn.ConvTranspose2d(ngf * mult, out, kernel_size=3, stride=2, padding=1, output_padding=1, bias=bias)]
            else:
                layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1),
                           nn.Conv2d(ngf * mult, out, kernel_size=3, bias=bias)]
            layers += [norm_layer(out), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, kernel_size=7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.context: Optional[GlobalContext] = None
        # With global_context: model[:bottleneck_end] computes the bottleneck the style is pooled
        # from, and the style modulates the outputs of the norm layers model[i], i in styled_layers.
        self.bottleneck_end = len(layers)
        self.styled_layers: List[int] = []
        if global_context:
            first_up = next(i for i, m in enumerate(layers) if isinstance(m, (nn.ConvTranspose2d, nn.Upsample)))
            self.bottleneck_end = first_up
            # The decoder's norm layers, modulated in order (each followed by its ReLU).
            self.styled_layers = [i for i, m in enumerate(layers) if i > first_up and isinstance(m, (nn.InstanceNorm2d,
                                                                                               nn.BatchNorm2d))]
            if not self.styled_layers:
                raise ValueError("global_context modulates the decoder's norm layers; it needs --norm instance or batch")
            self.context = GlobalContext(ngf * 2 ** n_down,
                                         [layers[i].num_features for i in self.styled_layers])

    def _bottleneck(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.model[:self.bottleneck_end]:
            x = layer(x)
        return x

    def page_style(self, x: torch.Tensor) -> Style:
        """The decoder's style for page `x` (with global_context): what forward computes from x itself,
        for callers that run a large page in tiles and want one style for all of them."""
        if self.context is None:
            raise ValueError("page_style needs a generator built with global_context")
        return self.context(self._bottleneck(x))

    def forward(self, x: torch.Tensor, style: Optional[Style] = None) -> torch.Tensor:
        """`style` (global_context only) replaces the style of x itself, e.g. a whole page's for one tile."""
        if self.context is None:
            return self.model(x)
        h = self._bottleneck(x)
        styles = iter(self.context(h) if style is None else style)
        for i, layer in enumerate(self.model[self.bottleneck_end:], start=self.bottleneck_end):
            h = layer(h)
            if i in self.styled_layers:
                h = modulate(h, *next(styles))
        return h


class UnetSkipConnectionBlock(nn.Module):
    """One U-Net level: down, the inner levels, up, and the skip concatenation."""

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: Optional[int] = None,
                 submodule: Optional[nn.Module] = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "batch", use_dropout: bool = False) -> None:
        super().__init__()
        self.outermost = outermost
        norm_layer = norm_layer_factory(norm)
        bias = _conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), downconv, norm_layer(inner_nc), submodule,
                      nn.ReLU(True), upconv, norm_layer(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UnetGenerator(nn.Module):
    """U-Net with `num_downs` halvings: a 2**num_downs image reaches a 1x1 bottleneck."""

    def __init__(self, input_nc: int, output_nc: int, num_downs: int, ngf: int = 64, norm: str = "batch",
                 use_dropout: bool = False) -> None:
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, norm=norm, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, use_dropout=use_dropout)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block, outermost=True, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    """PatchGAN: classifies overlapping patches (70x70 with n_layers=3) as real or fake.

    Judging local texture rather than the whole page is what makes unpaired color transfer
    work: the cycle loss keeps the layout, the patch critic pushes the local statistics.
    """

    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch") -> None:
        super().__init__()
        norm_layer = norm_layer_factory(norm)
        bias = _conv_bias(norm)
        layers = [nn.Conv2d(input_nc, ndf, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=2, padding=1, bias=bias),
                       norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, kernel_size=4, stride=1, padding=1, bias=bias),
                   norm_layer(ndf * mult), nn.LeakyReLU(0.2, True),
                   nn.Conv2d(ndf * mult, 1, kernel_size=4, stride=1, padding=1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN: judges each pixel's color alone, no texture."""

    def __init__(self, input_nc: int, ndf: int = 64, norm: str = "batch") -> None:
        super().__init__()
        norm_layer = norm_layer_factory(norm)
        bias = _conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, bias=bias), norm_layer(ndf * 2), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, bias=bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _resnet(n_blocks: int) -> Callable[..., nn.Module]:
    def build(input_nc: int, output_nc: int, ngf: int, norm: str, use_dropout: bool, upsampling: str,
              global_context: bool, level_channels: int, gray_octaves: int, gray_window: int) -> nn.Module:
        return ResnetGenerator(input_nc, output_nc, ngf=ngf, norm=norm, use_dropout=use_dropout, n_blocks=n_blocks,
                               upsampling=upsampling, global_context=global_context, level_channels=level_channels,
                               gray_octaves=gray_octaves, gray_window=gray_window)
    return build


def _unet(num_downs: int) -> Callable[..., nn.Module]:
    def build(input_nc: int, output_nc: int, ngf: int, norm: str, use_dropout: bool, upsampling: str,
              global_context: bool, level_channels: int, gray_octaves: int, gray_window: int) -> nn.Module:
        if upsampling != "transpose":
            raise ValueError(f"--upsampling {upsampling} is only implemented for the ResNet generators")
        if global_context:
            raise ValueError("--global_context is only implemented for the ResNet generators")
        if level_channels:
            raise ValueError("--level_channels is only implemented for the ResNet generators")
        if gray_octaves or gray_window != 1:
            raise ValueError("--gray_octaves and --gray_window are only implemented for the ResNet generators")
        return UnetGenerator(input_nc, output_nc, num_downs, ngf=ngf, norm=norm, use_dropout=use_dropout)
    return build


@dataclasses.dataclass(frozen=True)
class GeneratorSpec:
    """One generator: how it is built and which image sides it takes."""

    build: Callable[..., nn.Module]
    multiple: int  # sides must be multiples of this for the output to have the input's size
    smallest_side: int  # the smallest side it accepts


# A ResNet generator's reflection padding at a quarter of the size needs 2 px there; a U-Net
# needs its whole multiple (one pixel at the bottleneck).
RESNET_SMALLEST_SIDE = 8
GENERATORS: Dict[str, GeneratorSpec] = {
    "resnet_9blocks": GeneratorSpec(_resnet(9), multiple=4, smallest_side=RESNET_SMALLEST_SIDE),
    "resnet_6blocks": GeneratorSpec(_resnet(6), multiple=4, smallest_side=RESNET_SMALLEST_SIDE),
    "unet_256": GeneratorSpec(_unet(8), multiple=256, smallest_side=256),
    "unet_128": GeneratorSpec(_unet(7), multiple=128, smallest_side=128),
}


def generator_spec(net_g: str) -> GeneratorSpec:
    """ValueError naming the choices for an unknown --netG."""
    if net_g not in GENERATORS:
        raise ValueError(f"unknown generator {net_g!r}; choose from {', '.join(sorted(GENERATORS))}")
    return GENERATORS[net_g]


def required_multiple(net_g: str) -> int:
    """Image sides must be multiples of this for the generator to return the input size."""
    return generator_spec(net_g).multiple


class MultiscaleDiscriminator(nn.Module):
    """Several PatchGANs, the i-th judging the page downsampled 2^i times (pix2pixHD's critic).

    One 70 px critic judges local texture only. At half size the same critic's patch spans 140
    px of the page, so it can notice colors that do not belong together across a figure (this
    face with that shirt), which is what a colorizer gets wrong once the texture is right.
    The output is one score map per scale; the losses average over the scales.
    """

    def __init__(self, critics: List[nn.Module]) -> None:
        super().__init__()
        self.scales = nn.ModuleList(critics)

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        scores = []
        for i, critic in enumerate(self.scales):
            if i > 0:
                x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
            scores.append(critic(x))
        return scores


def _basic(input_nc: int, ndf: int, n_layers: int, norm: str) -> nn.Module:
    return NLayerDiscriminator(input_nc, ndf, n_layers=3, norm=norm)


def _n_layers(input_nc: int, ndf: int, n_layers: int, norm: str) -> nn.Module:
    return NLayerDiscriminator(input_nc, ndf, n_layers=n_layers, norm=norm)


def _pixel(input_nc: int, ndf: int, n_layers: int, norm: str) -> nn.Module:
    return PixelDiscriminator(input_nc, ndf, norm=norm)


@dataclasses.dataclass(frozen=True)
class DiscriminatorSpec:
    """One discriminator: how it is built and the smallest image side it takes for --n_layers_D."""

    build: Callable[..., nn.Module]
    smallest_side: Callable[[int], int]


# A PatchGAN with n stride-2 layers needs 3 * 2^n px to leave a 2 x 2 map where it normalizes;
# the 1 x 1 pixel critic takes any size.
DISCRIMINATORS: Dict[str, DiscriminatorSpec] = {
    "basic": DiscriminatorSpec(_basic, lambda n_layers: 3 * 2 ** 3),
    "n_layers": DiscriminatorSpec(_n_layers, lambda n_layers: 3 * 2 ** n_layers),
    "pixel": DiscriminatorSpec(_pixel, lambda n_layers: 1),
}


def discriminator_spec(net_d: str) -> DiscriminatorSpec:
    """ValueError naming the choices for an unknown --netD."""
    if net_d not in DISCRIMINATORS:
        raise ValueError(f"unknown discriminator {net_d!r}; choose from {', '.join(sorted(DISCRIMINATORS))}")
    return DISCRIMINATORS[net_d]


def smallest_input(net_d: str, n_layers_D: int) -> int:
    """The smallest image side a discriminator accepts (DISCRIMINATORS)."""
    return discriminator_spec(net_d).smallest_side(n_layers_D)


def smallest_generator_side(net_g: str) -> int:
    """The smallest image side a generator accepts (GENERATORS)."""
    return generator_spec(net_g).smallest_side


def smallest_training_side(net_g: str, net_d: str, n_layers_D: int, num_D: int) -> int:
    """The smallest image side both networks accept, the coarsest of `num_D` critics included
    (each halves the image)."""
    return max(smallest_generator_side(net_g), smallest_input(net_d, n_layers_D) << (num_D - 1))


def init_weights(net: nn.Module, init_type: str = "normal", init_gain: float = 0.02) -> None:
    """Upstream's initialisation: conv/linear weights by `init_type`, biases 0, batch-norm gamma ~ N(1, gain)."""

    def init_module(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if init_type == "normal":
                init.normal_(m.weight, 0.0, init_gain)
            elif init_type == "xavier":
                init.xavier_normal_(m.weight, gain=init_gain)
            elif init_type == "kaiming":
                init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            elif init_type == "orthogonal":
                init.orthogonal_(m.weight, gain=init_gain)
            else:
                raise ValueError(f"unknown init_type {init_type!r}; choose from {', '.join(INIT_TYPES)}")
            if m.bias is not None:
                init.constant_(m.bias, 0.0)
        elif isinstance(m, nn.BatchNorm2d):
            init.normal_(m.weight, 1.0, init_gain)
            init.constant_(m.bias, 0.0)

    net.apply(init_module)


def define_G(net_g: str, input_nc: int, output_nc: int, ngf: int, norm: str = "instance", use_dropout: bool = False,
             upsampling: str = "transpose", init_type: str = "normal", init_gain: float = 0.02,
             global_context: bool = False, level_channels: int = 0, gray_octaves: int = 0,
             gray_window: int = 1) -> nn.Module:
    net = generator_spec(net_g).build(input_nc, output_nc, ngf=ngf, norm=norm, use_dropout=use_dropout, upsampling=upsampling,
                                      global_context=global_context, level_channels=level_channels,
                                      gray_octaves=gray_octaves, gray_window=gray_window)
    init_weights(net, init_type, init_gain)
    return net


def define_D(net_d: str, input_nc: int, ndf: int, n_layers_D: int = 3, norm: str = "instance",
             init_type: str = "normal", init_gain: float = 0.02, spectral_norm: bool = False,
             num_D: int = 1) -> nn.Module:
    """`spectral_norm` divides every conv weight by its largest singular value (Miyato et al., 2018),
    which bounds how sharply the critic can react to its input; its state-dict keys then differ.
    `num_D` > 1 builds a MultiscaleDiscriminator of that many critics (its forward returns a list)."""
    build = discriminator_spec(net_d).build
    if num_D < 1:
        raise ValueError(f"num_D must be at least 1, got {num_D}")
    if num_D == 1:  # upstream's network and state-dict keys
        net = build(input_nc, ndf, n_layers=n_layers_D, norm=norm)
    else:
        net = MultiscaleDiscriminator([build(input_nc, ndf, n_layers=n_layers_D, norm=norm)
                                       for _ in range(num_D)])
    init_weights(net, init_type, init_gain)
    if spectral_norm:
        for module in list(net.modules()):
            if isinstance(module, nn.Conv2d):
                nn.utils.parametrizations.spectral_norm(module)
    return net


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
