"""A seed ensemble's resumable state, one file per member: ``DIR/checkpoints/ensemble_last.ckpt``.

Each member's file holds its slice of the stacks (G, D, Adam moments, EMA), the shared loop state
(iteration, learning-rate schedules), its noise generator's state and its evaluation history, so
an ensemble killed mid-way (preemption, a session's end) continues where it stopped: the same
``ensemble`` command (or the sweep that launched it) finds every member's file at one iteration and
resumes. Batches are counter-seeded (``ganbench.data.module``), so the resumed members draw exactly
the batches of an uninterrupted run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CHECKPOINT_NAME = "ensemble_last.ckpt"
FORMAT = 1


def checkpoint_path(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / "checkpoints" / CHECKPOINT_NAME


def save_member_checkpoint(run_dir: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write one member's state atomically (a reader sees the previous file or this one)."""
    import torch

    from ganbench.runs.atomic import atomic_path

    path = checkpoint_path(run_dir)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
    return path


def load_member_checkpoint(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The member's saved state, or None when there is none or it cannot be read."""
    import torch

    path = checkpoint_path(run_dir)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # a truncated or foreign file is not a state to resume from
        return None
    return state if isinstance(state, dict) and state.get("format") == FORMAT else None


def resumable_states(
    run_dirs: Sequence[str | os.PathLike], seeds: Sequence[int]
) -> list[dict[str, Any]] | None:
    """Every member's state when all were saved by one ensemble of ``seeds`` at one iteration, else None."""
    states = [load_member_checkpoint(d) for d in run_dirs]
    if any(s is None for s in states):
        return None
    iterations = {s["iteration"] for s in states}  # type: ignore[index]
    same_ensemble = all(list(s["seeds"]) == list(seeds) for s in states)  # type: ignore[index]
    own_seed = all(s["seed"] == seed for s, seed in zip(states, seeds, strict=True))  # type: ignore[index]
    return states if len(iterations) == 1 and same_ensemble and own_seed else None  # type: ignore[return-value]


def resumable(run_dirs: Sequence[str | os.PathLike], seeds: Sequence[int]) -> bool:
    """Whether ``ganbench ensemble`` over these directories and seeds would resume (for sweeps)."""
    return resumable_states(run_dirs, seeds) is not None
