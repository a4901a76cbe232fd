"""Percentile bootstrap confidence intervals, one metric at a time, exact and fast at a million items.

The bootstrap resamples items; a metric's resampled value is its `value_of` applied to the summed statistics of the
drawn items. Items whose statistics are identical are interchangeable, so drawing n items is the same as drawing
counts for each distinct pattern from a multinomial over the patterns' frequencies. That is exact, and for a metric
with few distinct per-item values (the WIPO measures have two) it costs nothing next to drawing a million items.
Metrics whose items are nearly all distinct (BLEU statistics, macro F1 over hundreds of classes) draw items.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from codefest.evaluation.metrics.base import ItemStats, Stats

CHUNK = 64  # resamples per matrix product
PATTERN_SHARE = 0.25  # above this share of distinct patterns, drawing items is cheaper than a multinomial


def patterns(stats: Stats) -> tuple[np.ndarray, np.ndarray]:
    """(index of one item per distinct row of statistics, how many items share that row)."""
    if not isinstance(stats, np.ndarray):  # sparse: scipy is loaded only by the tasks that make such stats
        keys = np.asarray(stats @ np.random.default_rng(0).standard_normal((stats.shape[1], 2)))
    else:
        keys = np.asarray(stats)
    if keys.ndim == 2 and keys.shape[1] == 2 and not np.isnan(keys).any() and (keys[:, 1] == keys[0, 1]).all():
        keys = keys[:, 0]  # a mean's (score, 1) rows: the same order, first items and counts, several times faster
    _, first, frequency = np.unique(keys, axis=0, return_index=True, return_counts=True)
    return first, frequency


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


def resampled_values(metric: ItemStats, n: int, resamples: int, seed: int) -> np.ndarray:
    """The metric on `resamples` bootstrap samples of the n items; deterministic in the seed."""
    rng = np.random.default_rng(seed)
    stats: Stats = metric.stats
    first, frequency = patterns(stats)
    if len(first) <= PATTERN_SHARE * n:
        stats, chunks = stats[first], _pattern_counts(frequency, resamples, rng)
    else:
        chunks = _item_counts(n, resamples, rng)
    values = []
    for counts in chunks:
        sums = counts @ stats if isinstance(stats, np.ndarray) else (stats.T @ counts.T).T
        values.append(np.asarray(metric.value_of(np.asarray(sums)), dtype=np.float64))
    return np.concatenate(values)


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
