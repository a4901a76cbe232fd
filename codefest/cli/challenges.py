"""`codefest challenges`: the declared challenges."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from codefest import console
from codefest.cli.common import err, out
from codefest.console import tagged

if TYPE_CHECKING:
    from codefest.challenges.spec import Challenge

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True, help="The declared challenges.")


@app.command("list")
def challenges_list() -> None:
    """List every challenge found in the repository and in CODEFEST_CHALLENGES_PATH."""
    from codefest.challenges.discovery import load_all

    loaded, problems = load_all()
    headers = ["slug", "task", "title", "primary metric", "dataset", "folder"]
    rows = [
        [c.spec.slug, c.spec.task, c.spec.title, c.spec.primary_metric, c.spec.dataset.builder, str(c.folder)]
        for c in sorted(loaded, key=lambda c: c.spec.slug)
    ]
    whole = {"slug", "task", "primary metric", "dataset", "folder"}
    out.print(console.records("Challenges", headers, rows, whole, out.width))
    for problem in problems:
        err.print(tagged("error:", "red", problem.render()))
    if problems:
        raise typer.Exit(2)


@app.command("show")
def challenges_show(
    slug: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the validated challenge as JSON.")] = False,
) -> None:
    """Show one challenge: its task, data, metrics, phases and limits."""
    from codefest.challenges.discovery import load
    from codefest.shared_datasets.heldout import PUBLIC_LABELS_WARNING, pinned_seeds

    item = load(slug)
    if as_json:
        print(item.spec.model_dump_json(indent=2))
        return
    spec = item.spec
    pinned = pinned_seeds(spec)
    secret = "secret: drawn at the first build, kept in the vault"
    table = Table(show_header=False, title=f"{spec.title} ({spec.slug} v{spec.version})")
    for key, value in (
        ("task", spec.task),
        ("description", spec.description),
        ("dataset", f"{spec.dataset.builder} v{spec.dataset.version} {json.dumps(spec.dataset.options)}"),
        ("metrics", ", ".join(f"{m.name} ({'↑' if m.higher_is_better else '↓'})" for m in spec.metrics)),
        ("primary metric", spec.primary_metric),
        ("tie-breakers", ", ".join(spec.tie_breakers) or "-"),
        ("test split", f"{spec.test_split.public_fraction:.0%} public"),
        ("seeds", f"pinned {', '.join(pinned)}; {PUBLIC_LABELS_WARNING}" if pinned else secret),
        ("phases", _phases(spec)),
        (
            "submissions",
            f"{spec.submission_limits.per_team_per_day}/day, {spec.submission_limits.total} in all",
        ),
        ("code limits", f"{spec.resources.wall_time_seconds} s, {spec.resources.memory_mb} MB, no network"),
        ("licence", spec.licence),
        ("confidentiality", spec.confidentiality),
    ):
        table.add_row(key, value)
    out.print(table)
    out.print(f"folder: {item.folder}")  # a path to type: outside the table, so that no width cuts it


def _phases(spec: Challenge) -> str:
    """The phases as dates where they are known; relative phases before the first build only as days."""
    from codefest.challenges.calendar import describe, opening_day
    from codefest.core.workspace import Workspace

    workspace = Workspace.current()
    if not spec.relative_phases:
        return describe(spec.schedule(dt.date.min))
    if workspace.opened(spec.slug).is_file():
        opened = opening_day(spec.slug, workspace.root)
        return f"{describe(spec.schedule(opened))} (opened {opened} in this workspace)"
    first, days = 1, []
    for phase in spec.phases:
        last = first + (phase.days or 0) - 1
        days.append(f"{phase.name} days {first}-{last}")
        first = last + 1
    return f"{'; '.join(days)}, counted from the first build (dates set by: codefest data build {spec.slug})"
