"""Checkpoints in the run directory: DIR/checkpoints/, with last.ckpt always the newest good state.

Every ``every_n_train_steps`` iterations a periodic checkpoint ``epoch=0-step=N.ckpt`` is written and
kept (``save_top_k=-1``; with ``--checkpoint.monitor`` the best ``save_top_k`` are kept instead), and
``last.ckpt`` is replaced. Files are written by ``AtomicCheckpointIO``: a temporary file in the
checkpoint's own directory, fsynced, then renamed, so a full disk or a kill never leaves a truncated
checkpoint and the previous one stays intact.
"""

from __future__ import annotations

import io
import os
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from ganbench.runs.atomic import write_bytes_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a temporary file beside the checkpoint, then an atomic rename.

    Lightning's own IO moves a file written in the system's temporary directory, which on another file
    system is a copy that a full disk truncates.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint: storage_options is not supported")
        # Serialised in memory first: torch.save on a full disk fails with an opaque RuntimeError,
        # a plain write with OSError(ENOSPC) naming the file.
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes_atomic(path, buffer.getbuffer())


def use_atomic_checkpoints(trainer: Trainer) -> None:
    """Make ``trainer`` write checkpoints with AtomicCheckpointIO unless the user chose another IO."""
    if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
        trainer.strategy.checkpoint_io = AtomicCheckpointIO()


class RunCheckpoint(ModelCheckpoint):
    """ModelCheckpoint saving into ``DIR/checkpoints`` every ``every_n_train_steps`` iterations.

    Intervals are in generator iterations: the GAN module makes ``global_step`` count iterations.
    Periodic checkpoints are all kept (``save_top_k=-1``) unless a ``monitor`` keeps the best k. A
    diverged (NaN/inf) state is never saved and never replaces or deletes a good checkpoint; names are
    never versioned (no ``last-v1.ckpt``: the run directory belongs to one run).
    """

    def __init__(
        self,
        every_n_train_steps: int = 1000,
        save_last: bool = True,
        save_top_k: int = -1,
        monitor: str | None = None,
        mode: str = "min",
        **kwargs: Any,
    ) -> None:
        if every_n_train_steps is not None and every_n_train_steps < 0:
            raise ValueError(f"checkpoint.every_n_train_steps: must be >= 0, got {every_n_train_steps}")
        if save_top_k < -1:
            raise ValueError(f"checkpoint.save_top_k: must be >= -1 (-1 keeps all), got {save_top_k}")
        if monitor is None and save_top_k not in (-1, 0, 1):
            raise ValueError(
                f"checkpoint.save_top_k: {save_top_k} needs checkpoint.monitor to rank checkpoints; "
                "without it valid choices: -1 (keep all), 0, 1 (keep the latest)"
            )
        if mode not in ("min", "max"):
            raise ValueError(f"checkpoint.mode: {mode!r}; valid choices: min, max")
        kwargs.setdefault("enable_version_counter", False)
        super().__init__(
            every_n_train_steps=every_n_train_steps,
            save_last=save_last,
            save_top_k=save_top_k,
            monitor=monitor,
            mode=mode,
            **kwargs,
        )

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if self.dirpath is None:
            self.dirpath = os.path.join(trainer.default_root_dir, "checkpoints")
        super().setup(trainer, pl_module, stage)

    @staticmethod
    def _diverged(trainer: Trainer) -> bool:
        return bool(trainer.lightning_module.check_divergence())

    def _save_topk_checkpoint(self, trainer: Trainer, monitor_candidates: dict[str, Any]) -> None:
        # Skipped as a whole: Lightning would otherwise delete the previous checkpoint it replaces.
        if not self._diverged(trainer):
            super()._save_topk_checkpoint(trainer, monitor_candidates)

    def _save_last_checkpoint(self, trainer: Trainer, monitor_candidates: dict[str, Any]) -> None:
        if not self._diverged(trainer):
            super()._save_last_checkpoint(trainer, monitor_candidates)

    def _save_checkpoint(self, trainer: Trainer, filepath: str) -> None:
        # Never overwrite a good checkpoint with a diverged (NaN/inf) state: resuming must be possible.
        if self._diverged(trainer):
            return
        super()._save_checkpoint(trainer, filepath)

    def on_exception(self, trainer: Trainer, pl_module: Any, exception: BaseException) -> None:
        # SIGTERM (preemption) stops between iterations: save that state, so the resumed run loses
        # nothing. A ^C can land inside an iteration, so it keeps the last periodic checkpoint.
        if isinstance(exception, SIGTERMException) and trainer.world_size == 1 and self.save_last:
            if trainer.global_step > self._last_global_step_saved:
                self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            return
        super().on_exception(trainer, pl_module, exception)

    def on_train_end(self, trainer: Trainer, pl_module: Any) -> None:
        # last.ckpt is the run's final state, also when max_steps is not a multiple of the interval.
        if self.save_last and trainer.global_step > self._last_global_step_saved:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
        else:
            super().on_train_end(trainer, pl_module)
