"""Per-iteration training scalars as CSV in the run directory: DIR/train_log/metrics.csv.

W&B holds the same scalars, but a run directory should explain itself without a W&B account: the
saturation plots (``plot --metric train/g_logit_grad``) read this file.

Unlike Lightning's CSVLogger, a resumed run keeps the earlier rows (Lightning deletes the file) and
drops only those logged after the checkpoint it resumes from, which the resumed run logs again: no row
is lost or doubled. Every save replaces the file atomically, so a full disk or a kill never leaves half
a row.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from lightning.fabric.loggers.csv_logs import _ExperimentWriter
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment

from ganbench.runs.atomic import write_atomic

SUBDIR = "train_log"
FILE_NAME = "metrics.csv"


class RunCSVWriter(_ExperimentWriter):
    """Lightning's CSV writer that keeps what the file holds and replaces it atomically."""

    def __init__(self, log_dir: str, resume_step: int | None = None) -> None:
        self.metrics: list[dict[str, Any]] = []
        self.metrics_keys: list[str] = []
        self._fs = get_filesystem(log_dir)
        self.log_dir = log_dir
        self.metrics_file_path = os.path.join(log_dir, self.NAME_METRICS_FILE)
        self._rows: list[dict[str, Any]] = []
        path = Path(self.metrics_file_path)
        if resume_step is not None and path.is_file():
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                self.metrics_keys = list(reader.fieldnames or [])
                self._rows = [row for row in reader if _before_checkpoint(row, resume_step)]
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        if resume_step is not None and path.is_file():
            self._write()

    def save(self) -> None:
        if not self.metrics:
            return
        self._record_new_keys()
        self._rows.extend(self.metrics)
        self.metrics = []
        self._write()

    def _write(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.metrics_keys, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._rows)
        write_atomic(self.metrics_file_path, buffer.getvalue())


def _before_checkpoint(row: dict[str, Any], global_step: int) -> bool:
    """Whether a row was logged before the checkpoint taken after iteration ``global_step``.

    Training scalars of iteration i are logged at step i - 1, evaluations of iteration i at step i
    (before the checkpoint of that iteration, which holds them): the resumed run logs neither again.
    """
    try:
        step = float(row.get("step") or -1)
    except ValueError:
        return False
    if step < global_step:
        return True
    training = any(value not in ("", None) for key, value in row.items() if key.startswith("train/"))
    return step == global_step and not training


class RunCSVLogger(CSVLogger):
    """Lightning's CSVLogger writing to ``DIR/train_log/metrics.csv`` (DIR set by the CLI)."""

    def __init__(self, flush_logs_every_n_steps: int = 100) -> None:
        super().__init__(
            save_dir=".", name="", version=SUBDIR, flush_logs_every_n_steps=flush_logs_every_n_steps
        )
        self._resume_step: int | None = None

    def use_run_dir(self, run_dir: str | os.PathLike) -> None:
        if self._experiment is None:
            self._save_dir = self._root_dir = os.fspath(run_dir)
            self._fs = get_filesystem(self._root_dir)

    def resume_at(self, global_step: int) -> None:
        """Keep the rows of the run being resumed up to its checkpoint's ``global_step``."""
        self._resume_step = int(global_step)

    @property
    @rank_zero_experiment
    def experiment(self) -> RunCSVWriter:
        if self._experiment is None:
            self._experiment = RunCSVWriter(self.log_dir, self._resume_step)
        return self._experiment

    def log_hyperparams(self, params: Any = None) -> None:
        # The resolved config is in DIR/config.yaml and metrics.json; no hparams.yaml beside the CSV.
        return None
