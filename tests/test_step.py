"""The shared iteration: packing, and equality with the textbook loop written out in plain PyTorch."""

import contextlib

import pytest
import torch

from ganbench.module import GAN
from ganbench.nets import build_nets
from ganbench.objectives import build_objective
from ganbench.step import GlobalDraws, Players, resolve_n_critic, train_iteration


def test_packing_concatenates_consecutive_samples():
    players = Players(lambda z: z, lambda x: x, latent_dim=2, packing=3)
    x = torch.arange(12.0).reshape(6, 2)
    packed = players.pack(x)
    assert packed.shape == (2, 6)
    torch.testing.assert_close(packed[1], torch.cat([x[3], x[4], x[5]]))
    images = torch.randn(4, 1, 5, 5)
    packed_images = Players(None, None, 2, packing=2).pack(images)  # channels: (B/m, m C, H, W)
    assert packed_images.shape == (2, 2, 5, 5)
    torch.testing.assert_close(packed_images[1, 1], images[3, 0])
    stacked = Players(None, None, 2, batch_dims=2, packing=2).pack(torch.randn(3, 8, 2))
    assert stacked.shape == (3, 4, 4)
    assert Players(None, None, 2).pack(x) is x  # packing 1: D sees the samples themselves
    with pytest.raises(ValueError, match="model.packing"):
        players.pack(torch.randn(5, 2))


def test_packed_generator_runs_once_per_slot_like_pacgan():
    """PacGAN's compute_losses calls G once per pack slot: BatchNorm sees B samples, slot j fills
    position j of every pack."""
    calls = []

    def generator(z):
        calls.append(z.shape[-2])
        return (z - z.mean(dim=-2, keepdim=True)) / z.std(dim=-2, keepdim=True)  # batch statistics

    noise = torch.randn(6, 2)
    fake = Players(generator, None, latent_dim=2, packing=3).generate(noise)
    assert calls == [2, 2, 2] and fake.shape == (6, 2)
    packs = Players(None, None, 2, packing=3).pack(fake)
    for slot, z in enumerate(noise.chunk(3)):
        for i in range(2):
            torch.testing.assert_close(packs[i, 2 * slot : 2 * slot + 2], generator(z)[i])
    stacked = Players(generator, None, 2, batch_dims=2, packing=2).generate(torch.randn(4, 6, 2))
    assert stacked.shape == (4, 6, 2) and calls[-2:] == [3, 3]
    assert Players(generator, None, 2).generate(noise).shape == (6, 2) and calls[-1] == 6  # one call


def test_packed_discriminator_judges_m_samples():
    model = GAN(packing=4, sample_shape=(2,), net_options={"hidden": 8})
    assert model.discriminator.body[0].in_features == 8  # 4 samples of dimension 2
    assert model.generator.body[-1].out_features == 2
    assert model.players.judge(torch.randn(12, 2)).shape == (3,)
    with pytest.raises(ValueError, match="model.packing"):
        GAN(packing=0)


class PlainUpdates:
    def __init__(self, opt_d, opt_g, generator, discriminator):
        self.opt_d, self.opt_g, self.generator, self.discriminator = opt_d, opt_g, generator, discriminator

    def discriminator_phase(self):
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def generator_phase(self):
        self.discriminator.requires_grad_(False)
        yield
        self.discriminator.requires_grad_(True)

    def backward_discriminator(self, loss):
        self.opt_d.zero_grad()
        loss.backward()

    def step_discriminator(self):
        self.opt_d.step()

    def backward_generator(self, loss):
        self.opt_g.zero_grad()
        loss.backward()

    def step_generator(self):
        self.opt_g.step()

    def generator_parameters(self):
        return self.generator.parameters()


