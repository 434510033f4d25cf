"""Mode-coverage metrics for Gaussian-mixture toy data.

The protocol of the unrolled GAN (Metz et al., 2017), VEEGAN (Srivastava et al., 2017) and PacGAN
(Lin et al., 2018, section 5.1): assign each generated sample to its nearest mode; a sample is
"high quality" if it lies within 3 standard deviations of that mode; a mode is "captured" if some
high-quality sample is assigned to it; reverse KL compares the modes' share of high-quality samples
with the uniform distribution of the true mixture.

Added here, and registered with them in :mod:`ganbench.evaluation.metrics`: ``modes_covered``, which
needs mass on a mode rather than one sample, and ``off_mode_mass`` = 1 - ``high_quality_fraction``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from scipy import stats
from torch import Tensor

from ganbench.evaluation.metrics import metric

# Rows of the (n, K) distance matrix computed at once: bounds memory for large evaluations.
_CHUNK = 65536
HIGH_QUALITY_RADIUS = 3.0  # in sigmas: PacGAN's "high quality" sample
# A mode is covered when it holds at least this share of the high-quality samples it holds in
# expectation under the data (n / K * P(||eps|| <= 3 sigma)). With PacGAN's 2,500 samples that is
# ~9.9 samples a mode on grid25 (data: 98.9 ± 9.8 a mode, so a data draw covers 25 of 25) and ~31 on
# ring8 (data: 309 ± 16), while uniform noise over the widened bounding box puts 1.8 (grid25) and 0.4
# (ring8) samples in a mode's 3-sigma disc: P(Poisson(1.8) >= 10) ~ 1e-5, so noise covers ~0 modes
# where it "captures" 20.8 of 25 with the one-sample rule. See tests/evaluation/test_modes.py.
COVERAGE_SHARE = 0.1
PACGAN = "evaluation.num_samples generated samples (2,500 in PacGAN) assigned to their nearest mode"


def _as_points(x: Tensor, name: str) -> Tensor:
    """(n,) -> (n, 1) so 1-D data may be passed flat; anything else must already be (n, d)."""
    if x.dim() == 1:
        x = x.unsqueeze(1)
    if x.dim() != 2:
        raise ValueError(f"{name}: expected shape (n, d) or (n,), got {tuple(x.shape)}")
    return x


def nearest_modes(samples: Tensor, means: Tensor) -> tuple[Tensor, Tensor]:
    """Index of each sample's nearest mode (Euclidean) and the distance to it, both shape (n,)."""
    samples = _as_points(samples, "samples").float()
    means = _as_points(means, "means").to(device=samples.device, dtype=torch.float32)
    if samples.shape[1] != means.shape[1]:
        raise ValueError(f"samples have dimension {samples.shape[1]} but the modes have {means.shape[1]}")
    dists, idxs = [], []
    for chunk in samples.split(_CHUNK):
        d, i = torch.cdist(chunk, means).min(dim=1)
        dists.append(d)
        idxs.append(i)
    if not dists:
        empty = samples.new_zeros(0)
        return empty.long(), empty
    return torch.cat(idxs), torch.cat(dists)


def high_quality_probability(dim: int) -> float:
    """P(||eps|| <= 3) for eps ~ N(0, I_dim): the share of a Gaussian mode's samples that are high quality.

    ||eps||^2 is chi-squared with ``dim`` degrees of freedom: 0.9973 in 1-D, 1 - e^-4.5 = 0.9889 in 2-D.
    """
    return float(stats.chi2.cdf(HIGH_QUALITY_RADIUS**2, dim))


