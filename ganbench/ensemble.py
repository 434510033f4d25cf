"""Seed ensembles: S seeds of one configuration trained at once, in one process.

Each member is built exactly as ``python -m ganbench fit ... --seed_everything=SEED`` builds its run
(same parsing, same seeding, same initial weights, same data stream and noise), then the members'
parameters are stacked (``torch.func.stack_module_state``) and every net call is one vmapped call
over the stack. Members never interact: the loss is the sum of the members' losses, so each stacked
slice gets exactly its own member's gradient, and Adam is elementwise. A member therefore follows
the run its seed would give alone, up to float reduction order, and writes its own run directory
(metrics.json, config.yaml, train_log/metrics.csv, samples/) in the same format.

What the stacking saves is the per-iteration host work (Python, Lightning's loop, kernel launches)
and the process start of S - 1 runs; the arithmetic is the same. Nets with buffers (BatchNorm) are not
supported: the toy MLPs are what ensembles are for.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import logging
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from ganbench.argparser import OneLineParser
from ganbench.evaluation.callback import Evaluation, evaluate_generator
from ganbench.module import GAN
from ganbench.objectives import gradient_penalty
from ganbench.runs.atomic import write_atomic, write_json_atomic
from ganbench.runs.record import run_record

TRAIN_KEYS = ("d_loss", "gradient_penalty", "d_real", "d_fake", "g_loss", "g_grad_norm", "g_logit_grad")


class StackedNet:
    """S copies of one net architecture with stacked parameters, called as one vmapped function."""

    def __init__(self, nets: Sequence[nn.Module]) -> None:
        buffers = [name for name, _ in nets[0].named_buffers()]
        if buffers:
            raise ValueError(
                f"ensemble: the net has buffers ({', '.join(buffers[:3])}), e.g. BatchNorm running "
                "statistics, which seed ensembles do not support; use the mlp net or run seeds with fit"
            )
        params, _ = stack_module_state(list(nets))
        self.params: dict[str, Tensor] = params
        base = copy.deepcopy(nets[0]).to("meta")

        def call(member_params: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(base, member_params, (x,))

        self._call = vmap(call)

    def __call__(self, x: Tensor) -> Tensor:
        """x of shape (S, B, ...) -> the nets' outputs (S, B, ...), member s on slice s."""
        return self._call(self.params, x)

    def parameters(self) -> list[Tensor]:
        return list(self.params.values())

    def requires_grad_(self, flag: bool) -> None:
        for p in self.params.values():
            p.requires_grad_(flag)

    def member_state(self, index: int) -> dict[str, Tensor]:
        return {name: p[index].detach() for name, p in self.params.items()}

    def grad_norms(self) -> Tensor:
        """Per-member 2-norm of the gradient over all parameters, shape (S,)."""
        squares = [p.grad.flatten(1).pow(2).sum(1) for p in self.params.values() if p.grad is not None]
        return torch.stack(squares).sum(0).sqrt()


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


@contextlib.contextmanager
def _quiet_build() -> Iterator[None]:
    """Lightning's per-instantiation notices (seed set, GPU available, ...) once per member are noise;
    sys.argv is hidden because LightningCLI warns when it sees both ``args`` and a command line."""
    names = ("lightning.pytorch", "lightning.fabric")
    levels = {name: logging.getLogger(name).level for name in names}
    argv = sys.argv
    try:
        sys.argv = argv[:1]
        for name in names:
            logging.getLogger(name).setLevel(logging.WARNING)
        yield
    finally:
        sys.argv = argv
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def build_member(fit_args: Sequence[str], seed: int, run_dir: Path) -> tuple[Member, Evaluation, Any]:
    """Parse, seed and instantiate the run ``fit FIT_ARGS --seed_everything=SEED`` would be.

    Also takes the data stream and the state of torch's RNG at the point where the run's first
    training step would start, so the member draws the same batches and noise as the run alone.
    """
    from ganbench.cli import lightning_main

    args = [*fit_args, f"--seed_everything={seed}", f"--trainer.default_root_dir={run_dir}"]
    with _quiet_build():
        cli = lightning_main([*args, "--trainer.logger=false"], run=False)
    config = cli._resolved_config()
    evaluation = next(cb for cb in cli.trainer.callbacks if isinstance(cb, Evaluation))
    # iter() over the run's data loader, as the fit loop does: it draws the loader's base seed from
    # torch's RNG, so the noise generator below starts where the run's first G(z) would.
    batches = iter(cli.datamodule.train_dataloader())
    noise = torch.Generator()
    noise.set_state(torch.get_rng_state())
    member = Member(seed, run_dir, cli.model, cli.datamodule, config, batches, noise)
    return member, evaluation, cli.trainer


