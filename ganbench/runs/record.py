"""The run record: DIR/metrics.json, rewritten atomically as the run goes, explains the run by itself."""

from __future__ import annotations

import functools
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import lightning
import torch
from lightning.pytorch import Callback, LightningModule, Trainer

import ganbench
from ganbench.runs.atomic import write_json_atomic


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "ganbench": ganbench.__version__,
    }


@functools.cache
def git_commit() -> str | None:
    """The commit of the ganbench source, with "-dirty" when it has uncommitted changes.

    Read once per process: the code that runs is the code imported at its start, and records are
    rewritten often (every evaluation, every ensemble member)."""
    source = Path(ganbench.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(source), "status", "--porcelain", "--untracked-files=normal"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


class RunRecord(Callback):
    """Writes ``DIR/metrics.json`` (DIR = ``trainer.default_root_dir``) on rank 0.

    ``status`` is "running" while training (rewritten after each evaluation), then "completed",
    "diverged" (NaN/inf; with ``diverged_at``), "interrupted" or "crashed" (with ``error``).
    """

    filename = "metrics.json"

    def __init__(self) -> None:
        self.config: dict[str, Any] = {}  # the resolved config, set by the CLI
        self._started = time.time()
        self._history_written = -1

    def path(self, trainer: Trainer) -> Path:
        return Path(trainer.default_root_dir) / self.filename

    def write(self, trainer: Trainer, module: LightningModule, status: str, **extra: Any) -> None:
        if not trainer.is_global_zero:
            return
        record = run_record(
            module, status, trainer.global_step, self.config, time.time() - self._started, **extra
        )
        write_json_atomic(self.path(trainer), record)
        self._history_written = len(module.evaluation_history)

    def on_train_start(self, trainer: Trainer, module: LightningModule) -> None:
        self._started = time.time()
        self.write(trainer, module, "running")

    def on_train_batch_end(self, trainer: Trainer, module: LightningModule, *args: Any) -> None:
        if len(module.evaluation_history) != self._history_written:
            self.write(trainer, module, "running")

    def on_fit_end(self, trainer: Trainer, module: LightningModule) -> None:
        if module.check_divergence():
            self.write(trainer, module, "diverged")
        elif trainer.interrupted:
            self.write(trainer, module, "interrupted")
        else:
            self.write(trainer, module, "completed")

    def on_exception(self, trainer: Trainer, module: LightningModule, exception: BaseException) -> None:
        if trainer.state.fn != "fit":
            return
        status = "interrupted" if isinstance(exception, KeyboardInterrupt) else "crashed"
        self.write(trainer, module, status, error=f"{type(exception).__name__}: {exception}")


def run_record(
    module: Any, status: str, iterations: int, config: dict[str, Any], wall_time_s: float, **extra: Any
) -> dict[str, Any]:
    """The content of metrics.json for a GAN module after ``iterations`` iterations."""
    return {
        "status": status,
        "iterations": iterations,
        "seed": config.get("seed_everything"),
        "objective": module.objective.describe(),
        "metrics": module.final_metrics,
        "history": module.evaluation_history,
        "diverged_at": module.diverged_at,
        **extra,
        "wall_time_s": round(wall_time_s, 3),
        "device": device_name(module.device),
        "config": config,
        "versions": versions(),
        "git_commit": git_commit(),
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
