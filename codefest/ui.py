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


def server_command(root: Path, host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        tracking_uri(root),
        "--artifacts-destination",
        str(root / "mlartifacts"),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def server_environment() -> dict[str, str]:
    return {**os.environ, **LEAN}  # the offline defaults are already set: importing tracking sets them
