"""`mlflow server` as codefest starts it: lean (one worker, no job runner), and stopped as a whole.

Its store is the workspace's SQLite file by default. A multi-host event sets CODEFEST_MLFLOW_STORE_URI to a
database of its own on the ledger's PostgreSQL server, on the host that runs the server (`codefest ui` or `codefest
access server`); the server keeps the artifacts and serves them (`mlflow-artifacts:/`), so the evaluation workers on
other hosts need nothing but MLFLOW_TRACKING_URI=http://HOST:PORT and write nothing of MLflow's to their own disk.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from codefest.core.offline import stay_offline
from codefest.core.workspace import Workspace

STORE_ENV = "CODEFEST_MLFLOW_STORE_URI"  # the server's store when not the workspace's SQLite file
LEAN = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
STOP_SECONDS = 15  # how long the server may take to stop its workers before they are killed


def remote_store() -> str | None:
    """The tracking server the workspace uses instead of its own store, if any."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return uri if uri.startswith(("http://", "https://")) else None


def server_store(default: str) -> str:
    """The server's store: CODEFEST_MLFLOW_STORE_URI when set, else `default` (a SQLite file of the workspace).

    `postgresql://` means psycopg 3, the driver codefest installs (as for the ledger), not SQLAlchemy's default
    psycopg2; MLflow creates its tables in the database on the first start, but not the database itself."""
    found = os.environ.get(STORE_ENV, "").strip()
    if not found:
        return default
    return "postgresql+psycopg://" + found.removeprefix("postgresql://") if found.startswith("postgresql://") else found


def mlflow_server(store_uri: str, artifacts: Path, host: str, port: int, *extra: str) -> list[str]:
    """`mlflow server` with one worker, run by codefest's own interpreter; `extra` adds options (an auth app).

    `store_uri` is the workspace's store, replaced by CODEFEST_MLFLOW_STORE_URI when that is set; the server stores
    artifacts in `artifacts` and serves them, so that its clients reach them over HTTP only."""
    command = [sys.executable, "-m", "mlflow", "server", *extra, "--backend-store-uri", server_store(store_uri)]
    served = ["--artifacts-destination", artifacts.as_uri()]
    return [*command, *served, "--host", host, "--port", str(port), "--workers", "1"]


def server_command(root: Path, host: str, port: int) -> list[str]:
    """The workspace's server. The tracking module (with MLflow's client, seconds of imports) is loaded here rather
    than with this module: `codefest serve` imports it only to check its port."""
    from codefest.evaluation.tracking import tracking_uri

    return mlflow_server(tracking_uri(root), Workspace(root).artifacts, host, port)


def server_environment() -> dict[str, str]:
    stay_offline()
    return {**os.environ, **LEAN}


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen there now: MLflow's own server only reports a busy port in its log."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def serve(command: list[str], env: dict[str, str], log: Path) -> int:
    """Run the server in a session of its own, its output in `log`, until it ends or we are told to stop.

    SIGTERM or Ctrl+C stop the whole server (its workers too), quietly: no process is left behind, and no worker
    prints a traceback on the terminal. Returns the server's exit code, or 0 when we stopped it.
    """
    asked = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: asked.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with log.open("ab") as sink:
            server = subprocess.Popen(
                command, env=env, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL, start_new_session=True
            )
        while server.poll() is None and not asked.wait(0.2):
            pass
        if server.poll() is not None:
            return server.returncode
        _stop(server)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(server: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
