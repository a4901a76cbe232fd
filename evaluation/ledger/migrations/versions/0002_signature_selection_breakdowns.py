"""Scores under a signature, final selections, and breakdowns: what the leaderboard reads from the ledger.

- `submissions.signature`: the evaluation signature a submission's scores were computed under; the board ranks only
  the current one (a changed metric option or dataset makes older scores incomparable);
- `submissions.selected_at`, `submissions.selection_forced`: a team's choice of final submission, for challenges with
  `final_submission: selected` (the latest choice counts; forced: made outside the phases by the organisers);
- `breakdowns`: per submission and part, the scores per group of test items, as JSON text.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("submissions", sa.Column("signature", sa.Text(), nullable=True))
    op.add_column("submissions", sa.Column("selected_at", sa.DateTime(), nullable=True))
    op.add_column("submissions", sa.Column("selection_forced", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "breakdowns",
        sa.Column("submission_id", sa.String(36), nullable=False),
        sa.Column("part", sa.String(16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.CheckConstraint("part IN ('public', 'private')", name=op.f("ck_breakdowns_part")),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"], name="fk_breakdowns_submission_id_submissions"),
        sa.PrimaryKeyConstraint("submission_id", "part", name="pk_breakdowns"),
    )


def downgrade() -> None:
    op.drop_table("breakdowns")
    with op.batch_alter_table("submissions") as batch:  # SQLite drops columns by copying the table
        for column in ("selection_forced", "selected_at", "signature"):
            batch.drop_column(column)
