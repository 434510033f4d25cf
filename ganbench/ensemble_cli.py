"""``python -m ganbench ensemble``: parse S seeds of one fit configuration and run them as a seed ensemble.

The command layer: every member is parsed, seeded and instantiated by the same LightningCLI code path
as ``fit --seed_everything=SEED`` (same initial weights), then handed to the executor
(``ganbench.ensemble.EnsembleRun``), which knows nothing of the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from ganbench.argparser import OneLineParser
from ganbench.ensemble import CPU_STACK_SIZE, EnsembleRun, Member, stack_sizes
from ganbench.evaluation.callback import Evaluation
from ganbench.runs.checkpoint import RunCheckpoint
from ganbench.runs.terminal import results_table


@contextlib.contextmanager
def _quiet_build() -> Iterator[None]:
    """Lightning's per-instantiation notices (seed set, GPU available, ...) once per member are noise;
    sys.argv is hidden because LightningCLI warns when it sees both ``args`` and a command line."""
    names = ("lightning.pytorch", "lightning.fabric")
    levels = {name: logging.getLogger(name).level for name in names}
    argv = sys.argv
    try:
        sys.argv = argv[:1]
        for name in names:
            logging.getLogger(name).setLevel(logging.WARNING)
        yield
    finally:
        sys.argv = argv
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def build_member(fit_args: Sequence[str], seed: int, run_dir: Path) -> tuple[Member, Evaluation, object]:
    """Parse, seed and instantiate the run ``fit FIT_ARGS --seed_everything=SEED`` would be.

    Also takes the data stream and the state of torch's RNG at the point where the run's first
    training step would start, so the member draws the same batches and noise as the run alone.
    """
    from ganbench.cli import lightning_main

    args = [*fit_args, f"--seed_everything={seed}", f"--trainer.default_root_dir={run_dir}"]
    with _quiet_build():
        cli = lightning_main([*args, "--trainer.logger=false"], run=False)
    config = cli._resolved_config()
    evaluation = next(cb for cb in cli.trainer.callbacks if isinstance(cb, Evaluation))
    # iter() over the run's data loader, as the fit loop does: it draws the loader's base seed from
    # torch's RNG, so the noise generator below starts where the run's first G(z) would. One
    # iteration's batch at a time: the ensemble's own loop has no per-step cost to spread over
    # several (model.iterations_per_step only groups fit's batches; the iterations are the same).
    batches = iter(cli.datamodule.batches_from(0))
    noise = torch.Generator()
    noise.set_state(torch.get_rng_state())
    member = Member(seed, run_dir, cli.model, cli.datamodule, config, batches, noise)
    return member, evaluation, cli.trainer


def build_ensemble(
    fit_args: Sequence[str], seeds: Sequence[int], run_dirs: Sequence[Path], stack_size: int | None = None
) -> EnsembleRun:
    """The ensemble of ``seeds``, member s writing to ``run_dirs[s]``, in stacks of ``stack_size`` seeds
    (None: ``CPU_STACK_SIZE`` on CPU, all seeds in one stack on an accelerator)."""
    if not seeds:
        raise ValueError("--seeds: name at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds: {list(seeds)} repeats a seed")
    if len(run_dirs) != len(seeds):
        raise ValueError(f"--run_dir: {len(run_dirs)} directories for {len(seeds)} seeds")
    stack_sizes(len(seeds), stack_size)  # a bad --stack_size is refused before the members are built
    members = []
    for seed, run_dir in zip(seeds, run_dirs, strict=True):
        member, evaluation, trainer = build_member(fit_args, seed, Path(run_dir))
        members.append(member)
    checkpoint = next((cb for cb in trainer.callbacks if isinstance(cb, RunCheckpoint)), None)
    device = trainer.strategy.root_device
    if stack_size is None and device.type == "cpu":
        stack_size = CPU_STACK_SIZE
    return EnsembleRun(
        members,
        evaluation,
        int(trainer.max_steps),
        int(trainer.log_every_n_steps),
        device,
        # The interval of fit's periodic checkpoints (checkpoint.every_n_train_steps) saves the
        # ensemble's resumable state; without checkpointing, none.
        checkpoint_every=int(getattr(checkpoint, "_every_n_train_steps", 0) or 0),
        overwrite=bool(members[0].config.get("overwrite")),
        stack_size=stack_size,
    )


def parse_seeds(text: str) -> list[int]:
    """``0,1,2``, ``0-9`` or a mix (``0-4,10``) -> a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise ValueError(f"--seeds: {text!r} is not a list of seeds or ranges (e.g. 0-9 or 0,1,5)")
        low, high = int(match[1]), int(match[2] or match[1])
        if high < low:
            raise ValueError(f"--seeds: the range {low}-{high} is empty")
        seeds += range(low, high + 1)
    return seeds


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m ganbench ensemble",
        description="Train several seeds of one fit configuration at once (stacked parameters, one "
        "process). Other arguments are fit's (e.g. --config FILE --model.objective=hinge); each seed "
        "writes the run directory a fit with --seed_everything=SEED would. Every "
        "checkpoint.every_n_train_steps iterations each member saves checkpoints/ensemble_last.ckpt; the "
        "same command continues an interrupted ensemble from there (--overwrite=true starts it again).",
    )
    p.add_argument("--seeds", required=True, help="seeds, e.g. 0-9 or 0,1,5")
    p.add_argument("--root", default="runs/ensemble", help="run directories ROOT/seed_everything=SEED")
    p.add_argument(
        "--run_dir",
        action="append",
        help="the run directory of one seed, in --seeds order; repeat it for every seed (instead of --root)",
    )
    p.add_argument(
        "--stack_size",
        type=int,
        default=None,
        help=f"seeds per stack: the stacks take turns each iteration (default: {CPU_STACK_SIZE} on CPU, "
        "where larger stacks outgrow the caches and run slower per seed; all seeds on an accelerator)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench ensemble``: 0 when every member finished (completed or diverged)."""
    try:
        args, fit_args = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        seeds = parse_seeds(args.seeds)
        if args.run_dir:
            run_dirs = [Path(d) for d in args.run_dir]
        else:
            run_dirs = [Path(args.root) / f"seed_everything={s}" for s in seeds]
        for flag in ("--seed_everything", "--trainer.default_root_dir"):
            if any(a == flag or a.startswith(flag + "=") for a in fit_args):
                raise ValueError(f"{flag}: set by the ensemble (use --seeds and --root or --run_dir)")
        started = time.time()
        # A preempted job gets SIGTERM: stop as on Ctrl-C, recording the members as interrupted (their
        # last checkpoints/ensemble_last.ckpt resumes them).
        signal.signal(signal.SIGTERM, _interrupt)
        run = build_ensemble(fit_args, seeds, run_dirs, args.stack_size)
        built = time.time()
        run.run()
    except ValueError as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: members recorded as interrupted", file=sys.stderr)
        return 130
    counts: dict[str, int] = {}
    for member in run.members:
        counts[member.status] = counts.get(member.status, 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(results_table(run_dirs))
    print(
        f"{len(seeds)} seeds, {run.iteration} iterations: {summary}; "
        f"setup {built - started:.1f} s, training {time.time() - built:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
