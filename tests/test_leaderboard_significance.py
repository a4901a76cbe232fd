"""Rank ranges and tied groups, checked against resamples worked out by hand."""

from __future__ import annotations

import numpy as np

from codefest.leaderboard.significance import (
    _competition_ranks,
    differs,
    oriented,
    rank_ranges,
    resampled_means,
    tied_groups,
)


def test_equal_values_share_the_better_rank() -> None:
    assert _competition_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [1, 4, 1, 3]


def test_resampled_means_are_paired_across_entries() -> None:
    scores = np.array([[1.0, 0.0, 1.0, 0.0], [1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    means = resampled_means(scores, 50, seed=1)
    assert means.shape == (50, 3)
    assert np.array_equal(means[:, 0], means[:, 1])  # the same items drawn for both
    assert set(np.round(means[:, 0] * 4).tolist()) <= {0, 1, 2, 3, 4} and not means[:, 2].any()


def test_lower_is_better_is_turned_around() -> None:
    assert oriented(np.array([[1.0, 2.0]]), higher_is_better=False).tolist() == [[-1.0, -2.0]]


def _one_reversal(resamples: int) -> np.ndarray:
    """Entry 0 beats entry 1 by 1 on every resample but the first, where it loses by 1; entry 2 is far behind."""
    better = np.zeros((resamples, 3))
    better[:, 0] = 1.0
    better[0, 0] = -1.0
    better[:, 2] = -5.0
    return better


def test_a_difference_is_significant_only_if_its_interval_excludes_zero() -> None:
    # the 2.5th percentile interpolates linearly between the two smallest differences (-1 and +1):
    # with 20 resamples at 0.025 * 19 = 0.475 of the way: -1 + 0.475 * 2 = -0.05, below 0: not significant;
    # with 40 resamples at 0.975 of the way: -1 + 0.975 * 2 = 0.95, above 0: significant
    assert not differs(_one_reversal(20), 0, 1)
    assert differs(_one_reversal(40), 0, 1)
    assert differs(_one_reversal(20), 1, 2)  # 0 - (-5) = 5 everywhere
    assert tied_groups(_one_reversal(20)) == [1, 1, 2]
    assert tied_groups(_one_reversal(40)) == [1, 2, 3]


def test_rank_ranges_cover_95_percent_of_resamples_and_the_observed_rank() -> None:
    # two ranked entries and a baseline; entry 1 beats entry 0 in 10 of 100 resamples
    better = np.zeros((100, 3))
    better[:, 0] = 2.0
    better[:, 1] = 1.0
    better[:10, 1] = 3.0
    better[:, 2] = 0.0  # the baseline: no rank of its own, and it never counts in the others' ranks
    assert rank_ranges(better, [1, 2, None]) == [(1, 2), (1, 2), None]
    better[:10, 1] = 1.0  # entry 1 never wins now
    assert rank_ranges(better, [1, 2, None]) == [(1, 1), (2, 2), None]
