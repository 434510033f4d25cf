"""``python -m ganbench plot``: metric-vs-iteration curves per group, with a band over seeds.

One line per group (``--group model.objective``): the mean over its runs at each evaluated iteration,
and a band over the runs (mean ± 1 std, or min-max with ``--band minmax``), the legend saying which and
how many runs. Completed and diverged runs are drawn (a diverged run's curve stops where it diverged);
running, crashed and interrupted ones are left out and said so. Non-finite values (``null`` in
metrics.json) cannot be drawn: they are left out of the mean at their iteration and counted in the
legend. ``--by data.dataset`` draws one panel per value. Training scalars (``--metric
train/g_logit_grad``, the saturation signal, or ``train/d_fake``) come from each run's
``train_log/metrics.csv``. ``--samples`` draws instead a grid of each run's last sample picture
(``samples/*.png``, the toy scatter plots), one row per group and one column per seed. Written as
PNG and PDF with a bare Figure and the Agg canvas (no pyplot global state). The y label carries the
metric's direction from the registry (↑ higher is better, ↓ lower). ``--reference`` draws the toy
reference rows (:mod:`ganbench.evaluation.reference`: data, the ceiling, and noise, the floor) as
horizontal lines with a band of ± 1 std over their draws, scored like the runs. Bands are clipped to
the range the metric declares (a fraction stays in [0, 1]).
"""

from __future__ import annotations

import argparse
import csv
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.argparser import OneLineParser
from ganbench.evaluation.metrics import find_metric
from ganbench.runs.record import COMPLETED, DIVERGED
from ganbench.runs.table import (
    Run,
    TableError,
    at_iteration,
    check_key,
    find_runs,
    label,
    lookup,
    sort_key,
)

PLOTTED = (COMPLETED, DIVERGED)


@dataclass(frozen=True)
class Band:
    bounds: Callable[[np.ndarray], tuple[float, float]]
    description: str


def _ci95_bounds(values: np.ndarray) -> tuple[float, float]:
    """Student-t 95% confidence interval of the mean over seeds (Student 1908; scipy.stats.t)."""
    from scipy import stats

    mean = float(values.mean())
    if values.size < 2:
        return mean, mean  # one run: no interval
    half = float(stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size))
    return mean - half, mean + half


def _std_bounds(values: np.ndarray) -> tuple[float, float]:
    mean = float(values.mean())
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0  # one run: no spread to show
    return mean - std, mean + std


BANDS: dict[str, Band] = {
    "ci95": Band(_ci95_bounds, "95% CI of the mean over seeds (t)"),
    "std": Band(_std_bounds, "mean ± 1 std over seeds"),
    "minmax": Band(lambda v: (float(v.min()), float(v.max())), "min–max over seeds"),
}


@dataclass
class Curve:
    """One group's line and band; ``counts`` is how many runs have a finite value at each iteration."""

    group: str
    iterations: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    counts: np.ndarray
    runs: int
    diverged: int
    omitted: int  # non-finite values left out

    @property
    def legend(self) -> str:
        extra = [f"{self.diverged} diverged"] if self.diverged else []
        extra += [f"{self.omitted} non-finite values omitted"] if self.omitted else []
        return f"{self.group} (n={self.runs}{''.join(', ' + e for e in extra)})"


def train_history(run: Run) -> list[dict[str, Any]]:
    """The per-iteration training scalars of a run (``train/...``) from DIR/train_log/metrics.csv.

    Lightning writes them with its 0-based batch index as ``step``; the iteration is step + 1.
    """
    path = run.path / "train_log" / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        {
            "iteration": float(row["step"]) + 1,
            **{k: float(v) for k, v in row.items() if k.startswith("train/") and v},
        }
        for row in rows
        if any(k.startswith("train/") and v for k, v in row.items())
    ]


def points(run: Run, metric: str) -> list[dict[str, Any]]:
    if not metric.startswith("train/"):
        return run.history
    # A run cut by --at_iteration keeps its training scalars up to that iteration too.
    last = run.record.get("iterations")
    return [h for h in train_history(run) if last is None or h["iteration"] <= last]


