"""CPU speed on the toy benchmark: ganbench's loop, compiled step and seed ensembles against plain PyTorch.

    python benchmarks/cpu_toy.py [--repeats 3] [--fit-steps 3000] [--fit-warmup 200] [--plain-steps 2000]
        [--sizes 64,256] [--ensemble-iterations 40,12] [--dcgan-steps 30] [--skip compiled,dcgan]
        [--out results/performance_cpu.md]

Every timing runs in a fresh process with one torch thread, and the repeats are interleaved (plain,
fit, compiled fit, startup, ensembles, DCGAN, then again), so that load from other work on the machine
falls on all of them alike; the table gives the median of the repeats and each ratio is the median of
the per-repeat ratios. The shapes are ring8's (configs/toy/ring8.yaml: MLP 128x2, z 16, batch 256,
non-saturating, Adam):

- plain: the iteration written by hand in PyTorch (``plain_iteration``): the same nets and initial
  weights, the same Adam (as a user writes it: ``torch.optim.Adam(params, lr, betas)``), the real batch
  drawn the way the data module draws it (a generator seeded by ``batch_seed``), D frozen in G's step;
  timed in the process after a warm-up;
- fit: ``python -m ganbench fit --config configs/toy/ring8.yaml`` with no periodic evaluation, no
  checkpoint and no logger (its default ``--model.iterations_per_step=auto`` runs ten iterations per
  Lightning training step here, ``AUTO_PER_STEP``), and constant learning rates as in the plain loop
  (``SAME_STEP``), run by ganbench's own ``main`` in a fresh process: steady state = the
  iterations after ``--fit-warmup`` over their time, clocked inside (Lightning's loop, data loading and
  callbacks included; a difference of two runs' wall times drowned in the noise of a shared machine);
  whole run = the iterations over the process's wall time (start and the final evaluation included);
- fit without Lightning's progress bar (``--trainer.enable_progress_bar=false``): what its refresh at
  every iteration costs;
- compiled: the same with ``--model.compile_step=true`` (compilation is in the fixed cost);
- fit and compiled fit with ``--model.iterations_per_step=1``: one iteration per Lightning training
  step, the same iterations, so Lightning's per-step work is paid at every iteration;
- fit logging its training scalars at every iteration (``--trainer.log_every_n_steps=1``; ring8 logs
  every 50th): what Lightning's ``log_dict`` costs per logged iteration (``auto`` is then one
  iteration per step);
- for each fit, the time per iteration spent in Lightning's loop outside ``training_step`` (fetching
  the batch, the batch hooks, the callbacks, the loop's bookkeeping);
- startup: ``python -m ganbench fit`` to the first training iteration (a process of its own), and the
  imports it makes, timed one after another in a fresh process;
- ensembles of S seeds (``ganbench.ensemble``, in its default stacks of at most ``CPU_STACK_SIZE`` seeds,
  and an ensemble larger than that in one stack) against one seed per process (fit's steady rate), with
  the process's minor page faults per iteration;
- DCGAN-28 at batch 64: the hand-written loop against ganbench's module under a Lightning Trainer on a
  fixed batch (benchmarks/performance.py's two loops at MNIST's shape).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "configs/toy/ring8.yaml"
# ring8's settings (configs/toy/ring8.yaml); the plain loop and ganbench must agree on them.
LATENT_DIM, HIDDEN, BATCH, LR, BETAS, SEED = 16, 128, 256, 1e-3, (0.5, 0.999), 0
RING_MODES, RING_RADIUS, RING_SIGMA = 8, 1.0, 0.01
DCGAN_SHAPE, DCGAN_LATENT, DCGAN_BATCH = (1, 28, 28), 100, 64  # configs/mnist/dcgan.yaml
# ring8's config decays both learning rates over the second half of its budget; the plain loop keeps
# them constant, so every ganbench run here does too: the same step on both sides.
SAME_STEP = ["--model.lr_decay_start=null"]
# Iterations per Lightning training step that fit's default (auto) picks for these runs: the largest
# divisor of their intervals up to ganbench.cli.AUTO_ITERATIONS_PER_STEP (tests/test_benchmarks_cpu_toy.py).
AUTO_PER_STEP = 10
PROFILED = 2  # ensemble iterations profiled after the timed ones (where their batched matmuls' time goes)
ONE_PER_STEP = "--model.iterations_per_step=1"
# What `python -m ganbench fit` imports at its start, in order (Lightning imports torchmetrics).
STARTUP_IMPORTS = ("torch", "torchmetrics", "lightning.pytorch", "ganbench.cli")

TARGETS = {  # issue 16
    "fit": ("ganbench fit (steady) / plain", 0.95),
    "compiled": ("compiled fit (steady) / plain", 1.5),
    "fit_one_per_step": (f"ganbench fit {ONE_PER_STEP} (steady) / plain", 0.95),
    "compiled_one_per_step": (f"compiled fit {ONE_PER_STEP} (steady) / plain", 1.5),
    "ensemble64": ("ensemble S=64 / one seed per process", 3.0),
    "ensemble256": ("ensemble S=256 / one seed per process", 1.0),
    "ensemble64_compiled": ("ensemble S=64, compile_step / one seed per process", 3.0),
    "ensemble256_compiled": ("ensemble S=256, compile_step / one seed per process", 1.0),
    "dcgan": ("DCGAN-28 ganbench / plain (batch 64)", 0.95),
}


# ------------------------------------------------------------------------------------------ workers
def plain_iteration_factory() -> tuple[Any, Any]:
    """The ring8 iteration in plain PyTorch as a closure over the iteration index, and its generator
    (tests/test_benchmarks_cpu_toy.py checks that it trains exactly as ganbench does)."""
    import torch
    import torch.nn.functional as F

    from ganbench.nets import build_nets
    from ganbench.seeding import batch_seed

    torch.manual_seed(SEED)  # what seed_everything does before fit builds the nets
    options = {"hidden": HIDDEN, "generator_layers": 2, "discriminator_layers": 2}
    generator, discriminator = build_nets("mlp", (2,), LATENT_DIM, **options)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=LR, betas=BETAS)
    opt_g = torch.optim.Adam(generator.parameters(), lr=LR, betas=BETAS)
    angles = 2.0 * math.pi * torch.arange(RING_MODES, dtype=torch.float64) / RING_MODES
    means = (RING_RADIUS * torch.stack([angles.cos(), angles.sin()], dim=1)).float()

    def iteration(i: int) -> None:
        rng = torch.Generator().manual_seed(batch_seed(SEED, 0, i))  # the data module's batch i
        modes = torch.randint(RING_MODES, (BATCH,), generator=rng)
        real = means[modes] + RING_SIGMA * torch.randn((BATCH, 2), generator=rng)
        with torch.no_grad():
            fake = generator(torch.randn(BATCH, LATENT_DIM))
        d_loss = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        discriminator.requires_grad_(False)
        g_loss = F.softplus(-discriminator(generator(torch.randn(BATCH, LATENT_DIM)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        discriminator.requires_grad_(True)

    return iteration, generator


def worker_plain(steps: int, warmup: int) -> dict[str, float]:
    iteration, _ = plain_iteration_factory()
    for i in range(warmup):
        iteration(i)
    started = time.perf_counter()
    for i in range(warmup, warmup + steps):
        iteration(i)
    return {"rate": steps / (time.perf_counter() - started)}


def worker_limit(sizes: list[int]) -> dict[str, float]:
    """The compute bound: the plain iteration's FLOPs (torch's flop counter, backward included; matmuls)
    and what one core multiplies per second, at the toy's widest shape and at a large square one; for an
    ensemble of S, the batched matmul (bmm) of S members at the widest shape."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ganbench.ensemble import CPU_STACK_SIZE, stack_sizes

    iteration, _ = plain_iteration_factory()
    iteration(0)
    with FlopCounterMode(display=False) as counter:
        iteration(1)

    def rate(multiply: Any, a: Any, b: Any, repeat: int) -> float:
        """FLOP/s of ``multiply(a, b)`` (mm or bmm) over ``repeat`` calls after one warm-up call."""
        multiply(a, b)
        started = time.perf_counter()
        for _ in range(repeat):
            multiply(a, b)
        return 2 * a.numel() * b.shape[-1] * repeat / (time.perf_counter() - started)

    rates = {
        "flops": counter.get_total_flops(),
        "gemm_toy": rate(torch.mm, torch.randn(BATCH, HIDDEN), torch.randn(HIDDEN, HIDDEN), 2000),
        "gemm_large": rate(torch.mm, torch.randn(1024, 1024), torch.randn(1024, 1024), 8),
    }
    for size in sizes:  # a stack's (S, B, H) @ (S, H, H) at the ensemble's default stack size
        stack = stack_sizes(size, CPU_STACK_SIZE)[0]
        a, b = torch.randn(stack, BATCH, HIDDEN), torch.randn(stack, HIDDEN, HIDDEN)
        rates[f"bmm{size}"] = rate(torch.bmm, a, b, max(2000 // stack, 4))
        rates[f"bmm{size}_stack"] = stack
    return rates


def worker_startup(fit_args: list[str]) -> dict[str, float]:
    """Seconds from the process start to ganbench's first training iteration (then the process ends)."""
    import ganbench.module

    started = float(os.environ["CPU_TOY_STARTED"])
    first_step = ganbench.module.GAN.training_step

    def timed_step(self: Any, batch: Any, batch_idx: int) -> None:
        first_step(self, batch, batch_idx)
        print(json.dumps({"seconds": time.time() - started}), flush=True)
        os._exit(0)  # nothing after the first iteration is part of startup

    ganbench.module.GAN.training_step = timed_step
    from ganbench.cli import main

    sys.argv = ["ganbench", *fit_args]
    main()
    raise RuntimeError("fit ended before its first training iteration")


def worker_fit(fit_args: list[str], warmup: int) -> dict[str, float]:
    """``python -m ganbench fit`` in this process; the steady rate is timed between the start of
    iteration ``warmup`` and the end of the last one (Lightning's loop, data and callbacks included)."""
    import ganbench.module

    step, clock = ganbench.module.GAN.training_step, {"in_step": 0.0}

    def timed_step(self: Any, batch: Any, batch_idx: int) -> None:
        if self.global_step == warmup:  # iterations done (a step may run several)
            clock["start"] = (time.perf_counter(), self.global_step)
            clock["in_step"] = 0.0
        entered = time.perf_counter()
        step(self, batch, batch_idx)
        clock["end"] = (time.perf_counter(), self.global_step)
        clock["in_step"] += clock["end"][0] - entered

    ganbench.module.GAN.training_step = timed_step
    from ganbench.cli import main

    sys.argv = ["ganbench", *fit_args]
    if main() != 0:
        raise RuntimeError("fit failed")
    (t0, i0), (t1, i1) = clock["start"], clock["end"]
    iterations = i1 - i0
    # Outside training_step: Lightning's loop between two steps (fetching the batch, the batch hooks,
    # the callbacks, its bookkeeping), per iteration.
    return {"rate": iterations / (t1 - t0), "outside_step": (t1 - t0 - clock["in_step"]) / iterations}


def worker_imports() -> dict[str, float]:
    """Seconds each import adds at ``python -m ganbench``'s start, in the order a fit makes them: torch,
    then torchmetrics (Lightning imports it to read its version), Lightning, then ganbench's CLI."""
    import importlib

    seconds = {}
    for name in STARTUP_IMPORTS:
        started = time.perf_counter()
        importlib.import_module(name)
        seconds[_import_key(name)] = time.perf_counter() - started
    return seconds


def _import_key(module: str) -> str:
    return f"import_{module.split('.')[0]}"


def worker_floor(steps: int, warmup: int, root: str) -> dict[str, float]:
    """Lightning's own cost per iteration: ganbench's Trainer settings (manual optimization, no logger,
    no checkpoint, no progress bar) around a step that only counts one optimizer step, on a loader of one
    fixed batch. No loop under Lightning's Trainer can be cheaper than the plain iteration plus this."""
    import torch
    from lightning.pytorch import LightningModule, Trainer
    from torch.utils.data import DataLoader, IterableDataset

    class FixedBatches(IterableDataset):
        def __iter__(self) -> Any:
            batch = torch.zeros(BATCH, 2)
            while True:
                yield batch

    class CountingStep(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.automatic_optimization = False
            self.layer = torch.nn.Linear(2, 1)
            self.clock: dict[str, float] = {}

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

        def training_step(self, batch: Any, batch_idx: int) -> None:
            if batch_idx == warmup:
                self.clock["start"] = time.perf_counter()
            optimizer = self.optimizers()
            optimizer._on_before_step()  # what ganbench's G step does: Lightning counts an iteration
            optimizer._on_after_step()
            self.clock["end"] = time.perf_counter()

        def train_dataloader(self) -> DataLoader:
            return DataLoader(FixedBatches(), batch_size=None)

    module = CountingStep()
    trainer = Trainer(max_steps=warmup + steps, accelerator="cpu", devices=1, logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      limit_val_batches=0, num_sanity_val_steps=0, default_root_dir=root)  # fmt: skip
    trainer.fit(module)
    return {"seconds": (module.clock["end"] - module.clock["start"]) / (steps - 1)}


def worker_ensemble(
    size: int, steps: int, warmup: int, root: str, extra: list[str], stack_size: int | None
) -> dict[str, float]:
    """Seed-iterations per second of an ensemble of ``size`` seeds after ``warmup`` iterations (the first
    ones build the loop and, with compile_step, compile it), in stacks of ``stack_size`` seeds (None:
    the ensemble command's default), the process's minor page faults per steady iteration, and the
    seconds per iteration its batched matmuls take (torch.profiler's self time of aten::bmm over
    ``PROFILED`` more iterations, after the timed ones)."""
    import resource

    import torch

    from ganbench.ensemble_cli import build_ensemble

    args = ["--config", CONFIG, f"--trainer.max_steps={warmup + steps + PROFILED}",
            "--evaluation.every_n_iterations=0",
            "--evaluation.plot=false", "--evaluation.num_samples=100", *SAME_STEP, *extra]  # fmt: skip
    run = build_ensemble(args, list(range(size)), [Path(root) / f"s{i}" for i in range(size)], stack_size)
    iterate, ends, faults = run.ensemble.train_iteration, [], []

    profiler = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU])

    def timed_iteration(*a: Any, **k: Any) -> Any:
        if len(ends) == warmup + steps:
            profiler.__enter__()
        stats = iterate(*a, **k)
        ends.append(time.perf_counter())
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)
        if len(ends) == warmup + steps + PROFILED:
            profiler.__exit__(None, None, None)
        return stats

    run.ensemble.train_iteration = timed_iteration
    run.run()
    last = warmup + steps - 1
    bmm_us = sum(e.self_cpu_time_total for e in profiler.key_averages() if e.key == "aten::bmm")
    return {
        "rate": size * steps / (ends[last] - ends[warmup - 1]),
        "faults": (faults[last] - faults[warmup - 1]) / steps,
        "stack": len(run.ensemble.stacks[0]),
        "bmm_seconds": bmm_us / 1e6 / PROFILED,
    }


