"""One GAN iteration, written once: ``n_critic`` discriminator steps, then one generator step.

Both executors call it: ``ganbench.module.GAN`` (Lightning, one run: samples (B, ...), losses scalars)
and ``ganbench.ensemble`` (S seeds stacked: samples (S, B, ...), losses (S,), nets vmapped). They
differ only in what they hand in: the two nets, how losses are mapped over members, where random
draws come from (``Draws``) and how a loss becomes an optimizer step (``Updates``). Every objective
flag and every regularizer is interpreted here and nowhere else.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor
from torch.func import vmap

from ganbench.objectives import Objective
from ganbench.regularizers import Regularizer, build_regularizers

Net = Callable[[Tensor], Tensor]


def resolve_n_critic(objective: Objective, n_critic: int | None) -> int:
    """D steps per iteration: the explicit value, else the objective's default (5 for WGAN-GP)."""
    if n_critic is not None and n_critic < 1:
        raise ValueError(f"model.n_critic: must be >= 1, got {n_critic}")
    return int(n_critic or objective.default_n_critic)


def resolve_regularizers(objective: Objective, specs: Sequence[dict[str, Any]] | None) -> list[Regularizer]:
    """The user's regularizers plus the objective's defaults whose name the user did not list."""
    chosen = build_regularizers(specs)
    listed = {r.name for r in chosen}
    defaults = [spec for spec in objective.default_regularizers if spec["name"] not in listed]
    return build_regularizers(defaults) + chosen


def needs_double_backward(regularizers: Sequence[Regularizer]) -> bool:
    """Every registered penalty differentiates D's input gradient (torch.compile cannot)."""
    return any(r.weight > 0 for r in regularizers)


class Draws(Protocol):
    """The step's random inputs: (n, ...) for one run, (S, n, ...) for an ensemble, one stream per member."""

    def normal(self, n: int, dim: int) -> Tensor: ...

    def uniform(self, n: int) -> Tensor: ...


@dataclass(frozen=True)
class GlobalDraws:
    """One run: torch's global RNG on the run's device, the RNG that ``seed_everything`` seeds."""

    device: torch.device

    def normal(self, n: int, dim: int) -> Tensor:
        return torch.randn(n, dim, device=self.device)

    def uniform(self, n: int) -> Tensor:
        return torch.rand(n, device=self.device)


@dataclass(frozen=True)
class MemberDraws:
    """An ensemble: member s draws from its own generator exactly what its run alone would draw."""

    generators: Sequence[torch.Generator]
    device: torch.device

    def normal(self, n: int, dim: int) -> Tensor:
        return torch.stack([torch.randn(n, dim, generator=g, device=g.device) for g in self.generators]).to(
            self.device
        )

    def uniform(self, n: int) -> Tensor:
        return torch.stack([torch.rand(n, generator=g, device=g.device) for g in self.generators]).to(
            self.device
        )


class Updates(Protocol):
    """How an executor turns the step's losses into parameter updates."""

    def discriminator_phase(self) -> contextlib.AbstractContextManager[Any]: ...

    def generator_phase(self) -> contextlib.AbstractContextManager[Any]: ...

    def backward_discriminator(self, loss: Tensor) -> None:
        """Zero D's gradients and backpropagate ``loss`` (per member)."""

    def step_discriminator(self) -> None:
        """Step D's optimizer."""

    def backward_generator(self, loss: Tensor) -> None:
        """Zero G's gradients and backpropagate ``loss`` (per member); the step reads the gradients."""

    def step_generator(self) -> None:
        """Step G's optimizer (and its EMA)."""

    def generator_parameters(self) -> Iterable[Tensor]: ...


