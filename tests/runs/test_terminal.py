"""What a run prints: few lines before training, a line every N iterations in a log, the result at the end."""

import json
import os
import subprocess
import sys
from pathlib import Path

from ganbench.runs.terminal import headline_key, progress_metrics, run_summary

REPO = Path(__file__).resolve().parents[2]


def test_headline_metric_is_the_registrys_first_headline_key():
    metrics = {"eval/high_quality_fraction": 0.5, "eval/modes_covered": 7.0, "train/d_loss": 1.0}
    assert headline_key(metrics) == "eval/modes_covered"
    assert headline_key({"eval/fid": 30.0}) == "eval/fid"
    assert headline_key({"train/d_loss": 1.0}) is None
    assert progress_metrics({**metrics, "train/g_loss": 0.25}) == {
        "d_loss": "1",
        "g_loss": "0.25",
        "modes_covered": "7",
    }


def test_run_summary_is_status_iterations_metrics_and_directory(tmp_path):
    metrics = {"wasserstein_1": 0.123456}
    record = {"status": "diverged", "iterations": 40, "diverged_at": 41, "metrics": metrics}
    (tmp_path / "metrics.json").write_text(json.dumps(record))
    lines = run_summary(tmp_path).splitlines()
    assert lines[0] == "result:"
    assert [line.split()[-1] for line in lines[1:]] == ["diverged", "40", "41", "0.1235", str(tmp_path)]
    assert "no metrics.json" in run_summary(tmp_path / "missing")


def test_fit_in_a_log_is_quiet_and_ends_with_its_result(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), OMP_NUM_THREADS="1", WANDB_MODE="offline")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "ganbench",
            "fit",
            "--config",
            str(REPO / "configs" / "toy" / "ring8.yaml"),
            "--trainer.max_steps=200",
            "--evaluation.every_n_iterations=100",
            "--evaluation.num_samples=200",
            f"--trainer.default_root_dir={tmp_path / 'run'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    progress = [line for line in result.stderr.splitlines() if line.startswith("iteration ")]
    assert len(progress) == 20 and progress[-1].startswith("iteration 200/200")
    assert "d_loss" in progress[-1] and "g_loss" in progress[-1] and "modes_covered" in progress[-1]
    other = [line for line in result.stderr.splitlines() if line.strip() and line not in progress]
    assert len(other) <= 2, other  # no tips, device summary, deprecations or W&B banner
    assert len(result.stderr) < 3000  # tqdm wrote ~34 KB per 200 iterations here
    summary = result.stdout.split("result:")[-1]
    assert "completed" in summary and "200" in summary and str(tmp_path / "run") in summary
    assert "wasserstein_1" in summary
