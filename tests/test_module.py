"""The GAN system: iteration counting, a short run that trains, EMA, bad arguments, checkpoints."""

import copy
import os

import pytest
import torch
from lightning.pytorch import Callback, Trainer, seed_everything

from ganbench.data import GANDataModule
from ganbench.evaluation.callback import Evaluation
from ganbench.evaluation.mixture import score_mixture
from ganbench.module import GAN
from ganbench.step import EAGER, UPDATE_RULES, train_iteration


def make_trainer(tmp_path, max_steps, callbacks=(), **kwargs):
    kwargs.setdefault("enable_checkpointing", False)
    kwargs.setdefault("log_every_n_steps", 5)
    return Trainer(
        max_steps=max_steps,
        max_epochs=-1,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        default_root_dir=tmp_path,
        callbacks=list(callbacks),
        **kwargs,
    )


def adam_steps(optimizer) -> int:
    return int(next(iter(optimizer.state.values()))["step"])


@pytest.mark.parametrize(
    "objective, n_critic", [("nonsaturating", 1), ("nonsaturating", 3), ("wasserstein_gp", None)]
)
def test_max_steps_counts_generator_iterations(tmp_path, objective, n_critic):
    model = GAN(objective=objective, n_critic=n_critic)
    expected_critic = n_critic or 5
    data = GANDataModule(batch_size=16, batches_per_iteration=expected_critic)
    trainer = make_trainer(tmp_path, max_steps=7)
    trainer.fit(model, data)
    opt_d, opt_g = trainer.optimizers
    assert trainer.global_step == 7
    assert adam_steps(opt_g) == 7
    assert adam_steps(opt_d) == 7 * expected_critic


def test_intervals_are_in_iterations(tmp_path):
    model = GAN(objective="wasserstein_gp")  # n_critic = 5: 6 optimizer steps per iteration
    data = GANDataModule(batch_size=16, batches_per_iteration=5)
    trainer = make_trainer(
        tmp_path, max_steps=12, callbacks=[Evaluation(every_n_iterations=4, num_samples=100, plot=False)]
    )
    trainer.fit(model, data)
    assert [h["iteration"] for h in model.evaluation_history] == [4, 8, 12]
    assert model.final_metrics["num_samples"] == 100


def test_mismatched_batches_per_iteration_is_a_clear_error(tmp_path):
    model = GAN(objective="nonsaturating", n_critic=2)
    data = GANDataModule(batch_size=15, batches_per_iteration=1)
    with pytest.raises(ValueError, match="data.batches_per_iteration"):
        make_trainer(tmp_path, max_steps=1).fit(model, data)


def test_iterations_per_step_unlinked_from_the_data_is_a_clear_error(tmp_path):
    model = GAN(objective="nonsaturating", iterations_per_step=2)
    data = GANDataModule(batch_size=16)  # one iteration's batch per step
    with pytest.raises(ValueError, match="data.iterations_per_batch: .* got one batch; .* set both to 2"):
        make_trainer(tmp_path, max_steps=2).fit(model, data)


def test_short_run_really_trains_on_the_ring(tmp_path):
    """A few hundred iterations move G's samples from the origin onto the ring's modes."""
    torch.manual_seed(0)
    model = GAN(objective="nonsaturating", lr_generator=1e-3, lr_discriminator=1e-3, latent_dim=2)
    data = GANDataModule(dataset="ring", batch_size=128)
    before = score_mixture(data.dataset, model.generate(1000, seed=1))
    before_radius = model.generate(1000, seed=1).norm(dim=1).median()
    trainer = make_trainer(
        tmp_path, max_steps=600, callbacks=[Evaluation(every_n_iterations=0, num_samples=1000, plot=False)]
    )
    trainer.fit(model, data)
    after_radius = model.generate(1000, seed=1).norm(dim=1).median()
    after = model.final_metrics
    assert abs(after_radius - 1.0) < abs(before_radius - 1.0)
    assert abs(after_radius - 1.0) < 0.25
    assert after["modes_captured"] >= before["modes_captured"]
    assert after["high_quality_fraction"] > before["high_quality_fraction"]


def test_ema_tracks_generator_and_is_used_for_evaluation(tmp_path):
    model = GAN(objective="nonsaturating", ema_decay=0.9)
    data = GANDataModule(batch_size=16)
    make_trainer(tmp_path, max_steps=20).fit(model, data)
    ema = model.generator_ema.module
    assert model.evaluation_generator() is ema
    live = torch.nn.utils.parameters_to_vector(model.generator.parameters())
    averaged = torch.nn.utils.parameters_to_vector(ema.parameters())
    assert not torch.equal(live, averaged)  # an average of past weights, not a copy
    assert torch.isfinite(averaged).all()


