"""Pictures of generated samples against the true Gaussian-mixture modes (the figures of the
unrolled GAN, VEEGAN and PacGAN papers): a scatter plot in 2-D, a histogram with the density in 1-D."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

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


COVERED, MISSED, SAMPLES = "#009E73", "#D55E00", "#0072B2"  # Okabe-Ito: colour-blind safe
PRINT_DPI = 300


def covered_modes(samples: Tensor, means: Tensor, sigma: float) -> Tensor:
    """(K,) bool: the modes ``modes_covered`` counts (holding >= 0.1 x their expected high-quality share)."""
    from ganbench.evaluation.modes import COVERAGE_SHARE, MixtureSamples

    scored = MixtureSamples(samples, means, sigma)
    return scored.counts >= COVERAGE_SHARE * scored.expected_count


def draw_mixture(
    ax: Any, samples: Tensor, means: Tensor, sigma: float, max_points: int | None = None
) -> Tensor:
    """Draw ``samples`` over the modes on ``ax``: covered modes as green circles, missed ones as
    vermillion crosses (both with their 3-sigma disc in 2-D). Returns the (K,) covered mask.

    ``max_points`` thins the drawn dots (every sample still counts for the marks), keeping vector
    figures small.
    """
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
    from matplotlib.patches import Circle

    covered = covered_modes(samples, means, sigma)
    shown = samples[:max_points] if max_points else samples
    lo, hi = _limits(means, sigma)
    if dim == 2:
        ax.scatter(shown[:, 0], shown[:, 1], s=1.5, alpha=0.35, color=SAMPLES, linewidths=0)
        for mu, hit in zip(means.tolist(), covered.tolist(), strict=True):
            color = COVERED if hit else MISSED
            ax.add_patch(Circle(mu, 3.0 * sigma, fill=False, color=color, linewidth=0.6))
        for mask, color, marker, name in (
            (covered, COVERED, "o", "covered"),
            (~covered, MISSED, "x", "missed"),
        ):
            if mask.any():
                style = {"facecolors": "none", "edgecolors": color} if marker == "o" else {"color": color}
                label = f"{name} ({int(mask.sum())})"
                ax.scatter(
                    means[mask, 0], means[mask, 1], s=14, marker=marker, linewidths=0.8, label=label, **style
                )
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
    else:
        centers = means[:, 0]
        x = shown[:, 0]
        bins = torch.linspace(lo, hi, 121)
        # Weights 1 / (n * width) instead of density=True: samples outside the frame still count in
        # n, so the bars stay comparable with the true density rather than being renormalized.
        width = float(bins[1] - bins[0])
        weights = torch.full_like(x, 1.0 / (max(x.numel(), 1) * width))
        ax.hist(x.numpy(), bins=bins.numpy(), weights=weights.numpy(), color=SAMPLES, alpha=0.6)
        grid = torch.linspace(lo, hi, 1000)
        ax.plot(
            grid, _mixture_density(grid, centers, sigma), color="black", linewidth=0.8, label="data density"
        )
        for mask, color, marker, name in (
            (covered, COVERED, "o", "covered"),
            (~covered, MISSED, "x", "missed"),
        ):
            if mask.any():
                ax.scatter(centers[mask], torch.zeros(int(mask.sum())), marker=marker, color=color, s=18,
                           label=f"{name} ({int(mask.sum())})", zorder=3, clip_on=False)  # fmt: skip
        ax.set_xlim(lo, hi)
        ax.set_ylabel("density")
    return covered


def scatter_plot(samples: Tensor, means: Tensor, sigma: float, path: str | Path, title: str = "") -> Path:
    """Draw ``samples`` (n, d) over the modes ``means`` (K, d), d in {1, 2}, and save to ``path``.

    2-D: samples as small translucent dots, modes with their 3-sigma ("high quality") circles, marked
    covered (green circle) or missed (vermillion cross) as ``modes_covered`` counts them, equal aspect.
    1-D: a density histogram of the samples with the mixture density on top and the modes marked. The
    title ends with the modes covered (k/K). The frame depends on the modes only; samples outside it
    are not shown. The format follows the suffix of ``path`` (.png at 300 dpi, .pdf, ...); parent
    directories are created.
    """
    # Figure + Agg canvas, not pyplot: no global figure registry to leak into, no GUI backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    dim = means.shape[1] if means.dim() == 2 else 1
    fig = Figure(figsize=(3.5, 3.7) if dim == 2 else (4.5, 3.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    covered = draw_mixture(ax, samples, means, sigma)
    score = f"modes covered {int(covered.sum())}/{covered.numel()}"
    ax.set_title(f"{title}\n{score}" if title else score, fontsize=8)
    ax.legend(fontsize=6, loc="upper right", framealpha=0.8)
    ax.tick_params(labelsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=PRINT_DPI)
    return path
