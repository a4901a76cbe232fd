"""Throughput of the submissions ledger, and the time to read a large board, on SQLite and on PostgreSQL.

    python benchmarks/ledger.py [--submissions 300] [--board 10000] [--teams 100] [--items 1200] [--postgres URL]

1. receive + claim + finish, one submission after the other in one process (each call its own transaction,
   committed to disk), per second;
2. `Ledger.board` for `--board` scored submissions of `--teams` teams with two metrics, each with an `--items`
   float32 per-item array: the rows and one matrix per metric. The rows are written in bulk first (not timed).

Without --postgres, a throw-away PostgreSQL server is started in a temporary folder (tests/postgres.py).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from codefest.challenges.spec import SubmissionLimits
from codefest.evaluation.ledger import ItemScores, Ledger
from codefest.evaluation.ledger import models as m
from codefest.evaluation.records import Kind, Part, Role, Status
from codefest.evaluation.scoring import MetricValue

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
server = importlib.import_module("tests.postgres")  # the test suite's throw-away PostgreSQL server

METRICS = ("macro_f1", "accuracy")
T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def throughput(ledger: Ledger, n: int) -> dict[str, float]:
    """Calls per second of each step, for `n` submissions of 10 teams."""
    limits = SubmissionLimits(per_team_per_day=n, total=n)
    teams = [f"bench-{i}" for i in range(10)]
    for team in teams:
        ledger.add_team(team)
    ids, timings = np.arange(1200).astype(str).tolist(), {"receive": 0.0, "claim": 0.0, "finish": 0.0}
    per_item = [ItemScores(Part.PRIVATE, ids, {metric: np.random.rand(1200) for metric in METRICS})]
    scores = {part: {metric: MetricValue(0.5, 0.4, 0.6) for metric in METRICS} for part in (Part.PUBLIC, Part.PRIVATE)}
    for i in range(n):
        start = time.perf_counter()
        ledger.receive(
            "bench", teams[i % 10], Kind.PREDICTIONS, f"{i:064x}", 1, "p", None, limits, "main", "participant"
        )
        claimed_at = time.perf_counter()
        claimed = ledger.claim("worker", 60)
        finished_at = time.perf_counter()
        assert claimed is not None
        assert ledger.finish(claimed.id, "worker", Status.SCORED, "scored", scores=scores, per_item=per_item)
        timings["receive"] += claimed_at - start
        timings["claim"] += finished_at - claimed_at
        timings["finish"] += time.perf_counter() - finished_at
    return {step: n / seconds for step, seconds in timings.items()} | {"all three": n / sum(timings.values())}


def fill_board(ledger: Ledger, n: int, teams: int, items: int) -> None:
    """`n` scored submissions written in one transaction, as `finish` would have left them."""
    rng = np.random.default_rng(0)
    order = ItemScores(Part.PRIVATE, [str(i) for i in range(items)], {}).items_sha256
    with Session(ledger.engine) as session, session.begin():
        rows = [m.Team(name=f"team-{t}", key=f"team-{t}", created_at=T0) for t in range(teams)]
        session.add_all(rows)
        session.flush()
        for i in range(n):
            id = str(uuid.uuid4())
            session.add(
                m.Submission(
                    id=id, challenge="board", team_id=rows[i % teams].id, kind=Kind.PREDICTIONS, sha256=f"{i:064x}",
                    size=1, source="p", stored=None, status=Status.SCORED, message="scored", phase="main",
                    role=Role.PARTICIPANT, forced=False, received_at=T0 + dt.timedelta(seconds=i), attempts=1,
                    failed_code_runs_count=True, counts_for_quota=True,
                )
            )  # fmt: skip
            session.flush()
            for metric in METRICS:
                session.add(
                    m.Score(submission_id=id, part=Part.PRIVATE, metric=metric, value=0.5, ci_low=0.4, ci_high=0.6)
                )
                data = rng.random(items, dtype=np.float32).tobytes()
                session.add(
                    m.PerItem(
                        submission_id=id, part=Part.PRIVATE, metric=metric, items_sha256=order, n_items=items, data=data
                    )
                )
            if i % 1000 == 999:
                session.flush()


def board_seconds(ledger: Ledger, n: int, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        board = ledger.board("board", Part.PRIVATE, METRICS)
        times.append(time.perf_counter() - start)
        assert len(board.rows) == n and board.per_item[METRICS[0]].shape[0] == n
    return statistics.median(times)


@contextlib.contextmanager
def databases(postgres: str | None) -> Iterator[dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="codefest-bench-") as tmp:
        sqlite = {"throughput": f"sqlite:///{tmp}/a.db", "board": f"sqlite:///{tmp}/b.db"}
        if postgres:
            yield {"sqlite": sqlite, "postgresql": {"throughput": postgres, "board": postgres}}  # type: ignore[dict-item]
            return
        with server.cluster() as running:
            urls = {
                "throughput": server.new_database(running, "throughput"),
                "board": server.new_database(running, "board"),
            }
            yield {"sqlite": sqlite, "postgresql": urls}  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=300)
    parser.add_argument("--board", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--items", type=int, default=1200)
    parser.add_argument("--postgres", help="a PostgreSQL URL to use instead of a throw-away server")
    args = parser.parse_args()
    with databases(args.postgres) as found:
        for name, urls in found.items():
            root = Path(tempfile.gettempdir())
            rates = throughput(Ledger.open(urls["throughput"], root), args.submissions)  # type: ignore[index]
            shown = ", ".join(f"{step} {rate:,.0f}/s" for step, rate in rates.items())
            print(f"{name}: {args.submissions} submissions: {shown}")
            ledger = Ledger.open(urls["board"], root)  # type: ignore[index]
            start = time.perf_counter()
            fill_board(ledger, args.board, args.teams, args.items)
            filled = time.perf_counter() - start
            print(
                f"{name}: board of {args.board:,} submissions ({args.teams} teams, {len(METRICS)} metrics x "
                f"{args.items} items): {board_seconds(ledger, args.board):.3f} s (filled in {filled:.0f} s)"
            )


if __name__ == "__main__":
    main()
