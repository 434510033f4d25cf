"""Samplers that are not GANs, scored like the benchmark's runs: does each headline metric tell them apart?

    python results/toy/noise_shapes.py [--draws 10] [--out results/toy/noise_shapes.md]

The toy tables' noise row is uniform over the means' bounding box widened by 1. Other shapes test the
metrics harder: noise on the data's support (the ring's circle, the grid's lines), a Gaussian with the
data's mean and covariance, the true modes three times too wide, every sample on a mode's centre, and a
mode-dropping sampler (the data restricted to half of its modes). Each draw of 2,500 samples is written as
a .npy file and scored by ``python -m ganbench score``'s own function (``ganbench.evaluation.score.score``),
with the dataset of ``configs/toy/DATASET.yaml``.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ganbench.evaluation.score import dataset_from_config, score  # noqa: E402

HEADLINE = ("modes_covered", "off_mode_mass", "wasserstein_1")
PACGAN = ("modes_captured", "high_quality_fraction", "reverse_kl")
N = 2500  # the benchmark's evaluation.num_samples

Sampler = Callable[[object, int, torch.Generator], torch.Tensor]
# None: the dataset's own support (the ring's circle or the grid's lines), picked by dataset name.


def _uniform_box(data, n, g):
    low, high = data.bounding_box()
    return low - 1 + (high - low + 2) * torch.rand(n, low.shape[0], generator=g)


def _gaussian_fit(data, n, g):
    x = data.sample(100_000, g)
    mean, cov = x.mean(0), torch.cov(x.T)
    return mean + torch.randn(n, x.shape[1], generator=g) @ torch.linalg.cholesky(cov).T


def _on_circle(data, n, g):
    """Uniform on the circle through the ring's means."""
    radius = data.means.norm(dim=1).mean()
    angle = 2 * math.pi * torch.rand(n, generator=g)
    return radius * torch.stack([angle.cos(), angle.sin()], 1)


def _on_grid_lines(data, n, g):
    """Uniform on the grid lines through the grid's means."""
    means = data.means
    coords = means[:, 0].unique()
    line = coords[torch.randint(len(coords), (n,), generator=g)]
    along = coords.min() + (coords.max() - coords.min()) * torch.rand(n, generator=g)
    horizontal = torch.rand(n, generator=g) < 0.5
    return torch.where(horizontal[:, None], torch.stack([along, line], 1), torch.stack([line, along], 1))


def _wide_modes(data, n, g):
    k = torch.randint(data.means.shape[0], (n,), generator=g)
    return data.means[k] + 3 * data.sigma * torch.randn(n, data.means.shape[1], generator=g)


def _mode_centres(data, n, g):
    return data.means[torch.randint(data.means.shape[0], (n,), generator=g)]


def _half_the_modes(data, n, g):
    kept = data.means[::2]
    k = torch.randint(kept.shape[0], (n,), generator=g)
    return kept[k] + data.sigma * torch.randn(n, kept.shape[1], generator=g)


SAMPLERS: dict[str, tuple[str, Sampler | None]] = {
    "data": ("the true mixture (the ceiling)", lambda data, n, g: data.sample(n, g)),
    "uniform box": (
        "uniform over the means' bounding box widened by 1 (the tables' noise row)",
        _uniform_box,
    ),
    "gaussian fit": ("a Gaussian with the data's mean and covariance", _gaussian_fit),
    "on the support": ("uniform on the ring's circle / the grid's lines through the means", None),
    "modes 3x too wide": ("the modes with 3 times the data's sigma", _wide_modes),
    "mode centres": ("every sample exactly on a mode's mean (zero spread)", _mode_centres),
    "half the modes": ("the data restricted to every other mode (mode dropping)", _half_the_modes),
}


def _cell(values: list[float]) -> str:
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.3g} ± {sd:.2g}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--draws", type=int, default=10)
    p.add_argument("--out", default=str(ROOT / "results" / "toy" / "noise_shapes.md"))
    args = p.parse_args()
    torch.set_num_threads(1)
    lines = ["# Samplers that are not GANs, scored like the benchmark's runs", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in ("ring8", "grid25"):
            config = ROOT / "configs" / "toy" / f"{dataset}.yaml"
            _, _, data = dataset_from_config(config)
            metrics = HEADLINE + PACGAN
            header = ["| sampler | " + " | ".join(metrics) + " |", "|---|" + "--:|" * len(metrics)]
            lines += [f"## {dataset} (`configs/toy/{dataset}.yaml`)", "", *header]
            for index, (name, (_, sampler)) in enumerate(SAMPLERS.items()):
                values: dict[str, list[float]] = {m: [] for m in metrics}
                for draw in range(args.draws):
                    g = torch.Generator().manual_seed(1000 * index + draw)
                    path = Path(tmp) / f"{dataset}-{index}-{draw}.npy"
                    sample = sampler or (_on_circle if dataset == "ring8" else _on_grid_lines)
                    np.save(path, sample(data, N, g).numpy().astype(np.float32))
                    report = score(config, path)["metrics"]
                    for m in metrics:
                        values[m].append(float(report[m]))
                lines.append(f"| {name} | " + " | ".join(_cell(values[m]) for m in metrics) + " |")
                print(lines[-1], flush=True)
            lines.append("")
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True, cwd=ROOT).stdout.strip()  # fmt: skip
    lines += ["Samplers:", ""] + [f"- {name}: {text}" for name, (text, _) in SAMPLERS.items()]
    lines += [
        "",
        f"Cells: mean ± standard deviation over {args.draws} draws of {N:,} samples (seeded 1000 x sampler "
        "index + draw). Headline metrics first (`modes_covered` ↑, `off_mode_mass` ↓, `wasserstein_1` ↓), "
        "then PacGAN's three (`modes_captured` ↑, `high_quality_fraction` ↑, `reverse_kl` ↓).",
        f"`python results/toy/noise_shapes.py --draws {args.draws}`; git commit {commit}"
        f"{' (tree with uncommitted changes)' if dirty else ' (clean tree)'}; python "
        f"{platform.python_version()}, torch {torch.__version__}, CPU.",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
