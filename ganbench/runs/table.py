"""``python -m ganbench table``: benchmark tables from run directories.

Runs (``metrics.json`` files) are grouped by a config key (``--group model.objective``), optionally in
blocks (``--by data.dataset``). Each row reports, over the *completed* runs of the group (one per seed):
the mean ± the std (ddof=1) or the standard error (``--spread``) and a 95% Student-t confidence interval
of each final metric; failures (diverged, crashed, interrupted) counted next to them, never dropped; a
significance mark against a baseline group (Welch's t-test or Mann-Whitney U, scipy.stats) corrected for
the number of comparisons in the table (Holm, or Benjamini-Hochberg); the normalized area under each
metric's metric-vs-iteration curve; and, per ``--threshold``, the iterations needed to first reach it.
"Best" marks every group not significantly worse than the group with the best mean. Directions (higher
or lower is better) come from the metric registry (:mod:`ganbench.evaluation.metrics`).

``--reference`` adds the toy benchmark's reference rows, ``data`` and ``noise``
(:mod:`ganbench.evaluation.reference`), scored from the runs' recorded dataset config.

A metric stored as ``null`` is a non-finite value (``json_safe`` writes inf as null; e.g. ``reverse_kl``
is +inf when no sample is high quality). It is taken as the worst value in the metric's direction
(+inf when lower is better, -inf otherwise), so a mean with one is infinite, and every cell says how
many there were.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import operator
import re
import shlex
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import integrate, stats

from ganbench.argparser import OneLineParser
from ganbench.evaluation.metrics import headline_metrics, higher_is_better
from ganbench.runs.atomic import write_atomic
from ganbench.runs.record import (
    COMPLETED,
    CRASHED,
    DIVERGED,
    INTERRUPTED,
    RECORD_NAME,
    RecordError,
    read_record,
)

COUNTED = COMPLETED
FAILED = (DIVERGED, CRASHED, INTERRUPTED)  # a result, but not one to average
# Without --metrics: the registry's headline metrics the runs have, else PacGAN's three (older runs).
PACGAN_METRICS = ("high_quality_fraction", "modes_captured", "reverse_kl")
DEFAULT_METRICS = PACGAN_METRICS
CONFIDENCE = 0.95
SPREADS = {
    "std": "the standard deviation over runs (ddof=1)",
    "se": "the standard error of the mean (std / sqrt(n))",
}
MISSING = object()  # a key absent from a record (distinct from a stored null)
# Config keys expected to differ within a row (the seed) or that cannot change a result (bookkeeping).
PER_RUN_KEYS = (
    "seed_everything",
    "ckpt_path",
    "trainer.default_root_dir",
    "trainer.logger",
    "trainer.enable_",
    "checkpoint.",
    "evaluation.plot",
)


class TableError(ValueError):
    """Bad input: the message is one line naming the field and the valid choices."""


# ---------------------------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Run:
    """One run directory's ``metrics.json``."""

    path: Path
    record: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.record.get("status"))

    @property
    def history(self) -> list[dict[str, Any]]:
        return list(self.record.get("history") or [])

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.record.get("metrics") or {})


def find_runs(paths: Iterable[str | Path]) -> list[Run]:
    """Every ``metrics.json`` in ``paths`` (run directories or folders searched recursively)."""
    files: dict[Path, None] = {}  # ordered set: a run passed twice (dir and parent) counts once
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise TableError(f"RUN_DIRS: no such file or directory: {path}")
        found = [path] if path.is_file() else sorted(path.rglob(RECORD_NAME))
        for file in found:
            files[file.resolve()] = None
    if not files:
        raise TableError(f"RUN_DIRS: no {RECORD_NAME} under {', '.join(map(str, paths))}")
    runs = []
    for file in files:
        try:
            record = read_record(file)
        except RecordError as error:
            raise TableError(f"RUN_DIRS: {error}") from None
        runs.append(Run(file.parent, record))
    return runs


def lookup(record: dict[str, Any], key: str) -> Any:
    """``key`` as a dotted path into the record's ``config``, else into the record itself."""
    for root in (record.get("config") or {}, record):
        value: Any = root
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                value = MISSING
                break
            value = value[part]
        if value is not MISSING:
            return value
    return MISSING


def config_leaves(record: dict[str, Any]) -> dict[str, Any]:
    """The record's config flattened to dotted keys."""
    leaves: dict[str, Any] = {}

    def walk(tree: dict[str, Any], prefix: str) -> None:
        for name, value in tree.items():
            if isinstance(value, dict) and value:
                walk(value, f"{prefix}{name}.")
            else:
                leaves[f"{prefix}{name}"] = value

    walk(record.get("config") or {}, "")
    return leaves


def dotted_keys(record: dict[str, Any]) -> list[str]:
    """The keys ``lookup`` accepts for ``record`` (leaves of config, then the record's scalars)."""
    return [*config_leaves(record), *(k for k, v in record.items() if not isinstance(v, (dict, list)))]


def check_key(runs: Sequence[Run], key: str, option: str) -> None:
    """A key present in no run is a one-line error with the closest valid keys."""
    if any(lookup(run.record, key) is not MISSING for run in runs):
        return
    import difflib

    valid = sorted({k for run in runs for k in dotted_keys(run.record)})
    close = difflib.get_close_matches(key, valid, n=5, cutoff=0.5) or [
        k for k in ("model.objective", "data.dataset", "seed_everything", "objective", "seed") if k in valid
    ]
    raise TableError(
        f"{option}: key {key!r} is in no run; valid choices are dotted config keys, e.g. {', '.join(close)}"
    )


