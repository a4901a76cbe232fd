"""Train/dev/test splitting for corpora that do not ship their own, with the library's seeded shuffles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from codefest.core.errors import CodefestError

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict


def three_way(data: Dataset, dev_fraction: float, test_fraction: float, seed: int) -> DatasetDict:
    """Split one dataset into train, dev and test; the same seed gives the same split."""
    from datasets import DatasetDict  # not at import: see schema

    if len(data) < 3:
        raise CodefestError(
            f"the dataset has {len(data)} items; it needs at least 3 for train, dev and test",
            "use a larger corpus",
        )
    rest_and_test = data.train_test_split(test_size=test_fraction, seed=seed)
    dev_share = dev_fraction / (1 - test_fraction)
    train_and_dev = rest_and_test["train"].train_test_split(test_size=dev_share, seed=seed + 1)
    return DatasetDict(train=train_and_dev["train"], dev=train_and_dev["test"], test=rest_and_test["test"])
