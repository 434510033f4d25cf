"""The run record: DIR/metrics.json, rewritten atomically as the run goes, explains the run by itself.

This module owns the format: the file name, the status words, the reader and the writer, and the
provenance (versions, git commit, whether the tree was dirty and a hash of the difference). Everyone
else (the fit callback, the ensemble, sweeps, tables, plots) imports it rather than retyping it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import lightning
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities.exceptions import SIGTERMException

import ganbench
from ganbench.runs.atomic import write_json_atomic

RECORD_NAME = "metrics.json"

RUNNING = "running"
COMPLETED = "completed"
DIVERGED = "diverged"  # NaN/inf: a result of the objective, not a failure of the run
INTERRUPTED = "interrupted"  # stopped from outside (Ctrl-C, SIGTERM, preemption): resumable
CRASHED = "crashed"  # an error (with ``error``): a failure
STATUSES = (RUNNING, COMPLETED, DIVERGED, INTERRUPTED, CRASHED)
FINISHED = (COMPLETED, DIVERGED)  # finished results: a sweep skips them, a table counts them
FAILED = (CRASHED,)


class RecordError(ValueError):
    """A missing or unreadable metrics.json: the message is one line naming the file."""


def record_path(run_dir_or_path: str | os.PathLike) -> Path:
    """``DIR/metrics.json`` for a run directory; a path to a ``.json`` file is taken as it is."""
    path = Path(run_dir_or_path)
    return path if path.suffix == ".json" and not path.is_dir() else path / RECORD_NAME


def read_record(run_dir_or_path: str | os.PathLike) -> dict[str, Any]:
    """The run record of a run directory (or of a metrics.json path); RecordError if missing/corrupt."""
    path = record_path(run_dir_or_path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RecordError(f"{path}: no such file") from None
    except OSError as error:
        raise RecordError(f"{path}: cannot read ({error.strerror})") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path}: not a run record (expected a JSON object)")
    if record.get("status") not in STATUSES:
        raise RecordError(f"{path}: status {record.get('status')!r} is not one of {', '.join(STATUSES)}")
    return record


def record_status(run_dir: str | os.PathLike) -> str | None:
    """The run's status, or None when it has no readable record."""
    try:
        return read_record(run_dir)["status"]
    except RecordError:
        return None


def write_record(run_dir: str | os.PathLike, record: dict[str, Any]) -> Path:
    """Replace ``DIR/metrics.json`` atomically (non-finite floats become null)."""
    if record.get("status") not in STATUSES:
        raise ValueError(f"status: {record.get('status')!r} is not one of {', '.join(STATUSES)}")
    return write_json_atomic(record_path(run_dir), record)


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "ganbench": ganbench.__version__,
    }


def _git(*args: str) -> bytes:
    source = Path(ganbench.__file__).resolve().parent.parent
    return subprocess.run(
        ["git", "-C", str(source), *args], capture_output=True, timeout=30, check=True
    ).stdout


@functools.cache
def provenance() -> dict[str, Any]:
    """``git_commit`` (with "-dirty" when the tree has changes, as records always had it), ``git_dirty``
    and ``git_diff_sha256``: sha256 of ``git diff HEAD`` plus the untracked file names (null when clean).
    All null when the source is not a git checkout. With GANBENCH_SOURCE_MANIFEST set, the source is
    checked against that manifest instead (``manifest_provenance``).

    Read once per process: the code that runs is the code imported at its start, and records are
    rewritten often (every evaluation, every ensemble member)."""
    manifest = os.environ.get(SOURCE_MANIFEST_ENV)
    if manifest:
        # A shipped copy: its own .git, if any, need not be the commit it was made from (a GPU machine's
        # copy of the tree sat on the session's first commit), so the manifest decides.
        return manifest_provenance(Path(manifest), Path(ganbench.__file__).resolve().parent.parent)
    try:
        commit = _git("rev-parse", "HEAD").decode().strip()
        diff = _git("diff", "HEAD", "--binary")
        untracked = _git("ls-files", "--others", "--exclude-standard", "-z")
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None, "git_diff_sha256": None}
    dirty = bool(diff or untracked)
    digest = diff_sha256(diff, untracked) if dirty else None
    return {
        "git_commit": commit + ("-dirty" if dirty else ""),
        "git_dirty": dirty,
        "git_diff_sha256": digest,
    }


