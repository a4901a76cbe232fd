"""The `codefest` command: one entry point for organisers, office developers and participants."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from codefest import console
from codefest.access_cli import app as access_app
from codefest.console import tagged
from codefest.core.errors import CodefestError, printable
from codefest.core.offline import stay_offline
from codefest.core.workspace import home
from codefest.teams_cli import app as teams_app

if TYPE_CHECKING:
    from codefest.evaluation.evaluate import Outcome
    from codefest.evaluation.scorers import ScoringOptions
    from codefest.leaderboard.board import Board

stay_offline()

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, help=__doc__)
challenges_app = typer.Typer(no_args_is_help=True, help="The declared challenges.")
data_app = typer.Typer(no_args_is_help=True, help="Datasets: builders, public bundles and private vaults.")


def _version(asked: bool) -> None:
    if asked:
        from codefest import __version__

        out.print(f"codefest {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print codefest's version and exit.")
    ] = False,
) -> None:
    """Run a code fest of AI pilot projects for IP offices."""


app.add_typer(challenges_app, name="challenges")
app.add_typer(data_app, name="data")
app.add_typer(access_app, name="access")
app.add_typer(teams_app, name="teams")


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"


out = console.make()
err = console.make(stderr=True)


@challenges_app.command("list")
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


@challenges_app.command("show")
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
    from codefest.shared_datasets.builders import all_builders

    registry = all_builders()
    headers = ["builder", "task", "kind", "options", "what it makes"]
    builders = [registry.get(name) for name in registry]
    rows = [[b.name, b.task, b.kind, ", ".join(b.options.model_fields), b.summary] for b in builders]
    out.print(console.records("Dataset builders", headers, rows, {"builder", "task", "kind"}, out.width))


@data_app.command("build")
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
            result = build(item, root, lambda step, s=status, name=slug: s.update(f"{name}: {step}"), new_seed=new_seed)
        err.print(tagged("built", "green", f"{slug}; seeds: {result.seed_summary()}"))
        if result.manifest.warning:
            warnings.append(result.manifest.warning)
            err.print(tagged("warning:", "bold yellow", result.manifest.warning))
        counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
        rows.append([slug, counts, result.dataset_sha256, _rel(result.bundle), _rel(result.vault)])
    headers, whole = (
        ["challenge", "rows", "dataset id", "bundle", "vault"],
        {"challenge", "dataset id", "bundle", "vault"},
    )
    out.print(console.records(f"Built under {root}", headers, rows, whole, out.width))
    for warning in warnings:
        out.print(f"warning: {warning}")


@app.command()
def score(
    slug: Annotated[str | None, typer.Argument(help="A challenge, to score against its public labels.")] = None,
    file: Annotated[Path | None, typer.Argument(help="Predictions to score against the challenge.")] = None,
    split: Annotated[str, typer.Option(help="The challenge's public split with labels: dev or train.")] = "dev",
    task: Annotated[str | None, typer.Option(help="Standalone: classification, translation or search.")] = None,
    gold: Annotated[Path | None, typer.Option(help="Standalone: the gold file.")] = None,
    predictions: Annotated[Path | None, typer.Option(help="Standalone: the predictions file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap.")] = 12345,
    top_k: Annotated[int | None, typer.Option(min=1, help="Classification: symbols counted by precision/F1.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Classification: count symbols scored at least this.")] = None,
    target_lang: Annotated[str | None, typer.Option(help="Translation: target language (picks the tokenizer).")] = None,
    depth: Annotated[int | None, typer.Option(min=1, help="Search: most documents per topic.")] = None,
    level: Annotated[
        int | None, typer.Option(min=1, help="Search: the least grade counted relevant (trec_eval -l).")
    ] = None,
) -> None:
    """Score predictions against a challenge's dev labels (SLUG FILE) or a gold file (--task --gold --predictions)."""
    from codefest.evaluation.problems import InvalidSubmission
    from codefest.evaluation.scoring import score_files

    if task is not None:
        if gold is None or predictions is None or slug is not None:
            raise CodefestError(
                "standalone scoring needs --task, --gold and --predictions, and no challenge",
                "codefest score --task search --gold qrels.txt --predictions run.txt",
            )
        from codefest.evaluation.scorers import ScoringOptions, scorer_for

        scorer_for(task)  # an unknown task fails here, naming the valid ones
        base, provenance, only, target = ScoringOptions(lenient=True), {"gold": _short_hash(gold)}, None, predictions
    else:
        if slug is None or file is None:
            raise CodefestError(
                "give a challenge and a predictions file, or --task with --gold and --predictions",
                "codefest score ipc-classification predictions.jsonl --split dev",
            )
        from codefest.challenges.discovery import load
        from codefest.core.workspace import home
        from codefest.evaluation.challenge import options_for, public_gold

        spec = load(slug).spec
        task, base = spec.task, options_for(spec)
        gold, provenance = public_gold(spec, split, home())
        only, target = [m.name for m in spec.metrics], file
    options = _override(
        base, top_k=top_k, threshold=threshold, target_language=target_lang, ranking_depth=depth, relevance_level=level
    )
    try:
        result = score_files(
            task, gold, target, options, resamples=bootstrap, seed=seed, provenance=provenance, only=only
        )
    except InvalidSubmission as invalid:  # scoring one's own file: no quota to speak of
        raise CodefestError(invalid.problem, "correct the file and score it again") from None
    for warning in result.warnings:  # paths and lines are the user's text: printed as they are
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True, emoji=False)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    table = Table("metric", "value", "95% interval", title=f"{task}: {result.n_items} items")
    reasons = result.not_computable()
    for name, value in result.metrics.items():
        if name in reasons:
            table.add_row(name, reasons[name], "")  # our own text, without markup
            continue
        table.add_row(name, f"{value.value:.4f}", f"[{value.ci_low:.4f}, {value.ci_high:.4f}]")
    out.print(table)
    out.print(f"signature: {result.signature}", highlight=False, soft_wrap=True, markup=False, emoji=False)


