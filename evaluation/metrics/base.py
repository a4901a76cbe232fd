"""The contract between metrics and the bootstrap: per-item statistics whose sum determines the metric."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import sparse

Stats = np.ndarray | sparse.csr_matrix


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


def mean_metric(name: str, scores: np.ndarray, value: float | None = None) -> ItemStats:
    """A metric that is the mean of per-item scores."""
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    return ItemStats(
        name=name,
        value=float(scores.mean()) if value is None else value,
        stats=scores.reshape(-1, 1),
        value_of=lambda sums: sums[..., 0] / n,
        per_item=scores,
    )