def label(value: Any) -> str:
    """A group value as text: a missing key and a stored null are told apart."""
    if value is MISSING:
        return "(missing)"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sort_key(text: str) -> tuple[int, float, str]:
    # Numeric labels (seeds, learning rates) in numeric order, the rest alphabetically.
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


# ------------------------------------------------------------------------------------------ statistics


@dataclass
class Summary:
    """One cell: a sample of per-run values and its statistics."""

    values: list[float]
    n_null: int = 0
    mean: float = math.nan
    std: float = math.nan
    se: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    p_value: float | None = None
    p_adjusted: float | None = None  # corrected for the comparisons of the table (--correction)
    best: bool = False
    reached: int | None = None  # iterations-to-threshold cells: how many runs reached it
    total: int | None = None


def summarize(values: Sequence[float | None], worst: float) -> Summary:
    """Mean, sample std and the 95% t interval mean ± t_{0.975, n-1} std / sqrt(n); nulls -> ``worst``."""
    n_null = sum(v is None for v in values)
    xs = np.array([worst if v is None else float(v) for v in values], dtype=float)
    summary = Summary(values=xs.tolist(), n_null=n_null)
    if xs.size == 0:
        return summary
    summary.mean = float(xs.mean())
    if xs.size > 1 and np.isfinite(xs).all():
        summary.std = float(xs.std(ddof=1))
        summary.se = sem = summary.std / math.sqrt(xs.size)
        if sem > 0:
            low, high = stats.t.interval(CONFIDENCE, xs.size - 1, loc=summary.mean, scale=sem)
            summary.ci_low, summary.ci_high = float(low), float(high)
        else:  # every seed gave the same value: the interval is that value
            summary.ci_low = summary.ci_high = summary.mean
    return summary


def _welch(a: Sequence[float], b: Sequence[float]) -> float:
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def _mann_whitney(a: Sequence[float], b: Sequence[float]) -> float:
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


@dataclass(frozen=True)
class SignificanceTest:
    function: Callable[[Sequence[float], Sequence[float]], float]
    description: str
    min_n: int  # below this many values per group the test is undefined: no p-value


TESTS: dict[str, SignificanceTest] = {
    "welch": SignificanceTest(_welch, "Welch's t-test (two-sided, unequal variances)", 2),
    "mannwhitney": SignificanceTest(_mann_whitney, "Mann-Whitney U test (two-sided)", 1),
}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (Holm, 1979): sorted ascending, p_(i) x (m - i + 1), made
    monotone and capped at 1. Rejecting where the adjusted p < alpha controls the family-wise error."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate), scipy.stats.false_discovery_control."""
    return [float(p) for p in stats.false_discovery_control(np.asarray(p_values, dtype=float), method="bh")]


@dataclass(frozen=True)
class Correction:
    adjust: Callable[[Sequence[float]], list[float]]
    description: str


CORRECTIONS: dict[str, Correction] = {
    "holm": Correction(holm, "Holm's step-down correction (family-wise error)"),
    "bh": Correction(benjamini_hochberg, "Benjamini-Hochberg correction (false discovery rate)"),
    "none": Correction(lambda ps: [float(p) for p in ps], "no correction for multiple comparisons"),
}


def adjust(p_values: Sequence[float], correction: str) -> list[float]:
    """Adjusted p-values; undefined (NaN) ones stay NaN and are not counted in the family."""
    defined = [i for i, p in enumerate(p_values) if not math.isnan(p)]
    out = [math.nan] * len(p_values)
    if defined:
        for i, q in zip(defined, CORRECTIONS[correction].adjust([p_values[i] for i in defined]), strict=True):
            out[i] = q
    return out


def p_value(test: SignificanceTest, a: Sequence[float], b: Sequence[float]) -> float:
    """The test's p-value; NaN where it is undefined (too few runs, no variance, infinite values)."""
    if min(len(a), len(b)) < test.min_n:
        return math.nan
    with warnings.catch_warnings():  # scipy warns on degenerate samples and returns NaN: that is the answer
        warnings.simplefilter("ignore")
        return test.function(a, b)


# ----------------------------------------------------------------------------------------- convergence

OPERATORS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    ">=": (operator.ge, "ge"),
    "<=": (operator.le, "le"),
    ">": (operator.gt, "gt"),
    "<": (operator.lt, "lt"),
}


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        match = re.fullmatch(r"\s*([A-Za-z_][\w./-]*)\s*(>=|<=|>|<)\s*(\S+)\s*", text)
        try:
            value = float(match.group(3)) if match else math.nan
        except ValueError:
            value = math.nan
        if not match or math.isnan(value):
            raise TableError(
                f"--threshold: expected METRIC>=VALUE (or <=, >, <), e.g. modes_captured>=8, got {text!r}"
            )
        return cls(match.group(1), match.group(2), value)

    @property
    def text(self) -> str:
        return f"{self.metric}{self.op}{label(self.value)}"

    def reached(self, value: float) -> bool:
        return OPERATORS[self.op][0](value, self.value)


