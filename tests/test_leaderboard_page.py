"""The leaderboard as participants read it: equal scores equal in every format, the baseline apart, columns that give
way as the page narrows in the terminal's order, short headers, and a time axis in one unit.

The browser's view of the same page (column boxes, header heights, inside MLflow) is in tests/test_browser.py.
"""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from codefest.challenges.discovery import load
from codefest.leaderboard import terminal
from codefest.leaderboard.board import Board, Entry, Score, build
from codefest.leaderboard.chart import NARROW, WIDE, score_over_time, time_axis
from codefest.leaderboard.export import as_csv, as_json
from codefest.leaderboard.formatting import ALWAYS
from codefest.leaderboard.page import COMPACT_PX, RESERVE_PX, columns, hiding_rules, render
from codefest.leaderboard.terminal import fitting, table
from tests.helpers import bundled_spec, write_challenge
from tests.runs import fake_build, record

SLUG = "page-ipc"
PRIMARY, TIE1, TIE2 = "top_prediction@subclass", "three_guesses@subclass", "top_prediction@group"
START = 1_780_000_000_000  # 2026-05-28 20:26:40 UTC
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000


@pytest.fixture
def tied(home: Path, challenges: Path) -> Board:
    """office-d first; office-a, -b and -c with identical scores (right on different items); office-e last; the
    organisers' baseline scoring between the first and the three."""
    write_challenge(challenges, bundled_spec("ipc-classification") | {"slug": SLUG})
    sig = fake_build(SLUG, home)
    teams = {
        "office-d": [1.0] * 180 + [0.0] * 20,
        "office-a": [1.0, 0.0] * 100,
        "office-b": [0.0, 1.0] * 100,
        "office-c": [1.0] * 50 + [0.0] * 50 + [1.0, 0.0] * 50,
        "organisers": [1.0] * 120 + [0.0] * 80,
        "office-e": [1.0, 0.0, 0.0, 0.0, 0.0] * 40,
    }
    for n, (team, scores) in enumerate(teams.items()):
        role = "baseline" if team == "organisers" else "participant"
        values = {PRIMARY: sum(scores) / len(scores), TIE1: 0.5, TIE2: 0.5}
        at = START + n * 20 * MINUTE
        record(home, SLUG, team, values, at=at, signature=sig, per_item={PRIMARY: scores}, role=role)
    return build(load(SLUG), home, resamples=200)


EXPECTED = [  # (team, rank, rank range), as every format must show them
    ("office-d", 1, (1, 1)),
    ("office-a", 2, (2, 4)),
    ("office-b", 2, (2, 4)),
    ("office-c", 2, (2, 4)),
    ("office-e", 5, (5, 5)),
]


def test_json_and_csv_give_equal_scores_one_rank_and_range_and_the_baseline_none(tied: Board) -> None:
    entries = json.loads(as_json(tied))["entries"]
    ranked = [(e["team"], e["rank"], tuple(e["rank_range"])) for e in entries if not e["baseline"]]
    assert ranked == EXPECTED
    assert [(e["team"], e["rank"], e["rank_range"], e["group"]) for e in entries[-1:]] == [
        ("organisers", None, None, None)
    ]
    rows = list(csv.DictReader(io.StringIO(as_csv(tied))))
    assert [(r["team"], r["rank"], r["rank_low"], r["rank_high"], r["baseline"]) for r in rows] == [
        *((team, str(rank), str(low), str(high), "False") for team, rank, (low, high) in EXPECTED),
        ("organisers", "", "", "", "True"),
    ]


def test_the_terminal_shows_the_same_ranks_and_the_baseline_below_a_rule(tied: Board) -> None:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table(tied, 200))
    lines = console.export_text().splitlines()
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines if "office-" in line or "organis" in line]
    assert [(cells[3], cells[0], cells[1]) for cells in rows[:5]] == [
        (team, str(rank), f"{low}-{high}" if low != high else str(low)) for team, rank, (low, high) in EXPECTED
    ]
    assert rows[5][:4] == ["-", "-", "-", "organisers (baseline)"]
    baseline_line = next(n for n, line in enumerate(lines) if "organisers" in line)
    assert lines[baseline_line - 1].startswith("├─")  # a rule sets it apart from the ranked rows


