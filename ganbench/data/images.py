"""Image datasets as DataSources: MNIST, Fashion-MNIST and CIFAR-10 through torchvision, and any folder
of images.

Training batches are images only (no labels), scaled from uint8 to the generator's Tanh range [-1, 1]
by p / 127.5 - 1. For evaluation a dataset exposes its reference split and that split's fingerprint;
the metrics themselves are computed by :mod:`ganbench.evaluation.image_metrics`.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, IterableDataset, Subset, get_worker_info

from ganbench.data.module import batch_seed
from ganbench.data.registry import DATASETS

FIELD = "data.dataset_options"
SPLITS = ("train", "test")


def scale(images: Tensor) -> Tensor:
    """uint8 pixels -> float32 in [-1, 1]: p / 127.5 - 1 (0 -> -1, 255 -> 1)."""
    return images.float() / 127.5 - 1.0


class TensorImages(Dataset):
    """uint8 images (N, C, H, W) held in memory; ``__getitems__`` serves a batch with one index op."""

    def __init__(self, images: Tensor) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"expected uint8 images (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]  # (C, H, W) uint8

    def __getitems__(self, indices: Sequence[int]) -> Tensor:
        return self.images[torch.as_tensor(indices, dtype=torch.long)]  # (B, C, H, W) uint8

    def fingerprint(self) -> str:
        """sha256 of the pixels: a real-feature cache entry can only be reused for the same images."""
        return hashlib.sha256(self.images.contiguous().numpy()).hexdigest()


def fetch(dataset: Dataset, indices: Tensor) -> Tensor:
    """The uint8 items of ``dataset`` at ``indices`` as one batch (B, C, H, W)."""
    getitems = getattr(dataset, "__getitems__", None)
    if getitems is not None:
        return getitems(indices.tolist())
    return torch.stack([dataset[i] for i in indices.tolist()])


class ShuffledBatches(IterableDataset):
    """Endless float batches (B, C, H, W) in [-1, 1] of a uint8 image set, each epoch a new permutation.

    Batch i is slice i mod E of the permutation of epoch i // E, E = N // B: the last N mod B images of
    each permutation are dropped (drop_last), so every batch splits into n_critic equal chunks.
    Permutations are seeded by (seed, rank, epoch) (:func:`batch_seed`), so batch i does not depend on
    what was drawn before: a run resumed at iteration ``start`` sees the batches an uninterrupted run
    sees, as for the toy data. Each DDP rank shuffles the whole set on its own (its rank is in the seed).
    With W loader workers, worker w makes batches start + w, start + w + W, ...; the DataLoader takes
    them from the workers round-robin, so the order is the same as with none.
    """

    def __init__(self, images: Dataset, batch_size: int, seed: int, rank: int, start: int) -> None:
        self.images, self.batch_size, self.seed, self.rank, self.start = images, batch_size, seed, rank, start

    def __iter__(self) -> Iterator[Tensor]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        n = len(self.images)  # type: ignore[arg-type]
        per_epoch = n // self.batch_size
        epoch, order = -1, torch.empty(0, dtype=torch.long)
        index = self.start + worker
        while True:
            e, k = divmod(index, per_epoch)
            if e != epoch:
                rng = torch.Generator().manual_seed(batch_seed(self.seed, self.rank, e))
                epoch, order = e, torch.randperm(n, generator=rng)
            yield scale(fetch(self.images, order[k * self.batch_size : (k + 1) * self.batch_size]))
            index += workers


def check_options(num_workers: int, reference_limit: int | None) -> None:
    """One-line ValueErrors for the options every image dataset has."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"{FIELD}.num_workers: {num_workers} must be an integer >= 0")
    if reference_limit is not None and (
        isinstance(reference_limit, bool) or not isinstance(reference_limit, int) or reference_limit < 2
    ):
        raise ValueError(f"{FIELD}.reference_limit: {reference_limit} must be null or an integer >= 2")


