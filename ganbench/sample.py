"""``python -m ganbench sample``: samples from a checkpoint, as a picture and as an array.

Toy data (samples of shape (d,)): ``DIR/samples.npz`` (``samples``, and the modes ``means`` and ``sigma``
when the run's config names a toy dataset), ``DIR/samples.npy`` and a scatter plot (PNG and PDF) over the
modes. Images (shape (C, H, W)): ``DIR/samples.npz`` and a PNG grid. The EMA generator is used when the
run kept one. Any ganbench checkpoint works: fit's ``last.ckpt`` and periodic checkpoints, and an
ensemble member's ``checkpoints/final.ckpt`` (weights only).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ganbench.argparser import OneLineParser

NOISE_SEED = 0  # the default noise seed: the same checkpoint gives the same samples


def load_generator_module(path: str | Path) -> Any:
    """The GAN of checkpoint ``path`` (its hyperparameters and weights), on the CPU, in eval mode."""
    from ganbench.module import GAN

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"ckpt_path: no such file: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch raises several types for a damaged file
        raise ValueError(f"ckpt_path: {path} is not a readable checkpoint ({type(error).__name__})") from None
    if (
        not isinstance(checkpoint, dict)
        or "ganbench" not in checkpoint
        or "hyper_parameters" not in checkpoint
    ):
        raise ValueError(f"ckpt_path: {path} is not a ganbench checkpoint")
    hparams = {k: v for k, v in checkpoint["hyper_parameters"].items() if not k.startswith("_")}
    # A compiled run trains a compiled step; sampling needs neither.
    hparams.update(compile=False, compile_step=False)
    module = GAN(**hparams)
    module.load_state_dict(checkpoint["state_dict"], strict=False)
    module.eval()
    return module


def run_data_config(ckpt_path: str | Path) -> dict[str, Any] | None:
    """The ``data`` section of the run that wrote ``RUN/checkpoints/X.ckpt`` (metrics.json or config.yaml)."""
    run_dir = Path(ckpt_path).resolve().parent.parent
    record = run_dir / "metrics.json"
    try:
        if record.is_file():
            data = (json.loads(record.read_text()).get("config") or {}).get("data")
            if data:
                return data
        config = run_dir / "config.yaml"
        if config.is_file():
            return (yaml.safe_load(config.read_text()) or {}).get("data")
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return None


def toy_mixture(data: dict[str, Any] | None) -> Any:
    """The run's Gaussian mixture (modes and sigma), or None when the run's dataset is not one."""
    if not data or not data.get("dataset"):
        return None
    from ganbench.data.registry import DATASETS
    from ganbench.data.toy import GaussianMixture

    try:
        dataset = DATASETS.build(data["dataset"], data.get("dataset_options") or {}, field="data.dataset")
    except (ValueError, TypeError, KeyError):
        return None
    return dataset if isinstance(dataset, GaussianMixture) else None


def write_samples(
    ckpt_path: str | Path, num_samples: int, out: str | Path, seed: int = NOISE_SEED
) -> list[Path]:
    """Draw ``num_samples`` samples from the checkpoint's (EMA) generator and write them under ``out``."""
    module = load_generator_module(ckpt_path)
    samples = module.generate(num_samples, seed=seed)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if samples.dim() == 2:  # toy data: (n, d)
        mixture = toy_mixture(run_data_config(ckpt_path))
        arrays = {"samples": samples.numpy()}
        if mixture is not None:
            arrays.update(means=mixture.means.numpy(), sigma=np.float64(mixture.sigma))
        np.savez(out / "samples.npz", **arrays)
        np.save(out / "samples.npy", samples.numpy())
        written += [out / "samples.npz", out / "samples.npy"]
        if samples.shape[1] in (1, 2):
            from ganbench.evaluation.scatter import scatter_plot

            if mixture is not None:
                means, sigma = mixture.means, mixture.sigma
            else:  # no run config next to the checkpoint: the samples alone
                means, sigma = samples.mean(dim=0, keepdim=True), float(samples.std())
            title = f"{module.hparams.objective}, {num_samples} samples, {Path(ckpt_path).name}"
            for suffix in (".png", ".pdf"):
                written.append(scatter_plot(samples, means, sigma, out / f"samples{suffix}", title=title))
    else:  # images in [-1, 1]: a grid
        from torchvision.utils import save_image

        np.savez(out / "samples.npz", samples=samples.numpy())
        grid = out / "samples.png"
        save_image(samples.clamp(-1, 1) * 0.5 + 0.5, grid, nrow=math.ceil(math.sqrt(num_samples)), padding=1)
        written += [out / "samples.npz", grid]
    return written


def parser() -> OneLineParser:
    p = OneLineParser(
        prog="python -m ganbench sample",
        description="Write samples from a checkpoint: a scatter plot and .npz/.npy for toy data, a PNG grid "
        "for images (the EMA generator when the run kept one).",
    )
    p.add_argument("--ckpt_path", required=True, help="a ganbench checkpoint (last.ckpt, final.ckpt, ...)")
    p.add_argument("--num_samples", type=int, default=2500, help="samples to draw (default 2500)")
    p.add_argument("--out", required=True, help="output directory (created)")
    p.add_argument("--seed", type=int, default=NOISE_SEED, help="noise seed (default 0)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.num_samples < 1:
        parser().error(f"--num_samples: must be >= 1, got {args.num_samples}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser().error(f"--out: {out} is a file; give a directory")
    try:
        written = write_samples(args.ckpt_path, args.num_samples, out, seed=args.seed)
    except ValueError as error:
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0
