"""Data: registered datasets and the data module that serves them."""

from ganbench.data import toy  # noqa: F401  (registers ring, grid, gaussian1d)
from ganbench.data.module import GANDataModule
from ganbench.data.registry import DATASETS

__all__ = ["DATASETS", "GANDataModule"]