class _Cells(HTMLParser):
    """The text of each cell of #leaderboard, per tbody (ranked, baseline) and row; and its header cells' HTML."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: dict[str, list[list[str]]] = {}
        self.headers: list[str] = []
        self._body: str | None = None
        self._in: str | None = None
        self._table = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self._table = found.get("id") == "leaderboard"
        elif self._table and tag == "tbody":
            self._body = found.get("class") or ""
            self.bodies[self._body] = []
        elif self._table and tag == "tr" and self._body is not None:
            self.bodies[self._body].append([])
        elif self._table and tag in ("td", "th"):
            self._in = tag
            if self._body is None:
                self.headers.append("")
            else:
                self.bodies[self._body][-1].append("")
        elif self._table and tag == "wbr" and self._in == "th" and self._body is None:
            self.headers[-1] += "<wbr>"

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table, self._body = False, None
        elif tag in ("td", "th"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in is None:
            return
        if self._body is None:
            self.headers[-1] += data
        else:
            self.bodies[self._body][-1][-1] += data


def _cells(page: str) -> _Cells:
    parsed = _Cells()
    parsed.feed(page)
    return parsed


def test_the_page_shows_equal_ranks_and_the_baseline_in_a_section_of_its_own(tied: Board) -> None:
    parsed = _cells(render(tied))
    keys = [c.key for c in columns(tied)]
    rank, span, team = keys.index("rank"), keys.index("range"), keys.index("team")
    ranked = parsed.bodies["ranked"]
    assert [(row[team], int(row[rank]), row[span]) for row in ranked] == [
        (name, rank_, f"{low}-{high}" if low != high else str(low)) for name, rank_, (low, high) in EXPECTED
    ]
    label, baseline = parsed.bodies["baseline"]
    assert label == ["Baseline: for reference, not ranked"]
    assert (baseline[team], baseline[rank], baseline[span]) == ("organisers", "-", "-")


def test_a_page_shows_no_path_of_the_organisers(tied: Board, home: Path, challenges: Path) -> None:
    page = render(tied)
    for path in (home, challenges, Path.home(), Path.cwd(), Path(__file__).parents[1]):
        assert str(path) not in page
    assert not re.search(r"(?:file:|/home/|/root/|/tmp/)", page)


def test_columns_give_way_in_the_terminal_s_order_and_rank_team_score_never_do(tied: Board) -> None:
    found = columns(tied)
    rules = hiding_rules(found)
    hidden = [key for _, key in rules]
    assert hidden == ["last", "subs", "range", "group", "tie0", "tie1"]
    dropped = [c.header for c in sorted(terminal.columns(tied), key=lambda c: c.keep) if c.keep < ALWAYS]
    assert dropped == ["last (UTC)", "subs", "range", "group", TIE1, TIE2]  # the same order, by the same KEEP
    widths = [width for width, _ in rules]
    assert widths == sorted(widths, reverse=True) and min(widths) >= COMPACT_PX
    assert {c.key for c in found if c.always} == {"rank", "team", "score"}
    # the widest rule is all the columns' own widths: at 1,400 px every column shows
    assert widths[0] == pytest.approx(sum(c.width for c in found) + RESERVE_PX) and widths[0] < 1400
    assert len(fitting(terminal.columns(tied), 40)) == 3  # the terminal keeps the same three


def test_private_views_drop_their_rank_change_columns_last_but_for_the_tie_breakers(tied: Board) -> None:
    tied.view = "private"
    hidden = [key for _, key in hiding_rules(columns(tied))]
    assert hidden == ["last", "subs", "range", "group", "public", "change", "tie0", "tie1"]


def test_headers_are_short_words_and_a_metric_breaks_only_after_its_at_sign(tied: Board) -> None:
    headers = _cells(render(tied)).headers
    assert headers == [
        "rank",
        "rank range",
        "group",
        "team",
        "score",
        "three_guesses@<wbr>subclass",
        "top_prediction@<wbr>group",
        "submissions",
        "last submission",
    ]
    page = render(tied)
    assert "overflow-wrap: normal; word-break: normal" in page  # headers never break inside a word
    assert f"score</dt><dd>{PRIMARY} on the public part" in page  # the legend names what "score" is


def _board(history: dict[str, list[tuple[int, float]]]) -> Board:
    entries = [
        Entry(
            team=team,
            baseline=False,
            submission_id=team,
            run_id=team,
            scored_run_id=team,
            choice="best",
            score=Score(points[-1][1], 0.0, 1.0),
            tie_breakers={},
            submitted_ms=points[-1][0],
            submissions=len(points),
            last_submission_ms=points[-1][0],
            rank=n + 1,
        )
        for n, (team, points) in enumerate(history.items())
    ]
    return Board(
        slug="x",
        title="X",
        task="classification",
        view="public",
        primary_metric="m",
        higher_is_better=True,
        tie_breakers=[],
        final_submission="best",
        signature="s",
        generated_ms=START,
        runs_ranked=sum(len(p) for p in history.values()),
        entries=entries,
        history=history,
    )


def _x_ticks(svg: str) -> list[str]:
    return re.findall(r'<g id="xtick_\d+">.*?<text[^>]*>([^<]*)</text>', svg, flags=re.DOTALL)


@pytest.mark.parametrize(
    ("span", "unit", "last_tick"),
    [(20 * MINUTE, "minutes", 20.0), (5 * HOUR, "hours", 5.0), (2 * DAY, "hours", 48.0), (9 * DAY, "days", 9.0)],
)
def test_the_time_axis_counts_one_unit_from_the_first_submission(span: int, unit: str, last_tick: float) -> None:
    board = _board({"a": [(START, 0.2), (START + span, 0.5)], "b": [(START + span // 3, 0.4)]})
    axis = time_axis(board)
    assert (axis.start_ms, axis.unit) == (START, unit)
    assert axis.of([START, START + span]).tolist() == [0.0, last_tick]
    for shape in (WIDE, NARROW):
        svg = score_over_time(board, shape)
        ticks = _x_ticks(svg)
        assert len(ticks) >= 3 and all(re.fullmatch(r"-?\d+(\.\d+)?", t) for t in ticks), ticks
        numbers = [float(t) for t in ticks]
        assert numbers == sorted(numbers) and numbers[0] <= 0.0 and numbers[-1] >= last_tick * 0.75
        assert f"{unit} since the first submission" in svg and "2026-05-28 20:26 UTC" in svg
        assert not re.search(r">\d\d:\d\d<", svg)  # no clock time among the ticks


def test_each_chart_keeps_its_own_ids_so_both_can_share_a_page() -> None:
    board = _board({"a": [(START, 0.2), (START + HOUR, 0.5)]})
    svgs = [score_over_time(board, shape) for shape in (WIDE, NARROW)]
    referenced = [set(re.findall(r'(?:url\(#|href="#)([^)"]+)', svg)) for svg in svgs]
    assert referenced[0] and referenced[1] and not referenced[0] & referenced[1]
    for svg, names in zip(svgs, referenced, strict=True):
        assert all(f'id="{name}"' in svg for name in names)
