"""The saturation study: with G frozen and D trained alone, the minimax generator gradient vanishes
while the non-saturating one does not (Arjovsky & Bottou 2017, fig. 2); the command's files and errors."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import torch

from ganbench.data.toy import ring
from ganbench.evaluation.saturation import main, measure_steps, summarize, train_discriminator_alone
from ganbench.nets import build_nets


def ring_batches(seed: int, batch: int = 256) -> Iterator[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    data = ring()
    while True:
        yield data.sample(batch, gen)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny nets: a second intra-op thread only adds spin-waits on a shared CPU (20x slower here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_minimax_gradient_vanishes_as_d_wins_and_nonsaturating_does_not() -> None:
    torch.manual_seed(0)
    nets = build_nets("mlp", (2,), 16, hidden=64)
    trace = train_discriminator_alone(
        nets.generator, nets.discriminator, ring_batches(0), 16, 400, 3e-3, (0.5, 0.999), 100, 256, 0
    )
    assert trace["step"] == measure_steps(400, 100)
    assert trace["accuracy"][-1] == 1.0  # D separates the frozen G from the data
    assert trace["d_fake"][-1] < 1e-3 < 0.3 < trace["d_fake"][0]
    # An order of magnitude below its start and more below its peak for minimax (the G loss
    # saturates); the non-saturating gradient grows instead.
    assert trace["grad_minimax"][-1] < 0.1 * trace["grad_minimax"][0]
    assert trace["grad_minimax"][-1] < 0.05 * max(trace["grad_minimax"])
    assert trace["grad_nonsaturating"][-1] > 10 * trace["grad_nonsaturating"][0]
    # At D's initialization D(G(z)) ~ 1/2, where both losses have the same logit slope (1/2).
    assert trace["grad_minimax"][0] == pytest.approx(trace["grad_nonsaturating"][0], rel=0.3)


def test_generator_weights_stay_frozen() -> None:
    torch.manual_seed(1)
    nets = build_nets("mlp", (2,), 4, hidden=16)
    before = [p.detach().clone() for p in nets.generator.parameters()]
    train_discriminator_alone(
        nets.generator, nets.discriminator, ring_batches(1), 4, 20, 1e-3, (0.5, 0.999), 5, 32, 1
    )
    assert all(torch.equal(a, b) for a, b in zip(before, nets.generator.parameters(), strict=True))


def test_command_writes_json_plot_and_summary(tmp_path) -> None:
    out = tmp_path / "sat"
    code = main(
        [
            "--config",
            "configs/toy/ring8.yaml",
            "--out",
            str(out),
            "--d_steps",
            "12",
            "--seeds",
            "0-1",
            "--every",
            "6",
            "--train_iterations",
            "0,3",
            "--probe_batch",
            "32",
            "--model.net_options.hidden=16",
        ]
    )
    assert code == 0
    data = json.loads((out / "saturation.json").read_text())
    assert data["seeds"] == [0, 1] and data["d_steps"] == 12
    assert list(data["generator_states"]) == ["iteration 0", "iteration 3"]
    trained = data["generator_states"]["iteration 3"]["seeds"]["0"]
    traces = data["generator_states"]["iteration 0"]["seeds"]
    # The same D seed meets another G after 3 fit iterations.
    assert trained["grad_minimax"][0] != traces["0"]["grad_minimax"][0]
    assert set(traces) == {"0", "1"} and traces["0"]["step"][-1] == 12
    assert data["config"]["model"]["net_options"]["hidden"] == 16
    assert "--d_steps 12" in data["command"]
    assert [r["seeds"] for r in summarize(data)] == [2, 2]
    assert (out / "saturation.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "saturation.pdf").exists() and "ring8" in (out / "summary.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--d_steps", "0"], "error: --d_steps: must be >= 1, got 0"),
        (["--seeds", "3-1"], "error: --seeds: the range 3-1 is empty"),
        (["--checkpoints", "nope.ckpt"], "error: --checkpoints: no such file nope.ckpt"),
        (["--seed_everything=3"], "error: --seed_everything: set by the study"),
        (["--train_iterations", "x"], "error: --train_iterations: 'x' is not a list"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, args: list[str], message: str) -> None:
    out = tmp_path / "sat"
    assert main(["--config", "configs/toy/ring8.yaml", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)
    assert not out.exists()