@pytest.mark.parametrize("name, n_critic", [("nonsaturating", 1), ("minimax", 2), ("hinge", 1)])
def test_the_iteration_is_the_textbook_algorithm(name, n_critic):
    """Three iterations of train_iteration equal the alternating loop written by hand, bit for bit."""
    objective = build_objective(name)
    nets = []
    for _ in range(2):
        torch.manual_seed(0)
        g, d = build_nets("mlp", (2,), 4, hidden=16)
        nets.append((g, d, torch.optim.Adam(d.parameters(), 1e-3), torch.optim.Adam(g.parameters(), 1e-3)))
    data = torch.Generator().manual_seed(1)
    batches = [torch.randn(n_critic * 8, 2, generator=data) for _ in range(3)]

    g, d, opt_d, opt_g = nets[0]
    players = Players(g, d, latent_dim=4)
    torch.manual_seed(2)
    for batch in batches:
        train_iteration(
            players, objective, [], batch.chunk(n_critic), GlobalDraws(torch.device("cpu")),
            PlainUpdates(opt_d, opt_g, g, d), diagnostics=True,
        )  # fmt: skip

    g2, d2, opt_d2, opt_g2 = nets[1]
    torch.manual_seed(2)
    for batch in batches:
        for real in batch.chunk(n_critic):
            with torch.no_grad():
                fake = g2(torch.randn(8, 4))
            loss = objective.discriminator_loss(d2(real), d2(fake))
            opt_d2.zero_grad()
            loss.backward()
            opt_d2.step()
        d2.requires_grad_(False)
        loss = objective.generator_loss(d2(g2(torch.randn(8, 4))), None)
        opt_g2.zero_grad()
        loss.backward()
        opt_g2.step()
        d2.requires_grad_(True)
    for mine, plain in ((g, g2), (d, d2)):
        for (key, a), (_, b) in zip(mine.state_dict().items(), plain.state_dict().items(), strict=True):
            assert torch.equal(a, b), key


def test_simultaneous_updates_take_both_gradients_at_the_same_parameters():
    """PacGAN's protocol: one batch of fakes, D's and G's gradients at the current nets, both steps after."""
    objective = build_objective("nonsaturating")
    nets = []
    for _ in range(2):
        torch.manual_seed(0)
        g, d = build_nets("mlp", (2,), 4, hidden=16)
        nets.append((g, d, torch.optim.Adam(d.parameters(), 1e-2), torch.optim.Adam(g.parameters(), 1e-2)))
    batches = [torch.randn(8, 2, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    g, d, opt_d, opt_g = nets[0]
    torch.manual_seed(2)
    for batch in batches:
        train_iteration(
            Players(g, d, latent_dim=4), objective, [], [batch], GlobalDraws(torch.device("cpu")),
            PlainUpdates(opt_d, opt_g, g, d), diagnostics=False, rule="simultaneous",
        )  # fmt: skip
    g2, d2, opt_d2, opt_g2 = nets[1]
    torch.manual_seed(2)
    for real in batches:
        fake = g2(torch.randn(8, 4))
        d_loss = objective.discriminator_loss(d2(real), d2(fake.detach()))
        g_loss = objective.generator_loss(d2(fake), None)
        d_grads = torch.autograd.grad(d_loss, list(d2.parameters()))
        g_grads = torch.autograd.grad(g_loss, list(g2.parameters()))
        for params, grads in ((d2.parameters(), d_grads), (g2.parameters(), g_grads)):
            for p, grad in zip(params, grads, strict=True):
                p.grad = grad
        opt_d2.step()
        opt_g2.step()
    for mine, plain in ((g, g2), (d, d2)):
        for (key, a), (_, b) in zip(mine.state_dict().items(), plain.state_dict().items(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-7, msg=key)
    with pytest.raises(ValueError, match="model.update"):
        GAN(update="simultaneous", objective="wasserstein_gp")
    with pytest.raises(ValueError, match="valid choices: alternating, simultaneous"):
        GAN(update="sequential")


def test_n_critic_is_resolved_in_one_place():
    assert resolve_n_critic(build_objective("wasserstein_gp"), None) == 5
    assert resolve_n_critic(build_objective("wasserstein_gp", n_critic=2), None) == 2
    assert resolve_n_critic(build_objective("hinge"), 3) == 3
    with pytest.raises(ValueError, match="model.n_critic"):
        resolve_n_critic(build_objective("hinge"), 0)


def test_first_nonfinite_records_the_first_iteration_a_loss_went_nan_or_inf_per_member():
    from ganbench.step import first_nonfinite

    nan, inf = float("nan"), float("inf")
    first = torch.tensor([-1, -1, 3, -1, -1, -1])
    stats = {
        "d_loss": torch.tensor([1.0, nan, nan, inf, 1.0, 2e38]),
        "g_loss": torch.tensor([1.0, 1.0, 1.0, -inf, inf, 2e38]),
    }
    # finite; NaN in D; already recorded at 3 (kept); inf - inf; inf in G; finite losses past float's range
    assert first_nonfinite(first, 7, stats).tolist() == [-1, 7, 3, 7, 7, 7]
    half = {
        "d_loss": torch.tensor([40000.0], dtype=torch.half),
        "g_loss": torch.tensor([40000.0], dtype=torch.half),
    }
    assert first_nonfinite(torch.tensor([-1]), 7, half).tolist() == [
        -1
    ]  # finite fp16 losses past fp16's range
