"""What a leaderboard reads from the ledger, as columns: every scored submission under the current signature with
its scores on one part, and then, for the few submissions that represent the teams, their per-item scores and
breakdowns.

`Ledger.board` stacks every metric's per-item scores of every submission (10,000 submissions of three metrics on
1,200 items: 140 MB); a board needs the primary metric's of its ~100 entries only, so the arrays are read for
those alone, once they are chosen on the scores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from codefest.challenges.efficiency import MEASURES
from codefest.core.collector import cycles_uncollected
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.ledger import engine as engines
from codefest.evaluation.ledger import models as m
from codefest.evaluation.ledger.store import FLOAT32
from codefest.evaluation.records import Role, Status

# the ledger's columns of `MEASURES`, in their order; NULL (a predictions file) is read as NaN
MEASURED = (m.Submission.code_seconds, m.Submission.peak_memory_mb, m.Submission.cpu_seconds)
assert len(MEASURED) == len(MEASURES)


@dataclass(frozen=True)
class Submissions:
    """The scored submissions of a challenge under one signature, oldest first (row i of every column is one)."""

    ids: list[str]
    teams: list[str]
    baseline: np.ndarray  # bool
    received_ms: np.ndarray  # int64
    selected_ms: np.ndarray  # int64; -1 where the team never selected it
    public_run_ids: list[str | None]
    private_run_ids: list[str | None]
    measures: np.ndarray  # (submissions, MEASURES) float64: what each code run used; NaN for a predictions file

    def __len__(self) -> int:
        return len(self.ids)

    def only(self, keep: np.ndarray) -> Submissions:
        """The rows where `keep` (bool) holds."""
        where = np.flatnonzero(keep)
        return Submissions(
            ids=[self.ids[i] for i in where],
            teams=[self.teams[i] for i in where],
            baseline=self.baseline[where],
            received_ms=self.received_ms[where],
            selected_ms=self.selected_ms[where],
            public_run_ids=[self.public_run_ids[i] for i in where],
            private_run_ids=[self.private_run_ids[i] for i in where],
            measures=self.measures[where],
        )

    def measure(self, name: str) -> np.ndarray:
        """One of `MEASURES` of every submission."""
        return self.measures[:, list(MEASURES).index(name)]


@dataclass(frozen=True)
class Scores:
    """Each submission's value and interval of each metric on one part: (submissions, metrics) arrays, NaN where
    a submission has no score (or the gold labels cannot support the metric)."""

    metrics: tuple[str, ...]
    values: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def of(self, metric: str) -> np.ndarray:
        return self.values[:, self.metrics.index(metric)]

    def only(self, keep: np.ndarray) -> Scores:
        return Scores(self.metrics, self.values[keep], self.low[keep], self.high[keep])


def _reading(ledger: Ledger) -> Any:
    """A read-only transaction on a plain connection (on SQLite a deferred BEGIN, which never waits for the write
    lock): rows as tuples, without the ORM's per-row work."""
    return ledger.engine.execution_options(**{engines.READ: True}).begin()


def _scored(challenge: str, signature: str) -> Any:
    return (
        (m.Submission.challenge == challenge)
        & (m.Submission.status == Status.SCORED)
        & (m.Submission.signature == signature)
    )


@cycles_uncollected()  # 10,000 submissions are ~100,000 tuples, in no cycle: the collector took half the time
def submissions(ledger: Ledger, challenge: str, signature: str) -> Submissions:
    """One query: the scored submissions of `challenge` under `signature`, oldest first."""
    query = (
        select(
            m.Submission.id,
            m.Team.name,
            m.Submission.role,
            m.Submission.received_at,
            m.Submission.selected_at,
            m.Submission.public_run_id,
            m.Submission.private_run_id,
            *MEASURED,
        )
        .join(m.Team)
        .where(_scored(challenge, signature))
        .order_by(m.Submission.received_at, m.Submission.id)
    )
    with _reading(ledger) as connection:
        rows = connection.execute(query).all()
    return Submissions(
        ids=[row[0] for row in rows],
        teams=[row[1] for row in rows],
        baseline=np.array([row[2] == Role.BASELINE for row in rows], dtype=bool),
        received_ms=np.array([_ms(row[3]) for row in rows], dtype=np.int64),
        selected_ms=np.array([-1 if row[4] is None else _ms(row[4]) for row in rows], dtype=np.int64),
        public_run_ids=[row[5] for row in rows],
        private_run_ids=[row[6] for row in rows],
        measures=np.array([row[7:] for row in rows], dtype=np.float64).reshape(len(rows), len(MEASURES)),
    )