def history_series(history: Sequence[dict[str, Any]], metric: str, worst: float) -> tuple[np.ndarray, ...]:
    """(iterations, values) of ``metric`` in ``history``, sorted by iteration; nulls -> ``worst``."""
    points = sorted(
        (float(h["iteration"]), worst if h[metric] is None else float(h[metric]))
        for h in history
        if metric in h and "iteration" in h
    )
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def iterations_to_reach(
    history: Sequence[dict[str, Any]], threshold: Threshold, worst: float
) -> float | None:
    """The first evaluated iteration at which the metric meets the threshold; None if it never does."""
    iterations, values = history_series(history, threshold.metric, worst)
    for iteration, value in zip(iterations, values, strict=True):
        if threshold.reached(value):
            return float(iteration)
    return None


def normalized_auc(history: Sequence[dict[str, Any]], metric: str, worst: float) -> float | None:
    """Trapezoidal area under metric-vs-iteration divided by the iteration span (a time-average).

    One evaluation: its value. None without any.
    """
    iterations, values = history_series(history, metric, worst)
    if iterations.size == 0:
        return None
    span = iterations[-1] - iterations[0]
    if span == 0:
        return float(values[-1])
    with np.errstate(invalid="ignore"):  # inf - inf inside trapezoid: the area is inf (or nan) honestly
        return float(integrate.trapezoid(values, iterations) / span)


# ------------------------------------------------------------------------------------------------ table


@dataclass(frozen=True)
class Column:
    """A statistic column: ``kind`` is "final" (last evaluation), "auc" or "reach" (a threshold)."""

    kind: str
    metric: str
    higher_is_better: bool
    threshold: Threshold | None = None

    @property
    def key(self) -> str:  # CSV prefix
        if self.threshold is not None:
            return f"iters_{self.metric}_{OPERATORS[self.threshold.op][1]}_{label(self.threshold.value)}"
        return {"final": self.metric, "auc": f"auc_{self.metric}"}[self.kind]

    @property
    def title(self) -> str:
        if self.threshold is not None:
            return f"iters to {self.threshold.text}"
        return {"final": self.metric, "auc": f"AUC {self.metric}"}[self.kind]

    @property
    def worst(self) -> float:
        return -math.inf if self.higher_is_better else math.inf


@dataclass
class Row:
    block: tuple[str, ...]
    group: str
    runs: list[Run] = field(default_factory=list)  # the completed runs: the statistics' sample
    failures: Counter[str] = field(default_factory=Counter)
    cells: dict[str, Summary] = field(default_factory=dict)
    reference: int = 0  # reference rows (data, noise): the number of draws; 0 for a group of runs

    @property
    def n(self) -> int:
        return self.reference or len(self.runs)


@dataclass
class Table:
    group_key: str
    by_keys: list[str]
    columns: list[Column]
    rows: list[Row]
    baseline: str | None
    test: str
    alpha: float
    runs: list[Run]
    skipped: list[Run]
    lower_is_better: list[str]
    command: str = ""
    spread: str = "std"
    correction: str = "holm"
    comparisons: int = 0  # size of the family the significance marks are corrected over
    reference_note: str = ""
    extra_notes: list[str] = field(default_factory=list)
    # LaTeX layout only (the statistics are the same): what a cell shows, whether AUC columns appear.
    latex_spread: bool = True
    latex_ci: bool = False
    latex_auc: bool = False

    @property
    def notes(self) -> list[str]:
        """What a reader must know beyond the cells: skipped runs, repeated seeds, mixed settings."""
        notes = list(self.extra_notes)
        if self.skipped:
            where = Counter(f"{r.status}: {_row_label(self, r)}" for r in self.skipped)
            notes.append(
                f"{len(self.skipped)} run(s) not counted (still running or unknown status): "
                + ", ".join(f"{k} ({v})" for k, v in sorted(where.items()))
            )
        for row in self.rows:
            name = ", ".join([*row.block, row.group])
            leaves = [config_leaves(run.record) for run in row.runs]
            differ = sorted(
                key
                for key in set().union(*leaves)
                if not key.startswith(PER_RUN_KEYS)
                and len({json.dumps(leaf.get(key), default=str) for leaf in leaves}) > 1
            )
            if differ:  # a row should differ only by seed: say what else was averaged over
                more = f" and {len(differ) - 5} more" if len(differ) > 5 else ""
                notes.append(f"{name}: its runs also differ in {', '.join(differ[:5])}{more}")
        return notes


def _row_label(table: Table, run: Run) -> str:
    return ", ".join(label(lookup(run.record, k)) for k in [*table.by_keys, table.group_key])


def default_metrics(runs: Sequence[Run]) -> list[str]:
    """The registry's headline metrics the runs report, else PacGAN's three (runs from before them)."""
    available = {m for run in runs for m in run.metrics}
    headline = [m for m in headline_metrics() if m in available]
    return headline or list(PACGAN_METRICS)


