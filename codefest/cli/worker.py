"""`codefest worker`: an evaluation worker of a multi-host event, on the Celery broker CODEFEST_BROKER_URL."""

from __future__ import annotations

from typing import Annotated

import typer


def worker(
    queues: Annotated[
        str, typer.Option(help="The queues to take work from, comma-separated: score (predictions files), code.")
    ] = "score,code",
    concurrency: Annotated[int, typer.Option(min=1, help="Evaluations run at once (pool processes).")] = 1,
    loglevel: Annotated[str, typer.Option(help="The log's level: DEBUG, INFO, WARNING.")] = "INFO",
) -> None:
    """Evaluate submissions from the broker's queues until SIGTERM (the evaluations in hand are finished first)."""
    from codefest.evaluation.queue_worker import run

    code = run(queues.split(","), concurrency, loglevel.upper())
    if code:
        raise typer.Exit(code)
