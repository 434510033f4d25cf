"""The 1-D discriminator trace: what fit and the seed ensemble keep for Goodfellow et al.'s fig. 1."""

from pathlib import Path

import numpy as np
import pytest
import torch

from ganbench.cli import lightning_main, main
from ganbench.ensemble_cli import build_ensemble
from ganbench.evaluation.discriminator_trace import load_trace, record_trace, recorded_traces
from ganbench.sample import load_generator_module

REPO = Path(__file__).resolve().parents[2]
ARGS = [
    "--config",
    str(REPO / "configs" / "toy" / "gaussian1d.yaml"),
    "--trainer.max_steps=20",
    "--trainer.log_every_n_steps=10",
    "--trainer.enable_progress_bar=false",
    "--evaluation.every_n_iterations=10",
    "--evaluation.num_samples=300",
    "--checkpoint.every_n_train_steps=20",
    "--data.batch_size=64",
]


def fit(run_dir: Path, *extra: str) -> None:
    argv = ["fit", *ARGS, *extra, f"--trainer.default_root_dir={run_dir}", "--trainer.logger=false"]
    assert main(argv) == 0


def untrained(*extra: str, config: str = "gaussian1d"):
    """The module fit would start from (same seed, same initial weights), not trained."""
    args = [
        *ARGS,
        "--config",
        str(REPO / "configs" / "toy" / f"{config}.yaml"),
        *extra,
        "--trainer.logger=false",
    ]
    cli = lightning_main(args, run=False)
    return cli.model, cli.datamodule.dataset


def test_fit_traces_hold_d_on_the_grid_and_the_scored_samples(tmp_path):
    fit(tmp_path / "run")
    traces = recorded_traces(tmp_path / "run")
    assert list(traces) == [0, 10, 20]
    last = load_trace(traces[20])
    module = load_generator_module(tmp_path / "run" / "checkpoints" / "last.ckpt")  # D and G of iteration 20
    x = torch.from_numpy(last["x"]).float()
    with torch.no_grad():
        expected = torch.sigmoid(module.discriminator(x.unsqueeze(1))).double().numpy()
    assert last["d_output"] == "probability" and last["iteration"] == 20
    np.testing.assert_allclose(last["d"], expected, atol=1e-6)
    np.testing.assert_allclose(
        last["samples"], module.generate(300, 1234).reshape(-1).double().numpy(), atol=1e-6
    )
    with torch.no_grad():
        g_of_z = (
            module.generator(torch.from_numpy(last["z"]).float().unsqueeze(1)).reshape(-1).double().numpy()
        )
    np.testing.assert_allclose(last["g_of_z"], g_of_z, atol=1e-6)
    # The data density is the mixture's: it integrates to 1 over the frame and peaks at the modes.
    assert np.trapezoid(last["data_density"], last["x"]) == pytest.approx(1.0, abs=1e-3)
    peak = 0.5 / (0.5 * np.sqrt(2 * np.pi))  # two modes at -2 and 2, sigma 0.5, weight 1/2 each
    assert last["data_density"].max() == pytest.approx(peak, rel=1e-3)
    # Iteration 0 is the untrained pair fit starts from; training moved D since.
    start, (model, _) = load_trace(traces[0]), untrained()
    with torch.no_grad():
        initial = torch.sigmoid(model.discriminator(x.unsqueeze(1))).double().numpy()
    np.testing.assert_allclose(start["d"], initial, atol=1e-6)
    np.testing.assert_allclose(
        start["samples"], model.generate(300, 1234).reshape(-1).double().numpy(), atol=1e-6
    )
    assert np.abs(start["d"] - last["d"]).max() > 1e-3


def test_ensemble_members_write_the_traces_of_their_single_runs(tmp_path):
    fit(tmp_path / "single", "--seed_everything=1")
    run = build_ensemble(ARGS, [0, 1], [tmp_path / "member0", tmp_path / "member1"])
    run.run()
    single, member = recorded_traces(tmp_path / "single"), recorded_traces(tmp_path / "member1")
    assert list(member) == [10, 20]  # the ensemble has no hook before its first iteration
    assert list(recorded_traces(tmp_path / "member0")) == [10, 20]
    for iteration in (10, 20):
        alone, stacked = load_trace(single[iteration]), load_trace(member[iteration])
        np.testing.assert_allclose(stacked["d"], alone["d"], atol=1e-4)
        np.testing.assert_allclose(stacked["samples"], alone["samples"], atol=1e-4)
    assert not np.allclose(
        load_trace(member[20])["d"], load_trace(recorded_traces(tmp_path / "member0")[20])["d"]
    )


def test_critic_values_are_raw_and_other_data_get_no_trace(tmp_path):
    model, dataset = untrained("--model.objective=hinge")
    path = record_trace(tmp_path, dataset, model, 50, 7, 0, "eval")
    trace = load_trace(path)
    with torch.no_grad():
        raw = model.discriminator(torch.from_numpy(trace["x"]).float().unsqueeze(1)).double().numpy()
    assert trace["d_output"] == "critic"
    np.testing.assert_allclose(trace["d"], raw, atol=1e-6)
    assert trace["samples"].shape == (50,) and trace["seed"] == 7
    ring, ring_data = untrained(config="ring8")
    assert record_trace(tmp_path / "ring", ring_data, ring, 50, 7, 0, "eval") is None
    assert not (tmp_path / "ring").exists()


def test_recorded_traces_prefer_the_periodic_evaluation(tmp_path):
    model, dataset = untrained()
    for tag, iteration in (("final", 20), ("eval", 20), ("eval", 10), ("final", 30)):
        record_trace(tmp_path, dataset, model, 10, 0, iteration, tag)
    (tmp_path / "trace" / "notes.npz").write_bytes(b"")  # not a trace name: ignored
    found = recorded_traces(tmp_path)
    assert {i: p.name for i, p in found.items()} == {
        10: "eval_0000010.npz",
        20: "eval_0000020.npz",
        30: "final_0000030.npz",
    }
