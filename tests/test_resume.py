"""Exact resume and determinism on CPU: the same seed gives the same numbers, interrupted or not."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
RING = str(REPO / "configs" / "toy" / "ring8.yaml")
COMMON = [
    "--evaluation.every_n_iterations=20",
    "--evaluation.num_samples=500",
    "--checkpoint.every_n_train_steps=20",
    "--trainer.enable_progress_bar=false",
    "--trainer.logger=false",
    "--data.batch_size=64",
    # A run stopped by a smaller max_steps is the interruption here; a learning-rate decay tied to
    # max_steps would make the two runs different trainings (the ensemble's resume test covers decay).
    "--model.lr_decay_start=null",
]


def fit(run_dir, *args, cli=None, **env_vars):
    """``python -m ganbench fit`` in a fresh interpreter, or in a process forked by ``cli`` (the
    ganbench_cli fixture) where a fresh interpreter is not the point."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **env_vars}
    command = ["fit", "--config", RING, f"--trainer.default_root_dir={run_dir}", *COMMON, *args]
    if cli is None:
        result = subprocess.run(
            [sys.executable, "-m", "ganbench", *command],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
    else:
        result = cli.run(command, env=env, cwd=os.getcwd(), timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((Path(run_dir) / "metrics.json").read_text())


LOGGED = ["--trainer.logger=true", "--trainer.log_every_n_steps=10"]  # W&B disabled: CSV only


@pytest.fixture(scope="module")
def runs(tmp_path_factory, ganbench_cli):
    """Four real runs shared by the tests: 60 iterations at once, 40 then resumed to 60, another seed.
    The three of seed 0 run in three processes with three hash seeds (what they are compared on must
    not hang on anything a process shares with its siblings): two fresh interpreters, and the resumed
    run forked from the ganbench_cli server, whose hash seed is neither's; the other seed's run only
    needs to differ."""
    root = tmp_path_factory.mktemp("resume")
    # The reference runs one iteration per Lightning step; the first half of the split run takes fit's
    # default (auto: ten here), its resumed half five.
    full = fit(root / "full", "--trainer.max_steps=60", "--model.iterations_per_step=1", *LOGGED,
               WANDB_MODE="disabled")  # fmt: skip
    first = fit(root / "split", "--trainer.max_steps=40", *LOGGED, WANDB_MODE="disabled")
    resumed = fit(
        root / "split",
        "--trainer.max_steps=60",
        # Five iterations per step where the first half ran ten (auto): the resumed run's own setting,
        # not its checkpoint's, and no number may change with it.
        "--model.iterations_per_step=5",
        f"--ckpt_path={root / 'split' / 'checkpoints' / 'last.ckpt'}",
        *LOGGED,
        cli=ganbench_cli,
        WANDB_MODE="disabled",
    )
    other_seed = fit(root / "other", "--trainer.max_steps=40", "--seed_everything=1", cli=ganbench_cli)
    return {"root": root, "full": full, "first": first, "resumed": resumed, "other_seed": other_seed}


def test_interrupted_and_resumed_run_equals_the_uninterrupted_run(runs):
    root, full, first, resumed = runs["root"], runs["full"], runs["first"], runs["resumed"]
    assert first["iterations"] == 40
    assert first["config"]["model"]["iterations_per_step"] == "auto"
    saved = yaml.safe_load((root / "split" / "config.yaml").read_text())
    assert saved["model"]["iterations_per_step"] == 5  # the resumed run's own setting

    def per_step(run: str, name: str) -> int:  # the K a checkpoint's run used
        path = root / run / "checkpoints" / name
        return torch.load(path, weights_only=False)["hyper_parameters"]["iterations_per_step"]

    assert (per_step("full", "last.ckpt"), per_step("split", "epoch=0-step=40.ckpt")) == (1, 10)
    assert per_step("split", "last.ckpt") == 5
    assert resumed["status"] == "completed"
    assert resumed["iterations"] == 60
    assert resumed["metrics"] == full["metrics"]
    assert resumed["history"] == full["history"]
    assert [h["iteration"] for h in full["history"]] == [20, 40, 60]
    # The resumed run appended to its training log: no row lost or doubled (issue 12, case 6).
    log = Path("train_log") / "metrics.csv"
    assert (root / "split" / log).read_text() == (root / "full" / log).read_text()
    # Every periodic checkpoint of both halves is kept.
    assert sorted(p.name for p in (root / "split" / "checkpoints").iterdir()) == [
        "epoch=0-step=20.ckpt",
        "epoch=0-step=40.ckpt",
        "epoch=0-step=60.ckpt",
        "last.ckpt",
    ]


def test_same_seed_same_metrics_and_other_seed_differs(runs):
    # Two processes of seed 0 (60 and 40 iterations, constant rates) evaluate the same at 20 and 40.
    full, first, other = runs["full"], runs["first"], runs["other_seed"]
    assert [h["iteration"] for h in first["history"]] == [20, 40]
    assert first["history"] == full["history"][:2]
    assert other["seed"] == 1
    assert other["history"] != first["history"]
