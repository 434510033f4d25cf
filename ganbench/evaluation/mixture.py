"""Scoring samples of a toy Gaussian mixture with every registered ``mixture`` metric."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

from torch import Tensor

from ganbench.data.toy import GaussianMixture
from ganbench.evaluation.metrics import metrics_of
from ganbench.evaluation.modes import MixtureSamples
from ganbench.evaluation.scatter import scatter_plot


def score_mixture(
    mixture: GaussianMixture, samples: Tensor, keys: Collection[str] | None = None
) -> dict[str, float]:
    """Every registered mixture metric of ``samples`` (n, d) (only ``keys`` if given), plus ``num_samples``.

    The same code scores a generator, a ``score --samples`` file and the data/noise reference rows.
    """
    scored = MixtureSamples(samples, mixture.means, mixture.sigma, data=mixture.sample)
    chosen = [m for m in metrics_of("mixture") if m.compute is not None and (keys is None or m.key in keys)]
    metrics = {m.key: m.compute(scored) for m in chosen}
    metrics["num_samples"] = float(scored.n)
    return metrics


def evaluate_mixture(
    mixture: GaussianMixture,
    module: Any,
    num_samples: int,
    seed: int,
    plot_path: Path | None,
    title: str,
    **settings: Any,
) -> dict[str, Any]:
    """Score ``num_samples`` samples of the module's generator (noise seed ``seed``); plot them."""
    samples = module.generate(num_samples, seed)
    metrics: dict[str, Any] = {**score_mixture(mixture, samples), "num_samples": num_samples}
    if plot_path is not None:
        scatter_plot(samples.cpu(), mixture.means, mixture.sigma, plot_path, title=title)
    return metrics