class SeedEnsemble:
    """The members' generators and discriminators stacked, with one Adam per role over the stack."""

    def __init__(self, modules: Sequence[GAN], device: torch.device) -> None:
        first = modules[0]
        for module in modules[1:]:
            if module.hparams != first.hparams:
                raise ValueError("ensemble: members must differ only by seed")
        for module in modules:
            module.to(device)
        if dict(first.objective.options).get("flip_prob", 0) > 0:
            raise ValueError(
                "model.objective_options.flip_prob: random label flips are not supported in ensembles; "
                "run these seeds with fit"
            )
        self.modules = list(modules)
        self.device = device
        self.objective = first.objective
        self.n_critic = first.n_critic
        self.latent_dim = first.hparams.latent_dim
        hp = first.hparams
        self.generator = StackedNet([m.generator for m in modules])
        self.discriminator = StackedNet([m.discriminator for m in modules])
        betas = tuple(hp.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr_discriminator, betas=betas)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr_generator, betas=betas)
        self.ema_decay = hp.ema_decay
        self.ema: list[Tensor] | None = None
        self.first_nonfinite = torch.full((len(modules),), -1, dtype=torch.long, device=device)

    def noise(self, generators: Sequence[torch.Generator], n: int) -> Tensor:
        z = [torch.randn(n, self.latent_dim, generator=g, device=g.device) for g in generators]
        return torch.stack(z).to(self.device)

    def uniform(self, generators: Sequence[torch.Generator], n: int) -> Tensor:
        return torch.stack([torch.rand(n, generator=g, device=g.device) for g in generators]).to(self.device)

    def _discriminator_outputs(self, real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
        real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
        if not self.objective.is_critic:
            real_logits, fake_logits = real_logits.sigmoid(), fake_logits.sigmoid()
        return real_logits.flatten(1).mean(1), fake_logits.flatten(1).mean(1)

    def discriminator_step(self, real: Tensor, generators: Sequence[torch.Generator]) -> dict[str, Tensor]:
        with torch.no_grad():
            fake = self.generator(self.noise(generators, real.shape[1]))
        real_logits = self.discriminator(real)
        fake_logits = self.discriminator(fake)
        losses = vmap(self.objective.discriminator_loss)(real_logits, fake_logits)
        stats = {"d_loss": losses.detach()}
        total = losses
        if self.objective.gradient_penalty_weight > 0:
            eps = self.uniform(generators, real.shape[1])
            penalty = gradient_penalty(self.discriminator, real, fake, eps=eps, batch_dims=2)
            total = losses + self.objective.gradient_penalty_weight * penalty
            stats["gradient_penalty"] = penalty.detach()
        self.opt_d.zero_grad(set_to_none=True)
        total.sum().backward()
        self.opt_d.step()
        stats["d_real"], stats["d_fake"] = self._discriminator_outputs(real_logits, fake_logits)
        return stats

    def generator_step(
        self, real: Tensor, generators: Sequence[torch.Generator], diagnostics: bool
    ) -> dict[str, Tensor]:
        self.discriminator.requires_grad_(False)  # as Lightning's toggle_optimizer does for one run
        try:
            fake_logits = self.discriminator(self.generator(self.noise(generators, real.shape[1])))
            real_logits = None
            if self.objective.generator_needs_real:
                with torch.no_grad():
                    real_logits = self.discriminator(real)
            if diagnostics:
                fake_logits.retain_grad()
            if real_logits is None:
                losses = vmap(lambda f: self.objective.generator_loss(f, None))(fake_logits)
            else:
                losses = vmap(self.objective.generator_loss)(fake_logits, real_logits)
            self.opt_g.zero_grad(set_to_none=True)
            losses.sum().backward()
        finally:
            self.discriminator.requires_grad_(True)
        stats = {"g_loss": losses.detach()}
        if diagnostics:
            stats["g_grad_norm"] = self.generator.grad_norms()
            per_member = fake_logits[0].numel()
            stats["g_logit_grad"] = fake_logits.grad.abs().flatten(1).mean(1) * per_member
        self.opt_g.step()
        self._update_ema()
        return stats

    def _update_ema(self) -> None:
        if self.ema_decay is None:
            return
        params = [p.detach() for p in self.generator.parameters()]
        if self.ema is None:  # AveragedModel's first update copies the weights
            self.ema = [p.clone() for p in params]
        else:
            torch._foreach_lerp_(self.ema, params, 1.0 - self.ema_decay)

    def train_iteration(
        self, real: Tensor, generators: Sequence[torch.Generator], iteration: int, diagnostics: bool
    ) -> dict[str, Tensor]:
        """n_critic D steps (one real chunk each) and one G step; per-member stats of shape (S,)."""
        for chunk in real.chunk(self.n_critic, dim=1):
            d_stats = self.discriminator_step(chunk, generators)
        g_stats = self.generator_step(chunk, generators, diagnostics)
        finite = torch.isfinite(d_stats["d_loss"]) & torch.isfinite(g_stats["g_loss"])
        first = self.first_nonfinite
        self.first_nonfinite = torch.where((first < 0) & ~finite, torch.full_like(first, iteration), first)
        return {**d_stats, **g_stats}

    def nonfinite_generators(self) -> Tensor:
        """Per member: True where G's parameters hold NaN/inf (shape (S,))."""
        flags = [~torch.isfinite(p.detach()).flatten(1).all(1) for p in self.generator.parameters()]
        return torch.stack(flags).any(0)

    def load_member(self, index: int) -> GAN:
        """The member's GAN module holding its current (and EMA) weights, for evaluation."""
        module = self.modules[index]
        with torch.no_grad():
            for name, p in module.generator.named_parameters():
                p.copy_(self.generator.params[name][index])
            for name, p in module.discriminator.named_parameters():
                p.copy_(self.discriminator.params[name][index])
            if module.generator_ema is not None and self.ema is not None:
                names = [name for name, _ in module.generator.named_parameters()]
                averaged = dict(module.generator_ema.module.named_parameters())
                for name, value in zip(names, self.ema, strict=True):
                    averaged[name].copy_(value[index])
        return module


class EnsembleRun:
    """Trains the members to ``max_steps`` and writes each member's run directory as fit would."""

    def __init__(self, fit_args: Sequence[str], seeds: Sequence[int], run_dirs: Sequence[Path]) -> None:
        if not seeds:
            raise ValueError("--seeds: name at least one seed")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"--seeds: {list(seeds)} repeats a seed")
        if len(run_dirs) != len(seeds):
            raise ValueError(f"--run_dir: {len(run_dirs)} directories for {len(seeds)} seeds")
        self.members: list[Member] = []
        for seed, run_dir in zip(seeds, run_dirs, strict=True):
            member, self.evaluation, trainer = build_member(fit_args, seed, Path(run_dir))
            self.members.append(member)
        self.max_steps = int(trainer.max_steps)
        if self.max_steps < 1:
            raise ValueError(f"trainer.max_steps: an ensemble needs a positive limit, got {self.max_steps}")
        self.log_every = max(int(trainer.log_every_n_steps), 1)
        self.device = trainer.strategy.root_device
        if self.device.type != "cpu":
            # A run alone on an accelerator draws G's noise (and the penalty's eps) from the device's
            # RNG, which seed_everything seeded with the seed and nothing drew from before training.
            for member in self.members:
                member.noise = torch.Generator(device=self.device).manual_seed(member.seed)
        self.ensemble = SeedEnsemble([m.module for m in self.members], self.device)
        self.check_every = int(self.members[0].module.hparams.divergence_check_every)
        self.started = time.time()
        self.iteration = 0
        self.loop_seconds: float | None = None  # the training loop alone, without the final evaluation

    # -------------------------------------------------------------------------------- records
    def _extra(self) -> dict[str, Any]:
        seeds = [m.seed for m in self.members]
        return {"ensemble": {"size": len(seeds), "seeds": seeds, "wall_time_shared": True}}

    def write_record(self, index: int, **extra: Any) -> None:
        member = self.members[index]
        module = member.module
        record = run_record(
            module,
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
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(checkpoint, tmp)
        tmp.replace(path)
        return path

    def _flush_train_log(self, index: int) -> None:
        member = self.members[index]
        if not member.train_rows:
            return
        path = member.run_dir / "train_log" / "metrics.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        columns = ["step", *[f"train/{k}" for k in TRAIN_KEYS]]
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, restval="")
            if new:
                writer.writeheader()
            writer.writerows(member.train_rows)
        member.train_rows.clear()

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

    def periodic_evaluation(self) -> None:
        self.check_divergence()
        for i in self.active():
            module = self.members[i].module
            metrics = self.evaluate(i, self.evaluation.num_samples, "eval")
            module.evaluation_history.append({"iteration": self.iteration, **metrics})
            self._flush_train_log(i)
            self.write_record(i)

    def final_evaluation(self) -> None:
        final_n = self.evaluation.final_num_samples
        for i in self.active():
            member = self.members[i]
            module, history = member.module, member.module.evaluation_history
            last = history[-1] if history else {}
            if last.get("iteration") == self.iteration and last.get("num_samples") == final_n:
                module.final_metrics = {k: v for k, v in last.items() if k != "iteration"}
            else:
                module.final_metrics = self.evaluate(i, final_n, "final")
                if last.get("iteration") != self.iteration:
                    history.append({"iteration": self.iteration, **module.final_metrics})
            member.status = "completed"
            self._flush_train_log(i)
            self.save_weights(i)
            self.write_record(i)

    def _log_train(self, stats: dict[str, Tensor]) -> None:
        values = {k: v.float().tolist() for k, v in stats.items()}  # one sync per logging iteration
        for i in self.active():
            row = {"step": self.iteration - 1}  # Lightning logs a step's scalars at global_step - 1
            row.update({f"train/{k}": v[i] for k, v in values.items()})
            self.members[i].train_rows.append(row)

    def run(self) -> None:
        for i, member in enumerate(self.members):
            member.run_dir.mkdir(parents=True, exist_ok=True)
            write_atomic(member.run_dir / "config.yaml", yaml.safe_dump(member.config, sort_keys=False))
            self.write_record(i)
        generators = [m.noise for m in self.members]
        every = self.evaluation.every_n_iterations
        loop_started = time.perf_counter()
        try:
            for iteration in range(1, self.max_steps + 1):
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


