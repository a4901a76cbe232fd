"""`codefest evaluate` and `codefest select`: the organisers' side of a submission."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from codefest.cli.common import err, out
from codefest.console import tagged
from codefest.core.errors import CodefestError, printable

if TYPE_CHECKING:
    from codefest.evaluation.evaluate import Evaluator, Outcome


def evaluate(
    slug: Annotated[str, typer.Argument(help="The challenge.")],
    team: Annotated[str | None, typer.Option(help="The submitting team.")] = None,
    predictions: Annotated[Path | None, typer.Option(help="A predictions file for the test set.")] = None,
    code: Annotated[Path | None, typer.Option(help="A pilot folder to run in the sandbox (code submission).")] = None,
    inbox: Annotated[Path | None, typer.Option(help="A folder with one folder per team; new entries only.")] = None,
    baseline: Annotated[bool, typer.Option("--baseline", help="The organisers' baseline: marked, unranked.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Evaluate outside the open phases (recorded).")] = False,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="With CODEFEST_BROKER_URL and --inbox: return once every entry has its outcome."),
    ] = False,
) -> None:
    """Evaluate submissions on the test set (organisers): recorded in the ledger, scores in MLflow. With
    CODEFEST_BROKER_URL set, the entries of --inbox are queued in the ledger and sent to the broker's workers."""
    from codefest.challenges.discovery import load
    from codefest.core import collector
    from codefest.core.workspace import home
    from codefest.evaluation import broker, devices
    from codefest.evaluation.evaluate import Evaluator, evaluate_inbox
    from codefest.evaluation.roster import open_ledger

    given = [x is not None for x in (predictions, code, inbox)]
    if sum(given) != 1 or (inbox is None and team is None) or (inbox is not None and team is not None):
        raise CodefestError(
            "give --team with --predictions or --code, or give --inbox alone",
            f"codefest evaluate {slug} --team office-a --predictions test-predictions.jsonl",
        )
    queued = inbox is not None and broker.configured() is not None
    if not queued:
        devices.checked()  # it runs pilots itself: a GPU of CODEFEST_GPUS without its node is refused at once
    with err.status(f"{slug}: starting") as status:
        root = home()
        ledger = open_ledger(root)
        enqueue = (lambda row: broker.enqueue(ledger, row.id, row.kind)) if queued else None
        progress = lambda step: status.update(f"{slug}: {step}")  # noqa: E731
        evaluator = Evaluator(load(slug), root, progress, ledger, enqueue)
        collector.started()  # loaded: an inbox may hold many evaluations
        if inbox is not None:
            outcomes = evaluate_inbox(evaluator, inbox)
            if queued and wait:
                outcomes = _waited(evaluator, outcomes, progress)
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


def _waited(evaluator: Evaluator, outcomes: list[Outcome], progress: Callable[[str], None]) -> list[Outcome]:
    """The outcomes once the broker's workers have evaluated every queued entry, read from the ledger."""
    from codefest.evaluation import broker
    from codefest.evaluation.evaluate import Outcome
    from codefest.evaluation.records import Part, Status
    from codefest.evaluation.scoring import MetricValue

    ids = [o.submission_id for o in outcomes if o.status == "queued" and o.submission_id]
    rows = broker.wait_ended(
        evaluator.ledger, ids, lambda done, total: progress(f"{done} of {total} queued entries evaluated")
    )
    metrics = [m.name for m in evaluator.spec.metrics]
    board = {r.submission_id: r for r in evaluator.ledger.board(evaluator.spec.slug, Part.PUBLIC, metrics).rows}
    ended = []
    for outcome in outcomes:
        row = rows.get(outcome.submission_id or "")
        if row is None:
            ended.append(outcome)
            continue
        quota = evaluator.quota(row.team)
        found = board.get(row.id)
        public = {
            name: MetricValue(found.values[name], *found.intervals[name]) for name in metrics if found is not None
        }
        message = f"scored; {quota.describe()}" if row.status == Status.SCORED else row.message
        ended.append(
            Outcome(row.team, outcome.source, row.status, message, row.public_run_id, public, quota, [], row.id)
        )
    return ended


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
    if outcome.submission_id:
        target.print(f"submission: {outcome.submission_id}", highlight=False)
    if outcome.run_id:
        target.print(f"MLflow run: {outcome.run_id}", highlight=False)
    if outcome.quota and outcome.status != "scored":  # a scored outcome's message already says it
        target.print(outcome.quota.describe(), highlight=False)


def select(
    slug: Annotated[str, typer.Argument(help="The challenge.")],
    run_id: Annotated[str, typer.Argument(help="The submission to rank: its id, or its public MLflow run.")],
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