def at_iteration(runs: Sequence[Run], iteration: int) -> tuple[list[Run], str]:
    """The runs as they stood at ``iteration``: each one's evaluation there becomes its final metrics.

    For long benchmarks read before they finish (or budget curves): a run that reached the iteration
    counts whatever its status now (running, interrupted, completed later); one that diverged by
    then counts as diverged; one not there yet is left out (and named in the notes).
    """
    if iteration < 1:
        raise TableError(f"--at_iteration: must be >= 1, got {iteration}")
    cut = []
    for run in runs:
        entry = next((h for h in run.history if h.get("iteration") == iteration), None)
        record = dict(run.record)
        diverged_at = record.get("diverged_at")
        if entry is not None:
            metrics = {k: v for k, v in entry.items() if k != "iteration"}
            record.update(status=COUNTED, metrics=metrics, iterations=iteration)
        elif run.status == DIVERGED and diverged_at is not None and diverged_at <= iteration:
            pass  # a failure by then, as in the final table
        else:
            record["status"] = f"short of {iteration}"
        record["history"] = [h for h in run.history if h.get("iteration", 0) <= iteration]
        cut.append(Run(run.path, record))
    reached = sum(r.status == COUNTED for r in cut)
    note = (
        f"Metrics at iteration {iteration} (each run's evaluation there, --at_iteration): "
        f"{reached} of {len(runs)} runs reached it"
    )
    return cut, note


def build_table(
    runs: Sequence[Run],
    group: str = "model.objective",
    by: Sequence[str] = (),
    metrics: Sequence[str] | None = None,
    lower_is_better: Sequence[str] | None = None,
    thresholds: Sequence[Threshold] = (),
    baseline: str | None = None,
    test: str = "welch",
    alpha: float = 0.05,
    auc: bool = True,
    spread: str = "std",
    correction: str = "holm",
    reference: int = 0,
) -> Table:
    """Group the runs and compute every cell; raises TableError on bad input.

    ``metrics`` None: :func:`default_metrics`. ``lower_is_better`` None: each metric's registered
    direction (unregistered keys: higher is better); a list replaces the registry. ``reference`` > 0
    adds the data and noise rows, each over that many draws.
    """
    if test not in TESTS:
        raise TableError(f"--test: unknown test {test!r}; valid choices: {', '.join(TESTS)}")
    if not 0 < alpha < 1:
        raise TableError(f"--alpha: must be in (0, 1), got {alpha}")
    if spread not in SPREADS:
        raise TableError(f"--spread: unknown spread {spread!r}; valid choices: {', '.join(SPREADS)}")
    if correction not in CORRECTIONS:
        raise TableError(
            f"--correction: unknown correction {correction!r}; valid choices: {', '.join(CORRECTIONS)}"
        )
    for key, option in [(group, "--group"), *((k, "--by") for k in by)]:
        check_key(runs, key, option)
    metrics = default_metrics(runs) if metrics is None else list(metrics)
    available = {m for run in runs for part in (run.metrics, *run.history) for m in part}
    valid = sorted(available - {"iteration", "num_samples"})
    for option, names in (("--metrics", metrics), ("--threshold", [t.metric for t in thresholds])):
        for metric in names:
            if metric not in valid:
                raise TableError(f"{option}: unknown metric {metric!r}; valid choices: {', '.join(valid)}")

    def higher(metric: str) -> bool:
        if lower_is_better is not None:
            return metric not in lower_is_better
        return higher_is_better(metric)

    columns = [Column("final", m, higher(m)) for m in metrics]
    columns += [Column("auc", m, higher(m)) for m in metrics] if auc else []
    columns += [Column("reach", t.metric, higher(t.metric), t) for t in thresholds]

    rows: dict[tuple[tuple[str, ...], str], Row] = {}
    skipped = []
    for run in runs:
        block = tuple(label(lookup(run.record, k)) for k in by)
        key = (block, label(lookup(run.record, group)))
        if run.status not in (COUNTED, *FAILED):
            skipped.append(run)
            continue
        row = rows.setdefault(key, Row(*key))
        if run.status == COUNTED:
            row.runs.append(run)
        else:
            row.failures[run.status] += 1
    ordered = sorted(rows.values(), key=lambda r: ([sort_key(b) for b in r.block], sort_key(r.group)))

    groups = {row.group for row in ordered}
    if baseline is not None and baseline not in groups:
        valid = ", ".join(sorted(groups, key=sort_key))
        raise TableError(f"--baseline: no group {group}={baseline!r}; valid choices: {valid}")
    for row in ordered:
        for column in columns:
            row.cells[column.key] = _cell(row.runs, column)
    lower = [c.metric for c in columns if not c.higher_is_better]
    table = Table(group, list(by), columns, ordered, baseline, test, alpha, list(runs), skipped, lower)
    table.spread, table.correction = spread, correction
    if reference:
        from ganbench.runs.reference_rows import add_reference_rows

        add_reference_rows(table, reference)
    _mark_significance(table)
    _mark_best(table)
    return table


def _cell(runs: Sequence[Run], column: Column) -> Summary:
    """The cell of one column over a row's runs; ``total`` keeps the runs that had no value visible."""
    if column.kind == "final":
        summary = summarize(
            [run.metrics[column.metric] for run in runs if column.metric in run.metrics], column.worst
        )
    elif column.kind == "auc":
        values = [normalized_auc(run.history, column.metric, column.worst) for run in runs]
        summary = summarize([v for v in values if v is not None], column.worst)
        # Here a null is one inside a run's history: count the runs that had one.
        summary.n_null = sum(any(h.get(column.metric, 0) is None for h in run.history) for run in runs)
    else:
        assert column.threshold is not None
        reached = [iterations_to_reach(run.history, column.threshold, column.worst) for run in runs]
        summary = summarize([r for r in reached if r is not None], math.inf)
        summary.reached = sum(r is not None for r in reached)
    summary.total = len(runs)
    return summary


def _blocks(table: Table) -> dict[tuple[str, ...], list[Row]]:
    blocks: dict[tuple[str, ...], list[Row]] = {}
    for row in table.rows:
        blocks.setdefault(row.block, []).append(row)
    return blocks


