"""The theory lab: the optimal discriminator and the value it reaches, checked numerically.

For a data density p and a generator density q, the discriminator that maximizes

    V(D) = E_{x~p} log D(x) + E_{x~q} log(1 - D(x))

is D*(x) = p(x) / (p(x) + q(x)) (Goodfellow et al., 2014, proposition 1), and its value is

    V(D*) = -log 4 + KL(p || m) + KL(q || m) = -log 4 + 2 JSD(p || q),   m = (p + q) / 2

(theorem 1). Here p and q are 1-D Gaussian mixtures, every quantity is an integral on a fine grid
(``scipy.integrate.simpson``), and a discriminator MLP trained with the project's own minimax
discriminator loss on samples of p and q is compared with D*. All values are in nats.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy
import torch
from scipy import integrate, special, stats
from torch import Tensor, nn

from ganbench.argparser import OneLineParser
from ganbench.nets.mlp import MLPDiscriminator
from ganbench.objectives import build_objective

# The grid spans [min mean - 12 max std, max mean + 12 max std]: beyond 12 standard deviations a
# Gaussian's mass is below 1e-32, far under float64 resolution of the integrals.
GRID_SPAN_STDS = 12.0
# Grid points per smallest standard deviation, so that the narrowest component is resolved.
GRID_POINTS_PER_STD = 100
GRID_MIN_POINTS = 20_001
GRID_MAX_POINTS = 2_000_001
# max |D - D*| is taken where the mixture density m = (p + q) / 2 is at least this fraction of its
# maximum: outside, neither p nor q puts samples there, so D is unconstrained by the data and by V.
REGION_REL_THRESHOLD = 1e-3
REGION_DEFINITION = (
    "grid points x where (p(x) + q(x)) / 2 >= 1e-3 * max_x (p(x) + q(x)) / 2 "
    f"(grid: [min mean - {GRID_SPAN_STDS:g} max std, max mean + {GRID_SPAN_STDS:g} max std])"
)

DEFAULT_P = "-1.5,0.6;1.5,0.6"
DEFAULT_Q = "0,1.5"
DEFAULT_STEPS = 4000
DEFAULT_BATCH_SIZE = 512
DEFAULT_LR = 1e-2
# The per-component features of the discriminator are clipped at this many of the component's
# standard deviations: beyond it the component's density is < 2e-8 of its peak.
FEATURE_CLIP = 6.0
# The core: where (p + q) / 2 is at least 5% of its peak, i.e. where both sample sets put enough
# points that D is pinned down by the data (issue 15). max_abs_error_d_core is taken there.
CORE_REL_THRESHOLD = 0.05
CORE_DEFINITION = "grid points x where (p(x) + q(x)) / 2 >= 0.05 * max_x (p(x) + q(x)) / 2"
MEAN_ERROR_DEFINITION = "integral of (p(x) + q(x)) / 2 * |D(x) - D*(x)| dx over the grid"
DEFAULT_HIDDEN = 64
DEFAULT_LAYERS = 2

ArrayOrTensor = np.ndarray | Tensor


@dataclass(frozen=True)
class Mixture1D:
    """sum_k w_k N(x; mu_k, sigma_k^2) with weights normalized to sum to 1."""

    means: tuple[float, ...]
    stds: tuple[float, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.means)
        if n == 0 or len(self.stds) != n or len(self.weights) != n:
            raise ValueError("a mixture needs as many means, stds and weights, at least one each")
        if any(s <= 0 for s in self.stds) or any(w <= 0 for w in self.weights):
            raise ValueError("mixture stds and weights must be > 0")
        total = math.fsum(self.weights)
        object.__setattr__(self, "weights", tuple(w / total for w in self.weights))

    def log_pdf(self, x: ArrayOrTensor) -> ArrayOrTensor:
        """log p(x) = logsumexp_k [log w_k + log N(x; mu_k, sigma_k^2)], in float64.

        Working in log space keeps log p finite where p itself underflows to 0 (far tails).
        """
        if isinstance(x, Tensor):
            x64 = x.to(torch.float64).unsqueeze(-1)
            mu = torch.tensor(self.means, dtype=torch.float64, device=x.device)
            sd = torch.tensor(self.stds, dtype=torch.float64, device=x.device)
            logw = torch.tensor(self.weights, dtype=torch.float64, device=x.device).log()
            comp = torch.distributions.Normal(mu, sd).log_prob(x64)
            return torch.logsumexp(logw + comp, dim=-1)
        x64 = np.asarray(x, dtype=np.float64)[..., None]
        comp = stats.norm.logpdf(x64, loc=np.asarray(self.means), scale=np.asarray(self.stds))
        return special.logsumexp(comp, axis=-1, b=np.asarray(self.weights))

    def pdf(self, x: ArrayOrTensor) -> ArrayOrTensor:
        """p(x) = exp(log p(x)), float64."""
        lp = self.log_pdf(x)
        return lp.exp() if isinstance(lp, Tensor) else np.exp(lp)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n float64 samples, shape (n,): pick component k ~ w, then x = mu_k + sigma_k eps."""
        w = torch.tensor(self.weights, dtype=torch.float64)
        k = torch.multinomial(w, n, replacement=True, generator=generator)
        eps = torch.randn(n, dtype=torch.float64, generator=generator)
        mu = torch.tensor(self.means, dtype=torch.float64)
        sd = torch.tensor(self.stds, dtype=torch.float64)
        return mu[k] + sd[k] * eps

    def components(self) -> list[dict[str, float]]:
        return [
            {"mean": m, "std": s, "weight": w}
            for m, s, w in zip(self.means, self.stds, self.weights, strict=True)
        ]


