"""Hand-made submissions for leaderboard tests: recorded in the ledger exactly as an evaluation finishes them (scores
per part, per-item scores, the signature), with MLflow runs where a test needs real ones."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path

import numpy as np

from codefest.challenges.discovery import load
from codefest.challenges.spec import SubmissionLimits
from codefest.core.workspace import Workspace
from codefest.evaluation.challenge import evaluation_signature
from codefest.evaluation.ledger import ItemScores, Ledger, statuses
from codefest.evaluation.names import mlflow_key
from codefest.evaluation.records import Kind, Part, Role, Status, Tag
from codefest.evaluation.scoring import MetricValue
from codefest.evaluation.tracking import Tracker
from codefest.shared_datasets.heldout import MANIFEST

DATASET = "f" * 64
LIMITS = SubmissionLimits(per_team_per_day=1000, total=1000)
WORKER = "tests"
LEASE_SECONDS = 1e9  # a submission left running is never taken over


def fake_build(slug: str, home: Path) -> str:
    """A vault manifest with a made-up dataset hash: all a leaderboard needs; returns the current signature."""
    folder = Workspace(home).vault(slug)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"dataset": {"sha256": DATASET}, "labels_public": False}
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    return evaluation_signature(load(slug).spec, DATASET)


def _values(values: dict[str, float]) -> dict[str, MetricValue]:
    return {name: MetricValue(value, value - 0.1, value + 0.1) for name, value in values.items()}


def _items(part: str, per_item: dict[str, list[float]] | None) -> list[ItemScores]:
    if not per_item:
        return []
    n = len(next(iter(per_item.values())))
    return [ItemScores(part, [f"t{i}" for i in range(n)], {m: np.array(v) for m, v in per_item.items()})]


def _mlflow_runs(
    home: Path,
    slug: str,
    team: str,
    values: dict,
    private: dict | None,
    at: int,
    signature: str,
    status: str,
    role: str,
) -> tuple[str, str | None]:
    """The public run (and the private one) an evaluation leaves in MLflow, with its tags and metrics."""
    tracker = Tracker(slug, home)
    tags = {Tag.TEAM: team, Tag.SIGNATURE: signature, Tag.ROLE: role, Tag.KIND: Kind.PREDICTIONS}
    metrics = {mlflow_key(name): value for name, value in values.items()}
    public = tracker.create_run(tags, name=team, start_time=at)
    tracker.log_metrics(public, metrics)
    private_run = None
    if private is not None:
        private_run = tracker.create_run({**tags, Tag.PART: Part.PRIVATE}, private=True, name=team, start_time=at)
        tracker.log_metrics(private_run, {mlflow_key(name): value for name, value in private.items()})
        tracker.finish(private_run, Status.SCORED)
        tracker.set_tags(public, {Tag.PRIVATE_RUN_ID: private_run})
    tracker.finish(public, status)
    return public, private_run


def _enrolled(ledger: Ledger, team: str) -> None:
    if team.casefold() not in {name.casefold() for name in ledger.teams()}:
        ledger.add_team(team)


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
    mlflow: bool = False,
) -> str:
    """A submission received at `at` ms, evaluated with these public (and private) scores; returns its public MLflow
    run id: a real run with `mlflow`, else a made-up one (the ledger names it all the same)."""
    public_run, private_run = uuid.uuid4().hex, uuid.uuid4().hex if private is not None else None
    if mlflow:
        public_run, private_run = _mlflow_runs(home, slug, team, values, private, at, signature, status, role)
    now = dt.datetime.fromtimestamp(at / 1000, dt.UTC)
    ledger = Ledger.open(None, home)
    try:
        _enrolled(ledger, team)
        sha = uuid.uuid4().hex * 2
        source = f"{team}.jsonl"
        received = ledger.receive(slug, team, Kind.PREDICTIONS, sha, 1, source, None, LIMITS, "main", role, now=now)
        claimed = ledger.claim(WORKER, LEASE_SECONDS, now=now)
        assert claimed is not None and claimed.id == received.id
        if status == statuses.RUNNING:
            return public_run
        scored = status == Status.SCORED
        scores = {Part.PUBLIC: _values(values)} | ({Part.PRIVATE: _values(private)} if private is not None else {})
        finished = ledger.finish(
            claimed.id,
            WORKER,
            status,
            status,
            scores=scores if scored else None,
            per_item=_items(Part.PUBLIC, per_item) + _items(Part.PRIVATE, private_per_item) if scored else (),
            public_run_id=public_run,
            private_run_id=private_run,
            signature=signature,
            now=now,
        )
        assert finished
    finally:
        ledger.close()
    return public_run