def _compared(rows: Sequence[Row]) -> list[Row]:
    """The rows that take part in tests and best marks: groups of runs, not reference rows."""
    return [row for row in rows if not row.reference]


def _mark_significance(table: Table) -> None:
    """p-values of each final/AUC column against the baseline row of the same block, corrected over
    every comparison of the table (one family: what a reader scans for marks)."""
    if table.baseline is None:
        return
    test = TESTS[table.test]
    cells: list[Summary] = []
    for rows in _blocks(table).values():
        base = next((r for r in rows if r.group == table.baseline and not r.reference), None)
        for row in _compared(rows):
            if base is None or row is base:
                continue
            for column in table.columns:
                if column.kind != "reach":
                    cell, reference = row.cells[column.key], base.cells[column.key]
                    cell.p_value = p_value(test, reference.values, cell.values)
                    cells.append(cell)
    adjusted = adjust([c.p_value for c in cells if c.p_value is not None], table.correction)
    for cell, q in zip(cells, adjusted, strict=True):
        cell.p_adjusted = q
    table.comparisons = sum(not math.isnan(c.p_value) for c in cells if c.p_value is not None)


def _mark_best(table: Table) -> None:
    """Mark, per column and block, the best mean and every group not significantly worse than it.

    "Not significantly worse": the table's test of the group against the best group gives a p-value,
    corrected over the column's comparisons, of at least alpha; where the test is undefined (too few
    runs, no variance) only a mean equal to the best counts. Thresholds: most runs reaching it, then
    fewest iterations (no test). Reference rows take no part.
    """
    test = TESTS[table.test]
    for all_rows in _blocks(table).values():
        rows = _compared(all_rows)
        for column in table.columns:
            scores: dict[int, tuple[float, ...]] = {}
            for i, row in enumerate(rows):
                cell = row.cells[column.key]
                if column.kind == "reach":
                    if cell.reached:
                        scores[i] = (cell.reached, -cell.mean)
                elif math.isfinite(cell.mean):
                    scores[i] = (cell.mean if column.higher_is_better else -cell.mean,)
            if not scores:
                continue
            top = max(scores.values())
            leader = next(i for i, score in scores.items() if score == top)
            others = [i for i in scores if scores[i] != top]
            for i, score in scores.items():
                rows[i].cells[column.key].best = score == top
            if column.kind == "reach" or not others:
                continue
            best_values = rows[leader].cells[column.key].values
            raw = [p_value(test, best_values, rows[i].cells[column.key].values) for i in others]
            for i, q in zip(others, adjust(raw, table.correction), strict=True):
                rows[i].cells[column.key].best = not math.isnan(q) and q >= table.alpha


# ------------------------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class Style:
    """How one output format writes the pieces of a cell."""

    bold: Callable[[str], str]
    escape: Callable[[str], str]
    pm: str
    dagger: str
    inf: str
    none: str


def _latex_escape(text: str) -> str:
    replacements = {
        "\\": r"\textbackslash{}",
        "&": r"\&",
        "%": r"\%",
        "$": r"\$",
        "#": r"\#",
        "_": r"\_",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
        "<": r"\textless{}",
        ">": r"\textgreater{}",
    }
    # Comparisons (threshold columns) as math symbols; everything else character by character.
    parts = re.split(r"(>=|<=)", text)
    relations = {">=": r"$\geq$", "<=": r"$\leq$"}
    return "".join(relations.get(part) or "".join(replacements.get(ch, ch) for ch in part) for part in parts)


STYLES: dict[str, Style] = {
    "md": Style(lambda s: f"**{s}**", lambda s: s.replace("|", r"\|"), " ± ", "†", "inf", "—"),
    "latex": Style(lambda s: rf"\textbf{{{s}}}", _latex_escape, r" $\pm$ ", r"$^\dagger$", r"$\infty$", "--"),
}


def number(x: float, digits: int, style: Style) -> str:
    if math.isnan(x):
        return style.none
    if math.isinf(x):
        return style.inf if x > 0 else "-" + style.inf
    if abs(x) >= 10**digits or x == int(x):  # iterations, counts: no exponent, no spurious decimals
        return f"{x:.0f}"
    return f"{x:.{digits}g}"


def render_cell(cell: Summary, column: Column, table: Table, style: Style, digits: int) -> str:
    if not cell.values and not cell.reached:
        return style.none if column.kind != "reach" else f"{style.none} (0/{cell.total})"
    mean = number(cell.mean, digits, style)
    text = style.bold(mean) if cell.best else mean
    spread = cell.se if table.spread == "se" and column.kind != "reach" else cell.std
    if not math.isnan(spread):
        text += style.pm + number(spread, digits, style)
    if column.kind == "reach":
        return f"{text} ({cell.reached}/{cell.total})"
    if not math.isnan(cell.ci_low):
        text += f" [{number(cell.ci_low, digits, style)}, {number(cell.ci_high, digits, style)}]"
    if cell.p_adjusted is not None and cell.p_adjusted < table.alpha:
        text += style.dagger
    if cell.n_null:
        text += f" ({cell.n_null}/{len(cell.values)} null)"
    if cell.total is not None and len(cell.values) < cell.total:  # runs without this metric
        text += f" ({len(cell.values)}/{cell.total} runs)"
    return text


