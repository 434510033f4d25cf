"""The Gaussian generator: G(z) = mu + sigma z exactly, registered as ``gaussian``, two parameters."""

from __future__ import annotations

import math

import pytest
import torch

from ganbench.nets import build_nets


def test_generator_is_mu_plus_sigma_z_and_has_two_parameters() -> None:
    nets = build_nets("gaussian", (1,), 3, mu=1.5, sigma=0.25, hidden=8)
    z = torch.randn(1000, 3, generator=torch.Generator().manual_seed(0))
    x = nets.generator(z)
    assert x.shape == (1000, 1)
    torch.testing.assert_close(x[:, 0], 1.5 + 0.25 * z[:, 0])
    assert sum(p.numel() for p in nets.generator.parameters()) == 2
    assert nets.discriminator(x).shape == (1000,)


def test_gradients_reach_mu_and_log_sigma() -> None:
    g = build_nets("gaussian", (1,), 1).generator
    z = torch.tensor([[1.0], [-2.0]])
    g(z).sum().backward()
    assert g.mu.grad.item() == pytest.approx(2.0)  # d/dmu of sum(mu + sigma z)
    assert g.log_sigma.grad.item() == pytest.approx(math.exp(0.0) * (1.0 - 2.0))  # sigma * sum(z)


@pytest.mark.parametrize(
    ("options", "message"),
    [({"sigma": 0.0}, "model.net_options.sigma: must be > 0"), ({"latent_dim": 1}, "model.latent_dim")],
)
def test_bad_options_name_the_field(options: dict, message: str) -> None:
    latent = options.pop("latent_dim", 2)
    with pytest.raises(ValueError, match=message):
        build_nets("gaussian", (2,), latent, **options)
