"""What Goodfellow et al. (2014, fig. 1) draw, recorded during a 1-D run: at each evaluation, D on a
grid of x, the generated samples, the data density and the map z -> G(z), one file per evaluation.

Written to ``RUN/trace/{tag}_{iteration:07d}.npz`` (atomically) for 1-D Gaussian-mixture data only;
``python -m ganbench figure1 RUN`` draws them (:mod:`ganbench.runs.goodfellow_figure`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganbench.data.toy import GaussianMixture
from ganbench.runs.atomic import atomic_open

TRACE_DIR = "trace"
GRID_POINTS = 501  # D is smooth at this scale: the MLP's kinks are far apart compared with 0.02
MAPPING_POINTS = 25  # arrows z -> G(z), at equal-probability quantiles of z ~ N(0, 1)
TRACE_NAME = re.compile(r"(?P<tag>[a-z]+)_(?P<iteration>\d{7})\.npz")


def traceable(dataset: Any, module: Any) -> bool:
    """1-D Gaussian-mixture data and an unpacked D: D(x) on a grid of x is then defined."""
    packing = getattr(getattr(module, "players", None), "packing", 1)
    return isinstance(dataset, GaussianMixture) and dataset.sample_shape == (1,) and packing == 1


def trace_grid(mixture: GaussianMixture) -> Tensor:
    """(GRID_POINTS,) x values: the frame of the run's 1-D sample plots (modes +- 6 sigma or more)."""
    from ganbench.evaluation.scatter import _limits

    lo, hi = _limits(mixture.means[:, 0], mixture.sigma)
    return torch.linspace(lo, hi, GRID_POINTS, dtype=torch.float64)


@torch.no_grad()
def discriminator_on(module: Any, x: Tensor) -> tuple[np.ndarray, str]:
    """D at the points ``x`` (n,) in eval mode: sigmoid(logit) ("probability"), or the raw value for
    critic objectives ("critic"), as ``train/d_real`` reports them."""
    net = module.discriminator
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    outputs = net(x.to(device=device, dtype=torch.float32).unsqueeze(1)).float()
    net.train(was_training)
    critic = bool(module.objective.is_critic)
    values = outputs if critic else outputs.sigmoid()
    return values.double().cpu().numpy(), "critic" if critic else "probability"


@torch.no_grad()
def generator_map(module: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(z, G(z)) at MAPPING_POINTS equal-probability quantiles of N(0, 1); None unless latent_dim is 1."""
    if int(module.hparams.latent_dim) != 1:
        return None
    probabilities = (torch.arange(MAPPING_POINTS, dtype=torch.float64) + 0.5) / MAPPING_POINTS
    z = torch.distributions.Normal(0.0, 1.0).icdf(probabilities)
    net = module.evaluation_generator()
    device = next(net.parameters()).device
    was_training = net.training
    net.eval()
    x = net(z.to(device=device, dtype=torch.float32).unsqueeze(1)).float()
    net.train(was_training)
    return z.numpy(), x.reshape(-1).double().cpu().numpy()


def trace_path(run_dir: str | Path, tag: str, iteration: int) -> Path:
    return Path(run_dir) / TRACE_DIR / f"{tag}_{iteration:07d}.npz"


def record_trace(
    run_dir: str | Path,
    dataset: Any,
    module: Any,
    num_samples: int,
    seed: int,
    iteration: int,
    tag: str,
) -> Path | None:
    """Write the trace of ``iteration`` to ``RUN/trace/TAG_ITERATION.npz``; None (nothing written)
    unless the data are 1-D (see :func:`traceable`).

    Keys: ``iteration``; ``x`` (grid); ``d`` (D on the grid) with ``d_output`` ("probability" or
    "critic"); ``data_density`` (p_data on the grid); ``samples`` (the ``num_samples`` samples of
    noise seed ``seed``, those the evaluation scored); ``z``, ``g_of_z`` (latent_dim 1 only);
    ``objective``, ``sigma``, ``means``, ``seed``. G is the evaluated one (EMA weights when on); D is
    the trained D.
    """
    if not traceable(dataset, module):
        return None
    x = trace_grid(dataset)
    d, output = discriminator_on(module, x)
    samples = module.generate(num_samples, seed).reshape(-1).double().cpu().numpy()
    arrays: dict[str, Any] = {
        "iteration": np.int64(iteration),
        "x": x.numpy(),
        "d": d,
        "d_output": np.str_(output),
        "data_density": dataset.log_density(x.unsqueeze(1)).exp().numpy(),
        "samples": samples,
        "objective": np.str_(module.objective.describe()),
        "means": dataset.means[:, 0].double().numpy(),
        "sigma": np.float64(dataset.sigma),
        "seed": np.int64(seed),
    }
    mapping = generator_map(module)
    if mapping is not None:
        arrays["z"], arrays["g_of_z"] = mapping
    path = trace_path(run_dir, tag, iteration)
    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return path


def recorded_traces(run_dir: str | Path) -> dict[int, Path]:
    """Iteration -> trace file of a run; at an iteration with several (a periodic and a final
    evaluation), the periodic one ("eval"), whose sample count every other iteration shares."""
    found: dict[int, Path] = {}
    preference = {"eval": 0, "final": 1}
    for path in sorted((Path(run_dir) / TRACE_DIR).glob("*.npz")):
        match = TRACE_NAME.fullmatch(path.name)
        if match is None:
            continue
        iteration = int(match["iteration"])
        rank = preference.get(match["tag"], 2)
        held = found.get(iteration)
        if held is None or rank < preference.get(TRACE_NAME.fullmatch(held.name)["tag"], 2):
            found[iteration] = path
    return dict(sorted(found.items()))


def load_trace(path: str | Path) -> dict[str, Any]:
    """A trace file as a dict of arrays (strings and scalars unwrapped)."""
    with np.load(path, allow_pickle=False) as data:
        return {k: (data[k].item() if data[k].ndim == 0 else data[k]) for k in data.files}
