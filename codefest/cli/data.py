"""`codefest data`: dataset builders, public bundles and private vaults."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from codefest import console
from codefest.cli.common import err, out, rel
from codefest.console import tagged

if TYPE_CHECKING:
    from rich.status import Status

app = typer.Typer(
    rich_markup_mode=None, no_args_is_help=True, help="Datasets: builders, public bundles and private vaults."
)


@app.command("builders")
def data_builders() -> None:
    """List the dataset builders a challenge can name: generators and loaders for real corpora."""
    from codefest.shared_datasets.builders import all_builders

    registry = all_builders()
    headers = ["builder", "task", "kind", "options", "what it makes"]
    builders = [registry.get(name) for name in registry]
    rows = [[b.name, b.task, b.kind, ", ".join(b.options.model_fields), b.summary] for b in builders]
    out.print(console.records("Dataset builders", headers, rows, {"builder", "task", "kind"}, out.width))


@app.command("build")
def data_build(
    slugs: Annotated[list[str] | None, typer.Argument(help="Challenges to build; all of them if none given.")] = None,
    new_seed: Annotated[
        bool,
        typer.Option(
            "--new-seed",
            help="Draw new secret seeds instead of reusing the vault's: new test labels and partition. "
            "Never during a running event.",
        ),
    ] = False,
) -> None:
    """Build public bundles and private vaults under the workspace (CODEFEST_HOME, default ./.codefest).

    Seeds that challenge.yaml does not pin are secret: drawn at the first build, kept in the vault and reused by
    every rebuild, which therefore writes the same bytes.
    """
    build_challenges(slugs or [], new_seed=new_seed)


def build_challenges(slugs: list[str], *, new_seed: bool = False) -> None:
    from codefest.challenges.discovery import discover, load
    from codefest.core.workspace import home
    from codefest.shared_datasets.heldout import build

    root = home()
    rows, warnings = [], []
    for slug in slugs or sorted(discover()):
        item = load(slug)
        with err.status(f"{slug}: starting") as status:
            result = build(item, root, _progress(status, slug), new_seed=new_seed)
        err.print(tagged("built", "green", f"{slug}; seeds: {result.seed_summary()}"))
        if result.manifest.warning:
            warnings.append(result.manifest.warning)
            err.print(tagged("warning:", "bold yellow", result.manifest.warning))
        counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
        rows.append([slug, counts, result.dataset_sha256, rel(result.bundle), rel(result.vault)])
    headers, whole = (
        ["challenge", "rows", "dataset id", "bundle", "vault"],
        {"challenge", "dataset id", "bundle", "vault"},
    )
    out.print(console.records(f"Built under {root}", headers, rows, whole, out.width))
    for warning in warnings:
        out.print(f"warning: {warning}")


def _progress(status: Status, slug: str) -> Callable[[str], None]:
    return lambda step: status.update(f"{slug}: {step}")
