"""MLflow for the pilot's experiments: a SQLite store in the repository unless MLFLOW_TRACKING_URI says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow  # noqa: E402  (after the telemetry switch)

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = "{{ cookiecutter.project_slug }}"


def start(run_name: str) -> mlflow.ActiveRun:
    mlflow.set_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ROOT / 'mlflow.db'}")
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        mlflow.create_experiment(EXPERIMENT, artifact_location=(ROOT / "mlartifacts").as_uri())
    mlflow.set_experiment(EXPERIMENT)
    return mlflow.start_run(run_name=run_name)
