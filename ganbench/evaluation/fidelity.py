"""Image-quality metrics of a live generator through torch-fidelity.

torch-fidelity (Obukhov et al., https://github.com/toshas/torch-fidelity) implements the metrics; this
module only adapts a ganbench generator and dataset to its inputs:

- FID, the Frechet distance of Inception pool3 statistics (Heusel et al., 2017, arXiv:1706.08500);
- KID, the unbiased polynomial-kernel MMD of the same features (Binkowski et al., 2018, arXiv:1801.01401);
- IS, the Inception Score (Salimans et al., 2016, arXiv:1606.03498), which needs the classifier head;
- precision and recall of k-NN manifolds (Kynkaanniemi et al., 2019, arXiv:1904.06991).

Generated images are sampled from the generator inside torch-fidelity (``GenerativeModelModuleWrapper``,
noise from ``numpy.random.RandomState(rng_seed)``) so none is written to disk. Real features are
cached by torch-fidelity under a key (:func:`real_cache_key`) that names everything they depend on.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from ganbench.evaluation.inception import EXTRACTOR_NAME, InceptionWeights, resolve_weights
from ganbench.evaluation.metrics import Metric, declare

METRICS = ("fid", "isc", "kid", "prc")
Weights = str | os.PathLike[str] | InceptionWeights | None

_SAMPLES = "evaluation.final_num_samples generated images against the reference split's real images"
for _key, _higher, _what, _bounds in (
    ("fid", False, "Frechet distance of Inception pool3 statistics", (0.0, None)),
    ("kid_mean", False, "KID, mean over subsets of 1,000 images", (None, None)),
    ("kid_std", False, "KID, std over the subsets", (0.0, None)),
    ("is_mean", True, "Inception Score of the generated images alone, mean over 10 splits", (1.0, None)),
    ("is_std", False, "Inception Score, std over the splits", (0.0, None)),
    ("precision", True, "k-NN manifold precision (k = 3) of Inception pool3 features", (0.0, 1.0)),
    ("recall", True, "k-NN manifold recall (k = 3) of Inception pool3 features", (0.0, 1.0)),
):
    declare(Metric(_key, _higher, "images", f"{_what}; {_SAMPLES} (torch-fidelity)", _bounds))


@contextmanager
def strict_fp32() -> Iterator[None]:
    """Disable TF32 for matmuls and cuDNN convolutions inside the block; restore the settings after.

    Inception features under TF32 (10-bit mantissa) shift FID by amounts comparable to the differences
    being measured, and differently on Ampere+ GPUs than elsewhere; the published numbers use full fp32.
    """
    try:
        precision: str | None = torch.get_float32_matmul_precision()
    except RuntimeError:  # torch raises when the legacy and the new precision APIs were mixed
        precision = None
    matmul_tf32 = torch.backends.cuda.matmul.allow_tf32
    cudnn_tf32 = torch.backends.cudnn.allow_tf32
    try:
        torch.set_float32_matmul_precision("highest")
        # Setting the precision already clears allow_tf32; assigning it again when unchanged would
        # mix the legacy and the new API, which later makes get_float32_matmul_precision raise.
        if torch.backends.cuda.matmul.allow_tf32:
            torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        yield
    finally:
        if precision is not None:
            torch.set_float32_matmul_precision(precision)
        if torch.backends.cuda.matmul.allow_tf32 != matmul_tf32:
            torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
        torch.backends.cudnn.allow_tf32 = cudnn_tf32


def to_uint8_rgb(images: Tensor) -> Tensor:
    """(B, C, H, W) or (C, H, W) images in [-1, 1] (float) or 0..255 (uint8) -> uint8 with 3 channels.

    torch-fidelity's extractors take uint8 RGB. Floats are mapped by ``(x + 1) * 127.5``, rounded and
    clamped (a generator's tanh output may overshoot by rounding); 1 channel is replicated to 3.
    """
    if images.dtype != torch.uint8:
        if not images.is_floating_point():
            raise TypeError(f"images must be uint8 or floating point in [-1, 1], got {images.dtype}")
        images = ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    channel_dim = images.dim() - 3
    channels = images.shape[channel_dim] if images.dim() >= 3 else -1
    if images.dim() not in (3, 4) or channels not in (1, 3):
        raise ValueError(
            f"images must be (B, C, H, W) or (C, H, W) with C in (1, 3), got {tuple(images.shape)}"
        )
    if channels == 1:
        images = images.repeat_interleave(3, dim=channel_dim)
    return images


class UInt8Generator(nn.Module):
    """A generator z (B, latent_dim) -> [-1, 1] images, returning uint8 (B, 3, H, W) for torch-fidelity."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, z: Tensor) -> Tensor:
        param = next(self.generator.parameters(), None)
        if param is not None:
            z = z.to(param.device)  # noise comes from numpy on the CPU
        images = self.generator(z)
        if images.dim() != 4:
            raise ValueError(
                f"the generator must output images (B, C, H, W), got shape {tuple(images.shape)}"
            )
        return to_uint8_rgb(images)


def wrap_generator(generator: nn.Module, latent_dim: int) -> Any:
    """The live generator as torch-fidelity input (standard normal noise, unconditional).

    ``make_eval=False``: the wrapper would otherwise switch the caller's generator to eval mode for
    good; :func:`compute_image_metrics` sets and restores the mode itself.
    """
    from torch_fidelity import GenerativeModelModuleWrapper

    return GenerativeModelModuleWrapper(
        UInt8Generator(generator), int(latent_dim), "normal", 0, make_eval=False
    )


class UInt8Dataset(Dataset):
    """A dataset of images in [-1, 1] (float) or uint8 served as uint8 (3, H, W) tensors.

    Items may be tensors or ``(image, label, ...)`` tuples; grayscale (1, H, W) or (H, W) images are
    replicated to 3 channels, as torch-fidelity's Inception expects RGB.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Tensor:
        item = self.dataset[index]
        if isinstance(item, (tuple, list)):
            item = item[0]
        if not isinstance(item, Tensor):
            raise TypeError(
                f"dataset items must be tensors or (tensor, ...) tuples, got {type(item).__name__}"
            )
        if item.dim() == 2:
            item = item.unsqueeze(0)
        return to_uint8_rgb(item)


def weights_digest(weights_path: Weights) -> str:
    """sha256 of the weights file, or ``"default"`` for torch-fidelity's own (downloaded) weights.

    A resolved :class:`InceptionWeights` already holds it: the file is not read again.
    """
    if weights_path is None:
        return "default"
    if isinstance(weights_path, InceptionWeights):
        return weights_path.sha256
    digest = hashlib.sha256()
    with open(weights_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _slug(value: object) -> str:
    text = "".join(c if c.isalnum() or c in "._" else "_" for c in str(value))
    return text[:32] or "_"


def real_cache_key(
    dataset: str,
    split: str,
    size: int | Sequence[int],
    transform: str,
    weights_path: Weights,
) -> str:
    """The torch-fidelity cache name of real features: a readable prefix and a hash of every input.

    torch-fidelity names cache files only by this key and the extractor name ("inception-v3-compat"
    whatever the weights), so the key must change with the dataset, split, image size, transform and
    the weights file's contents.
    """
    descriptor = {
        "dataset": str(dataset),
        "split": str(split),
        "size": list(size) if isinstance(size, Sequence) and not isinstance(size, str) else size,
        "transform": str(transform),
        "weights": weights_digest(weights_path),
    }
    digest = hashlib.sha256(json.dumps(descriptor, sort_keys=True).encode()).hexdigest()[:16]
    size_tag = "x".join(map(str, descriptor["size"])) if isinstance(descriptor["size"], list) else size
    return f"ganbench-{_slug(dataset)}-{_slug(split)}-{_slug(size_tag)}-{digest}"


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def compute_image_metrics(
    generator: nn.Module,
    latent_dim: int,
    real_dataset: Dataset,
    num_samples: int,
    *,
    metrics: Sequence[str] = METRICS,
    weights_path: Weights = None,
    cache_key: str | None = None,
    cache_root: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 64,
    seed: int = 0,
    kid_subset_size: int = 1000,
    tf32: bool = False,
) -> dict[str, Any]:
    """FID, IS, KID and precision/recall of ``num_samples`` generated images against ``real_dataset``.

    Calls ``torch_fidelity.calculate_metrics`` once with input1 = the generator (noise seeded by
    ``seed``) and input2 = the real images. All metrics use the Inception-v3 extractor (P&R on its
    pool3 features rather than the paper's VGG-16, whose weights would need a download). With a weights
    file without classifier head IS is not computed: ``is_mean``/``is_std`` are None and
    ``is_unavailable`` says why. ``cache_key`` (see :func:`real_cache_key`) turns on torch-fidelity's
    file cache of the real features under ``cache_root``. Unless ``tf32``, features are computed in
    strict fp32 (:func:`strict_fp32`).
    """
    import torch_fidelity

    requested = tuple(metrics)
    unknown = [m for m in requested if m not in METRICS]
    if unknown or not requested:
        raise ValueError(f"metrics must be a non-empty subset of {METRICS}, got {requested}")
    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2, got {num_samples}")
    real = UInt8Dataset(real_dataset)
    num_real = len(real)
    if num_real < 2:
        raise ValueError(f"the real dataset must hold >= 2 images, got {num_real}")

    result: dict[str, Any] = {
        "fid": None,
        "is_mean": None,
        "is_std": None,
        "kid_mean": None,
        "kid_std": None,
        "precision": None,
        "recall": None,
        "num_samples": int(num_samples),
        "num_real": num_real,
        "tf32": bool(tf32),
    }
    isc = "isc" in requested
    weights = resolve_weights(weights_path)  # once: a resolved object is passed through as it is
    if isc and not weights.has_classifier_head:
        isc = False
        result["is_unavailable"] = (
            f"{Path(str(weights)).name} has no Inception classifier head (pool3-only weights), "
            "so the Inception Score cannot be computed"
        )
    binary = [m for m in ("fid", "kid", "prc") if m in requested]
    if not (isc or binary):
        return result  # only IS was asked for, and it is unavailable

    device = torch.device(device)
    cuda = device.type == "cuda"
    # torch-fidelity (issue #45) refuses a KID subset larger than either set.
    subset = max(2, min(int(kid_subset_size), int(num_samples), num_real))
    kwargs: dict[str, Any] = {
        "input1": wrap_generator(generator, latent_dim),
        "input1_model_num_samples": int(num_samples),
        "input2": real if binary else None,
        "cuda": cuda,
        "batch_size": int(batch_size),
        "isc": isc,
        "fid": "fid" in requested,
        "kid": "kid" in requested,
        "prc": "prc" in requested,
        # One extractor for everything: one feature pass, and no download of VGG-16 for P&R.
        "feature_extractor": EXTRACTOR_NAME,
        "feature_extractor_weights_path": None if weights.path is None else str(weights.path),
        # The usual 10 splits, but never fewer than 10 images a split: IS of a 1-image split is exactly 1.
        "isc_splits": max(1, min(10, int(num_samples) // 10)),
        "kid_subset_size": subset,
        "rng_seed": int(seed),
        "cache": cache_key is not None,
        "cache_root": None if cache_root is None else str(cache_root),
        "input2_cache_name": cache_key,
        # num_workers=0: the real set is in memory, and forking workers from a training process is
        # slow and unsafe with CUDA.
        "save_cpu_ram": True,
        "verbose": False,
    }
    # torch-fidelity moves the generator with .cuda() (to the *current* CUDA device) and samples it in
    # whatever mode it is in: pin the device, use eval mode, and give the caller's generator back as it was.
    was_training = generator.training
    param = next(generator.parameters(), None)
    home = None if param is None else param.device
    generator.eval()
    try:
        with torch.cuda.device(device) if cuda else nullcontext(), nullcontext() if tf32 else strict_fp32():
            out = torch_fidelity.calculate_metrics(**kwargs)
    finally:
        generator.train(was_training)
        if home is not None:
            generator.to(home)

    result["fid"] = _as_float(out.get(torch_fidelity.KEY_METRIC_FID))
    result["is_mean"] = _as_float(out.get(torch_fidelity.KEY_METRIC_ISC_MEAN))
    result["is_std"] = _as_float(out.get(torch_fidelity.KEY_METRIC_ISC_STD))
    result["kid_mean"] = _as_float(out.get(torch_fidelity.KEY_METRIC_KID_MEAN))
    result["kid_std"] = _as_float(out.get(torch_fidelity.KEY_METRIC_KID_STD))
    result["precision"] = _as_float(out.get(torch_fidelity.KEY_METRIC_PRECISION))
    result["recall"] = _as_float(out.get(torch_fidelity.KEY_METRIC_RECALL))
    if "kid" in requested:
        result["kid_subset_size"] = subset
    return result
