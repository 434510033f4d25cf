"""What a run prints: known library noise filtered, a progress bar with the losses and the headline
metric (a line every N iterations outside a terminal), and the run's result at the end."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
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
        self._lines_done = 0  # multiples of the line interval passed (set from the start step)

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        return progress_metrics(trainer.callback_metrics)

    def _every(self, trainer: Any) -> int:
        if self.line_every:
            return self.line_every
        total = trainer.max_steps if trainer.max_steps and trainer.max_steps > 0 else 10_000
        return max(total // 20, 1)

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self._started = time.monotonic()
        self._lines_done = trainer.global_step // self._every(trainer)
        if self.interactive:
            super().on_train_start(trainer, pl_module)

    def on_train_epoch_start(self, trainer: Any, *args: Any) -> None:
        if self.interactive:
            super().on_train_epoch_start(trainer, *args)

    def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
        step = trainer.global_step
        if self.interactive:
            outputs, batch, batch_idx = args
            # tqdm counts iterations, also when a training step runs several (model.iterations_per_step).
            per_step = pl_module.hparams.get("iterations_per_step", 1)
            super().on_train_batch_end(trainer, pl_module, outputs, batch, (batch_idx + 1) * per_step - 1)
            return
        # A line each time the iterations pass a multiple of the interval (a step may run several).
        lines_done = step // self._every(trainer)
        if lines_done > self._lines_done or step == trainer.max_steps:
            self._lines_done = lines_done
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
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def read_result(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The run's metrics.json as a dict, or None when there is none (not started, unreadable)."""
    try:
        record = json.loads((Path(run_dir) / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _status(record: dict[str, Any] | None) -> str:
    if record is None:
        return "no metrics.json"
    status = str(record.get("status"))
    if record.get("diverged_at") is not None:
        status += f" at {record['diverged_at']}"
    return status


def run_summary(run_dir: str | os.PathLike) -> str:
    """The result of the run in ``run_dir`` as a short table: status, iterations, final metrics, directory."""
    record = read_result(run_dir)
    if record is None:
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


MAX_TABLE_METRICS = 3  # columns of a results table when no metric of the runs is a headline one


def table_metrics(records: Sequence[dict[str, Any] | None]) -> list[str]:
    """The metric columns of a results table: the registry's headline metrics the runs report, else
    (image, classifier runs) the first few registered metrics they report, spreads (``*_std``) left out."""
    from ganbench.evaluation.metrics import KINDS, metrics_of

    reported = {key for record in records if record for key in (record.get("metrics") or {})}
    present = [metric for kind in KINDS for metric in metrics_of(kind) if metric.key in reported]
    headline = [metric.key for metric in present if metric.headline]
    return headline or [m.key for m in present if not m.key.endswith("_std")][:MAX_TABLE_METRICS]


def _header(key: str) -> str:
    from ganbench.evaluation.metrics import find_metric

    found = find_metric(key)
    return key if found is None else f"{key} {'↑' if found.higher_is_better else '↓'}"


def results_table(
    run_dirs: Sequence[str | os.PathLike], columns: dict[str, Sequence[str]] | None = None
) -> str:
    """The result of several runs, one line each: run directory, status, iterations, final headline
    metrics (arrows: the registry's better direction), read from each run's metrics.json.

    ``columns`` replaces the status column by the caller's own (e.g. a sweep's outcome of this call and
    its wall time), in that order, right after the directory.
    """
    records = [read_result(run_dir) for run_dir in run_dirs]
    metrics = table_metrics(records)
    if columns is None:
        columns = {"status": [_status(record) for record in records]}
    header = ["run directory", *columns, "iterations", *map(_header, metrics)]
    rows = [header]
    for i, (run_dir, record) in enumerate(zip(run_dirs, records, strict=True)):
        values = (record or {}).get("metrics") or {}
        iterations = (record or {}).get("iterations")
        rows.append(
            [
                str(run_dir),
                *(str(cells[i]) for cells in columns.values()),
                _format(iterations),
                *(_format(values.get(key)) for key in metrics),
            ]
        )
    widths = [max(len(row[j]) for row in rows) for j in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
