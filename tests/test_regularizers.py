"""Regularizers: closed forms on linear discriminators, per-member penalties, the registry, a run with R1."""

import json
from pathlib import Path

import pytest
import torch

from ganbench.cli import lightning_main
from ganbench.objectives import build_objective
from ganbench.regularizers import REGULARIZERS, build_regularizers
from ganbench.step import GlobalDraws, resolve_regularizers

REPO = Path(__file__).resolve().parents[1]


def linear_critic(w: torch.Tensor):
    return lambda x: x.flatten(-1 if x.dim() == 1 else 1) @ w if x.dim() == 2 else (x * w).sum(-1)


@pytest.mark.parametrize("name, on_real", [("r1", True), ("r2", False)])
def test_zero_centered_penalties_on_a_linear_discriminator(name, on_real):
    """D(x) = w.x has grad_x D = w everywhere: the penalty is ||w||^2 and its weight gamma / 2."""
    w = torch.tensor([3.0, -4.0], requires_grad=True)
    (regularizer,) = build_regularizers([{"name": name, "options": {"gamma": 10}}])
    real, fake = torch.randn(16, 2), torch.randn(16, 2) + 5
    penalty = regularizer.penalty(lambda x: x @ w, real, fake, GlobalDraws(torch.device("cpu")), 1)
    assert regularizer.weight == 5.0
    assert penalty.item() == pytest.approx(25.0)
    (grad,) = torch.autograd.grad(penalty, w)  # the penalty trains D: d||w||^2/dw = 2w
    torch.testing.assert_close(grad, 2 * w.detach())


def test_r1_sees_only_real_and_r2_only_fake_samples():
    """D(x) = ||x||^2 / 2 has grad x: R1 is E||x_real||^2, R2 is E||x_fake||^2."""
    real, fake = torch.full((8, 2), 1.0), torch.full((8, 2), 3.0)
    draws = GlobalDraws(torch.device("cpu"))
    r1, r2 = build_regularizers([{"name": "r1"}, {"name": "r2"}])
    critic = lambda x: 0.5 * (x**2).sum(-1)  # noqa: E731
    assert r1.penalty(critic, real, fake, draws, 1).item() == pytest.approx(2.0)
    assert r2.penalty(critic, real, fake, draws, 1).item() == pytest.approx(18.0)


@pytest.mark.parametrize("scale", [0.5, 1.0, 3.0])
def test_gradient_penalty_regularizer_on_a_linear_critic(scale):
    w = torch.tensor([0.6, 0.8]) * scale  # ||w|| = scale
    (gp,) = build_regularizers([{"name": "gradient_penalty", "options": {"weight": 2.5}}])
    penalty = gp.penalty(
        lambda x: x @ w, torch.randn(32, 2), torch.randn(32, 2), GlobalDraws(torch.device("cpu")), 1
    )
    assert gp.weight == 2.5
    assert penalty.item() == pytest.approx((scale - 1.0) ** 2, abs=1e-6)


@pytest.mark.parametrize("name", REGULARIZERS.names())
def test_a_stacked_penalty_is_each_members_own(name):
    """With batch_dims=2 (a seed ensemble) member s gets exactly the penalty of its own run."""
    torch.manual_seed(0)
    weights = torch.randn(3, 2)
    real, fake = torch.randn(3, 10, 2), torch.randn(3, 10, 2)
    (regularizer,) = build_regularizers([{"name": name}])

    class SameUniforms:  # the interpolation weights of the stacked call, reused per member
        def __init__(self, u):
            self.u = u

        def uniform(self, n):
            return self.u

    u = torch.rand(3, 10)
    stacked = regularizer.penalty(
        lambda x: (x * weights[:, None, :]).sum(-1) ** 3, real, fake, SameUniforms(u), 2
    )
    for s in range(3):
        alone = regularizer.penalty(
            lambda x, s=s: (x @ weights[s]) ** 3, real[s], fake[s], SameUniforms(u[s]), 1
        )
        torch.testing.assert_close(stacked[s], alone)


def test_objective_defaults_and_user_entries():
    wgan = build_objective("wasserstein_gp", gp_weight=4.0)
    assert [(r.name, r.weight) for r in resolve_regularizers(wgan, None)] == [("gradient_penalty", 4.0)]
    listed = [
        {"name": "gradient_penalty", "options": {"weight": 1.0}},
        {"name": "r1", "options": {"gamma": 2}},
    ]
    assert [(r.name, r.weight) for r in resolve_regularizers(wgan, listed)] == [
        ("gradient_penalty", 1.0),
        ("r1", 1.0),
    ]
    assert resolve_regularizers(build_objective("hinge"), None) == []


@pytest.mark.parametrize(
    "specs, message",
    [
        ([{"name": "r3"}], "valid choices: gradient_penalty, r1, r2"),
        ([{"name": "r1", "options": {"lambda": 1}}], "valid options: gamma"),
        ([{"name": "r1", "options": {"gamma": -1}}], "gamma -1 must be >= 0"),
        (["r1"], "expected {name: NAME, options: {...}}"),
        ([{"name": "r1"}, {"name": "r1"}], "r1 listed more than once"),
    ],
)
def test_bad_entries_are_one_line_errors(specs, message):
    with pytest.raises(ValueError, match="model.regularizers") as info:
        build_regularizers(specs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_r1_trains_on_ring8_under_fit(tmp_path):
    run_dir = tmp_path / "r1"
    cli = lightning_main([
        "fit", "--config", str(REPO / "configs" / "toy" / "ring8.yaml"),
        '--model.regularizers=[{"name": "r1", "options": {"gamma": 1}}]',
        "--trainer.max_steps=300", "--trainer.log_every_n_steps=50", "--trainer.enable_progress_bar=false",
        "--evaluation.every_n_iterations=0", "--evaluation.num_samples=500", "--evaluation.plot=false",
        "--data.batch_size=64", "--trainer.logger=false", f"--trainer.default_root_dir={run_dir}",
    ])  # fmt: skip
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["status"] == "completed" and record["config"]["model"]["regularizers"][0]["name"] == "r1"
    penalty = float(cli.trainer.callback_metrics["train/r1"])  # logged by the shared step
    assert 0 < penalty < 1e3
    # 300 iterations move G's samples from near the origin onto the ring of radius 1.
    radius = cli.model.generate(1000, seed=1).norm(dim=1).median().item()
    assert abs(radius - 1.0) < 0.2, radius
