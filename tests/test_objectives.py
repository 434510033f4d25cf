"""Tests for ganbench.objectives: closed forms, gradients, stability, label flips, GP and the registry."""

from __future__ import annotations

import math

import pytest
import torch

from ganbench.objectives import OBJECTIVES, Objective, build_objective, gradient_penalty
from ganbench.registry import Registry, UnknownNameError
from ganbench.step import resolve_regularizers

REAL = [-2.0, 0.0, 3.0]
FAKE = [-2.0, 0.0, 3.0]
FAKE2 = [1.5, -0.5, -3.0]  # differs from REAL, so that relativistic terms do not cancel

ALL_NAMES = ["minimax", "nonsaturating", "bce", "least_squares", "hinge", "wasserstein_gp", "relativistic"]


# --- closed-form helpers, in plain math (no torch) ----------------------------------------------


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def log_d(x: float) -> float:
    return math.log(sig(x))


def log_1md(x: float) -> float:
    return math.log(1.0 - sig(x))


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def bce_ref(logits: list[float], y: float) -> float:
    return mean([-(y * log_d(x) + (1.0 - y) * log_1md(x)) for x in logits])


def t(xs: list[float], dtype: torch.dtype = torch.float64, grad: bool = False) -> torch.Tensor:
    return torch.tensor(xs, dtype=dtype, requires_grad=grad)


def losses(obj: Objective, real: list[float], fake: list[float]) -> tuple[float, float]:
    r, f = t(real), t(fake)
    return obj.discriminator_loss(r, f).item(), obj.generator_loss(f, r).item()


# --- closed forms -------------------------------------------------------------------------------


@pytest.mark.parametrize("fake", [FAKE, FAKE2])
def test_minimax_closed_form(fake: list[float]) -> None:
    d, g = losses(build_objective("minimax"), REAL, fake)
    assert d == pytest.approx(-mean([log_d(x) for x in REAL]) - mean([log_1md(x) for x in fake]), rel=1e-12)
    assert g == pytest.approx(mean([log_1md(x) for x in fake]), rel=1e-12)


@pytest.mark.parametrize("fake", [FAKE, FAKE2])
def test_nonsaturating_closed_form(fake: list[float]) -> None:
    d, g = losses(build_objective("nonsaturating"), REAL, fake)
    assert d == pytest.approx(-mean([log_d(x) for x in REAL]) - mean([log_1md(x) for x in fake]), rel=1e-12)
    assert g == pytest.approx(-mean([log_d(x) for x in fake]), rel=1e-12)


@pytest.mark.parametrize("fake", [FAKE, FAKE2])
def test_bce_label_smoothing_closed_form(fake: list[float]) -> None:
    d, g = losses(build_objective("bce", real_label=0.9), REAL, fake)
    exp_real = mean([-(0.9 * log_d(x) + 0.1 * log_1md(x)) for x in REAL])
    exp_fake = mean([-log_1md(x) for x in fake])
    assert d == pytest.approx(exp_real + exp_fake, rel=1e-12)
    assert g == pytest.approx(mean([-(0.9 * log_d(x) + 0.1 * log_1md(x)) for x in fake]), rel=1e-12)


def test_bce_two_sided_smoothing_closed_form() -> None:
    d, g = losses(build_objective("bce", real_label=0.9, fake_label=0.2), REAL, FAKE2)
    assert d == pytest.approx(bce_ref(REAL, 0.9) + bce_ref(FAKE2, 0.2), rel=1e-12)
    assert g == pytest.approx(bce_ref(FAKE2, 0.9), rel=1e-12)


@pytest.mark.parametrize(("a", "b", "c"), [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0), (0.5, 2.0, -0.5)])
def test_least_squares_closed_form(a: float, b: float, c: float) -> None:
    d, g = losses(build_objective("least_squares", a=a, b=b, c=c), REAL, FAKE2)
    exp_d = 0.5 * mean([(x - b) ** 2 for x in REAL]) + 0.5 * mean([(x - a) ** 2 for x in FAKE2])
    assert d == pytest.approx(exp_d, rel=1e-12)
    assert g == pytest.approx(0.5 * mean([(x - c) ** 2 for x in FAKE2]), rel=1e-12)


def test_least_squares_default_coding() -> None:
    # a=0, b=c=1: real [-2, 0, 3] -> (9 + 1 + 4)/6 ; fake [-2, 0, 3] -> (4 + 0 + 9)/6
    d, g = losses(build_objective("least_squares"), REAL, FAKE)
    assert d == pytest.approx(14 / 6 + 13 / 6, rel=1e-12)
    assert g == pytest.approx(14 / 6, rel=1e-12)


