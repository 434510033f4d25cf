"""Seed ensembles: S seeds of one configuration trained at once, in one process.

Each member is the GAN module its seed's ``fit`` would build (same initial weights, data stream and
noise); the members' parameters and buffers are stacked and every net call is one vmapped call over
the stack. The iteration is ``ganbench.step.train_iteration``, the one ``fit`` runs, with the losses
mapped over members and each member drawing from its own random stream. The loss is the sum of the
members' losses, so each stacked slice gets exactly its member's gradient, and Adam and the EMA are
elementwise: a member follows the run its seed would give alone, up to float reduction order, and
writes its own run directory (metrics.json, config.yaml, train_log/metrics.csv, samples/) in the
same format. BatchNorm running statistics are stacked too, one set per member.

What the stacking saves is the per-iteration host work (Python, Lightning's loop, kernel launches)
and the process start of S - 1 runs; the arithmetic is the same. Many seeds are split into stacks of at
most ``stack_size`` (``SeedStack``), which take turns each iteration: on CPU a stack larger than
``CPU_STACK_SIZE`` runs slower per seed.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ganbench.compiled_iteration import CompiledIteration
from ganbench.evaluation.callback import Evaluation, evaluate_generator
from ganbench.module import GAN, cuda_runtime_check
from ganbench.runs.atomic import atomic_path, write_atomic, write_json_atomic
from ganbench.runs.ensemble_checkpoint import CHECKPOINT_NAME, resumable_states, save_member_checkpoint
from ganbench.runs.record import FINISHED, RecordError, read_record, run_record
from ganbench.runs.run_dir import (
    OVERWRITE_OPTION,
    RunDirectoryError,
    describe_run,
    holds_run,
    lock_run_dir,
    remove_run,
)
from ganbench.step import (
    MemberDraws,
    Players,
    first_nonfinite,
    nonfinite_parameters,
    train_iteration,
    train_scalars,
)


class StackedNet(nn.Module):
    """S copies of one architecture: parameters and buffers stacked on a leading member dimension.

    Called on (S, B, ...) it returns the nets' outputs (S, B, ...), member s on slice s, by one
    vmapped ``functional_call``. It is a module, so Adam and ``AveragedModel`` treat the stack exactly
    as they treat one net (elementwise).
    """

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        super().__init__()
        params, buffers = stack_module_state(list(nets))
        self.param_names = list(params)
        self.buffer_names = list(buffers)
        self.stacked = nn.ParameterList([nn.Parameter(params[name].detach()) for name in self.param_names])
        for index, name in enumerate(self.buffer_names):
            self.register_buffer(f"buffer{index}", buffers[name].clone())
        self.base = [copy.deepcopy(nets[0]).to("meta")]  # a list: not a submodule, no state of its own

        def call(member_params: dict[str, Tensor], member_buffers: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(self.base[0], (member_params, member_buffers), (x,))

        self._call = vmap(call)

    def named_stacked(self) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        buffers = [getattr(self, f"buffer{i}") for i in range(len(self.buffer_names))]
        return dict(zip(self.param_names, self.stacked, strict=True)), dict(
            zip(self.buffer_names, buffers, strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        params, buffers = self.named_stacked()
        return self._call(params, buffers, x)

    def member_state(self, index: int) -> dict[str, Tensor]:
        """Member ``index``'s parameters and buffers, named as in its own net's state_dict."""
        params, buffers = self.named_stacked()
        return {name: t[index].detach() for name, t in {**params, **buffers}.items()}

    def load_into(self, index: int, net: nn.Module) -> None:
        net.load_state_dict(self.member_state(index), strict=True)

    def load_member_state(self, index: int, state: dict[str, Tensor]) -> None:
        """Write a ``member_state`` back into slice ``index`` (resuming a member)."""
        params, buffers = self.named_stacked()
        stacked = {**params, **buffers}
        if set(state) != set(stacked):
            differ = sorted(set(state) ^ set(stacked))
            raise ValueError(f"ensemble checkpoint: the net's tensors differ ({differ})")
        with torch.no_grad():
            for name, tensor in stacked.items():
                tensor[index].copy_(state[name])


def _copy(value: Any) -> Any:
    return value.clone() if torch.is_tensor(value) else value


def optimizer_slice(optimizer: torch.optim.Optimizer, index: int) -> dict[str, Any]:
    """Member ``index``'s part of an optimizer over stacked parameters: its slice of every per-element
    state (Adam's moments), the shared scalars (Adam's step) and the groups' learning rates."""
    per_parameter = []
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            per_element = {k for k, v in state.items() if torch.is_tensor(v) and v.shape == p.shape}
            sliced = {k: state[k][index].clone() for k in per_element}
            shared = {k: _copy(v) for k, v in state.items() if k not in per_element}
            per_parameter.append({"sliced": sliced, "shared": shared})
    return {"state": per_parameter, "lr": [group["lr"] for group in optimizer.param_groups]}


