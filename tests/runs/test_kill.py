"""A run killed with SIGKILL mid-way leaves a valid metrics.json and a loadable last.ckpt."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
RING = str(REPO / "configs" / "toy" / "ring8.yaml")


def test_sigkill_leaves_valid_record_and_checkpoint_that_resumes(tmp_path, ganbench_cli):
    run_dir = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "ganbench",
        "fit",
        "--config",
        RING,
        f"--trainer.default_root_dir={run_dir}",
        "--evaluation.every_n_iterations=10",
        "--evaluation.num_samples=200",
        "--evaluation.plot=false",
        "--checkpoint.every_n_train_steps=10",
        "--trainer.logger=false",
        "--trainer.enable_progress_bar=false",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [*args, "--trainer.max_steps=100000"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    record_path = run_dir / "metrics.json"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if record_path.exists() and len(json.loads(record_path.read_text())["history"]) >= 3:
                break
        else:
            raise AssertionError("the run never reached 3 evaluations")
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()

    record = json.loads(record_path.read_text())  # valid JSON: replaced atomically
    assert record["status"] == "running"
    assert len(record["history"]) >= 3
    assert not list(run_dir.glob(".metrics.json.*.tmp"))
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    done = checkpoint["global_step"]
    assert done >= 10 and done % 10 == 0

    # The resumed run: `python -m ganbench fit` again, in a process forked for it (see tests/conftest.py).
    resume = [f"--trainer.max_steps={done + 10}", f"--ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}"]
    result = ganbench_cli.run([*args[3:], *resume], env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = json.loads(record_path.read_text())
    assert resumed["status"] == "completed" and resumed["iterations"] == done + 10
