"""The MLflow UI over the workspace's store, on localhost, lean: one worker and no job runner (see DESIGN.md)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from evaluation.tracking import tracking_uri

LEAN = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}


def remote_store() -> str | None:
    """The tracking server the workspace uses instead of its own store, if any."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return uri if uri.startswith(("http://", "https://")) else None


def mlflow_server(store_uri: str, artifacts: Path, host: str, port: int, *extra: str) -> list[str]:
    """`mlflow server` with one worker, run by codefest's own interpreter; `extra` adds options (an auth app)."""
    command = [sys.executable, "-m", "mlflow", "server", *extra, "--backend-store-uri", store_uri]
    served = ["--artifacts-destination", artifacts.as_uri()]
    return [*command, *served, "--host", host, "--port", str(port), "--workers", "1"]


def server_command(root: Path, host: str, port: int) -> list[str]:
    return mlflow_server(tracking_uri(root), root / "mlartifacts", host, port)


def server_environment() -> dict[str, str]:
    return {**os.environ, **LEAN}  # the offline defaults are already set: importing tracking sets them
