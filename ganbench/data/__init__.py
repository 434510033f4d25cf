"""Data: registered datasets and the data module that serves them."""

from ganbench.data import images, stacked_mnist, toy  # noqa: F401  (register the datasets)
from ganbench.data.module import GANDataModule
from ganbench.data.registry import DATASETS

__all__ = ["DATASETS", "GANDataModule"]