def curve(group: str, runs: Sequence[Run], metric: str, band: Band) -> Curve:
    """Mean and band over ``runs`` at every iteration any of them evaluated."""
    by_iteration: dict[float, list[float]] = {}
    omitted = 0
    for run in runs:
        for point in points(run, metric):
            if metric not in point or "iteration" not in point:
                continue
            value = point[metric]
            if value is None or not np.isfinite(value):
                omitted += 1
                continue
            by_iteration.setdefault(float(point["iteration"]), []).append(float(value))
    iterations = np.array(sorted(by_iteration))
    samples = [np.array(by_iteration[i]) for i in iterations]
    bounds = np.array([band.bounds(s) for s in samples]).reshape(-1, 2)
    declared = find_metric(metric)
    if declared is not None:  # a band never leaves the metric's range (a fraction stays in [0, 1])
        lowest, highest = declared.bounds
        bounds = np.clip(
            bounds, -np.inf if lowest is None else lowest, np.inf if highest is None else highest
        )
    return Curve(
        group=group,
        iterations=iterations,
        mean=np.array([s.mean() for s in samples]),
        low=bounds[:, 0],
        high=bounds[:, 1],
        counts=np.array([s.size for s in samples]),
        runs=len(runs),
        diverged=sum(run.status == "diverged" for run in runs),
        omitted=omitted,
    )


def curves(
    runs: Sequence[Run],
    metric: str,
    group: str = "model.objective",
    by: Sequence[str] = (),
    band: str = "ci95",
) -> dict[tuple[str, ...], list[Curve]]:
    """Curves per panel (the ``by`` values) and group, both in sorted order."""
    panels: dict[tuple[str, ...], dict[str, list[Run]]] = {}
    for run in runs:
        if run.status in PLOTTED:
            block = tuple(label(lookup(run.record, k)) for k in by)
            panels.setdefault(block, {}).setdefault(label(lookup(run.record, group)), []).append(run)
    return {
        block: [curve(g, panels[block][g], metric, BANDS[band]) for g in sorted(panels[block], key=sort_key)]
        for block in sorted(panels, key=lambda b: [sort_key(x) for x in b])
    }


# Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")


def human_name(metric: str) -> str:
    """``train/g_logit_grad`` -> ``g logit grad``; ``wasserstein_1`` -> ``Wasserstein-1``."""
    name = metric.removeprefix("train/").removeprefix("eval/")
    special = {"wasserstein_1": "Wasserstein-1", "reverse_kl": "reverse KL", "fid": "FID", "kid": "KID"}
    return special.get(name, name.replace("_", " "))


def axis_label(metric: str) -> str:
    """The metric's name with its registered direction: ↑ higher is better, ↓ lower."""
    found = find_metric(metric)
    if found is None:
        return human_name(metric)
    return f"{human_name(metric)} ({'↑' if found.higher_is_better else '↓'} better)"


def figure_title(runs: Sequence[Run], metric: str) -> str:
    """The datasets of the runs and the metric's sample protocol from the registry."""
    datasets = sorted({label(lookup(run.record, "data.dataset")) for run in runs}, key=sort_key)
    found = find_metric(metric)
    title = f"{human_name(metric)} on {', '.join(datasets)}"
    if found is not None and found.protocol:
        title += "\n" + textwrap.fill(found.protocol, 80)  # long protocols stay inside the figure
    return title


@dataclass
class ReferenceLine:
    """A reference row as a horizontal line: mean and std of the metric over the draws."""

    name: str
    mean: float
    std: float
    draws: int


def reference_lines(
    runs: Sequence[Run], metric: str, by: Sequence[str], draws: int
) -> dict[tuple[str, ...], list[ReferenceLine]]:
    """Per panel, the data and noise lines of the panel's dataset (as ``table --reference`` does)."""
    from ganbench.evaluation.reference import reference_scores
    from ganbench.runs.reference_rows import _dataset

    panels: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        if run.status == COMPLETED:
            panels.setdefault(tuple(label(lookup(run.record, k)) for k in by), []).append(run)
    lines: dict[tuple[str, ...], list[ReferenceLine]] = {}
    for block, block_runs in panels.items():
        dataset, num_samples = _dataset(block_runs, block)
        scores = reference_scores(dataset, num_samples, draws, keys={metric})
        if metric not in next(iter(scores.values()))[0]:
            raise TableError(f"--reference: {metric} is not a toy metric; reference rows score toy metrics")
        lines[block] = []
        for name, values in scores.items():
            xs = np.array([v[metric] for v in values], dtype=float)
            lines[block].append(ReferenceLine(name, float(xs.mean()), float(xs.std(ddof=1)), draws))
    return lines


