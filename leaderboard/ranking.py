"""The ranking rules, on columns: each team's best (or selected) submission, ordered by the primary metric in its
direction, then the tie-breakers, then the earliest submission. A tie-breaker may be what a code run used
(`codefest.challenges.efficiency`), lower being better; an entry without it (a predictions file) comes after those
with it.

Equal is equal: entries whose primary metric and declared tie-breakers are identical as stored share a rank
(competition ranking: 1, 1, 3); the earliest submission only decides which of them is listed first, as a time
is not a score. A measure is noisy, so it is equal within the challenge's `efficiency_tolerance` of the best value
among the entries still tied before it: those entries form one class, the next class starts at the best value
beyond it, and so on; an entry is never compared with a neighbour, so equality does not chain. The organisers'
baseline is listed after every ranked entry and takes no rank.
"""

from __future__ import annotations

import math

import numpy as np

from codefest.challenges.efficiency import MEASURES, within
from codefest.challenges.spec import Challenge
from codefest.leaderboard.scored import Scores, Submissions


def order(spec: Challenge, scores: Scores, received_ms: np.ndarray, baseline: np.ndarray | None = None) -> np.ndarray:
    """Row indices, best first; a missing value sorts last, and full ties keep the rows' own order.

    `baseline` (bool per row): those rows come after all the others, apart from the ranked sequence.
    """
    keys = [received_ms.astype(np.float64), *reversed(list(_keys(spec, scores, baseline).T))]
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
    keys = _keys(spec, scores, baseline)
    found: list[int | None] = []
    above, rank, counted = None, 0, 0
    for row, is_baseline in zip(keys, baseline.tolist(), strict=True):
        if is_baseline:
            found.append(None)
            continue
        counted += 1
        if above is None or not np.array_equal(row, above):
            rank = counted
        found.append(rank)
        above = row
    return found


def deciders(spec: Challenge, scores: Scores, baseline: np.ndarray) -> list[str | None]:
    """Down rows already in `order`: the tie-breaker that put each ranked row below the ranked row above it, whose
    primary metric is equal; None where the primary metric decided, the rows share a rank, or for the baseline."""
    keys = _keys(spec, scores, baseline)[:, 1:]  # the metrics, without the baseline flag
    names = _ranking_metrics(spec)
    found: list[str | None] = []
    above = None
    for row, is_baseline in zip(keys, baseline.tolist(), strict=True):
        if is_baseline:
            found.append(None)
            continue
        differ: list[int] = [] if above is None else np.flatnonzero(row != above).tolist()
        found.append(names[differ[0]] if differ and differ[0] > 0 else None)
        above = row
    return found


def _ranking_metrics(spec: Challenge) -> tuple[str, ...]:
    return (spec.primary_metric, *spec.tie_breakers)


def _keys(spec: Challenge, scores: Scores, baseline: np.ndarray | None) -> np.ndarray:
    """(rows, the baseline flag then each ranking metric) of what ranks, smaller first: each metric oriented, a
    missing value infinite, and each measure its class among the rows equal on everything before it."""
    rows = len(scores.values)
    flag = np.zeros(rows) if baseline is None else baseline.astype(np.float64)
    keys = [flag]
    for name in _ranking_metrics(spec):
        value = scores.of(name)
        oriented = -value if spec.ranked_higher_is_better[name] else value
        oriented = np.where(np.isnan(oriented), np.inf, oriented)
        if name in MEASURES:
            oriented = _classes(oriented, np.column_stack(keys), spec.efficiency_tolerance)
        keys.append(oriented)
    return np.column_stack(keys)


def _classes(values: np.ndarray, before: np.ndarray, tolerance: float) -> np.ndarray:
    """Each value's class (0 best) within the rows equal on `before`: a class holds the values `within` tolerance
    of its best, the lowest value not yet in a class; missing (infinite) values form the last."""
    found = np.empty(len(values))
    _, tied = np.unique(before, axis=0, return_inverse=True)
    for group in np.unique(tied):
        rows = np.flatnonzero(tied == group)
        rows = rows[np.argsort(values[rows], kind="stable")]
        best, label = None, -1
        for row in rows.tolist():
            value = float(values[row])
            if best is None or not _joins(value, best, tolerance):
                best, label = value, label + 1
            found[row] = label
    return found


def _joins(value: float, best: float, tolerance: float) -> bool:
    """Whether `value` is in the class of `best`: within the tolerance, or both missing (infinite)."""
    return (math.isinf(value) and math.isinf(best)) or within(value, best, tolerance)
