"""The net registry: name -> factory(sample_shape, latent_dim, **options) -> NetPair."""

from __future__ import annotations

import inspect
from typing import Any, NamedTuple

from torch import nn

from ganbench.registry import Registry

NETS = Registry("net")


class NetPair(NamedTuple):
    generator: nn.Module  # z (B, latent_dim) -> x (B, *sample_shape)
    discriminator: nn.Module  # x (B, *sample_shape) -> logits (B,)


def build_nets(name: str, sample_shape: tuple[int, ...], latent_dim: int, **options: Any) -> NetPair:
    """Build the pair ``name`` for samples of ``sample_shape``; unknown names/options raise ValueError."""
    factory = NETS.get(name, field="model.net")
    params = [p for p in inspect.signature(factory).parameters if p not in ("sample_shape", "latent_dim")]
    unknown = sorted(set(options) - set(params))
    if unknown:
        raise ValueError(
            f"model.net_options: {name} has no option {', '.join(unknown)}; "
            f"valid options: {', '.join(params)}"
        )
    return factory(sample_shape=tuple(sample_shape), latent_dim=latent_dim, **options)