def worker_dcgan(kind: str, steps: int, warmup: int) -> dict[str, float]:
    import torch

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import performance

    # performance.py's loops read the sample shape and latent size from these module globals.
    performance.SHAPE, performance.LATENT_DIM = DCGAN_SHAPE, DCGAN_LATENT
    variant, device = performance.VARIANTS["eager"], torch.device("cpu")
    rate = performance.plain_rate if kind == "plain" else performance.ganbench_rate
    return {"rate": rate(variant, DCGAN_BATCH, device, warmup, steps, SEED)}


def run_worker(args: argparse.Namespace) -> None:
    if args.worker == "imports":  # before torch is imported here
        print(json.dumps(worker_imports()), flush=True)
        return
    import torch

    torch.set_num_threads(1)
    if args.worker == "plain":
        result = worker_plain(args.steps, args.warmup)
    elif args.worker == "limit":
        result = worker_limit([int(x) for x in args.sizes.split(",")])
    elif args.worker == "startup":
        result = worker_startup(args.fit_args)
    elif args.worker == "fit":
        result = worker_fit(args.fit_args, args.warmup)
    elif args.worker == "floor":
        result = worker_floor(args.steps, args.warmup, args.root)
    elif args.worker == "ensemble":
        result = worker_ensemble(
            args.size, args.steps, args.warmup, args.root, args.fit_args, args.stack_size or None
        )
    else:
        result = worker_dcgan(args.worker.removeprefix("dcgan-"), args.steps, args.warmup)
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------------- driver
def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _worker(*worker_args: str) -> dict[str, float]:
    env = {**_env(), "CPU_TOY_STARTED": repr(time.time())}
    done = subprocess.run(
        [sys.executable, __file__, *worker_args], capture_output=True, text=True, env=env, cwd=ROOT
    )
    # The JSON line may follow a progress bar's output on the same line.
    lines = [line[line.index('{"') :] for line in done.stdout.splitlines() if '{"' in line]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker {worker_args} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def fit_args(steps: int, root: Path, extra: list[str]) -> list[str]:
    return [
        "fit", "--config", CONFIG, f"--trainer.max_steps={steps}", "--evaluation.every_n_iterations=0",
        "--evaluation.plot=false", "--checkpoint.every_n_train_steps=0", "--trainer.logger=false",
        f"--trainer.default_root_dir={root}", *SAME_STEP, *extra,
    ]  # fmt: skip


