"""Time to build the leaderboard from many scored submissions in the ledger (SQLite in the workspace).

    python benchmarks/leaderboard_build.py [--submissions 10000] [--teams 100] [--items 1200] [--store DIR]

Fills the ledger with `submissions` scored submissions as an evaluation finishes them: under the current signature,
every metric's value and interval on both parts, every metric's float32 per-item scores on both parts (`items`
each), a breakdown per part. Then times the public and the private board as `codefest leaderboard` builds them
(the ledger opened, the paired bootstrap with its 1,000 resamples included; publishing not). `--store DIR` keeps
the filled workspace for later runs.

Before the ledger (MLflow runs as the ledger, per-item scores in run artifacts), the same 10,000 submissions of
100 teams took 32 s (public) and 60 s (private) on the 2-core machines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from codefest.core.offline import stay_offline

stay_offline()

import numpy as np  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from codefest.challenges.discovery import load  # noqa: E402
from codefest.core.workspace import Workspace  # noqa: E402
from codefest.evaluation.challenge import evaluation_signature  # noqa: E402
from codefest.evaluation.ledger import ItemScores, Ledger  # noqa: E402
from codefest.evaluation.ledger import models as m  # noqa: E402
from codefest.evaluation.records import Kind, Part, Role, Status  # noqa: E402
from codefest.leaderboard.board import build  # noqa: E402
from codefest.shared_datasets.heldout import MANIFEST  # noqa: E402

SLUG = "ipc-classification"
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
BATCH = 500


def _vault(root: Path) -> str:
    """A vault manifest, all a board needs of a built challenge; returns the current signature."""
    spec = load(SLUG).spec
    sha = spec.dataset.sha256 or "0" * 64
    folder = Workspace(root).vault(SLUG)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).write_text(json.dumps({"dataset": {"sha256": sha}, "labels_public": False}), encoding="utf-8")
    return evaluation_signature(spec, sha)


def fill(root: Path, submissions: int, teams: int, items: int) -> None:
    """The rows `Ledger.finish` would leave, written in bulk (the ledger's own benchmark times finishing)."""
    signature, spec = _vault(root), load(SLUG).spec
    metrics = [spec.primary_metric, *spec.tie_breakers]
    order = ItemScores(Part.PUBLIC, [f"t{i}" for i in range(items)], {}).items_sha256
    rng = np.random.default_rng(0)
    skill = rng.uniform(0.3, 0.9, size=teams)
    ledger = Ledger.open(None, root)
    start = time.perf_counter()
    with ledger.engine.begin() as connection:
        connection.execute(
            insert(m.Team), [{"name": f"team-{t:04d}", "key": f"team-{t:04d}", "created_at": T0} for t in range(teams)]
        )
        rows: dict[str, list[dict]] = {"submissions": [], "scores": [], "per_item": [], "breakdowns": []}
        for n in range(submissions):
            team, id = n % teams, str(uuid.uuid4())
            rows["submissions"].append(_submission(id, team + 1, n, signature))
            for part in (Part.PUBLIC, Part.PRIVATE):
                correct = (rng.random((len(metrics), items)) < skill[team]).astype(np.float32)
                for metric, scores in zip(metrics, correct, strict=True):
                    value = float(scores.mean())
                    rows["scores"].append(
                        {"submission_id": id, "part": part, "metric": metric, "value": value}
                        | {"ci_low": value - 0.05, "ci_high": value + 0.05}
                    )
                    rows["per_item"].append(
                        {"submission_id": id, "part": part, "metric": metric, "items_sha256": order}
                        | {"n_items": items, "data": scores.tobytes()}
                    )
                groups = {"A": {"n": items // 2, "value": 0.5}, "B": {"n": items - items // 2, "value": 0.5}}
                breakdown = {"by": "IPC section", "metric": metrics[0], "groups": groups}
                rows["breakdowns"].append({"submission_id": id, "part": part, "data": json.dumps(breakdown)})
            if (n + 1) % BATCH == 0 or n + 1 == submissions:
                for table, found in (
                    (m.Submission, rows["submissions"]),
                    (m.Score, rows["scores"]),
                    (m.PerItem, rows["per_item"]),
                    (m.Breakdown, rows["breakdowns"]),
                ):
                    connection.execute(insert(table), found)
                    found.clear()
            if (n + 1) % 2000 == 0:
                print(f"  {n + 1} submissions recorded ({time.perf_counter() - start:.0f} s)", flush=True)
    ledger.close()


def _submission(id: str, team_id: int, n: int, signature: str) -> dict:
    received = T0 + dt.timedelta(seconds=n)
    return {
        "id": id,
        "challenge": SLUG,
        "team_id": team_id,
        "kind": Kind.PREDICTIONS,
        "sha256": f"{n:064x}",
        "size": 1,
        "source": "predictions.jsonl",
        "stored": None,
        "status": Status.SCORED,
        "message": "scored",
        "phase": "main",
        "role": Role.PARTICIPANT,
        "forced": False,
        "received_at": received,
        "started_at": received,
        "finished_at": received,
        "attempts": 1,
        "failed_code_runs_count": True,
        "counts_for_quota": True,
        "public_run_id": uuid.uuid4().hex,
        "private_run_id": uuid.uuid4().hex,
        "signature": signature,
        "selection_forced": False,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--items", type=int, default=1200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store", type=Path, help="a folder to keep (and reuse) the filled workspace in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.store or Path(tmp)
        os.environ["CODEFEST_HOME"] = str(root)
        os.environ.pop("CODEFEST_DATABASE_URL", None)  # the workspace's own ledger.db
        if not (Workspace(root).vault(SLUG) / MANIFEST).is_file():
            print(f"filling the ledger with {args.submissions} submissions of {args.teams} teams ...", flush=True)
            started = time.perf_counter()
            fill(root, args.submissions, args.teams, args.items)
            print(f"filled in {time.perf_counter() - started:.0f} s")
        challenge = load(SLUG)
        for view in (Part.PUBLIC, Part.PRIVATE):
            times = []
            for _ in range(args.repeat):
                started = time.perf_counter()
                board = build(challenge, root, private=view == Part.PRIVATE)
                times.append(time.perf_counter() - started)
            ranged = sum(e.rank_range is not None for e in board.entries)
            print(
                f"{view} leaderboard from {board.runs_ranked} scored submissions, {len(board.entries)} entries "
                f"({ranged} with rank ranges): median {statistics.median(times):.3f} s "
                f"(min {min(times):.3f}, max {max(times):.3f})"
            )


if __name__ == "__main__":
    main()
