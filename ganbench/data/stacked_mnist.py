"""Stacked MNIST: three MNIST digits stacked as the channels of one 3x28x28 image, 10^3 = 1,000 modes.

The mode-collapse benchmark of Metz et al. (2017, "Unrolled GANs"), Srivastava et al. (2017, VEEGAN)
and Lin et al. (2018, PacGAN, section 5.2): a fixed set of 128,000 images, each three digits drawn
uniformly from MNIST train; the mode of an image is 100 d0 + 10 d1 + d2. A generator is scored by the
modes a pretrained MNIST classifier finds in its samples and the KL of their histogram from uniform, on
26,000 samples in PacGAN (``--evaluation.final_num_samples=26000``, as in configs/stacked_mnist).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ganbench.data.images import FIELD, ImageSource, check_options, open_torchvision
from ganbench.data.registry import DATASETS

NUM_IMAGES = 128_000  # the stacked training set of VEEGAN and PacGAN
TEST_IMAGES = 10_000  # stacked test-split reference for FID, the size of MNIST's test split
_MODE_WEIGHTS = torch.tensor([100, 10, 1])


class StackedDigits(Dataset):
    """uint8 images (3, 28, 28): channel c of item i is digit ``triples[i, c]`` of ``digits``.

    Items are stacked on the fly from the (N, 28, 28) digits: the index triples take 24 bytes an image,
    where 128k materialized images would take 0.3 GB as uint8 and 1.2 GB as float.
    """

    def __init__(self, digits: Tensor, labels: Tensor, triples: Tensor) -> None:
        self.digits, self.labels, self.triples = digits, labels, triples

    def __len__(self) -> int:
        return self.triples.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        return self.digits[self.triples[index]]  # (3, 28, 28) uint8

    def __getitems__(self, indices: Sequence[int]) -> Tensor:
        return self.digits[self.triples[torch.as_tensor(indices, dtype=torch.long)]]  # (B, 3, 28, 28)

    @property
    def modes(self) -> Tensor:
        """Mode of each image, 100 d0 + 10 d1 + d2 in 0..999 (d_c the label of channel c), shape (M,)."""
        return (self.labels.long()[self.triples] * _MODE_WEIGHTS).sum(dim=1)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.digits.contiguous().numpy())
        digest.update(self.triples.contiguous().numpy())
        return digest.hexdigest()


def draw_triples(num_digits: int, count: int, seed: int, stream: int) -> Tensor:
    """``count`` index triples (count, 3) into ``num_digits`` digits, uniform with replacement.

    Seeded by (seed, stream) only, not by the training seed: every run trains on the same set.
    """
    state = int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])
    return torch.randint(num_digits, (count, 3), generator=torch.Generator().manual_seed(state))


class StackedSource(ImageSource):
    """Stacked MNIST as a DataSource: an image set whose images have 1,000 modes (digit triples).

    Its evaluation adds the classifier's mode metrics (:mod:`ganbench.evaluation.image_metrics`).
    """

    num_modes = 1000


@DATASETS.register("stacked_mnist")
def stacked_mnist(
    root: str = "data",
    download: bool = True,
    num_images: int = NUM_IMAGES,
    seed: int = 0,
    num_workers: int = 0,
    reference_limit: int | None = None,
) -> StackedSource:
    """Stacked MNIST from the MNIST files under ``root`` (see ``mnist``).

    Train: ``num_images`` triples of MNIST train digits drawn with ``seed``. Test (the default FID
    reference): 10,000 triples of MNIST test digits, same seed, another stream.
    """
    if isinstance(num_images, bool) or not isinstance(num_images, int) or num_images < 1:
        raise ValueError(f"{FIELD}.num_images: {num_images} must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"{FIELD}.seed: {seed} must be an integer >= 0")
    check_options(num_workers, reference_limit)
    mnist = open_torchvision("mnist", root, download)
    splits: dict[str, Dataset] = {}
    for stream, (split, count) in enumerate((("train", num_images), ("test", TEST_IMAGES))):
        digits, labels = mnist[split].data, mnist[split].targets  # (N, 28, 28) uint8, (N,)
        splits[split] = StackedDigits(digits, labels, draw_triples(len(digits), count, seed, stream))
    return StackedSource("stacked_mnist", splits, num_workers=num_workers, reference_limit=reference_limit)
