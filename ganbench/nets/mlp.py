"""MLP generator and discriminator for low-dimensional toy data.

Default sizes follow the unrolled-GAN toy experiments (Metz et al., 2017, appendix A): fully
connected layers of 128 ReLU units, a linear output in G and a single logit in D.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganbench.nets.registry import NETS, NetPair


def _mlp(
    in_dim: int, hidden: int, layers: int, out_dim: int, activation: type[nn.Module], batch_norm: bool = False
) -> nn.Sequential:
    blocks: list[nn.Module] = []
    width = in_dim
    for _ in range(layers):
        if batch_norm:  # BatchNorm's shift replaces the linear map's bias (PacGAN's G)
            blocks += [nn.Linear(width, hidden, bias=False), nn.BatchNorm1d(hidden), activation()]
        else:
            blocks += [nn.Linear(width, hidden), activation()]
        width = hidden
    blocks.append(nn.Linear(width, out_dim))
    return nn.Sequential(*blocks)


class MLPGenerator(nn.Module):
    def __init__(
        self,
        latent_dim: int,
        sample_shape: tuple[int, ...],
        hidden: int,
        layers: int,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        self.body = _mlp(latent_dim, hidden, layers, math.prod(sample_shape), nn.ReLU, batch_norm)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z).view(z.shape[0], *self.sample_shape)  # (B, *sample_shape)


class MLPDiscriminator(nn.Module):
    def __init__(self, sample_shape: tuple[int, ...], hidden: int, layers: int) -> None:
        super().__init__()
        # LeakyReLU keeps D's input gradient alive everywhere, which the gradient penalty needs.
        self.body = _mlp(math.prod(sample_shape), hidden, layers, 1, lambda: nn.LeakyReLU(0.2))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(torch.flatten(x, 1)).squeeze(1)  # (B,)


@NETS.register("mlp")
def mlp(
    sample_shape: tuple[int, ...],
    latent_dim: int,
    hidden: int = 128,
    generator_layers: int = 2,
    discriminator_layers: int = 2,
    generator_batch_norm: bool = False,
) -> NetPair:
    """G: ``generator_layers`` hidden ReLU layers (with BatchNorm if ``generator_batch_norm``);
    D: ``discriminator_layers`` hidden LeakyReLU layers."""
    return NetPair(
        MLPGenerator(latent_dim, sample_shape, hidden, generator_layers, generator_batch_norm),
        MLPDiscriminator(sample_shape, hidden, discriminator_layers),
    )
