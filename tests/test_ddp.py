"""DDP on two CPU processes (gloo): synchronised weights, per-rank data and noise, one metrics.json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def run(args, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_ranks_share_weights_but_not_data_or_noise(tmp_path):
    out = tmp_path / "probe.json"
    run([str(REPO / "tests" / "ddp_probe.py"), str(out), str(tmp_path)], tmp_path)
    seen = json.loads(out.read_text())
    assert seen["world_size"] == 2
    params = torch.tensor(seen["params"])
    assert torch.equal(params[0], params[1])  # gradients were all-reduced
    noise, batch = torch.tensor(seen["noise"]), torch.tensor(seen["batch"])
    assert not torch.equal(noise[0], noise[1])
    assert not torch.equal(batch[0], batch[1])
    # Evaluations (iterations 2, 4 and the final one at 5) ran on rank 0 only; both ranks hold its numbers.
    assert seen["evaluations_run"] == [3, 0]
    assert seen["history"][0] == seen["history"][1] and len(seen["history"][0]) == 3


def test_cli_ddp_fit_writes_one_record(tmp_path):
    run_dir = tmp_path / "run"
    run(
        [
            "-m",
            "ganbench",
            "fit",
            "--config",
            str(REPO / "configs" / "toy" / "ring8.yaml"),
            "--trainer.strategy=ddp",
            "--trainer.accelerator=cpu",
            "--trainer.devices=2",
            "--trainer.max_steps=20",
            # Five iterations per Lightning step: DDP's update path (Lightning's) counts them as one per
            # step does (the probe above runs one per step).
            "--model.iterations_per_step=5",
            "--evaluation.every_n_iterations=10",
            "--evaluation.num_samples=200",
            "--trainer.logger=false",
            "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={run_dir}",
        ],
        tmp_path,
    )
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["iterations"] == 20
    assert [h["iteration"] for h in record["history"]] == [10, 20]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["eval_0000010.png", "eval_0000020.png"]
