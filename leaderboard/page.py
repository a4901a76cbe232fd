"""The leaderboard as one self-contained HTML page: no scripts, no fetched resources, everything escaped.

Participants read it in MLflow's artifact viewer, a pane 400 to 600 px wide, as often as on its own. So the table
narrows as the terminal table does: the columns the terminal drops first are hidden first, by media queries whose
widths come from each column's own text (formatting.KEEP), and rank, team and score always stay. Headers are short
words that wrap only between words; what they mean is said in a legend above the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from codefest.challenges.efficiency import MEASURES
from codefest.leaderboard import usage_columns
from codefest.leaderboard.board import Board, Entry
from codefest.leaderboard.chart import NARROW, WIDE, score_over_time
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

TEMPLATES = Path(__file__).parent / "templates"

# Widths of the table's text as the page estimates them to decide which columns fit: each character's advance in
# DejaVu Sans (system-ui on Debian, among the widest), in em, rounded up; any other character counts 1 em. Bold is at
# most 1.23 times as wide for a thin letter, 1.09 for a digit. Measured in chromium: within a few px of the cells.
FONT_PX = 15  # the table's font size
GLYPH_EM = {
    **dict.fromkeys("'ijl", 0.28),
    **dict.fromkeys("IJ,. ", 0.32),
    **dict.fromkeys("/:;\\|", 0.34),
    **dict.fromkeys("f-", 0.37),
    **dict.fromkeys("()[]t!", 0.40),
    **dict.fromkeys("r", 0.42),
    **dict.fromkeys('"*_`', 0.50),
    **dict.fromkeys("sz?", 0.54),
    **dict.fromkeys("c", 0.55),
    **dict.fromkeys("LFk", 0.58),
    **dict.fromkeys("vxyPTY", 0.62),
    **dict.fromkeys("oaeE", 0.64),
    **dict.fromkeys("hnubdgpqS0123456789${}", 0.64),
    **dict.fromkeys("KAVXZBRC", 0.70),
    **dict.fromkeys("UNHDGOQ&", 0.79),
    **dict.fromkeys("w#+<=>^~", 0.84),
    **dict.fromkeys("M", 0.87),
    **dict.fromkeys("%", 0.95),
}
BOLD = 1.15
CI_SCALE = 0.85  # the interval's font size, relative to the value's
PADDING_PX = 16  # a cell's left and right padding
TEAM_CHARS = 12  # a team name up to this long never wraps; a longer one wraps where it must
RESERVE_PX = 56  # the page's margins and a vertical scroll bar
# MLflow 3.17 at a 1,000 px window with its Assistant panel open lays the artifact pane out 400 px wide but shows
# only ~300 px of it: below this viewport width the page keeps rank, team and score and narrows to 280 px.
COMPACT_PX = 520
COMPACT_CONTENT_PX = 280
WIDE_CHART_PX = 760  # the wide chart from this viewport width up, the narrow one below
MEASURE_KEYS = {"code_seconds": "time", "code_peak_memory_mb": "memory", "code_cpu_seconds": "cpu"}  # cell classes


@dataclass(frozen=True)
class Column:
    key: str  # the class of its cells: c-<key>
    header: Markup
    meaning: str  # on hover, and in the legend
    keep: int  # formatting.KEEP: the higher, the longer it stays as the page narrows
    cells: list[Markup]  # one per entry, in the board's order
    width: float  # the px it needs: its header's longest word or its widest cell on one line, padded

    @property
    def always(self) -> bool:
        return self.keep >= ALWAYS


def text_px(text: str, bold: bool = False) -> float:
    """The width of a line of the table's text, in CSS px."""
    return sum(GLYPH_EM.get(c, 1.0) for c in text) * FONT_PX * (BOLD if bold else 1.0)


def _px(texts: list[str], bold: bool = False) -> float:
    """The width a column needs for the widest of `texts` on one line, padded."""
    return max((text_px(t, bold) for t in texts), default=0.0) + PADDING_PX


def _header_words(header: str) -> list[str]:
    return header.replace("@", "@ ").split()


def _metric_header(name: str) -> Markup:
    """A metric's name, which may wrap after its "@" (between the measure and its level) and nowhere else."""
    return escape(name).replace("@", Markup("@<wbr>"))


def _column(key: str, header: str, meaning: str, keep: int, cells: list[str], nowrap: list[str]) -> Column:
    """`nowrap`: the parts of the cells that never wrap (the width estimate's texts)."""
    width = max(_px(_header_words(header), bold=True), _px(nowrap))
    shown = _metric_header(header) if "@" in header else escape(header)
    return Column(key, shown, meaning, keep, [escape(c) for c in cells], width)


def _team_column(teams: list[str]) -> Column:
    cells = [Markup('<span class="long">{}</span>').format(t) if len(t) > TEAM_CHARS else escape(t) for t in teams]
    width = max(_px(["team"], bold=True), _px([t[:TEAM_CHARS] for t in teams]))
    return Column("team", Markup("team"), "the team", KEEP["team"], cells, width)


