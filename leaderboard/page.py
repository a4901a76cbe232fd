"""The leaderboard as one self-contained HTML page: no scripts, no fetched resources, everything escaped."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from codefest.leaderboard.board import Board
from codefest.leaderboard.chart import score_over_time
from codefest.leaderboard.formatting import change_text, number, range_text, rank_text, scale_of, when

TEMPLATES = Path(__file__).parent / "templates"


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]), keep_trailing_newline=True
    )
    environment.filters.update(when=when, rank=rank_text, range=range_text, change=change_text)
    return environment


def breakdown_groups(board: Board) -> tuple[str | None, list[str], dict[str, int]]:
    """(what the groups are, the groups in order, how many items each has) over every entry's breakdown."""
    by, sizes = None, dict[str, int]()
    for entry in board.entries:
        if entry.breakdown:
            by = entry.breakdown["by"]
            for group, cell in entry.breakdown["groups"].items():
                sizes[group] = max(sizes.get(group, 0), int(cell["n"]))
    return by, sorted(sizes), sizes


def render(board: Board) -> str:
    scale = scale_of([e.score.value for e in board.entries])
    by, groups, sizes = breakdown_groups(board)
    return (
        _environment()
        .get_template("leaderboard.html.j2")
        .render(
            board=board,
            fmt=lambda value: number(value, scale),
            fmt_own=lambda value: number(value, scale_of([value])),
            chart=Markup(score_over_time(board)),  # matplotlib's SVG, whose text it escapes itself
            breakdown_by=by,
            groups=groups,
            group_sizes=sizes,
        )
    )