class ImageSource:
    """A uint8 image set with "train" (and usually "test") splits as a DataSource.

    Args:
        name: the dataset's name (in cache keys and messages).
        splits: split name -> dataset of uint8 (C, H, W) tensors; "train" is trained on.
        transform: name of the preprocessing applied to the files (part of the cache key).
        num_workers: DataLoader workers for training batches.
        reference_limit: compare with the first N images of the reference split only (None: all).
    """

    def __init__(
        self,
        name: str,
        splits: dict[str, Dataset],
        transform: str = "none",
        num_workers: int = 0,
        reference_limit: int | None = None,
    ) -> None:
        check_options(num_workers, reference_limit)
        self.name, self.splits, self.transform = name, splits, transform
        self.num_workers, self.reference_limit = num_workers, reference_limit
        self.sample_shape: tuple[int, ...] = tuple(splits["train"][0].shape)
        self._fingerprints: dict[str, str] = {}

    # ------------------------------------------------------------------ data
    def resolve_split(self, split: str) -> str:
        """The split actually used for ``split``: a set without a test split compares with its train split."""
        if split not in SPLITS:
            raise ValueError(f"evaluation.reference_split: {split!r}; valid choices: {', '.join(SPLITS)}")
        return split if split in self.splits else "train"

    def reference_dataset(self, split: str = "test") -> Dataset:
        """The real uint8 (C, H, W) images of ``split`` (its first ``reference_limit``) to compare with."""
        data = self.splits[self.resolve_split(split)]
        if self.reference_limit is not None and self.reference_limit < len(data):  # type: ignore[arg-type]
            data = Subset(data, range(self.reference_limit))
        return data

    def check_evaluation(self, reference_split: str = "test", **settings: Any) -> None:
        """Refuse a reference_limit larger than the reference split before anything runs."""
        split = self.resolve_split(reference_split)
        size = len(self.splits[split])  # type: ignore[arg-type]
        if self.reference_limit is not None and self.reference_limit > size:
            raise ValueError(
                f"{FIELD}.reference_limit: {self.reference_limit} exceeds the {size} images of the "
                f"{self.name} {split} split (evaluation.reference_split={reference_split}); "
                f"valid range: 2 to {size}, or null for all"
            )

    def fingerprint(self, split: str) -> str:
        """A digest of the images of ``split`` (their bytes, or the files' names, sizes and times)."""
        if split not in self._fingerprints:
            self._fingerprints[split] = self.splits[split].fingerprint()  # type: ignore[attr-defined]
        return self._fingerprints[split]

    def train_dataloader(self, batch_size: int, seed: int, rank: int, start: int) -> DataLoader:
        train = self.splits["train"]
        if batch_size > len(train):  # type: ignore[arg-type]
            raise ValueError(
                f"data.batch_size: {batch_size} images an iteration (batch_size x batches_per_iteration) "
                f"exceed the {len(train)} training images of {self.name}"  # type: ignore[arg-type]
            )
        batches = ShuffledBatches(train, batch_size, seed, rank, start)
        workers = self.num_workers
        return DataLoader(batches, batch_size=None, num_workers=workers, persistent_workers=workers > 0)


# ---------------------------------------------------------------------- torchvision datasets
@dataclass(frozen=True)
class TorchvisionSpec:
    """Where torchvision's dataset class reads its files under the root."""

    cls_name: str
    folder: str
    files: tuple[str, ...]
    hint: str = ""


MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
SPECS = {
    "mnist": TorchvisionSpec(
        "MNIST",
        "MNIST/raw",
        MNIST_FILES,
        "; or offline write a real 5,000-digit subset with `python ../shared/tools/mnist_idx.py --root ROOT`",
    ),
    "fashion_mnist": TorchvisionSpec("FashionMNIST", "FashionMNIST/raw", MNIST_FILES),
    "cifar10": TorchvisionSpec(
        "CIFAR10",
        "cifar-10-batches-py",
        (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
    ),
}


def _cause(exc: BaseException) -> str:
    # torchvision lists every mirror's failure; the last line is the actual cause (e.g. no network).
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def missing_message(name: str, root: str, download: bool, cause: str) -> str:
    """The one-line error for data that is absent and could not be downloaded."""
    spec = SPECS[name]
    where = Path(root) / spec.folder
    how = "the download failed" if download else "download is false"
    top = spec.folder.split("/")[0]
    return (
        f"{FIELD}.root: no usable {spec.cls_name} under {root} ({how}: {cause}); expected "
        f"{where}/{spec.files[0]}, {', '.join(spec.files[1:])}; download them on a machine with internet "
        f"(torchvision.datasets.{spec.cls_name}(ROOT, download=True)) and copy ROOT/{top} "
        f"under {root}{spec.hint.replace('ROOT', str(root))}"
    )


@contextlib.contextmanager
def _download_lock(root: str, name: str, download: bool) -> Iterator[None]:
    """With downloads on, one process at a time: under DDP every rank (and node, on a shared file
    system) builds the data module; the first downloads, the others wait and find the files there."""
    if not download:
        yield
        return
    from filelock import FileLock

    Path(root).mkdir(parents=True, exist_ok=True)
    with FileLock(str(Path(root) / f".{name}.download.lock")):
        yield


def open_torchvision(name: str, root: str, download: bool) -> dict[str, Any]:
    """torchvision's dataset ``name`` for the train and test splits, keyed by split.

    With ``download`` torchvision fetches missing files now (it skips files already there); any failure,
    offline or download=False with absent files, becomes a one-line ValueError naming the root.
    """
    import torchvision.datasets

    cls = getattr(torchvision.datasets, SPECS[name].cls_name)
    try:
        with _download_lock(root, name, download):
            return {split: cls(str(root), train=split == "train", download=download) for split in SPLITS}
    except Exception as exc:  # RuntimeError (not found, mirrors failed), URLError/OSError, corrupt files
        where = Path(root) / SPECS[name].folder
        missing = [f for f in SPECS[name].files if not (where / f).is_file()]
        # Name the first absent file rather than torchvision's "You can use download=True" hint.
        cause = f"no {missing[0]}" if missing and not download else _cause(exc)
        raise ValueError(missing_message(name, root, download, cause)) from None


def uint8_images(dataset: Any) -> Tensor:
    """The images of a torchvision MNIST or CIFAR dataset as one uint8 tensor (N, C, H, W)."""
    images = torch.as_tensor(dataset.data)
    # MNIST-style data is (N, H, W); CIFAR's is a numpy (N, H, W, C) array.
    return images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2).contiguous()


