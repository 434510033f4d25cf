"""The saturation signal of results/regime's runs, from each run's train_log/metrics.csv.

Per regime (model.n_critic) and objective: mean ± standard error over seeds of ``train/g_logit_grad``
(the mean per-sample |dL_G/dl| on fake samples: D(G(z)) for minimax, 1 - D(G(z)) for non-saturating)
and ``train/d_fake`` (mean D(G(z))) at the first logged iteration and averaged over the last
``--window`` logged iterations, with the smallest and largest seed's value. Usage:
python results/regime/saturation_table.py RUNS --out results/regime/saturation.md
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

SIGNALS = ("train/g_logit_grad", "train/d_fake")


def run_signals(run: Path, window: int) -> dict[str, tuple[float, float]]:
    """(first logged value, mean over the last ``window`` logged values) of each signal."""
    with open(run / "train_log" / "metrics.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("train/g_logit_grad")]
    return {
        key: (float(rows[0][key]), statistics.fmean(float(r[key]) for r in rows[-window:])) for key in SIGNALS
    }


def mean_se(values: list[float]) -> str:
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{statistics.fmean(values):.3g} ± {se:.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("--window", type=int, default=5, help="last logged iterations averaged (5)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    groups: dict[tuple[int, str], list[dict]] = defaultdict(list)
    commits, iterations = set(), set()
    for record in sorted(args.runs.rglob("metrics.json")):
        meta = json.loads(record.read_text())
        model = meta["config"]["model"]
        groups[(model["n_critic"] or 1, model["objective"])].append(
            {"seed": meta["seed"], **run_signals(record.parent, args.window)}
        )
        commits.add(meta["git_commit"])
        iterations.add(meta["iterations"])
        versions, device = meta["versions"], meta["device"]
    lines = [
        "# Saturation signal: strong D (n_critic 5) vs default (n_critic 1), ring8",
        "",
        f"Mean ± standard error over seeds; first = the first logged iteration (50), last = the mean of the "
        f"last {args.window} logged iterations (every 50, up to {max(iterations)}); min-max over seeds of "
        "the last value.",
        "",
        "| n_critic | objective | seeds | g_logit_grad first | g_logit_grad last | last min-max "
        "| D(G(z)) first | D(G(z)) last | last min-max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (n_critic, objective), runs in sorted(groups.items()):
        cells = []
        for key in SIGNALS:
            last = [r[key][1] for r in runs]
            cells += [mean_se([r[key][0] for r in runs]), mean_se(last), f"{min(last):.2g}-{max(last):.2g}"]
        seeds = ",".join(str(r["seed"]) for r in sorted(runs, key=lambda r: r["seed"]))
        lines.append(f"| {n_critic} | {objective} | {seeds} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Command: `python results/regime/saturation_table.py {args.runs} --out {args.out}`"
        f"{'' if args.window == 5 else f' --window {args.window}'}",
        f"Runs: {sum(map(len, groups.values()))}, iterations {sorted(iterations)}, git commits "
        f"{sorted(commits)}, device {device}, versions {versions}.",
    ]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
