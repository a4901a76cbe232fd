"""`codefest ui`: the MLflow UI over the workspace's store, on localhost."""

from __future__ import annotations

from typing import Annotated

import typer

from codefest.cli.common import err, out, rel
from codefest.core.errors import CodefestError


def ui(
    host: Annotated[str, typer.Option(help="The address to listen on; keep localhost.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port.")] = 5000,
) -> None:
    """Start the MLflow UI over the workspace's store (participants read the experiments and leaderboard pages)."""
    from codefest.core.workspace import Workspace
    from codefest.evaluation.mlflow_server import (
        log_tail,
        port_free,
        remote_store,
        serve,
        server_command,
        server_environment,
    )
    from codefest.evaluation.tracking import challenge_addresses, ui_base

    if remote_store():
        out.print(f"the event's tracking server is {ui_base()}: open it in a browser", highlight=False)
        return
    if not port_free(host, port):
        raise CodefestError(
            f"port {port} on {host} is already in use",
            f"stop what uses it, or choose another: codefest ui --port {port + 1}",
        )
    workspace = Workspace.current()
    root, log = workspace.root, workspace.ui_log
    root.mkdir(parents=True, exist_ok=True)
    err.print(f"MLflow UI on http://{host}:{port} over {rel(root)}; its log: {rel(log)} (Ctrl+C stops it)")
    for slug, address in challenge_addresses(root, f"http://{host}:{port}").items():  # each sorted by its score
        err.print(f"  {slug}: {address}", highlight=False, soft_wrap=True)
    code = serve(server_command(root, host, port), server_environment(), log)
    if code != 0:
        raise CodefestError(f"the MLflow server stopped with exit code {code}:\n{log_tail(log)}", f"see {log}")
