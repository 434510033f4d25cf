"""The strong-D regime (configs/toy/ring8_strong_d.yaml, results/regime): D wins, and the minimax
generator's logit gradient vanishes while the non-saturating one's does not."""

import csv
from pathlib import Path

import pytest

from ganbench.cli import main

REPO = Path(__file__).resolve().parents[1]
# The strong-D config, shortened to a few seconds: a larger D learning rate makes D win within the first
# iterations (the committed regime takes a few hundred iterations at 1e-3) and smaller nets run faster.
SHORT_STRONG_D = [
    "--config",
    str(REPO / "configs" / "toy" / "ring8_strong_d.yaml"),
    "--model.lr_discriminator=1e-2",
    "--model.net_options.hidden=64",
    "--data.batch_size=64",
    "--trainer.max_steps=30",
    "--trainer.log_every_n_steps=10",
    "--trainer.enable_progress_bar=false",
    "--evaluation.every_n_iterations=30",
    "--evaluation.num_samples=400",
    "--evaluation.plot=false",
    "--checkpoint.every_n_train_steps=30",
]


def logged(run_dir: Path, key: str) -> list[float]:
    with open(run_dir / "train_log" / "metrics.csv", newline="") as f:
        return [float(row[key]) for row in csv.DictReader(f) if row.get(key)]


@pytest.fixture
def strong_d_runs(tmp_path, monkeypatch) -> dict[str, Path]:
    monkeypatch.setenv("WANDB_MODE", "disabled")  # the CSV log is what the test reads
    runs = {}
    for objective in ("minimax", "nonsaturating"):
        runs[objective] = tmp_path / objective
        code = main(
            [
                "fit",
                *SHORT_STRONG_D,
                f"--model.objective={objective}",
                f"--trainer.default_root_dir={runs[objective]}",
            ]
        )
        assert code == 0
    return runs


def test_a_strong_d_saturates_minimax_but_not_nonsaturating(strong_d_runs):
    minimax, nonsaturating = strong_d_runs["minimax"], strong_d_runs["nonsaturating"]
    # D wins against both generators: it gives their samples a small probability of being real.
    for run in (minimax, nonsaturating):
        assert len(logged(run, "train/d_fake")) == 3  # iterations 10, 20, 30
    assert max(logged(minimax, "train/d_fake")) < 0.05
    # |dL_G/dl| is D(G(z)) for minimax and 1 - D(G(z)) for non-saturating: at a winning D the first
    # vanishes and the second does not (Goodfellow et al. 2014, sec. 3).
    assert max(logged(minimax, "train/g_logit_grad")) < 0.05
    assert min(logged(nonsaturating, "train/g_logit_grad")) > 0.5