def timed_fit(steps: int, warmup: int, root: Path, extra: list[str]) -> tuple[dict[str, float], float]:
    """(steady timings, wall seconds of the whole process) of one ``fit`` in a fresh process."""
    started = time.perf_counter()
    timings = _worker("--worker", "fit", "--warmup", str(warmup), "--", *fit_args(steps, root, extra))
    return timings, time.perf_counter() - started


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, list[float]]:
    from ganbench.ensemble import CPU_STACK_SIZE

    sizes = [int(s) for s in args.sizes.split(",")]
    ens_steps = [int(s) for s in args.ensemble_iterations.split(",")]
    skip = set(filter(None, args.skip.split(",")))
    runs: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        runs.setdefault(key, []).append(value)
        print(f"  {key}: {value:.4g}", flush=True)

    fits = {"fit": []}
    if "no_progress_bar" not in skip:  # what Lightning's progress bar (refreshed every iteration) costs
        fits["fit_no_bar"] = ["--trainer.enable_progress_bar=false"]
    if "compiled" not in skip:
        fits["compiled"] = ["--model.compile_step=true"]
    if "one_per_step" not in skip:  # Lightning's per-step work at every iteration
        fits["fit_one_per_step"] = [ONE_PER_STEP]
        if "compiled" not in skip:
            fits["compiled_one_per_step"] = ["--model.compile_step=true", ONE_PER_STEP]
    if "log_every_step" not in skip:  # what logging the training scalars at every iteration costs
        fits["fit_log_every_step"] = ["--trainer.log_every_n_steps=1"]
    for r in range(args.repeats):
        print(f"repeat {r + 1}/{args.repeats}", flush=True)
        add("plain", _worker("--worker", "plain", "--steps", str(args.plain_steps), "--warmup", "50")["rate"])
        for name, extra in fits.items():
            timings, seconds = timed_fit(args.fit_steps, args.fit_warmup, tmp / f"{name}-{r}", extra)
            rate = timings["rate"]
            add(f"{name}_steady", rate)
            add(f"{name}_outside_step", timings["outside_step"])
            add(f"{name}_whole", args.fit_steps / seconds)
            add(f"{name}_fixed", seconds - args.fit_steps / rate)
        for key, value in _worker("--worker", "limit", "--sizes", args.sizes).items():
            add(key, value)
        floor = _worker("--worker", "floor", "--steps", str(args.plain_steps), "--warmup", "200",
                        "--root", str(tmp / f"floor-{r}"))  # fmt: skip
        add("lightning_floor", floor["seconds"])
        if "startup" not in skip:
            startup = fit_args(args.fit_steps, tmp / f"startup-{r}", [])
            add("startup", _worker("--worker", "startup", "--", *startup)["seconds"])
            for key, value in _worker("--worker", "imports").items():
                add(key, value)
        if "ensemble" not in skip:
            ensembles = {"": []}
            if "compiled" not in skip:
                ensembles["_compiled"] = ["--model.compile_step=true"]
            for size, steps in zip(sizes, ens_steps, strict=True):
                variants = [(suffix, extra, 0) for suffix, extra in ensembles.items()]
                if "one_stack" not in skip and size > CPU_STACK_SIZE:  # what the stacks of 64 save
                    variants.append(("_one_stack", [], size))
                for suffix, extra, stack_size in variants:
                    root = str(tmp / f"ens{size}{suffix}-{r}")
                    result = _worker("--worker", "ensemble", "--size", str(size), "--steps", str(steps),
                                     "--warmup", "2", "--root", root, "--stack-size", str(stack_size),
                                     "--", *extra)  # fmt: skip
                    add(f"ensemble{size}{suffix}", result["rate"])
                    add(f"ensemble{size}{suffix}_faults", result["faults"])
                    add(f"ensemble{size}{suffix}_bmm_seconds", result["bmm_seconds"])
                    add(f"ensemble{size}{suffix}_stack", result["stack"])
        if "dcgan" not in skip:
            for kind in ("plain", "ganbench"):
                rate = _worker("--worker", f"dcgan-{kind}", "--steps", str(args.dcgan_steps), "--warmup", "5")
                add(f"dcgan_{kind}", rate["rate"])
    return runs


