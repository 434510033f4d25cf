"""GAN objectives: discriminator and generator losses on logits, registered by name.

Every objective is built by a factory whose keyword arguments are its options
(``--model.objective_options.real_label=0.9`` on the command line). Losses take raw discriminator
outputs ("logits"; critic values for critics) and are numerically stable:
log D = -softplus(-l) and log(1 - D) = -softplus(l).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ganbench.registry import Registry
from ganbench.regularizers import gradient_penalty  # noqa: F401  (its home before regularizers)

LossFn = Callable[..., Tensor]


@dataclass(frozen=True)
class Objective:
    """A GAN objective: what D minimizes and what G minimizes, both from logits.

    ``discriminator_loss(real_logits, fake_logits, *uniforms)`` and
    ``generator_loss(fake_logits, real_logits)`` return scalars to minimize. ``real_logits`` in the
    generator loss is used by relativistic losses only (the others ignore it). ``uniforms`` are
    ``discriminator_uniforms`` tensors of U[0, 1) draws shaped like the logits, which the shared step
    draws per member (random label flips); a loss called without them draws its own.
    Only ``ganbench.step`` interprets the other fields.
    """

    name: str
    discriminator_loss: LossFn
    generator_loss: LossFn
    is_critic: bool = False  # outputs are unbounded critic values, not logits of a probability
    default_n_critic: int = 1
    # Regularizers the objective turns on unless the user lists the same name ({name, options} specs).
    default_regularizers: tuple[dict[str, Any], ...] = ()
    generator_needs_real: bool = False  # relativistic losses compare fakes with reals
    discriminator_uniforms: int = 0  # U[0, 1) tensors shaped like the logits that D's loss consumes
    options: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        opts = ", ".join(f"{k}={v}" for k, v in self.options)
        return f"{self.name}({opts})"


OBJECTIVES = Registry("objective")


def build_objective(name: str, **options: Any) -> Objective:
    """Build the objective ``name`` with its options; unknown names or options raise ValueError."""
    return OBJECTIVES.build(name, options, field="model.objective")


def _log_d(logits: Tensor) -> Tensor:
    """log sigmoid(l), stable for any l."""
    return -F.softplus(-logits)


def _log_one_minus_d(logits: Tensor) -> Tensor:
    """log(1 - sigmoid(l)), stable for any l."""
    return -F.softplus(logits)


def _standard_discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-E log D(x) - E log(1 - D(G(z))): minus the value V(G, D) of Goodfellow et al. (2014)."""
    return -_log_d(real_logits).mean() - _log_one_minus_d(fake_logits).mean()


@OBJECTIVES.register("minimax")
def minimax() -> Objective:
    """The original, saturating minimax GAN (Goodfellow et al., 2014, eq. 1).

    D maximizes E log D(x) + E log(1 - D(G(z))); G minimizes E log(1 - D(G(z))).
    dL_G/dl = -D(G(z)) per sample: it vanishes as D(G(z)) -> 0, when D rejects G's samples.
    """

    def generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return _log_one_minus_d(fake_logits).mean()

    return Objective("minimax", _standard_discriminator_loss, generator_loss)


@OBJECTIVES.register("nonsaturating")
def nonsaturating() -> Objective:
    """The non-saturating GAN (Goodfellow et al., 2014, section 3).

    D as in minimax; G minimizes -E log D(G(z)). dL_G/dl = -(1 - D(G(z))) -> -1 as D(G(z)) -> 0.
    """

    def generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return -_log_d(fake_logits).mean()

    return Objective("nonsaturating", _standard_discriminator_loss, generator_loss)


def _bce(logits: Tensor, target: Tensor | float) -> Tensor:
    """Error(D, y) = -[y log D + (1 - y) log(1 - D)], averaged, from logits."""
    if not isinstance(target, Tensor):
        target = torch.full_like(logits, float(target))
    return F.binary_cross_entropy_with_logits(logits, target)


@OBJECTIVES.register("bce")
def bce(real_label: float = 1.0, fake_label: float = 0.0, flip_prob: float = 0.0) -> Objective:
    """Binary cross-entropy against target labels, with label smoothing and label flips.

    L_D = Error(D(x), y_real) + Error(D(G(z)), y_fake) and L_G = Error(D(G(z)), y_real), where
    Error(D, y) = -[y log D + (1 - y) log(1 - D)]. ``real_label`` < 1 is one-sided label smoothing
    (Salimans et al., 2016, "Improved Techniques for Training GANs"); ``fake_label`` > 0 makes it
    two-sided. ``flip_prob`` swaps each of D's targets (real <-> fake) with that probability
    (noisy labels). With labels 1/0 and no flips this is exactly ``nonsaturating``.
    """
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"model.objective_options.real_label: {real_label} is outside (0, 1]")
    if not 0.0 <= fake_label < real_label:
        raise ValueError(
            f"model.objective_options.fake_label: {fake_label} must be in [0, real_label={real_label})"
        )
    if not 0.0 <= flip_prob < 0.5:
        raise ValueError(f"model.objective_options.flip_prob: {flip_prob} is outside [0, 0.5)")

    def targets(logits: Tensor, label: float, other: float, uniform: Tensor | None) -> Tensor | float:
        if flip_prob == 0.0:
            return label
        if uniform is None:
            uniform = torch.rand(logits.shape, device=logits.device)
        flipped = uniform < flip_prob
        return torch.where(flipped, other, label).to(logits.dtype)

    def discriminator_loss(
        real_logits: Tensor, fake_logits: Tensor, real_uniform: Tensor | None = None,
        fake_uniform: Tensor | None = None,
    ) -> Tensor:  # fmt: skip
        real_target = targets(real_logits, real_label, fake_label, real_uniform)
        fake_target = targets(fake_logits, fake_label, real_label, fake_uniform)
        return _bce(real_logits, real_target) + _bce(fake_logits, fake_target)

    def generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return _bce(fake_logits, real_label)

    options = (("real_label", real_label), ("fake_label", fake_label), ("flip_prob", flip_prob))
    return Objective(
        "bce", discriminator_loss, generator_loss, discriminator_uniforms=2 if flip_prob > 0 else 0,
        options=options,
    )  # fmt: skip