@pytest.mark.parametrize("iterations_per_step", [1, 2])
def test_divergence_stops_the_run_and_is_recorded(tmp_path, iterations_per_step):
    # With two iterations per step, the divergence at iteration 3 lands inside a step: the step stops
    # there too, with the same state as one iteration per step.
    model = GAN(
        objective="nonsaturating",
        lr_generator=1e-3,
        divergence_check_every=1,
        iterations_per_step=iterations_per_step,
    )
    data = GANDataModule(batch_size=16, iterations_per_batch=iterations_per_step)

    from ganbench.runs.checkpoint import RunCheckpoint

    trainer = make_trainer(
        tmp_path, max_steps=50, enable_checkpointing=True, callbacks=[RunCheckpoint(every_n_train_steps=1)]
    )
    # Poison G's output from iteration 3 on: the run must stop there, not crash.
    original = model.generator.forward

    def poisoned(z):
        out = original(z)
        return out * float("nan") if model.global_step >= 2 else out

    model.generator.forward = poisoned
    trainer.fit(model, data)
    assert model.diverged_at == 3
    assert trainer.global_step == 3
    kept = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    # The last finite state, not the diverged one (steps end at iterations 2, 4, ... with two per step).
    assert kept["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in kept["state_dict"].values() if v.is_floating_point())


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"objective": "nope"}, "model.objective"),
        ({"net": "nope"}, "model.net"),
        ({"lr_generator": 0.0}, "model.lr_generator"),
        ({"lr_discriminator": -1e-4}, "model.lr_discriminator"),
        ({"n_critic": 0}, "model.n_critic"),
        ({"objective": "bce", "objective_options": {"real_label": 1.5}}, "real_label"),
        ({"objective": "bce", "objective_options": {"smoothing": 0.9}}, "smoothing"),
        ({"ema_decay": 1.0}, "model.ema_decay"),
        ({"compile_mode": "fastest"}, "model.compile_mode"),
        ({"objective": "wasserstein_gp", "compile": True}, "model.compile"),
        ({"iterations_per_step": 0}, "model.iterations_per_step"),
        ({"iterations_per_step": "auto"}, "model.iterations_per_step: 'auto' is resolved by ganbench's CLI"),
    ],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field) as info:
        GAN(**kwargs)
    assert "\n" not in str(info.value)


def test_checkpoint_from_another_objective_is_refused(tmp_path):
    model = GAN(objective="nonsaturating")
    trainer = make_trainer(tmp_path, max_steps=2)
    trainer.fit(model, GANDataModule(batch_size=8))
    path = tmp_path / "a.ckpt"
    trainer.save_checkpoint(path)
    other = GAN(objective="hinge")
    with pytest.raises(ValueError, match="objective='nonsaturating'"):
        other.on_load_checkpoint(torch.load(path, weights_only=False))


def test_best_checkpoint_by_an_evaluation_metric_is_kept(tmp_path):
    from ganbench.runs.checkpoint import RunCheckpoint

    checkpoint = RunCheckpoint(every_n_train_steps=10, monitor="eval/high_quality_fraction", mode="max")
    evaluation = Evaluation(every_n_iterations=10, num_samples=300, plot=False)
    model = GAN(objective="nonsaturating", lr_generator=1e-3, lr_discriminator=1e-3, latent_dim=16)
    trainer = Trainer(
        max_steps=40,
        max_epochs=-1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
        callbacks=[evaluation, checkpoint],
    )
    trainer.fit(model, GANDataModule(batch_size=64))
    history = {h["iteration"]: h["high_quality_fraction"] for h in model.evaluation_history}
    best_iteration = max(history, key=lambda i: (history[i], -i))
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    assert f"step={best_iteration}" in checkpoint.best_model_path
    assert float(checkpoint.best_model_score) == pytest.approx(history[best_iteration])


class LossTrace(Callback):
    """The logged training losses of every iteration (log_every_n_steps=1)."""

    def __init__(self) -> None:
        self.losses: list[tuple[float, float]] = []

    def on_train_batch_end(self, trainer, module, *args) -> None:
        metrics = trainer.callback_metrics
        self.losses.append((float(metrics["train/d_loss"]), float(metrics["train/g_loss"])))


def traced_losses(tmp_path, data: GANDataModule, steps: int, callbacks=(), **model_options) -> torch.Tensor:
    seed_everything(0)
    trace = LossTrace()
    module = GAN(**model_options)
    make_trainer(tmp_path, steps, [trace, *callbacks], log_every_n_steps=1).fit(module, data)
    # nn.Module.compile sets _compiled_call_impl: the compiled path really ran.
    assert (module.generator._compiled_call_impl is not None) == model_options.get("compile", False)
    # compile_step: the whole-iteration graph where Lightning's updates add nothing, else compiled forwards.
    whole = model_options.get("compile_step", False) and not callbacks
    assert (module._loop.compiled is not None) == whole
    assert (module.forwards is not EAGER) == model_options.get("compile_step", False)
    return torch.tensor(trace.losses)