def parse_mixture(text: str, field: str) -> Mixture1D:
    """Parse "MEAN,STD[,WEIGHT];..." (weight defaults to 1; weights are normalized).

    Errors are one-line ``ValueError``s naming ``field`` and the component, e.g.
    ``--q: component 2 'a,1': MEAN,STD[,WEIGHT] expects numbers``.
    """
    if not text.strip():
        raise ValueError(f"{field}: empty mixture; expected MEAN,STD[,WEIGHT];...")
    means, stds, weights = [], [], []
    for i, part in enumerate(text.split(";"), start=1):
        where = f"{field}: component {i} {part.strip()!r}"
        fields = [f.strip() for f in part.split(",")]
        if len(fields) not in (2, 3):
            raise ValueError(f"{where}: MEAN,STD[,WEIGHT] expects 2 or 3 numbers, got {len(fields)}")
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise ValueError(f"{where}: MEAN,STD[,WEIGHT] expects numbers") from None
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{where}: MEAN,STD[,WEIGHT] expects finite numbers")
        mean, std, weight = values[0], values[1], values[2] if len(values) == 3 else 1.0
        if std <= 0:
            raise ValueError(f"{where}: STD must be > 0, got {std:g}")
        if weight <= 0:
            raise ValueError(f"{where}: WEIGHT must be > 0, got {weight:g}")
        means.append(mean)
        stds.append(std)
        weights.append(weight)
    return Mixture1D(tuple(means), tuple(stds), tuple(weights))


def grid(p: Mixture1D, q: Mixture1D) -> np.ndarray:
    """Uniform integration grid over [min mean - 12 max std, max mean + 12 max std]."""
    means = p.means + q.means
    stds = p.stds + q.stds
    lo = min(means) - GRID_SPAN_STDS * max(stds)
    hi = max(means) + GRID_SPAN_STDS * max(stds)
    n = int(np.clip((hi - lo) / min(stds) * GRID_POINTS_PER_STD, GRID_MIN_POINTS, GRID_MAX_POINTS))
    n += 1 - n % 2  # an odd count: Simpson's rule on an even number of intervals
    return np.linspace(lo, hi, n)


def _expect(density: np.ndarray, f: np.ndarray, x: np.ndarray) -> float:
    """∫ density(x) f(x) dx, with 0 * f = 0 where the density underflows (f may be +-inf there)."""
    with np.errstate(invalid="ignore"):
        integrand = np.where(density > 0, density * f, 0.0)
    return float(integrate.simpson(integrand, x=x))


def kl(p: Mixture1D, q: Mixture1D) -> float:
    """KL(p || q) = ∫ p(x) (log p(x) - log q(x)) dx, in nats.

    inf when q has no density where p has mass (log q = -inf there); with Gaussians log q stays
    finite on the grid, so this is a guard rather than a case that occurs.
    """
    x = grid(p, q)
    lp, lq = p.log_pdf(x), q.log_pdf(x)
    with np.errstate(invalid="ignore"):
        return _expect(np.exp(lp), lp - lq, x)


