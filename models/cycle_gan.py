"""CycleGAN (Zhu et al., 2017): two generators, two PatchGAN critics, one training step in two phases.

G_A: A (B/W) -> B (color), G_B: B -> A. D_A judges domain B (fakes from G_A), D_B judges domain A.
The training loop calls `generator_step` then `discriminator_step`; each returns its stats as
detached tensors (no host sync), and the only state carried between them is what the loop passes.
"""

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.color import HEADROOM, gray_like, luma, output_with_luma
from models.ema import WeightAverage
from models.image_pool import ImagePool
from models.losses import GANLoss, fill_weighted_l1, gradient_penalty
from util.rng import SeedTag, derive_seed

Stats = Dict[str, torch.Tensor]
GradSync = Callable[[List[nn.Parameter]], None]
PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Visuals:
    """Everything one generator step produced, detached from the graph."""

    real_A: torch.Tensor
    fake_B: torch.Tensor
    rec_A: torch.Tensor
    real_B: torch.Tensor
    fake_A: torch.Tensor
    rec_B: torch.Tensor
    idt_A: Optional[torch.Tensor] = None  # G_A(real_B): should leave a color page unchanged
    idt_B: Optional[torch.Tensor] = None  # G_B(real_A): should leave a B/W page unchanged


class CycleGANModel:
    def __init__(self, G_A: nn.Module, G_B: nn.Module, D_A: nn.Module, D_B: nn.Module, gan_mode: str,
                 lambda_A: float, lambda_B: float, lambda_identity: float, lambda_gp: float,
                 pool_size: int, lr: float, beta1: float, seed: int, precision: str = "fp32",
                 device_type: str = "cpu", grad_sync: Optional[GradSync] = None, output_luma: str = "generator",
                 lambda_gray_identity: float = 0.0, lambda_luma: float = 0.0, lr_D: Optional[float] = None,
                 ema_decay: float = 0.0, detach_cycle_A: bool = False, detach_cycle_B: bool = False,
                 layer_headroom: float = HEADROOM, white_clip: str = "hard", fill_weight: float = 0.0,
                 cycle_noise: float = 0.0, cycle_noise_input_only: bool = False) -> None:
        """`precision` bf16/fp16 runs the forward passes under autocast (fp16 adds loss scaling);
        `grad_sync`, when given (data-parallel training), averages gradients across processes
        before each optimizer step.

        Colorization extras, all off by default (then this is upstream's CycleGAN):
        `output_luma` ("input", "darker" or "multiply") ties G_A's output luminance to its input's
        (see models/color.py), `layer_headroom` bounding multiply_headroom's layer and `white_clip`
        choosing how its clip at white passes gradients;
        `lambda_gray_identity` weighs |G_A(B/W version of real_B) - real_B| (the B/W version comes
        with the batch, see data/bw_synthesis.py), its fills weighted 1 + `fill_weight`
        (losses.fill_weighted_l1); `lambda_luma` weighs |Y(G_A(real_A)) - Y(real_A)|;
        `lr_D` gives the critics their own learning rate (two time-scale update rule);
        `ema_decay` > 0 keeps a moving average of G_A's weights (models/ema.py) that `colorize`
        uses and checkpoints save as G_A_ema;
        `detach_cycle_A` / `detach_cycle_B` stop the A -> B -> A / B -> A -> B cycle loss at the
        first generator's output, so that it trains the second generator only (see generator_step);
        `cycle_noise` > 0 adds Gaussian noise of that standard deviation to G_B's page before G_A
        restores it in the B -> A -> B cycle (drawn from torch's RNG, which checkpoints keep);
        `cycle_noise_input_only` gives the noisy page to G_A's network only, while output_luma takes
        the luminance from the clean page, so the restored page carries no noise of its own."""
        self._nets = {"G_A": G_A, "G_B": G_B, "D_A": D_A, "D_B": D_B}
        # What the steps call: the networks themselves, or their torch.compile wrappers (see compile()).
        self.G_A, self.G_B, self.D_A, self.D_B = G_A, G_B, D_A, D_B
        self.gan_loss = GANLoss(gan_mode)
        self.use_gp = gan_mode == "wgangp"
        self.lambda_A, self.lambda_B = lambda_A, lambda_B
        self.lambda_identity = lambda_identity
        self.lambda_gp = lambda_gp
        self.output_luma = output_luma
        self.layer_headroom = layer_headroom
        self.white_clip = white_clip
        self.lambda_gray_identity = lambda_gray_identity
        self.fill_weight = fill_weight
        self.lambda_luma = lambda_luma
        self.detach_cycle_A, self.detach_cycle_B = detach_cycle_A, detach_cycle_B
        self.cycle_noise = cycle_noise
        self.cycle_noise_input_only = cycle_noise_input_only
        # fake_B images feed D_A, fake_A images feed D_B (upstream's pairing).
        self.pool_fake_A = ImagePool(pool_size, seed=derive_seed(seed, SeedTag.IMAGE_POOL_FAKE_A))
        self.pool_fake_B = ImagePool(pool_size, seed=derive_seed(seed, SeedTag.IMAGE_POOL_FAKE_B))
        self.g_params: List[nn.Parameter] = list(G_A.parameters()) + list(G_B.parameters())
        self.d_params: List[nn.Parameter] = list(D_A.parameters()) + list(D_B.parameters())
        # Fused Adam is one kernel per step on CUDA; on CPU the default (foreach) measured the same.
        fused = True if device_type == "cuda" else None
        self.optimizer_G = torch.optim.Adam(self.g_params, lr=lr, betas=(beta1, 0.999), fused=fused)
        self.optimizer_D = torch.optim.Adam(self.d_params, lr=lr if lr_D is None else lr_D, betas=(beta1, 0.999),
                                            fused=fused)
        self.lr_ratio_D = 1.0 if lr_D is None else lr_D / lr  # kept by set_lr's schedule
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        self.device_type = device_type
        self.autocast_dtype = _AUTOCAST_DTYPES[precision]
        # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
        self.scaler_G = torch.amp.GradScaler(device_type, enabled=precision == "fp16")
        self.scaler_D = torch.amp.GradScaler(device_type, enabled=precision == "fp16")
        self.grad_sync = grad_sync
        self.ema = WeightAverage(G_A, ema_decay) if ema_decay > 0 else None

    @property
    def networks(self) -> Dict[str, nn.Module]:
        """The plain modules (never the compiled wrappers): for saving, loading and inference."""
        return dict(self._nets)

    def convert_sync_batchnorm(self) -> None:
        """Replace BatchNorm layers by SyncBatchNorm (data-parallel training on GPUs).

        The new layers take over the old Parameter objects, so the optimizers need no change and
        the state-dict keys stay upstream's."""
        for name in list(self._nets):
            self._nets[name] = nn.SyncBatchNorm.convert_sync_batchnorm(self._nets[name])
        self.G_A, self.G_B, self.D_A, self.D_B = (self._nets[k] for k in ("G_A", "G_B", "D_A", "D_B"))

    def compile(self) -> None:
        """Run the training steps through torch.compile'd networks (weights stay shared)."""
        self.G_A, self.G_B, self.D_A, self.D_B = (torch.compile(self._nets[k]) for k in ("G_A", "G_B", "D_A", "D_B"))

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.autocast_dtype)

    def _apply(self, loss: torch.Tensor, params: List[nn.Parameter], optimizer: torch.optim.Optimizer,
               scaler: torch.amp.GradScaler) -> None:
        optimizer.zero_grad(set_to_none=True)
        # `inputs=` limits the backward pass to this phase's networks: the other phase's weights get
        # no gradient, without toggling requires_grad flags (which is what hangs upstream's DDP).
        scaler.scale(loss).backward(inputs=params)
        if self.grad_sync is not None:
            self.grad_sync(params)
        scaler.step(optimizer)
        scaler.update()

    def train(self, mode: bool = True) -> None:
        for net in self.networks.values():
            net.train(mode)

    def set_lr(self, lr: float) -> None:
        """Set G's learning rate; D's follows at its fixed ratio (1 unless lr_D was given)."""
        for optimizer, value in ((self.optimizer_G, lr), (self.optimizer_D, lr * self.lr_ratio_D)):
            for group in optimizer.param_groups:
                group["lr"] = value

    def _G_A(self, x: torch.Tensor, net: Optional[nn.Module] = None, supervised: bool = False,
             luma_page: Optional[torch.Tensor] = None) -> torch.Tensor:
        """B/W -> color, with the luminance output_luma asks for. `supervised`: the pass feeds an
        identity loss, whose target is known (white_clip darken_identity darkens past white there).
        `luma_page` (default `x`) is the page whose luminance output_luma ties the output to."""
        clip = self.white_clip
        if clip == "darken_identity":
            clip = "darken" if supervised else "hard"
        return output_with_luma((self.G_A if net is None else net)(x), x if luma_page is None else luma_page,
                                self.output_luma, self.layer_headroom, clip)

    def generator_step(self, real_A: torch.Tensor, real_B: torch.Tensor,
                       bw_B: Optional[torch.Tensor] = None) -> Tuple[Visuals, Stats]:
        """Fool both critics and close both cycles; update G_A and G_B only.

        `bw_B`, a B/W version of real_B, feeds the grayscale identity loss (without it, real_B's
        luminance is used)."""
        with self._autocast():
            # A cycle rewards its first generator for pages from which the second can restore the
            # input. Left to itself, G_B keeps faint tones and textures on fills that real scans
            # leave white (a hidden code, Chu et al. 2017), and G_A learns to read the code instead
            # of the drawing. Detached, the cycle trains the second generator alone, on the first
            # one's pages as they are: G_A then learns colors from B/W pages that look like scans.
            fake_B = self._G_A(real_A)
            rec_A = self.G_B(fake_B.detach() if self.detach_cycle_A else fake_B)
            fake_A = self.G_B(real_B)
            scan = fake_A.detach() if self.detach_cycle_B else fake_A
            luma_page = None
            if self.cycle_noise > 0:
                # Noise drowns a faint code, and a code loud enough to survive it is one D_B can
                # see (Chu et al., 2017). On the demo pages G_B otherwise writes textured grays
                # into the fills that scans leave white (docs/experiments.md).
                # With a multiply output the restored page is the layer times the noisy page, an L1
                # floor no layer can meet; input_only multiplies the clean page instead. On the
                # drawings' demo that floor was not the main cost of the noise (1.10 against 1.25,
                # no noise 0.86; docs/experiments.md).
                luma_page = scan if self.cycle_noise_input_only else None
                scan = scan + self.cycle_noise * torch.randn_like(scan)
            rec_B = self._G_A(scan, luma_page=luma_page)

            stats: Stats = {}
            stats["G_A"] = self.gan_loss(self.D_A(fake_B), True)
            stats["G_B"] = self.gan_loss(self.D_B(fake_A), True)
            stats["cycle_A"] = F.l1_loss(rec_A.float(), real_A) * self.lambda_A
            stats["cycle_B"] = F.l1_loss(rec_B.float(), real_B) * self.lambda_B
            idt_A = idt_B = None
            if self.lambda_identity > 0:
                # Identity loss: a page already in the target domain should pass through unchanged.
                # For colorization it stops G_A from recoloring pages that are already colored and
                # anchors the overall tint (Taigman et al., 2017; CycleGAN's photo<->painting setting).
                idt_A = self._G_A(real_B, supervised=True)
                idt_B = self.G_B(real_A)
                stats["idt_A"] = F.l1_loss(idt_A.float(), real_B) * self.lambda_B * self.lambda_identity
                stats["idt_B"] = F.l1_loss(idt_B.float(), real_A) * self.lambda_A * self.lambda_identity
            if self.lambda_gray_identity > 0:
                # A color page's B/W version has a known answer: the page. This is the only
                # supervised signal in unpaired training, and the color domain supplies it for free.
                bw = bw_B if bw_B is not None else gray_like(real_B, real_A.shape[1])
                colored = self._G_A(bw, supervised=True).float()
                error = fill_weighted_l1(colored, real_B, bw, self.fill_weight) if self.fill_weight > 0 else \
                    F.l1_loss(colored, real_B)
                stats["gray_idt"] = error * self.lambda_gray_identity
            if self.lambda_luma > 0:
                stats["luma"] = F.l1_loss(luma(fake_B.float()), luma(real_A)) * self.lambda_luma
            loss = sum(stats.values())
            stats["G"] = loss
        self._apply(loss, self.g_params, self.optimizer_G, self.scaler_G)
        if self.ema is not None:
            self.ema.update(self._nets["G_A"])

        def keep(t: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
            return None if t is None else t.detach().float()

        visuals = Visuals(real_A=real_A, fake_B=keep(fake_B), rec_A=keep(rec_A), real_B=real_B,
                          fake_A=keep(fake_A), rec_B=keep(rec_B), idt_A=keep(idt_A), idt_B=keep(idt_B))
        return visuals, {k: v.detach().float() for k, v in stats.items()}

    def _critic_loss(self, critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        # Halved, as upstream does, so D learns more slowly than G.
        loss = 0.5 * (self.gan_loss(critic(real), True) + self.gan_loss(critic(fake), False))
        if self.use_gp:
            loss = loss + self.lambda_gp * gradient_penalty(critic, real, fake)
        return loss

    def discriminator_step(self, visuals: Visuals) -> Stats:
        """Tell real pages from fakes, drawn partly from the image pools; update D_A and D_B only."""
        fake_B = self.pool_fake_B.query(visuals.fake_B)
        fake_A = self.pool_fake_A.query(visuals.fake_A)
        with self._autocast():
            loss_D_A = self._critic_loss(self.D_A, visuals.real_B, fake_B)
            loss_D_B = self._critic_loss(self.D_B, visuals.real_A, fake_A)
        self._apply(loss_D_A + loss_D_B, self.d_params, self.optimizer_D, self.scaler_D)
        return {"D_A": loss_D_A.detach().float(), "D_B": loss_D_B.detach().float()}

    @torch.no_grad()
    def colorize(self, real_A: torch.Tensor) -> torch.Tensor:
        """G_A in eval mode (dropout off, batch-norm running stats), or its weight average when
        there is one (what test.py will use); training mode is restored."""
        net = self._nets["G_A"] if self.ema is None else self.ema.net
        was_training = net.training
        net.eval()
        try:
            return self._G_A(real_A, net)
        finally:
            net.train(was_training)

    def state_dict(self) -> Dict[str, Any]:
        networks = {name: net.state_dict() for name, net in self.networks.items()}
        if self.ema is not None:
            networks["G_A_ema"] = self.ema.net.state_dict()
        return {
            "networks": networks,
            "ema_updates": None if self.ema is None else self.ema.updates,
            "optimizers": {"G": self.optimizer_G.state_dict(), "D": self.optimizer_D.state_dict()},
            "pools": {"fake_A": self.pool_fake_A.state_dict(), "fake_B": self.pool_fake_B.state_dict()},
            "scaler": ({"G": self.scaler_G.state_dict(), "D": self.scaler_D.state_dict()}
                       if self.scaler_G.is_enabled() else None),
        }

    def load_state_dict(self, state: Dict[str, Any], device: torch.device) -> None:
        for name, net in self.networks.items():
            net.load_state_dict(state["networks"][name])
        self.optimizer_G.load_state_dict(state["optimizers"]["G"])
        self.optimizer_D.load_state_dict(state["optimizers"]["D"])
        self.pool_fake_A.load_state_dict(state["pools"]["fake_A"], device)
        self.pool_fake_B.load_state_dict(state["pools"]["fake_B"], device)
        if self.scaler_G.is_enabled() and state.get("scaler"):
            self.scaler_G.load_state_dict(state["scaler"]["G"])
            self.scaler_D.load_state_dict(state["scaler"]["D"])
        if self.ema is not None:
            if "G_A_ema" in state["networks"]:
                self.ema.load(state["networks"]["G_A_ema"], state["ema_updates"])
            else:  # the checkpoint was trained without an average: start one from its weights
                self.ema.reset(self._nets["G_A"])
