"""A small MNIST classifier for counting modes of GANs trained on MNIST and Stacked MNIST.

Mode collapse on MNIST is measured with a pretrained digit classifier: the number of classes (or, on
Stacked MNIST, of the 1,000 digit triples) that generated images are assigned to, and the KL divergence of
that assignment from uniform (Metz et al., 2017, "Unrolled GANs"; Srivastava et al., 2017, "VEEGAN"; Lin et
al., 2018, "PacGAN"). The metrics themselves are in :mod:`ganbench.evaluation.class_modes`.

The network is the usual two-convolution MNIST CNN (as in PyTorch's MNIST example), with a max-pool after
each convolution so it trains in seconds on one CPU thread. It takes (B, 1, 28, 28) images in [-1, 1], the
scaling of the GAN's images: pixel / 127.5 - 1.

    python -m ganbench classifier fit --root DATA --out mnist_classifier.pt
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbench.argparser import OneLineParser

FIELD = "classifier"
NUM_CLASSES = 10
IMAGE_SHAPE = (1, 28, 28)
# What torchvision.datasets.MNIST(root, download=False) reads (uncompressed idx files).
RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
CHECKPOINT_KEYS = ("state_dict", "test_accuracy", "num_train", "num_test", "epochs", "seed", "versions")
_EVAL_BATCH = 1000


class ClassifierError(RuntimeError):
    """Training could not be done; the message is one line, fit for the command line."""


class MNISTClassifier(nn.Module):
    """conv(32) - pool - conv(64) - pool - dropout - fc(128) - dropout - fc(10); logits out.

    Input (B, 1, 28, 28) in [-1, 1]; output (B, 10) logits.
    """

    def __init__(self, dropout: float = 0.25) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, NUM_CLASSES)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # 28 -> 14
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # 14 -> 7
        x = self.dropout(x.flatten(1))
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


def scale_images(pixels: Tensor) -> Tensor:
    """uint8 pixels 0..255 -> float in [-1, 1] (p / 127.5 - 1), with a channel axis: (N, 1, 28, 28)."""
    x = pixels.float() / 127.5 - 1.0
    return x.unsqueeze(1) if x.dim() == 3 else x


def _missing_message(root: Path, reason: str, downloaded: bool) -> str:
    raw = root / "MNIST" / "raw"
    other = "place the downloaded files there" if downloaded else "download MNIST (drop --no_download)"
    return (
        f"{FIELD} fit: --root {root}: {reason}; expected {', '.join(RAW_FILES)} under {raw}; "
        f"write a real 5k subset with `python ../shared/tools/mnist_idx.py --root {root}` or {other}"
    )


def _load_mnist(root: Path, download: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(train images, train labels, test images, test labels): uint8 (N, 28, 28) and int64 (N,)."""
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    missing = [name for name in RAW_FILES if not (raw / name).is_file()]
    if missing and not download:
        raise ClassifierError(_missing_message(root, f"no {missing[0]}", downloaded=False))
    try:
        train = MNIST(str(root), train=True, download=download)
        test = MNIST(str(root), train=False, download=download)
    except Exception as exc:  # offline downloads fail with URLError, OSError, RuntimeError...
        # torchvision lists each mirror's failure; the last line is the actual cause (e.g. no network).
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        cause = lines[-1] if lines else type(exc).__name__
        verb = "download" if missing else "read"
        raise ClassifierError(
            _missing_message(root, f"could not {verb} MNIST ({cause})", downloaded=bool(missing))
        ) from None
    return train.data, train.targets.long(), test.data, test.targets.long()


@torch.no_grad()
def _accuracy(model: nn.Module, images: Tensor, labels: Tensor, device: torch.device) -> float:
    model.eval()
    correct = 0
    for x, y in zip(images.split(_EVAL_BATCH), labels.split(_EVAL_BATCH), strict=True):
        pred = model(scale_images(x).to(device)).argmax(dim=1).cpu()
        correct += int((pred == y).sum())
    return correct / max(labels.numel(), 1)


