"""``python -m ganbench table``: benchmark tables from run directories.

Runs (``metrics.json`` files) are grouped by a config key (``--group model.objective``), optionally in
blocks (``--by data.dataset``). Each row reports, over the *completed* runs of the group (one per seed):
mean ± std (ddof=1) and a 95% Student-t confidence interval of each final metric; failures (diverged,
crashed, interrupted) counted next to them, never dropped; a significance mark against a baseline group
(Welch's t-test or Mann-Whitney U, scipy.stats); the normalized area under each metric's
metric-vs-iteration curve; and, per ``--threshold``, the iterations needed to first reach it.

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
from ganbench.runs.atomic import write_atomic

RECORD_NAME = "metrics.json"
COUNTED = "completed"
FAILED = ("diverged", "crashed", "interrupted")  # a result, but not one to average
DEFAULT_METRICS = ("high_quality_fraction", "modes_captured", "reverse_kl")
DEFAULT_LOWER_IS_BETTER = ("reverse_kl", "fid", "kid_mean")
CONFIDENCE = 0.95
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
            record = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise TableError(
                f"RUN_DIRS: {file} is not a readable run record ({type(error).__name__})"
            ) from None
        if not isinstance(record, dict) or "status" not in record:
            raise TableError(f"RUN_DIRS: {file} is not a ganbench run record (no 'status')")
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
    ci_low: float = math.nan
    ci_high: float = math.nan
    p_value: float | None = None
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
        sem = summary.std / math.sqrt(xs.size)
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

    @property
    def n(self) -> int:
        return len(self.runs)


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

    @property
    def notes(self) -> list[str]:
        """What a reader must know beyond the cells: skipped runs, repeated seeds, mixed settings."""
        notes = []
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


def build_table(
    runs: Sequence[Run],
    group: str = "model.objective",
    by: Sequence[str] = (),
    metrics: Sequence[str] = DEFAULT_METRICS,
    lower_is_better: Sequence[str] = DEFAULT_LOWER_IS_BETTER,
    thresholds: Sequence[Threshold] = (),
    baseline: str | None = None,
    test: str = "welch",
    alpha: float = 0.05,
    auc: bool = True,
) -> Table:
    """Group the runs and compute every cell; raises TableError on bad input."""
    if test not in TESTS:
        raise TableError(f"--test: unknown test {test!r}; valid choices: {', '.join(TESTS)}")
    if not 0 < alpha < 1:
        raise TableError(f"--alpha: must be in (0, 1), got {alpha}")
    for key, option in [(group, "--group"), *((k, "--by") for k in by)]:
        check_key(runs, key, option)
    available = {m for run in runs for part in (run.metrics, *run.history) for m in part}
    valid = sorted(available - {"iteration", "num_samples"})
    for option, names in (("--metrics", metrics), ("--threshold", [t.metric for t in thresholds])):
        for metric in names:
            if metric not in valid:
                raise TableError(f"{option}: unknown metric {metric!r}; valid choices: {', '.join(valid)}")

    def higher(metric: str) -> bool:
        return metric not in lower_is_better

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
    table = Table(
        group, list(by), columns, ordered, baseline, test, alpha, list(runs), skipped, list(lower_is_better)
    )
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


def _mark_significance(table: Table) -> None:
    """p-values of each final/AUC column against the baseline row of the same block."""
    if table.baseline is None:
        return
    test = TESTS[table.test]
    for rows in _blocks(table).values():
        base = next((r for r in rows if r.group == table.baseline), None)
        for row in rows:
            if base is None or row is base:
                continue
            for column in table.columns:
                if column.kind != "reach":
                    cell, reference = row.cells[column.key], base.cells[column.key]
                    cell.p_value = p_value(test, reference.values, cell.values)


def _mark_best(table: Table) -> None:
    """Bold the best mean per column and block; for thresholds: most runs reaching it, then fastest."""
    for rows in _blocks(table).values():
        for column in table.columns:
            scores: dict[int, tuple[float, ...]] = {}
            for i, row in enumerate(rows):
                cell = row.cells[column.key]
                if column.kind == "reach":
                    if cell.reached:
                        scores[i] = (cell.reached, -cell.mean)
                elif math.isfinite(cell.mean):
                    scores[i] = (cell.mean if column.higher_is_better else -cell.mean,)
            if scores:
                top = max(scores.values())
                for i, score in scores.items():
                    rows[i].cells[column.key].best = score == top


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
    if not math.isnan(cell.std):
        text += style.pm + number(cell.std, digits, style)
    if column.kind == "reach":
        return f"{text} ({cell.reached}/{cell.total})"
    if not math.isnan(cell.ci_low):
        text += f" [{number(cell.ci_low, digits, style)}, {number(cell.ci_high, digits, style)}]"
    if cell.p_value is not None and cell.p_value < table.alpha:
        text += style.dagger
    if cell.n_null:
        text += f" ({cell.n_null}/{len(cell.values)} null)"
    if cell.total is not None and len(cell.values) < cell.total:  # runs without this metric
        text += f" ({len(cell.values)}/{cell.total} runs)"
    return text


def _failures(row: Row) -> str:
    total = sum(row.failures.values())
    if not total:
        return "0"
    return f"{total} (" + ", ".join(f"{v} {k}" for k, v in sorted(row.failures.items())) + ")"


def legend(table: Table, style: Style) -> list[str]:
    """The sentences a reader needs to read the cells (the caption in LaTeX)."""
    e = style.escape
    lower = [m for m in table.lower_is_better if any(c.metric == m for c in table.columns)]
    direction = (
        f"lower is better for {', '.join(lower)}, higher for the rest" if lower else "higher is better"
    )
    lines = [
        e("Cells: mean")
        + style.pm
        + e(
            "std [95% CI, Student t] over the completed runs of each group "
            "(n, one per seed); failures (diverged, crashed, interrupted) are counted, not averaged."
        ),
        style.bold(e("Bold")) + e(f": best per column ({direction})."),
    ]
    if table.baseline is not None:
        test = TESTS[table.test].description
        lines.append(
            style.dagger + e(f": p < {table.alpha:g} against {table.group_key}={table.baseline}, {test}.")
        )
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
        f"seeds: {', '.join(seeds)}; num_samples: {counts(samples)}; iterations: {counts(iterations)}."
    )


def _header(table: Table) -> list[str]:
    return [*table.by_keys, table.group_key, "n", "failures", *(c.title for c in table.columns)]


def _body(table: Table, style: Style, digits: int) -> list[list[str]]:
    return [
        [
            *(style.escape(b) for b in row.block),
            style.escape(row.group),
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


def render_latex(table: Table, digits: int = 3) -> str:
    style = STYLES["latex"]
    keys = len(table.by_keys) + 1
    lines = [
        "% Needs \\usepackage{booktabs} and \\usepackage{graphicx} (for \\resizebox).",
        *(f"% {line}" for line in [footer(table), *table.notes]),
        r"\begin{table}[t]",
        r"\centering",
        r"\caption{" + " ".join(legend(table, style)) + "}",
        r"\label{tab:ganbench}",
        r"\resizebox{\linewidth}{!}{%",
        r"\begin{tabular}{" + "l" * keys + "r" * (len(_header(table)) - keys) + "}",
        r"\toprule",
        " & ".join(style.escape(h) for h in _header(table)) + r" \\",
        r"\midrule",
    ]
    previous = None
    for row, cells in zip(table.rows, _body(table, style, digits), strict=True):
        if previous is not None and row.block != previous:
            lines.append(r"\midrule")
        previous = row.block
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _csv_number(x: float | int | None) -> str:
    # Empty for undefined (NaN, no test); "inf" parses with float() and with pandas.
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    return repr(float(x)) if isinstance(x, float) else str(x)


def render_csv(table: Table, digits: int = 3) -> str:
    """One row per group with numeric columns; no footer, so that any CSV reader takes it as is."""
    header = [*table.by_keys, table.group_key, "n", "failures", *FAILED, "seeds"]
    for column in table.columns:
        stats_ = ["mean", "std", "ci_low", "ci_high"]
        stats_ += ["reached"] if column.kind == "reach" else ["n_null", "p_value", "best"]
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
        for column in table.columns:
            cell = row.cells[column.key]
            values += [_csv_number(v) for v in (cell.mean, cell.std, cell.ci_low, cell.ci_high)]
            if column.kind == "reach":
                values.append(cell.reached)
            else:
                values += [cell.n_null, _csv_number(cell.p_value), int(cell.best)]
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
        description="Benchmark table over run directories: mean ± std and 95%% t CI over seeds, failures, "
        "significance against a baseline group, convergence (AUC, iterations to a threshold).",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIRS", help="run directories or folders holding them")
    p.add_argument(
        "--group", default="model.objective", help="dotted config key of the rows (model.objective)"
    )
    p.add_argument("--by", nargs="*", default=[], help="dotted config keys of the blocks, e.g. data.dataset")
    p.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS), help="final metrics to report")
    p.add_argument("--baseline", help="group value the others are tested against, e.g. nonsaturating")
    p.add_argument("--test", default="welch", help=f"significance test: {', '.join(TESTS)} (welch)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the mark (0.05)")
    p.add_argument(
        "--lower-is-better",
        nargs="*",
        default=list(DEFAULT_LOWER_IS_BETTER),
        help=f"metrics where lower is better ({' '.join(DEFAULT_LOWER_IS_BETTER)})",
    )
    p.add_argument(
        "--threshold", nargs="*", default=[], help="e.g. modes_captured>=8: iterations to reach it"
    )
    p.add_argument("--no-auc", action="store_true", help="leave out the area-under-curve columns")
    p.add_argument("--digits", type=int, default=3, help="significant digits (3)")
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
        table = build_table(
            find_runs(args.run_dirs),
            group=args.group,
            by=args.by,
            metrics=args.metrics,
            lower_is_better=args.lower_is_better,
            thresholds=[Threshold.parse(t) for t in args.threshold],
            baseline=args.baseline,
            test=args.test,
            alpha=args.alpha,
            auc=not args.no_auc,
        )
    except TableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table.command = "python -m ganbench table " + shlex.join(argv)
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