def _override(base: ScoringOptions, **changes: object) -> ScoringOptions:
    """The challenge's (or default) options, with what was given on the command line."""
    return replace(base, **{key: value for key, value in changes.items() if value is not None})


def _short_hash(path: Path) -> str:
    from codefest.shared_datasets.files import sha256_file

    if not path.is_file():
        raise CodefestError(f"gold file {path} not found", "give the path of the reference file")
    return sha256_file(path)[:12]


@app.command()
def evaluate(
    slug: Annotated[str, typer.Argument(help="The challenge.")],
    team: Annotated[str | None, typer.Option(help="The submitting team.")] = None,
    predictions: Annotated[Path | None, typer.Option(help="A predictions file for the test set.")] = None,
    code: Annotated[Path | None, typer.Option(help="A pilot folder to run in the sandbox (code submission).")] = None,
    inbox: Annotated[Path | None, typer.Option(help="A folder with one folder per team; new entries only.")] = None,
    baseline: Annotated[bool, typer.Option("--baseline", help="The organisers' baseline: marked, unranked.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Evaluate outside the open phases (recorded).")] = False,
) -> None:
    """Evaluate submissions on the test set (organisers): public and private scores, recorded in MLflow."""
    from codefest.challenges.discovery import load
    from codefest.core.workspace import home
    from codefest.evaluation.evaluate import Evaluator, evaluate_inbox

    given = [x is not None for x in (predictions, code, inbox)]
    if sum(given) != 1 or (inbox is None and team is None) or (inbox is not None and team is not None):
        raise CodefestError(
            "give --team with --predictions or --code, or give --inbox alone",
            f"codefest evaluate {slug} --team office-a --predictions test-predictions.jsonl",
        )
    with err.status(f"{slug}: starting") as status:
        evaluator = Evaluator(load(slug), home(), lambda step: status.update(f"{slug}: {step}"))
        if inbox is not None:
            outcomes = evaluate_inbox(evaluator, inbox)
        elif code is not None:
            outcomes = [evaluator.code(str(team), code, baseline=baseline, force=force)]
        else:
            path: Path = predictions  # type: ignore[assignment]
            outcomes = [evaluator.predictions(str(team), path, baseline=baseline, force=force)]
    if evaluator.warning:
        err.print(tagged("warning:", "yellow", evaluator.warning))
    for outcome in outcomes:
        _show_outcome(evaluator.spec.primary_metric, outcome)
    if inbox is None and not outcomes[0].ok:
        raise typer.Exit(2)


def _show_outcome(primary: str, outcome: Outcome) -> None:
    colour = "green" if outcome.ok else "red"
    source = printable(outcome.source)
    err.print(tagged(outcome.status, colour, f"{printable(outcome.team)}: {source}"))
    for flag in outcome.flags:
        err.print(tagged("for the organisers:", "yellow", flag))
    if outcome.public:
        table = Table("metric (public part)", "value", "95% interval")
        for name, value in outcome.public.items():
            label = f"{name} (primary)" if name == primary else name
            table.add_row(label, f"{value.value:.4f}", f"[{value.ci_low:.4f}, {value.ci_high:.4f}]")
        out.print(table)
    target = out if outcome.ok else err
    target.print(outcome.message, highlight=False, markup=False)
    if outcome.run_id:
        target.print(f"MLflow run: {outcome.run_id}", highlight=False)
    if outcome.quota and outcome.status != "scored":  # a scored outcome's message already says it
        target.print(outcome.quota.describe(), highlight=False)


@app.command()
def new(
    task: Annotated[str, typer.Argument(help="classification, translation or search.")],
    answers: Annotated[list[str] | None, typer.Argument(help="Answers as KEY=VALUE, e.g. team=office-a.")] = None,
    output_dir: Annotated[Path, typer.Option(help="Where the pilot's folder is created.")] = Path("."),
    no_input: Annotated[bool, typer.Option("--no-input", help="Take the defaults for what is not answered.")] = False,
) -> None:
    """Generate a pilot repository from the task's template (office developers)."""
    from codefest.scaffold import bake, parse_answers

    path = bake(task, output_dir, no_input, parse_answers(task, answers or []))
    out.print(tagged("created", "green", str(path)))
    out.print(f"next: cd {path} && nox -s train predict score", highlight=False, markup=False)