def test_compiled_iterations_equal_eager_ones(tmp_path, trace_only_compile):
    data = lambda: GANDataModule(batch_size=64, seed=0)  # noqa: E731
    options = {"objective": "nonsaturating", "latent_dim": 8, "net_options": {"hidden": 32}}
    eager = traced_losses(tmp_path / "eager", data(), 4, **options)
    compiled = traced_losses(tmp_path / "compiled", data(), 4, compile=True, **options)
    assert eager.shape == (4, 2)
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)


def test_channels_last_iterations_equal_eager_ones(tmp_path):
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    from ganbench.data.images import ImageSource, TensorImages

    def data() -> GANDataModule:
        module = GANDataModule(batch_size=8, seed=0)
        module.source = ImageSource("tiny", {"train": TensorImages(images)})
        return module

    options = {"objective": "hinge", "net": "dcgan", "sample_shape": (1, 28, 28), "latent_dim": 8,
               "net_options": {"generator_width": 4, "discriminator_width": 4}}  # fmt: skip
    eager = traced_losses(tmp_path / "eager", data(), 3, **options)
    fast = traced_losses(tmp_path / "channels_last", data(), 3, channels_last=True, **options)
    torch.testing.assert_close(fast, eager, rtol=1e-4, atol=1e-5)


def test_learning_rates_decay_linearly_to_zero_from_lr_decay_start(tmp_path):
    model = GAN(objective="nonsaturating", lr_generator=1e-3, lr_discriminator=2e-3, lr_decay_start=0.5)
    rates = []

    class Rates(Callback):
        def on_train_batch_end(self, trainer, module, *args):
            rates.append([opt.param_groups[0]["lr"] for opt in trainer.optimizers])

    make_trainer(tmp_path, max_steps=8, callbacks=[Rates()]).fit(model, GANDataModule(batch_size=8))
    # after iteration k: factor min(1, (8 - k) / 4): 1, 1, 1, 1, 0.75, 0.5, 0.25, 0
    expected = [min(1.0, (8 - k) / 4) for k in range(1, 9)]
    assert [r[1] / 1e-3 for r in rates] == pytest.approx(expected)
    assert [r[0] / 2e-3 for r in rates] == pytest.approx(expected)
    with pytest.raises(ValueError, match="model.lr_decay_start"):
        GAN(lr_decay_start=1.0)


class BackwardHook(Callback):
    """A callback on Lightning's backward: the module must then take Lightning's own update path."""

    def __init__(self) -> None:
        self.calls = 0

    def on_before_backward(self, trainer, module, loss) -> None:
        self.calls += 1


