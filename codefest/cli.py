"""The `codefest` command: one entry point for organisers, office developers and participants."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from codefest.errors import CodefestError
from codefest.offline import stay_offline

stay_offline()

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, help=__doc__)
challenges_app = typer.Typer(no_args_is_help=True, help="The declared challenges.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: builders, public bundles and private vaults.")
app.add_typer(challenges_app, name="challenges")
app.add_typer(data_app, name="data")

out = Console()
err = Console(stderr=True)


@challenges_app.command("list")
def challenges_list() -> None:
    """List every challenge found in the repository and in CODEFEST_CHALLENGES_PATH."""
    from challenges.discovery import load_all

    loaded, problems = load_all()
    table = Table("slug", "task", "title", "primary metric", "dataset", "folder", title="Challenges")
    for item in sorted(loaded, key=lambda c: c.spec.slug):
        spec = item.spec
        table.add_row(spec.slug, spec.task, spec.title, spec.primary_metric, spec.dataset.builder, str(item.folder))
    out.print(table)
    for problem in problems:
        err.print(f"[red]error:[/red] {problem.render()}", highlight=False, markup=True)
    if problems:
        raise typer.Exit(2)


@challenges_app.command("show")
def challenges_show(
    slug: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the validated challenge as JSON.")] = False,
) -> None:
    """Show one challenge: its task, data, metrics, phases and limits."""
    from challenges.discovery import load

    item = load(slug)
    if as_json:
        print(item.spec.model_dump_json(indent=2))
        return
    spec = item.spec
    table = Table(show_header=False, title=f"{spec.title} ({spec.slug} v{spec.version})")
    for key, value in (
        ("task", spec.task),
        ("description", spec.description),
        ("dataset", f"{spec.dataset.builder} v{spec.dataset.version} {json.dumps(spec.dataset.options)}"),
        ("metrics", ", ".join(f"{m.name} ({'↑' if m.higher_is_better else '↓'})" for m in spec.metrics)),
        ("primary metric", spec.primary_metric),
        ("tie-breakers", ", ".join(spec.tie_breakers) or "-"),
        ("test split", f"{spec.test_split.public_fraction:.0%} public, seed {spec.test_split.seed}"),
        ("phases", "; ".join(f"{p.name} {p.start}..{p.end}" for p in spec.phases)),
        (
            "submissions",
            f"{spec.submission_limits.per_team_per_day}/day, {spec.submission_limits.total} in all",
        ),
        ("code limits", f"{spec.resources.wall_time_seconds} s, {spec.resources.memory_mb} MB, no network"),
        ("licence", spec.licence),
        ("confidentiality", spec.confidentiality),
        ("folder", str(item.folder)),
    ):
        table.add_row(key, value)
    out.print(table)


@data_app.command("builders")
def data_builders() -> None:
    """List the dataset builders a challenge can name: generators and loaders for real corpora."""
    from shared_datasets.builders import all_builders

    registry = all_builders()
    table = Table("builder", "task", "kind", "options", "what it makes", title="Dataset builders")
    for name in registry:
        b = registry.get(name)
        table.add_row(name, b.task, b.kind, ", ".join(b.options.model_fields), b.summary)
    out.print(table)


@data_app.command("build")
def data_build(
    slugs: Annotated[list[str] | None, typer.Argument(help="Challenges to build; all of them if none given.")] = None,
) -> None:
    """Build public bundles and private vaults under the workspace (CODEFEST_HOME, default ./.codefest)."""
    build_challenges(slugs or [])


def build_challenges(slugs: list[str]) -> None:
    from challenges.discovery import discover, load
    from codefest.workspace import home
    from shared_datasets.heldout import build

    root = home()
    table = Table("challenge", "rows", "dataset sha256", "bundle", "vault", title=f"Built under {root}")
    for slug in slugs or sorted(discover()):
        item = load(slug)
        with err.status(f"{slug}: starting") as status:
            result = build(item, root, lambda step, s=status, name=slug: s.update(f"{name}: {step}"))
        err.print(f"[green]built[/green] {slug}")
        counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
        table.add_row(slug, counts, result.dataset_sha256[:16], _rel(result.bundle), _rel(result.vault))
    out.print(table)


@app.command()
def demo() -> None:
    """The code fest on the bundled data: for now, build every bundled challenge and list them."""
    build_challenges([])
    challenges_list()


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main() -> None:
    try:
        app()
    except CodefestError as problem:
        err.print(f"[red]error:[/red] {problem.render()}", highlight=False)
        sys.exit(2)
