"""The first ledger: teams, tokens, submissions, scores and per-item scores.

Written out in full (times are UTC, stored without a zone) rather than imported from the models, so that it
keeps creating this version of the schema when the models change; tests/test_ledger.py checks that it matches the
models now.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATUSES = (
    "received", "queued", "running", "scored", "invalid", "timeout", "memory", "network", "crashed", "no-output",
    "duplicate", "over-quota", "refused",
)  # fmt: skip
UNIQUE = STATUSES[:10]  # active or judged: one per team, challenge and sha256


def one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_teams"),
        sa.UniqueConstraint("key", name="uq_teams_key"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_tokens_team_id_teams"),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("sha256", name="uq_tokens_sha256"),
    )
    op.create_index("ix_tokens_team_id", "tokens", ["team_id"])
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("challenge", sa.String(100), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("stored", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("phase", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("duplicate_of", sa.String(36), nullable=True),
        sa.Column("failed_code_runs_count", sa.Boolean(), nullable=False),
        sa.Column("counts_for_quota", sa.Boolean(), nullable=False),
        sa.Column("public_run_id", sa.String(64), nullable=True),
        sa.Column("private_run_id", sa.String(64), nullable=True),
        sa.Column("code_seconds", sa.Float(), nullable=True),
        sa.Column("peak_memory_mb", sa.Float(), nullable=True),
        sa.Column("cpu_seconds", sa.Float(), nullable=True),
        sa.CheckConstraint(one_of("status", STATUSES), name=op.f("ck_submissions_status")),
        sa.CheckConstraint(one_of("kind", ("predictions", "code")), name=op.f("ck_submissions_kind")),
        sa.CheckConstraint(one_of("role", ("participant", "baseline")), name=op.f("ck_submissions_role")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_submissions_attempts")),
        sa.ForeignKeyConstraint(["team_id"], ["teams.id"], name="fk_submissions_team_id_teams"),
        sa.ForeignKeyConstraint(["duplicate_of"], ["submissions.id"], name="fk_submissions_duplicate_of_submissions"),
        sa.PrimaryKeyConstraint("id", name="pk_submissions"),
    )
    op.create_index(
        "ix_submissions_challenge_team_id_received_at", "submissions", ["challenge", "team_id", "received_at"]
    )
    op.create_index("ix_submissions_status_received_at", "submissions", ["status", "received_at"])
    op.create_index(
        "uq_submissions_active_sha256",
        "submissions",
        ["challenge", "team_id", "sha256"],
        unique=True,
        sqlite_where=sa.text(one_of("status", UNIQUE)),
        postgresql_where=sa.text(one_of("status", UNIQUE)),
    )
    for table in ("scores", "per_item"):
        values = (
            [sa.Column(name, sa.Float(), nullable=True) for name in ("value", "ci_low", "ci_high")]
            if table == "scores"
            else [
                sa.Column("items_sha256", sa.String(64), nullable=False),
                sa.Column("n_items", sa.Integer(), nullable=False),
                sa.Column("data", sa.LargeBinary(), nullable=False),
                sa.CheckConstraint("n_items >= 0", name=op.f("ck_per_item_n_items")),
            ]
        )
        op.create_table(
            table,
            sa.Column("submission_id", sa.String(36), nullable=False),
            sa.Column("part", sa.String(16), nullable=False),
            sa.Column("metric", sa.String(100), nullable=False),
            *values,
            sa.CheckConstraint(one_of("part", ("public", "private")), name=op.f(f"ck_{table}_part")),
            sa.ForeignKeyConstraint(
                ["submission_id"], ["submissions.id"], name=f"fk_{table}_submission_id_submissions"
            ),
            sa.PrimaryKeyConstraint("submission_id", "part", "metric", name=f"pk_{table}"),
        )


def downgrade() -> None:
    for table in ("per_item", "scores", "submissions", "tokens", "teams"):
        op.drop_table(table)