def _failures(row: Row) -> str:
    if row.reference:
        return "-"
    total = sum(row.failures.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{v} {k}" for k, v in sorted(row.failures.items())) + ")"


def legend(table: Table, style: Style) -> list[str]:
    """The sentences a reader needs to read the cells (the caption in LaTeX)."""
    e = style.escape
    lower = sorted({c.metric for c in table.columns if not c.higher_is_better})
    direction = (
        f"lower is better for {', '.join(lower)}, higher for the rest" if lower else "higher is better"
    )
    test = TESTS[table.test].description
    correction = CORRECTIONS[table.correction].description
    lines = [
        e("Cells: mean")
        + style.pm
        + e(
            f"{table.spread} [95% CI, Student t] over the completed runs of each group "
            f"(n, one per seed); the spread is {SPREADS[table.spread]}; failures (diverged, crashed, "
            "interrupted) are counted, not averaged."
        ),
        style.bold(e("Bold"))
        + e(
            f": the best mean per column ({direction}) and every group not significantly worse than it "
            f"({test}, {correction} over the column's comparisons, alpha {table.alpha:g})."
        ),
    ]
    if table.baseline is not None:
        lines.append(
            style.dagger
            + e(
                f": p < {table.alpha:g} against {table.group_key}={table.baseline}, {test}, after "
                f"{correction} over the {table.comparisons} comparisons of the table."
            )
        )
    if table.reference_note:
        lines.append(e(table.reference_note))
    if any(c.kind == "auc" for c in table.columns):
        lines.append(
            e("AUC: trapezoidal area under the metric-vs-iteration curve divided by the iteration span.")
        )
    if any(c.kind == "reach" for c in table.columns):
        lines.append(
            e(
                "iters to X: first evaluated iteration meeting X, mean over the runs that reach it "
                "(k/n reached); best: most runs reaching it, then fewest iterations."
            )
        )
    lines.append(
        e(
            "null: a non-finite value (e.g. reverse_kl with no high-quality sample), taken as the worst "
            "(+inf if lower is better, -inf otherwise) and counted in the cell."
        )
    )
    return lines


def footer(table: Table) -> str:
    """One line: the command, the runs by status, the seeds and the sample counts found."""
    statuses = Counter(run.status for run in table.runs)
    seeds = sorted({label(run.record.get("seed")) for run in table.runs}, key=sort_key)
    samples = Counter(label(run.metrics.get("num_samples", MISSING)) for run in table.runs)
    iterations = Counter(label(run.record.get("iterations", MISSING)) for run in table.runs)

    def counts(counter: Counter[str]) -> str:
        return ", ".join(
            f"{k} ({v} runs)" for k, v in sorted(counter.items(), key=lambda kv: sort_key(kv[0]))
        )

    by_status = ", ".join(f"{v} {k}" for k, v in sorted(statuses.items()))
    return (
        f"Command: {table.command or '(api)'}; {len(table.runs)} runs ({by_status}); "
        f"seeds: {', '.join(seeds)}; num_samples: {counts(samples)}; iterations: {counts(iterations)}; "
        f"spread: {table.spread}, {SPREADS[table.spread]}; significance: {TESTS[table.test].description}, "
        f"{CORRECTIONS[table.correction].description}; {provenance(table.runs)}"
    )


def provenance(runs: Sequence[Run]) -> str:
    """The commits the runs came from, flagging dirty trees and runs from more than one commit.

    A run is dirty when its record says ``git_dirty: true`` or its ``git_commit`` ends in "-dirty" (the
    form records had before ``git_dirty``): its code is not recoverable from the commit.
    """
    commits: Counter[str] = Counter()
    dirty = 0
    for run in runs:
        commit = run.record.get("git_commit")
        if isinstance(commit, str) and commit.endswith("-dirty"):
            commit = commit[: -len("-dirty")]
            dirty += 1
        elif run.record.get("git_dirty") is True:
            dirty += 1
        commits[commit[:12] if isinstance(commit, str) else "unknown"] += 1
    text = "commits: " + ", ".join(f"{c} ({v} runs)" for c, v in sorted(commits.items()))
    warnings_ = []
    if len(commits) > 1:
        warnings_.append(f"MIXED: the runs come from {len(commits)} commits")
    if dirty:
        warnings_.append(
            f"DIRTY: {dirty} of {len(runs)} runs had uncommitted changes (their code is not the commit's)"
        )
    if "unknown" in commits:
        warnings_.append(f"{commits['unknown']} runs record no commit")
    return text + "." + "".join(f" {w}." for w in warnings_)


def _header(table: Table) -> list[str]:
    return [*table.by_keys, table.group_key, "n", "failures", *(c.title for c in table.columns)]


def _body(table: Table, style: Style, digits: int) -> list[list[str]]:
    return [
        [
            *(style.escape(b) for b in row.block),
            style.escape(f"{row.group} (reference)" if row.reference else row.group),
            str(row.n),
            _failures(row),
            *(render_cell(row.cells[c.key], c, table, style, digits) for c in table.columns),
        ]
        for row in table.rows
    ]


def render_markdown(table: Table, digits: int = 3) -> str:
    style = STYLES["md"]
    header = [style.escape(h) for h in _header(table)]
    aligns = ["---"] * (len(table.by_keys) + 1) + ["--:"] * (len(header) - len(table.by_keys) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(aligns) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in _body(table, style, digits)]
    lines += ["", *legend(table, style), *(f"Note: {n}" for n in table.notes), "", footer(table)]
    return "\n".join(lines) + "\n"