def draw(
    panels: dict[tuple[str, ...], list[Curve]],
    metric: str,
    by: Sequence[str],
    band: str,
    out: Path,
    references: dict[tuple[str, ...], list[ReferenceLine]] | None = None,
    title: str = "",
) -> list[Path]:
    """Save the panels side by side as OUT/METRIC.png and OUT/METRIC.pdf, the legend right of them."""
    # Figure + Agg canvas, not pyplot: no global figure registry to leak into, no GUI backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = max(6.0, 4.5 * len(panels))
    fig = Figure(figsize=(width, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (block, lines) in zip(axes, panels.items(), strict=True):
        ax.set_prop_cycle(color=list(PALETTE))
        for line in lines:
            (drawn,) = ax.plot(line.iterations, line.mean, marker="o", markersize=3, label=line.legend)
            ax.fill_between(
                line.iterations, line.low, line.high, color=drawn.get_color(), alpha=0.2, linewidth=0
            )
        for ref, style in zip((references or {}).get(block, []), ("--", ":"), strict=False):
            ax.axhline(ref.mean, color="black", linestyle=style, linewidth=1, label=f"{ref.name} (reference)")
            ax.axhspan(ref.mean - ref.std, ref.mean + ref.std, color="black", alpha=0.08, linewidth=0)
        ax.set_xlabel("iteration")
        ax.set_ylabel(axis_label(metric))
        if by:
            ax.set_title(", ".join(f"{k}={v}" for k, v in zip(by, block, strict=True)))
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=3,
        title=f"line: mean; band: {BANDS[band].description}",
        fontsize="small",
        title_fontsize="small",
    )
    if title:
        import textwrap

        head, *rest = title.split("\n", 1)
        fig.suptitle("\n".join([head, *(textwrap.fill(r, int(16 * width)) for r in rest)]), fontsize="small")
    out.mkdir(parents=True, exist_ok=True)
    stem = metric.replace("/", "_")  # train/g_logit_grad -> train_g_logit_grad.png
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in paths:
        fig.savefig(path, dpi=300)
    return paths


def last_samples(run: Run) -> Path | None:
    """The run's sample picture of its latest evaluated iteration (``samples/{tag}_{iteration}.png``)."""
    pictures = sorted(run.path.glob("samples/*.png"), key=lambda p: (p.stem.rsplit("_", 1)[-1], p.stem))
    return pictures[-1] if pictures else None


def run_checkpoint(run: Run) -> Path | None:
    """The run's newest weights: ``checkpoints/last.ckpt`` (fit) or ``checkpoints/final.ckpt`` (ensemble)."""
    for name in ("last.ckpt", "final.ckpt"):
        path = run.path / "checkpoints" / name
        if path.is_file():
            return path
    return None


def run_samples(run: Run) -> tuple[Any, Any] | None:
    """The run's final samples and its mixture, regenerated from its checkpoint with the evaluation's
    noise seed and sample count; None without a checkpoint or for a dataset that is not a mixture."""
    from ganbench.sample import load_generator_module, toy_mixture

    checkpoint = run_checkpoint(run)
    mixture = toy_mixture(
        lookup(run.record, "data") if isinstance(lookup(run.record, "data"), dict) else None
    )
    if checkpoint is None or mixture is None:
        return None
    evaluation = lookup(run.record, "evaluation")
    evaluation = evaluation if isinstance(evaluation, dict) else {}
    count = int(run.metrics.get("num_samples") or evaluation.get("num_samples") or 2500)
    module = load_generator_module(checkpoint)
    return module.generate(count, seed=int(evaluation.get("seed", 1234))), mixture


def draw_samples(
    runs: Sequence[Run],
    group: str,
    out: Path,
    metric: str = "modes_covered",
    max_points: int = 1000,
    stem: str = "samples",
) -> list[Path]:
    """OUT/STEM.pdf and .png: one vector figure, rows = groups, columns = seeds. Each cell draws the
    run's final samples (from its checkpoint) over the modes, marked covered or missed; a run without
    a checkpoint shows its last ``samples/*.png`` instead (raster)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.image import imread

    from ganbench.evaluation.scatter import draw_mixture

    cells: dict[str, dict[Any, Run]] = {}
    for run in runs:
        if run.status in PLOTTED and (run_checkpoint(run) is not None or last_samples(run) is not None):
            cells.setdefault(label(lookup(run.record, group)), {})[run.record.get("seed")] = run
    if not cells:
        raise TableError("RUN_DIRS: no completed or diverged run has a checkpoint or a samples/*.png picture")
    groups = sorted(cells, key=sort_key)
    seeds = sorted({seed for row in cells.values() for seed in row}, key=sort_key)
    fig = Figure(figsize=(1.25 * len(seeds) + 0.6, 1.3 * len(groups) + 0.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(groups), len(seeds), squeeze=False)
    raster = 0
    for r, name in enumerate(groups):
        for c, seed in enumerate(seeds):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"seed {seed}", fontsize=7)
            if c == 0:
                ax.set_ylabel(name, fontsize=7)
            run = cells[name].get(seed)
            if run is None:
                ax.set_axis_off()
                continue
            drawn = run_samples(run)
            if drawn is not None:
                covered = draw_mixture(ax, drawn[0], drawn[1].means, drawn[1].sigma, max_points=max_points)
                text = f"{int(covered.sum())}/{covered.numel()}"
            else:
                raster += 1
                ax.imshow(imread(last_samples(run)))
                value = run.metrics.get(metric, run.metrics.get("modes_captured"))
                text = f"{value:g}" if isinstance(value, (int, float)) else ""
            if run.status != "completed":
                text += f" {run.status}"
            ax.text(0.02, 0.02, text, transform=ax.transAxes, fontsize=6, va="bottom")
            ax.set_xlabel("")
    note = f"; {raster} cell(s) from PNG pictures (no checkpoint)" if raster else ""
    import textwrap

    caption = (
        f"final samples (up to {max_points} drawn per cell); modes covered: green circles, missed: "
        f"vermillion crosses; corner: modes covered{note}"
    )
    fig.suptitle(textwrap.fill(caption, int(15 * fig.get_figwidth())), fontsize=7)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.pdf", out / f"{stem}.png"]
    for path in paths:
        fig.savefig(path, dpi=300)
    return paths


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m ganbench plot",
        description="Metric-vs-iteration curves per group with a band over seeds, as PNG and PDF.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIRS", help="run directories or folders holding them")
    p.add_argument("--metric", default="modes_captured", help="evaluation metric (modes_captured)")
    p.add_argument("--group", default="model.objective", help="dotted config key of the lines")
    p.add_argument("--by", nargs="*", default=[], help="dotted config keys of the panels, e.g. data.dataset")
    p.add_argument(
        "--band",
        default="ci95",
        help=f"band over seeds: {', '.join(BANDS)} (ci95: 95%% t CI of the mean; clipped to the range)",
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--reference",
        nargs="?",
        type=int,
        const=10,
        default=0,
        metavar="DRAWS",
        help="draw the data and noise reference lines (toy metrics), over DRAWS draws (10)",
    )
    p.add_argument(
        "--samples",
        action="store_true",
        help="a grid of each run's last samples picture (rows: --group, columns: seeds) instead of curves; "
        "with --by, one grid per value (samples_VALUE.png)",
    )
    p.add_argument(
        "--at_iteration",
        type=int,
        default=None,
        help="draw the runs as they stood at this evaluated iteration, running and interrupted ones too "
        "(as table --at_iteration; runs not there yet are left out)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench plot``: 0 on success, 2 on bad input (one-line error)."""
    try:
        args = parser().parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        if args.band not in BANDS:
            raise TableError(f"--band: unknown band {args.band!r}; valid choices: {', '.join(BANDS)}")
        runs = find_runs(args.run_dirs)
        if args.at_iteration is not None:
            runs, note = at_iteration(runs, args.at_iteration)
            print(f"note: {note}", file=sys.stderr)
        for key, option in [(args.group, "--group"), *((k, "--by") for k in args.by)]:
            check_key(runs, key, option)
        if args.samples:
            # --by: one figure per panel value (a samples grid mixes no datasets): samples_VALUE...
            panels: dict[tuple[str, ...], list[Run]] = {}
            for run in runs:
                panels.setdefault(tuple(label(lookup(run.record, key)) for key in args.by), []).append(run)
            for values in sorted(panels, key=lambda v: [sort_key(x) for x in v]):
                stem = "_".join(["samples", *values])
                for path in draw_samples(panels[values], args.group, Path(args.out), stem=stem):
                    print(f"wrote {path}")
            return 0
        valid = sorted(
            {m for run in runs for h in [*run.history, *train_history(run)] for m in h}
            - {"iteration", "num_samples"}
        )
        if args.metric not in valid:
            raise TableError(
                f"--metric: {args.metric!r} is in no run's history; valid choices: {', '.join(valid)}"
            )
        panels = curves(runs, args.metric, args.group, args.by, args.band)
        if not panels:
            raise TableError("RUN_DIRS: no completed or diverged run to plot")
        references = None
        if args.reference:
            if args.reference < 2:
                raise TableError(f"--reference: need at least 2 draws for a band, got {args.reference}")
            references = reference_lines(runs, args.metric, args.by, args.reference)
    except TableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    left_out = [run for run in runs if run.status not in PLOTTED]
    if left_out:
        statuses = sorted({run.status for run in left_out})
        print(f"note: {len(left_out)} run(s) not drawn (status {', '.join(statuses)})", file=sys.stderr)
    for lines in panels.values():
        for line in lines:
            if line.counts.size and line.counts.min() != line.counts.max():
                print(
                    f"note: {line.group}: {line.counts.min()} to {line.counts.max()} runs per iteration "
                    "(runs of different lengths, or non-finite values): the band narrows where fewer remain",
                    file=sys.stderr,
                )
    title = figure_title([run for run in runs if run.status in PLOTTED], args.metric)
    for path in draw(panels, args.metric, args.by, args.band, Path(args.out), references, title):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
