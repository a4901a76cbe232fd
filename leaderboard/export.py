"""The leaderboard as JSON and CSV, for tools and spreadsheets."""

from __future__ import annotations

import csv
import io
import json

from codefest.challenges.efficiency import MEASURES, Measure
from codefest.leaderboard.board import Board, Entry
from codefest.leaderboard.efficiency import COST, text
from codefest.leaderboard.formatting import when

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what spreadsheets read as a formula (OWASP CSV injection)


def as_json(board: Board) -> str:
    return json.dumps(board.to_json(), indent=2, ensure_ascii=False) + "\n"


def cell(value: object) -> str:
    """Text a spreadsheet shows as text: a leading formula character is quoted with an apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def as_csv(board: Board) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["rank", "rank_low", "rank_high", "group", "team", "baseline", board.primary_metric, "ci_low", "ci_high"]
    header += [*board.metric_tie_breakers, *MEASURES, *_cost_header(board), "submissions", "last_submission", "run_id"]
    if board.view == "private":
        header += ["public_rank", "rank_change"]
    writer.writerow([cell(h) for h in header])
    for e in board.entries:
        low, high = e.rank_range or (None, None)
        row: list[object] = [e.rank, low, high, e.group, e.team, e.baseline, e.score.value, e.score.ci_low]
        row += [e.score.ci_high, *(e.tie_breakers[n] for n in board.metric_tie_breakers)]
        row += [*(_measure(e, measure) for measure in MEASURES.values()), *_cost(board, e), e.submissions]
        row += [when(e.last_submission_ms), e.run_id]
        if board.view == "private":
            row += [e.public_rank, e.rank_change]
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def _cost_header(board: Board) -> list[str]:
    """The cost's column, named with its currency, where the organisers set prices."""
    return [] if board.prices is None else [f"{COST}_{board.prices['currency']}"]


def _measure(entry: Entry, measure: Measure) -> str:
    """As the run's tag records it; empty for a predictions file."""
    value = entry.efficiency.of(measure.name)
    return "" if value is None else text(measure, value)


def _cost(board: Board, entry: Entry) -> list[object]:
    return [] if board.prices is None else [entry.efficiency.cost_per_1000_items]
