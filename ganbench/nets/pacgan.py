"""The toy nets of PacGAN's 2-D experiments (Lin et al., 2018; fjxmlzn/PacGAN, synthetic_data_experiments).

G: ``generator_layers`` hidden layers of ``generator_hidden`` ReLU units, each a bias-free linear map
followed by batch norm (blocks' MLP with ``use_bias=False`` and BatchNormalization), then a linear output
with a bias. D: ``discriminator_layers`` maxout layers of ``discriminator_hidden`` units with
``maxout_pieces`` pieces each (blocks' LinearMaxout), then a linear output. PacGAN initialises every
weight from N(0, 0.02^2) and every bias at 0 (``init_std``; None keeps PyTorch's default init).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ganbench.nets.registry import NETS, NetPair


class Maxout(nn.Module):
    """max over ``pieces`` affine maps: (B, in) -> (B, out) (Goodfellow et al., 2013)."""

    def __init__(self, in_dim: int, out_dim: int, pieces: int) -> None:
        super().__init__()
        self.out_dim, self.pieces = out_dim, pieces
        self.linear = nn.Linear(in_dim, out_dim * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).view(x.shape[0], self.out_dim, self.pieces).amax(dim=2)  # (B, out)


class BatchNormMLPGenerator(nn.Module):
    def __init__(
        self,
        latent_dim: int,
        sample_shape: tuple[int, ...],
        hidden: int,
        layers: int,
        momentum: float,
        eps: float,
    ) -> None:
        super().__init__()
        self.sample_shape = tuple(sample_shape)
        blocks: list[nn.Module] = []
        width = latent_dim
        for _ in range(layers):
            # blocks' BatchNormalization: population statistics updated as 0.95 old + 0.05 batch.
            norm = nn.BatchNorm1d(hidden, eps=eps, momentum=momentum)
            blocks += [nn.Linear(width, hidden, bias=False), norm, nn.ReLU()]
            width = hidden
        blocks.append(nn.Linear(width, math.prod(sample_shape)))
        self.body = nn.Sequential(*blocks)

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z).view(z.shape[0], *self.sample_shape)  # (B, *sample_shape)


class MaxoutDiscriminator(nn.Module):
    def __init__(self, sample_shape: tuple[int, ...], hidden: int, layers: int, pieces: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        width = math.prod(sample_shape)
        for _ in range(layers):
            blocks.append(Maxout(width, hidden, pieces))
            width = hidden
        blocks.append(nn.Linear(width, 1))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(torch.flatten(x, 1)).squeeze(1)  # (B,)


def _init_normal(net: nn.Module, std: float) -> None:
    """Every linear weight ~ N(0, std^2), every bias 0 (blocks' IsotropicGaussian and Constant(0))."""
    for layer in net.modules():
        if isinstance(layer, nn.Linear):
            nn.init.normal_(layer.weight, 0.0, std)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


@NETS.register("pacgan")
def pacgan(
    sample_shape: tuple[int, ...],
    latent_dim: int,
    generator_hidden: int = 400,
    generator_layers: int = 4,
    discriminator_hidden: int = 200,
    discriminator_layers: int = 3,
    maxout_pieces: int = 5,
    init_std: float | None = 0.02,
    batch_norm_momentum: float = 0.05,
    batch_norm_eps: float = 1e-4,
) -> NetPair:
    """PacGAN's BatchNorm MLP generator and maxout discriminator (its 2-D ring and grid protocol)."""
    for name, value in (
        ("generator_hidden", generator_hidden),
        ("generator_layers", generator_layers),
        ("discriminator_hidden", discriminator_hidden),
        ("discriminator_layers", discriminator_layers),
        ("maxout_pieces", maxout_pieces),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"model.net_options.{name}: {value!r} must be an integer >= 1")
    if init_std is not None and not init_std > 0:
        raise ValueError(f"model.net_options.init_std: {init_std} must be > 0 or null")
    generator = BatchNormMLPGenerator(
        latent_dim, sample_shape, generator_hidden, generator_layers, batch_norm_momentum, batch_norm_eps
    )
    discriminator = MaxoutDiscriminator(
        sample_shape, discriminator_hidden, discriminator_layers, maxout_pieces
    )
    if init_std is not None:
        _init_normal(generator, init_std)
        _init_normal(discriminator, init_std)
    return NetPair(generator, discriminator)