def _versions() -> dict[str, str]:
    import torchvision

    from ganbench import __version__ as ganbench_version

    # str(): torch.__version__ is a TorchVersion, which torch.load(weights_only=True) refuses to unpickle.
    return {
        "torch": str(torch.__version__),
        "torchvision": str(torchvision.__version__),
        "ganbench": str(ganbench_version),
    }


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder and os.replace it: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it 0600; a model file should be readable like any other
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def fit_classifier(
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    epochs: int = 8,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    download: bool = True,
    device: str = "cpu",
) -> dict[str, Any]:
    """Train :class:`MNISTClassifier` on MNIST's train split, measure test accuracy, save it to ``out``.

    Adam (Kingma & Ba, 2015) on the cross-entropy, ``epochs`` passes over the shuffled train split. The
    checkpoint is a dict of tensors and plain values (``CHECKPOINT_KEYS``, loadable with
    ``torch.load(weights_only=True)``), written atomically (temp file + ``os.replace``) together with the
    report in ``out.json``. Returns the report.
    """
    if epochs < 1:
        raise ValueError(f"epochs: {epochs} must be >= 1")
    if batch_size < 1:
        raise ValueError(f"batch_size: {batch_size} must be >= 1")
    if not lr > 0:
        raise ValueError(f"lr: {lr} must be > 0")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"device: {device!r} is not a torch device") from None
    root, out = Path(root), Path(out)
    train_x, train_y, test_x, test_y = _load_mnist(root, download)

    start = time.perf_counter()
    # Seeded inside fork_rng: the global CPU RNG (init, dropout) is the caller's again afterwards.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MNISTClassifier().to(dev)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        order_rng = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            model.train()
            order = torch.randperm(train_y.numel(), generator=order_rng)
            for batch in order.split(batch_size):
                x = scale_images(train_x[batch]).to(dev)
                loss = F.cross_entropy(model(x), train_y[batch].to(dev))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
    accuracy = _accuracy(model, test_x, test_y, dev)
    seconds = time.perf_counter() - start

    checkpoint = {
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "test_accuracy": accuracy,
        "num_train": int(train_y.numel()),
        "num_test": int(test_y.numel()),
        "epochs": epochs,
        "seed": seed,
        "versions": _versions(),
    }
    # Saved via a buffer: torch.save would otherwise name the archive after the random temp file.
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    data = buffer.getvalue()
    report: dict[str, Any] = {
        "test_accuracy": accuracy,
        "num_train": checkpoint["num_train"],
        "num_test": checkpoint["num_test"],
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "device": str(dev),
        "train_seconds": round(seconds, 3),
        "torch_threads": torch.get_num_threads(),
        "root": str(root),
        "path": str(out),
        "sha256": hashlib.sha256(data).hexdigest(),
        "versions": checkpoint["versions"],
    }
    _write_atomically(out, data)
    _write_atomically(out.with_name(out.name + ".json"), (json.dumps(report, indent=2) + "\n").encode())
    return report


def _load_reason(exc: Exception) -> str:
    """One line from a torch.load error: the unpickler's own words if any (the rest is boilerplate)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        detail = [line.strip() for line in text.split(marker, 1)[1].splitlines() if line.strip()]
        return f"{marker} {detail[0]}" if detail else marker
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def load_classifier(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> MNISTClassifier:
    """The classifier saved by :func:`fit_classifier` at ``path``, on ``device``, in eval mode.

    A file that is not such a checkpoint raises a one-line ValueError.
    """
    path = Path(path)

    def bad(reason: str) -> ValueError:
        return ValueError(f"{FIELD}: {path} is not an MNIST classifier checkpoint ({reason})")

    if not path.is_file():
        raise bad("no such file")
    try:
        # weights_only: loading a file must not run arbitrary pickled code.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any load failure means "not a torch checkpoint"
        raise bad(f"not loadable with weights_only=True: {_load_reason(exc)}") from None
    if not isinstance(checkpoint, dict):
        raise bad(f"holds a {type(checkpoint).__name__}, not a dict")
    missing = [k for k in CHECKPOINT_KEYS if k not in checkpoint]
    if missing:
        raise bad(f"no key {missing[0]!r}")
    model = MNISTClassifier()
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).strip().splitlines()
        raise bad(f"state_dict does not fit: {first[0] if first else type(exc).__name__}") from None
    return model.to(device).eval()


def parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m ganbench classifier", description="An MNIST classifier for mode-counting metrics."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="fit")
    fit = sub.add_parser(
        "fit",
        help="train on MNIST, write PATH and PATH.json",
        description="Train the classifier on MNIST's training set, report its test accuracy, write "
        "PATH and PATH.json.",
    )
    fit.add_argument("--root", required=True, type=Path, help="torchvision MNIST root (ROOT/MNIST/raw)")
    fit.add_argument("--out", required=True, type=Path, help="where to write the checkpoint (PATH)")
    fit.add_argument("--epochs", type=int, default=8, help="passes over the training set (8)")
    fit.add_argument("--batch_size", "--batch-size", type=int, default=64, help="images per step (64)")
    fit.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (0.001)")
    fit.add_argument("--seed", type=int, default=0, help="seed of the initialization and shuffling (0)")
    fit.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (cpu)")
    fit.add_argument(
        "--no_download",
        "--no-download",
        action="store_true",
        help="never download; fail if files are absent",
    )
    return p


def main(argv: list[str]) -> int:
    """``classifier fit --root DIR --out PATH [...]``: train, save, print the report as JSON."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # usage errors (argparse printed them) and --help: a code, not an exit
        return exc.code if isinstance(exc.code, int) else 2
    try:
        report = fit_classifier(
            args.root,
            args.out,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            download=not args.no_download,
            device=args.device,
        )
    except (OSError, RuntimeError, ValueError) as exc:  # ClassifierError is a RuntimeError
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not message.startswith(f"{FIELD} fit:"):
            message = f"{FIELD} fit: {message}"
        print(message, file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2))
    return 0
