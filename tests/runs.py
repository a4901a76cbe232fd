"""Hand-made MLflow runs for leaderboard tests: exactly the tags, metrics and artifacts an evaluation records."""

from __future__ import annotations

import json
from pathlib import Path

from codefest.challenges.discovery import load
from codefest.evaluation.challenge import evaluation_signature
from codefest.evaluation.evaluate import PER_ITEM, PUBLIC_PER_ITEM
from codefest.evaluation.names import mlflow_key
from codefest.evaluation.tracking import Tracker

from codefest.core.workspace import vault_dir

DATASET = "f" * 64


def fake_build(slug: str, home: Path) -> str:
    """A vault manifest with a made-up dataset hash: all a leaderboard needs; returns the current signature."""
    folder = vault_dir(slug, home)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"dataset": {"sha256": DATASET}, "labels_public": False}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return evaluation_signature(load(slug).spec, DATASET)


def _metrics(values: dict[str, float]) -> dict[str, float]:
    found = {}
    for name, value in values.items():
        key = mlflow_key(name)
        found |= {key: value, f"{key}_ci_low": value - 0.1, f"{key}_ci_high": value + 0.1}
    return found


def _log(tracker: Tracker, run_id: str, values: dict[str, float]) -> None:
    for key, value in _metrics(values).items():
        tracker.client.log_metric(run_id, key, value)


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
    status: str = "scored",
    role: str = "participant",
    per_item: dict[str, list[float]] | None = None,
    private: dict[str, float] | None = None,
    private_per_item: dict[str, list[float]] | None = None,
) -> str:
    """A submission's public run (and private run, if given) started at `at` ms; returns the public run id.

    Per-item scores go where an evaluation puts them: both parts' in the private run, out of participants' sight.
    """
    tracker = Tracker(slug, home)
    tags = {"team": team, "signature": signature, "role": role, "kind": "predictions"}
    public = tracker.client.create_run(tracker.public, start_time=at, tags=tags, run_name=team).info.run_id
    _log(tracker, public, values)
    if private is not None or per_item:
        run = tracker.client.create_run(tracker.private, start_time=at, tags={**tags, "part": "private"}, run_name=team)
        _log(tracker, run.info.run_id, private or {})
        _per_item(tracker, run.info.run_id, PER_ITEM, private_per_item)
        _per_item(tracker, run.info.run_id, PUBLIC_PER_ITEM, per_item)
        tracker.finish(run.info.run_id, "scored")
        tracker.client.set_tag(public, "private_run_id", run.info.run_id)
    tracker.finish(public, status)
    return public
