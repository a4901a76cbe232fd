"""Alembic's entry point for the ledger: always run from `codefest.evaluation.ledger.migrate`, on the connection
(and inside the transaction) it hands over, never from an alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from codefest.evaluation.ledger.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("the ledger's migrations run through codefest.evaluation.ledger.migrate, on a connection")
context.configure(connection=connection, target_metadata=Base.metadata, transactional_ddl=True)
context.run_migrations()