def mean_and_spread(mean: float, spread: float | None, digits: int) -> tuple[str, str | None]:
    """The spread to 2 significant digits and the mean to the same decimal place (``0.24 ± 0.25``);
    without a spread (one run, or none asked for) the mean to ``digits`` significant digits."""
    if not math.isfinite(mean):
        return number(mean, digits, STYLES["latex"]), None
    if spread is None or not math.isfinite(spread) or spread <= 0:
        zero = spread is not None and spread == 0  # every seed gave the same value
        return number(mean, digits, STYLES["latex"]), "0" if zero else None
    decimals = max(0, 1 - math.floor(math.log10(spread)))
    rounded = float(f"{spread:.2g}")
    if rounded >= 10 ** (2 - decimals) and decimals > 0:  # 0.0996 -> 0.10: one decimal fewer
        decimals -= 1
    return f"{mean:.{decimals}f}", f"{spread:.{decimals}f}"


def latex_header(column: Column) -> str:
    """A human header with the metric's direction: ``modes covered $\\uparrow$``."""
    from ganbench.runs.plot import human_name

    arrow = r" $\uparrow$" if column.higher_is_better else r" $\downarrow$"
    name = _latex_escape(human_name(column.metric))
    if column.kind == "auc":
        return f"AUC {name}{arrow}"
    if column.kind == "reach" and column.threshold is not None:
        return _latex_escape(f"iters to {column.threshold.text}") + r" $\downarrow$"
    return name + arrow


def latex_cell(cell: Summary, column: Column, table: Table, digits: int) -> str:
    style = STYLES["latex"]
    if not cell.values and not cell.reached:
        return style.none if column.kind != "reach" else f"{style.none} (0/{cell.total})"
    spread = cell.se if table.spread == "se" and column.kind != "reach" else cell.std
    mean, spread_text = mean_and_spread(cell.mean, spread if table.latex_spread else None, digits)
    text = style.bold(mean) if cell.best else mean
    if spread_text is not None:
        text += style.pm + spread_text
    if column.kind == "reach":
        return f"{text} ({cell.reached}/{cell.total})"
    if table.latex_ci and not math.isnan(cell.ci_low):
        low, _ = mean_and_spread(cell.ci_low, spread, digits)
        high, _ = mean_and_spread(cell.ci_high, spread, digits)
        text += f" [{low}, {high}]"
    if cell.p_adjusted is not None and cell.p_adjusted < table.alpha:
        text += style.dagger
    if cell.n_null or (cell.total is not None and len(cell.values) < cell.total):
        text += r"$^*$"
    return text


def latex_caption(table: Table) -> str:
    """Short: what a cell is, what bold and the dagger mean; the long explanation is in the footer."""
    spread = "" if not table.latex_spread else (" $\\pm$ " + ("s.e." if table.spread == "se" else "s.d."))
    ci = " [95\\% CI]" if table.latex_ci else ""
    parts = [f"Mean{spread}{ci} over seeds (n per row)."]
    parts.append("Bold: best per column or not significantly worse.")
    if table.baseline is not None:
        parts.append(
            f"$^\\dagger$: $p<{table.alpha:g}$ vs.\\ {_latex_escape(table.baseline)} "
            f"({_latex_escape(TESTS[table.test].description.split(' (')[0].split(',')[0])}, "
            f"{_latex_escape(table.correction)}-corrected)."
        )
    return " ".join(parts)


def render_latex(table: Table, digits: int = 3) -> str:
    """A booktabs table that fits one column: the chosen metrics (``--metrics``), mean ± spread with
    consistent decimals, human headers with arrows, a short caption; the long legend, the notes and the
    footer go in comments above it (the Markdown table has them too)."""
    columns = [c for c in table.columns if c.kind != "auc" or table.latex_auc]
    keys = len(table.by_keys) + 1
    failures = any(sum(row.failures.values()) for row in table.rows)
    group_header = _latex_escape(table.group_key.rsplit(".", 1)[-1].replace("_", " "))
    header = [
        *(_latex_escape(k.rsplit(".", 1)[-1]) for k in table.by_keys),
        group_header,
        "$n$",
        *(["failed"] if failures else []),
        *(latex_header(c) for c in columns),
    ]
    legend_text = " ".join(legend(table, STYLES["latex"]))
    lines = [
        "% Needs \\usepackage{booktabs}.",
        *(f"% {line}" for line in [footer(table), legend_text, *table.notes]),
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\caption{" + latex_caption(table) + "}",
        r"\label{tab:ganbench}",
        r"\begin{tabular}{@{}" + "l" * keys + "r" * (len(header) - keys) + "@{}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        r"\midrule",
    ]
    previous = None
    for row in table.rows:
        if previous is not None and row.block != previous:
            lines.append(r"\midrule")
        previous = row.block
        name = f"{row.group} (ref.)" if row.reference else row.group
        cells = [
            *(_latex_escape(b) for b in row.block),
            _latex_escape(name),
            str(row.n),
            *([_failures(row)] if failures else []),
            *(latex_cell(row.cells[c.key], c, table, digits) for c in columns),
        ]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _csv_number(x: float | int | None) -> str:
    # Empty for undefined (NaN, no test); "inf" parses with float() and with pandas.
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return repr(float(x)) if isinstance(x, float) else str(x)


