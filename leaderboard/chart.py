"""The score over time of each team as an inline SVG, drawn by matplotlib with its text kept as text."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure  # a Figure without pyplot needs no display back end

from codefest.leaderboard.board import Board

TEAMS_DRAWN = 10  # more lines than this is a tangle; the table has everyone


def score_over_time(board: Board) -> str:
    """SVG markup: each submission as a point, each team's best so far as a step line; the baseline dashed."""
    figure = Figure(figsize=(9, 4), layout="constrained")
    axes = figure.subplots()
    drawn = [e for e in board.entries if not e.baseline][:TEAMS_DRAWN]
    for entry in drawn:
        points = board.history.get(entry.team, [])
        times = np.array([ms for ms, _ in points], dtype="datetime64[ms]")  # UTC, as matplotlib reads it
        values = [v for _, v in points]
        line = axes.step(times, _best_so_far(values, board.higher_is_better), where="post", label=entry.team)[0]
        axes.plot(times, values, "o", color=line.get_color(), alpha=0.5)
    for entry in (e for e in board.entries if e.baseline):
        axes.axhline(entry.score.value, linestyle="--", color="grey", label=f"{entry.team} (baseline)")
    axes.set_ylabel(f"{board.primary_metric} ({board.view})")
    axes.set_xlabel("submission time (UTC)")
    axes.grid(alpha=0.3)
    if drawn or any(e.baseline for e in board.entries):
        axes.legend(loc="best", fontsize="small")
    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "codefest"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    svg = buffer.getvalue()
    return svg[svg.index("<svg") :]


def _best_so_far(values: list[float], higher_is_better: bool) -> list[float]:
    best: list[float] = []
    for value in values:
        best.append(value if not best else (max if higher_is_better else min)(best[-1], value))
    return best
