"""Percentile bootstrap confidence intervals, one metric at a time, exact and fast at a million items.

The bootstrap resamples items; a metric's resampled value is its `value_of` applied to the summed statistics of the
drawn items. Items whose statistics are identical are interchangeable, so drawing n items is the same as drawing
counts for each distinct pattern from a multinomial over the patterns' frequencies. That is exact, and for a metric
with few distinct per-item values (the WIPO measures have two) it costs nothing next to drawing a million items.
Metrics whose items are nearly all distinct (BLEU statistics, macro F1 over hundreds of classes) draw items.

Sparse statistics of whole numbers (macro F1's per-class counts) are summed from the same draws without the
resamples x items matrix of counts: each few resamples' counts are one bincount, laid out item by item, and the product
walks them in order. Whole numbers sum exactly in any order, so the sums, and every value, are the same.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from codefest.evaluation.metrics.base import ItemStats, Stats

CHUNK = 64  # resamples per matrix product
PATTERN_SHARE = 0.25  # above this share of distinct patterns, drawing items is cheaper than a multinomial
BLOCK = 4  # resamples counted by one bincount, for sparse statistics (measured fastest at a million items)


def patterns(stats: Stats, limit: int | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """(index of one item per distinct row of statistics, how many items share that row); None when there are
    more than `limit` distinct rows, which a cheaper count than finding them all may tell."""
    if not isinstance(stats, np.ndarray):  # sparse: scipy is loaded only by the tasks that make such stats
        keys = np.asarray(stats @ np.random.default_rng(0).standard_normal((stats.shape[1], 2)))
    else:
        keys = np.asarray(stats)
    if keys.ndim == 2 and keys.shape[1] == 2 and not np.isnan(keys).any() and (keys[:, 1] == keys[0, 1]).all():
        keys = keys[:, 0]  # a mean's (score, 1) rows: the same order, first items and counts, several times faster
    if limit is not None and keys.ndim == 2 and len(np.unique(keys[:, 0])) > limit:
        return None  # rows differing in their first column are distinct rows: too many already
    _, first, frequency = np.unique(keys, axis=0, return_index=True, return_counts=True)
    return None if limit is not None and len(first) > limit else (first, frequency)


def _pattern_counts(frequency: np.ndarray, resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    n = int(frequency.sum())
    for start in range(0, resamples, CHUNK):
        yield rng.multinomial(n, frequency / n, size=min(CHUNK, resamples - start)).astype(np.float64)


def _item_counts(n: int, resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """How often each item is drawn, per resample (the same draws as ever: one call per chunk); counted row by row,
    so that no temporary is larger than the draws themselves (an offset copy and a whole-chunk count took 3 times
    the memory, and the time)."""
    for start in range(0, resamples, CHUNK):
        draws = rng.integers(0, n, size=(min(CHUNK, resamples - start), n), dtype=np.int32)
        counts = np.empty(draws.shape, dtype=np.float64)
        for row, drawn in zip(counts, draws, strict=True):
            row[:] = np.bincount(drawn, minlength=n)
        del draws
        yield counts


def _sparse_item_sums(stats: Stats, n: int, resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Per chunk of resamples, the summed statistics of the drawn items (the draws of _item_counts), laid out as
    `(stats.T @ counts.T).T` lays them out, so that value_of reduces them in the same order.

    BLOCK resamples are counted at once, item by item (index * BLOCK + resample), so the product reads each item's
    counts together; neither the float counts of a whole chunk nor their transposed copy are made.
    """
    by_item = stats.astype(np.int64).T  # columns are items: the product walks the counts in order
    for start in range(0, resamples, CHUNK):
        draws = rng.integers(0, n, size=(min(CHUNK, resamples - start), n), dtype=np.int32)
        sums = np.empty((stats.shape[1], len(draws)), dtype=np.float64)
        for block in range(0, len(draws), BLOCK):
            drawn = draws[block : block + BLOCK]
            index = drawn.astype(np.intp)
            index *= len(drawn)
            index += np.arange(len(drawn))[:, None]
            counts = np.bincount(index.ravel(), minlength=n * len(drawn)).reshape(n, len(drawn))
            del index
            sums[:, block : block + len(drawn)] = by_item @ counts
        del draws
        yield sums.T


def _whole_numbers(stats: Stats, n: int) -> bool:
    """Sparse statistics of whole numbers whose sums over n draws stay below 2**53: exact in any order."""
    if isinstance(stats, np.ndarray):
        return False
    data = np.asarray(stats.data)
    if not np.isfinite(data).all() or not (data == np.round(data)).all():
        return False
    return float(np.abs(data).max(initial=0)) * n < 2**53


def resampled_values(metric: ItemStats, n: int, resamples: int, seed: int) -> np.ndarray:
    """The metric on `resamples` bootstrap samples of the n items; deterministic in the seed."""
    rng = np.random.default_rng(seed)
    stats: Stats = metric.stats
    found = patterns(stats, int(PATTERN_SHARE * n))
    if found is not None:
        first, frequency = found
        stats, chunks = stats[first], _pattern_counts(frequency, resamples, rng)
    elif _whole_numbers(stats, n):
        return np.concatenate([_values(metric, sums) for sums in _sparse_item_sums(stats, n, resamples, rng)])
    else:
        chunks = _item_counts(n, resamples, rng)
    values = []
    for counts in chunks:
        sums = counts @ stats if isinstance(stats, np.ndarray) else (stats.T @ counts.T).T
        values.append(_values(metric, sums))
    return np.concatenate(values)


def _values(metric: ItemStats, sums: np.ndarray) -> np.ndarray:
    return np.asarray(metric.value_of(np.asarray(sums)), dtype=np.float64)


def confidence_intervals(
    metrics: list[ItemStats], n: int, resamples: int, seed: int, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """name -> (low, high) at the given level; with no resamples, the interval is the point itself."""
    if resamples <= 0 or n == 0:
        return {m.name: (m.value, m.value) for m in metrics}
    tail = (1 - level) / 2 * 100
    intervals = {}
    for metric in metrics:
        if metric.reason is not None:  # not computable: no interval either
            intervals[metric.name] = (metric.value, metric.value)
            continue
        low, high = np.nanpercentile(resampled_values(metric, n, resamples, seed), [tail, 100 - tail])
        intervals[metric.name] = (float(low), float(high))
    return intervals
