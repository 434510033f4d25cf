"""The divergence lab against closed forms (issue 18 item 4) and its command's files and errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from ganbench.evaluation import divergences as dv
from ganbench.evaluation.theory import jsd, parse_mixture

BIMODAL = "-2,0.5;2,0.5"


def mix(text: str):
    return parse_mixture(text, "--p")


@pytest.mark.parametrize(
    ("mp", "sp", "mq", "sq"), [(0.0, 1.0, 1.5, 1.0), (0.3, 0.7, -1.2, 1.9), (2, 3, 0, 0.5)]
)
def test_forward_and_reverse_kl_of_gaussians_match_the_closed_form(mp, sp, mq, sq) -> None:
    p, q = dv.gaussian(mp, sp), dv.gaussian(mq, sq)
    closed = math.log(sq / sp) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5  # KL(p || q)
    assert dv.forward_kl(p, q) == pytest.approx(closed, abs=1e-8)
    mirror = math.log(sp / sq) + (sq**2 + (mp - mq) ** 2) / (2 * sp**2) - 0.5  # KL(q || p)
    assert dv.reverse_kl(p, q) == pytest.approx(mirror, abs=1e-8)


@pytest.mark.parametrize(
    ("p_text", "q"), [(BIMODAL, (0.3, 1.2)), ("0,1", (2.0, 0.5)), ("-1,0.3,3;2,1", (0, 2))]
)
def test_nonsaturating_loss_identity(p_text: str, q: tuple[float, float]) -> None:
    p, g = mix(p_text), dv.gaussian(*q)
    assert dv.nonsaturating_loss(p, g) == pytest.approx(dv.nonsaturating_identity(p, g), abs=1e-8)


def test_minimax_loss_is_minus_log4_plus_2jsd_and_least_squares_at_p_equals_q() -> None:
    p, q = mix(BIMODAL), dv.gaussian(0.5, 1.5)
    assert dv.minimax_loss(p, q) == pytest.approx(-math.log(4) + 2 * jsd(p, q), abs=1e-8)
    assert dv.minimax_loss(p, p) == pytest.approx(-math.log(4), abs=1e-10)
    # q = p: D* = 1/2 everywhere, so 1/2 E_q[(1/2 - 1)^2] = 1/8, -E_q sign(0) = 0, E_q[-log 1/2] = log 2.
    assert dv.least_squares_loss(p, p) == pytest.approx(0.125, abs=1e-10)
    assert dv.hinge_loss(p, p) == 0.0
    assert dv.nonsaturating_loss(p, p) == pytest.approx(math.log(2), abs=1e-10)


@pytest.mark.parametrize(("mp", "mq", "s"), [(0.0, 1.5, 1.0), (-2.0, 3.0, 0.3), (1.0, 1.1, 2.0)])
def test_w1_of_gaussians_with_equal_std_is_the_mean_gap(mp: float, mq: float, s: float) -> None:
    assert dv.wasserstein1(dv.gaussian(mp, s), dv.gaussian(mq, s)) == pytest.approx(abs(mp - mq), abs=1e-8)


def test_forward_kl_fit_is_moment_matching() -> None:
    p = mix("-2,0.5;1,1,2")
    mean, std = dv.moments(p)
    fit = dv.fit_gaussian(p, "forward_kl", starts=2)
    assert fit.mu == pytest.approx(mean, abs=1e-3)
    assert fit.sigma == pytest.approx(std, abs=1e-3)


def test_reverse_kl_fit_seeks_one_mode_of_a_well_separated_pair() -> None:
    p = mix("-3,0.5;3,0.5")
    fit = dv.fit_gaussian(p, "reverse_kl", starts=3)
    assert abs(fit.mu) == pytest.approx(3.0, abs=1e-2)
    assert fit.sigma == pytest.approx(0.5, abs=1e-2)
    assert dv.mass_between(dv.gaussian(fit.mu, fit.sigma), p) < 0.03
    wide = dv.fit_gaussian(p, "forward_kl", starts=1)
    assert dv.mass_between(dv.gaussian(wide.mu, wide.sigma), p) > 0.3


def _fake_run(root, name: str, seed: int, mu: float, sigma: float, status: str = "completed") -> None:
    run = root / f"{name}-{seed}"
    (run / "checkpoints").mkdir(parents=True)
    record = {"status": status, "objective": f"{name}()", "seed": seed, "iterations": 10}
    (run / "metrics.json").write_text(json.dumps(record))
    state = {"generator.mu": torch.tensor([mu]), "generator.log_sigma": torch.tensor([math.log(sigma)])}
    torch.save({"state_dict": state}, run / "checkpoints" / "final.ckpt")


def test_nonsaturating_has_a_covering_local_optimum_next_to_its_mode_seeking_one() -> None:
    p = mix(BIMODAL)
    best = dv.fit_gaussian(p, "nonsaturating", starts=3)
    local = dv.fit_gaussian(p, "nonsaturating", init=(0.0, 1.0))
    assert abs(best.mu) == pytest.approx(2.0, abs=1e-2)
    assert abs(local.mu) < 1e-2 and local.sigma > 1.5 and local.value > best.value


def test_trained_parameters_are_read_per_objective_and_failures_counted(tmp_path) -> None:
    _fake_run(tmp_path, "hinge", 0, 1.5, 0.5)
    _fake_run(tmp_path, "hinge", 1, -1.5, 0.7)
    _fake_run(tmp_path, "hinge", 2, 0.0, 1.0, status="diverged")
    groups = dv.trained_parameters([str(tmp_path)])
    assert groups["hinge"]["mu"] == [1.5, -1.5]
    assert groups["hinge"]["sigma"] == pytest.approx([0.5, 0.7])
    assert groups["hinge"]["not_completed"] == 1


def test_command_writes_table_json_and_plots(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(dv, "CRITERIA", {k: dv.CRITERIA[k] for k in ("forward_kl", "wasserstein_gp")})
    _fake_run(tmp_path / "runs", "wasserstein_gp", 0, 0.1, 2.0)
    out = tmp_path / "lab"
    args = [
        "--p",
        "-1,0.5;1,0.5",
        "--out",
        str(out),
        "--separations",
        "2",
        "--runs",
        str(tmp_path / "runs"),
    ]
    assert dv.main(args) == 0
    data = json.loads((out / "divergences.json").read_text())
    assert data["sweep"]["separations"] == [2.0]
    assert data["sweep"]["criteria"]["forward_kl"]["sigma"][0] == pytest.approx(
        math.sqrt(0.5**2 + 1), abs=1e-3
    )
    assert abs(data["identity"]["nonsaturating_loss"] - data["identity"]["kl_form"]) < 1e-8
    # Forward KL has one optimum: the descent from G's initialization finds it too.
    fkl = next(r for r in data["optima"] if r["criterion"] == "forward_kl")
    assert (fkl["local_mu"], fkl["local_sigma"]) == pytest.approx((fkl["mu"], fkl["sigma"]), abs=1e-3)
    table = (out / "table.md").read_text()
    assert "| wasserstein_gp | W1(p, q) |" in table and "| 0.100 | 0.100 | 2.000 | 1 (0) |" in table
    for name in ("optima.png", "optima.pdf", "separation.png", "separation.pdf"):
        assert (out / name).stat().st_size > 0


def test_theory_dispatches_divergences_and_bad_input_is_one_line(tmp_path, capsys) -> None:
    from ganbench.evaluation.theory import main

    assert main(["divergences", "--family", "mixture", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.strip() == "error: --family: 'mixture'; valid choices: gaussian"
    assert main(["divergences", "--p", "0,-1", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.startswith("error: --p: component 1 '0,-1': STD must be > 0")
    assert not (tmp_path / "x").exists()
    assert np.isfinite(dv.moments(mix(BIMODAL))[1])
