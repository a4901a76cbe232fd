"""Hand-made MLflow runs for leaderboard tests: exactly the tags, metrics and artifacts an evaluation records."""

from __future__ import annotations

import json
from pathlib import Path

from codefest.challenges.discovery import load
from codefest.evaluation.challenge import evaluation_signature
from codefest.evaluation.names import mlflow_key
from codefest.evaluation.records import Artifact, Kind, Part, Role, Status, Tag
from codefest.evaluation.tracking import Tracker
from codefest.shared_datasets.heldout import MANIFEST

from codefest.core.workspace import Workspace

DATASET = "f" * 64


def fake_build(slug: str, home: Path) -> str:
    """A vault manifest with a made-up dataset hash: all a leaderboard needs; returns the current signature."""
    folder = Workspace(home).vault(slug)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"dataset": {"sha256": DATASET}, "labels_public": False}
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return evaluation_signature(load(slug).spec, DATASET)


def _metrics(values: dict[str, float]) -> dict[str, float]:
    found = {}
    for name, value in values.items():
        key = mlflow_key(name)
        found |= {key: value, f"{key}_ci_low": value - 0.1, f"{key}_ci_high": value + 0.1}
    return found


def _log(tracker: Tracker, run_id: str, values: dict[str, float]) -> None:
    tracker.log_metrics(run_id, _metrics(values))


def _per_item(tracker: Tracker, run_id: str, name: str, per_item: dict[str, list[float]] | None) -> None:
    if per_item:
        n = len(next(iter(per_item.values())))
        rows = [json.dumps({"id": f"t{i}", **{m: v[i] for m, v in per_item.items()}}) for i in range(n)]
        tracker.log_text(run_id, name, "\n".join(rows) + "\n")


def record(
    home: Path,
    slug: str,
    team: str,
    values: dict[str, float],
    *,
    at: int,
    signature: str,
    status: str = Status.SCORED,
    role: str = Role.PARTICIPANT,
    per_item: dict[str, list[float]] | None = None,
    private: dict[str, float] | None = None,
    private_per_item: dict[str, list[float]] | None = None,
) -> str:
    """A submission's public run (and private run, if given) started at `at` ms; returns the public run id.

    Per-item scores go where an evaluation puts them: both parts' in the private run, out of participants' sight.
    """
    tracker = Tracker(slug, home)
    tags = {Tag.TEAM: team, Tag.SIGNATURE: signature, Tag.ROLE: role, Tag.KIND: Kind.PREDICTIONS}
    public = tracker.create_run(tags, name=team, start_time=at)
    _log(tracker, public, values)
    if private is not None or per_item:
        run = tracker.create_run({**tags, Tag.PART: Part.PRIVATE}, private=True, name=team, start_time=at)
        _log(tracker, run, private or {})
        _per_item(tracker, run, Artifact.PER_ITEM, private_per_item)
        _per_item(tracker, run, Artifact.PUBLIC_PER_ITEM, per_item)
        tracker.finish(run, Status.SCORED)
        tracker.set_tags(public, {Tag.PRIVATE_RUN_ID: run})
    tracker.finish(public, status)
    return public