SOURCE_MANIFEST_ENV = "GANBENCH_SOURCE_MANIFEST"


def diff_sha256(diff: bytes, untracked: bytes) -> str:
    """A record's ``git_diff_sha256``: of ``git diff HEAD --binary`` and the NUL-separated untracked names."""
    return hashlib.sha256(diff + b"\0untracked\0" + untracked).hexdigest()


def git_blob_sha1(data: bytes) -> str:
    """The object name git gives a file with these bytes (``git hash-object``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def manifest_provenance(manifest: Path, source: Path) -> dict[str, Any]:
    """Provenance of a copy of a commit that is not a git checkout (a tree shipped to a cluster node or
    a GPU machine without its .git): ``manifest`` is ``git rev-parse HEAD`` followed by ``git ls-files
    -s`` of that commit, written where the checkout is. Every listed file of ``source`` is hashed as git
    would; the copy counts as clean only if all of them match (files not in the manifest are not seen)."""
    lines = manifest.read_text().splitlines()
    commit, entries = lines[0].strip(), lines[1:]
    mismatched = []
    for entry in entries:
        meta, _, name = entry.partition("\t")
        expected = meta.split()[1]
        path = source / name
        if not path.is_file() or git_blob_sha1(path.read_bytes()) != expected:
            mismatched.append(name)
    dirty = bool(mismatched)
    digest = hashlib.sha256("\0".join(mismatched).encode()).hexdigest() if dirty else None
    return {
        "git_commit": commit + ("-dirty" if dirty else ""),
        "git_dirty": dirty,
        "git_diff_sha256": digest,
        "git_source": f"manifest of {len(entries)} files",
    }


def git_commit() -> str | None:
    """The commit of the ganbench source, with "-dirty" when it has uncommitted changes."""
    return provenance()["git_commit"]


class RunRecord(Callback):
    """Writes ``DIR/metrics.json`` (DIR = ``trainer.default_root_dir``) on rank 0.

    ``status`` is RUNNING while training (rewritten after each evaluation), then COMPLETED, DIVERGED
    (NaN/inf; with ``diverged_at``), INTERRUPTED or CRASHED (with ``error``).
    """

    filename = RECORD_NAME

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
        write_record(trainer.default_root_dir, record)
        self._history_written = len(module.evaluation_history)

    def on_train_start(self, trainer: Trainer, module: LightningModule) -> None:
        self._started = time.time()
        self.write(trainer, module, RUNNING)

    def on_train_batch_end(self, trainer: Trainer, module: LightningModule, *args: Any) -> None:
        if len(module.evaluation_history) != self._history_written:
            self.write(trainer, module, RUNNING)

    def on_fit_end(self, trainer: Trainer, module: LightningModule) -> None:
        if module.check_divergence():
            self.write(trainer, module, DIVERGED)
        elif trainer.interrupted:
            self.write(trainer, module, INTERRUPTED)
        else:
            self.write(trainer, module, COMPLETED)

    def on_exception(self, trainer: Trainer, module: LightningModule, exception: BaseException) -> None:
        if trainer.state.fn != "fit":
            return
        # SIGTERM (a scheduler's preemption, a sweep stopping) is an interruption, resumable like ^C.
        stopped = isinstance(exception, (KeyboardInterrupt, SIGTERMException))
        status = INTERRUPTED if stopped else CRASHED
        try:
            self.write(trainer, module, status, error=f"{type(exception).__name__}: {exception}")
        except OSError as error:  # a full disk: the original error is the one to report
            print(f"ganbench: could not record status {status} ({error.strerror})", file=sys.stderr)


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
        **provenance(),
    }


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