def columns(board: Board) -> list[Column]:
    """The table's columns, left to right, with the cells of every entry."""
    entries, scale = board.entries, scale_of([e.score.value for e in board.entries])
    direction = "higher" if board.higher_is_better else "lower"
    ranks = [rank_text(e.rank) for e in entries]
    ranges = [range_text(e.rank_range) for e in entries]
    groups = ["-" if e.group is None else str(e.group) for e in entries]
    found = [
        _column("rank", "rank", "equal scores share a rank", KEEP["rank"], ranks, ranks),
        _column("range", "rank range", "where the rank falls in 95% of resamples", KEEP["range"], ranges, ranges),
        _column("group", "group", "entries in a group do not differ significantly", KEEP["group"], groups, groups),
        _team_column([e.team for e in entries]),
    ]
    extra = []
    for n, name in enumerate(board.metric_tie_breakers):
        values = [number(e.tie_breakers[name], scale_of([e.tie_breakers[name]])) for e in entries]
        extra.append(_column(f"tie{n}", name, f"tie-breaker {n + 1}", KEEP_TIE_BREAKER, values, values))
    for shown in usage_columns.columns(board):
        key = MEASURE_KEYS.get(shown.key, shown.key)
        extra.append(_column(key, shown.header, shown.meaning, shown.keep, shown.cells, shown.cells))
    ties = [c for c in extra if c.keep == KEEP_TIE_BREAKER]
    found += [_score_column(board, scale, direction, ties), *extra]
    subs = [str(e.submissions) for e in entries]
    found.append(_column("subs", "submissions", "scored submissions of the team", KEEP["subs"], subs, subs))
    last = [when(e.last_submission_ms).removesuffix(" UTC") for e in entries]
    found.append(_column("last", "last submission", "its latest submission (UTC)", KEEP["last"], last, last))
    if board.view == "private":
        public = [rank_text(e.public_rank) for e in entries]
        changes = [change_text(e.rank_change) for e in entries]
        found.append(_column("public", "public rank", "its rank on the public view", KEEP["public"], public, public))
        found.append(_column("change", "change", "places moved up (+) or down (-)", KEEP["change"], changes, changes))
    return found


def _score_column(board: Board, scale: float, direction: str, ties: list[Column]) -> Column:
    """The primary metric and its interval in one cell, which wraps between them (and inside the interval)."""
    cells, widths = [], []
    for n, entry in enumerate(board.entries):
        value, low, high = (number(v, scale) for v in (entry.score.value, entry.score.ci_low, entry.score.ci_high))
        cell = Markup('<strong>{}</strong> <span class="ci">[{}, {}]</span>').format(value, low, high)
        cells.append(cell + Markup("").join(_under_score(tie, n) for tie in ties))
        widths.append(text_px(value, bold=True) + text_px(" ") + text_px(f"[{low}, {high}]") * CI_SCALE + PADDING_PX)
    meaning = f"{board.primary_metric}, {direction} is better, with its 95% bootstrap interval"
    return Column("score", Markup("score"), meaning, KEEP["score"], cells, max([_px(["score"], True), *widths]))


def _under_score(tie: Column, n: int) -> Markup:
    """A tie-breaker's value under the score, shown only where its own column is hidden: it stays as long as the
    score's interval does."""
    return Markup('<span class="tb tb-{}">{}: {}</span>').format(tie.key, tie.header, tie.cells[n])


def hiding_rules(found: list[Column]) -> list[tuple[float, str]]:
    """(the viewport width below which a column is hidden, its key), dropping the least needed first as the terminal
    does: each column goes when what is left with it would not fit."""
    kept, rules = list(found), []
    for column in sorted(found, key=lambda c: c.keep):
        if column.always:
            break
        needed = sum(c.width for c in kept) + RESERVE_PX
        rules.append((max(needed, COMPACT_PX), column.key))
        kept.remove(column)
    return rules


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]), keep_trailing_newline=True
    )
    environment.filters.update(when=when)
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


def _rows(board: Board, found: list[Column], baseline: bool) -> list[tuple[Entry, list[tuple[str, Markup]]]]:
    return [
        (entry, [(c.key, c.cells[n]) for c in found])
        for n, entry in enumerate(board.entries)
        if entry.baseline == baseline
    ]


def render(board: Board) -> str:
    scale = scale_of([e.score.value for e in board.entries])
    by, groups, sizes = breakdown_groups(board)
    found = columns(board)
    return (
        _environment()
        .get_template("leaderboard.html.j2")
        .render(
            board=board,
            columns=found,
            ranked=_rows(board, found, baseline=False),
            baselines=_rows(board, found, baseline=True),
            hidden=hiding_rules(found),
            ties={c.key for c in found if c.keep == KEEP_TIE_BREAKER},
            measured=[(MEASURE_KEYS.get(m.key, m.key), m) for m in usage_columns.columns(board)],
            headers={c.key: c.header for c in found},
            measured_ties=any(name in MEASURES for name in board.tie_breakers),
            compact_px=COMPACT_PX,
            compact_content_px=COMPACT_CONTENT_PX,
            wide_chart_px=WIDE_CHART_PX,
            fmt=lambda value: number(value, scale),
            # matplotlib's SVG, whose text it escapes itself
            wide_chart=Markup(score_over_time(board, WIDE)),
            narrow_chart=Markup(score_over_time(board, NARROW)),
            breakdown_by=by,
            groups=groups,
            group_sizes=sizes,
        )
    )
