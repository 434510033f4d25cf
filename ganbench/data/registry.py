"""The dataset registry: name -> factory(**options) -> dataset (``--data.dataset=NAME``)."""

from ganbench.registry import Registry

DATASETS = Registry("dataset")