def jsd(p: Mixture1D, q: Mixture1D) -> float:
    """JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2; in [0, log 2] nats.

    log m = logaddexp(log p, log q) - log 2, so no density is exponentiated before the log.
    """
    x = grid(p, q)
    lp, lq = p.log_pdf(x), q.log_pdf(x)
    lm = np.logaddexp(lp, lq) - math.log(2.0)
    return 0.5 * _expect(np.exp(lp), lp - lm, x) + 0.5 * _expect(np.exp(lq), lq - lm, x)


def optimal_logit(p: Mixture1D, q: Mixture1D, x: ArrayOrTensor) -> ArrayOrTensor:
    """logit D*(x) = log p(x) - log q(x), since D* = p / (p + q) = sigmoid(log p - log q)."""
    return p.log_pdf(x) - q.log_pdf(x)


def value(p: Mixture1D, q: Mixture1D, logit: Callable[[np.ndarray], np.ndarray]) -> float:
    """V(D) = ∫ p log D + q log(1 - D) for D = sigmoid(logit(x)), in nats.

    log D = log_sigmoid(l) and log(1 - D) = log_sigmoid(-l): stable for any logit l.
    """
    x = grid(p, q)
    lg = np.asarray(logit(x), dtype=np.float64)
    return _expect(p.pdf(x), special.log_expit(lg), x) + _expect(q.pdf(x), special.log_expit(-lg), x)


def optimal_value(p: Mixture1D, q: Mixture1D) -> float:
    """V(D*) = ∫ p log D* + q log(1 - D*), with log D* = log p - logaddexp(log p, log q).

    Theory: V(D*) = -log 4 + 2 JSD(p || q).
    """
    return value(p, q, lambda x: optimal_logit(p, q, x))


def region_mask(
    p: Mixture1D, q: Mixture1D, x: np.ndarray, rel_threshold: float = REGION_REL_THRESHOLD
) -> np.ndarray:
    """Where (p(x) + q(x)) / 2 >= rel_threshold * max over the grid of (p + q) / 2.

    1e-3 (``REGION_DEFINITION``) by default; ``CORE_REL_THRESHOLD`` gives the core.
    """
    lm = np.logaddexp(p.log_pdf(x), q.log_pdf(x))
    return lm >= lm.max() + math.log(rel_threshold)


def discriminator_errors(
    p: Mixture1D, q: Mixture1D, logit: Callable[[np.ndarray], np.ndarray]
) -> dict[str, float]:
    """|D - D*| for D = sigmoid(logit(x)) on the integration grid.

    ``mean_abs_error_d``: weighted by m = (p + q) / 2 (a density, so this is E_m |D - D*|);
    ``max_abs_error_d_core``: the max over the core, where m >= 5% of its peak;
    ``max_abs_error_d``: the max over the wider region where m >= 1e-3 of its peak.
    """
    x = grid(p, q)
    err = np.abs(
        special.expit(np.asarray(logit(x), dtype=np.float64)) - special.expit(optimal_logit(p, q, x))
    )
    m = 0.5 * (p.pdf(x) + q.pdf(x))
    return {
        "mean_abs_error_d": float(integrate.simpson(m * err, x=x)),
        "max_abs_error_d_core": float(err[region_mask(p, q, x, CORE_REL_THRESHOLD)].max()),
        "max_abs_error_d": float(err[region_mask(p, q, x)].max()),
    }


