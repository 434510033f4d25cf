"""The saturation study (Arjovsky & Bottou, 2017, "Towards principled methods for training GANs", fig. 2).

Freeze G (at initialization, or at checkpoints of a training run), train D alone with the minimax
discriminator loss, and record as D improves: its accuracy, mean D(x), mean D(G(z)), and the norm of
G's parameter gradient under the minimax generator loss E log(1 - D(G(z))) and under the
non-saturating one -E log D(G(z)), both at the same D and the same noise. Theory: as D -> D*, the
minimax gradient vanishes (its logit derivative is -D(G(z)) -> 0) while the non-saturating one does not.

    python -m ganbench saturation --config CONFIG --out DIR [--d_steps N] [--seeds 0-4]
        [--checkpoints CKPT ...] [fit overrides such as --data.dataset_options.root=DIR]
"""

from __future__ import annotations

import argparse
import math
import pickle
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch
from torch import Tensor, nn

from ganbench.argparser import OneLineParser
from ganbench.objectives import build_objective
from ganbench.runs.atomic import write_atomic, write_json_atomic

GENERATOR_LOSSES = ("minimax", "nonsaturating")


def gradient_norm(loss: Tensor, parameters: Sequence[nn.Parameter]) -> float:
    """||d loss / d theta_G||_2 over all of G's parameters."""
    grads = torch.autograd.grad(loss, parameters, retain_graph=True, allow_unused=True)
    return math.sqrt(sum(float(g.pow(2).sum()) for g in grads if g is not None))


def probe(generator: nn.Module, discriminator: nn.Module, real: Tensor, z: Tensor) -> dict[str, float]:
    """D's accuracy, mean D(x), mean D(G(z)) and ||grad_G|| of each generator loss at the current D."""
    params = [p for p in generator.parameters() if p.requires_grad]
    with torch.no_grad():
        real_logits = discriminator(real)
    fake_logits = discriminator(generator(z))
    row = {
        "accuracy": 0.5 * float((real_logits > 0).float().mean() + (fake_logits < 0).float().mean()),
        "d_real": float(real_logits.sigmoid().mean()),
        "d_fake": float(fake_logits.detach().sigmoid().mean()),
    }
    for name in GENERATOR_LOSSES:
        loss = build_objective(name).generator_loss(fake_logits, real_logits)
        row[f"grad_{name}"] = gradient_norm(loss, params)
    return row


def measure_steps(d_steps: int, every: int) -> list[int]:
    """0, every, 2 every, ..., plus the first ten steps (where D changes fastest) and d_steps."""
    return sorted({*range(0, d_steps + 1, every), *range(min(10, d_steps)), d_steps})


def train_discriminator_alone(
    generator: nn.Module,
    discriminator: nn.Module,
    real_batches: Iterator[Tensor],
    latent_dim: int,
    d_steps: int,
    lr: float,
    betas: tuple[float, float],
    every: int,
    probe_batch: int,
    seed: int,
) -> dict[str, list[float]]:
    """Train D for ``d_steps`` Adam steps against the frozen G; probe at ``measure_steps``.

    D's loss is the project's minimax (= non-saturating) discriminator loss. G's weights never change
    (no optimizer holds them); the probe's noise is fixed, so the curves differ only through D.
    """
    noise = torch.Generator().manual_seed(seed)
    z_probe = torch.randn(probe_batch, latent_dim, generator=noise)
    real_probe = next(real_batches)[:probe_batch]
    loss_fn = build_objective("minimax").discriminator_loss
    opt = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
    generator.train()  # as in training (BatchNorm on batch statistics); its weights stay frozen
    discriminator.train()
    at = set(measure_steps(d_steps, every))
    trace: dict[str, list[float]] = {"step": []}
    for step in range(d_steps + 1):
        if step in at:
            trace["step"].append(step)
            for key, val in probe(generator, discriminator, real_probe, z_probe).items():
                trace.setdefault(key, []).append(val)
        if step == d_steps:
            break
        real = next(real_batches)
        with torch.no_grad():
            fake = generator(torch.randn(real.shape[0], latent_dim, generator=noise))
        loss = loss_fn(discriminator(real), discriminator(fake))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return trace


def _endless(datamodule: Any) -> Iterator[Tensor]:
    while True:
        for batch in datamodule.train_dataloader():
            yield batch[0] if isinstance(batch, list | tuple) else batch