def _median_ratio(runs: dict[str, list[float]], num: str, den: str) -> float | None:
    if num not in runs or den not in runs:
        return None
    return statistics.median(a / b for a, b in zip(runs[num], runs[den], strict=True))


def report(args: argparse.Namespace, runs: dict[str, list[float]], load: tuple[str, str]) -> str:
    import lightning
    import torch

    from ganbench.ensemble import CPU_STACK_SIZE

    med = {k: statistics.median(v) for k, v in runs.items()}
    long = args.fit_steps
    rows = [("plain PyTorch loop", f"{med['plain']:.0f} it/s", "1.00", "")]
    variants = (
        ("fit", "ganbench fit"),
        ("fit_no_bar", "ganbench fit --trainer.enable_progress_bar=false"),
        ("compiled", "ganbench fit --model.compile_step=true"),
        ("fit_one_per_step", f"ganbench fit {ONE_PER_STEP}"),
        ("compiled_one_per_step", f"ganbench fit --model.compile_step=true {ONE_PER_STEP}"),
        ("fit_log_every_step", "ganbench fit --trainer.log_every_n_steps=1"),
    )
    for name, label in variants:
        if f"{name}_steady" in med:
            ratio = _median_ratio(runs, f"{name}_steady", "plain")
            steady = f"{label}, steady (iterations {args.fit_warmup + 1}-{long})"
            rows.append((steady, f"{med[f'{name}_steady']:.0f} it/s", f"{ratio:.2f}", ""))
            if f"{name}_outside_step" in med:
                outside = med[f"{name}_outside_step"]
                pairs = zip(runs[f"{name}_outside_step"], runs[f"{name}_steady"], strict=True)
                share = statistics.median(seconds * rate for seconds, rate in pairs)
                rows.append((f"{label}, steady: Lightning's loop outside training_step (batch fetch, batch "
                             "hooks, callbacks)", f"{outside * 1e3:.2f} ms per iteration", "",
                             f"{share:.0%} of the iteration's time"))  # fmt: skip
            rows.append((f"{label}, whole run of {long} it", f"{med[f'{name}_whole']:.0f} it/s",
                         f"{_median_ratio(runs, f'{name}_whole', 'plain'):.2f}",
                         f"fixed cost {med[f'{name}_fixed']:.1f} s (start, last evaluation)"))  # fmt: skip
    for size in (int(s) for s in args.sizes.split(",")):
        for suffix, label, single, one_per_step in (
            ("", "", "fit_steady", "fit_one_per_step_steady"),
            ("_compiled", ", compile_step", "compiled_steady", "compiled_one_per_step_steady"),
            ("_one_stack", f", one stack (--stack_size {size})", "", ""),
        ):
            key = f"ensemble{size}{suffix}"
            if key in med:
                stack = int(med[f"{key}_stack"])
                if stack < size:
                    label += f" (stacks of {stack})"
                versus_fit = _median_ratio(runs, key, "fit_steady")
                note = f"{versus_fit:.2f}x one seed per process (fit steady)"
                note += f"; {med[f'{key}_faults']:.0f} minor page faults per iteration"
                if suffix and single in runs:
                    note += f"; {_median_ratio(runs, key, single):.2f}x one compiled seed per process"
                if one_per_step in runs:
                    note += f"; {_median_ratio(runs, key, one_per_step):.2f}x with one iteration per step"
                rows.append((f"seed ensemble S={size}{label}", f"{med[key]:.0f} seed-it/s",
                             f"{_median_ratio(runs, key, 'plain'):.2f}", note))  # fmt: skip
                if suffix != "_compiled" and f"{key}_bmm_seconds" in med:
                    bound = [size / b for b in runs[f"{key}_bmm_seconds"]]
                    fit_rates, plain_rates = runs["fit_steady"], runs["plain"]
                    versus_fit = statistics.median(b / f for b, f in zip(bound, fit_rates, strict=True))
                    versus_plain = statistics.median(b / p for b, p in zip(bound, plain_rates, strict=True))
                    share = statistics.median(
                        b * r / size for b, r in zip(runs[f"{key}_bmm_seconds"], runs[key], strict=True)
                    )
                    rows.append((f"seed ensemble S={size}{label}: its own batched matmuls alone "
                                 f"(aten::bmm, profiled: {share:.0%} of its iteration)",
                                 f"{statistics.median(bound):.0f} seed-it/s", f"{versus_plain:.2f}",
                                 f"{versus_fit:.2f}x one seed per process: what the ensemble would reach "
                                 "if everything but its matmuls took no time"))  # fmt: skip
        if f"bmm{size}" in med and "flops" in med:
            bound = [b / med["flops"] for b in runs[f"bmm{size}"]]
            versus_fit = statistics.median(b / f for b, f in zip(bound, runs["fit_steady"], strict=True))
            stack = int(med[f"bmm{size}_stack"])
            rows.append((f"compute bound of an ensemble of S={size}: {med['flops'] / 1e6:.0f} MFLOP per "
                         f"seed-iteration at the stack's batched matmul rate ({BATCH}x{HIDDEN} by "
                         f"{HIDDEN}x{HIDDEN}, {stack} at once: {med[f'bmm{size}'] / 1e9:.0f} GFLOP/s)",
                         f"{statistics.median(bound):.0f} seed-it/s",
                         f"{_median_ratio(runs, f'bmm{size}', 'plain') / med['flops']:.2f}",
                         f"{versus_fit:.2f}x one seed per process: no stack of bmm passes it"))  # fmt: skip
    if "flops" in med:
        flops = med["flops"]
        for key, label in (("gemm_toy", f"{BATCH}x{HIDDEN} by {HIDDEN}x{HIDDEN}"), ("gemm_large", "1024^3")):
            bound = _median_ratio(runs, key, "plain") / flops
            rows.append((f"compute bound: {flops / 1e6:.0f} MFLOP per iteration at one core's matmul rate "
                         f"({label}: {med[key] / 1e9:.0f} GFLOP/s)", f"{med[key] / flops:.0f} it/s",
                         f"{bound:.2f}", "no loop can pass it"))  # fmt: skip
    if "lightning_floor" in med:
        floor, plain_seconds = med["lightning_floor"], 1.0 / med["plain"]
        rows.append(("Lightning's loop alone: an empty manual-optimization step, ganbench's Trainer settings",
                     f"{floor * 1e3:.2f} ms per iteration", f"{plain_seconds / (plain_seconds + floor):.2f}",
                     "the most a loop under Lightning's Trainer gets: plain / (plain + this)"))  # fmt: skip
    if "startup" in med:
        rows.append(("`python -m ganbench fit` to its first iteration", f"{med['startup']:.1f} s", "", ""))
    imports = [_import_key(name) for name in STARTUP_IMPORTS if _import_key(name) in med]
    if imports:
        parts = ", ".join(f"{k.removeprefix('import_')} {med[k]:.1f} s" for k in imports)
        total = sum(med[k] for k in imports)
        rows.append(("of which imports, each after the ones before it (fresh process)", f"{total:.1f} s", "",
                     f"{parts}; Lightning imports torchmetrics to read its version"))  # fmt: skip
    if "dcgan_plain" in med:
        rows.append((f"DCGAN-28 plain loop, batch {DCGAN_BATCH}", f"{med['dcgan_plain']:.2f} it/s", "", ""))
        dcgan = _median_ratio(runs, "dcgan_ganbench", "dcgan_plain")
        rows.append((f"DCGAN-28 ganbench (Trainer), batch {DCGAN_BATCH}", f"{med['dcgan_ganbench']:.2f} it/s",
                     f"{dcgan:.2f} (of DCGAN plain)", ""))  # fmt: skip
    lines = [
        "## ring8 (one torch thread)",
        "",
        "| what | median rate | x plain | note |",
        "|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    ratios = {
        "fit": _median_ratio(runs, "fit_steady", "plain"),
        "compiled": _median_ratio(runs, "compiled_steady", "plain"),
        "fit_one_per_step": _median_ratio(runs, "fit_one_per_step_steady", "plain"),
        "compiled_one_per_step": _median_ratio(runs, "compiled_one_per_step_steady", "plain"),
        "ensemble64": _median_ratio(runs, "ensemble64", "fit_steady"),
        "ensemble256": _median_ratio(runs, "ensemble256", "fit_steady"),
        "ensemble64_compiled": _median_ratio(runs, "ensemble64_compiled", "fit_steady"),
        "ensemble256_compiled": _median_ratio(runs, "ensemble256_compiled", "fit_steady"),
        "dcgan": _median_ratio(runs, "dcgan_ganbench", "dcgan_plain"),
    }
    lines += ["", "## Targets (issue 16)", "", "| ratio | measured | target | met |", "|---|---|---|---|"]
    for key, (label, target) in TARGETS.items():
        value = ratios[key]
        if value is not None:
            lines.append(f"| {label} | {value:.2f} | >= {target} | {'yes' if value >= target else 'no'} |")
    lines += ["", "## Every repeat", "", "| quantity | values |", "|---|---|"]
    lines += [f"| {k} | {', '.join(f'{x:.4g}' for x in v)} |" for k, v in runs.items()]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, cwd=ROOT).stdout.strip()  # fmt: skip
    except OSError:
        commit, dirty = "unknown", ""
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if ln.startswith("model name")), cpu)
    lines += [
        "",
        f"`{command}`  ",
        f"git commit {commit.strip()}{' (tree with uncommitted changes)' if dirty else ' (clean tree)'}; "
        f"machine: {model}, {os.cpu_count()} cores, one torch thread per process; python "
        f"{platform.python_version()}, torch {torch.__version__}, lightning {lightning.__version__}. "
        f"Load average before / after: {load[0]} / {load[1]} (`uptime`; above 1 the cores were shared with "
        f"other jobs, which slows every timing alike, and the interleaved repeats keep the ratios fair). "
        f"{args.repeats} interleaved repeats, medians; seed {SEED} everywhere (seeds 0..S-1 in an "
        f"ensemble of S); fit runs {long} iterations, timed in its process from iteration "
        f"{args.fit_warmup + 1} (steady) and as a whole process (whole run); plain loop "
        f"{args.plain_steps} iterations after 50 of warm-up; ensembles of S = {args.sizes} for "
        f"{args.ensemble_iterations} iterations after 2 of warm-up (eager and compile_step in the "
        f"ensemble command's stacks of at most {CPU_STACK_SIZE} seeds; eager in one stack); "
        f"DCGAN-28 {args.dcgan_steps} iterations after 5 of warm-up. No evaluation is timed except "
        f"fit's final one (in the whole-run row, on ring8's 2,500 samples).",
    ]
    return "# CPU speed: ganbench against plain PyTorch (benchmarks/cpu_toy.py)\n\n" + "\n".join(lines) + "\n"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