@dataclass(frozen=True)
class Players:
    """The two nets as the step calls them.

    ``batch_dims`` is 1 for one run and 2 for a seed ensemble, whose nets take (S, B, ...) and whose
    losses are mapped over the member dimension. ``packing`` m > 1 shows D m samples at once,
    concatenated along the first sample axis (PacGAN, Lin et al., 2018): D's batch is B / m packs.
    """

    generator: Net
    discriminator: Net
    latent_dim: int
    batch_dims: int = 1
    packing: int = 1

    def per_member(self, fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        return fn if self.batch_dims == 1 else vmap(fn)

    def pack(self, x: Tensor) -> Tensor:
        """(..., m B', C, ...) -> (..., B', m C, ...): each group of m consecutive samples as one input."""
        if self.packing == 1:
            return x
        lead, shape = x.shape[: self.batch_dims - 1], x.shape[self.batch_dims :]
        n = x.shape[self.batch_dims - 1]
        if n % self.packing:
            raise ValueError(f"model.packing: {n} samples do not split into packs of {self.packing}")
        return x.reshape(*lead, n // self.packing, self.packing * shape[0], *shape[1:])

    def generate(self, noise: Tensor) -> Tensor:
        """G's samples of ``noise``. With packing m, G runs once per pack slot on B noise vectors and slot j
        fills position j of every pack, as PacGAN's ``compute_losses`` does: a BatchNorm generator then
        normalizes over B samples, not m B. For nets without batch statistics this only orders the
        samples."""
        if self.packing == 1:
            return self.generator(noise)
        axis = self.batch_dims - 1
        if noise.shape[axis] % self.packing:
            raise ValueError(
                f"model.packing: {noise.shape[axis]} samples do not split into packs of {self.packing}"
            )
        slots = [self.generator(z) for z in noise.chunk(self.packing, dim=axis)]
        return torch.stack(slots, dim=axis + 1).flatten(axis, axis + 1)

    def judge(self, x: Tensor) -> Tensor:
        """D's outputs on samples ``x``: one per pack."""
        return self.discriminator(self.pack(x))


def _mean_outputs(objective: Objective, logits: Tensor) -> Tensor:
    """Mean D output per member: a probability, or the raw value for critics."""
    logits = logits.detach().float()
    return (logits if objective.is_critic else logits.sigmoid()).mean(dim=-1)


def _discriminator_loss(
    players: Players,
    objective: Objective,
    regularizers: Sequence[Regularizer],
    real: Tensor,
    fake: Tensor,
    draws: Draws,
) -> tuple[Tensor, dict[str, Tensor]]:
    """D's loss plus its penalties on (unpacked) real and generated samples; per-member statistics."""
    real, fake = players.pack(real), players.pack(fake.detach())
    real_logits = players.discriminator(real)
    fake_logits = players.discriminator(fake)
    uniforms = [draws.uniform(real_logits.shape[-1]) for _ in range(objective.discriminator_uniforms)]
    loss = players.per_member(objective.discriminator_loss)(real_logits, fake_logits, *uniforms)
    stats = {"d_loss": loss.detach()}
    total = loss
    for regularizer in regularizers:
        penalty = regularizer.penalty(players.discriminator, real, fake, draws, players.batch_dims)
        total = total + regularizer.weight * penalty
        stats[regularizer.name] = penalty.detach()
    stats["d_real"] = _mean_outputs(objective, real_logits)
    stats["d_fake"] = _mean_outputs(objective, fake_logits)
    return total, stats


def discriminator_forward(
    players: Players,
    objective: Objective,
    regularizers: Sequence[Regularizer],
    real: Tensor,
    noise: Tensor,
    draws: Draws,
) -> tuple[Tensor, dict[str, Tensor]]:
    """G's samples of ``noise`` (no gradient to G), then D's loss and penalties: one D step's forward."""
    with torch.no_grad():
        fake = players.generate(noise)
    return _discriminator_loss(players, objective, regularizers, real, fake, draws)


def discriminator_step(
    players: Players,
    objective: Objective,
    regularizers: Sequence[Regularizer],
    real: Tensor,
    draws: Draws,
    updates: Updates,
    forwards: Forwards | None = None,
) -> dict[str, Tensor]:
    """One D update on the real chunk ``real``; per-member statistics (d_loss, penalties, d_real, d_fake)."""
    noise = draws.normal(real.shape[players.batch_dims - 1], players.latent_dim)
    forward = (forwards or EAGER).discriminator
    total, stats = forward(players, objective, regularizers, real, noise, draws)
    updates.backward_discriminator(total)
    updates.step_discriminator()
    return stats


def _generator_loss_fn(objective: Objective) -> Callable[..., Tensor]:
    if objective.generator_needs_real:
        return objective.generator_loss
    return lambda fake_logits: objective.generator_loss(fake_logits, None)


def _judge_generated(players: Players, objective: Objective, real: Tensor, fake: Tensor) -> list[Tensor]:
    """What G's loss takes: D's outputs on ``fake`` (with their graph to G), and on ``real`` if needed."""
    inputs = [players.judge(fake)]
    if objective.generator_needs_real:
        with torch.no_grad():
            inputs.append(players.judge(real))
    return inputs


def generator_forward(players: Players, objective: Objective, real: Tensor, noise: Tensor) -> list[Tensor]:
    """One G step's forward up to the loss: G's samples of ``noise`` judged by D. The loss itself stays
    outside, so that the saturation signal can read the gradient at D's outputs."""
    return _judge_generated(players, objective, real, players.generate(noise))


def _generator_backward(
    players: Players, objective: Objective, inputs: list[Tensor], updates: Updates, diagnostics: bool
) -> dict[str, Tensor]:
    """G's loss on D's outputs ``inputs`` backpropagated; the step is the caller's."""
    fake_logits = inputs[0]
    if diagnostics:
        fake_logits.retain_grad()
    loss = players.per_member(_generator_loss_fn(objective))(*inputs)
    updates.backward_generator(loss)
    stats = {"g_loss": loss.detach()}
    if diagnostics:
        stats["g_grad_norm"] = gradient_norm(updates.generator_parameters(), players.batch_dims)
        # Per-sample |dL_G/dl|: the gradient of the batch mean times the batch size. It goes to 0
        # for minimax as D(G(z)) -> 0 (saturation) and to 1 for the non-saturating loss.
        stats["g_logit_grad"] = fake_logits.grad.abs().mean(dim=-1) * fake_logits.shape[-1]
    return stats


def generator_step(
    players: Players,
    objective: Objective,
    real: Tensor,
    draws: Draws,
    updates: Updates,
    diagnostics: bool,
    forwards: Forwards | None = None,
) -> dict[str, Tensor]:
    """One G update; with ``diagnostics`` also G's gradient norm and the saturation signal."""
    noise = draws.normal(real.shape[players.batch_dims - 1], players.latent_dim)
    inputs = (forwards or EAGER).generator(players, objective, real, noise)
    stats = _generator_backward(players, objective, inputs, updates, diagnostics)
    updates.step_generator()
    return stats


@dataclass(frozen=True)
class Forwards:
    """The two forward passes of an alternating iteration, from noise to D's loss and to D's outputs
    on G's samples: what ``--model.compile_step`` hands to torch.compile whole (eager here)."""

    discriminator: Callable[..., tuple[Tensor, dict[str, Tensor]]] = discriminator_forward
    generator: Callable[..., list[Tensor]] = generator_forward


EAGER = Forwards()


UPDATE_RULES = ("alternating", "simultaneous")


def train_iteration(
    players: Players,
    objective: Objective,
    regularizers: Sequence[Regularizer],
    real_chunks: Sequence[Tensor],
    draws: Draws,
    updates: Updates,
    diagnostics: bool,
    rule: str = "alternating",
    forwards: Forwards | None = None,
) -> dict[str, Tensor]:
    """One iteration; per-member stats.

    ``alternating`` (Goodfellow et al., 2014, algorithm 1): n_critic D steps, one real chunk each, then
    one G step against the updated D with fresh noise. ``simultaneous`` (PacGAN's and ALI's
    ``ali_algorithm``): one batch of generated samples, D's and G's gradients both taken at the current
    parameters, then both optimizers step; it takes exactly one real chunk. ``forwards``: the
    alternating steps' forward passes (compiled ones, say); the simultaneous rule runs eagerly.
    """
    if rule == "simultaneous":
        (real,) = real_chunks
        fake = players.generate(draws.normal(real.shape[players.batch_dims - 1], players.latent_dim))
        with updates.discriminator_phase():
            total, d_stats = _discriminator_loss(players, objective, regularizers, real, fake, draws)
            updates.backward_discriminator(total)
        with updates.generator_phase():
            inputs = _judge_generated(players, objective, real, fake)
            g_stats = _generator_backward(players, objective, inputs, updates, diagnostics)
        updates.step_discriminator()
        updates.step_generator()
        return {**d_stats, **g_stats}
    with updates.discriminator_phase():
        for real in real_chunks:
            d_stats = discriminator_step(players, objective, regularizers, real, draws, updates, forwards)
    with updates.generator_phase():
        g_stats = generator_step(players, objective, real, draws, updates, diagnostics, forwards)
    return {**d_stats, **g_stats}


def gradient_norm(parameters: Iterable[Tensor], batch_dims: int = 1) -> Tensor:
    """2-norm of the gradient over all parameters, per member (a scalar for one run, (S,) stacked)."""
    return norm_of([p.grad for p in parameters if p.grad is not None], batch_dims)


def norm_of(tensors: Sequence[Tensor], batch_dims: int = 1) -> Tensor:
    """2-norm over all ``tensors`` together, per member (a scalar for one run, (S,) stacked)."""
    squares = [t.flatten(batch_dims - 1).float().pow(2).sum(-1) for t in tensors]
    return torch.stack(squares).sum(0).sqrt()


def first_nonfinite(first: Tensor, iteration: int, stats: dict[str, Tensor]) -> Tensor:
    """Device-side record of the first iteration whose losses went NaN/inf (-1: none), per member.

    Five small ops an iteration (a tiny op costs ~20 us on a CPU): the losses' float32 sum is non-finite
    when either loss is (or when finite losses sum past float32's range, ~3e38: a divergence too).
    """
    finite = torch.isfinite(
        stats["d_loss"].float() + stats["g_loss"].float()
    )  # fp16 losses may sum past 65504
    return torch.where(finite | (first >= 0), first, iteration)


def nonfinite_parameters(parameters: Iterable[Tensor], batch_dims: int = 1) -> Tensor:
    """Per member: True where a parameter holds NaN/inf."""
    flags = [~torch.isfinite(p.detach()).flatten(batch_dims - 1).all(-1) for p in parameters]
    return torch.stack(flags).any(0)


def train_scalars(stats: dict[str, Tensor]) -> dict[str, Tensor]:
    """The logged names of an iteration's statistics (``train/d_loss``, ...), as float."""
    return {f"train/{k}": v.float() for k, v in stats.items()}
