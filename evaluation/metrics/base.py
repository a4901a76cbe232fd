"""The contract between metrics and the bootstrap: per-item statistics whose sum determines the metric."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:  # scipy takes a while to load, and only classification makes sparse statistics
    from scipy import sparse

Stats: TypeAlias = "np.ndarray | sparse.csr_matrix"


@dataclass(frozen=True)
class ItemStats:
    """A metric as sufficient statistics: `value_of(sums)` maps summed rows (shape (..., k)) to the metric.

    Mean-of-items metrics (WIPO measures, IR measures, PRES) have one column, the item's score. Corpus metrics
    (BLEU, chrF, TER, micro and macro F1) have the counts they are computed from. `value` is the point estimate,
    from the library where one computes the metric.
    """

    name: str
    value: float
    stats: Stats
    value_of: Callable[[np.ndarray], np.ndarray]
    per_item: np.ndarray | None = None  # the item's own score, where the metric has one
    reason: str | None = None  # why the metric cannot be computed on these items (its value is then NaN)


def mean_metric(name: str, scores: np.ndarray, value: float | None = None) -> ItemStats:
    """A metric that is the mean of per-item scores; a count column keeps it right on any subset of items."""
    scores = np.asarray(scores, dtype=np.float64)
    return ItemStats(
        name=name,
        value=float(scores.mean()) if value is None else value,
        stats=np.column_stack([scores, np.ones_like(scores)]),
        value_of=_mean,
        per_item=scores,
    )


def _mean(sums: np.ndarray) -> np.ndarray:
    return sums[..., 0] / np.maximum(sums[..., 1], 1)


def subset(metric: ItemStats, rows: np.ndarray) -> ItemStats:
    """The metric on some items only (the public or the private part of a test set), from the same statistics."""
    stats = metric.stats[rows]
    value = float(np.asarray(metric.value_of(np.asarray(stats.sum(axis=0)).reshape(1, -1)))[0])
    per_item = None if metric.per_item is None else metric.per_item[rows]
    return ItemStats(metric.name, value, stats, metric.value_of, per_item, metric.reason)
