"""Scoring a generator on an image dataset: torch-fidelity's metrics against the dataset's reference
split, plus the classifier's class metrics on MNIST-like and Stacked MNIST data.

The dataset (:class:`ganbench.data.images.ImageSource`) only exposes its reference split and that
split's fingerprint; everything about metrics (the real-feature cache key, the Inception weights, the
classifier) is decided here. Real features are cached under a hash of everything they depend on, the
image bytes included (stylegan3's ``metric_utils`` does the same).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganbench.data.images import ImageSource
from ganbench.data.stacked_mnist import StackedSource
from ganbench.evaluation.fidelity import UInt8Dataset, compute_image_metrics, real_cache_key
from ganbench.evaluation.inception import InceptionWeights

PLOT_SAMPLES = 64
MNIST_SHAPE = (1, 28, 28)


def cache_root() -> Path:
    """Where torch-fidelity caches real features: ``$GANBENCH_CACHE/fidelity`` (~/.cache/ganbench)."""
    base = os.environ.get("GANBENCH_CACHE") or Path.home() / ".cache" / "ganbench"
    return Path(base).expanduser() / "fidelity"


def save_grid(images: Tensor, path: str | Path) -> Path:
    """Save images (B, C, H, W) in [-1, 1] as one PNG grid, 8 a row (torchvision ``save_image``)."""
    from torchvision.utils import save_image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.detach().float().cpu(), path, nrow=8, normalize=True, value_range=(-1.0, 1.0))
    return path


def class_metrics(
    source: ImageSource, classifier: str, samples: Tensor, device: torch.device
) -> dict[str, Any]:
    """The classifier's mode metrics of ``samples``: Stacked MNIST's 1,000 modes, or MNIST's 10 classes.

    Other shapes than 1x28x28 (and 3x28x28 for Stacked MNIST) get ``classifier_unavailable`` and why.
    """
    from ganbench.evaluation.class_modes import classify_stacked, mnist_mode_metrics, stacked_modes
    from ganbench.evaluation.classifier import load_classifier

    if isinstance(source, StackedSource):
        metrics = stacked_modes(classify_stacked(load_classifier(classifier, device), samples))
    elif source.sample_shape != MNIST_SHAPE:
        return {
            "classifier_unavailable": f"the MNIST classifier needs 1x28x28 images, "
            f"{source.name} has {'x'.join(map(str, source.sample_shape))}"
        }
    else:
        model = load_classifier(classifier, device)
        metrics = mnist_mode_metrics(model, samples, splits=min(10, len(samples)))
    metrics.pop("num_samples", None)  # the int count is already in the metrics
    return metrics


def evaluate_images(
    source: ImageSource,
    module: Any,
    num_samples: int,
    seed: int,
    plot_path: Path | None,
    title: str,
    inception_weights: str | InceptionWeights | None = None,
    reference_split: str = "test",
    tf32: bool = False,
    classifier: str | None = None,
    **_: Any,
) -> dict[str, Any]:
    """FID, KID, IS and precision/recall of ``num_samples`` generated images against the real split.

    The generator is sampled inside torch-fidelity (noise seeded by ``seed``); the real side is the
    source's reference split. With ``classifier`` the class metrics of :func:`class_metrics` are added on
    ``module.generate(num_samples, seed)``. The plot is a grid of 64 samples (``title`` is not drawn).
    Returns the metrics plus ``reference_split`` (the split used) and ``num_real``.
    """
    split = source.resolve_split(reference_split)
    real = UInt8Dataset(source.reference_dataset(split))
    split_tag = split if source.reference_limit is None else f"{split}-first{source.reference_limit}"
    # The pixels' digest goes into the key: another copy of "mnist" (e.g. the 5k subset) gets its own.
    content = f"{source.transform};images={source.fingerprint(split)}"
    key = real_cache_key(source.name, split_tag, source.sample_shape, content, inception_weights)
    metrics = compute_image_metrics(
        module.evaluation_generator(),
        module.hparams.latent_dim,
        real,
        num_samples,
        weights_path=inception_weights,
        cache_key=key,
        cache_root=cache_root(),
        device=module.device,
        seed=seed,
        tf32=tf32,
    )
    metrics["reference_split"] = split
    samples = None
    if classifier is not None:
        samples = module.generate(num_samples, seed)
        metrics.update(class_metrics(source, classifier, samples, module.device))
    if plot_path is not None:
        enough = samples is not None and len(samples) >= PLOT_SAMPLES
        grid = samples[:PLOT_SAMPLES] if enough else module.generate(PLOT_SAMPLES, seed)
        save_grid(grid, plot_path)
    return metrics
