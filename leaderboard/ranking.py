"""The ranking rules: each team's best (or selected) submission, ordered by the primary metric in its direction,
then the tie-breakers, then the earliest submission."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from codefest.challenges.spec import Challenge
from codefest.leaderboard.submissions import Submission

Scores = Callable[[Submission], Callable[[str], float]]  # how a view reads a submission's value of a metric


def public_scores(submission: Submission) -> Callable[[str], float]:
    return submission.value


def order_key(spec: Challenge, value: Callable[[str], float], time_ms: int) -> tuple[float, ...]:
    """Smaller is better; a missing value sorts last."""
    directions = spec.higher_is_better
    key = []
    for name in (spec.primary_metric, *spec.tie_breakers):
        v = value(name)
        key.append(math.inf if math.isnan(v) else (-v if directions[name] else v))
    return (*key, float(time_ms))


def best(spec: Challenge, submissions: Iterable[Submission]) -> Submission:
    return min(submissions, key=lambda s: order_key(spec, s.value, s.time_ms))


def chosen(spec: Challenge, submissions: list[Submission]) -> tuple[Submission, str]:
    """(the submission that represents a team, how it was chosen); chosen on public scores in every view."""
    if spec.final_submission == "selected":
        selected = [s for s in submissions if s.selected_at is not None]
        if selected:
            return max(selected, key=lambda s: s.selected_at or 0), "selected"
        return best(spec, submissions), "best (none selected)"
    return best(spec, submissions), "best"


def by_team(submissions: Iterable[Submission]) -> dict[str, list[Submission]]:
    teams: dict[str, list[Submission]] = {}
    for submission in submissions:
        teams.setdefault(submission.team, []).append(submission)
    return teams


def ranks(baseline: list[bool]) -> list[int | None]:
    """Ranks 1, 2, ... down an ordered list; the baseline is shown in place but takes no rank."""
    found: list[int | None] = []
    rank = 0
    for is_baseline in baseline:
        rank += not is_baseline
        found.append(None if is_baseline else rank)
    return found
