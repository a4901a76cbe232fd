"""The ranking rules, on columns: each team's best (or selected) submission, ordered by the primary metric in its
direction, then the tie-breakers, then the earliest submission."""

from __future__ import annotations

import numpy as np

from codefest.challenges.spec import Challenge
from codefest.leaderboard.scored import Scores, Submissions


def order(spec: Challenge, scores: Scores, received_ms: np.ndarray) -> np.ndarray:
    """Row indices, best first; a missing value sorts last, and full ties keep the rows' own order."""
    keys = [received_ms.astype(np.float64)]
    for name in reversed((spec.primary_metric, *spec.tie_breakers)):
        value = scores.of(name)
        oriented = -value if spec.higher_is_better[name] else value
        keys.append(np.where(np.isnan(oriented), np.inf, oriented))
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


def ranks(baseline: list[bool]) -> list[int | None]:
    """Ranks 1, 2, ... down an ordered list; the baseline is shown in place but takes no rank."""
    found: list[int | None] = []
    rank = 0
    for is_baseline in baseline:
        rank += not is_baseline
        found.append(None if is_baseline else rank)
    return found
