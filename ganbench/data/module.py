"""The data module: a registered dataset served as one batch of real samples per GAN iteration."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset

from ganbench.data.registry import DATASETS
from ganbench.seeding import batch_seed


class SampledDataset(Protocol):
    """A distribution sampled on the fly (the toy mixtures)."""

    sample_shape: tuple[int, ...]

    def sample(self, n: int, generator: torch.Generator) -> Tensor: ...


class DataSource(Protocol):
    """What the data module needs of a registered dataset: training batches.

    Image datasets implement it directly; sampled toy distributions are adapted by SampledSource.
    Evaluation reads the dataset itself (``GANDataModule.dataset``): data never calls the GAN.
    """

    sample_shape: tuple[int, ...]

    def train_dataloader(self, batch_size: int, seed: int, rank: int, start: int) -> DataLoader: ...


class CounterSampledBatches(IterableDataset):
    """Endless batches where batch i is drawn from a generator seeded by (seed, rank, i).

    Counter-based seeding makes a resumed run see exactly the batches an uninterrupted run sees
    (start at the resumed iteration), whatever the data loader prefetched before the interruption.
    """

    def __init__(self, dataset: SampledDataset, batch_size: int, seed: int, rank: int, start: int) -> None:
        self.dataset, self.batch_size, self.seed, self.rank, self.start = (
            dataset,
            batch_size,
            seed,
            rank,
            start,
        )

    def __iter__(self) -> Iterator[Tensor]:
        index = self.start
        while True:
            rng = torch.Generator().manual_seed(batch_seed(self.seed, self.rank, index))
            yield self.dataset.sample(self.batch_size, rng)
            index += 1


class SampledSource:
    """A sampled distribution as a DataSource: counter-seeded batches."""

    def __init__(self, dataset: SampledDataset) -> None:
        self.dataset = dataset
        self.sample_shape = tuple(dataset.sample_shape)

    def train_dataloader(self, batch_size: int, seed: int, rank: int, start: int) -> DataLoader:
        return DataLoader(CounterSampledBatches(self.dataset, batch_size, seed, rank, start), batch_size=None)


class IterationGroups:
    """The batches of ``loader`` in lists of ``size`` consecutive ones: one list per training step
    when a step runs several GAN iterations (``model.iterations_per_step``)."""

    def __init__(self, loader: Iterable[Tensor], size: int) -> None:
        self.loader, self.size = loader, size

    def __iter__(self) -> Iterator[list[Tensor]]:
        # A generator: the loader's iter() runs at the first group, not here. Lightning calls iter() once
        # more on an iterable that is not a DataLoader (to check it is one), and a DataLoader's iter()
        # draws its base seed from torch's RNG: eagerly, that extra draw would shift G's noise.
        batches = iter(self.loader)
        while group := list(itertools.islice(batches, self.size)):
            yield group


class _EvaluationTrigger(IterableDataset):
    """One placeholder batch: validate/test run their metrics in the Evaluation callback."""

    def __iter__(self) -> Iterator[Tensor]:
        yield torch.zeros(1)


class GANDataModule(LightningDataModule):
    """Serves real samples for training and the reference the evaluation compares against.

    Args:
        dataset: registered dataset name (``ganbench.data.registry.DATASETS``).
        dataset_options: the dataset factory's keyword options, e.g. ``{"sigma": 0.02}``.
        batch_size: real samples per discriminator step.
        batches_per_iteration: D steps per iteration (n_critic); the CLI links it to the model.
        seed: data seed; the CLI links it to ``seed_everything``.
        iterations_per_batch: iterations whose batches one training batch carries, as a list; the
            CLI links it to ``model.iterations_per_step``. Batch i of the list is iteration i's batch.
    """

    def __init__(
        self,
        dataset: str = "ring",
        dataset_options: dict[str, Any] | None = None,
        batch_size: int = 256,
        batches_per_iteration: int = 1,
        seed: int = 0,
        iterations_per_batch: int = 1,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"data.batch_size: must be >= 1, got {batch_size}")
        if batches_per_iteration < 1:
            raise ValueError(f"data.batches_per_iteration: must be >= 1, got {batches_per_iteration}")
        if iterations_per_batch < 1:
            raise ValueError(f"data.iterations_per_batch: must be >= 1, got {iterations_per_batch}")
        self.save_hyperparameters()
        built = DATASETS.build(dataset, dataset_options or {}, field="data.dataset")
        self.source: DataSource = built if hasattr(built, "train_dataloader") else SampledSource(built)
        self.batch_size = batch_size
        self.batches_per_iteration = batches_per_iteration
        self.seed = seed
        self.iterations_per_batch = iterations_per_batch

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.source.sample_shape)

    @property
    def dataset(self) -> Any:
        """The registered dataset itself (a toy mixture, an image source): what metrics compare with."""
        return getattr(self.source, "dataset", self.source)

    def train_dataloader(self) -> DataLoader | IterationGroups:
        trainer = self.trainer
        rank = trainer.global_rank if trainer is not None else 0
        start = trainer.global_step if trainer is not None else 0  # the iteration a resumed run starts at
        batches = self.batches_from(start, rank)
        return (
            batches if self.iterations_per_batch == 1 else IterationGroups(batches, self.iterations_per_batch)
        )

    def batches_from(self, start: int, rank: int = 0) -> DataLoader:
        """The training batches from iteration ``start`` on: what a run resumed at ``start`` draws."""
        return self.source.train_dataloader(
            self.batch_size * self.batches_per_iteration, self.seed, rank, start
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(_EvaluationTrigger(), batch_size=None)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(_EvaluationTrigger(), batch_size=None)

    def check_evaluation(self, **settings: Any) -> None:
        """Fail now, with a one-line error, on evaluation settings the dataset cannot serve."""
        check = getattr(self.source, "check_evaluation", None)
        if check is not None:
            check(**settings)