class MultiScaleDiscriminator(nn.Module):
    """D(x) = MLP(features(x)): the project's MLP discriminator on fixed multi-scale views of x.

    features(x) = [(x - c) / s, clip((x - mu_k) / sigma_k, -6, 6) for every component k of p and q],
    with c, s the mean and std of (p + q) / 2. Why: D* = p / (p + q) changes on the scale of the
    narrowest component, which on a single standardized input can be 1e-3 of the range (narrow,
    well-separated modes); each clipped feature resolves one component's neighbourhood and is flat
    elsewhere, so the first layer can place its kinks where D* bends. The features are fixed and
    include x itself (so the map is injective): D is still a function of x only, it is told where
    the components are and how wide, never their densities, and the optimum D* is unchanged.
    """

    def __init__(self, p: Mixture1D, q: Mixture1D, hidden: int, layers: int) -> None:
        super().__init__()
        center, scale = _moments(p, q)
        centers = torch.tensor((center, *p.means, *q.means), dtype=torch.float64)
        scales = torch.tensor((scale, *p.stds, *q.stds), dtype=torch.float64)
        self.register_buffer("centers", centers)
        self.register_buffer("scales", scales)
        clip = torch.full_like(centers, FEATURE_CLIP)
        clip[0] = math.inf  # the global coordinate is not clipped
        self.register_buffer("clip", clip)
        self.mlp = MLPDiscriminator((len(centers),), hidden, layers)

    def features(self, x: Tensor) -> Tensor:
        """(B,) float64 -> (B, 1 + components) float32; float64 first so that x ~ 1e3 keeps its digits."""
        u = (x.to(torch.float64).unsqueeze(-1) - self.centers) / self.scales
        return torch.maximum(torch.minimum(u, self.clip), -self.clip).float()

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(self.features(x))  # (B,) logits

    def logits_np(self, x: np.ndarray, chunk: int = 65_536) -> np.ndarray:
        """Logits on a numpy grid, float64."""
        out = []
        with torch.no_grad():
            for start in range(0, len(x), chunk):
                xs = torch.as_tensor(x[start : start + chunk], dtype=torch.float64)
                out.append(self(xs).double().numpy())
        return np.concatenate(out)


def _moments(p: Mixture1D, q: Mixture1D) -> tuple[float, float]:
    """Mean and std of m = (p + q) / 2, in closed form from the components."""
    mus = np.array(p.means + q.means)
    sds = np.array(p.stds + q.stds)
    ws = np.array(p.weights + q.weights) / 2.0
    mean = float(np.sum(ws * mus))
    var = float(np.sum(ws * (sds**2 + mus**2)) - mean**2)
    return mean, math.sqrt(max(var, 1e-300))


def train_discriminator(
    p: Mixture1D,
    q: Mixture1D,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    hidden: int = DEFAULT_HIDDEN,
    layers: int = DEFAULT_LAYERS,
) -> MultiScaleDiscriminator:
    """Train D on fresh samples of p (real) and q (fake) every step, minimizing the project's own
    minimax discriminator loss -E_p log D - E_q log(1 - D) with Adam.

    The learning rate follows a cosine decay to 0: a constant step leaves D jittering around D*
    with the minibatch noise, and the decay averages that noise out at the end.
    """
    _check_training_args(steps, batch_size, lr)
    # Seed the initialization without touching the caller's global RNG state.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MultiScaleDiscriminator(p, q, hidden, layers)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    loss_fn = build_objective("minimax").discriminator_loss
    model.train()
    with _one_thread():
        for _ in range(steps):
            real = p.sample(batch_size, gen)
            fake = q.sample(batch_size, gen)
            # One forward pass over both batches (half the per-call overhead); the loss sees them apart.
            real_logits, fake_logits = model(torch.cat([real, fake])).split(batch_size)
            loss = loss_fn(real_logits, fake_logits)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    return model


