"""The net registry: name -> factory(sample_shape, latent_dim, **options) -> NetPair."""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import nn

from ganbench.registry import Registry

NETS = Registry("net")


class NetPair(NamedTuple):
    generator: nn.Module  # z (B, latent_dim) -> x (B, *sample_shape)
    discriminator: nn.Module  # x (B, *sample_shape) -> logits (B,)


def build_nets(name: str, sample_shape: tuple[int, ...], latent_dim: int, **options: Any) -> NetPair:
    """Build the pair ``name`` for samples of ``sample_shape``; unknown names/options raise ValueError."""
    return NETS.build(
        name, options, field="model.net", sample_shape=tuple(sample_shape), latent_dim=latent_dim
    )
