"""Discriminator regularizers, registered by name: penalties added to D's loss by the shared step.

``--model.regularizers='[{"name": "r1", "options": {"gamma": 10}}]'`` (a YAML list under
``model.regularizers``). Every penalty is computed per member: for one run the D input is (B, ...) and
the penalty a scalar; for a seed ensemble (``batch_dims=2``) the input is (S, B, ...) and the penalty
has shape (S,). Adding a regularizer is one factory here and its registry line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from ganbench.registry import Registry


class Draws(Protocol):
    """Random inputs of one step, drawn per member (see ``ganbench.step``)."""

    def uniform(self, n: int) -> Tensor: ...


Net = Callable[[Tensor], Tensor]
# penalty(discriminator, real, fake, draws, batch_dims) -> per-member penalty (unweighted)
PenaltyFn = Callable[[Callable[[Tensor], Tensor], Tensor, Tensor, Draws, int], Tensor]


@dataclass(frozen=True)
class Regularizer:
    """A penalty on D, added to D's loss as ``weight * penalty``; logged as ``train/NAME``."""

    name: str
    weight: float
    penalty: PenaltyFn
    options: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.options)})"


REGULARIZERS = Registry("regularizer")


def build_regularizers(specs: Sequence[dict[str, Any]] | None) -> list[Regularizer]:
    """``[{"name": NAME, "options": {...}}, ...]`` -> regularizers; bad entries raise one-line ValueErrors."""
    built = []
    for index, spec in enumerate(specs or ()):
        field = f"model.regularizers[{index}]"
        if not isinstance(spec, dict) or "name" not in spec or set(spec) - {"name", "options"}:
            raise ValueError(f"{field}: expected {{name: NAME, options: {{...}}}}, got {spec!r}")
        options = spec.get("options") or {}
        if not isinstance(options, dict):
            raise ValueError(f"{field}.options: expected a mapping of options, not {options!r}")
        built.append(REGULARIZERS.build(spec["name"], dict(options), field=f"{field}.name"))
    names = [r.name for r in built]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"model.regularizers: {', '.join(repeated)} listed more than once")
    return built


def _input_gradient(discriminator: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """dD/dx per sample, with the graph kept so that the penalty trains D."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(x).sum(), x, create_graph=True)
    return grad


def gradient_penalty(
    discriminator: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    eps: Tensor | None = None,
    batch_dims: int = 1,
) -> Tensor:
    """E (||grad_x D(x_hat)||_2 - 1)^2 on x_hat = eps x + (1 - eps) G(z), eps ~ U[0, 1] per sample.

    Gulrajani et al. (2017), eq. 3. ``batch_dims`` leading dims index samples: 2 for a seed ensemble's
    (S, B, ...) batches, which gives one penalty per member (shape (S,)). ``eps`` (shape
    ``real.shape[:batch_dims]``) is drawn from torch's RNG if None.
    """
    if eps is None:
        eps = torch.rand(real.shape[:batch_dims], device=real.device, dtype=real.dtype)
    eps = eps.reshape(eps.shape + (1,) * (real.dim() - batch_dims)).to(real.dtype)
    grad = _input_gradient(discriminator, eps * real.detach() + (1 - eps) * fake.detach())
    return ((grad.flatten(batch_dims).norm(2, dim=-1) - 1.0) ** 2).mean(dim=-1)


def squared_gradient_norm(discriminator: Net, x: Tensor, batch_dims: int = 1) -> Tensor:
    """E ||grad_x D(x)||^2 over the samples of ``x`` (per member)."""
    grad = _input_gradient(discriminator, x)
    return grad.flatten(batch_dims).pow(2).sum(dim=-1).mean(dim=-1)


@REGULARIZERS.register("gradient_penalty")
def gradient_penalty_regularizer(weight: float = 10.0) -> Regularizer:
    """WGAN-GP's two-sided penalty, lambda E (||grad D(x_hat)|| - 1)^2 (Gulrajani et al., 2017).

    ``wasserstein_gp`` enables it with its ``gp_weight`` (10, the paper's lambda)."""
    if not weight >= 0:
        raise ValueError(f"model.regularizers: gradient_penalty weight {weight} must be >= 0")

    def penalty(discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, draws: Draws,
                batch_dims: int) -> Tensor:  # fmt: skip
        eps = draws.uniform(real.shape[batch_dims - 1])
        return gradient_penalty(discriminator, real, fake, eps=eps, batch_dims=batch_dims)

    return Regularizer("gradient_penalty", float(weight), penalty, (("weight", weight),))


def _zero_centered(name: str, gamma: float, on_real: bool) -> Regularizer:
    if not gamma >= 0:
        raise ValueError(f"model.regularizers: {name} gamma {gamma} must be >= 0")

    def penalty(discriminator: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, draws: Draws,
                batch_dims: int) -> Tensor:  # fmt: skip
        return squared_gradient_norm(discriminator, real if on_real else fake, batch_dims)

    return Regularizer(name, gamma / 2.0, penalty, (("gamma", gamma),))


@REGULARIZERS.register("r1")
def r1(gamma: float = 10.0) -> Regularizer:
    """R1 (Mescheder et al., 2018, eq. 9): gamma/2 E_{p_data} ||grad_x D(x)||^2 on real samples."""
    return _zero_centered("r1", gamma, on_real=True)


@REGULARIZERS.register("r2")
def r2(gamma: float = 10.0) -> Regularizer:
    """R2 (Mescheder et al., 2018, eq. 10): gamma/2 E_{p_G} ||grad_x D(x)||^2 on generated samples."""
    return _zero_centered("r2", gamma, on_real=False)