def _check_training_args(steps: int, batch_size: int, lr: float) -> None:
    """One-line ValueErrors naming the CLI option."""
    if steps < 1:
        raise ValueError(f"--steps: must be >= 1, got {steps}")
    if batch_size < 1:
        raise ValueError(f"--batch_size: must be >= 1, got {batch_size}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"--lr: must be a finite number > 0, got {lr}")


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """One intra-op thread, restored on exit.

    A 64-wide MLP on 1024 scalars gains nothing from more threads, and on a shared 2-core machine
    the second thread's spin-waits made steps 20-30x slower (measured: ~1.1 ms/step with 1 thread,
    1-34 ms/step with 2, depending on the load).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _finite_or_none(obj: Any) -> Any:
    """Replace non-finite floats by None so the JSON is valid (json writes NaN/Infinity otherwise)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    return obj


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write to a temporary file in the same directory, then os.replace: readers never see half a file."""
    text = json.dumps(_finite_or_none(data), indent=2, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; the result is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) indices of each run of True in a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(i), int(j) - 1) for i, j in zip(edges[::2], edges[1::2], strict=True)]


def _plot(path: Path, p: Mixture1D, q: Mixture1D, model: MultiScaleDiscriminator, results: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_full = grid(p, q)
    inside = region_mask(p, q, x_full)
    lo, hi = x_full[inside].min(), x_full[inside].max()
    pad = 0.1 * (hi - lo)
    # The integration grid itself (thinned to <= 20k points), so that narrow components are drawn.
    x = x_full[(x_full >= lo - pad) & (x_full <= hi + pad)]
    x = x[:: max(1, len(x) // 20_000)]
    core = region_mask(p, q, x, CORE_REL_THRESHOLD)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(x, special.expit(optimal_logit(p, q, x)), "k--", lw=2, label="D* = p / (p + q)")
    ax.plot(x, special.expit(model.logits_np(x)), "C3", lw=1.5, label="trained D")
    ax.set_xlabel("x")
    ax.set_ylabel("D(x)")
    ax.set_ylim(-0.02, 1.02)
    dens = ax.twinx()
    # On the lower (density) axis, so that the shaded regions do not hide p and q.
    dens.axvspan(lo, hi, color="0.95", zorder=0, label="(p + q) / 2 >= 1e-3 of its peak")
    for k, (i, j) in enumerate(_runs(core)):
        label = "core: (p + q) / 2 >= 5% of its peak" if k == 0 else None
        dens.axvspan(x[i], x[j], color="0.82", zorder=0, label=label)
    dens.fill_between(x, p.pdf(x), color="C0", alpha=0.25, label="p (data)")
    dens.fill_between(x, q.pdf(x), color="C1", alpha=0.25, label="q (generator)")
    dens.set_ylabel("density")
    dens.set_ylim(bottom=0)
    # Draw D and D* above the shaded densities of the twin axis.
    ax.set_zorder(dens.get_zorder() + 1)
    ax.patch.set_visible(False)
    handles = ax.get_legend_handles_labels()
    more = dens.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], loc="best", fontsize=8)
    ax.set_title(
        f"JSD = {results['jsd']:.4f}, V(D*) = {results['optimal_value']:.4f}, "
        f"V(D) = {results['trained_value']:.4f}, |V(D) - V(D*)| = {results['value_gap']:.2e}\n"
        f"E_m |D - D*| = {results['mean_abs_error_d']:.4f}, "
        f"max |D - D*| core = {results['max_abs_error_d_core']:.4f}, "
        f"1e-3 region = {results['max_abs_error_d']:.4f}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_theory(
    p_text: str,
    q_text: str,
    out_dir: str | os.PathLike[str],
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    hidden: int = DEFAULT_HIDDEN,
    layers: int = DEFAULT_LAYERS,
) -> dict[str, Any]:
    """Compute the closed-form-by-quadrature quantities, train D, write theory.json and the plot.

    Returns the dict written to ``out_dir/theory.json`` (non-finite floats become null there).
    """
    p = parse_mixture(p_text, "--p")
    q = parse_mixture(q_text, "--q")
    _check_training_args(steps, batch_size, lr)  # before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    js, kl_pq, kl_qp, v_opt = jsd(p, q), kl(p, q), kl(q, p), optimal_value(p, q)
    neg_log4_plus_2jsd = -math.log(4.0) + 2.0 * js

    start = time.perf_counter()
    model = train_discriminator(p, q, steps, seed, batch_size, lr, hidden, layers)
    train_seconds = time.perf_counter() - start

    x = grid(p, q)
    v_trained = value(p, q, model.logits_np)
    errors = discriminator_errors(p, q, model.logits_np)
    inside = region_mask(p, q, x)
    core = region_mask(p, q, x, CORE_REL_THRESHOLD)

    results: dict[str, Any] = {
        "jsd": js,
        "kl_pq": kl_pq,
        "kl_qp": kl_qp,
        "optimal_value": v_opt,
        "neg_log4_plus_2jsd": neg_log4_plus_2jsd,
        "identity_check": v_opt - neg_log4_plus_2jsd,
        "trained_value": v_trained,
        "value_gap": abs(v_trained - v_opt),
        "max_abs_error_d": errors["max_abs_error_d"],
        "mean_abs_error_d": errors["mean_abs_error_d"],
        "max_abs_error_d_core": errors["max_abs_error_d_core"],
        "mean_abs_error_definition": MEAN_ERROR_DEFINITION,
        "core_region": {
            "definition": CORE_DEFINITION,
            "rel_threshold": CORE_REL_THRESHOLD,
            "x_min": float(x[core].min()),
            "x_max": float(x[core].max()),
            "grid_points": int(core.sum()),
        },
        "region": {
            "definition": REGION_DEFINITION,
            "rel_threshold": REGION_REL_THRESHOLD,
            "x_min": float(x[inside].min()),
            "x_max": float(x[inside].max()),
            "grid_points": int(inside.sum()),
        },
        "units": "nats",
        "p": p.components(),
        "q": q.components(),
        "objective": "minimax",
        "loss": "minimax discriminator loss -E_p log D(x) - E_q log(1 - D(x)), from logits",
        "steps": steps,
        "seed": seed,
        "batch_size": batch_size,
        "lr": lr,
        "lr_schedule": "cosine to 0",
        "discriminator": {
            "net": "MLPDiscriminator",
            "hidden": hidden,
            "layers": layers,
            "input": "(x - mean) / std of (p + q) / 2, and clip((x - mu_k) / sigma_k, -6, 6) for every "
            "component k of p and q",
        },
        "train_seconds": train_seconds,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
    }
    _write_json_atomic(out / "theory.json", results)
    _plot(out / "discriminator.png", p, q, model, results)
    return results


def _join_mixture_values(argv: Sequence[str]) -> list[str]:
    """Turn ``--p -1,1`` into ``--p=-1,1``: argparse would take ``-1,1`` for an option otherwise."""
    args = list(argv)
    out: list[str] = []
    i = 0
    while i < len(args):
        if args[i] in ("--p", "--q") and i + 1 < len(args):
            out.append(f"{args[i]}={args[i + 1]}")
            i += 2
        else:
            out.append(args[i])
            i += 1
    return out


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m ganbench theory",
        description="Optimal discriminator D* = p / (p + q) and V(D*) = -log 4 + 2 JSD(p||q) for 1-D "
        "Gaussian mixtures, by numerical integration; then a discriminator trained with the minimax "
        "loss, compared with D*. Values in nats. (theory divergences --help: the divergence lab.)",
    )
    p.add_argument("--p", default=DEFAULT_P, help=f"data mixture MEAN,STD[,WEIGHT];... ({DEFAULT_P})")
    p.add_argument("--q", default=DEFAULT_Q, help=f"generator mixture, same format ({DEFAULT_Q})")
    p.add_argument("--out", default="results/theory", help="output directory (results/theory)")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"D steps ({DEFAULT_STEPS})")
    p.add_argument("--seed", type=int, default=0, help="seed of D's initialization and samples (0)")
    p.add_argument(
        "--batch_size",
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        help=f"samples of p and of q per D step ({DEFAULT_BATCH_SIZE})",
    )
    p.add_argument("--lr", type=float, default=DEFAULT_LR, help=f"Adam learning rate ({DEFAULT_LR})")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench theory``: returns 0 on success, 2 on bad input (one-line error).

    ``theory divergences ...`` is the divergence lab (``ganbench.evaluation.divergences``).
    """
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["divergences"]:
        from ganbench.evaluation.divergences import main as divergences_main

        return divergences_main(words[1:])
    try:
        args = parser().parse_args(_join_mixture_values(words))
    except SystemExit as exit_:  # argparse already printed its usage error (or --help)
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        results = run_theory(args.p, args.q, args.out, args.steps, args.seed, args.batch_size, args.lr)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    keys = ("jsd", "kl_pq", "kl_qp", "optimal_value", "neg_log4_plus_2jsd", "identity_check")
    keys += ("trained_value", "value_gap", "max_abs_error_d", "mean_abs_error_d", "max_abs_error_d_core")
    summary = {k: results[k] for k in keys}
    print(json.dumps(_finite_or_none(summary), indent=2))
    print(f"wrote {Path(args.out) / 'theory.json'} and {Path(args.out) / 'discriminator.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
