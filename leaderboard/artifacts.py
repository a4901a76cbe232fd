"""What a leaderboard reads from a run's artifacts: per-item scores for the paired tests, and the breakdown."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def _artifact_text(client: MlflowClient, run_id: str, name: str) -> str | None:
    with tempfile.TemporaryDirectory(prefix="codefest-board-") as folder:
        try:
            path = client.download_artifacts(run_id, name, folder)
        except (MlflowException, OSError):
            return None  # an older or incomplete run: the board shows it without what this artifact gives
        return Path(path).read_text(encoding="utf-8")


def per_item_scores(client: MlflowClient, run_id: str, name: str, metric: str) -> dict[str, float] | None:
    """item id -> the score in the run's artifact `name`, or None where the metric has no per-item score (F1)."""
    text = _artifact_text(client, run_id, name)
    if text is None:
        return None
    scores = {}
    for line in text.splitlines():
        if line.strip():
            row = json.loads(line)
            if metric not in row:
                return None
            scores[row["id"]] = float(row[metric])
    return scores


def breakdown(client: MlflowClient, run_id: str) -> dict[str, Any] | None:
    text = _artifact_text(client, run_id, "result.json")
    return None if text is None else json.loads(text).get("breakdown")


def score_matrix(per_entry: list[dict[str, float] | None]) -> np.ndarray | None:
    """(entries, items) on the items every entry was scored on; None unless every entry has per-item scores."""
    if not per_entry or any(scores is None for scores in per_entry):
        return None
    common = sorted(set.intersection(*(set(scores) for scores in per_entry)))  # type: ignore[arg-type]
    if not common:
        return None
    return np.array([[scores[item] for item in common] for scores in per_entry])  # type: ignore[index]