def _torchvision_source(
    name: str, root: str, download: bool, num_workers: int, reference_limit: int | None
) -> ImageSource:
    check_options(num_workers, reference_limit)
    sets = open_torchvision(name, root, download)
    splits: dict[str, Dataset] = {split: TensorImages(uint8_images(data)) for split, data in sets.items()}
    return ImageSource(name, splits, num_workers=num_workers, reference_limit=reference_limit)


@DATASETS.register("mnist")
def mnist(
    root: str = "data", download: bool = True, num_workers: int = 0, reference_limit: int | None = None
) -> ImageSource:
    """MNIST (LeCun et al., 1998): 60,000 train and 10,000 test digits, 1x28x28.

    Files under ``ROOT/MNIST/raw`` (torchvision's layout); ``reference_limit`` caps the reference split.
    """
    return _torchvision_source("mnist", root, download, num_workers, reference_limit)


@DATASETS.register("fashion_mnist")
def fashion_mnist(
    root: str = "data", download: bool = True, num_workers: int = 0, reference_limit: int | None = None
) -> ImageSource:
    """Fashion-MNIST (Xiao et al., 2017): 60,000 train and 10,000 test clothing images, 1x28x28."""
    return _torchvision_source("fashion_mnist", root, download, num_workers, reference_limit)


@DATASETS.register("cifar10")
def cifar10(
    root: str = "data", download: bool = True, num_workers: int = 0, reference_limit: int | None = None
) -> ImageSource:
    """CIFAR-10 (Krizhevsky, 2009): 50,000 train and 10,000 test images, 3x32x32.

    Files under ``ROOT/cifar-10-batches-py`` (torchvision checks their md5 sums).
    """
    return _torchvision_source("cifar10", root, download, num_workers, reference_limit)


# ---------------------------------------------------------------------- any folder of images
class FolderImages(Dataset):
    """Image files as uint8 (C, size, size): shorter side resized to ``size``, then center-cropped."""

    def __init__(self, root: Path, files: list[Path], size: int, channels: int) -> None:
        from torchvision.transforms import v2

        self.root, self.files, self.size, self.channels = root, files, size, channels
        self.mode = "RGB" if channels == 3 else "L"
        self.transform = v2.Compose([v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Tensor:
        from PIL import Image

        with Image.open(self.files[index]) as image:
            image = image.convert(self.mode)
        return self.transform(image).as_subclass(Tensor)  # a plain tensor, not a tv_tensors.Image

    def fingerprint(self) -> str:
        """sha256 of each file's relative path, size and mtime (reading every image would be slow)."""
        digest = hashlib.sha256()
        for path in self.files:
            stat = path.stat()
            digest.update(f"{path.relative_to(self.root)}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()


@DATASETS.register("image_folder")
def image_folder(
    root: str = "data",
    size: int = 64,
    channels: int = 3,
    num_workers: int = 0,
    reference_limit: int | None = None,
) -> ImageSource:
    """Every image under ``root`` (flat, or in class folders as for ImageFolder; labels are ignored),
    resized and center-cropped to ``size`` x ``size`` with ``channels`` 3 (RGB) or 1 (grayscale).

    There is no test split: ``reference_split: test`` falls back to the same images, and the metrics
    record ``reference_split: train``.
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS, has_file_allowed_extension

    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"{FIELD}.size: {size} must be an integer >= 1")
    if channels not in (1, 3):
        raise ValueError(f"{FIELD}.channels: {channels} must be 1 or 3")
    check_options(num_workers, reference_limit)
    base = Path(root).expanduser()
    if not base.is_dir():
        raise ValueError(f"{FIELD}.root: {root} is not a folder of images")
    files = sorted(
        p for p in base.rglob("*") if p.is_file() and has_file_allowed_extension(p.name, IMG_EXTENSIONS)
    )
    if not files:
        raise ValueError(f"{FIELD}.root: no images ({', '.join(IMG_EXTENSIONS)}) under {root}")
    data = FolderImages(base, files, size, channels)
    return ImageSource(
        f"image_folder:{base.resolve()}",
        {"train": data},
        transform=f"resize-centercrop-{data.mode}",
        num_workers=num_workers,
        reference_limit=reference_limit,
    )