def load_optimizer_slice(optimizer: torch.optim.Optimizer, index: int, saved: dict[str, Any]) -> None:
    """Write an ``optimizer_slice`` back into the optimizer's slice ``index``."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    if len(params) != len(saved["state"]):
        raise ValueError("ensemble checkpoint: the optimizer's parameters differ from the saved ones")
    for p, entry in zip(params, saved["state"], strict=True):
        state = optimizer.state[p]
        for key, value in entry["sliced"].items():
            if key not in state:
                state[key] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state[key][index].copy_(value)
        for key, value in entry["shared"].items():
            state[key] = _copy(value)
    for group, lr in zip(optimizer.param_groups, saved["lr"], strict=True):
        group["lr"] = lr


@dataclass
class Member:
    """One seed of the ensemble: the run it would be alone, and where it writes."""

    seed: int
    run_dir: Path
    module: GAN
    datamodule: Any
    config: dict[str, Any]
    batches: Iterator[Tensor]
    noise: torch.Generator
    status: str = "running"
    train_rows: list[dict[str, Any]] = field(default_factory=list)
    logged_through: int = -1  # the last step already in train_log/metrics.csv (a resumed run's rows)


class _StackUpdates:
    """The shared step's updates for a stack: the members' summed losses, backward, Adam over the stack."""

    def __init__(self, stack: SeedStack) -> None:
        self.stack = stack

    def discriminator_phase(self) -> contextlib.AbstractContextManager[Any]:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def generator_phase(self) -> Iterator[None]:
        discriminator = self.stack.discriminator
        discriminator.requires_grad_(False)  # as Lightning's toggle_optimizer does for one run
        try:
            yield
        finally:
            discriminator.requires_grad_(True)

    def backward_discriminator(self, loss: Tensor) -> None:
        self.stack.opt_d.zero_grad(set_to_none=True)
        loss.sum().backward()

    def step_discriminator(self) -> None:
        self.stack.opt_d.step()

    def backward_generator(self, loss: Tensor) -> None:
        self.stack.opt_g.zero_grad(set_to_none=True)
        loss.sum().backward()

    def step_generator(self) -> None:
        self.stack.opt_g.step()
        self.update_ema()

    def update_ema(self) -> None:
        """The EMA of G's stack after G's step (a compiled iteration steps G itself, then calls this)."""
        if self.stack.generator_ema is not None:
            self.stack.generator_ema.update_parameters(self.stack.generator)

    def generator_parameters(self) -> Iterator[Tensor]:
        return self.stack.generator.parameters()


# Seeds per stack on CPU by default. A stack's activations are (S, batch, width) tensors: at ring8's
# shapes (batch 256, width 128) S = 256 makes them 32 MiB each, which glibc's malloc maps and unmaps at
# every allocation (its mmap threshold stops at 32 MiB): the iteration page-faulted 1.4 GB afresh
# (351k minor faults; S = 128: 31k, S = 64: 6.5k). Seed-iterations per second on the 2-core AMD EPYC
# (one torch thread, eager, one run each): S = 8 213, 16 218, 32 273, 64 285, 128 260, 256 135; 256
# in stacks of 64: 266.
CPU_STACK_SIZE = 64


def stack_sizes(members: int, stack_size: int | None) -> list[int]:
    """How ``members`` seeds split into stacks of at most ``stack_size`` (all in one stack for None):
    as few stacks as that allows, of sizes that differ by at most one (a compiled iteration then
    traces at most two shapes)."""
    if stack_size is not None and stack_size < 1:
        raise ValueError(f"--stack_size: must be a positive number of seeds, got {stack_size}")
    count = 1 if stack_size is None else -(-members // stack_size)
    base, larger = divmod(members, count)
    return [base + 1] * larger + [base] * (count - larger)


class SeedStack:
    """Some members' generators and discriminators stacked, with one Adam per role over the stack."""

    def __init__(self, modules: Sequence[GAN], device: torch.device, max_steps: int) -> None:
        first = modules[0]
        self.modules = list(modules)
        self.device = device
        self.objective = first.objective
        self.regularizers = first.regularizers
        self.n_critic = first.n_critic
        self.rule = first.hparams["update"]  # not .update: a dict method
        hp = first.hparams
        self.generator = StackedNet([m.generator for m in modules]).to(device)
        self.discriminator = StackedNet([m.discriminator for m in modules]).to(device)
        self.players = Players(
            self.generator, self.discriminator, hp.latent_dim, batch_dims=2, packing=first.players.packing
        )
        # The same optimizers and EMA the single run builds (GAN.configure_optimizers, AveragedModel).
        stacks = (self.discriminator.parameters(), self.generator.parameters())
        self.opt_d, self.opt_g = first.optimizers_for(*stacks)
        self.schedulers = first.schedulers_for([self.opt_d, self.opt_g], max_steps)
        self.generator_ema = (
            AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(hp.ema_decay), use_buffers=True)
            if hp.ema_decay is not None
            else None
        )
        self.updates = _StackUpdates(self)
        # compile_step: the whole iteration over the stack as one graph (ganbench.compiled_iteration).
        self.compiled = (
            CompiledIteration(self.players, self.objective, self.generator, self.discriminator,
                              (self.opt_d, self.opt_g), hp.compile_mode, self.rule)
            if hp.get("compile_step", False)
            else None
        )  # fmt: skip

    def __len__(self) -> int:
        return len(self.modules)

    def train_iteration(self, real: Tensor, draws: MemberDraws, diagnostics: bool) -> dict[str, Tensor]:
        """The shared iteration on real (S, n_critic B, ...); per-member stats of shape (S,)."""
        if self.compiled is not None:
            stats = self.compiled(real.chunk(self.n_critic, dim=1), diagnostics, draws)
            self.updates.update_ema()
        else:
            with cuda_runtime_check() if self.device.type == "cpu" else contextlib.nullcontext():
                stats = train_iteration(
                    self.players,
                    self.objective,
                    self.regularizers,
                    real.chunk(self.n_critic, dim=1),
                    draws,
                    self.updates,
                    diagnostics,
                    rule=self.rule,
                )
        for scheduler in self.schedulers:
            scheduler.step()
        return stats

    def member_state(self, index: int) -> dict[str, Any]:
        """Member ``index``'s slice of everything the iteration updates."""
        ema = self.generator_ema
        return {
            "generator": self.generator.member_state(index),
            "discriminator": self.discriminator.member_state(index),
            "optimizers": [optimizer_slice(opt, index) for opt in (self.opt_d, self.opt_g)],
            "schedulers": [scheduler.state_dict() for scheduler in self.schedulers],
            "generator_ema": None
            if ema is None
            else {"net": ema.module.member_state(index), "n_averaged": ema.n_averaged.clone()},
        }

    def load_member_state(self, index: int, state: dict[str, Any]) -> None:
        """Restore member ``index`` from its ``member_state``."""
        self.generator.load_member_state(index, state["generator"])
        self.discriminator.load_member_state(index, state["discriminator"])
        for optimizer, saved in zip((self.opt_d, self.opt_g), state["optimizers"], strict=True):
            load_optimizer_slice(optimizer, index, saved)
        for scheduler, saved in zip(self.schedulers, state["schedulers"], strict=True):
            scheduler.load_state_dict(saved)
        ema, saved_ema = self.generator_ema, state["generator_ema"]
        if (ema is None) != (saved_ema is None):
            raise ValueError("ensemble checkpoint: model.ema_decay differs from the saved run's")
        if ema is not None:
            ema.module.load_member_state(index, saved_ema["net"])
            ema.n_averaged.copy_(saved_ema["n_averaged"])

    def nonfinite_generators(self) -> Tensor:
        """Per member: True where G's parameters hold NaN/inf (shape (S,))."""
        return nonfinite_parameters(self.generator.parameters(), batch_dims=2)

    def load_member(self, index: int) -> GAN:
        """The member's GAN module holding its current (and EMA) weights, for evaluation."""
        module = self.modules[index]
        self.generator.load_into(index, module.generator)
        self.discriminator.load_into(index, module.discriminator)
        if self.generator_ema is not None and module.generator_ema is not None:
            self.generator_ema.module.load_into(index, module.generator_ema.module)
            module.generator_ema.n_averaged.copy_(self.generator_ema.n_averaged)
        return module


