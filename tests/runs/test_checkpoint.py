"""Checkpoints survive a full disk and divergence; last.ckpt is always the newest good state.

Issue 12's data-loss cases 2 (a full disk truncated last.ckpt and left metrics.json "running") and 7
(divergence deleted the periodic checkpoint).
"""

import errno
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import torch

import ganbench.runs.checkpoint as checkpoint_module
from ganbench.cli import main
from ganbench.module import GAN
from ganbench.runs.atomic import atomic_open, write_bytes_atomic
from ganbench.runs.checkpoint import AtomicCheckpointIO

REPO = Path(__file__).resolve().parents[2]
RING = str(REPO / "configs" / "toy" / "ring8.yaml")
QUICK = [
    "--evaluation.every_n_iterations=5",
    "--evaluation.num_samples=200",
    "--evaluation.plot=false",
    "--checkpoint.every_n_train_steps=5",
    "--trainer.logger=false",
    "--trainer.enable_progress_bar=false",
]


def disk_full_after(n_writes: int):
    """write_bytes_atomic that writes part of the data and fails with ENOSPC from the (n+1)-th call on."""
    calls = {"n": 0}

    def write(path, data):
        calls["n"] += 1
        if calls["n"] <= n_writes:
            return write_bytes_atomic(path, data)
        with atomic_open(path, "wb") as f:
            f.write(bytes(data[:100]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    return write


def test_atomic_io_leaves_the_previous_checkpoint_and_no_debris_on_a_full_disk(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 1}, path)
    monkeypatch.setattr(checkpoint_module, "write_bytes_atomic", disk_full_after(0))
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"global_step": 2}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True) == {"global_step": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]


def test_a_full_disk_stops_the_run_with_one_line_and_a_resumable_checkpoint(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    # Writes 1-2: the periodic and last checkpoints of iteration 5; the disk fills at iteration 10.
    monkeypatch.setattr(checkpoint_module, "write_bytes_atomic", disk_full_after(2))
    args = ["fit", "--config", RING, f"--trainer.default_root_dir={run_dir}", *QUICK]
    assert main([*args, "--trainer.max_steps=20"]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: {run_dir}") and "No space left on device" in line
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "crashed" and "No space left on device" in record["error"]
    last = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 5
    assert not list(run_dir.rglob("*.tmp"))

    monkeypatch.undo()  # space again: the README's resume command continues the run
    assert main([*args, "--trainer.max_steps=15", f"--ckpt_path={last}"]) == 0
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["iterations"] == 15


def test_a_real_full_file_system(tmp_path, ganbench_cli):
    """The run directory on a 2 MB tmpfs (needs root to mount): the same promises, no patching."""
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    name = f"ganbench-test-{uuid.uuid4().hex[:8]}"
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", name, str(mount)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        run_dir = mount / "run"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        result = ganbench_cli.run(  # `python -m ganbench fit`, forked: see tests/conftest.py
            [
                "fit",
                "--config",
                RING,
                f"--trainer.default_root_dir={run_dir}",
                *QUICK,
                "--trainer.max_steps=200",
            ],
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert result.returncode == 1, result.stderr[-2000:]
        line = result.stderr.strip().splitlines()[-1]
        assert line.startswith(f"error: {run_dir}") and "No space left on device" in line
        record = json.loads((run_dir / "metrics.json").read_text())
        assert record["status"] == "crashed" and "No space left" in record["error"]
        last = run_dir / "checkpoints" / "last.ckpt"
        state = torch.load(last, map_location="cpu", weights_only=True)
        assert 5 <= state["global_step"] < 200 and state["global_step"] % 5 == 0
        kept = tmp_path / "kept"
        shutil.copytree(run_dir, kept)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    done = state["global_step"]
    result = ganbench_cli.run(
        ["fit", "--config", RING, f"--trainer.default_root_dir={kept}"]
        + [*QUICK, f"--trainer.max_steps={done + 5}", f"--ckpt_path={kept / 'checkpoints' / 'last.ckpt'}"],
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((kept / "metrics.json").read_text())["iterations"] == done + 5


def test_divergence_keeps_every_periodic_checkpoint_and_a_finite_last(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    training_step = GAN.training_step

    def diverge_at_12(self, batch, batch_idx):
        training_step(self, batch, batch_idx)
        if self.global_step >= 12:  # G's weights become NaN at iteration 12
            with torch.no_grad():
                for p in self.generator.parameters():
                    p.fill_(float("nan"))

    monkeypatch.setattr(GAN, "training_step", diverge_at_12)
    args = ["fit", "--config", RING, f"--trainer.default_root_dir={run_dir}", *QUICK]
    assert main([*args, "--trainer.max_steps=40", "--model.divergence_check_every=1"]) == 0
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "diverged"
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert checkpoints == ["epoch=0-step=10.ckpt", "epoch=0-step=5.ckpt", "last.ckpt"]
    for name in checkpoints:
        state = torch.load(run_dir / "checkpoints" / name, map_location="cpu", weights_only=True)
        assert all(torch.isfinite(v).all() for v in state["state_dict"].values() if v.is_floating_point())
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 10


def test_last_checkpoint_is_the_final_state_off_the_interval(tmp_path):
    run_dir = tmp_path / "run"
    args = ["fit", "--config", RING, f"--trainer.default_root_dir={run_dir}", *QUICK]
    assert main([*args, "--trainer.max_steps=7"]) == 0
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 7
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["epoch=0-step=5.ckpt", "last.ckpt"]
