"""`codefest worker`: an evaluation worker of a multi-host event, on the Celery broker CODEFEST_BROKER_URL."""

from __future__ import annotations

from typing import Annotated

import typer


def worker(
    queues: Annotated[
        str | None,
        typer.Option(
            help="The queues to take work from, comma-separated: score (predictions files), code, code-gpu (code "
            "that needs GPUs). Default: score,code, and code-gpu with --gpus.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Evaluations run at once (pool processes).")] = 1,
    gpus: Annotated[
        str | None,
        typer.Option(
            help="The GPUs code runs may use, by index (the N of /dev/nvidiaN, which must be a character device; "
            "CODEFEST_DEVICE_ROOT names another folder than /dev), comma-separated: 0,1.",
            envvar="CODEFEST_GPUS",
            show_default=False,
        ),
    ] = None,
    loglevel: Annotated[str, typer.Option(help="The log's level: DEBUG, INFO, WARNING.")] = "INFO",
) -> None:
    """Evaluate submissions from the broker's queues until SIGTERM (the evaluations in hand are finished first)."""
    from codefest.evaluation.queue_worker import run

    code = run(None if queues is None else queues.split(","), concurrency, loglevel.upper(), gpus)
    if code:
        raise typer.Exit(code)
