"""``python -m ganbench score``: any sampler's samples scored with a config's dataset and metrics."""

import json

import numpy as np
import torch

from ganbench.data.toy import ring
from ganbench.evaluation.mixture import score_mixture
from ganbench.evaluation.score import main

CONFIG = "configs/toy/ring8.yaml"


def test_score_prints_and_writes_the_metrics_of_a_sample_file(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(__import__("pathlib").Path(__file__).resolve().parents[2])
    samples = ring().sample(500, torch.Generator().manual_seed(0))
    np.save(tmp_path / "s.npy", samples.numpy())
    out = tmp_path / "scores.json"
    assert main(["--config", CONFIG, "--samples", str(tmp_path / "s.npy"), "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    assert printed["dataset"] == "ring" and printed["metrics"] == score_mixture(ring(), samples)
    assert printed["metrics"]["modes_covered"] == 8 and set(printed["protocol"]) >= {"wasserstein_1"}


def test_bad_input_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(__import__("pathlib").Path(__file__).resolve().parents[2])
    np.save(tmp_path / "3d.npy", np.zeros((10, 3)))
    (tmp_path / "image.yaml").write_text("data:\n  dataset: mnist\n")
    cases = [
        (["--config", CONFIG, "--samples", str(tmp_path / "3d.npy")], "shape (n, 2)"),
        (["--config", CONFIG, "--samples", str(tmp_path / "none.npy")], "--samples"),
        (["--config", str(tmp_path / "image.yaml"), "--samples", str(tmp_path / "3d.npy")], "ring, grid"),
        (["--config", str(tmp_path / "nope.yaml"), "--samples", str(tmp_path / "3d.npy")], "--config"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err and "Traceback" not in err
