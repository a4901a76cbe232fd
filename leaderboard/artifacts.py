"""What a leaderboard reads from a run's artifacts: per-item scores for the paired tests, and the breakdown."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from codefest.evaluation.records import Artifact, Result
from codefest.evaluation.tracking import Tracker


def per_item_scores(tracker: Tracker, run_id: str, name: str, metric: str) -> dict[str, float] | None:
    """item id -> the score in the run's artifact `name`, or None where the metric has no per-item score (F1)."""
    text = tracker.artifact_text(run_id, name)
    if text is None:
        return None  # an older or incomplete run: the board shows it without rank ranges
    scores = {}
    for line in text.splitlines():
        if line.strip():
            row = json.loads(line)
            if metric not in row:
                return None
            scores[row["id"]] = float(row[metric])
    return scores


def breakdown(tracker: Tracker, run_id: str) -> dict[str, Any] | None:
    """The run's per-group scores from its result.json; None for a run without them (or without a readable one)."""
    text = tracker.artifact_text(run_id, Artifact.RESULT)
    if text is None:
        return None
    try:
        return Result.from_json(json.loads(text)).breakdown
    except ValueError:
        return None


def score_matrix(per_entry: list[dict[str, float] | None]) -> np.ndarray | None:
    """(entries, items) on the items every entry was scored on; None unless every entry has per-item scores."""
    if not per_entry or any(scores is None for scores in per_entry):
        return None
    common = sorted(set.intersection(*(set(scores) for scores in per_entry)))  # type: ignore[arg-type]
    if not common:
        return None
    return np.array([[scores[item] for item in common] for scores in per_entry])  # type: ignore[index]
