"""Gaussian-mixture toy data sampled on the fly: the ring and grid of the mode-collapse literature
(unrolled GAN, Metz et al., 2017; VEEGAN, Srivastava et al., 2017; PacGAN, Lin et al., 2018) and a
1-D mixture.

Every mixture has equal weights 1/K and isotropic std sigma:
p(x) = 1/K sum_k N(x; mu_k, sigma^2 I).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ganbench.data.registry import DATASETS


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """An equal-weight isotropic Gaussian mixture with modes ``means`` (K, d) and std ``sigma``.

    It exposes what the toy metrics need (``means``, ``sigma``, ``sample``); the metrics are in
    :mod:`ganbench.evaluation.modes` and :mod:`ganbench.evaluation.mixture`.
    """

    means: Tensor
    sigma: float
    name: str

    def __post_init__(self) -> None:
        if self.means.dim() != 2 or self.means.shape[0] < 1:
            shape = tuple(self.means.shape)
            raise ValueError(f"{self.name}: means must have shape (K, d) with K >= 1, got {shape}")
        if not self.sigma > 0:
            raise ValueError(f"data.dataset_options.sigma: {self.sigma} must be > 0")

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.means.shape[1],)

    @property
    def num_modes(self) -> int:
        return self.means.shape[0]

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """n float32 samples (n, d) on the generator's device: mode k ~ U{0..K-1}, x = mu_k + sigma eps.

        Draws the modes first and then the noise, both from ``generator``: same state, same samples.
        """
        device = generator.device
        k = torch.randint(self.num_modes, (n,), generator=generator, device=device)
        noise = torch.randn((n, *self.sample_shape), generator=generator, device=device)
        return self.means.to(device=device, dtype=torch.float32)[k] + self.sigma * noise

    def log_density(self, x: Tensor) -> Tensor:
        """log p(x) for x (n, d) (or (n,) when d = 1), shape (n,).

        log p(x) = logsumexp_k(-||x - mu_k||^2 / (2 sigma^2)) - log K - d/2 log(2 pi sigma^2).
        """
        if x.dim() == 1:
            x = x.unsqueeze(1)
        means = self.means.to(device=x.device, dtype=x.dtype)
        d = means.shape[1]
        sq = torch.cdist(x, means) ** 2
        return (
            torch.logsumexp(-sq / (2.0 * self.sigma**2), dim=1)
            - math.log(self.num_modes)
            - 0.5 * d * math.log(2.0 * math.pi * self.sigma**2)
        )

    def bounding_box(self) -> tuple[Tensor, Tensor]:
        """The smallest axis-aligned box holding every mean: (low, high), each shape (d,)."""
        return self.means.min(dim=0).values, self.means.max(dim=0).values


MIXTURES: list[str] = []  # the registered names that build a GaussianMixture (the toy datasets)


def register_mixture(name: str) -> Callable[[Callable[..., GaussianMixture]], Callable[..., GaussianMixture]]:
    """Register a mixture factory under ``name`` in DATASETS and list it in ``MIXTURES``."""
    MIXTURES.append(name)
    return DATASETS.register(name)


def _check_positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"data.dataset_options.{name}: {value} must be > 0")


def _check_at_least_one(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"data.dataset_options.{name}: {value} must be an integer >= 1")


@register_mixture("ring")
def ring(num_modes: int = 8, radius: float = 1.0, sigma: float = 0.01) -> GaussianMixture:
    """``num_modes`` Gaussians evenly spaced on a circle: mu_k = r (cos 2 pi k / K, sin 2 pi k / K).

    The 2D-ring of PacGAN (Lin et al., 2018, section 5.1): K = 8, radius 1, sigma 0.01 (the unrolled
    GAN and VEEGAN use the same ring with radius 2 and sigma 0.02).
    """
    _check_at_least_one("num_modes", num_modes)
    _check_positive("radius", radius)
    _check_positive("sigma", sigma)
    # k / K for k = 0..K-1: linspace(0, 2 pi, K) would put mode K-1 back on mode 0.
    angles = 2.0 * math.pi * torch.arange(num_modes, dtype=torch.float64) / num_modes
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return GaussianMixture(means.float(), float(sigma), "ring")


@register_mixture("grid")
def grid(side: int = 5, spacing: float = 2.0, sigma: float = 0.05) -> GaussianMixture:
    """``side`` x ``side`` Gaussians on a square grid centered at 0, ``spacing`` apart.

    The 2D-grid of PacGAN (Lin et al., 2018, section 5.1) and VEEGAN: 25 modes at {-4, -2, 0, 2, 4}^2
    with sigma 0.05.
    """
    _check_at_least_one("side", side)
    _check_positive("spacing", spacing)
    _check_positive("sigma", sigma)
    coords = spacing * (torch.arange(side, dtype=torch.float64) - (side - 1) / 2.0)
    xs, ys = torch.meshgrid(coords, coords, indexing="ij")
    means = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    return GaussianMixture(means.float(), float(sigma), "grid")


@register_mixture("gaussian1d")
def gaussian1d(means: tuple[float, ...] = (-2.0, 2.0), sigma: float = 0.5) -> GaussianMixture:
    """A 1-D mixture of Gaussians at ``means`` with std ``sigma``.

    The 1-D analogue of the ring and grid, the setting in which GAN dynamics are usually drawn
    (Goodfellow et al., 2014, fig. 1). Defaults: two modes 8 sigma apart, so their 3-sigma "high
    quality" intervals [-3.5, -0.5] and [0.5, 3.5] are disjoint and the density between them is ~0
    (p(0) / p(2) = 2 e^-8 ~ 7e-4): dropping a mode is unambiguous, and a generator must put a gap in
    its output to cover both. sigma = 0.5 is wide enough that a small MLP fits each mode's shape.
    """
    means = tuple(means)
    if not means:
        raise ValueError("data.dataset_options.means: () must name at least one mode")
    if not all(math.isfinite(float(m)) for m in means):
        raise ValueError(f"data.dataset_options.means: {means} must be finite")
    _check_positive("sigma", sigma)
    centers = torch.tensor([float(m) for m in means], dtype=torch.float32).unsqueeze(1)
    return GaussianMixture(centers, float(sigma), "gaussian1d")
