"""Datasets for the code fest: bundled generators, loaders for real corpora, and the held-out split."""

from shared_datasets import generators, loaders  # noqa: F401  (registers every builder)
from shared_datasets.builders import BUILDERS

__all__ = ["BUILDERS"]
