"""What a run prints: known library noise filtered, a progress bar with the losses and the headline
metric (a line every N iterations outside a terminal), and the run's result at the end."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import TQDMProgressBar

# Warnings users cannot act on (library internals, advice for automatic optimization).
KNOWN_NOISE = (
    r".*isinstance.treespec, LeafSpec.*",
    r".*LightningCLI.s args parameter.*",
    r".*manual optimization.*ModelCheckpoint.*|.*ModelCheckpoint.*manual optimization.*",
    r".*The anonymous setting has no effect.*",
    r".*does not have many workers.*",
    r".*You defined a `validation_step` but have no `val_dataloader`.*",
)
# Lightning's start-up chatter (device summary, tips, "`Trainer.fit` stopped: ..."): the result
# printed at the end says what matters.
CHATTY_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.seed",
    "lightning.pytorch",
)


def quiet_known_noise() -> None:
    """Filter the known library warnings and start-up messages for this process (and W&B's banner)."""
    for pattern in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("WANDB_SILENT", "true")  # ganbench prints its own one-line W&B notices


def headline_key(metrics: dict[str, Any], prefix: str = "eval/") -> str | None:
    """The key of the first headline metric among ``metrics`` (``eval/KEY``), else FID, else None."""
    from ganbench.evaluation.metrics import find_metric

    keys = [k for k in metrics if k.startswith(prefix)]
    for key in keys:
        found = find_metric(key.removeprefix(prefix))
        if found is not None and found.headline:
            return key
    return next((k for k in keys if k.endswith("/fid")), None)


def progress_metrics(callback_metrics: dict[str, Any]) -> dict[str, str]:
    """d_loss, g_loss and the last evaluation's headline metric, formatted for the bar."""
    shown = {}
    for key, label in (("train/d_loss", "d_loss"), ("train/g_loss", "g_loss")):
        if key in callback_metrics:
            shown[label] = f"{float(callback_metrics[key]):.3g}"
    key = headline_key(callback_metrics)
    if key is not None:
        shown[key.removeprefix("eval/")] = f"{float(callback_metrics[key]):.4g}"
    return shown


class RunProgressBar(TQDMProgressBar):
    """tqdm in a terminal; outside one (a log file, a sweep worker) one line every ``line_every``
    iterations instead of tqdm's carriage returns, so a 10k-iteration log stays a few KB."""

    def __init__(self, line_every: int | None = None, interactive: bool | None = None) -> None:
        super().__init__()
        self.interactive = sys.stderr.isatty() if interactive is None else interactive
        self.line_every = line_every
        self._started = time.monotonic()

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        return progress_metrics(trainer.callback_metrics)

    def _every(self, trainer: Any) -> int:
        if self.line_every:
            return self.line_every
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else 10_000
        return max(total // 20, 1)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._started = time.monotonic()
        if self.interactive:
            super().on_train_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: Any, *args: Any) -> None:
        if self.interactive:
            super().on_train_epoch_start(trainer, *args)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        if self.interactive:
            super().on_train_batch_end(trainer, pl_module, *args)
            return
        step = trainer.global_step
        if step % self._every(trainer) == 0 or step == trainer.max_steps:
            total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else "?"
            shown = "  ".join(f"{k} {v}" for k, v in progress_metrics(trainer.callback_metrics).items())
            seconds = time.monotonic() - self._started
            print(f"iteration {step}/{total}  {seconds:.0f}s  {shown}", file=sys.stderr, flush=True)

    def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if self.interactive:
            super().on_train_epoch_end(trainer, pl_module)

    def on_train_end(self, *args: Any) -> None:
        if self.interactive:
            super().on_train_end(*args)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def run_summary(run_dir: str | os.PathLike) -> str:
    """The result of the run in ``run_dir`` as a short table: status, iterations, final metrics, directory."""
    path = Path(run_dir) / "metrics.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return f"result: no metrics.json in {run_dir}"
    rows = [("status", record.get("status")), ("iterations", record.get("iterations"))]
    if record.get("diverged_at") is not None:
        rows.append(("diverged at", record["diverged_at"]))
    metrics = record.get("metrics") or {}
    rows += [(key, value) for key, value in metrics.items() if isinstance(value, (int, float))]
    rows.append(("run directory", str(run_dir)))
    width = max(len(str(k)) for k, _ in rows)
    return "\n".join(["result:", *(f"  {k:<{width}}  {_format(v)}" for k, v in rows)])


def print_run_summary(run_dir: str | os.PathLike, file: Any = None) -> None:
    print(run_summary(run_dir), file=file or sys.stdout, flush=True)
