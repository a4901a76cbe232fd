"""The columns of what code runs used, and their cost, as the terminal and the page show them beside the score.

Shown only on a board with some code submission; a declared measure stays as long as a tie-breaker, the others give
way first as the view narrows (formatting.KEEP_MEASURE).
"""

from __future__ import annotations

from dataclasses import dataclass

from codefest.challenges.efficiency import MEASURES, Prices, money
from codefest.leaderboard.board import Board
from codefest.leaderboard.efficiency import prices_text, text
from codefest.leaderboard.formatting import KEEP_MEASURE, KEEP_TIE_BREAKER


@dataclass(frozen=True)
class Shown:
    """One column of what runs used."""

    key: str  # a measure's name, or "cost"
    header: str
    meaning: str
    keep: int  # formatting's give-way order
    cells: list[str]


def columns(board: Board) -> list[Shown]:
    """The columns of what code runs used, and the cost where prices are set; none on a board without code runs."""
    if not board.measured:
        return []
    found = []
    for measure in MEASURES.values():
        keep = KEEP_TIE_BREAKER if measure.name in board.tie_breakers else KEEP_MEASURE[measure.name]
        cells = [text(measure, e.efficiency.of(measure.name)) for e in board.entries]
        found.append(Shown(measure.name, measure.header, measure.meaning, keep, cells))
    if board.prices is not None:
        prices = Prices.model_validate(board.prices)
        cells = [money(e.efficiency.cost_per_1000_items) for e in board.entries]
        found.append(Shown("cost", f"cost ({prices.currency})", prices_text(prices), KEEP_MEASURE["cost"], cells))
    return found
