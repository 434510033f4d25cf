"""DDP on two CPU processes (gloo): synchronised weights, per-rank data and noise, one metrics.json."""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def test_cli_ddp_fit_syncs_weights_splits_data_and_writes_one_record(tmp_path):
    """One `fit` on two ranks, with tests/ddp_probe.py's callback on both: the ranks end with the same
    weights (gradients all-reduced) from different data and noise, evaluations run on rank 0 only and
    both ranks hold their numbers, and the run writes one record."""
    run_dir, out = tmp_path / "run", tmp_path / "probe.json"
    probe = json.dumps([{"class_path": "ddp_probe.Probe", "init_args": {"out": str(out)}}])
    pythonpath = os.pathsep.join([str(REPO / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": pythonpath}  # rank 1 imports the probe too
    args = [
        sys.executable,
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
        # step does.
        "--model.iterations_per_step=5",
        f"--trainer.callbacks={probe}",
        "--evaluation.every_n_iterations=10",
        "--evaluation.num_samples=200",
        "--trainer.logger=false",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={run_dir}",
    ]
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(out.read_text())
    assert seen["world_size"] == 2
    params = torch.tensor(seen["params"])
    assert torch.equal(params[0], params[1])  # gradients were all-reduced
    noise, batch = torch.tensor(seen["noise"]), torch.tensor(seen["batch"])
    assert not torch.equal(noise[0], noise[1])
    assert not torch.equal(batch[0], batch[1])
    # Evaluations (iterations 10 and 20, the last one also the final) ran on rank 0 only; both ranks
    # hold its numbers.
    assert seen["evaluations_run"] == [2, 0]
    assert seen["history"][0] == seen["history"][1] and len(seen["history"][0]) == 2
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["iterations"] == 20
    assert [h["iteration"] for h in record["history"]] == [10, 20]
    assert sorted(p.name for p in (run_dir / "samples").iterdir()) == ["eval_0000010.png", "eval_0000020.png"]
