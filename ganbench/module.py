"""The GAN system: one LightningModule with manual optimization for every objective."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from lightning.pytorch import Callback, LightningModule
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.strategies import SingleDeviceStrategy
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ganbench.compiled_iteration import CompiledIteration
from ganbench.nets import build_nets
from ganbench.objectives import Objective, build_objective
from ganbench.seeding import batch_seed
from ganbench.step import (
    EAGER,
    UPDATE_RULES,
    Forwards,
    GlobalDraws,
    Players,
    discriminator_forward,
    first_nonfinite,
    generator_forward,
    needs_double_backward,
    nonfinite_parameters,
    resolve_n_critic,
    resolve_regularizers,
    train_iteration,
    train_scalars,
)

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


# Hooks that Lightning's backward and optimizer step call; where nothing overrides them (and one process
# runs in plain fp32), the iteration may call backward() and step() itself (``_DirectUpdates``).
_STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
_MODULE_HOOKS = (*_STEP_HOOKS, "backward", "optimizer_step")
_NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


def _no_closure() -> None:
    return None


@contextlib.contextmanager
def cuda_runtime_check() -> Iterator[None]:
    """CUDA's availability asked through the CUDA runtime while CUDA is not initialised.

    Lightning sets PYTORCH_NVML_BASED_CUDA_CHECK=1 at import; until CUDA is initialised (always, in a
    CPU run) ``torch.cuda.is_available`` then dlopens NVML on every call, and Adam's step asks it every
    step: about 0.3 ms per optimizer step, a fifth of a toy iteration. The runtime answer is the same.
    """
    saved = os.environ.get(_NVML_CHECK)
    if saved != "1" or torch.cuda.is_initialized():
        yield
        return
    os.environ[_NVML_CHECK] = "0"
    try:
        yield
    finally:
        os.environ[_NVML_CHECK] = saved


class GAN(LightningModule):
    """A GAN trained by alternating n_critic discriminator steps and one generator step.

    One **iteration** is n_critic D steps then one G step, and ``trainer.global_step`` counts
    iterations: so ``--trainer.max_steps=N`` trains exactly N generator iterations and every
    interval (logging, evaluation, checkpoints) is in iterations. Each training batch carries the
    real samples of one iteration: ``n_critic`` chunks, one per D step (the CLI links the data
    module's ``batches_per_iteration`` to the resolved n_critic times ``packing``).

    ``iterations_per_step`` K > 1 runs K iterations in one Lightning ``training_step`` (as Keras's
    ``steps_per_execution``): the batch then holds the K iterations' batches, and Lightning's per-batch
    work (fetching, hooks, callbacks: about 1 ms on a CPU) is paid once per K iterations. The iterations,
    their data and every logged, evaluated or saved number are those of K = 1; callbacks see every K-th
    iteration, so K must divide every interval (the CLI checks it). The CLI's default, ``"auto"``, picks
    the largest K up to 10 that divides them (``ganbench.cli.resolve_iterations_per_step``); the module
    itself takes the resolved integer.

    Args:
        objective: registered objective name (``ganbench.objectives.OBJECTIVES``).
        objective_options: the objective's keyword options, e.g. ``{"real_label": 0.9}``.
        regularizers: penalties on D, ``[{"name": "r1", "options": {"gamma": 10}}]``
            (``ganbench.regularizers.REGULARIZERS``); added to the objective's own (WGAN-GP's gradient
            penalty), and a listed name replaces the objective's entry of that name.
        net: registered net pair name (``ganbench.nets.NETS``).
        net_options: the net factory's keyword options.
        sample_shape: shape of one sample; set by the data module through the CLI.
        latent_dim: dimension of z ~ N(0, I).
        n_critic: D steps per iteration; None takes the objective's default (5 for WGAN-GP).
        update: ``alternating`` (n_critic D steps, then a G step against the updated D) or
            ``simultaneous`` (PacGAN's toy protocol: D's and G's gradients from one batch of samples,
            both optimizers stepped together; n_critic must be 1).
        packing: D judges ``packing`` samples at once, concatenated (PacGAN, Lin et al., 2018); each
            step then draws ``packing`` x batch_size real and generated samples. 1 turns it off.
        lr_generator, lr_discriminator: Adam learning rates (TTUR: Heusel et al., 2017).
        betas: Adam betas for both optimizers.
        lr_decay_start: fraction of ``trainer.max_steps`` after which both learning rates decay
            linearly to 0 at the last iteration (sharpens the modes at the end of a fixed budget);
            None keeps them constant.
        ema_decay: decay of the EMA of G's weights (Yazici et al., 2019); None turns EMA off.
            When on, evaluation uses the EMA generator.
        divergence_check_every: iterations between host checks for NaN/inf (a check syncs the device).
        compile: ``torch.compile`` G and D (``nn.Module.compile``: weights and checkpoints unchanged).
            Not with a gradient penalty: compiled graphs do not support its double backward.
        compile_step: the compiled fast path for small nets on a CPU: the whole iteration (both
            steps, their gradients, both Adam updates) as one ``torch.compile`` graph
            (``ganbench.compiled_iteration``), equal to the eager iteration within float rounding;
            where Lightning's backward or step does work (DDP, bf16, step hooks) each step's forward is
            compiled instead, with fused Adam. Either update rule; no regularizer.
        compile_mode: torch.compile's mode: default, reduce-overhead (CUDA graphs), max-autotune,
            max-autotune-no-cudagraphs.
        channels_last: keep conv weights and image batches in channels-last memory format (faster
            convolutions with tensor cores; same arithmetic).
        iterations_per_step: GAN iterations per Lightning training step (see above): an integer, or on
            the command line auto (its default: the largest K up to 10 that divides every interval);
            the CLI links ``data.iterations_per_batch`` to it.
    """

    def __init__(
        self,
        objective: str = "nonsaturating",
        objective_options: dict[str, Any] | None = None,
        regularizers: list[dict[str, Any]] | None = None,
        net: str = "mlp",
        net_options: dict[str, Any] | None = None,
        sample_shape: tuple[int, ...] = (2,),
        latent_dim: int = 2,
        n_critic: int | None = None,
        packing: int = 1,
        update: str = "alternating",
        lr_generator: float = 1e-4,
        lr_discriminator: float = 1e-4,
        lr_decay_start: float | None = None,
        betas: tuple[float, float] = (0.5, 0.999),
        ema_decay: float | None = None,
        divergence_check_every: int = 50,
        compile: bool = False,
        compile_mode: str = "default",
        compile_step: bool = False,
        channels_last: bool = False,
        iterations_per_step: int | Literal["auto"] = 1,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        for field, value in (
            ("model.lr_generator", lr_generator),
            ("model.lr_discriminator", lr_discriminator),
        ):
            if not value > 0:
                raise ValueError(f"{field}: learning rate must be > 0, got {value}")
        if isinstance(packing, bool) or not isinstance(packing, int) or packing < 1:
            raise ValueError(f"model.packing: must be an integer >= 1, got {packing}")
        if lr_decay_start is not None and not 0.0 <= lr_decay_start < 1.0:
            raise ValueError(f"model.lr_decay_start: must be in [0, 1) or null, got {lr_decay_start}")
        if ema_decay is not None and not 0.0 < ema_decay < 1.0:
            raise ValueError(f"model.ema_decay: must be in (0, 1) or null, got {ema_decay}")
        if latent_dim < 1:
            raise ValueError(f"model.latent_dim: must be >= 1, got {latent_dim}")
        valid_iterations_per_step(iterations_per_step)
        if divergence_check_every < 1:
            raise ValueError(f"model.divergence_check_every: must be >= 1, got {divergence_check_every}")

        if compile_mode not in COMPILE_MODES:
            raise ValueError(
                f"model.compile_mode: {compile_mode!r}; valid choices: {', '.join(COMPILE_MODES)}"
            )
        self.objective: Objective = build_objective(objective, **(objective_options or {}))
        self.regularizers = resolve_regularizers(self.objective, regularizers)
        for field, on in (("model.compile", compile), ("model.compile_step", compile_step)):
            if on and needs_double_backward(self.regularizers):
                names = ", ".join(r.name for r in self.regularizers)
                raise ValueError(
                    f"{field}: torch.compile does not support the double backward of {names}; "
                    "valid choice with these regularizers: false"
                )
        self.n_critic = resolve_n_critic(self.objective, n_critic)
        if update not in UPDATE_RULES:
            raise ValueError(f"model.update: {update!r}; valid choices: {', '.join(UPDATE_RULES)}")
        if update == "simultaneous" and self.n_critic != 1:
            raise ValueError(
                f"model.update: simultaneous updates take one D step, but n_critic={self.n_critic}"
            )
        sample_shape = tuple(sample_shape)
        self.generator, self.discriminator = build_nets(net, sample_shape, latent_dim, **(net_options or {}))
        if packing > 1:
            # D sees packs of m samples concatenated along their first axis (features or channels).
            packed = (packing * sample_shape[0], *sample_shape[1:])
            self.discriminator = build_nets(net, packed, latent_dim, **(net_options or {})).discriminator
        self.players = Players(self.generator, self.discriminator, latent_dim, batch_dims=1, packing=packing)
        self.generator_ema = (
            AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
            if ema_decay is not None
            else None
        )
        # Filled by the evaluation callback; saved in checkpoints so a resumed run keeps its curve.
        self.evaluation_history: list[dict[str, Any]] = []
        self.final_metrics: dict[str, Any] = {}
        # Divergence is tracked on the device and read back only every few iterations (no per-step sync).
        self.register_buffer("_first_nonfinite", torch.tensor(-1, dtype=torch.long), persistent=False)
        self.diverged_at: int | None = None
        self._prepared = False
        self._loop: _LoopState | None = None  # per-fit objects, built at the first iteration
        self.forwards: Forwards = EAGER  # the steps' forward passes (compiled by compile_step)
        # The callbacks that the CLI's ``auto`` chose K > 1 for (ganbench.cli); None: K was not auto's.
        self.auto_iterations_callbacks: tuple[Any, ...] | None = None

    def setup(self, stage: str) -> None:
        """A callback added to the trainer after ``auto`` chose K > 1 (from Python, after
        ``lightning_main(run=False)``) would see every K-th iteration only: such a fit runs K = 1."""
        known = self.auto_iterations_callbacks
        if stage != "fit" or known is None or self.hparams.get("iterations_per_step", 1) == 1:
            return
        if all(any(callback is seen for seen in known) for callback in self.trainer.callbacks):
            return
        self.hparams.iterations_per_step = 1  # the K this fit runs, as its checkpoints will record
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "iterations_per_batch"):
            datamodule.iterations_per_batch = 1  # read when the training batches are built, after setup

    def configure_model(self) -> None:
        """Lightning's hook before training/evaluation: memory format and compilation, once."""
        if self._prepared:
            return
        self._prepared = True
        hp = self.hparams
        if hp.channels_last:
            for net in (self.generator, self.discriminator, self.generator_ema):
                if net is not None:
                    net.to(memory_format=torch.channels_last)
        if hp.compile:
            # nn.Module.compile compiles forward in place: parameter names and checkpoints stay the same.
            self.generator.compile(mode=hp.compile_mode)
            self.discriminator.compile(mode=hp.compile_mode)
        if hp.get("compile_step", False):
            self.forwards = compiled_forwards(hp.compile_mode)

    # ------------------------------------------------------------------ generation
    def sample_noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.hparams.latent_dim, device=self.device, generator=generator)

    def forward(self, z: Tensor) -> Tensor:
        return self.evaluation_generator()(z)

    def evaluation_generator(self) -> nn.Module:
        """The generator used for evaluation: the EMA weights when EMA is on."""
        return self.generator_ema.module if self.generator_ema is not None else self.generator

    @torch.no_grad()
    def generate(self, n: int, seed: int, batch_size: int = 4096) -> Tensor:
        """n samples from a fixed noise seed, in eval mode, without touching the training RNG."""
        net = self.evaluation_generator()
        was_training = net.training
        net.eval()
        noise_rng = torch.Generator(device=self.device).manual_seed(seed)
        chunks = [
            net(self.sample_noise(min(batch_size, n - start), noise_rng)).float()
            for start in range(0, n, batch_size)
        ]
        net.train(was_training)
        return torch.cat(chunks)

    # ------------------------------------------------------------------ training
    def configure_optimizers(self) -> Any:
        optimizers = self.optimizers_for(self.discriminator.parameters(), self.generator.parameters())
        schedulers = self.schedulers_for(optimizers, self.trainer.max_steps)
        return (optimizers, schedulers) if schedulers else optimizers

    def schedulers_for(self, optimizers: list[torch.optim.Optimizer], max_steps: int) -> list[Any]:
        """The schedule of ``lr_decay_start``: one scheduler per optimizer, stepped every iteration."""
        start = self.hparams.lr_decay_start
        if start is None:
            return []
        if max_steps is None or max_steps < 1:
            raise ValueError("model.lr_decay_start: needs a positive trainer.max_steps to decay towards")
        decay_from = int(start * max_steps)

        def factor(step: int) -> float:  # step = iterations done; 1 until decay_from, then linearly to 0
            return min(1.0, max(0.0, (max_steps - step) / max(max_steps - decay_from, 1)))

        return [torch.optim.lr_scheduler.LambdaLR(opt, factor) for opt in optimizers]

    def optimizers_for(self, discriminator_params: Any, generator_params: Any) -> list[torch.optim.Optimizer]:
        """D's and G's Adam (TTUR learning rates) over the given parameters: one net's, or a stack's."""
        hp = self.hparams
        # foreach: one kernel per Adam operation over all tensors, bit for bit the per-tensor loop
        # (tests/test_module.py), which is PyTorch's CPU default. fused (compile_step): one kernel
        # for the whole update, equal within float rounding.
        kernels = {"fused": True} if hp.get("compile_step", False) else {"foreach": True}
        options = {"betas": tuple(hp.betas), **kernels}
        return [
            torch.optim.Adam(discriminator_params, lr=hp.lr_discriminator, **options),
            torch.optim.Adam(generator_params, lr=hp.lr_generator, **options),
        ]

    def training_step(self, batch: Tensor | list[Tensor], batch_idx: int) -> None:
        loop = self._loop or self._build_loop()
        iterations_per_step = self.hparams.get("iterations_per_step", 1)
        batches = [batch] if iterations_per_step == 1 else batch
        if not isinstance(batches, (list, tuple)) or len(batches) != iterations_per_step:
            got = f"{len(batches)} batches" if isinstance(batches, (list, tuple)) else "one batch"
            raise ValueError(
                f"data.iterations_per_batch: a training step of model.iterations_per_step="
                f"{iterations_per_step} got {got}; the CLI links them, set both to {iterations_per_step}"
            )
        done = 0
        for real in batches:
            if self.diverged_at is not None or 0 < self.trainer.max_steps <= self.global_step:
                break
            self._run_iteration(loop, real)
            done += 1
        if done > 1:
            # Lightning counts one batch per training step (its log step and log interval); the
            # iterations it did not see are added, so both count iterations as with one per step.
            self.trainer.fit_loop.epoch_loop._batches_that_stepped += done - 1

    def _run_iteration(self, loop: _LoopState, batch: Tensor) -> None:
        """One GAN iteration on its real batch, with its logging and divergence check."""
        if batch.shape[0] % loop.chunks:
            raise ValueError(
                f"data.batches_per_iteration: a batch of {batch.shape[0]} does not split into "
                f"n_critic={self.n_critic} D steps of packing={self.players.packing}; set it to {loop.chunks}"
            )
        if self.hparams.channels_last and batch.dim() == 4:
            batch = batch.contiguous(memory_format=torch.channels_last)
        iteration = self.global_step + 1  # 1-based number of the iteration being run
        log_now = iteration % loop.log_every == 0
        with loop.runtime_check():
            if loop.compiled is not None:
                stats = loop.compiled(batch.chunk(self.n_critic), diagnostics=log_now)
                loop.updates.count_generator_step()  # the compiled iteration stepped G's Adam itself
            else:
                stats = train_iteration(
                    self.players,
                    self.objective,
                    self.regularizers,
                    batch.chunk(self.n_critic),
                    loop.draws,
                    loop.updates,
                    diagnostics=log_now,
                    rule=self.hparams["update"],
                    forwards=self.forwards,
                )
        # In place: a buffer assignment goes through nn.Module.__setattr__ every iteration.
        self._first_nonfinite.copy_(first_nonfinite(self._first_nonfinite, iteration, stats))
        for scheduler in loop.schedulers:
            scheduler.step()
        if log_now:
            self.log_dict(train_scalars(stats), on_step=True, on_epoch=False, sync_dist=True)
        if iteration % self.hparams.divergence_check_every == 0 or iteration >= self.trainer.max_steps > 0:
            self.check_divergence()

    def _build_loop(self) -> _LoopState:
        """What every iteration of this fit uses: optimizers, schedulers, draws, the update path."""
        opt_d, opt_g = self.optimizers()
        trainer = self.trainer
        direct = _direct_updates_allowed(self)
        updates = _DirectUpdates(self, opt_d, opt_g) if direct else _LightningUpdates(self, opt_d, opt_g)
        on_cpu = self.device.type == "cpu"
        # compile_step's whole-iteration graph steps the raw optimizers itself: only where Lightning's
        # backward and step add nothing (else the compiled forwards run through Lightning's updates).
        compiled = (
            CompiledIteration(
                self.players, self.objective, self.generator, self.discriminator,
                (opt_d.optimizer, opt_g.optimizer), self.hparams.compile_mode, self.hparams["update"],
            )
            if direct and self.hparams.get("compile_step", False)
            else None
        )  # fmt: skip
        self._loop = _LoopState(
            chunks=self.n_critic * self.players.packing,
            log_every=max(trainer.log_every_n_steps, 1),
            draws=GlobalDraws(self.device),
            updates=updates,
            schedulers=[config.scheduler for config in trainer.lr_scheduler_configs],
            runtime_check=cuda_runtime_check if on_cpu else contextlib.nullcontext,
            compiled=compiled,
        )
        return self._loop

    def on_train_start(self) -> None:
        self._loop = None  # a new fit (or a resumed one) builds its loop objects again
        self._restore_rng()

    def check_divergence(self) -> bool:
        """Read the device-side divergence flag (one sync) and stop the trainer if a loss went NaN/inf."""
        if self.diverged_at is None:
            first = int(self._first_nonfinite.item())
            if first < 0 and bool(nonfinite_parameters(self.generator.parameters())):
                first = self.global_step
            if first >= 0:
                self.diverged_at = first
                self.trainer.should_stop = True
        return self.diverged_at is not None

    # ------------------------------------------------------------------ validate / test
    def validation_step(self, batch: Any, batch_idx: int) -> None:
        """Evaluation runs in the Evaluation callback; the loop only has to exist."""

    def test_step(self, batch: Any, batch_idx: int) -> None:
        """Evaluation runs in the Evaluation callback; the loop only has to exist."""

    # ------------------------------------------------------------------ checkpoints
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["ganbench"] = {
            "objective": self.hparams.objective,
            "net": self.hparams.net,
            "evaluation_history": self.evaluation_history,
            "diverged_at": self.diverged_at,
            "rng": _rng_states(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get("ganbench")
        if saved is None:
            raise ValueError("ckpt_path: not a ganbench checkpoint (no 'ganbench' section)")
        self.check_checkpoint_matches(saved)
        self.evaluation_history = list(saved["evaluation_history"])
        self.diverged_at = saved["diverged_at"]
        self._restored_rng = saved["rng"]

    def check_checkpoint_matches(self, saved: dict[str, Any]) -> None:
        """Refuse a checkpoint of another objective or net with a one-line error."""
        for key in ("objective", "net"):
            if saved.get(key) != self.hparams[key]:
                raise ValueError(
                    f"ckpt_path: checkpoint was trained with {key}={saved.get(key)!r}, "
                    f"but model.{key}={self.hparams[key]!r}"
                )

    def _restore_rng(self) -> None:
        rng = getattr(self, "_restored_rng", None)
        self._restored_rng = None
        if self.trainer.world_size > 1:
            # seed_everything gives every rank the same seed; G's noise must differ between ranks.
            # A checkpoint holds rank 0's RNG only, so ranks are reseeded from (seed, rank, iteration).
            base = int(os.environ.get("PL_GLOBAL_SEED", 0))
            torch.manual_seed(batch_seed(base, self.global_rank, self.global_step))
        elif rng is not None:
            # Restored last, after Lightning's own restore, so a resumed run draws the same noise.
            _set_rng_states(rng)


def compiled_forwards(mode: str = "default") -> Forwards:
    """The steps' forward passes compiled, each as one graph with its backward (AOTAutograd)."""
    import torch._inductor.config

    # Inductor's own RNG would draw other numbers than eager PyTorch (bce's label flips draw inside
    # the forward): eager's RNG keeps the compiled iteration the eager one.
    torch._inductor.config.fallback_random = True
    return Forwards(
        discriminator=torch.compile(discriminator_forward, mode=mode),
        generator=torch.compile(generator_forward, mode=mode),
    )


@dataclass
class _LoopState:
    chunks: int
    log_every: int
    draws: GlobalDraws
    updates: Any
    schedulers: list[Any]
    runtime_check: Callable[[], contextlib.AbstractContextManager[Any]]
    compiled: CompiledIteration | None = None


def valid_iterations_per_step(value: Any) -> int:
    """``model.iterations_per_step``, or a one-line error unless it is an integer >= 1."""
    if value == "auto":
        raise ValueError(
            "model.iterations_per_step: 'auto' is resolved by ganbench's CLI from the run's intervals "
            "(ganbench.cli.resolve_iterations_per_step); the GAN module takes an integer >= 1"
        )
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"model.iterations_per_step: must be an integer >= 1, got {value}")
    return value


def _overrides(obj: Any, base: type, name: str) -> bool:
    return getattr(type(obj), name, None) is not getattr(base, name, None)


def _direct_updates_allowed(module: GAN) -> bool:
    """Whether Lightning's backward and step add nothing here: one process, plain fp32 precision, and no
    callback or module hook on backward or the optimizer step. Then ``_DirectUpdates`` does the same."""
    trainer = module.trainer
    if type(trainer.strategy) is not SingleDeviceStrategy or type(trainer.precision_plugin) is not Precision:
        return False
    if any(_overrides(module, LightningModule, name) for name in _MODULE_HOOKS):
        return False
    if any(_overrides(cb, Callback, name) for cb in trainer.callbacks for name in _STEP_HOOKS):
        return False
    optimizers = module.optimizers()
    return all(hasattr(opt, "_on_before_step") and hasattr(opt, "_on_after_step") for opt in optimizers)


class _DirectUpdates:
    """The updates of ``_LightningUpdates`` without Lightning's per-call dispatch (hooks none override,
    strategy and precision calls that only forward). G's step still tells Lightning's loop that an
    optimizer stepped, so ``global_step`` counts iterations as before."""

    def __init__(self, module: GAN, opt_d: Any, opt_g: Any) -> None:
        self.module, self.opt_d, self.opt_g = module, opt_d, opt_g
        self.raw_d, self.raw_g = opt_d.optimizer, opt_g.optimizer
        # The D parameters that G's phase freezes (as toggle_optimizer does) and thaws after.
        self.d_params = [p for p in module.discriminator.parameters() if p.requires_grad]

    def discriminator_phase(self) -> contextlib.AbstractContextManager[Any]:
        # toggle_optimizer(D) freezes G, which no D step differentiates anyway (fakes are detached).
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def generator_phase(self) -> Iterator[None]:
        for p in self.d_params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in self.d_params:
                p.requires_grad_(True)

    def backward_discriminator(self, loss: Tensor) -> None:
        self.raw_d.zero_grad(set_to_none=True)
        loss.backward()

    def step_discriminator(self) -> None:
        self.raw_d.step()  # not counted as a global step, as in _LightningUpdates

    def backward_generator(self, loss: Tensor) -> None:
        self.raw_g.zero_grad(set_to_none=True)
        loss.backward()

    def step_generator(self) -> None:
        self.count_generator_step(self.raw_g.step)

    def count_generator_step(self, step: Callable[[], Any] = _no_closure) -> None:
        """G's optimizer ``step`` as Lightning's manual loop counts it (global_step += 1), then the EMA;
        a compiled iteration has stepped G already and passes no ``step``."""
        self.opt_g._on_before_step()
        step()
        self.opt_g._on_after_step()
        if self.module.generator_ema is not None:
            self.module.generator_ema.update_parameters(self.module.generator)

    def generator_parameters(self) -> Iterator[Tensor]:
        return self.module.generator.parameters()


class _LightningUpdates:
    """The shared step's updates through Lightning: toggled optimizers, manual_backward, precision."""

    def __init__(self, module: GAN, opt_d: Any, opt_g: Any) -> None:
        self.module, self.opt_d, self.opt_g = module, opt_d, opt_g

    @contextlib.contextmanager
    def discriminator_phase(self) -> Iterator[None]:
        self.module.toggle_optimizer(self.opt_d)
        yield
        self.module.untoggle_optimizer(self.opt_d)

    @contextlib.contextmanager
    def generator_phase(self) -> Iterator[None]:
        self.module.toggle_optimizer(self.opt_g)
        yield
        self.module.untoggle_optimizer(self.opt_g)

    def backward_discriminator(self, loss: Tensor) -> None:
        self.opt_d.zero_grad(set_to_none=True)
        self.module.manual_backward(loss)

    def step_discriminator(self) -> None:
        # Lightning counts every optimizer.step() as a global step in manual optimization (Lightning
        # issue #17958). D steps go through the strategy directly so that only the G step counts and
        # global_step == generator iterations (precision plugins, e.g. AMP scaling, still apply).
        self.module.trainer.strategy.optimizer_step(self.opt_d.optimizer, _no_closure, model=self.module)

    def backward_generator(self, loss: Tensor) -> None:
        self.opt_g.zero_grad(set_to_none=True)
        self.module.manual_backward(loss)

    def step_generator(self) -> None:
        self.opt_g.step()
        if self.module.generator_ema is not None:
            self.module.generator_ema.update_parameters(self.module.generator)

    def generator_parameters(self) -> Iterator[Tensor]:
        return self.module.generator.parameters()


def _rng_states() -> dict[str, Any]:
    import random

    import numpy as np

    # Plain types and tensors only, so checkpoints load with torch.load(weights_only=True).
    name, keys, pos, has_gauss, cached = np.random.get_state()
    numpy_state = [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)]
    states = {"torch": torch.get_rng_state(), "numpy": numpy_state, "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    import random

    import numpy as np

    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