def _build(fit_args: list[str], seed: int, root: Path, max_steps: int | None = None) -> Any:
    """The model, data and trainer a ``fit --seed_everything=SEED`` with these arguments would build."""
    from ganbench.cli import lightning_main

    args = [*fit_args, f"--seed_everything={seed}", "--trainer.logger=false"]
    # One iteration per training step and batch: the study snapshots G at any iteration and reads batches.
    args += [f"--trainer.default_root_dir={root}", "--trainer.enable_progress_bar=false"]
    args.append("--model.iterations_per_step=1")
    if max_steps is not None:
        args.append(f"--trainer.max_steps={max_steps}")
    # LightningCLI warns when it is given args while sys.argv holds other ones (ours): hide ours.
    with mock.patch.object(sys, "argv", sys.argv[:1]):
        return lightning_main(args, run=False)


def _generator_state(model: Any) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.generator.state_dict().items()}


def train_generator_states(fit_args: list[str], seed: int, iterations: Sequence[int]) -> dict[str, Any]:
    """G's weights after each of ``iterations`` generator iterations of one ``fit`` run (0: at init).

    The run is the project's own fit (same module, step and data) with the evaluation callback left
    out (the study needs G's weights only), in a temporary run directory.
    """
    from lightning.pytorch.callbacks import Callback

    from ganbench.evaluation.callback import Evaluation

    wanted = sorted(set(iterations))
    states: dict[str, Any] = {}

    class Snapshot(Callback):
        def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
            if trainer.global_step in wanted:
                states[str(trainer.global_step)] = _generator_state(module)

    with tempfile.TemporaryDirectory(prefix="saturation-fit-") as root:
        cli = _build(fit_args, seed, Path(root), max_steps=max(wanted))
        states["0"] = _generator_state(cli.model)
        if max(wanted) > 0:
            kept = [c for c in cli.trainer.callbacks if not isinstance(c, Evaluation)]
            cli.trainer.callbacks = [*kept, Snapshot()]
            cli.trainer.fit(cli.model, cli.datamodule)
    missing = [n for n in wanted if str(n) not in states]
    if missing:
        raise ValueError(f"--train_iterations: the fit run stopped before iteration {missing[0]} (diverged?)")
    return {str(n): states[str(n)] for n in wanted}


def _checkpoint_generator(path: str) -> dict[str, Tensor]:
    """G's weights from a Lightning checkpoint of a fit run (``generator.*`` of its state_dict)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    except (OSError, KeyError, RuntimeError, pickle.UnpicklingError) as error:
        raise ValueError(f"--checkpoints: cannot read {path}: {str(error).splitlines()[0]}") from None
    prefix = "generator."
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def run_saturation(
    fit_args: list[str],
    seeds: Sequence[int],
    train_iterations: Sequence[int],
    checkpoints: Sequence[str],
    d_steps: int,
    every: int,
    probe_batch: int,
    train_seed: int = 0,
    command: str = "",
) -> dict[str, Any]:
    """Every (G state, seed): G frozen at that state, a fresh D of that seed trained alone.

    G's states come from one fit run of seed ``train_seed`` (after each of ``train_iterations``) and
    from ``checkpoints``; a seed gives D's initialization, the real batches and the noise, as its fit
    would. Returns what saturation.json holds.
    """
    from ganbench.runs.record import device_name, provenance, versions

    started = time.time()
    source = {"versions": versions(), **provenance()}  # the code as imported, before anything is written
    generators = {
        f"iteration {n}": w for n, w in train_generator_states(fit_args, train_seed, train_iterations).items()
    }
    generators.update({path: _checkpoint_generator(path) for path in checkpoints})
    states: dict[str, dict[str, Any]] = {}
    config: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="saturation-") as root:
        for state, weights in generators.items():
            for seed in seeds:
                cli = _build(fit_args, seed, Path(root))
                model = cli.model
                try:
                    model.generator.load_state_dict(weights)
                except RuntimeError:
                    raise ValueError(
                        f"--checkpoints: {state} holds another generator than the config's"
                    ) from None
                hp = model.hparams
                trace = train_discriminator_alone(
                    model.generator,
                    model.discriminator,
                    _endless(cli.datamodule),
                    hp.latent_dim,
                    d_steps,
                    hp.lr_discriminator,
                    tuple(hp.betas),
                    every,
                    probe_batch,
                    seed,
                )
                states.setdefault(state, {"seeds": {}})["seeds"][str(seed)] = trace
                config = cli._resolved_config()
                print(
                    f"G {state}, D seed {seed}: accuracy {trace['accuracy'][0]:.2f} -> "
                    f"{trace['accuracy'][-1]:.2f}, grad minimax {trace['grad_minimax'][0]:.3g} -> "
                    f"{trace['grad_minimax'][-1]:.3g}, non-saturating "
                    f"{trace['grad_nonsaturating'][0]:.3g} -> {trace['grad_nonsaturating'][-1]:.3g}",
                    flush=True,
                )
    return {
        "study": "Arjovsky & Bottou 2017, fig. 2: G frozen, D trained alone with the minimax D loss",
        "command": command,
        "fit_args": fit_args,
        "train_seed": train_seed,
        "d_steps": d_steps,
        "probe_batch": probe_batch,
        "probe": "fixed noise and one fixed real batch per seed; D in train mode, G's weights frozen",
        "seeds": list(seeds),
        "generator_states": states,
        "config": config,
        "device": device_name(torch.device("cpu")),
        "torch_threads": torch.get_num_threads(),
        "wall_time_s": round(time.time() - started, 1),
        **source,
    }


def summarize(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Per G state: medians over seeds at D step 0 and at the last step, and the fall of each gradient."""
    rows = []
    for state, block in results["generator_states"].items():
        traces = list(block["seeds"].values())
        row: dict[str, Any] = {"generator": state, "seeds": len(traces)}
        for key in ("accuracy", "d_real", "d_fake", "grad_minimax", "grad_nonsaturating"):
            first = float(np.median([t[key][0] for t in traces]))
            last = float(np.median([t[key][-1] for t in traces]))
            row[f"{key}_start"], row[f"{key}_end"] = first, last
        for name in GENERATOR_LOSSES:
            ratios = [t[f"grad_{name}"][-1] / t[f"grad_{name}"][0] for t in traces]
            row[f"grad_{name}_ratio_median"] = float(np.median(ratios))
            row[f"grad_{name}_ratio_max"] = float(np.max(ratios))
        rows.append(row)
    return rows