@pytest.mark.parametrize("fake", [FAKE, FAKE2])
def test_hinge_closed_form(fake: list[float]) -> None:
    d, g = losses(build_objective("hinge"), REAL, fake)
    assert d == pytest.approx(mean([max(0.0, 1 - x) for x in REAL]) + mean([max(0.0, 1 + x) for x in fake]))
    assert g == pytest.approx(-mean(fake))


def test_hinge_known_values() -> None:
    # real [-2, 0, 3] -> (3 + 1 + 0)/3 ; fake [-2, 0, 3] -> (0 + 1 + 4)/3
    d, g = losses(build_objective("hinge"), REAL, FAKE)
    assert d == pytest.approx(4 / 3 + 5 / 3, rel=1e-12)
    assert g == pytest.approx(-1 / 3, rel=1e-12)


@pytest.mark.parametrize("fake", [FAKE, FAKE2])
def test_wasserstein_closed_form(fake: list[float]) -> None:
    d, g = losses(build_objective("wasserstein_gp"), REAL, fake)
    assert d == pytest.approx(mean(fake) - mean(REAL), abs=1e-12)
    assert g == pytest.approx(-mean(fake), abs=1e-12)


def test_relativistic_average_closed_form() -> None:
    d, g = losses(build_objective("relativistic"), REAL, FAKE2)
    mr, mf = mean(REAL), mean(FAKE2)
    exp_d = -mean([log_d(x - mf) for x in REAL]) - mean([log_1md(x - mr) for x in FAKE2])
    exp_g = -mean([log_d(x - mr) for x in FAKE2]) - mean([log_1md(x - mf) for x in REAL])
    assert d == pytest.approx(exp_d, rel=1e-12)
    assert g == pytest.approx(exp_g, rel=1e-12)
    assert d != pytest.approx(g)  # the two losses are not the same function of (real, fake)


def test_relativistic_pairing_closed_form() -> None:
    d, g = losses(build_objective("relativistic", form="pairing"), REAL, FAKE2)
    pairs = list(zip(REAL, FAKE2, strict=True))
    assert d == pytest.approx(-mean([log_d(r - f) for r, f in pairs]), rel=1e-12)
    assert g == pytest.approx(-mean([log_d(f - r) for r, f in pairs]), rel=1e-12)


def test_relativistic_equal_logits_give_log2() -> None:
    # when every real and fake is scored alike, each relativistic term is -log sigmoid(0) = log 2
    obj = build_objective("relativistic")
    d, g = losses(obj, [0.7] * 3, [0.7] * 3)
    assert d == pytest.approx(2 * math.log(2))
    assert g == pytest.approx(2 * math.log(2))
    # pairing compares samples index by index, so equal pairs suffice
    d, g = losses(build_objective("relativistic", form="pairing"), REAL, REAL)
    assert d == pytest.approx(math.log(2))
    assert g == pytest.approx(math.log(2))


# --- bce with 1/0 labels is nonsaturating -------------------------------------------------------


def test_bce_with_hard_labels_equals_nonsaturating() -> None:
    gen = torch.Generator().manual_seed(0)
    real = (3 * torch.randn(257, generator=gen)).requires_grad_(True)
    fake = (3 * torch.randn(257, generator=gen)).requires_grad_(True)
    bce, ns = build_objective("bce"), build_objective("nonsaturating")

    d_bce, d_ns = bce.discriminator_loss(real, fake), ns.discriminator_loss(real, fake)
    torch.testing.assert_close(d_bce, d_ns)
    gb = torch.autograd.grad(d_bce, (real, fake))
    gn = torch.autograd.grad(d_ns, (real, fake))
    for a, b in zip(gb, gn, strict=True):
        torch.testing.assert_close(a, b)

    g_bce, g_ns = bce.generator_loss(fake, real), ns.generator_loss(fake, real)
    torch.testing.assert_close(g_bce, g_ns)
    (gb,) = torch.autograd.grad(g_bce, fake)
    (gn,) = torch.autograd.grad(g_ns, fake)
    torch.testing.assert_close(gb, gn)


# --- the vanishing gradient of minimax ----------------------------------------------------------


