"""A Gaussian generator G(z) = mu + sigma z (two parameters per dimension) with the MLP discriminator.

The generator family of the divergence lab (issue 18): its optimum under each objective's divergence
can be found numerically (``python -m ganbench theory divergences``) and compared with what
adversarial training reaches. sigma = exp(log_sigma) keeps it positive.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganbench.nets.mlp import MLPDiscriminator
from ganbench.nets.registry import NETS, NetPair


class GaussianGenerator(nn.Module):
    """x = mu + exp(log_sigma) * z[:, :d], d = prod(sample_shape); extra latent dimensions are unused."""

    def __init__(self, latent_dim: int, sample_shape: tuple[int, ...], mu: float, sigma: float) -> None:
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        dim = math.prod(self.sample_shape)
        if latent_dim < dim:
            raise ValueError(f"model.latent_dim: the gaussian net needs >= {dim} (one per sample dimension)")
        if not sigma > 0:
            raise ValueError(f"model.net_options.sigma: must be > 0, got {sigma}")
        self.mu = nn.Parameter(torch.full((dim,), float(mu)))
        self.log_sigma = nn.Parameter(torch.full((dim,), math.log(sigma)))

    @property
    def sigma(self) -> Tensor:
        return self.log_sigma.exp()

    def forward(self, z: Tensor) -> Tensor:
        dim = self.mu.shape[-1]
        x = self.mu + self.log_sigma.exp() * z[..., :dim]
        return x.reshape(*z.shape[:-1], *self.sample_shape)  # (B, *sample_shape)


@NETS.register("gaussian")
def gaussian(
    sample_shape: tuple[int, ...],
    latent_dim: int,
    mu: float = 0.0,
    sigma: float = 1.0,
    hidden: int = 128,
    discriminator_layers: int = 2,
) -> NetPair:
    """G(z) = mu + sigma z, initialized at (``mu``, ``sigma``); D: the MLP discriminator."""
    return NetPair(
        GaussianGenerator(latent_dim, sample_shape, mu, sigma),
        MLPDiscriminator(sample_shape, hidden, discriminator_layers),
    )
