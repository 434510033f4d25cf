"""What a run prints: few lines before training, a line every N iterations in a log, the result at the end."""

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from ganbench.cli import main
from ganbench.runs.terminal import RunProgressBar, headline_key, progress_metrics, results_table, run_summary

REPO = Path(__file__).resolve().parents[2]
RING = str(REPO / "configs" / "toy" / "ring8.yaml")
TINY = [  # a few seconds: 4 iterations, one small evaluation at the end
    "--config",
    RING,
    "--trainer.max_steps=4",
    "--evaluation.num_samples=200",
    "--evaluation.plot=false",
    "--data.batch_size=32",
    "--trainer.logger=false",
]


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


def test_fit_in_a_log_is_quiet_and_ends_with_its_result(tmp_path, ganbench_cli):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path), OMP_NUM_THREADS="1", WANDB_MODE="offline")
    result = ganbench_cli.run(  # its own process, output to files (not a terminal): see tests/conftest.py
        [
            "fit",
            "--config",
            str(REPO / "configs" / "toy" / "ring8.yaml"),
            "--trainer.max_steps=200",
            "--evaluation.every_n_iterations=100",
            "--evaluation.num_samples=200",
            f"--trainer.default_root_dir={tmp_path / 'run'}",
        ],
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


@pytest.mark.parametrize(
    "per_step, shown", [(1, [25, 50, 75, 100]), (10, [30, 50, 80, 100]), (20, [40, 60, 80, 100])]
)
def test_a_log_line_each_time_the_iterations_pass_the_interval(capsys, per_step, shown):
    bar = RunProgressBar(line_every=25, interactive=False)
    trainer = SimpleNamespace(global_step=0, max_steps=100, callback_metrics={})
    bar.on_train_start(trainer, None)
    for step in range(per_step, 101, per_step):  # a step of several iterations ends on a multiple
        trainer.global_step = step
        bar.on_train_batch_end(trainer, None, None, None, step // per_step - 1)
    lines = capsys.readouterr().err.splitlines()
    assert [int(line.split()[1].split("/")[0]) for line in lines] == shown


def write_record(run_dir: Path, **record) -> Path:
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.json").write_text(json.dumps(record))
    return run_dir


def rows_of(table: str) -> list[list[str]]:
    """The table's cells, split on the runs of two or more spaces that separate its columns."""
    import re

    lines = table.splitlines()
    assert set(lines[1]) <= {"-", " "}  # the rule under the header
    return [re.split(r" {2,}", line.strip()) for line in [lines[0], *lines[2:]]]


def test_results_table_shows_the_headline_metrics_with_their_direction(tmp_path):
    toy = {"modes_covered": 7.0, "off_mode_mass": 0.125, "wasserstein_1": 0.5, "reverse_kl": 0.1}
    done = write_record(tmp_path / "a", status="completed", iterations=40, metrics=toy)
    diverged = {"modes_covered": None, "off_mode_mass": None, "wasserstein_1": None}
    failed = write_record(tmp_path / "b", status="diverged", iterations=12, diverged_at=13, metrics=diverged)
    header, *rows = rows_of(results_table([done, failed, tmp_path / "missing"]))
    assert header == [
        "run directory",
        "status",
        "iterations",
        "modes_covered ↑",
        "off_mode_mass ↓",
        "wasserstein_1 ↓",
    ]  # reverse_kl is not a headline metric
    assert rows == [
        [str(done), "completed", "40", "7", "0.125", "0.5"],
        [str(failed), "diverged at 13", "12", "-", "-", "-"],
        [str(tmp_path / "missing"), "no metrics.json", "-", "-", "-", "-"],
    ]


def test_results_table_of_image_runs_falls_back_to_their_first_metrics(tmp_path):
    images = {"fid": 81.25, "kid_mean": 0.05, "kid_std": 0.01, "is_mean": 2.5, "is_std": 0.1, "recall": 0.5}
    run = write_record(tmp_path / "mnist", status="completed", iterations=300, metrics=images)
    header, row = rows_of(results_table([run], {"outcome": ["completed (earlier)"]}))
    assert header == ["run directory", "outcome", "iterations", "fid ↓", "kid_mean ↓", "is_mean ↑"]
    assert row == [str(run), "completed (earlier)", "300", "81.25", "0.05", "2.5"]


def test_an_ensemble_ends_with_every_members_result(tmp_path, capsys):
    root = tmp_path / "ensemble"
    assert main(["ensemble", "--seeds=0,1", f"--root={root}", *TINY]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("2 seeds, 4 iterations: 2 completed; setup ")
    header, *rows = rows_of("\n".join(lines[-5:-1]))
    assert header[:3] == ["run directory", "status", "iterations"]
    for seed, row in zip([0, 1], rows, strict=True):
        run_dir = root / f"seed_everything={seed}"
        metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
        assert row[:3] == [str(run_dir), "completed", "4"]
        assert row[3:] == [f"{metrics[key.split()[0]]:.4g}" for key in header[3:]]
        assert header[3:] == ["modes_covered ↑", "off_mode_mass ↓", "wasserstein_1 ↓"]


def test_a_sweep_ends_with_the_result_of_every_run_it_ran_or_skipped(tmp_path, capsys):
    from ganbench.runs.sweep import main as sweep_main

    command = ["${env}", "${interpreter}", "-m", "ganbench", "fit", *TINY, "${args}"]
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        yaml.safe_dump(
            {"method": "grid", "parameters": {"seed_everything": {"values": [0, 1]}}, "command": command}
        )
    )
    root = tmp_path / "root"
    for expected in ("completed", "completed (earlier)"):  # run, then skipped as finished
        assert sweep_main([str(sweep), f"--root={root}", "--ensemble"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines[-1] == f"2 runs in {root}: 2 {expected}"
        header, *rows = rows_of("\n".join(lines[-5:-1]))
        assert header[:4] == ["run directory", "status", "wall time", "iterations"]
        assert header[4:] == ["modes_covered ↑", "off_mode_mass ↓", "wasserstein_1 ↓"]
        for seed, row in zip([0, 1], rows, strict=True):
            run_dir = root / f"seed_everything={seed}"
            metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
            assert row[0] == str(run_dir) and row[1].startswith(expected) and row[3] == "4"
            assert row[4:] == [f"{metrics[key.split()[0]]:.4g}" for key in header[4:]]
