"""The leaderboard as a rich table in the terminal."""

from __future__ import annotations

from rich.table import Table

from leaderboard.board import Board
from leaderboard.formatting import change_text, number, range_text, rank_text, scale_of, when


def table(board: Board) -> Table:
    scale = scale_of([e.score.value for e in board.entries])
    direction = "higher is better" if board.higher_is_better else "lower is better"
    title = f"{board.title} — {board.view} leaderboard ({board.primary_metric}, {direction})"
    grid = Table(title=title, caption=_caption(board))
    for column in ("rank", "range", "group"):
        grid.add_column(column, justify="right")
    grid.add_column("team", no_wrap=True)
    grid.add_column("score [95% CI]", justify="right", no_wrap=True)
    for name in board.tie_breakers:
        grid.add_column(name, justify="right")
    grid.add_column("subs", justify="right")
    grid.add_column("last (UTC)", no_wrap=True)
    if board.view == "private":
        grid.add_column("public", justify="right")
        grid.add_column("change", justify="right")
    for e in board.entries:
        row = [
            rank_text(e.rank),
            range_text(e.rank_range),
            "-" if e.group is None else str(e.group),
            f"{e.team} (baseline)" if e.baseline else e.team,
            f"{number(e.score.value, scale)} [{number(e.score.ci_low, scale)}, {number(e.score.ci_high, scale)}]",
            *(number(e.tie_breakers[name], scale_of([e.tie_breakers[name]])) for name in board.tie_breakers),
            str(e.submissions),
            when(e.last_submission_ms, short=True),
        ]
        if board.view == "private":
            row += [rank_text(e.public_rank), change_text(e.rank_change)]
        grid.add_row(*row, style="dim" if e.baseline else None)
    return grid


def _caption(board: Board) -> str:
    lines = [
        f"{board.runs_ranked} scored submissions; each team's {board.final_submission} submission; "
        "entries in one group do not differ significantly (paired bootstrap, 95%)",
        *board.notes,
    ]
    return "\n".join(lines)
