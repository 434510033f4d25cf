"""A run directory belongs to one run: refused when used, locked while running, nothing lost on bad input.

Issue 12's data-loss cases 1 (an option error destroyed a finished run), 4 (two processes on one
directory), 5 (a rerun wrote last-v1.ckpt beside the old last.ckpt) and 8 (a saved config.yaml re-ran
into its own directory).
"""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from ganbench.cli import main
from ganbench.runs.run_dir import (
    LOCK_NAME,
    RunDirectoryError,
    claim_run_dir,
    holds_run,
    is_locked,
)

REPO = Path(__file__).resolve().parents[2]
RING = str(REPO / "configs" / "toy" / "ring8.yaml")
QUICK = [
    "--trainer.max_steps=10",
    "--evaluation.every_n_iterations=5",
    "--evaluation.num_samples=200",
    "--checkpoint.every_n_train_steps=5",
    "--trainer.log_every_n_steps=2",
    "--trainer.enable_progress_bar=false",
]


def snapshot(run_dir: Path) -> dict[str, bytes]:
    """Every file of a run directory (the lock aside) with its bytes."""
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A completed 10-iteration run with its CSV log (W&B disabled), made once per module."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WANDB_MODE", "disabled")
        assert main(["fit", "--config", RING, f"--trainer.default_root_dir={run_dir}", *QUICK]) == 0
    return run_dir


@pytest.fixture
def run_dir(finished_run, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    copy = tmp_path / "run"
    shutil.copytree(finished_run, copy)
    return copy


def last_error(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert "Traceback" not in "\n".join(err) and not any(line.startswith("usage:") for line in err)
    return err[-1]


def test_claim_refuses_a_used_directory_and_overwrite_removes_only_run_files(tmp_path):
    run = tmp_path / "run"
    lock = claim_run_dir(run, resuming=False, overwrite=False)  # a new directory: claimed
    lock.release()
    (run / "metrics.json").write_text(json.dumps({"status": "completed", "iterations": 7}))
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / "last.ckpt").write_bytes(b"x")
    (run / "notes.txt").write_text("mine")
    (run / "sweep.log").write_text("a sweep's log is not a run")
    assert holds_run(run)
    with pytest.raises(RunDirectoryError, match=r"already holds a run \(status completed, 7 iterations\)"):
        claim_run_dir(run, resuming=False, overwrite=False)
    assert (run / "metrics.json").exists()
    claim_run_dir(run, resuming=True, overwrite=False).release()  # resuming its own run
    claim_run_dir(run, resuming=False, overwrite=True).release()
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME, "notes.txt", "sweep.log"]
    with pytest.raises(RunDirectoryError, match="is not a directory"):
        claim_run_dir(run / "notes.txt", resuming=False, overwrite=False)
    with pytest.raises(RunDirectoryError, match="is not a directory"):
        claim_run_dir(run / "notes.txt" / "below", resuming=False, overwrite=False)


def hold_lock(directory: Path) -> subprocess.Popen:
    """Another process that holds ``directory``'s lock until killed."""
    code = (
        "import sys, time; from filelock import FileLock; "
        f"lock = FileLock({str(directory / LOCK_NAME)!r}); lock.acquire(); print('held', flush=True); "
        "time.sleep(600)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_a_directory_held_by_a_live_process_is_refused_and_freed_when_it_dies(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    other = hold_lock(run)
    try:
        assert is_locked(run)
        with pytest.raises(RunDirectoryError, match="in use by another running process"):
            claim_run_dir(run, resuming=True, overwrite=True)
    finally:
        other.kill()  # SIGKILL: the operating system releases the lock
        other.wait()
    deadline = time.monotonic() + 10
    while is_locked(run) and time.monotonic() < deadline:
        time.sleep(0.1)
    claim_run_dir(run, resuming=False, overwrite=False).release()


def test_second_fit_on_a_live_run_directory_is_refused(run_dir, capsys):
    before = snapshot(run_dir)
    other = hold_lock(run_dir)
    try:
        code = main(
            ["fit", "--config", RING, f"--trainer.default_root_dir={run_dir}", *QUICK, "--overwrite=true"]
        )
    finally:
        other.kill()
        other.wait()
    assert code == 2
    assert "in use by another running process" in last_error(capsys)
    assert snapshot(run_dir) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_option_error_on_a_finished_run_touches_nothing(run_dir, capsys, overwrite):
    before = snapshot(run_dir)
    assert json.loads(before["metrics.json"])["status"] == "completed"
    assert "train_log/metrics.csv" in before
    args = ["fit", "--config", RING, "--model.betas=[2,3]", f"--trainer.default_root_dir={run_dir}", *QUICK]
    assert main([*args, f"--overwrite={str(overwrite).lower()}"]) == 2
    line = last_error(capsys)
    assert line.startswith("error: model.betas: ") and "beta" in line
    assert snapshot(run_dir) == before


def test_a_rerun_is_refused_and_overwrite_replaces_the_whole_run(run_dir, capsys):
    before = snapshot(run_dir)
    args = ["fit", "--config", RING, f"--trainer.default_root_dir={run_dir}", *QUICK]
    assert main(args) == 2
    line = last_error(capsys)
    assert "already holds a run (status completed, 10 iterations)" in line and "--overwrite=true" in line
    assert snapshot(run_dir) == before

    assert main([*args, "--trainer.max_steps=6", "--overwrite=true"]) == 0
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert checkpoints == ["epoch=0-step=5.ckpt", "last.ckpt"]  # no last-v1.ckpt, no step=10 of the old run
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 6  # the newest state of this run
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["iterations"] == 6
    steps = [line.split(",") for line in (run_dir / "train_log" / "metrics.csv").read_text().splitlines()]
    column = steps[0].index("step")
    assert max(float(row[column]) for row in steps[1:]) <= 6  # the old run's rows are gone


def test_the_saved_config_reruns_in_a_new_directory(run_dir, tmp_path, monkeypatch):
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["trainer"]["default_root_dir"] is None
    assert saved["ckpt_path"] is None and saved["overwrite"] is False
    before = snapshot(run_dir)
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--config", str(run_dir / "config.yaml")]) == 0
    assert snapshot(run_dir) == before
    (new,) = (tmp_path / "runs").iterdir()
    record = json.loads((new / "metrics.json").read_text())
    original = json.loads(before["metrics.json"])
    assert record["status"] == "completed" and record["metrics"] == original["metrics"]  # reproduced


def test_records_carry_provenance(run_dir):
    record = json.loads((run_dir / "metrics.json").read_text())
    assert isinstance(record["git_dirty"], bool)
    assert record["git_commit"].endswith("-dirty") == record["git_dirty"]
    assert (record["git_diff_sha256"] is None) == (not record["git_dirty"])
    if record["git_dirty"]:
        assert len(record["git_diff_sha256"]) == 64
