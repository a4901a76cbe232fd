"""MLflow as the record of an event: one run per submission, public and private scores in separate experiments.

Participants read the public experiment `<slug>`; the private scores live in `<slug>/private`, which only the
organisers read until the reveal (in tracking-server mode, MLflow's permissions enforce it). A run is marked
`status=scored` last, after its metrics and artifacts, so an interrupted evaluation never looks scored.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codefest.offline import stay_offline
from evaluation.names import mlflow_key
from evaluation.scoring import MetricValue

stay_offline()

from mlflow import MlflowClient  # noqa: E402  (after the telemetry switch)
from mlflow.entities import Metric, RunTag  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.WARNING)  # its database set-up notices are not the user's concern
logging.getLogger("alembic").setLevel(logging.WARNING)

PRIVATE_SUFFIX = "/private"
SCORED = "scored"
PAGE = 1000


def tracking_uri(root: Path) -> str:
    """MLFLOW_TRACKING_URI when set (a tracking server), else a SQLite store in the workspace."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    tags: dict[str, str]
    metrics: dict[str, float]
    start_time: int


class Tracker:
    """The MLflow experiments of one challenge."""

    def __init__(self, slug: str, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.slug, self.root = slug, root
        self.client = MlflowClient(tracking_uri=tracking_uri(root))
        self.public = self._experiment(slug)
        self.private = self._experiment(slug + PRIVATE_SUFFIX)

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        location = None
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            location = (self.root / "mlartifacts" / name.replace("/", "-")).as_uri()
        return self.client.create_experiment(name, artifact_location=location, tags={"codefest.challenge": self.slug})

    def runs(self, filter_string: str = "", private: bool = False) -> list[RecordedRun]:
        """Every run matching the filter, paged through (MlflowClient stops at one page otherwise)."""
        found, token = [], None
        while True:
            page = self.client.search_runs(
                [self.private if private else self.public], filter_string, max_results=PAGE, page_token=token
            )
            found += [RecordedRun(r.info.run_id, r.data.tags, r.data.metrics, r.info.start_time) for r in page]
            token = page.token
            if not token:
                return found

    def start(self, tags: dict[str, str], private: bool = False) -> str:
        """A run named after its team, so the MLflow UI's run list says whose it is."""
        run = self.client.create_run(self.private if private else self.public, tags=tags, run_name=tags.get("team"))
        return run.info.run_id

    def log_scores(self, run_id: str, values: dict[str, MetricValue]) -> None:
        now = int(time.time() * 1000)
        metrics = []
        for name, value in values.items():
            key = mlflow_key(name)
            metrics += [
                Metric(key, value.value, now, 0),
                Metric(f"{key}_ci_low", value.ci_low, now, 0),
                Metric(f"{key}_ci_high", value.ci_high, now, 0),
            ]
        self.client.log_batch(run_id, metrics=metrics)

    def log_json(self, run_id: str, name: str, value: Any) -> None:
        self.client.log_text(run_id, json.dumps(value, indent=2, ensure_ascii=False), name)

    def log_text(self, run_id: str, name: str, text: str) -> None:
        self.client.log_text(run_id, text, name)

    def finish(self, run_id: str, status: str, tags: dict[str, str] | None = None) -> None:
        """The status tag goes last: it is what the leaderboard reads."""
        extra = [RunTag(k, v) for k, v in (tags or {}).items()]
        self.client.log_batch(run_id, tags=[*extra, RunTag("status", status)])
        self.client.set_terminated(run_id, "FINISHED" if status == SCORED else "FAILED")
