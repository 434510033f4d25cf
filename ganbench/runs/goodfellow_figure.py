"""``python -m ganbench figure1 RUN_DIR``: Goodfellow et al. (2014, fig. 1) drawn from a 1-D run.

One panel per chosen iteration, over one x axis: the data density p_data (black, dotted), a density
estimate of G's samples p_g (green, solid), and D(x) (blue, dashed; a critic value on its own axis for
critic objectives), with the map x = G(z) below as arrows from z to x when the latent is 1-D. It reads
the traces the evaluation keeps for 1-D data (``RUN/trace/*.npz``, :mod:`ganbench.evaluation.
discriminator_trace`) and writes ``OUT/figure1.pdf`` (vector), ``OUT/figure1.png`` (300 dpi) and
``OUT/figure1.json`` (what was drawn, from which run and commit).
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from ganbench.argparser import OneLineParser
from ganbench.evaluation.discriminator_trace import load_trace, recorded_traces

P_DATA, P_G, D_COLOR, MAP_COLOR = "#000000", "#009E73", "#0072B2", "#999999"  # Okabe & Ito
PANELS = 4  # Goodfellow's (a)-(d) when --iterations is not given
KDE_POINTS_PER_SIGMA = 4  # the p_g estimate's kernel is at most a quarter of the data's sigma wide
OFF_SCALE = 4.0  # a p_g peak above 4x p_data's peak is cut and its height written in the panel


class FigureError(ValueError):
    """Bad input to ``figure1``: one line naming the argument and the valid choices."""


def default_iterations(recorded: list[int], panels: int = PANELS) -> list[int]:
    """``panels`` recorded iterations evenly spread over the recorded list, first and last included."""
    picks = np.linspace(0, len(recorded) - 1, min(panels, len(recorded))).round().astype(int)
    return [recorded[i] for i in sorted(set(picks.tolist()))]


def choose_traces(run_dir: Path, iterations: list[int] | None) -> dict[int, Path]:
    """The trace file of each chosen iteration; FigureError for a run without traces or an iteration
    that was not recorded (naming the recorded ones)."""
    if not run_dir.is_dir():
        raise FigureError(f"RUN_DIR: {run_dir} is not a directory")
    recorded = recorded_traces(run_dir)
    if not recorded:
        raise FigureError(
            f"RUN_DIR: {run_dir} holds no discriminator traces (trace/*.npz); fit and ensemble write them "
            "for 1-D data (data.dataset=gaussian1d) with evaluation.plot=true"
        )
    chosen = iterations if iterations else default_iterations(list(recorded))
    missing = [i for i in chosen if i not in recorded]
    if missing:
        listed = ", ".join(map(str, recorded))
        raise FigureError(
            f"--iterations: {', '.join(map(str, missing))} not recorded in {run_dir}; recorded: {listed}"
        )
    if len(set(chosen)) != len(chosen):
        raise FigureError(f"--iterations: {chosen} repeats an iteration")
    return {i: recorded[i] for i in chosen}


def mean_d(trace: dict[str, Any]) -> tuple[float, float]:
    """D's mean under p_data (the exact density on the grid, trapezoid rule) and over G's samples (D
    interpolated on the grid; samples off the frame take the edge value): 1/2 and 1/2 at the equilibrium."""
    x, d, density = trace["x"], trace["d"], trace["data_density"]
    on_data = float(np.trapezoid(d * density, x) / np.trapezoid(density, x))
    return on_data, float(np.interp(trace["samples"], x, d).mean())


def density_estimate(samples: np.ndarray, x: np.ndarray, sigma: float) -> tuple[np.ndarray, float]:
    """p_g on ``x``: a Gaussian KDE (scipy) with Scott's bandwidth, narrowed to sigma /
    KDE_POINTS_PER_SIGMA so that modes as narrow as the data's are not smeared together. Returns the
    density and the kernel's width h. Samples with no spread (a collapsed G) give a kernel of width
    sigma / KDE_POINTS_PER_SIGMA around their value."""
    from scipy.stats import gaussian_kde

    cap = sigma / KDE_POINTS_PER_SIGMA
    spread = float(np.std(samples))
    if spread < 1e-6 * cap:  # a point mass: gaussian_kde's covariance would be singular
        h = cap
        density = np.exp(-0.5 * ((x - float(np.mean(samples))) / h) ** 2) / (h * math.sqrt(2 * math.pi))
        return density, h
    kde = gaussian_kde(samples)
    h = min(spread * kde.factor, cap)
    kde.set_bandwidth(h / spread)
    return kde(x), h


def draw_figure(
    traces: dict[int, dict[str, Any]],
    estimates: dict[int, tuple[np.ndarray, float]],
    title: str,
    out: Path,
) -> tuple[list[Path], dict[str, Any]]:
    """Draw the panels (``estimates``: p_g and its bandwidth per iteration) and save OUT/figure1.pdf
    and .png; returns the paths and what each panel shows."""
    # Figure + Agg canvas, not pyplot: no global figure registry to leak into, no GUI backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    first = next(iter(traces.values()))
    x = first["x"]
    critic = first["d_output"] == "critic"
    mapped = all("z" in t for t in traces.values())
    data_peak = float(first["data_density"].max())
    top = 1.1 * min(max([data_peak, *(float(p.max()) for p, _ in estimates.values())]), OFF_SCALE * data_peak)
    if critic:
        d_all = np.concatenate([t["d"] for t in traces.values()])
        pad = 0.05 * max(float(np.ptp(d_all)), 1e-6)
        d_limits = (float(d_all.min()) - pad, float(d_all.max()) + pad)
    else:
        d_limits = (0.0, 1.05)

    n = len(traces)
    fig = Figure(figsize=(2.6 * n + 0.9, 3.6 if mapped else 2.9), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(2 if mapped else 1, n, height_ratios=[4, 1] if mapped else [1])
    panels: list[dict[str, Any]] = []
    for column, (iteration, trace) in enumerate(traces.items()):
        ax = fig.add_subplot(grid[0, column])
        p_g, h = estimates[iteration]
        ax.plot(x, trace["data_density"], color=P_DATA, linestyle=":", linewidth=1.4)
        ax.plot(x, np.minimum(p_g, top), color=P_G, linewidth=1.3)
        ax.set_xlim(float(x[0]), float(x[-1]))
        ax.set_ylim(0.0, top)
        on_data, on_samples = mean_d(trace)
        name = "f" if critic else "D"
        ax.set_title(
            f"({chr(ord('a') + column)}) iteration {iteration:,}\n"
            f"mean {name}: on p_data {on_data:.2f}, on G's samples {on_samples:.2f}",
            fontsize=8,
        )
        ax.tick_params(labelsize=7)
        if column == 0:
            ax.set_ylabel("density", fontsize=8)
        else:
            ax.set_yticklabels([])
        notes = []
        if float(p_g.max()) > top:
            notes.append(f"p_g peak {float(p_g.max()):.2g} (cut)")
        outside = int(((trace["samples"] < x[0]) | (trace["samples"] > x[-1])).sum())
        if outside:
            notes.append(f"{outside:,} of {trace['samples'].size:,} samples off the frame")
        if notes:
            ax.text(0.02, 0.97, "\n".join(notes), transform=ax.transAxes, fontsize=6, va="top")
        d_ax = ax.twinx()
        if not critic:
            d_ax.axhline(0.5, color=D_COLOR, linewidth=0.5, alpha=0.4)  # D of the equilibrium p_g = p_data
        d_ax.plot(x, trace["d"], color=D_COLOR, linestyle="--", linewidth=1.3)
        d_ax.set_ylim(*d_limits)
        d_ax.tick_params(labelsize=7, colors=D_COLOR)
        if column == n - 1:
            d_ax.set_ylabel("critic value f(x)" if critic else "D(x)", fontsize=8, color=D_COLOR)
        else:
            d_ax.set_yticklabels([])
        if mapped:
            strip = fig.add_subplot(grid[1, column], sharex=ax)
            for z, gz in zip(trace["z"], trace["g_of_z"], strict=True):
                strip.annotate(
                    "",
                    xy=(gz, 1.0),
                    xytext=(z, 0.0),
                    arrowprops={"arrowstyle": "->", "color": MAP_COLOR, "linewidth": 0.6, "shrinkA": 0,
                                "shrinkB": 0},
                    annotation_clip=False,
                )  # fmt: skip
            strip.set_ylim(0.0, 1.0)
            strip.set_yticks([0.0, 1.0], ["z", "x"], fontsize=7)
            strip.tick_params(labelsize=7)
            strip.set_xlabel("x", fontsize=8)
            for spine in ("top", "right"):
                strip.spines[spine].set_visible(False)
            ax.tick_params(labelbottom=False)
        else:
            ax.set_xlabel("x", fontsize=8)
        panels.append(
            {
                "iteration": iteration,
                "num_samples": int(trace["samples"].size),
                "kde_bandwidth": h,
                "samples_off_frame": outside,
                "mean_d_data": on_data,
                "mean_d_generated": on_samples,
                "d_min": float(trace["d"].min()),
                "d_max": float(trace["d"].max()),
            }
        )
    handles = [
        Line2D([], [], color=P_DATA, linestyle=":", label="p_data (exact density)"),
        Line2D(
            [], [], color=P_G, label=f"p_g (Gaussian KDE of G's samples, width ≤ σ/{KDE_POINTS_PER_SIGMA})"
        ),
        Line2D(
            [],
            [],
            color=D_COLOR,
            linestyle="--",
            label="critic f(x), not a probability" if critic else "D(x) = σ(logit)",
        ),
    ]
    if not critic:
        handles.append(
            Line2D([], [], color=D_COLOR, linewidth=0.5, alpha=0.4, label="D = 1/2 (where p_g = p_data)")
        )
    if mapped:
        handles.append(Line2D([], [], color=MAP_COLOR, label="x = G(z), z at N(0,1) quantiles"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=7, frameon=False)
    width = fig.get_figwidth()
    fig.suptitle(textwrap.fill(title, int(17 * width)), fontsize=8)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "figure1.pdf", out / "figure1.png"]
    for path in paths:
        fig.savefig(path, dpi=300)
    return paths, {"panels": panels, "d_output": "critic" if critic else "probability"}


def figure_title(run_dir: Path, record: dict[str, Any], trace: dict[str, Any]) -> str:
    means = ", ".join(f"{m:g}" for m in trace["means"])
    seed = record.get("seed")
    return (
        f"{trace['objective']} on a 1-D mixture (means {means}; σ {float(trace['sigma']):g}), run "
        f"{run_dir.name}{f', seed {seed}' if seed is not None else ''}; p_g from {trace['samples'].size:,} "
        f"samples of G per panel (noise seed {int(trace['seed'])}). After Goodfellow et al. (2014), fig. 1"
    )


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m ganbench figure1",
        description="Goodfellow et al. (2014) fig. 1 from a 1-D run's traces: p_data, p_g and D(x) over "
        "one x axis, one panel per iteration (PDF and PNG).",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of a 1-D run (fit or ensemble member)")
    p.add_argument(
        "--iterations",
        nargs="+",
        type=int,
        help=f"recorded iterations to draw, one panel each (default: {PANELS} spread over the recorded ones)",
    )
    p.add_argument("--out", required=True, help="output directory (figure1.pdf, figure1.png, figure1.json)")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench figure1``: 0 on success, 2 on bad input (one-line error)."""
    from ganbench.runs.atomic import write_json_atomic
    from ganbench.runs.record import provenance, read_record, versions

    words = sys.argv[1:] if argv is None else argv
    try:
        args = parser().parse_args(words)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    run_dir, out = Path(args.run_dir), Path(args.out)
    try:
        if out.exists() and not out.is_dir():
            raise FigureError(f"--out: {out} is a file, not a directory")
        files = choose_traces(run_dir, args.iterations)
        traces = {i: load_trace(path) for i, path in files.items()}
        try:
            record = read_record(run_dir)
        except (OSError, ValueError):
            record = {}
        first = next(iter(traces.values()))
        estimates = {i: density_estimate(t["samples"], t["x"], float(t["sigma"])) for i, t in traces.items()}
        title = figure_title(run_dir, record, first)
        paths, drawn = draw_figure(traces, estimates, title, out)
    except FigureError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: --out: {error.filename or out}: {error.strerror or error}", file=sys.stderr)
        return 2
    write_json_atomic(
        out / "figure1.json",
        {
            "command": "python -m ganbench figure1 " + " ".join(words),
            "run_dir": str(run_dir),
            "traces": {str(i): str(path) for i, path in files.items()},
            "objective": first["objective"],
            "run_seed": record.get("seed"),
            "run_git_commit": record.get("git_commit"),
            "run_versions": record.get("versions"),
            "run_device": record.get("device"),
            **drawn,
            "figure_versions": versions(),
            "figure_git_commit": provenance()["git_commit"],
        },
    )
    for path in [*paths, out / "figure1.json"]:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
