import math

import pytest
import torch

from models.image_pool import ImagePool
from models.losses import GANLoss, gradient_penalty
from util.schedule import lr_factor


def test_lsgan_targets():
    loss = GANLoss("lsgan")
    ones, zeros = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    assert loss(ones, True) == 0 and loss(zeros, False) == 0
    assert loss(zeros, True) == pytest.approx(1.0)


def test_vanilla_is_logit_bce():
    loss = GANLoss("vanilla")
    assert loss(torch.zeros(3, 1, 2, 2), True).item() == pytest.approx(math.log(2))
    assert loss(torch.full((1, 1, 2, 2), 20.0), True).item() < 1e-6


def test_wgan_signs():
    loss = GANLoss("wgangp")
    scores = torch.full((2, 1, 3, 3), 0.5)
    assert loss(scores, True).item() == pytest.approx(-0.5)
    assert loss(scores, False).item() == pytest.approx(0.5)


def test_gradient_penalty_zero_for_unit_gradient_critic_and_positive_otherwise():
    real, fake = torch.randn(4, 1, 2, 2), torch.randn(4, 1, 2, 2)
    unit = lambda x: x.flatten(1)[:, :1]  # gradient is a one-hot vector: norm exactly 1
    assert gradient_penalty(unit, real, fake).item() == pytest.approx(0.0, abs=1e-9)
    steep = lambda x: 3 * x.flatten(1)[:, :1]
    assert gradient_penalty(steep, real, fake).item() == pytest.approx(4.0)


def test_gradient_penalty_is_applied_in_the_discriminator_step():
    from models.cycle_gan import CycleGANModel
    from models.networks import define_D, define_G

    def model(gan_mode):
        torch.manual_seed(0)
        nets = [define_G("resnet_6blocks", 3, 3, ngf=4), define_G("resnet_6blocks", 3, 3, ngf=4),
                define_D("basic", 3, ndf=4), define_D("basic", 3, ndf=4)]
        return CycleGANModel(*nets, gan_mode=gan_mode, lambda_A=10, lambda_B=10, lambda_identity=0.5,
                             lambda_gp=10.0, pool_size=0, lr=2e-4, beta1=0.5, seed=0)

    torch.manual_seed(1)
    real, fake = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 32, 32)
    m = model("wgangp")
    torch.manual_seed(2)
    with_gp = m._critic_loss(m.D_A, real, fake)
    torch.manual_seed(2)  # the same random mixing weights
    penalty = gradient_penalty(m.D_A, real, fake)
    m.lambda_gp = 0.0
    without = m._critic_loss(m.D_A, real, fake)
    assert penalty.item() > 0
    assert (with_gp - without).item() == pytest.approx(10.0 * penalty.item(), rel=1e-4)
    # and the discriminator step runs with it
    visuals, _ = m.generator_step(real, fake)
    assert torch.isfinite(m.discriminator_step(visuals)["D_A"])


def test_pool_passthrough_when_empty_size():
    images = torch.randn(3, 3, 4, 4)
    assert ImagePool(0, seed=0).query(images) is images


def test_pool_fills_then_mixes_and_round_trips():
    pool = ImagePool(2, seed=1)
    first = torch.zeros(2, 1, 2, 2)
    assert torch.equal(pool.query(first), first)
    assert len(pool.images) == 2
    returned = pool.query(torch.ones(20, 1, 2, 2))
    assert (returned.flatten(1).mean(1) == 0).any() and (returned.flatten(1).mean(1) == 1).any()

    clone = ImagePool(2, seed=99)
    clone.load_state_dict(pool.state_dict(), torch.device("cpu"))
    batch = torch.full((10, 1, 2, 2), 2.0)
    assert torch.equal(pool.query(batch.clone()), clone.query(batch.clone()))


def test_linear_schedule_boundaries():
    f = lambda e: lr_factor(e, "linear", n_epochs=100, n_epochs_decay=100)
    assert f(1) == 1.0 and f(100) == 1.0
    assert f(101) == pytest.approx(1 - 1 / 101)
    assert f(200) == pytest.approx(1 / 101)
    assert all(f(e) > f(e + 1) for e in range(100, 200))


def test_step_and_cosine_schedules():
    assert lr_factor(50, "step", 100, 100, lr_decay_iters=50) == 1.0
    assert lr_factor(51, "step", 100, 100, lr_decay_iters=50) == pytest.approx(0.1)
    assert lr_factor(101, "step", 100, 100, lr_decay_iters=50) == pytest.approx(0.01)
    assert lr_factor(1, "cosine", 5, 5) == pytest.approx(1.0)
    assert lr_factor(6, "cosine", 5, 5) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="linear"):
        lr_factor(1, "plateau", 5, 5)