@OBJECTIVES.register("least_squares")
def least_squares(a: float = 0.0, b: float = 1.0, c: float = 1.0) -> Objective:
    """Least-squares GAN (Mao et al., 2017, eq. 2) on the raw output l.

    L_D = 1/2 E (l(x) - b)^2 + 1/2 E (l(G(z)) - a)^2 and L_G = 1/2 E (l(G(z)) - c)^2, with the
    paper's 0-1 coding a = 0, b = c = 1.
    """

    def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return 0.5 * ((real_logits - b) ** 2).mean() + 0.5 * ((fake_logits - a) ** 2).mean()

    def generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return 0.5 * ((fake_logits - c) ** 2).mean()

    options = (("a", a), ("b", b), ("c", c))
    return Objective("least_squares", discriminator_loss, generator_loss, is_critic=True, options=options)


@OBJECTIVES.register("hinge")
def hinge() -> Objective:
    """Hinge loss (Lim & Ye, 2017; Miyato et al., 2018, SNGAN).

    L_D = E max(0, 1 - l(x)) + E max(0, 1 + l(G(z))) and L_G = -E l(G(z)).
    """

    def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return -fake_logits.mean()

    return Objective("hinge", discriminator_loss, generator_loss, is_critic=True)


@OBJECTIVES.register("wasserstein_gp")
def wasserstein_gp(gp_weight: float = 10.0, n_critic: int = 5) -> Objective:
    """WGAN-GP (Gulrajani et al., 2017, algorithm 1).

    The critic minimizes E f(G(z)) - E f(x) + lambda E (||grad f(x_hat)||_2 - 1)^2 on random
    interpolates x_hat; G minimizes -E f(G(z)). Paper defaults: lambda = 10, n_critic = 5.
    """
    if gp_weight < 0:
        raise ValueError(f"model.objective_options.gp_weight: {gp_weight} must be >= 0")
    if n_critic < 1:
        raise ValueError(f"model.objective_options.n_critic: {n_critic} must be >= 1")

    def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return fake_logits.mean() - real_logits.mean()

    def generator_loss(fake_logits: Tensor, real_logits: Tensor | None = None) -> Tensor:
        return -fake_logits.mean()

    return Objective(
        "wasserstein_gp",
        discriminator_loss,
        generator_loss,
        is_critic=True,
        default_n_critic=n_critic,
        default_regularizers=({"name": "gradient_penalty", "options": {"weight": gp_weight}},),
        options=(("gp_weight", gp_weight), ("n_critic", n_critic)),
    )


@OBJECTIVES.register("relativistic")
def relativistic(form: str = "average") -> Objective:
    """Relativistic standard GAN (Jolicoeur-Martineau, 2019): RaSGAN ("average") or RpSGAN ("pairing").

    average: with C_r = l(x) - E l(G(z)) and C_f = l(G(z)) - E l(x),
      L_D = -E log sigmoid(C_r) - E log(1 - sigmoid(C_f)),
      L_G = -E log sigmoid(C_f) - E log(1 - sigmoid(C_r)).
    pairing: L_D = -E log sigmoid(l(x) - l(G(z))), L_G = -E log sigmoid(l(G(z)) - l(x)),
      pairing real and fake samples by index (equal batch sizes).
    """
    if form not in ("average", "pairing"):
        raise ValueError(
            f"model.objective_options.form: unknown form {form!r}; valid choices: average, pairing"
        )

    if form == "average":

        def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
            real_rel = real_logits - fake_logits.mean()
            fake_rel = fake_logits - real_logits.mean()
            return -_log_d(real_rel).mean() - _log_one_minus_d(fake_rel).mean()

        def generator_loss(fake_logits: Tensor, real_logits: Tensor) -> Tensor:
            return discriminator_loss(fake_logits, real_logits)

    else:

        def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
            return -_log_d(real_logits - fake_logits).mean()

        def generator_loss(fake_logits: Tensor, real_logits: Tensor) -> Tensor:
            return -_log_d(fake_logits - real_logits).mean()

    return Objective(
        "relativistic",
        discriminator_loss,
        generator_loss,
        generator_needs_real=True,
        options=(("form", form),),
    )
