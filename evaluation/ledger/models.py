"""The ledger's tables: teams, their tokens, submissions, their scores and per-item scores.

The rules that must hold whoever writes are constraints here, so that no process, on any host, can break them:
one team cannot hold two active or judged submissions of the same file in a challenge (a partial unique index; the
rest are recorded as duplicates), statuses, kinds, roles and parts are from fixed lists, and every row points at
rows that exist. The migrations in `migrations/versions/` create exactly this schema (a test compares them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from codefest.evaluation.ledger import statuses
from codefest.evaluation.records import Kind, Part, Role

# Constraint names are derived, so that the migrations and the models name them alike on every database.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def one_of(column: str, values: tuple[str, ...]) -> str:
    """An SQL condition: `column` holds one of `values` (codefest's own names, never user text)."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class UTC(TypeDecorator[dt.datetime]):
    """A UTC time, stored without a zone on every database and read back aware: SQLite keeps no zone."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a ledger time must be aware (UTC): {value!r}")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))  # as the organisers spelled it
    key: Mapped[str] = mapped_column(String(64), unique=True)  # casefolded: `Team-A` is `team-a`
    created_at: Mapped[dt.datetime] = mapped_column(UTC)


class Token(Base):
    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # of the token; the token itself is never stored
    created_at: Mapped[dt.datetime] = mapped_column(UTC)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTC)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        CheckConstraint(one_of("status", statuses.ALL), name="status"),
        CheckConstraint(one_of("kind", (Kind.PREDICTIONS, Kind.CODE)), name="kind"),
        CheckConstraint(one_of("role", (Role.PARTICIPANT, Role.BASELINE)), name="role"),
        CheckConstraint("attempts >= 0", name="attempts"),
        # the quota and duplicate look-ups of one team in one challenge
        Index(None, "challenge", "team_id", "received_at"),
        # the queue: workers claim the oldest queued (or abandoned running) submission
        Index(None, "status", "received_at"),
        # one active or judged submission per team, challenge and file; the database refuses a second one
        Index(
            "uq_submissions_active_sha256",
            "challenge",
            "team_id",
            "sha256",
            unique=True,
            sqlite_where=one_of("status", statuses.UNIQUE),
            postgresql_where=one_of("status", statuses.UNIQUE),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a random UUID
    challenge: Mapped[str] = mapped_column(String(100))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    kind: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(Text)  # what the participant called it
    stored: Mapped[str | None] = mapped_column(Text)  # where the upload is kept, for the worker
    status: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text, default="")
    phase: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    forced: Mapped[bool] = mapped_column(Boolean)
    received_at: Mapped[dt.datetime] = mapped_column(UTC)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTC)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTC)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTC)
    duplicate_of: Mapped[str | None] = mapped_column(ForeignKey("submissions.id"))
    failed_code_runs_count: Mapped[bool] = mapped_column(Boolean)  # the challenge's rule when it was received
    counts_for_quota: Mapped[bool] = mapped_column(Boolean)  # a reservation while active, the verdict after
    public_run_id: Mapped[str | None] = mapped_column(String(64))
    private_run_id: Mapped[str | None] = mapped_column(String(64))
    code_seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_mb: Mapped[float | None] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    signature: Mapped[str | None] = mapped_column(Text)  # the evaluation signature its scores were computed under
    selected_at: Mapped[dt.datetime | None] = mapped_column(UTC)  # chosen as final (the team's latest choice counts)
    selection_forced: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


PARTS = one_of("part", (Part.PUBLIC, Part.PRIVATE))


class Score(Base):
    """A metric's value and interval on one part; NULL is NaN (a metric the gold labels cannot support)."""

    __tablename__ = "scores"
    __table_args__ = (CheckConstraint(PARTS, name="part"),)

    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    part: Mapped[str] = mapped_column(String(16), primary_key=True)
    metric: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)


class PerItem(Base):
    """One metric's per-item scores on one part: float32, in the order of the items whose ids hash to
    `items_sha256`, so that the board stacks the arrays of every submission into one matrix."""

    __tablename__ = "per_item"
    __table_args__ = (
        CheckConstraint(PARTS, name="part"),
        CheckConstraint("n_items >= 0", name="n_items"),
    )

    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    part: Mapped[str] = mapped_column(String(16), primary_key=True)
    metric: Mapped[str] = mapped_column(String(100), primary_key=True)
    items_sha256: Mapped[str] = mapped_column(String(64))
    n_items: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # little-endian float32, n_items of them


class Breakdown(Base):
    """One part's scores per group of test items (`codefest.evaluation.breakdown`), as JSON text: only aggregates,
    never which item is in which group."""

    __tablename__ = "breakdowns"
    __table_args__ = (CheckConstraint(PARTS, name="part"),)

    submission_id: Mapped[str] = mapped_column(ForeignKey("submissions.id"), primary_key=True)
    part: Mapped[str] = mapped_column(String(16), primary_key=True)
    data: Mapped[str] = mapped_column(Text)  # {"by", "metric", "groups": {group: {"n", "value"}}}; NaN kept as NaN