@dataclass
class MixtureSamples:
    """Samples (n, d) scored against an equal-weight mixture with ``means`` (K, d) and std ``sigma``.

    What every toy metric needs, computed once: the nearest mode of each sample, which samples are high
    quality, the per-mode counts. ``data`` draws samples of the true mixture (``data(n, generator)``)
    for the metrics that compare with data (:mod:`ganbench.evaluation.wasserstein`).
    """

    samples: Tensor
    means: Tensor
    sigma: float
    data: Callable[[int, torch.Generator], Tensor] | None = None

    def __post_init__(self) -> None:
        if not self.sigma > 0:
            raise ValueError(f"sigma: {self.sigma} must be > 0")
        self.means = _as_points(self.means, "means")
        if self.means.shape[0] < 1:
            raise ValueError("means: need at least one mode")
        self.samples = _as_points(self.samples, "samples").detach().float().cpu()
        if self.samples.shape[0] == 0:
            raise ValueError("samples: need at least one sample")

    @property
    def n(self) -> int:
        return self.samples.shape[0]

    @property
    def num_modes(self) -> int:
        return self.means.shape[0]

    @cached_property
    def _assignment(self) -> tuple[Tensor, Tensor]:
        return nearest_modes(self.samples, self.means)

    @cached_property
    def high(self) -> Tensor:
        """(n,) bool: within 3 sigma of the nearest mode (never for NaN samples)."""
        return self._assignment[1] <= HIGH_QUALITY_RADIUS * self.sigma

    @cached_property
    def counts(self) -> Tensor:
        """(K,) float64: high-quality samples assigned to each mode."""
        return torch.bincount(self._assignment[0][self.high], minlength=self.num_modes).double().cpu()

    @property
    def expected_count(self) -> float:
        """High-quality samples a mode holds in expectation when the n samples come from the data."""
        return self.n / self.num_modes * high_quality_probability(self.means.shape[1])


@metric(
    "high_quality_fraction",
    higher_is_better=True,
    kind="mixture",
    protocol=f"{PACGAN}: the share within 3 sigma of it",
    bounds=(0.0, 1.0),
)
def high_quality_fraction(s: MixtureSamples) -> float:
    return float(s.high.sum()) / s.n


@metric(
    "modes_captured",
    higher_is_better=True,
    kind="mixture",
    protocol=f"{PACGAN}: modes with at least one high-quality sample (Stacked MNIST: the 1,000 digit "
    "triples the classifier finds in evaluation.final_num_samples samples, 26,000 in PacGAN)",
    bounds=(0.0, None),
)
def modes_captured(s: MixtureSamples) -> float:
    return float((s.counts > 0).sum())


@metric(
    "reverse_kl",
    higher_is_better=False,
    kind="mixture",
    protocol=f"{PACGAN}: KL(mode histogram of the high-quality samples || uniform), nats",
    bounds=(0.0, None),
)
def reverse_kl(s: MixtureSamples) -> float:
    num_high = float(s.counts.sum())
    if num_high == 0:
        return float("inf")
    q = s.counts / num_high
    q = q[q > 0]  # 0 log 0 = 0
    # KL >= 0; the clamp removes -1e-17 rounding on exactly uniform counts.
    return max(float((q * torch.log(q * s.num_modes)).sum()), 0.0)


@metric(
    "modes_covered",
    higher_is_better=True,
    kind="mixture",
    protocol=f"{PACGAN}: modes holding >= {COVERAGE_SHARE:g} x the high-quality samples they hold "
    "in expectation under the data",
    bounds=(0.0, None),
    headline=True,
)
def modes_covered(s: MixtureSamples) -> float:
    return float((s.counts >= COVERAGE_SHARE * s.expected_count).sum())


@metric(
    "off_mode_mass",
    higher_is_better=False,
    kind="mixture",
    protocol=f"{PACGAN}: the share farther than 3 sigma from it (1 - high_quality_fraction)",
    bounds=(0.0, 1.0),
    headline=True,
)
def off_mode_mass(s: MixtureSamples) -> float:
    return 1.0 - high_quality_fraction(s)


def mode_metrics(samples: Tensor, means: Tensor, sigma: float) -> dict[str, float]:
    """Mode coverage of ``samples`` (n, d) against a mixture with ``means`` (K, d) and std ``sigma``.

    With m(x) = argmin_k ||x - mu_k|| and "high quality" meaning ||x - mu_m(x)|| <= 3 sigma:

    - ``high_quality_fraction``: (# high-quality samples) / n.
    - ``modes_captured``: # modes k with m(x) = k for at least one high-quality x.
    - ``reverse_kl``: KL(q || U_K) = sum_k q_k log(q_k K) in nats, where q_k is the share of the
      high-quality samples assigned to mode k (0 log 0 = 0); 0 means perfectly balanced coverage,
      log K means all on one mode; ``inf`` if there is no high-quality sample.
    - ``num_samples``: n.

    Samples with NaN coordinates are never high quality.
    """
    scored = MixtureSamples(samples, means, sigma)
    return {
        "high_quality_fraction": high_quality_fraction(scored),
        "modes_captured": modes_captured(scored),
        "reverse_kl": reverse_kl(scored),
        "num_samples": float(scored.n),
    }
