"""What the ledger hands out and takes in: frozen values, never live database objects, so a caller cannot change a
row behind the ledger's back nor read one after its transaction ended."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codefest.evaluation.submissions import Quota


@dataclass(frozen=True)
class Cost:
    """What a code run used; None where it was not measured."""

    code_seconds: float | None = None
    peak_memory_mb: float | None = None
    cpu_seconds: float | None = None


@dataclass(frozen=True)
class Submission:
    id: str
    challenge: str
    team: str
    kind: str
    sha256: str
    size: int
    source: str
    stored: str | None
    status: str
    message: str
    phase: str
    role: str
    forced: bool
    received_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    attempts: int
    worker: str | None
    lease_until: dt.datetime | None
    duplicate_of: str | None  # a duplicate: the submission it repeats
    counts_for_quota: bool
    public_run_id: str | None
    private_run_id: str | None
    cost: Cost
    signature: str | None = None  # the evaluation signature its scores were computed under
    selected_at: dt.datetime | None = None  # when the team chose it as final (its latest choice counts)
    selection_forced: bool = False  # chosen outside the phases, by the organisers
    quota: Quota | None = None  # set by `receive` only: the team's quota once this submission was decided


@dataclass(frozen=True)
class ItemScores:
    """One part's per-item scores: each metric's values in the order of `ids`."""

    part: str
    ids: Sequence[str]
    values: Mapping[str, np.ndarray]

    @property
    def items_sha256(self) -> str:
        return items_sha256(self.ids)


def items_sha256(ids: Sequence[str]) -> str:
    """Names an order of test items: per-item arrays with the same hash can be stacked into one matrix."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


@dataclass(frozen=True)
class BoardRow:
    submission_id: str
    team: str
    received_at: dt.datetime
    role: str
    phase: str
    forced: bool
    values: dict[str, float]  # NaN: a metric the gold labels cannot support
    intervals: dict[str, tuple[float, float]]
    signature: str | None = None
    selected_at: dt.datetime | None = None  # chosen as the team's final submission (the latest choice counts)
    selection_forced: bool = False
    breakdown: dict[str, Any] | None = None  # this part's scores per group of items, when the task has groups


@dataclass(frozen=True)
class Board:
    """The scored submissions of a challenge on one part, oldest first, and per metric a float32 matrix of their
    per-item scores: row i is rows[i]'s (NaN where a submission has none)."""

    part: str
    metrics: tuple[str, ...]
    rows: tuple[BoardRow, ...]
    per_item: dict[str, np.ndarray] = field(repr=False)
    items_sha256: str | None  # the order of the matrices' columns; None when no submission has per-item scores