@app.command()
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
    """The leaderboard from the challenge's scored MLflow runs, with intervals, rank ranges and tied groups."""
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
    from codefest.leaderboard.page import render
    from codefest.leaderboard.terminal import table

    with err.status(f"{slug}: building the leaderboard") as status:
        built = boards.build(load(slug), home(), private=private, progress=lambda s: status.update(f"{slug}: {s}"))
        publish = publish or reveal  # reading never writes; publishing is asked for
        page = render(built) if publish or format is Format.html else ""  # the chart costs matplotlib
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
    err.print(tagged("wrote", "green", _rel(out_file)))


def _plain_table(built: Board) -> str:
    from codefest.leaderboard.terminal import table

    recorder = Console(record=True, width=200, file=io.StringIO(), markup=False)  # recorded, not shown
    recorder.print(table(built, recorder.width))
    return recorder.export_text()


def _publish(built: Board, page: str, data: str, reveal: bool, forced: bool = False) -> None:
    """Keep the page in MLflow current; a participant without write access still gets the view."""
    from mlflow.exceptions import MlflowException

    from codefest.core.workspace import home
    from codefest.evaluation.tracking import Tracker
    from codefest.leaderboard.publish import publish

    tracker = Tracker(built.slug, home())
    try:
        run_id = publish(tracker, built.view, page, data, public=built.view == "public")
        if reveal:
            run_id = publish(tracker, built.view, page, data, public=True, forced=forced)
    except MlflowException as refused:
        err.print(tagged("not published to MLflow:", "yellow", refused.message))
        return
    where = "the challenge's experiment" if built.view == "public" or reveal else "the private experiment"
    err.print(f"published to {where} (run {run_id}, artifact leaderboard.html)", highlight=False)


@app.command()
def select(
    slug: Annotated[str, typer.Argument(help="The challenge.")],
    run_id: Annotated[str, typer.Argument(help="The MLflow run of the submission to rank.")],
    team: Annotated[str, typer.Option(help="The team the submission belongs to.")],
    force: Annotated[bool, typer.Option("--force", help="Select outside the open phases (recorded).")] = False,
) -> None:
    """Record a team's chosen final submission (challenges with final_submission: selected)."""
    from codefest.challenges.discovery import load
    from codefest.core.workspace import home
    from codefest.leaderboard.selection import select_submission

    spec = load(slug).spec
    message = select_submission(spec, home(), team, run_id, force=force)
    out.print(message, highlight=False, markup=False)


@app.command()
def ui(
    host: Annotated[str, typer.Option(help="The address to listen on; keep localhost.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port.")] = 5000,
) -> None:
    """Start the MLflow UI over the workspace's store (participants read the experiments and leaderboard pages)."""
    from codefest.core.workspace import home
    from codefest.ui import LOG, log_tail, port_free, remote_store, serve, server_command, server_environment

    remote = remote_store()
    if remote:
        out.print(f"the event's tracking server is {remote}: open it in a browser", highlight=False)
        return
    if not port_free(host, port):
        raise CodefestError(
            f"port {port} on {host} is already in use",
            f"stop what uses it, or choose another: codefest ui --port {port + 1}",
        )
    root = home()
    root.mkdir(parents=True, exist_ok=True)
    log = root / LOG
    err.print(f"MLflow UI on http://{host}:{port} over {_rel(root)}; its log: {_rel(log)} (Ctrl+C stops it)")
    code = serve(server_command(root, host, port), server_environment(), log)
    if code != 0:
        raise CodefestError(f"the MLflow server stopped with exit code {code}:\n{log_tail(log)}", f"see {log}")


@app.command()
def demo(
    challenge: Annotated[
        list[str] | None,
        typer.Option("--challenge", help="A challenge to run it on (repeatable); default: the three bundled ones."),
    ] = None,
) -> None:
    """The whole code fest offline: build, bake and train pilots, simulated teams submit, evaluate, leaderboards."""
    from codefest.demo import run

    run(challenge or [], out, err)


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _private_and_printable() -> None:
    """What codefest creates is its user's alone (the store holds private scores, the auth database password hashes);
    a name that is not valid UTF-8 (a file in an inbox) is printed escaped rather than crashing the output."""
    os.umask(0o077)
    workspace = home()
    if workspace.is_dir() and workspace.stat().st_mode & 0o077:
        with contextlib.suppress(OSError):  # read-only: each command that writes says so itself
            workspace.chmod(0o700)  # made by an earlier version or by hand: nobody else may look in
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def main() -> None:
    _private_and_printable()
    try:
        app()
    except CodefestError as problem:
        err.print(tagged("error:", "red", problem.render()))
        sys.exit(2)