def _label(state: str) -> str:
    if state == "iteration 0":
        return "G at initialization"
    if state.startswith("iteration "):
        return f"G after {state.split()[1]} iterations"
    return f"G from {Path(state).parent.parent.name}/{Path(state).name}"


def plot(results: dict[str, Any], out: Path, title: str) -> list[Path]:
    """Gradient norm (log) vs D steps per G state, median and min-max band over seeds; D(G(z)) below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    states = list(results["generator_states"])
    fig, axes = plt.subplots(2, len(states), figsize=(4.2 * len(states), 6.2), squeeze=False, sharex=True)
    for col, state in enumerate(states):
        traces = list(results["generator_states"][state]["seeds"].values())
        steps = np.array(traces[0]["step"])
        top, bottom = axes[0, col], axes[1, col]
        for name, color in zip(GENERATOR_LOSSES, ("C3", "C0"), strict=True):
            values = np.array([t[f"grad_{name}"] for t in traces])
            top.plot(steps, np.median(values, 0), color=color, label=f"{name} G loss")
            top.fill_between(steps, values.min(0), values.max(0), color=color, alpha=0.25, lw=0)
        for key, color, label in (("d_fake", "C1", "mean D(G(z))"), ("accuracy", "k", "D accuracy")):
            values = np.array([t[key] for t in traces])
            bottom.plot(steps, np.median(values, 0), color=color, label=label)
            bottom.fill_between(steps, values.min(0), values.max(0), color=color, alpha=0.2, lw=0)
        top.set_yscale("log")
        top.set_title(_label(state), fontsize=9)
        bottom.set_xlabel("D steps (G frozen)")
        bottom.set_ylim(-0.02, 1.02)
        if col == 0:
            top.set_ylabel("||grad_G loss||")
            bottom.set_ylabel("probability")
            top.legend(fontsize=8)
            bottom.legend(fontsize=8)
    n = len(results["seeds"])
    fig.suptitle(f"{title}: median and min-max over {n} seeds", fontsize=10)
    fig.tight_layout()
    paths = [out / "saturation.png", out / "saturation.pdf"]
    for path in paths:
        fig.savefig(path, dpi=130)
    plt.close(fig)
    return paths


def write_summary(results: dict[str, Any], rows: list[dict[str, Any]], out: Path, title: str) -> Path:
    lines = [
        f"# Saturation study: {title}",
        "",
        f"G frozen; D trained alone for {results['d_steps']} steps with the minimax D loss; medians over "
        f"seeds {results['seeds']} (ratio: ||grad|| at the last D step / at step 0, per seed).",
        "",
        "| G | D accuracy | mean D(G(z)) | minimax ||grad_G|| | ratio (median, max) "
        "| non-saturating ||grad_G|| | ratio (median, max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {_label(r['generator'])} | {r['accuracy_start']:.2f} -> {r['accuracy_end']:.2f} "
            f"| {r['d_fake_start']:.3g} -> {r['d_fake_end']:.3g} "
            f"| {r['grad_minimax_start']:.3g} -> {r['grad_minimax_end']:.3g} "
            f"| {r['grad_minimax_ratio_median']:.2g}, {r['grad_minimax_ratio_max']:.2g} "
            f"| {r['grad_nonsaturating_start']:.3g} -> {r['grad_nonsaturating_end']:.3g} "
            f"| {r['grad_nonsaturating_ratio_median']:.2g}, {r['grad_nonsaturating_ratio_max']:.2g} |"
        )
    lines += [
        "",
        f"Command: `{results['command']}`",
        "",
        f"Device {results['device']} ({results['torch_threads']} thread(s)), versions {results['versions']}, "
        f"git commit {results['git_commit']}, probe batch {results['probe_batch']}, "
        f"wall time {results['wall_time_s']} s.",
        "",
    ]
    return write_atomic(out / "summary.md", "\n".join(lines))


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m ganbench saturation",
        description="Freeze G, train D alone, and record D's accuracy, D(x), D(G(z)) and ||grad_G|| under "
        "the minimax and non-saturating G losses (Arjovsky & Bottou 2017, fig. 2). Other arguments are "
        "fit's (e.g. --data.dataset_options.root=DIR).",
    )
    p.add_argument("--config", required=True, help="a fit config (configs/toy/ring8.yaml, ...)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--d_steps", type=int, default=300, help="D steps per frozen G (300)")
    p.add_argument("--seeds", default="0-4", help="seeds, e.g. 0-4 or 0,1,5 (0-4)")
    p.add_argument(
        "--train_iterations",
        default="0",
        help="freeze G after these iterations of one fit run of --train_seed, e.g. 0,500,2000 (0: at init)",
    )
    p.add_argument("--train_seed", type=int, default=0, help="seed of that fit run (0)")
    p.add_argument("--checkpoints", nargs="*", default=[], help="fit checkpoints whose G to freeze as well")
    p.add_argument("--every", type=int, default=10, help="probe every N D steps (10)")
    p.add_argument("--probe_batch", type=int, default=256, help="samples per probe (256)")
    p.add_argument("--title", default=None, help="plot title (the config's name)")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m ganbench saturation``: 0 on success, 2 on bad input (one line)."""
    from ganbench.ensemble_cli import parse_seeds

    try:
        args, fit_args = parser().parse_known_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        for flag, value, low in (("--d_steps", args.d_steps, 1), ("--every", args.every, 1)):
            if value < low:
                raise ValueError(f"{flag}: must be >= {low}, got {value}")
        if args.probe_batch < 2:
            raise ValueError(f"--probe_batch: must be >= 2, got {args.probe_batch}")
        if not Path(args.config).is_file():
            raise ValueError(f"--config: no such file {args.config}")
        for flag in ("--seed_everything", "--trainer.default_root_dir"):
            if any(a == flag or a.startswith(flag + "=") for a in fit_args):
                raise ValueError(f"{flag}: set by the study (use --seeds and --out)")
        seeds = parse_seeds(args.seeds)
        missing = [c for c in args.checkpoints if not Path(c).is_file()]
        if missing:
            raise ValueError(f"--checkpoints: no such file {missing[0]}")
        try:
            iterations = parse_seeds(args.train_iterations)
        except ValueError as error:  # the same syntax as --seeds
            raise ValueError(str(error).replace("--seeds", "--train_iterations")) from None
        out = Path(args.out)
        results = run_saturation(
            ["--config", args.config, *fit_args],
            seeds,
            iterations,
            args.checkpoints,
            args.d_steps,
            args.every,
            args.probe_batch,
            args.train_seed,
            "python -m ganbench saturation " + shlex.join(sys.argv[1:] if argv is None else argv),
        )
    except ValueError as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    title = args.title or Path(args.config).stem
    rows = summarize(results)
    results["summary"] = rows
    write_json_atomic(out / "saturation.json", results)
    plot(results, out, title)
    write_summary(results, rows, out, title)
    print(f"wrote {out / 'saturation.json'}, saturation.png/.pdf and summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