def trained_state(tmp_path, steps: int, callbacks=(), **model_options) -> tuple[GAN, dict[str, torch.Tensor]]:
    seed_everything(0)
    module = GAN(latent_dim=8, net_options={"hidden": 16}, **model_options)
    data = GANDataModule(
        batch_size=32,
        seed=0,
        batches_per_iteration=module.n_critic,
        iterations_per_batch=module.hparams.iterations_per_step,
    )
    trainer = make_trainer(tmp_path, steps, list(callbacks), log_every_n_steps=2)
    trainer.fit(module, data)
    assert trainer.global_step == steps
    return module, {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("options", [{}, {"n_critic": 2, "ema_decay": 0.9}, {"update": "simultaneous"}])
def test_direct_updates_equal_lightnings_bit_for_bit(tmp_path, options):
    """Without step hooks the module calls backward() and step() itself; the weights are the same bits."""
    direct, direct_state = trained_state(tmp_path / "direct", 6, **options)
    hook = BackwardHook()
    routed, routed_state = trained_state(tmp_path / "lightning", 6, [hook], **options)
    assert type(direct._loop.updates).__name__ == "_DirectUpdates"
    assert type(routed._loop.updates).__name__ == "_LightningUpdates"
    assert hook.calls == 6 * (direct.n_critic + 1)  # the hook really ran on every backward
    assert direct_state.keys() == routed_state.keys()
    for name, value in direct_state.items():
        assert torch.equal(value, routed_state[name]), name


@pytest.mark.parametrize(
    "options, hooked",
    [({}, False), ({"n_critic": 2, "ema_decay": 0.9}, False), ({}, True), ({"compile_step": True}, False)],
)
def test_several_iterations_per_step_are_the_same_iterations(tmp_path, request, options, hooked):
    """Two iterations per training step: the same weights, bit for bit, on the direct, Lightning's
    (hooked) and compiled update paths."""
    if options.get("compile_step"):
        request.getfixturevalue("trace_only_compile")
    callbacks = lambda: [BackwardHook()] if hooked else []  # noqa: E731
    _, one_state = trained_state(tmp_path / "one", 6, callbacks(), **options)
    grouped, grouped_state = trained_state(tmp_path / "two", 6, callbacks(), iterations_per_step=2, **options)
    assert grouped.trainer.fit_loop.epoch_loop.batch_progress.total.completed == 3  # three steps
    assert one_state.keys() == grouped_state.keys()
    for name, value in one_state.items():
        assert torch.equal(value, grouped_state[name]), name


def test_fit_runs_the_update_rule_it_is_given(tmp_path, monkeypatch):
    """model.update reaches the shared step under fit (hparams.update is AttributeDict's dict method, which
    once silently made every fit alternating), and the rules train differently."""
    import ganbench.module

    rules = []

    def spy(*args, **kwargs):
        rules.append(kwargs["rule"])
        return train_iteration(*args, **kwargs)

    monkeypatch.setattr(ganbench.module, "train_iteration", spy)
    states = {}
    for rule in UPDATE_RULES:
        rules.clear()
        _, states[rule] = trained_state(tmp_path / rule, 3, update=rule)
        assert rules == [rule] * 3
    simultaneous, alternating = states["simultaneous"], states["alternating"]
    assert not all(torch.equal(simultaneous[k], alternating[k]) for k in simultaneous)


def test_foreach_adam_is_the_per_tensor_adam_bit_for_bit():
    """The module's optimizers use foreach kernels; PyTorch's CPU default (per tensor) gives the same bits."""
    module = GAN(latent_dim=4, net_options={"hidden": 8})
    copies = [copy.deepcopy(module.discriminator) for _ in range(2)]
    fast = module.optimizers_for(copies[0].parameters(), module.generator.parameters())[0]
    assert fast.defaults["foreach"] is True
    slow = torch.optim.Adam(copies[1].parameters(), lr=fast.defaults["lr"], betas=fast.defaults["betas"])
    x = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    for k in range(5):
        for net, opt in zip(copies, (fast, slow), strict=True):
            opt.zero_grad()
            net(x * (k + 1)).pow(2).mean().backward()
            opt.step()
    for a, b in zip(copies[0].parameters(), copies[1].parameters(), strict=True):
        assert torch.equal(a, b)


def test_nvml_probe_is_skipped_only_inside_a_cpu_iteration(tmp_path, monkeypatch):
    """Adam's per-step CUDA probe asks the CUDA runtime during an iteration; the setting is restored."""
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    seen = []

    class Probe(Callback):
        def on_train_batch_end(self, trainer, module, *args) -> None:
            seen.append(os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"])

    original = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        seen.append("step:" + os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    trained_state(tmp_path, 2, [Probe()])
    assert seen == ["step:0", "step:0", "1"] * 2
    assert os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] == "1"


class OptimizerStepHook(Callback):
    """A hook on the optimizer step: Lightning's update path (and compile_step's compiled forwards)."""

    def on_before_optimizer_step(self, trainer, module, optimizer) -> None:
        pass


@pytest.mark.parametrize("hooked", [False, True])
def test_compiled_step_equals_the_eager_iteration(tmp_path, hooked, trace_only_compile):
    """compile_step under fit: the whole iteration as one graph (one process, fp32, no step hooks), else
    both forwards compiled under Lightning's updates with fused Adam; the losses follow eager's. Traced
    without Inductor's code generation (trace_only_compile): Inductor's numerics are
    test_compiled_iteration's."""
    data = lambda: GANDataModule(batch_size=64, seed=0)  # noqa: E731
    options = {"objective": "bce", "objective_options": {"flip_prob": 0.2}, "latent_dim": 8,
               "net_options": {"hidden": 32}, "ema_decay": 0.9}  # fmt: skip
    eager = traced_losses(tmp_path / "eager", data(), 5, **options)
    extra = [OptimizerStepHook()] if hooked else []
    compiled = traced_losses(tmp_path / "compiled", data(), 5, extra, compile_step=True, **options)
    assert not torch.equal(eager[0], eager[-1])  # it trains
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"regularizers": [{"name": "r1"}]}, "model.compile_step: torch.compile does not support the double"),
        ({"objective": "wasserstein_gp"}, "model.compile_step: .*gradient_penalty; valid choice .*: false"),
    ],
)
def test_compiled_step_refuses_what_it_cannot_compile(options, message):
    with pytest.raises(ValueError, match=message):
        GAN(compile_step=True, **options)
