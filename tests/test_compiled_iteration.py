"""compile_step's whole-iteration graph against the eager iteration (ganbench.step.train_iteration)."""

import copy

import pytest
import torch
from torch._dynamo.utils import counters

from ganbench.compiled_iteration import CompiledIteration
from ganbench.nets import build_nets
from ganbench.objectives import build_objective
from ganbench.step import GlobalDraws, Players, train_iteration
from tests.test_step import PlainUpdates


def _pair(latent_dim: int, packing: int):
    """G with BatchNorm (running statistics are buffers the graph updates), D judging packs; one hidden
    layer each: every op of the deeper nets, and a fifth less of Inductor's cold compile (~16 s of CPU)."""
    torch.manual_seed(0)
    g, _ = build_nets("mlp", (2,), latent_dim, hidden=16, generator_layers=1, generator_batch_norm=True)
    _, d = build_nets("mlp", (2 * packing,), latent_dim, hidden=16, discriminator_layers=1)
    return g, d


def _adams(g, d):
    # eps 1e-6: a relativistic loss is blind to a shift of D's logits, so D's output bias has a zero
    # gradient up to rounding, which Adam at eps 1e-8 divides by its own size into a full step.
    return (torch.optim.Adam(d.parameters(), 2e-3, betas=(0.5, 0.9), eps=1e-6),
            torch.optim.Adam(g.parameters(), 1e-3, eps=1e-6))  # fmt: skip


@pytest.mark.parametrize(
    "objective, options, d_atol, rule, inductor",
    # bce: uniforms drawn in the D step. relativistic: G's loss needs real logits; D's output bias (and,
    # nearly, its hidden biases) have zero gradient up to rounding, which Adam scales up: D's outputs
    # and biases agree to 1e-3 there, everything else as for bce. simultaneous: PacGAN's rule (one D step).
    # Inductor's C++ code runs for the alternating bce case, whose graph holds every op of the others
    # (forwards, losses, autograd.grad, Adam, BatchNorm's buffer updates, updates read by later steps);
    # the other two are traced without code generation (trace_only_compile: Dynamo's graph,
    # AOTAutograd's functionalization and the RNG order are checked, run as ATen ops): each cold
    # Inductor compile costs 25-60 s of a 2-core runner.
    [
        ("bce", {"flip_prob": 0.3}, 1e-5, "alternating", True),
        ("relativistic", {}, 1e-3, "alternating", False),
        ("bce", {"flip_prob": 0.3}, 1e-5, "simultaneous", False),
    ],
)
def test_compiled_iteration_equals_the_eager_one(request, objective, options, d_atol, rule, inductor):
    """Two D steps per iteration (alternating), packing 2, a BatchNorm G, label flips or real logits in G's
    loss, and a learning-rate change between iterations: statistics, nets and the optimizers' Adam states
    follow eager's, in one graph."""
    if not inductor:
        request.getfixturevalue("trace_only_compile")
    latent_dim, packing, n_critic = 4, 2, 2 if rule == "alternating" else 1
    objective = build_objective(objective, **options)
    eager_g, eager_d = _pair(latent_dim, packing)
    g, d = copy.deepcopy(eager_g), copy.deepcopy(eager_d)
    eager_opts, opts = _adams(eager_g, eager_d), _adams(g, d)
    data = torch.Generator().manual_seed(1)
    batches = [torch.randn(n_critic * packing * 8, 2, generator=data) for _ in range(4)]

    eager_players = Players(eager_g, eager_d, latent_dim, packing=packing)
    updates = PlainUpdates(*eager_opts, eager_g, eager_d)
    torch.manual_seed(2)
    eager_stats = []
    for i, batch in enumerate(batches):
        for opt in eager_opts:
            opt.param_groups[0]["lr"] *= 0.5 if i == 2 else 1.0
        eager_stats.append(
            train_iteration(
                eager_players,
                objective,
                [],
                batch.chunk(n_critic),
                GlobalDraws(torch.device("cpu")),
                updates,
                diagnostics=True,
                rule=rule,
            )  # fmt: skip
        )

    counters.clear()
    compiled = CompiledIteration(Players(g, d, latent_dim, packing=packing), objective, g, d, opts, rule=rule)
    torch.manual_seed(2)
    for i, (batch, expected) in enumerate(zip(batches, eager_stats, strict=True)):
        for opt in opts:
            opt.param_groups[0]["lr"] *= 0.5 if i == 2 else 1.0
        stats = compiled(batch.chunk(n_critic), diagnostics=True)
        assert stats.keys() == expected.keys()
        for key in stats:
            atol = d_atol if key in ("d_real", "d_fake") else 1e-5
            torch.testing.assert_close(stats[key], expected[key], rtol=1e-4, atol=atol, msg=key)
    assert counters["stats"]["unique_graphs"] == 1  # the whole iteration, one graph, no recompile
    for mine, theirs, atol in ((g, eager_g, 1e-5), (d, eager_d, d_atol)):  # weights, BatchNorm's statistics
        for (key, a), b in zip(mine.state_dict().items(), theirs.state_dict().values(), strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=atol, msg=key)
    for opt, eager_opt in zip(opts, eager_opts, strict=True):  # Adam's state, where an eager step resumes
        state, eager_state = opt.state_dict()["state"], eager_opt.state_dict()["state"]
        assert state.keys() == eager_state.keys()
        for index in state:
            for key in ("step", "exp_avg", "exp_avg_sq"):
                torch.testing.assert_close(state[index][key], eager_state[index][key], rtol=1e-4, atol=1e-6)
    assert not torch.equal(g.body[0].weight, _pair(latent_dim, packing)[0].body[0].weight)  # it trains
    plain = compiled(batches[0].chunk(n_critic), diagnostics=False)
    assert set(plain) == {"d_loss", "d_real", "d_fake", "g_loss"}  # diagnostics only when asked, as eager


def test_compiled_iteration_needs_the_nets_own_optimizers():
    g, d = _pair(4, 1)
    opts = _adams(g, d)
    with pytest.raises(ValueError, match="model.compile_step: the discriminator's optimizer"):
        CompiledIteration(Players(g, d, 4), build_objective("hinge"), g, d, opts[::-1])