class SeedEnsemble:
    """The members in stacks of at most ``stack_size`` seeds (``SeedStack``), stepped one after another
    every iteration. A member's training does not depend on its stack (every op is per member) up to the
    float rounding of reductions over a stack, such as the logged gradient norms."""

    def __init__(
        self, modules: Sequence[GAN], device: torch.device, max_steps: int, stack_size: int | None = None
    ) -> None:
        first = modules[0]
        for module in modules[1:]:
            if module.hparams != first.hparams:
                raise ValueError("ensemble: members must differ only by seed")
        for module in modules:
            module.to(device)
        self.modules = list(modules)
        self.device = device
        self.rule = first.hparams["update"]
        self.stacks: list[SeedStack] = []
        start = 0
        for size in stack_sizes(len(modules), stack_size):
            self.stacks.append(SeedStack(modules[start : start + size], device, max_steps))
            start += size
        self.first_nonfinite = torch.full((len(modules),), -1, dtype=torch.long, device=device)

    def _locate(self, index: int) -> tuple[SeedStack, int]:
        """The stack that holds member ``index``, and the member's index in it."""
        for stack in self.stacks:
            if index < len(stack):
                return stack, index
            index -= len(stack)
        raise IndexError(f"ensemble: no member {index}")

    def train_iteration(
        self, real: Tensor, generators: Sequence[torch.Generator], iteration: int, diagnostics: bool
    ) -> dict[str, Tensor]:
        """The shared iteration on real (S, n_critic B, ...); per-member stats of shape (S,)."""
        parts, start = [], 0
        for stack in self.stacks:
            end = start + len(stack)
            draws = MemberDraws(generators[start:end], self.device)
            parts.append(stack.train_iteration(real[start:end], draws, diagnostics))
            start = end
        stats = parts[0] if len(parts) == 1 else {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        self.first_nonfinite = first_nonfinite(self.first_nonfinite, iteration, stats)
        return stats

    def member_state(self, index: int) -> dict[str, Any]:
        """Member ``index``'s slice of everything the iteration updates: what its checkpoint holds."""
        stack, local = self._locate(index)
        return {**stack.member_state(local), "first_nonfinite": int(self.first_nonfinite[index])}

    def load_member_state(self, index: int, state: dict[str, Any]) -> None:
        """Restore member ``index`` from its ``member_state``."""
        stack, local = self._locate(index)
        stack.load_member_state(local, state)
        self.first_nonfinite[index] = state["first_nonfinite"]

    def nonfinite_generators(self) -> Tensor:
        """Per member: True where G's parameters hold NaN/inf (shape (S,))."""
        return torch.cat([stack.nonfinite_generators() for stack in self.stacks])

    def load_member(self, index: int) -> GAN:
        """The member's GAN module holding its current (and EMA) weights, for evaluation."""
        stack, local = self._locate(index)
        return stack.load_member(local)


def _without_grouping(section: Any) -> Any:
    """A config section less ``iterations_per_step``: how fit groups its iterations, which an ensemble
    ignores (a run started before ``auto`` became the default resumes under it)."""
    if not isinstance(section, dict):
        return section
    return {k: v for k, v in section.items() if k != "iterations_per_step"}


def _last_logged_step(run_dir: Path) -> int:
    """The largest ``step`` in ``run_dir/train_log/metrics.csv`` (-1 when there is none)."""
    path = run_dir / "train_log" / "metrics.csv"
    if not path.is_file():
        return -1
    with open(path, newline="") as f:
        steps = [int(float(row["step"])) for row in csv.DictReader(f) if row.get("step")]
    return max(steps, default=-1)


class EnsembleRun:
    """Trains the members to ``max_steps`` and writes each member's run directory as fit would."""

    def __init__(
        self,
        members: Sequence[Member],
        evaluation: Evaluation,
        max_steps: int,
        log_every: int,
        device: torch.device,
        checkpoint_every: int = 0,
        overwrite: bool = False,
        stack_size: int | None = None,
    ) -> None:
        """``stack_size``: seeds per stack (``SeedEnsemble``); None stacks all of them."""
        if max_steps < 1:
            raise ValueError(f"trainer.max_steps: an ensemble needs a positive limit, got {max_steps}")
        self.members = list(members)
        self.evaluation = evaluation
        self.max_steps = max_steps
        self.log_every = max(log_every, 1)
        self.device = device
        self.checkpoint_every = max(checkpoint_every, 0)
        self.overwrite = overwrite
        self.locks: list[Any] = []
        self.resumed_at: int | None = None
        if device.type != "cpu":
            # A run alone on an accelerator draws G's noise (and every other draw) from the device's
            # RNG, which seed_everything seeded with the seed and nothing drew from before training.
            for member in self.members:
                member.noise = torch.Generator(device=device).manual_seed(member.seed)
        self.ensemble = SeedEnsemble([m.module for m in self.members], device, max_steps, stack_size)
        self.check_every = int(self.members[0].module.hparams.divergence_check_every)
        self.started = time.time()
        self.iteration = 0
        self.loop_seconds: float | None = None  # the training loop alone, without the final evaluation

    # -------------------------------------------------------------------------------- records
    def _extra(self) -> dict[str, Any]:
        seeds = [m.seed for m in self.members]
        stacks = [len(stack) for stack in self.ensemble.stacks]
        ensemble = {"size": len(seeds), "seeds": seeds, "stacks": stacks, "wall_time_shared": True}
        if self.resumed_at is not None:
            ensemble["resumed_at"] = self.resumed_at
        return {"ensemble": ensemble}

    def write_record(self, index: int, **extra: Any) -> None:
        member = self.members[index]
        record = run_record(
            member.module,
            member.status,
            self.iteration,
            member.config,
            time.time() - self.started,
            **extra,
            **self._extra(),
        )
        write_json_atomic(member.run_dir / "metrics.json", record)

    def save_weights(self, index: int) -> Path:
        """DIR/checkpoints/final.ckpt: the member's weights as a Lightning checkpoint that ``validate``
        and ``test --ckpt_path`` load. It holds no optimizer or loop state, so fit cannot resume it."""
        import lightning

        module = self.ensemble.load_member(index)
        checkpoint: dict[str, Any] = {
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": lightning.__version__,
            "global_step": self.iteration,
            "epoch": 0,
        }
        module.on_save_checkpoint(checkpoint)
        path = self.members[index].run_dir / "checkpoints" / "final.ckpt"
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)
        return path

    def _flush_train_log(self, index: int) -> None:
        member = self.members[index]
        # Rows a resumed run has already written (logged after its checkpoint, before it stopped).
        member.train_rows = [row for row in member.train_rows if row["step"] > member.logged_through]
        if not member.train_rows:
            return
        path = member.run_dir / "train_log" / "metrics.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = list(member.train_rows[0])
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            if new:
                writer.writeheader()
            writer.writerows(member.train_rows)
        member.train_rows.clear()

    # -------------------------------------------------------------------------------- checkpoints
    def _state(self, index: int) -> dict[str, Any]:
        member = self.members[index]
        module = member.module
        return {
            "iteration": self.iteration,
            "max_steps": self.max_steps,
            "seeds": [m.seed for m in self.members],
            "seed": member.seed,
            "model": member.config.get("model"),
            "data": member.config.get("data"),
            "status": member.status,
            "diverged_at": module.diverged_at,
            "final_metrics": module.final_metrics,
            "evaluation_history": module.evaluation_history,
            "noise": member.noise.get_state(),
            "wall_time_s": time.time() - self.started,
            **self.ensemble.member_state(index),
        }

    def save_checkpoints(self) -> None:
        """Every member's ``checkpoints/ensemble_last.ckpt`` at this iteration (train logs flushed first,
        so a resumed run's CSV holds every earlier row once)."""
        for i in range(len(self.members)):
            self._flush_train_log(i)
        for i, member in enumerate(self.members):
            save_member_checkpoint(member.run_dir, self._state(i))

    def claim(self) -> None:
        """Lock the members' directories, then resume them, start them fresh, or refuse (one line)."""
        self.locks = [lock_run_dir(m.run_dir, field="--run_dir") for m in self.members]
        seeds = [m.seed for m in self.members]
        dirs = [m.run_dir for m in self.members]
        for member in self.members:
            try:
                finished = read_record(member.run_dir)["status"] in FINISHED
            except RecordError:
                finished = False
            if finished and not self.overwrite:
                raise RunDirectoryError(
                    f"--run_dir: {member.run_dir} already holds a finished run "
                    f"({describe_run(member.run_dir)}); "
                    f"choose another directory, or pass {OVERWRITE_OPTION} to replace it"
                )
        states = None if self.overwrite else resumable_states(dirs, seeds)
        if states is not None:
            self.resume(states)
            return
        for member in self.members:
            if holds_run(member.run_dir):
                if not self.overwrite:
                    raise RunDirectoryError(
                        f"--run_dir: {member.run_dir} already holds a run ({describe_run(member.run_dir)}) "
                        f"that this ensemble cannot resume (it needs every member's "
                        f"checkpoints/{CHECKPOINT_NAME} of one iteration); choose other directories, "
                        f"or pass {OVERWRITE_OPTION} to replace it"
                    )
                remove_run(member.run_dir)

    def resume(self, states: Sequence[dict[str, Any]]) -> None:
        """Continue every member from its checkpoint (same config, same schedule length)."""
        for member, state in zip(self.members, states, strict=True):
            for key in ("model", "data"):
                if _without_grouping(state[key]) != _without_grouping(member.config.get(key)):
                    raise ValueError(
                        f"{key}: differs from the config of the run saved in {member.run_dir} "
                        f"(resume with the same {key} options, or pass {OVERWRITE_OPTION} to start again)"
                    )
            if state["max_steps"] != self.max_steps:
                raise ValueError(
                    f"trainer.max_steps: the runs in {member.run_dir.parent} were started with "
                    f"{state['max_steps']} (the learning-rate schedule depends on it); resume with that value"
                )
        iteration = states[0]["iteration"]
        for i, (member, state) in enumerate(zip(self.members, states, strict=True)):
            self.ensemble.load_member_state(i, state)
            member.noise.set_state(state["noise"])
            module = member.module
            module.evaluation_history = list(state["evaluation_history"])
            module.diverged_at = state["diverged_at"]
            module.final_metrics = state["final_metrics"]
            member.status = state["status"]
            member.batches = iter(member.datamodule.batches_from(iteration))
            member.logged_through = _last_logged_step(member.run_dir)
        self.iteration = iteration
        self.resumed_at = iteration
        self.started = time.time() - float(states[0]["wall_time_s"])

    # -------------------------------------------------------------------------------- loop
    def active(self) -> list[int]:
        return [i for i, m in enumerate(self.members) if m.status == "running"]

    def check_divergence(self) -> None:
        """One device sync: members with a NaN/inf loss (or G weights) stop as "diverged"."""
        first = self.ensemble.first_nonfinite.tolist()
        broken = self.ensemble.nonfinite_generators().tolist()
        for i in self.active():
            at = first[i] if first[i] >= 0 else (self.iteration if broken[i] else None)
            if at is None:
                continue
            member = self.members[i]
            member.status = "diverged"
            module = member.module
            module.diverged_at = at
            last = module.evaluation_history[-1] if module.evaluation_history else {}
            module.final_metrics = {k: v for k, v in last.items() if k != "iteration"}
            self._flush_train_log(i)
            self.write_record(i)

    def evaluate(self, index: int, num_samples: int, tag: str) -> dict[str, Any]:
        member = self.members[index]
        module = self.ensemble.load_member(index)
        ev = self.evaluation
        plot_dir = member.run_dir if ev.plot else None
        metrics, _ = evaluate_generator(
            member.datamodule, module, num_samples, ev.seed, ev.settings, plot_dir, self.iteration, tag
        )
        return metrics

    def evaluate_members(
        self, indices: Sequence[int], num_samples: int, tag: str
    ) -> dict[int, dict[str, Any]]:
        """``evaluate`` for each member; on the toy mixtures in threads, one per free core: their cost is
        the exact W1 (POT's network simplex), which releases the GIL, and members are independent (each
        its own module, fixed noise seed, files of its own), so the metrics equal a sequential pass."""
        from ganbench.data.toy import GaussianMixture

        if not indices:
            return {}
        workers = min(len(indices), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
        if workers <= 1 or not isinstance(self.members[indices[0]].datamodule.dataset, GaussianMixture):
            return {i: self.evaluate(i, num_samples, tag) for i in indices}
        with ThreadPoolExecutor(workers) as pool:
            results = pool.map(lambda i: self.evaluate(i, num_samples, tag), indices)
            return dict(zip(indices, results, strict=True))

    def periodic_evaluation(self) -> None:
        self.check_divergence()
        active = self.active()
        evaluated = self.evaluate_members(active, self.evaluation.num_samples, "eval")
        for i in active:
            module = self.members[i].module
            metrics = evaluated[i]
            module.evaluation_history.append({"iteration": self.iteration, **metrics})
            self._flush_train_log(i)
            self.write_record(i)

    def final_evaluation(self) -> None:
        final_n = self.evaluation.final_num_samples

        def reusable(i: int) -> bool:  # the last periodic evaluation is the final one
            history = self.members[i].module.evaluation_history
            last = history[-1] if history else {}
            return last.get("iteration") == self.iteration and last.get("num_samples") == final_n

        active = self.active()
        fresh = [i for i in active if not reusable(i)]
        evaluated = self.evaluate_members(fresh, final_n, "final")
        for i in active:
            member = self.members[i]
            module, history = member.module, member.module.evaluation_history
            last = history[-1] if history else {}
            if i not in evaluated:
                module.final_metrics = {k: v for k, v in last.items() if k != "iteration"}
            else:
                module.final_metrics = evaluated[i]
                if last.get("iteration") != self.iteration:
                    history.append({"iteration": self.iteration, **module.final_metrics})
            member.status = "completed"
            self._flush_train_log(i)
            self.save_weights(i)
            self.write_record(i)

    def _log_train(self, stats: dict[str, Tensor]) -> None:
        values = {k: v.tolist() for k, v in train_scalars(stats).items()}  # one sync per logging iteration
        for i in self.active():
            row = {"step": self.iteration - 1}  # Lightning logs a step's scalars at global_step - 1
            row.update({k: v[i] for k, v in values.items()})
            self.members[i].train_rows.append(row)

    def run(self) -> None:
        """Claim the directories, train (from a checkpoint when every member has one), release them."""
        try:
            self.claim()
            self._run()
        finally:
            for lock in self.locks:
                lock.release()

    def _run(self) -> None:
        for i, member in enumerate(self.members):
            member.run_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(member.run_dir / "config.yaml", yaml.safe_dump(member.config, sort_keys=False))
            self.write_record(i)
        generators = [m.noise for m in self.members]
        every = self.evaluation.every_n_iterations
        loop_started = time.perf_counter()
        try:
            for iteration in range(self.iteration + 1, self.max_steps + 1):
                if not self.active():
                    break
                self.iteration = iteration
                real = torch.stack([next(m.batches) for m in self.members]).to(self.device)
                diagnostics = iteration % self.log_every == 0
                stats = self.ensemble.train_iteration(real, generators, iteration, diagnostics)
                if diagnostics:
                    self._log_train(stats)
                if iteration % self.check_every == 0:
                    self.check_divergence()
                if every and iteration % every == 0:
                    self.periodic_evaluation()
                if self.checkpoint_every and iteration % self.checkpoint_every == 0:
                    self.save_checkpoints()
            self.check_divergence()
            self.loop_seconds = time.perf_counter() - loop_started
            self.final_evaluation()
        except BaseException as error:
            status = "interrupted" if isinstance(error, KeyboardInterrupt) else "crashed"
            for i in self.active():
                self.members[i].status = status
                self._flush_train_log(i)
                self.write_record(i, error=f"{type(error).__name__}: {error}")
            raise
