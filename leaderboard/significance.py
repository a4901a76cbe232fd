"""Uncertainty between entries: a paired bootstrap over test items gives each entry a rank range and tells which
neighbours differ significantly; those that do not share a tied group.

Paired: every resample draws the same items for all entries, so what differs between two entries on the same
items is what is tested. Each entry's value on a resample is the mean of its per-item scores (for BLEU, chrF and
TER, the sentence-level scores: the test is on items, as the corpus score has no per-item form).
"""

from __future__ import annotations

import numpy as np

LEVEL = 0.95
CHUNK = 250  # resamples drawn at once: 250 x n counts in memory


def resampled_means(scores: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """(resamples, entries) means of the entries' per-item scores (entries, items) on shared resamples.

    Each resample draws n items with replacement; how often it drew each item (a bincount of the draws, much faster
    than a multinomial draw) weighs the items in one matrix product for all entries.
    """
    entries, n = scores.shape
    rng = np.random.default_rng(seed)
    items = np.asarray(scores, dtype=np.float64).T
    means = np.empty((resamples, entries))
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        drawn = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
        counts = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n).astype(np.float64)
        means[start : start + size] = counts @ items / n
    return means


def oriented(means: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Larger is better in what this module returns."""
    return means if higher_is_better else -means


def rank_ranges(better: np.ndarray, ranked: list[int | None], level: float = LEVEL) -> list[tuple[int, int] | None]:
    """Each ranked entry's central `level` interval of ranks over the resamples, always holding its own rank.

    A rank on a resample is one plus the number of ranked entries strictly better there; the baseline takes none.
    Entries that share a rank (equal scores) share one range, the span of theirs: the board does not tell them apart,
    so neither does their uncertainty.
    """
    columns = [i for i, rank in enumerate(ranked) if rank is not None]
    if not columns:
        return [None] * len(ranked)
    per_resample = np.array([_competition_ranks(row) for row in better[:, columns]])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(per_resample, [tail, 100 - tail], axis=0, method="nearest")
    spans: dict[int, tuple[int, int]] = {}
    for k, i in enumerate(columns):
        rank = ranked[i] or 0
        known = spans.get(rank, (rank, rank))
        spans[rank] = (min(int(low[k]), known[0]), max(int(high[k]), known[1]))
    return [None if rank is None else spans[rank] for rank in ranked]


def _competition_ranks(values: np.ndarray) -> np.ndarray:
    """One plus how many values are strictly larger: equal values share the better rank."""
    ascending = np.sort(values)
    return 1 + len(values) - np.searchsorted(ascending, values, side="right")


def differs(better: np.ndarray, upper: int, lower: int, level: float = LEVEL) -> bool:
    """Whether entry `upper` is significantly better than `lower`: the difference's interval lies above zero."""
    difference = better[:, upper] - better[:, lower]
    low, high = np.percentile(difference, [(1 - level) / 2 * 100, (1 + level) / 2 * 100])
    return bool(low > 0 or high < 0)


def tied_groups(better: np.ndarray, ranked: list[int | None] | None = None, level: float = LEVEL) -> list[int | None]:
    """Group numbers down the ordered entries: a new group starts where an entry differs from the ranked one above.

    `ranked` (default: every entry, each its own rank): the baseline (None) has no group and is compared with no
    one; entries sharing a rank are equal and never split.
    """
    ranked = list(range(1, better.shape[1] + 1)) if ranked is None else ranked
    groups: list[int | None] = []
    above: int | None = None
    for i, rank in enumerate(ranked):
        if rank is None:
            groups.append(None)
            continue
        if above is None:
            groups.append(1)
        else:
            split = ranked[above] != rank and differs(better, above, i, level)
            groups.append((groups[above] or 0) + split)
        above = i
    return groups
