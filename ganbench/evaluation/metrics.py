"""The metric registry: every metric ganbench reports, with its key, direction and sample protocol.

A metric is declared once, next to the code that computes it (``modes.py``, ``wasserstein.py``,
``fidelity.py``, ``class_modes.py``), and tables, plots, best marks and checkpoint monitoring read its
direction from here (stylegan3's ``metric_main`` keeps the protocol inside the metric the same way).
Metrics computed one per function (the toy mixture's) carry that function in ``compute``; metrics that
come out of one shared pass (torch-fidelity's FID/KID/IS/P&R, the classifier's) are declared without.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ganbench.registry import Registry

# What a metric is computed on: its evaluator picks the registered metrics of its kind.
KINDS = ("mixture", "images", "classifier", "stacked_mnist")


@dataclass(frozen=True)
class Metric:
    """One reported number.

    Args:
        key: its name in metrics.json, tables and plots.
        higher_is_better: its direction (bold/best marks, ``--checkpoint.mode``, plot arrows).
        kind: what it is computed on (one of ``KINDS``).
        protocol: how many samples, against what reference; one sentence for footers and the README.
        bounds: the range of values it can take (None: unbounded that side), e.g. (0, 1).
        headline: one of the metrics a toy table shows by default (see README, "The toy benchmark").
        compute: for per-metric evaluators, the function computing it from the evaluator's context.
    """

    key: str
    higher_is_better: bool
    kind: str
    protocol: str
    bounds: tuple[float | None, float | None] = (None, None)
    headline: bool = False
    compute: Callable[[Any], float] | None = None

    @property
    def direction(self) -> str:
        """ "higher" or "lower" (is better)."""
        return "higher" if self.higher_is_better else "lower"

    @property
    def mode(self) -> str:
        """The Lightning ModelCheckpoint ``mode`` that keeps the best value: "max" or "min"."""
        return "max" if self.higher_is_better else "min"

    @property
    def worst(self) -> float:
        """The worst possible value, what a non-finite (null) value counts as in tables."""
        return -float("inf") if self.higher_is_better else float("inf")


METRICS = Registry("metric")
_ORDER: list[str] = []  # registration order: the order of columns and of metrics.json keys


def declare(metric: Metric) -> Metric:
    """Register ``metric`` under its key (a second metric with the same key is an error)."""
    if metric.kind not in KINDS:
        raise ValueError(f"metric {metric.key!r}: kind {metric.kind!r}; valid choices: {', '.join(KINDS)}")
    METRICS.register(metric.key)(metric)  # type: ignore[arg-type]
    _ORDER.append(metric.key)
    return metric


def metric(
    key: str, *, higher_is_better: bool, kind: str, protocol: str, **options: Any
) -> Callable[[Callable[[Any], float]], Callable[[Any], float]]:
    """Decorator: register a function of an evaluator's context as the metric ``key``."""

    def register(compute: Callable[[Any], float]) -> Callable[[Any], float]:
        declare(Metric(key, higher_is_better, kind, protocol, compute=compute, **options))
        return compute

    return register


def get_metric(key: str, field: str = "metric") -> Metric:
    """The metric ``key``; an unknown key is a one-line error naming ``field`` and the valid keys."""
    _load()
    return METRICS.get(key, field=field)  # type: ignore[return-value]


def find_metric(key: str) -> Metric | None:
    """The metric ``key``, or None for a key no metric declares (e.g. ``num_samples``, a train scalar)."""
    _load()
    return METRICS.get(key) if key in METRICS else None  # type: ignore[return-value]


def metrics_of(kind: str) -> list[Metric]:
    """The registered metrics computed on ``kind``, in registration order."""
    _load()
    return [m for name in _ORDER if (m := METRICS.get(name)).kind == kind]  # type: ignore[misc]


def headline_metrics(kind: str = "mixture") -> list[str]:
    """The keys of the headline metrics of ``kind``, in registration order."""
    return [m.key for m in metrics_of(kind) if m.headline]


def higher_is_better(key: str, default: bool = True) -> bool:
    """The direction of ``key`` from the registry; ``default`` for keys no metric declares."""
    found = find_metric(key)
    return default if found is None else found.higher_is_better


def checkpoint_mode(monitor: str) -> str | None:
    """``max``/``min`` for ``--checkpoint.monitor=eval/KEY`` (or ``final/KEY``...); None if unknown."""
    found = find_metric(monitor.rsplit("/", 1)[-1])
    return None if found is None else found.mode


def _load() -> None:
    """Import the modules that declare metrics (each registers its own on import)."""
    from ganbench.evaluation import class_modes, fidelity, modes, wasserstein  # noqa: F401