def render_csv(table: Table, digits: int = 3) -> str:
    """One row per group with numeric columns; no footer, so that any CSV reader takes it as is."""
    header = [*table.by_keys, table.group_key, "n", "failures", *FAILED, "seeds", "reference"]
    for column in table.columns:
        stats_ = ["mean", "std", "se", "ci_low", "ci_high"]
        stats_ += ["reached"] if column.kind == "reach" else ["n_null", "p_value", "p_adjusted", "best"]
        header += [f"{column.key}_{s}" for s in stats_]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in table.rows:
        values = [
            *row.block,
            row.group,
            row.n,
            sum(row.failures.values()),
            *(row.failures[s] for s in FAILED),
        ]
        values.append(" ".join(sorted({label(r.record.get("seed")) for r in row.runs}, key=sort_key)))
        values.append(int(bool(row.reference)))
        for column in table.columns:
            cell = row.cells[column.key]
            values += [_csv_number(v) for v in (cell.mean, cell.std, cell.se, cell.ci_low, cell.ci_high)]
            if column.kind == "reach":
                values.append(cell.reached)
            else:
                values += [
                    cell.n_null,
                    _csv_number(cell.p_value),
                    _csv_number(cell.p_adjusted),
                    int(cell.best),
                ]
        writer.writerow(values)
    return out.getvalue()


FORMATS: dict[str, Callable[[Table, int], str]] = {
    "md": render_markdown,
    "latex": render_latex,
    "csv": render_csv,
}


# ------------------------------------------------------------------------------------------------- CLI


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m ganbench table",
        description="Benchmark table over run directories: mean ± std (or se) and 95% t CI over seeds, "
        "failures, corrected significance against a baseline group, convergence (AUC, iterations to a "
        "threshold), reference rows.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIRS", help="run directories or folders holding them")
    p.add_argument(
        "--group", default="model.objective", help="dotted config key of the rows (model.objective)"
    )
    p.add_argument("--by", nargs="*", default=[], help="dotted config keys of the blocks, e.g. data.dataset")
    p.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        help=f"final metrics to report (the headline metrics the runs have, else {' '.join(PACGAN_METRICS)})",
    )
    p.add_argument("--baseline", help="group value the others are tested against, e.g. nonsaturating")
    p.add_argument("--test", default="welch", help=f"significance test: {', '.join(TESTS)} (welch)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the mark (0.05)")
    p.add_argument(
        "--correction",
        default="holm",
        help=f"multiple-comparison correction of the marks: {', '.join(CORRECTIONS)} (holm)",
    )
    p.add_argument("--spread", default="std", help=f"what ± shows: {', '.join(SPREADS)} (std)")
    p.add_argument(
        "--reference",
        nargs="?",
        type=int,
        const=10,
        default=0,
        metavar="DRAWS",
        help="add the data and noise reference rows (toy datasets), over DRAWS draws (10)",
    )
    p.add_argument(
        "--lower-is-better",
        nargs="*",
        default=None,
        help="metrics where lower is better (default: each metric's registered direction)",
    )
    p.add_argument(
        "--threshold", nargs="*", default=[], help="e.g. modes_captured>=8: iterations to reach it"
    )
    p.add_argument(
        "--at_iteration",
        type=int,
        default=None,
        help="report every run as it stood at this evaluated iteration (its evaluation there), counting "
        "runs still running or interrupted after it; runs not there yet are left out and named",
    )
    p.add_argument("--no-auc", action="store_true", help="leave out the area-under-curve columns")
    p.add_argument("--digits", type=int, default=3, help="significant digits (3)")
    p.add_argument("--ci", action="store_true", help="LaTeX: add the 95%% CI to each cell")
    p.add_argument("--no_spread", action="store_true", help="LaTeX: the mean alone, without ± spread")
    p.add_argument("--latex_auc", action="store_true", help="LaTeX: keep the AUC columns (left out to fit)")
    p.add_argument("--format", default="md", help=f"output format: {', '.join(FORMATS)} (md)")
    p.add_argument("--out", help="write here (atomically) instead of printing")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench table``: 0 on success, 2 on bad input (one-line error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a one-line usage error (2)
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        if args.format not in FORMATS:
            raise TableError(f"--format: unknown format {args.format!r}; valid choices: {', '.join(FORMATS)}")
        runs, cut_note = find_runs(args.run_dirs), None
        if args.at_iteration is not None:
            runs, cut_note = at_iteration(runs, args.at_iteration)
        table = build_table(
            runs,
            group=args.group,
            by=args.by,
            metrics=args.metrics,
            lower_is_better=args.lower_is_better,
            thresholds=[Threshold.parse(t) for t in args.threshold],
            baseline=args.baseline,
            test=args.test,
            alpha=args.alpha,
            auc=not args.no_auc,
            spread=args.spread,
            correction=args.correction,
            reference=args.reference,
        )
    except TableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table.command = "python -m ganbench table " + shlex.join(argv)
    if cut_note:
        table.extra_notes.append(cut_note)
    table.latex_spread, table.latex_ci, table.latex_auc = not args.no_spread, args.ci, args.latex_auc
    text = FORMATS[args.format](table, args.digits)
    if args.format == "csv":  # the CSV stays machine-readable: its footer goes to stderr
        print(footer(table), *(f"Note: {n}" for n in table.notes), sep="\n", file=sys.stderr)
    if args.out:
        write_atomic(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
