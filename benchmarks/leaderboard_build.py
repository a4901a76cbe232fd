"""Time to build the leaderboard from many scored submissions in the SQLite store.

    python benchmarks/leaderboard_build.py [--submissions 10000] [--teams 100] [--store DIR]

Fills a store with `submissions` public runs (and their private runs) as evaluations record them: the tags, the
metrics with their intervals, and the per-item scores. Then times the public and the private board, built as
`codefest leaderboard` builds them (the paired bootstrap included; publishing not). `--store DIR` keeps the
filled store for later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from codefest.core.offline import stay_offline

stay_offline()

import numpy as np  # noqa: E402
from codefest.challenges.discovery import load  # noqa: E402
from codefest.evaluation.challenge import evaluation_signature  # noqa: E402
from codefest.evaluation.names import mlflow_key  # noqa: E402
from codefest.evaluation.records import Artifact, Kind, Part, Role, Status, Tag  # noqa: E402
from codefest.evaluation.tracking import Tracker  # noqa: E402
from codefest.leaderboard.board import build  # noqa: E402
from codefest.shared_datasets.heldout import MANIFEST  # noqa: E402

from codefest.core.workspace import Workspace  # noqa: E402

SLUG = "ipc-classification"
PUBLIC_ITEMS = 360  # the public part of the bundled challenge's test set


def _metrics(spec_metrics: list[str], scores: np.ndarray) -> dict[str, float]:
    value = float(scores.mean())
    found: dict[str, float] = {}
    for name in spec_metrics:
        key = mlflow_key(name)
        found |= {key: value, f"{key}_ci_low": value - 0.05, f"{key}_ci_high": value + 0.05}
    return found


def _per_item(tracker: Tracker, run_id: str, name: str, metric: str, scores: np.ndarray) -> None:
    rows = (json.dumps({"id": f"t{i}", metric: float(s)}) for i, s in enumerate(scores))
    tracker.log_text(run_id, name, "\n".join(rows) + "\n")


def _record(tracker: Tracker, tags: dict[str, str], names: list[str], scores: np.ndarray, private: bool) -> str:
    run_id = tracker.create_run(tags, private, name=tags[Tag.TEAM])
    tracker.log_metrics(run_id, _metrics(names, scores))
    return run_id


def fill(root: Path, submissions: int, teams: int) -> None:
    spec = load(SLUG).spec
    sha = spec.dataset.sha256 or "0" * 64
    folder = Workspace(root).vault(SLUG)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"dataset": {"sha256": sha}, "labels_public": False}
    (folder / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    signature = evaluation_signature(spec, sha)
    names = [spec.primary_metric, *spec.tie_breakers]
    tracker = Tracker(SLUG, root)
    rng = np.random.default_rng(0)
    skill = rng.uniform(0.3, 0.9, size=teams)
    start = time.perf_counter()
    for n in range(submissions):
        team = n % teams
        tags = {
            Tag.TEAM: f"team-{team:04d}",
            Tag.SIGNATURE: signature,
            Tag.ROLE: Role.PARTICIPANT,
            Tag.KIND: Kind.PREDICTIONS,
        }
        public_scores, private_scores = (rng.random(PUBLIC_ITEMS) < skill[team] for _ in range(2))
        public = _record(tracker, tags, names, public_scores, False)
        private = _record(tracker, {**tags, Tag.PART: Part.PRIVATE}, names, private_scores, True)
        _per_item(tracker, private, Artifact.PER_ITEM, names[0], private_scores)  # both parts': in the private run
        _per_item(tracker, private, Artifact.PUBLIC_PER_ITEM, names[0], public_scores)
        tracker.finish(private, Status.SCORED)
        tracker.finish(public, Status.SCORED, {Tag.PRIVATE_RUN_ID: private})
        if (n + 1) % 1000 == 0:
            print(f"  {n + 1} submissions recorded ({time.perf_counter() - start:.0f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", type=Path, help="a folder to keep (and reuse) the filled workspace in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.store or Path(tmp)
        os.environ["CODEFEST_HOME"] = str(root)
        if not (root / "mlflow.db").is_file():
            print(f"filling the store with {args.submissions} submissions of {args.teams} teams ...", flush=True)
            started = time.perf_counter()
            fill(root, args.submissions, args.teams)
            print(f"filled in {time.perf_counter() - started:.0f} s")
        challenge = load(SLUG)
        for view in (Part.PUBLIC, Part.PRIVATE):
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                board = build(challenge, root, private=view == Part.PRIVATE)
                times.append(time.perf_counter() - started)
            print(
                f"{view} leaderboard from {board.runs_ranked} scored runs, {len(board.entries)} entries: "
                f"median {statistics.median(times):.1f} s (min {min(times):.1f}, max {max(times):.1f})"
            )


if __name__ == "__main__":
    main()
