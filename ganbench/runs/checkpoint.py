"""Checkpoints in the run directory: DIR/checkpoints/, with last.ckpt always present."""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint saving into ``DIR/checkpoints`` every ``every_n_train_steps`` iterations.

    Intervals are in generator iterations: the GAN module makes ``global_step`` count iterations.
    """

    def __init__(self, every_n_train_steps: int = 1000, save_last: bool = True, **kwargs: Any) -> None:
        super().__init__(every_n_train_steps=every_n_train_steps, save_last=save_last, **kwargs)

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = os.path.join(trainer.default_root_dir, "checkpoints")
        super().setup(trainer, pl_module, stage)

    def _save_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        # Never overwrite a good checkpoint with a diverged (NaN/inf) state: resuming must be possible.
        if trainer.lightning_module.check_divergence():
            return
        super()._save_checkpoint(trainer, filepath)
