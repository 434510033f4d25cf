"""Seed-iterations per second of a seed ensemble against one seed per process (issue: seed ensembles).

    python benchmarks/ensemble_throughput.py [--config configs/toy/ring8.yaml] [--sizes 1,8,64,256]
        [--objective nonsaturating] [--accelerator cpu|gpu] [--out results/ensemble_throughput.md]

One seed per process is timed as what a sweep runs: ``python -m ganbench fit`` in a fresh process, at
two budgets, so that the process start (imports, parsing, Lightning setup, the final evaluation) and
the steady rate per iteration are both measured. The ensemble is timed in this process: setup
(building S runs) and the training loop, without periodic evaluation in either, in the ensemble
command's default stacks (at most ``ganbench.ensemble.CPU_STACK_SIZE`` seeds on CPU, one stack on a GPU;
results/ensemble_throughput.md before 2026-11-26 ran every S in one stack). The table ends with
what a whole run of ``--budget`` iterations costs per seed both ways.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightning
import torch

from ganbench.ensemble_cli import build_ensemble
from ganbench.runs.atomic import write_atomic


def fit_wall_time(config: str, objective: str, steps: int, root: Path, extra: list[str]) -> float:
    args = [
        sys.executable, "-m", "ganbench", "fit", "--config", config, f"--model.objective={objective}", *extra,
        f"--trainer.max_steps={steps}", "--evaluation.every_n_iterations=0", "--evaluation.plot=false",
        "--checkpoint.every_n_train_steps=0", "--trainer.logger=false", f"--trainer.default_root_dir={root}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def ensemble_rate(
    config: str, objective: str, size: int, steps: int, root: Path, extra: list[str]
) -> tuple[float, float]:
    """(setup seconds, seed-iterations per second of the training loop)."""
    args = ["--config", config, f"--model.objective={objective}", f"--trainer.max_steps={steps}", *extra,
            "--evaluation.every_n_iterations=0", "--evaluation.plot=false"]  # fmt: skip
    started = time.perf_counter()
    run = build_ensemble(args, list(range(size)), [root / f"s{i}" for i in range(size)])
    built = time.perf_counter()
    run.run()
    # The final evaluation (one per member) is not training: time the loop without it.
    return built - started, size * steps / (run.loop_seconds or float("nan"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/toy/ring8.yaml")
    p.add_argument("--objective", default="nonsaturating")
    p.add_argument("--sizes", default="1,8,64,256")
    p.add_argument("--seed_iterations", type=int, default=2048, help="seed-iterations per ensemble timing")
    p.add_argument("--fit_steps", default="100,1100", help="two budgets for the one-seed-per-process fit")
    p.add_argument("--budget", type=int, default=20000, help="iterations of a whole run, for the last column")
    p.add_argument("--repeats", type=int, default=2, help="timings per cell; the fastest is kept (2)")
    p.add_argument("--accelerator", default=None, help="--trainer.accelerator for both ways (config's)")
    p.add_argument("--out", help="also write the table (Markdown) here")
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    short, long = (int(s) for s in args.fit_steps.split(","))
    extra = [f"--trainer.accelerator={args.accelerator}"] if args.accelerator else []
    on_gpu = args.accelerator in ("gpu", "cuda") or "accelerator: gpu" in Path(args.config).read_text()
    device = torch.cuda.get_device_name() if on_gpu else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # The fastest of --repeats: other work on the machine only ever slows a timing down.
        t_short = min(
            fit_wall_time(args.config, args.objective, short, root / f"fit_short{i}", extra)
            for i in range(args.repeats)
        )
        t_long = min(
            fit_wall_time(args.config, args.objective, long, root / f"fit_long{i}", extra)
            for i in range(args.repeats)
        )
        single_rate = (long - short) / (t_long - t_short)
        single_fixed = t_short - short / single_rate
        rows = [("1 per process", f"{single_fixed:.1f}", f"{single_rate:.0f}", "1.00",
                 f"{single_fixed + args.budget / single_rate:.0f}", "1.00")]  # fmt: skip
        whole_single = single_fixed + args.budget / single_rate
        for size in sizes:
            steps = max(args.seed_iterations // size, 8)
            timings = [
                ensemble_rate(args.config, args.objective, size, steps, root / f"ens{size}-{i}", extra)
                for i in range(args.repeats)
            ]
            setup, rate = min(t[0] for t in timings), max(t[1] for t in timings)
            whole = (setup + size * args.budget / rate) / size
            rows.append((f"ensemble S={size}", f"{setup:.1f}", f"{rate:.0f}", f"{rate / single_rate:.2f}",
                         f"{whole:.0f}", f"{whole_single / whole:.2f}"))  # fmt: skip
            print(rows[-1], flush=True)
    header = ("how", "setup (s)", "seed-it/s", "x steady", f"s per seed for {args.budget} it", "x whole run")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    command = "python " + " ".join([sys.argv[0], *sys.argv[1:]])
    info = (
        f"\n`{command}`  \n{args.objective} on {args.config}; device {device} "
        f"({platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads); "
        f"python {platform.python_version()}, torch {torch.__version__}, lightning {lightning.__version__}; "
        f"ensemble timings exclude the final evaluation, fit timings include it (one per run); "
        f"fastest of {args.repeats} timings per cell. Seeds: the config's seed_everything for fit, 0..S-1 "
        f"for an ensemble of S; fit timed at {short} and {long} iterations, each ensemble for "
        f"max({args.seed_iterations} // S, 8) iterations; no periodic evaluation, the final one on the "
        f"config's evaluation samples.\n"
    )
    table = "\n".join(lines) + "\n" + info
    print(table)
    if args.out:
        write_atomic(Path(args.out), table)


if __name__ == "__main__":
    main()
