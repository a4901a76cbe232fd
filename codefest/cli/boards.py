"""`codefest leaderboard`: the board in the terminal, as JSON, CSV or a page, and published to MLflow."""

from __future__ import annotations

import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from codefest.cli.common import err, out, rel
from codefest.console import tagged
from codefest.core.errors import CodefestError

if TYPE_CHECKING:
    from codefest.leaderboard.board import Board


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


def leaderboard(
    slug: Annotated[str, typer.Argument(help="The challenge.")],
    private: Annotated[bool, typer.Option("--private", help="Private scores and rank changes (organisers).")] = False,
    format: Annotated[Format, typer.Option("--format", help="How to show it.")] = Format.table,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write to this file instead of the terminal.")] = None,
    reveal: Annotated[
        bool, typer.Option("--reveal", help="With --private: publish the private leaderboard to participants.")
    ] = False,
    publish: Annotated[
        bool, typer.Option(help="Also log the page to the challenge's MLflow experiment (organisers; --reveal does).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="With --reveal: reveal before the final phase ends.")] = False,
) -> None:
    """The leaderboard from the challenge's scored submissions, with intervals, rank ranges and tied groups."""
    if reveal and not private:
        fix = f"codefest leaderboard {slug} --private --reveal"
        raise CodefestError("--reveal publishes the private leaderboard, so it needs --private", fix)
    from codefest.challenges.calendar import event_over, when
    from codefest.challenges.discovery import load
    from codefest.core.workspace import home

    if reveal and not force and not event_over(load(slug).spec, home()):
        raise CodefestError(
            f"the final phase of '{slug}' has not ended, so its private leaderboard stays private "
            f"({when(load(slug).spec, home())})",
            f"reveal after the final phase, or now, recorded as forced: codefest leaderboard {slug} --private "
            "--reveal --force",
        )
    from codefest.leaderboard import board as boards
    from codefest.leaderboard.export import as_csv, as_json
    from codefest.leaderboard.terminal import table

    with err.status(f"{slug}: building the leaderboard") as status:
        built = boards.build(load(slug), home(), private=private, progress=lambda s: status.update(f"{slug}: {s}"))
        publish = publish or reveal  # reading never writes; publishing is asked for
        page = _page(built) if publish or format is Format.html else ""  # the chart costs matplotlib
        if publish:
            _publish(built, page, as_json(built), reveal, forced=force)
    if format is Format.table and out_file is None:
        out.print(table(built, out.width))
        return
    text = {Format.table: None, Format.json: as_json, Format.csv: as_csv, Format.html: lambda _: page}[format]
    rendered = text(built) if text else _plain_table(built)
    if out_file is None:
        sys.stdout.write(rendered)
        return
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(rendered, encoding="utf-8")
    err.print(tagged("wrote", "green", rel(out_file)))


def _page(built: Board) -> str:
    """The board's HTML page; its module (jinja2, and matplotlib for the chart) is imported only for a page that is
    written or published."""
    from codefest.leaderboard.page import render

    return render(built)


def _plain_table(built: Board) -> str:
    from codefest.leaderboard.terminal import table

    recorder = Console(record=True, width=200, file=io.StringIO(), markup=False)  # recorded, not shown
    recorder.print(table(built, recorder.width))
    return recorder.export_text()


def _publish(built: Board, page: str, data: str, reveal: bool, forced: bool = False) -> None:
    """Keep the page in MLflow current; a participant without write access still gets the view."""
    from mlflow.exceptions import MlflowException

    from codefest.core.workspace import home
    from codefest.evaluation.tracking import Tracker, runs_address
    from codefest.leaderboard.publish import publish

    tracker = Tracker(built.slug, home())
    try:
        run_id = publish(tracker, built.view, page, data, public=built.view == "public")
        if reveal:
            run_id = publish(tracker, built.view, page, data, public=True, forced=forced)
    except MlflowException as refused:
        err.print(tagged("not published to MLflow:", "yellow", refused.message))
        return
    public = built.view == "public" or reveal
    where = "the challenge's experiment" if public else "the private experiment"
    err.print(f"published to {where} (run {run_id}, artifact leaderboard.html)", highlight=False)
    address = runs_address(tracker.experiment(private=not public))
    err.print(f"the runs in MLflow: {address}", highlight=False, soft_wrap=True)