# ------------------------------------------------------------------------------------------------- CLI


def parse_seeds(text: str) -> list[int]:
    """``0,1,2``, ``0-9`` or a mix (``0-4,10``) -> a list of seeds."""
    seeds: list[int] = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if match is None:
            raise ValueError(f"--seeds: {text!r} is not a list of seeds or ranges (e.g. 0-9 or 0,1,5)")
        low, high = int(match[1]), int(match[2] or match[1])
        seeds += range(low, high + 1)
    return seeds


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m ganbench ensemble",
        description="Train several seeds of one fit configuration at once (stacked parameters, one "
        "process). Other arguments are fit's (e.g. --config FILE --model.objective=hinge); each seed "
        "writes the run directory a fit with --seed_everything=SEED would.",
    )
    p.add_argument("--seeds", required=True, help="seeds, e.g. 0-9 or 0,1,5")
    p.add_argument("--root", default="runs/ensemble", help="run directories ROOT/seed_everything=SEED")
    p.add_argument(
        "--run_dir",
        action="append",
        help="the run directory of one seed, in --seeds order; repeat it for every seed (instead of --root)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench ensemble``: 0 when every member finished (completed or diverged)."""
    try:
        args, fit_args = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        seeds = parse_seeds(args.seeds)
        if args.run_dir:
            run_dirs = [Path(d) for d in args.run_dir]
        else:
            run_dirs = [Path(args.root) / f"seed_everything={s}" for s in seeds]
        for flag in ("--seed_everything", "--trainer.default_root_dir"):
            if any(a == flag or a.startswith(flag + "=") for a in fit_args):
                raise ValueError(f"{flag}: set by the ensemble (use --seeds and --root or --run_dir)")
        started = time.time()
        run = EnsembleRun(fit_args, seeds, run_dirs)
        built = time.time()
        run.run()
    except ValueError as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: members recorded as interrupted", file=sys.stderr)
        return 130
    counts: dict[str, int] = {}
    for member in run.members:
        counts[member.status] = counts.get(member.status, 0) + 1
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(
        f"{len(seeds)} seeds, {run.iteration} iterations: {summary}; "
        f"setup {built - started:.1f} s, training {time.time() - built:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
