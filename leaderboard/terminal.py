"""The leaderboard as a rich table in the terminal; in a narrow one the least needed columns give way."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table

from codefest.challenges.efficiency import MEASURES, Prices
from codefest.leaderboard import usage_columns
from codefest.leaderboard.board import Board, Entry
from codefest.leaderboard.efficiency import prices_text
from codefest.leaderboard.formatting import (
    ALWAYS,
    KEEP,
    KEEP_TIE_BREAKER,
    change_text,
    number,
    range_text,
    rank_text,
    scale_of,
    when,
)

BORDER = 3  # a column's separator and padding


@dataclass(frozen=True)
class Column:
    header: str
    cells: list[str]
    keep: int  # the higher, the longer it stays as the terminal narrows
    left: bool = False

    @property
    def width(self) -> int:
        return max([len(self.header), *(len(c) for c in self.cells)]) + BORDER  # a board may have no entries yet


def columns(board: Board) -> list[Column]:
    entries, scale = board.entries, scale_of([e.score.value for e in board.entries])

    def score(e: Entry) -> str:
        return f"{number(e.score.value, scale)} [{number(e.score.ci_low, scale)}, {number(e.score.ci_high, scale)}]"

    found = [
        Column("rank", [rank_text(e.rank) for e in entries], KEEP["rank"]),
        Column("range", [range_text(e.rank_range) for e in entries], KEEP["range"]),
        Column("group", ["-" if e.group is None else str(e.group) for e in entries], KEEP["group"]),
        Column("team", [f"{e.team} (baseline)" if e.baseline else e.team for e in entries], KEEP["team"], left=True),
        Column("score [95% CI]", [score(e) for e in entries], KEEP["score"]),
    ]
    for name in board.metric_tie_breakers:
        values = [e.tie_breakers[name] for e in entries]
        found.append(Column(name, [number(v, scale_of([v])) for v in values], KEEP_TIE_BREAKER))
    found += [Column(c.header, c.cells, c.keep) for c in usage_columns.columns(board)]
    found.append(Column("subs", [str(e.submissions) for e in entries], KEEP["subs"]))
    last = [when(e.last_submission_ms, short=True) for e in entries]
    found.append(Column("last (UTC)", last, KEEP["last"], left=True))
    if board.view == "private":
        found.append(Column("public", [rank_text(e.public_rank) for e in entries], KEEP["public"]))
        found.append(Column("change", [change_text(e.rank_change) for e in entries], KEEP["change"]))
    return found


def fitting(columns: list[Column], width: int) -> list[Column]:
    """The columns that fit, dropping the least needed first; rank, team and score always stay."""
    kept = list(columns)
    for column in sorted(columns, key=lambda c: c.keep):
        if sum(c.width for c in kept) + 1 <= width or column.keep >= ALWAYS:
            break
        kept.remove(column)
    return kept


def table(board: Board, width: int = 200) -> Table:
    direction = "higher is better" if board.higher_is_better else "lower is better"
    title = f"{board.title} — {board.view} leaderboard ({board.primary_metric}, {direction})"
    every = columns(board)
    kept = fitting(every, width)
    grid = Table(title=title, caption=_caption(board, [c for c in every if c not in kept]))
    for column in kept:
        grid.add_column(column.header, justify="left" if column.left else "right", no_wrap=True)
    for n, entry in enumerate(board.entries):
        if entry.baseline and n > 0 and not board.entries[n - 1].baseline:
            grid.add_section()  # the baseline stands apart from the ranked sequence, below it
        grid.add_row(*(c.cells[n] for c in kept), style="dim" if entry.baseline else None)
    return grid


def _caption(board: Board, hidden: list[Column]) -> str:
    lines = [
        f"{board.runs_ranked} scored submissions; each team's {board.final_submission} submission; "
        "equal scores share a rank; entries in one group do not differ significantly (paired bootstrap, 95%); "
        "the baseline is shown for reference, unranked",
        *board.notes,
    ]
    headers = {c.header for c in hidden}
    shown = [c for c in usage_columns.columns(board) if c.header not in headers]
    if shown:
        lines.append(_measures_line(board, shown))
    if hidden:
        names = ", ".join(c.header for c in hidden)
        lines.append(f"(hidden at this width: {names}; a wider terminal shows them, --format csv or json has them all)")
    return "\n".join(lines)


def _measures_line(board: Board, shown: list[usage_columns.Shown]) -> str:
    """What the columns of code runs that are shown mean, the tolerance of a measure that breaks ties, the prices."""
    said = "; ".join(f"{c.header}: {c.meaning}" for c in shown if c.key in MEASURES)
    line = f"code submissions: {said}; '-' for a predictions file" if said else ""
    if any(c.key in board.tie_breakers for c in shown):
        line += f"; a tie-breaker among them counts as equal within {board.efficiency_tolerance:.0%} of the best"
    if board.prices is not None and any(c.key == "cost" for c in shown):
        line += f"; cost: {prices_text(Prices.model_validate(board.prices))}"
    return line.removeprefix("; ")
