"""What every bundled generator shares: its options and the step from generated rows to split datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import Field

from codefest.shared_datasets.builders import BuilderOptions
from codefest.shared_datasets.schema import FEATURES
from codefest.shared_datasets.splits import three_way

if TYPE_CHECKING:
    from datasets import DatasetDict

MAX_SIZE = 1_000_000


class GeneratorOptions(BuilderOptions):
    size: int = Field(default=6000, ge=30, le=MAX_SIZE, description="number of items to generate")
    seed: int = Field(
        default=0, ge=0, description="the same seed gives the same bytes; left out of challenge.yaml: a secret one"
    )
    dev_fraction: float = Field(default=0.1, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)


def split_rows(rows: dict[str, list[Any]], task: str, options: GeneratorOptions) -> DatasetDict:
    """Typed columns in, seeded train/dev/test out."""
    from datasets import Dataset  # not at import: see schema

    data = Dataset.from_dict(rows, features=FEATURES[task])
    return three_way(data, options.dev_fraction, options.test_fraction, options.seed)
