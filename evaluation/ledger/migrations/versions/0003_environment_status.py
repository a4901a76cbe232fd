"""The `environment` status: a code submission whose declared dependencies could not be installed.

It ends a submission like the sandbox's verdicts, but is not judged: it uses no quota, and the same pilot sent
again is evaluated again (the partial unique index leaves it out, so it is unchanged). Only the status CHECK
constraint changes. SQLite cannot alter a constraint: the table is copied (Alembic's batch mode), and its indexes,
the partial unique index among them, are made again as they were.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BEFORE = (
    "received", "queued", "running", "scored", "invalid", "timeout", "memory", "network", "crashed", "no-output",
    "duplicate", "over-quota", "refused",
)  # fmt: skip
UNIQUE = BEFORE[:10]  # active or judged: one per team, challenge and sha256
AFTER = (*BEFORE[:10], "environment", *BEFORE[10:])
CONSTRAINT = "ck_submissions_status"
INDEXES = {
    "ix_submissions_challenge_team_id_received_at": (["challenge", "team_id", "received_at"], False, None),
    "ix_submissions_status_received_at": (["status", "received_at"], False, None),
    "uq_submissions_active_sha256": (["challenge", "team_id", "sha256"], True, UNIQUE),
}


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _statuses(values: tuple[str, ...]) -> None:
    if op.get_context().dialect.name == "sqlite":
        _sqlite_statuses(values)
        return
    op.drop_constraint(op.f(CONSTRAINT), "submissions", type_="check")
    op.create_check_constraint(op.f(CONSTRAINT), "submissions", one_of("status", values))


def _sqlite_statuses(values: tuple[str, ...]) -> None:
    """The table copied with the new constraint; its indexes dropped first and made again after, so that the partial
    unique index keeps its condition (a reflected copy would lose it)."""
    for name in INDEXES:
        op.drop_index(name, table_name="submissions")
    with op.batch_alter_table("submissions", recreate="always") as batch:
        batch.drop_constraint(op.f(CONSTRAINT), type_="check")
        batch.create_check_constraint(op.f(CONSTRAINT), one_of("status", values))
    for name, (columns, unique, where) in INDEXES.items():
        condition = sa.text(one_of("status", where)) if where else None
        op.create_index(name, "submissions", columns, unique=unique, sqlite_where=condition)


def upgrade() -> None:
    _statuses(AFTER)


def downgrade() -> None:
    op.execute(sa.text("UPDATE submissions SET status = 'refused' WHERE status = 'environment'"))
    _statuses(BEFORE)
