"""The ranking rules, on columns: each team's best (or selected) submission, ordered by the primary metric in its
direction, then the tie-breakers, then the earliest submission. A tie-breaker may be what a code run used
(`codefest.challenges.efficiency`), lower being better; an entry without it (a predictions file) comes after those
with it.

Equal is equal: entries whose primary metric and declared tie-breakers are identical as stored share a rank
(competition ranking: 1, 1, 3); the earliest submission only decides which of them is listed first, as a time
is not a score. The organisers' baseline is listed after every ranked entry and takes no rank.
"""

from __future__ import annotations

import numpy as np

from codefest.challenges.spec import Challenge
from codefest.leaderboard.scored import Scores, Submissions


def order(spec: Challenge, scores: Scores, received_ms: np.ndarray, baseline: np.ndarray | None = None) -> np.ndarray:
    """Row indices, best first; a missing value sorts last, and full ties keep the rows' own order.

    `baseline` (bool per row): those rows come after all the others, apart from the ranked sequence.
    """
    keys = [received_ms.astype(np.float64)]
    for name in reversed(_ranking_metrics(spec)):
        value = scores.of(name)
        oriented = -value if spec.ranked_higher_is_better[name] else value
        keys.append(np.where(np.isnan(oriented), np.inf, oriented))
    if baseline is not None:
        keys.append(baseline.astype(np.int8))
    return np.lexsort(keys)  # the last key sorts first


def chosen(spec: Challenge, found: Submissions, scores: Scores) -> tuple[list[str], np.ndarray, list[str]]:
    """(teams in name order, the row that represents each, how it was chosen); chosen on public scores."""
    teams, codes = np.unique(np.array(found.teams, dtype=object), return_inverse=True)
    best = _first_per_team(codes, order(spec, scores, found.received_ms), len(teams))
    how = ["best"] * len(teams)
    if spec.final_submission == "selected":
        how = ["best (none selected)"] * len(teams)
        selected = np.flatnonzero(found.selected_ms >= 0)
        latest = selected[np.argsort(-found.selected_ms[selected], kind="stable")]
        for team, row in zip(*np.unique(codes[latest], return_index=True), strict=True):
            best[team], how[team] = latest[row], "selected"
    return [str(team) for team in teams], best, how


def _first_per_team(codes: np.ndarray, ordered: np.ndarray, n_teams: int) -> np.ndarray:
    """Each team's first row in `ordered`."""
    teams, first = np.unique(codes[ordered], return_index=True)
    found = np.empty(n_teams, dtype=np.intp)
    found[teams] = ordered[first]
    return found


def ranks(spec: Challenge, scores: Scores, baseline: np.ndarray) -> list[int | None]:
    """Competition ranks down rows already in `order`: one plus the number of ranked rows above, except that a row
    equal to the ranked row above it (primary metric and tie-breakers identical as stored) shares its rank. A
    baseline row takes no rank and is never counted."""
    keys = np.column_stack([scores.of(name) for name in _ranking_metrics(spec)])
    found: list[int | None] = []
    above, rank, counted = None, 0, 0
    for row, is_baseline in zip(keys, baseline.tolist(), strict=True):
        if is_baseline:
            found.append(None)
            continue
        counted += 1
        if above is None or not np.array_equal(row, above, equal_nan=True):
            rank = counted
        found.append(rank)
        above = row
    return found


def _ranking_metrics(spec: Challenge) -> tuple[str, ...]:
    return (spec.primary_metric, *spec.tie_breakers)