@cycles_uncollected()  # 10,000 submissions are ~100,000 tuples, in no cycle: the collector took half the time
def scores(
    ledger: Ledger, challenge: str, signature: str, parts: Sequence[str], metrics: Sequence[str], ids: list[str]
) -> dict[str, Scores]:
    """One query: the `metrics` on each of `parts` of the submissions `ids` (as `submissions` read them), in their
    order."""
    metrics = tuple(metrics)
    query = (
        select(m.Score.submission_id, m.Score.part, m.Score.metric, m.Score.value, m.Score.ci_low, m.Score.ci_high)
        .join(m.Submission)
        .where(_scored(challenge, signature), m.Score.part.in_(list(parts)), m.Score.metric.in_(metrics))
    )
    with _reading(ledger) as connection:
        # the driver's own tuples: no column here needs SQLAlchemy's result processing, and building 60,000 Row
        # objects (10,000 submissions, 3 metrics, 2 parts) takes longer than the query
        found = connection.execute(query).cursor.fetchall()
    index = {id: i for i, id in enumerate(ids)}
    layer = {part: k for k, part in enumerate(parts)}
    column = {metric: j for j, metric in enumerate(metrics)}
    table = np.full((3, len(parts), len(ids), len(metrics)), np.nan)  # value, low, high
    if found:
        id, part, metric, *numbers = zip(*found, strict=True)
        rows = np.fromiter((index.get(x, -1) for x in id), dtype=np.intp, count=len(found))
        known = rows >= 0  # a submission scored since `submissions` read them waits for the next build
        parts_at = np.fromiter((layer[x] for x in part), dtype=np.intp, count=len(found))
        columns = np.fromiter((column[x] for x in metric), dtype=np.intp, count=len(found))
        values = np.array(numbers, dtype=np.float64)  # None (NULL, NaN on SQLite) becomes NaN
        table[:, parts_at[known], rows[known], columns[known]] = values[:, known]
    return {part: Scores(metrics, table[0, k], table[1, k], table[2, k]) for part, k in layer.items()}


def per_item(ledger: Ledger, ids: Sequence[str], part: str, metric: str) -> np.ndarray | None:
    """The per-item scores of `metric` on `part` of the submissions `ids`, as a float32 (submissions, items) matrix
    in their order; None unless every one has them, in one order of items (one row cannot be compared otherwise)."""
    if not ids:
        return None
    query = select(m.PerItem.submission_id, m.PerItem.items_sha256, m.PerItem.n_items, m.PerItem.data).where(
        m.PerItem.submission_id.in_(list(ids)), m.PerItem.part == part, m.PerItem.metric == metric
    )
    with _reading(ledger) as connection:
        found = {id: (sha, n, data) for id, sha, n, data in connection.execute(query)}
    if len(found) < len(set(ids)) or len({sha for sha, _, _ in found.values()}) != 1:
        return None
    n_items = next(iter(found.values()))[1]
    if n_items == 0:
        return None
    return np.frombuffer(b"".join(found[id][2] for id in ids), dtype=FLOAT32).reshape(len(ids), n_items)


def items_scored(ledger: Ledger, ids: Sequence[str], metric: str) -> dict[str, int]:
    """How many test items each of the submissions `ids` was scored on, both parts together (the run predicted them
    all): the size of each per-item array of `metric`, never the arrays themselves."""
    if not ids:
        return {}
    query = select(m.PerItem.submission_id, m.PerItem.n_items).where(
        m.PerItem.submission_id.in_(list(ids)), m.PerItem.metric == metric
    )
    found: dict[str, int] = {}
    with _reading(ledger) as connection:
        for id, n in connection.execute(query):
            found[id] = found.get(id, 0) + n
    return found


def breakdowns(ledger: Ledger, ids: Sequence[str], part: str) -> dict[str, dict[str, Any]]:
    """The scores per group of items on `part` of the submissions `ids` that have them."""
    if not ids:
        return {}
    query = select(m.Breakdown.submission_id, m.Breakdown.data).where(
        m.Breakdown.submission_id.in_(list(ids)), m.Breakdown.part == part
    )
    with _reading(ledger) as connection:
        return {id: json.loads(data) for id, data in connection.execute(query)}


def _ms(moment: Any) -> int:
    return round(moment.timestamp() * 1000)