def per_sample_grad(obj: Objective, logits: list[float], dtype: torch.dtype = torch.float64) -> list[float]:
    x = t(logits, dtype=dtype, grad=True)
    (grad,) = torch.autograd.grad(obj.generator_loss(x, torch.zeros_like(x)), x)
    return (grad * len(logits)).tolist()  # d mean / d l_i = (1/N) d loss_i / d l_i


LOGITS = [-20.0, -10.0, -5.0, -1.0, 0.0, 1.0, 5.0]


def test_minimax_generator_gradient_is_minus_d() -> None:
    got = per_sample_grad(build_objective("minimax"), LOGITS)
    for l_, g in zip(LOGITS, got, strict=True):
        assert g == pytest.approx(-sig(l_), rel=1e-9, abs=1e-15)


def test_nonsaturating_generator_gradient_is_minus_one_minus_d() -> None:
    got = per_sample_grad(build_objective("nonsaturating"), LOGITS)
    for l_, g in zip(LOGITS, got, strict=True):
        assert g == pytest.approx(-(1 - sig(l_)), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_vanishing_gradient_limit(dtype: torch.dtype) -> None:
    # D confidently rejects the fakes: D(G(z)) = sigmoid(-20) ~ 2e-9
    (mm,) = per_sample_grad(build_objective("minimax"), [-20.0], dtype)
    (ns,) = per_sample_grad(build_objective("nonsaturating"), [-20.0], dtype)
    assert mm < 0
    assert abs(mm) < 1e-8
    assert ns == pytest.approx(-1.0, abs=1e-6)
    # and the ordering holds across the whole range: minimax is never steeper than nonsaturating
    # when D(G(z)) < 1/2
    mm_all = per_sample_grad(build_objective("minimax"), [-8.0, -4.0, -1.0], dtype)
    ns_all = per_sample_grad(build_objective("nonsaturating"), [-8.0, -4.0, -1.0], dtype)
    assert all(abs(a) < abs(b) for a, b in zip(mm_all, ns_all, strict=True))


# --- numerical stability ------------------------------------------------------------------------

EXTREME = [-1e4, -100.0, 100.0, 1e4]


def _objectives() -> list[Objective]:
    return [build_objective(n) for n in ALL_NAMES] + [
        build_objective("bce", real_label=0.9, fake_label=0.1, flip_prob=0.2),
        build_objective("relativistic", form="pairing"),
    ]


@pytest.mark.parametrize("obj", _objectives(), ids=lambda o: o.describe())
def test_losses_and_gradients_finite_at_extreme_logits(obj: Objective) -> None:
    torch.manual_seed(0)
    real = torch.tensor(EXTREME, dtype=torch.float32, requires_grad=True)
    fake = torch.tensor(EXTREME[::-1], dtype=torch.float32, requires_grad=True)
    for loss in (obj.discriminator_loss(real, fake), obj.generator_loss(fake, real)):
        assert torch.isfinite(loss)
        grads = torch.autograd.grad(loss, (real, fake), allow_unused=True)
        for grad in grads:
            if grad is not None:
                assert torch.isfinite(grad).all()


def _value_and_grad(fn, logit: float) -> tuple[float, float]:
    x = torch.tensor([logit], dtype=torch.float32, requires_grad=True)
    loss = fn(x)
    (grad,) = torch.autograd.grad(loss, x)
    return loss.item(), grad.item()


@pytest.mark.parametrize("big", [100.0, 1e4])
def test_minimax_and_nonsaturating_limits(big: float) -> None:
    mm, ns = build_objective("minimax"), build_objective("nonsaturating")
    # minimax G: log(1 - D) -> 0 as l -> -inf, -> -l as l -> +inf
    v, g = _value_and_grad(lambda x: mm.generator_loss(x, x), -big)
    assert v == pytest.approx(0.0, abs=1e-30) and g == pytest.approx(0.0, abs=1e-30)
    v, g = _value_and_grad(lambda x: mm.generator_loss(x, x), big)
    assert v == pytest.approx(-big, rel=1e-6) and g == pytest.approx(-1.0, rel=1e-6)
    # nonsaturating G: -log D -> -l as l -> -inf, -> 0 as l -> +inf
    v, g = _value_and_grad(lambda x: ns.generator_loss(x, x), -big)
    assert v == pytest.approx(big, rel=1e-6) and g == pytest.approx(-1.0, rel=1e-6)
    v, g = _value_and_grad(lambda x: ns.generator_loss(x, x), big)
    assert v == pytest.approx(0.0, abs=1e-30) and g == pytest.approx(0.0, abs=1e-30)
    # D loss: perfect discriminator ~ 0, completely wrong one ~ 2 * big
    one = torch.ones(1)
    assert mm.discriminator_loss(big * one, -big * one).item() == pytest.approx(0.0, abs=1e-30)
    assert mm.discriminator_loss(-big * one, big * one).item() == pytest.approx(2 * big, rel=1e-6)


@pytest.mark.parametrize("big", [100.0, 1e4])
def test_bce_smoothed_limits(big: float) -> None:
    obj = build_objective("bce", real_label=0.9)
    # -(0.9 log D + 0.1 log(1 - D)) at l = +big: log D ~ 0, log(1 - D) ~ -big -> 0.1 * big
    v, g = _value_and_grad(lambda x: obj.generator_loss(x, x), big)
    assert v == pytest.approx(0.1 * big, rel=1e-5) and g == pytest.approx(0.1, rel=1e-5)
    v, g = _value_and_grad(lambda x: obj.generator_loss(x, x), -big)
    assert v == pytest.approx(0.9 * big, rel=1e-5) and g == pytest.approx(-0.9, rel=1e-5)


@pytest.mark.parametrize("big", [100.0, 1e4])
def test_relativistic_limits(big: float) -> None:
    obj = build_objective("relativistic", form="pairing")
    one = torch.ones(1)
    # -log sigmoid(r - f): ~0 when r >> f, ~ f - r when f >> r
    assert obj.discriminator_loss(big * one, -big * one).item() == pytest.approx(0.0, abs=1e-30)
    assert obj.discriminator_loss(-big * one, big * one).item() == pytest.approx(2 * big, rel=1e-6)
    assert obj.generator_loss(-big * one, big * one).item() == pytest.approx(2 * big, rel=1e-6)


# --- label flips --------------------------------------------------------------------------------


def test_label_flips_mean_matches_expectation() -> None:
    torch.manual_seed(1234)
    n, p = 200_000, 0.3
    real_label, fake_label = 0.9, 0.0
    obj = build_objective("bce", real_label=real_label, fake_label=fake_label, flip_prob=p)
    r_vals, f_vals = [1.5, -0.5, 2.0, 0.0], [-1.0, 0.5, -2.5, 1.0]
    real = t(r_vals).repeat(n // 4)
    fake = t(f_vals).repeat(n // 4)

    exp_real = (1 - p) * bce_ref(r_vals, real_label) + p * bce_ref(r_vals, fake_label)
    exp_fake = (1 - p) * bce_ref(f_vals, fake_label) + p * bce_ref(f_vals, real_label)
    no_flip = bce_ref(r_vals, real_label) + bce_ref(f_vals, fake_label)
    assert abs(exp_real + exp_fake - no_flip) > 0.3  # the flips make a measurable difference

    got = obj.discriminator_loss(real, fake).item()
    # std of the mean is ~ |loss(y1) - loss(y0)| * sqrt(p (1 - p) / n) < 0.01 here
    assert got == pytest.approx(exp_real + exp_fake, abs=0.02)

    # the flips are random: two calls differ, and the generator's target is never flipped
    assert obj.discriminator_loss(real, fake).item() != got
    assert obj.generator_loss(fake, real).item() == pytest.approx(bce_ref(f_vals, real_label), rel=1e-9)


def test_no_flips_is_deterministic() -> None:
    obj = build_objective("bce", real_label=0.9)
    r, f = t(REAL), t(FAKE2)
    assert obj.discriminator_loss(r, f).item() == obj.discriminator_loss(r, f).item()


# --- gradient penalty ---------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_gradient_penalty_linear_critic(scale: float) -> None:
    torch.manual_seed(0)
    w0 = torch.randn(12, dtype=torch.float64)
    w = (scale * w0 / w0.norm()).requires_grad_(True)  # ||w|| = scale

    def critic(x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ w

    real = torch.randn(8, 3, 2, 2, dtype=torch.float64)
    fake = torch.randn(8, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    gp = gradient_penalty(critic, real, fake)
    norm = w.norm().item()
    assert gp.item() == pytest.approx((norm - 1.0) ** 2, rel=1e-10, abs=1e-20)

    # differentiable w.r.t. the critic's parameters: d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    (grad_w,) = torch.autograd.grad(gp, w)
    expected = 2 * (norm - 1.0) * w.detach() / norm
    torch.testing.assert_close(grad_w, expected, rtol=1e-9, atol=1e-12)


def test_gradient_penalty_does_not_reach_generator() -> None:
    torch.manual_seed(0)
    w = torch.randn(5, requires_grad=True)
    real = torch.randn(4, 5)
    fake = torch.randn(4, 5, requires_grad=True)
    gp = gradient_penalty(lambda x: (x @ w) ** 2, real, fake)
    assert gp.requires_grad
    grad_fake, grad_w = torch.autograd.grad(gp, (fake, w), allow_unused=True)
    assert grad_fake is None
    assert grad_w is not None and torch.isfinite(grad_w).all()


# --- objective metadata -------------------------------------------------------------------------


def test_wasserstein_gp_defaults() -> None:
    obj = build_objective("wasserstein_gp")
    assert resolve_regularizers(obj, None)[0].weight == 10.0
    assert obj.default_n_critic == 5
    assert obj.is_critic is True
    assert obj.generator_needs_real is False
    custom = build_objective("wasserstein_gp", gp_weight=1.0, n_critic=2)
    (penalty,) = resolve_regularizers(custom, None)
    assert (penalty.name, penalty.weight, custom.default_n_critic) == ("gradient_penalty", 1.0, 2)


@pytest.mark.parametrize("name", ["minimax", "nonsaturating", "bce"])
def test_probability_objectives_are_not_critics(name: str) -> None:
    obj = build_objective(name)
    assert obj.is_critic is False
    assert obj.default_n_critic == 1
    assert resolve_regularizers(obj, None) == []
    assert obj.generator_needs_real is False


def test_hinge_is_critic() -> None:
    assert build_objective("hinge").is_critic is True


@pytest.mark.parametrize("form", ["average", "pairing"])
def test_relativistic_needs_real(form: str) -> None:
    obj = build_objective("relativistic", form=form)
    assert obj.generator_needs_real is True
    assert obj.describe() == f"relativistic(form={form})"


def test_describe_lists_options() -> None:
    described = build_objective("bce", real_label=0.9).describe()
    assert described == "bce(real_label=0.9, fake_label=0.0, flip_prob=0.0)"
    assert build_objective("minimax").describe() == "minimax()"


# --- registry -----------------------------------------------------------------------------------


def test_registry_names() -> None:
    names = OBJECTIVES.names()
    assert set(ALL_NAMES) <= set(names)
    assert names == sorted(names)
    for name in ALL_NAMES:
        assert name in OBJECTIVES
        obj = build_objective(name)
        assert isinstance(obj, Objective) and obj.name == name


def test_unknown_objective_name() -> None:
    with pytest.raises(ValueError) as info:
        build_objective("wgan")
    assert isinstance(info.value, UnknownNameError)
    msg = str(info.value)
    assert "\n" not in msg
    assert "model.objective" in msg and "wgan" in msg
    for name in OBJECTIVES.names():
        assert name in msg


def test_unknown_option() -> None:
    with pytest.raises(ValueError) as info:
        build_objective("bce", real_lable=0.9)
    msg = str(info.value)
    assert "\n" not in msg
    assert "model.objective_options" in msg and "real_lable" in msg
    for option in ("real_label", "fake_label", "flip_prob"):
        assert option in msg


def test_unknown_option_for_objective_without_options() -> None:
    with pytest.raises(ValueError, match=r"no option gp_weight; valid options: none"):
        build_objective("hinge", gp_weight=1.0)


@pytest.mark.parametrize(
    ("name", "options", "field"),
    [
        ("bce", {"real_label": 0.0}, "real_label"),
        ("bce", {"real_label": 1.5}, "real_label"),
        ("bce", {"flip_prob": 0.7}, "flip_prob"),
        ("bce", {"flip_prob": -0.1}, "flip_prob"),
        ("bce", {"real_label": 0.8, "fake_label": 0.8}, "fake_label"),
        ("relativistic", {"form": "foo"}, "form"),
        ("wasserstein_gp", {"gp_weight": -1.0}, "gp_weight"),
        ("wasserstein_gp", {"n_critic": 0}, "n_critic"),
    ],
)
def test_bad_option_values(name: str, options: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"model\.objective_options\.{field}"):
        build_objective(name, **options)


def test_duplicate_registration_rejected() -> None:
    reg = Registry("thing")
    reg.register("a")(lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a")(lambda: 2)
    assert reg.get("a")() == 1  # the first entry is kept

    before = OBJECTIVES.names()
    with pytest.raises(ValueError, match="minimax"):
        OBJECTIVES.register("minimax")(lambda: None)
    assert OBJECTIVES.names() == before
    assert build_objective("minimax").name == "minimax"
