"""A run directory belongs to one run: claimed under a lock held for the whole run.

``claim_run_dir`` is called once every option is validated and before the first byte is written. It
refuses a path that is not a directory or not writable, a directory another live process holds (the
``filelock`` lock ``DIR/.lock``, released by the operating system when that process dies, even by
SIGKILL), and a directory that already holds a run unless the run is being resumed (``--ckpt_path``) or
the user asked to overwrite it (``--overwrite=true``, which removes the earlier run's files first).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from filelock import FileLock, Timeout

from ganbench.runs.record import RECORD_NAME, RecordError, read_record

LOCK_NAME = ".lock"
OVERWRITE_OPTION = "--overwrite=true"
# What a run writes in its directory: any of them means the directory holds a run. Files others put
# there (a sweep's sweep.log and sweep-args.json, the user's notes) are neither a run nor removed.
RUN_FILES = (RECORD_NAME, "config.yaml", "wandb_run_id", "lightning_logs")
RUN_FOLDERS = ("checkpoints", "train_log", "samples", "wandb")


class RunDirectoryError(ValueError):
    """The run directory cannot be used: one line naming the directory and what to do."""


def holds_run(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` has any file a run writes (a record, a config, checkpoints, logs)."""
    run_dir = Path(run_dir)
    return any((run_dir / name).exists() for name in (*RUN_FILES, *RUN_FOLDERS))


def describe_run(run_dir: str | os.PathLike) -> str:
    """``status completed, 5000 iterations`` from the record, for messages."""
    try:
        record = read_record(run_dir)
    except RecordError:
        return "no readable metrics.json"
    return f"status {record['status']}, {record.get('iterations')} iterations"


def remove_run(run_dir: str | os.PathLike) -> None:
    """Delete the files a run wrote in ``run_dir`` (nothing else): what ``--overwrite=true`` does."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        path = run_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        path = run_dir / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.is_dir():
            shutil.rmtree(path)


def check_writable(run_dir: str | os.PathLike, field: str = "trainer.default_root_dir") -> Path:
    """Refuse a path that is a file, or under a file, or in a folder this user cannot write to."""
    run_dir = Path(run_dir)
    existing = run_dir
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise RunDirectoryError(f"{field}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise RunDirectoryError(f"{field}: {existing} is not writable")
    return run_dir


def lock_run_dir(run_dir: str | os.PathLike, field: str = "trainer.default_root_dir") -> FileLock:
    """Take ``DIR/.lock`` without waiting; a directory held by a live process is a one-line error."""
    run_dir = check_writable(run_dir, field)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunDirectoryError(f"{field}: cannot create {run_dir} ({error.strerror})") from None
    lock = FileLock(run_dir / LOCK_NAME, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunDirectoryError(
            f"{field}: {run_dir} is in use by another running process (it holds {run_dir / LOCK_NAME}); "
            "wait for it to end or choose another directory"
        ) from None
    except OSError as error:
        raise RunDirectoryError(f"{field}: cannot lock {run_dir} ({error.strerror})") from None
    return lock


def is_locked(run_dir: str | os.PathLike) -> bool:
    """Whether a live process holds ``run_dir`` now (for sweeps, which must not start a second one)."""
    path = Path(run_dir) / LOCK_NAME
    if not path.exists():
        return False
    lock = FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    except OSError:
        return False
    lock.release()
    return False


def claim_run_dir(
    run_dir: str | os.PathLike,
    resuming: bool,
    overwrite: bool,
    field: str = "trainer.default_root_dir",
    command: str = "fit",
) -> FileLock:
    """Lock ``run_dir`` for this process and make sure it is this run's; returns the held lock.

    A directory that holds a run is refused unless ``resuming`` (the run continues from its checkpoint)
    or ``overwrite`` (the earlier run's files are removed). Release the lock (``lock.release()``) when
    the run ends; the operating system releases it if the process dies.
    """
    lock = lock_run_dir(run_dir, field)
    try:
        if holds_run(run_dir) and not resuming:
            if not overwrite:
                resume = f"resume it with --ckpt_path={Path(run_dir) / 'checkpoints' / 'last.ckpt'}, "
                raise RunDirectoryError(
                    f"{field}: {run_dir} already holds a run ({describe_run(run_dir)}); "
                    f"{resume if command == 'fit' else f'{command} writes a run directory of its own: '}"
                    f"choose another directory, or pass {OVERWRITE_OPTION} to replace it"
                )
            remove_run(run_dir)
    except BaseException:
        lock.release()
        raise
    return lock
