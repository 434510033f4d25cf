"""Pictures of generated samples against the true Gaussian-mixture modes (the figures of the
unrolled GAN, VEEGAN and PacGAN papers): a scatter plot in 2-D, a histogram with the density in 1-D."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor


def _limits(centers: Tensor, sigma: float) -> tuple[float, float]:
    """Axis limits from the modes only, so every plot of a run (and of every run) shares its frame."""
    lo, hi = float(centers.min()), float(centers.max())
    margin = max(6.0 * sigma, 0.15 * (hi - lo), 0.5)
    return lo - margin, hi + margin


def _mixture_density(x: Tensor, centers: Tensor, sigma: float) -> Tensor:
    """p(x) = 1/K sum_k N(x; mu_k, sigma^2) in 1-D."""
    z = (x[:, None] - centers[None, :]) / sigma
    return torch.exp(-0.5 * z**2).mean(dim=1) / (sigma * math.sqrt(2.0 * math.pi))


def scatter_plot(samples: Tensor, means: Tensor, sigma: float, path: str | Path, title: str = "") -> Path:
    """Draw ``samples`` (n, d) over the modes ``means`` (K, d), d in {1, 2}, and save to ``path``.

    2-D: samples as small translucent dots, modes as crosses with their 3-sigma ("high quality")
    circles, equal aspect. 1-D: a density histogram of the samples with the mixture density on top.
    The frame depends on the modes only; samples outside it are not shown. The format follows the
    suffix of ``path`` (.png, .pdf, ...); parent directories are created.
    """
    # Figure + Agg canvas, not pyplot: no global figure registry to leak into, no GUI backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    samples = samples.detach().float().cpu()
    means = means.detach().float().cpu()
    if samples.dim() == 1:
        samples = samples.unsqueeze(1)
    if means.dim() == 1:
        means = means.unsqueeze(1)
    dim = means.shape[1]
    if dim not in (1, 2) or samples.dim() != 2 or samples.shape[1] != dim:
        raise ValueError(
            f"scatter_plot: need 1-D or 2-D data with matching dimensions, got samples "
            f"{tuple(samples.shape)} and means {tuple(means.shape)}"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    fig = Figure(figsize=(5, 5) if dim == 2 else (6, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lo, hi = _limits(means, sigma)
    if dim == 2:
        ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.3, color="tab:blue", linewidths=0)
        ax.scatter(means[:, 0], means[:, 1], s=30, marker="x", color="tab:red", linewidths=1)
        for mu in means.tolist():
            ax.add_patch(Circle(mu, 3.0 * sigma, fill=False, color="tab:red", linewidth=0.5, alpha=0.7))
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
    else:
        centers = means[:, 0]
        x = samples[:, 0]
        bins = torch.linspace(lo, hi, 121)
        # Weights 1 / (n * width) instead of density=True: samples outside the frame still count in
        # n, so the bars stay comparable with the true density rather than being renormalized.
        width = float(bins[1] - bins[0])
        weights = torch.full_like(x, 1.0 / (max(x.numel(), 1) * width))
        ax.hist(x.numpy(), bins=bins.numpy(), weights=weights.numpy(), color="tab:blue", alpha=0.6)
        grid = torch.linspace(lo, hi, 1000)
        ax.plot(grid, _mixture_density(grid, centers, sigma), color="tab:red", linewidth=1)
        ax.set_xlim(lo, hi)
        ax.set_ylabel("density")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