SKIPPABLE = ("compiled", "no_progress_bar", "one_per_step", "log_every_step", "startup", "ensemble",
             "one_stack", "dcgan")  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; a bad value is a one-line usage error before anything is timed."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--fit-steps", type=int, default=3000, help="iterations of each fit run")
    p.add_argument("--fit-warmup", type=int, default=200, help="fit iterations before the steady timing")
    p.add_argument("--plain-steps", type=int, default=2000)
    p.add_argument("--sizes", default="64,256", help="ensemble sizes")
    p.add_argument(
        "--ensemble-iterations", default="40,12", help="iterations per ensemble size (one per --sizes entry)"
    )
    p.add_argument("--dcgan-steps", type=int, default=30)
    p.add_argument(
        "--skip",
        default="",
        help=f"comma list of: {', '.join(SKIPPABLE)} (one_stack: an ensemble larger than a CPU stack, "
        "in one stack)",
    )
    p.add_argument("--out", help="write the Markdown report here")
    # Internal: one timing in this process.
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--steps", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--stack-size", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--root", default="", help=argparse.SUPPRESS)
    p.add_argument("fit_args", nargs="*", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return args
    if args.fit_steps % AUTO_PER_STEP or args.fit_warmup % AUTO_PER_STEP:
        p.error(f"--fit-steps and --fit-warmup: must be multiples of {AUTO_PER_STEP} (fit's steps of auto)")
    unknown = sorted(set(filter(None, args.skip.split(","))) - set(SKIPPABLE))
    if unknown:
        p.error(f"--skip: unknown {', '.join(unknown)}; valid choices: {', '.join(SKIPPABLE)}")
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
        counts = [int(count) for count in args.ensemble_iterations.split(",")]
    except ValueError:
        p.error("--sizes and --ensemble-iterations: comma lists of integers, e.g. 64,256 and 40,12")
    if len(counts) != len(sizes):
        p.error(
            f"--ensemble-iterations: one count per --sizes entry; got {len(counts)} for {len(sizes)} "
            f"sizes ({args.sizes})"
        )
    if min(sizes) < 1 or min(counts) < 1:
        p.error("--sizes and --ensemble-iterations: every entry must be >= 1")
    return args


def main() -> None:
    args = parse_args()
    if args.worker:
        run_worker(args)
        return
    before = _load()
    with tempfile.TemporaryDirectory() as tmp:
        runs = measure(args, Path(tmp))
    text = report(args, runs, (before, _load()))
    print(text)
    if args.out:
        sys.path.insert(0, str(ROOT))
        from ganbench.runs.atomic import write_atomic

        write_atomic(Path(args.out), text)


if __name__ == "__main__":
    main()
