"""``python -m ganbench score``: score samples made anywhere with a config's toy dataset and metrics.

    python -m ganbench score --config configs/toy/grid25.yaml --samples samples.npy [--out scores.json]

The samples (a .npy array of shape (n, d), or (n,) for 1-D data) are scored by the same code as a
generator during training (:func:`ganbench.evaluation.mixture.score_mixture`), so another codebase's GAN
or a baseline sampler can be put in the same table. The JSON printed (and written with ``--out``) holds
``metrics``, the dataset and its options, the sample file's sha256 and the protocol of each metric.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from ganbench.argparser import OneLineParser


class ScoreError(ValueError):
    """Bad input: one line naming the option."""


def dataset_from_config(path: str | Path) -> tuple[str, dict[str, Any], Any]:
    """(name, options, dataset) of the ``data`` section of a fit config (a ``configs/`` file or a run's
    ``config.yaml``); unset keys take the data module's defaults."""
    from ganbench.data import DATASETS, GANDataModule
    from ganbench.data.toy import MIXTURES

    try:
        config = yaml.safe_load(Path(path).read_text()) or {}
    except OSError as error:
        raise ScoreError(f"--config: cannot read {path} ({error.strerror or type(error).__name__})") from None
    except yaml.YAMLError:
        raise ScoreError(f"--config: {path} is not valid YAML") from None
    data = config.get("data") or {} if isinstance(config, dict) else {}
    defaults = inspect.signature(GANDataModule).parameters
    name = data.get("dataset") or defaults["dataset"].default
    options = data.get("dataset_options") or {}
    if name in DATASETS and name not in MIXTURES:  # an image set: refuse before it is opened (or fetched)
        raise ScoreError(
            f"--config: data.dataset={name} is not a toy dataset; valid choices: {', '.join(MIXTURES)} "
            "(score image samples with torch-fidelity)"
        )
    try:
        dataset = DATASETS.build(name, options, field="data.dataset")
    except (TypeError, ValueError) as error:
        raise ScoreError(str(error).splitlines()[0]) from None
    return name, options, dataset


def load_samples(path: str | Path, dim: int) -> torch.Tensor:
    """The samples of a .npy file as float32 (n, dim)."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ScoreError(f"--samples: {path} is not a readable .npy array ({type(error).__name__})") from None
    if array.ndim == 1 and dim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[1] != dim or array.shape[0] < 1:
        raise ScoreError(f"--samples: expected an array of shape (n, {dim}) with n >= 1, got {array.shape}")
    if not np.issubdtype(array.dtype, np.number):
        raise ScoreError(f"--samples: expected numbers, got dtype {array.dtype}")
    return torch.from_numpy(array.astype(np.float32))


def score(config: str | Path, samples: str | Path) -> dict[str, Any]:
    """The score report of the ``samples`` file under ``config``'s dataset."""
    from ganbench.data.toy import GaussianMixture
    from ganbench.evaluation.metrics import metrics_of
    from ganbench.evaluation.mixture import score_mixture

    name, options, dataset = dataset_from_config(config)
    assert isinstance(dataset, GaussianMixture)
    points = load_samples(samples, dataset.means.shape[1])
    return {
        "metrics": score_mixture(dataset, points),
        "dataset": name,
        "dataset_options": options,
        "config": str(config),
        "samples": str(samples),
        "samples_sha256": hashlib.sha256(Path(samples).read_bytes()).hexdigest(),
        "protocol": {m.key: m.protocol for m in metrics_of("mixture")},
    }


def main(argv: list[str] | None = None) -> int:
    """``score --config CONFIG --samples FILE.npy [--out FILE.json]``: 0, or 2 on bad input."""
    p = OneLineParser(prog="python -m ganbench score", description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True, help="a fit config (configs/toy/*.yaml or a run's config.yaml)")
    p.add_argument("--samples", required=True, help="a .npy array of shape (n, d)")
    p.add_argument("--out", help="also write the JSON here (atomically)")
    try:
        args = p.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        report = score(args.config, args.samples)
    except ScoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from ganbench.runs.atomic import json_safe, write_atomic

    text = json.dumps(json_safe(report), indent=2) + "\n"
    if args.out:
        write_atomic(args.out, text)
    print(text, end="")
    return 0
