"""The score over time of each team as an inline SVG, drawn by matplotlib with its text kept as text.

Time runs along the axis in one unit, counted from the first submission (minutes, hours or days, whichever suits the
event's length), so the ticks are plain numbers: a date formatter mixes seconds, clock times and dates on one axis.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from codefest.leaderboard.board import Board
from codefest.leaderboard.formatting import when

TEAMS_DRAWN = 10  # more lines than this is a tangle; the table has everyone
MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
# (unit, its length in ms, the longest event it suits): an axis of at most ~180 minutes or ~72 hours
UNITS = (("minutes", MINUTE, 3 * HOUR), ("hours", HOUR, 3 * DAY), ("days", DAY, None))


@dataclass(frozen=True)
class Shape:
    """A figure for one range of page widths: the wide one beside its legend, the narrow one above it."""

    name: str
    inches: tuple[float, float]
    font_size: float
    ticks: int


WIDE = Shape("wide", (9.0, 4.0), 10, 8)
NARROW = Shape("narrow", (3.6, 4.0), 9, 4)


@dataclass(frozen=True)
class TimeAxis:
    """Times as one unit since the first submission."""

    start_ms: int
    unit: str
    unit_ms: int

    def label(self, lines: int = 1) -> str:
        return f"{self.unit} since the first submission{' ' if lines == 1 else chr(10)}({when(self.start_ms)})"

    def of(self, ms: list[int]) -> np.ndarray:
        return (np.array(ms, dtype=np.float64) - self.start_ms) / self.unit_ms


def time_axis(board: Board) -> TimeAxis:
    """The unit that suits the span of the board's submissions: the finest that keeps the numbers short."""
    times = [ms for points in board.history.values() for ms, _ in points]
    start = min(times, default=board.generated_ms)
    span = max(times, default=start) - start
    for unit, unit_ms, longest in UNITS:
        if longest is None or span <= longest:
            return TimeAxis(start, unit, unit_ms)
    raise AssertionError("the last unit suits every span")


def score_over_time(board: Board, shape: Shape = WIDE) -> str:
    """SVG markup: each submission as a point, each team's best so far as a step line; the baseline dashed.

    matplotlib is imported here, not with the module: the page module, and through it every `codefest leaderboard`,
    imports this one, and only a page that is written or published draws a chart.
    """
    import matplotlib
    from matplotlib.figure import Figure  # a Figure without pyplot needs no display back end
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": f"codefest-{shape.name}", "font.size": shape.font_size}
    ):
        figure = Figure(figsize=shape.inches, layout="constrained")
        axes = figure.subplots()
        axis = time_axis(board)
        drawn = [e for e in board.entries if not e.baseline][:TEAMS_DRAWN]
        last = 0.0
        for entry in drawn:
            points = board.history.get(entry.team, [])
            times = axis.of([ms for ms, _ in points])
            values = [v for _, v in points]
            line = axes.step(times, _best_so_far(values, board.higher_is_better), where="post", label=entry.team)[0]
            axes.plot(times, values, "o", color=line.get_color(), alpha=0.5)
            last = max(last, float(times.max(initial=0.0)))
        for entry in (e for e in board.entries if e.baseline):
            axes.axhline(entry.score.value, linestyle="--", color="grey", label=f"{entry.team} (baseline)")
        axes.set_xlim(-0.03 * max(last, 1.0), max(last * 1.05, 1.0))
        axes.xaxis.set_major_locator(MaxNLocator(shape.ticks, steps=[1, 2, 2.5, 5, 10]))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axes.set_ylabel(f"{board.primary_metric} ({board.view})")
        axes.set_xlabel(axis.label(1 if shape is WIDE else 2))
        axes.grid(alpha=0.3)
        if drawn or any(e.baseline for e in board.entries):
            if shape is WIDE:
                figure.legend(loc="outside right upper", fontsize="small")
            else:
                figure.legend(loc="outside lower center", fontsize="small", ncols=2)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _best_so_far(values: list[float], higher_is_better: bool) -> list[float]:
    best: list[float] = []
    for value in values:
        best.append(value if not best else (max if higher_is_better else min)(best[-1], value))
    return best
