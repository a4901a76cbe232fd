"""How numbers, times and ranks read in every view, so the table, the CSV and the page agree."""

from __future__ import annotations

import datetime as dt
import math

# How long each column of the table stays as the view narrows: the higher, the longer; 9 and above always stay.
# The terminal and the page drop columns in this order. A declared tie-breaker orders entries whose scores are equal,
# so it stays as long as anything but rank, team and score (and on the page its value then moves under the score).
KEEP = {"rank": 10, "team": 10, "score": 9, "public": 7, "change": 7, "group": 6, "range": 5, "subs": 3, "last": 2}
KEEP_TIE_BREAKER = 8
# What code runs used and is not a tie-breaker gives way first: memory, then CPU time, then wall time, then the cost.
KEEP_MEASURE = {"code_peak_memory_mb": -3, "code_cpu_seconds": -2, "code_seconds": -1, "cost": 0}
ALWAYS = 9


def number(value: float, scale: float = 1.0) -> str:
    """Four decimals on a 0-1 scale, two on sacrebleu's 0-100 scale."""
    if math.isnan(value):
        return "-"
    return f"{value:.4f}" if scale <= 1 else f"{value:.2f}"


def scale_of(values: list[float]) -> float:
    finite = [abs(v) for v in values if not math.isnan(v)]
    return max(finite, default=1.0)


def when(ms: int, short: bool = False) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return moment.strftime("%m-%d %H:%M") if short else moment.strftime("%Y-%m-%d %H:%M UTC")


def rank_text(rank: int | None) -> str:
    """A rank, or "-" for an entry without one (the baseline, listed apart)."""
    return "-" if rank is None else str(rank)


def range_text(rank_range: tuple[int, int] | None) -> str:
    if rank_range is None:
        return "-"
    low, high = rank_range
    return str(low) if low == high else f"{low}-{high}"


def change_text(change: int | None) -> str:
    if change is None:
        return "-"
    return "=" if change == 0 else f"{'+' if change > 0 else '-'}{abs(change)}"
