"""`codefest serve`: the event as a service, /api/v1 under uvicorn, with its evaluation workers; with
CODEFEST_BROKER_URL set, it starts none and sends each queued submission to the broker's workers instead."""

from __future__ import annotations

import signal
from typing import Annotated

import typer

from codefest.cli.common import err
from codefest.core.errors import CodefestError


def serve(
    host: Annotated[str, typer.Option(help="The address to listen on; put a TLS proxy in front for other hosts.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="The port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=0, help="Evaluation worker processes to start (0: none here; none when CODEFEST_BROKER_URL is set)."
        ),
    ] = 1,
    database: Annotated[
        str | None,
        typer.Option(help="The ledger's database URL; default CODEFEST_DATABASE_URL, else the workspace's SQLite."),
    ] = None,
    max_upload_mb: Annotated[
        float | None, typer.Option(min=0.001, help="The most one upload may hold, in MB (default 2048).")
    ] = None,
    rate_limit: Annotated[
        float, typer.Option(min=0.1, help="Requests a minute per team token (and per address), after a burst.")
    ] = 120.0,
) -> None:
    """Serve the event's API to participants until SIGTERM or Ctrl+C, with evaluation workers."""
    import uvicorn

    from codefest.core import collector
    from codefest.core.workspace import Workspace
    from codefest.evaluation import broker
    from codefest.evaluation import workers as pool
    from codefest.evaluation.mlflow_server import port_free
    from codefest.service.app import PREFIX, Settings, create_app
    from codefest.service.security import Rate

    if not port_free(host, port):
        raise CodefestError(
            f"port {port} on {host} is already in use",
            f"stop what uses it, or choose another: codefest serve --port {port + 1}",
        )
    root = Workspace.current().root
    root.mkdir(parents=True, exist_ok=True)
    settings = Settings(rate=Rate(per_minute=rate_limit, burst=max(1, min(30, int(rate_limit)))))
    if max_upload_mb is not None:
        settings = Settings(max_upload_bytes=int(max_upload_mb * 1024**2), rate=settings.rate)
    app = create_app(root, database, settings)
    for sig in (signal.SIGTERM, signal.SIGINT):  # uvicorn raises the signal it stopped for again once it has
        signal.signal(sig, lambda *_: None)  # ... and this takes it: the stop was asked for, not a failure
    url = broker.configured()
    if url:  # the evaluations are the Celery workers' (`codefest worker`): none starts here
        workers = 0
        engine = f"submissions go to the workers of {broker.shown(url)}"
    else:
        engine = f"{workers} worker(s)"
    started = [pool.start(root, database) for _ in range(workers)]
    err.print(f"codefest API on http://{host}:{port}{PREFIX} ({engine}); SIGTERM or Ctrl+C stops it")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info", lifespan="on"))
    collector.started()
    try:
        server.run()
    finally:
        if any(worker.poll() is None for worker in started):  # a worker may take its grace period: say why we wait
            err.print(
                f"stopping {len(started)} worker(s): each has up to {pool.STOP_SECONDS:g} s to finish the submission "
                "it is evaluating; one left unfinished is evaluated again at the next start",
                highlight=False,
            )
        pool.stop_all(started)
    if not server.started and not server.should_exit:
        raise CodefestError(f"the API server could not start on {host}:{port}", "see the lines above")
