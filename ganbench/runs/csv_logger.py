"""Per-iteration training scalars as CSV in the run directory: DIR/train_log/metrics.csv.

W&B holds the same scalars, but a run directory should explain itself without a W&B account: the
saturation plots (``plot --metric train/g_logit_grad``) read this file.
"""

from __future__ import annotations

import os

from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.loggers import CSVLogger

SUBDIR = "train_log"


class RunCSVLogger(CSVLogger):
    """Lightning's CSVLogger writing to ``DIR/train_log/metrics.csv`` (DIR set by the CLI)."""

    def __init__(self, flush_logs_every_n_steps: int = 100) -> None:
        super().__init__(
            save_dir=".", name="", version=SUBDIR, flush_logs_every_n_steps=flush_logs_every_n_steps
        )

    def use_run_dir(self, run_dir: str | os.PathLike) -> None:
        if self._experiment is None:
            self._save_dir = self._root_dir = os.fspath(run_dir)
            self._fs = get_filesystem(self._root_dir)
