"""Bringing a ledger's schema to the current version with Alembic, programmatically: no alembic.ini at run time.

Every process that opens a ledger calls `upgrade`; the first one migrates, the others wait for it (SQLite: the
write lock of BEGIN IMMEDIATE; PostgreSQL: a transaction-level advisory lock) and then find nothing to do. The
migration runs in that one transaction, so a process killed midway leaves the schema as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection

MIGRATIONS: Final = Path(__file__).parent / "migrations"
ADVISORY_LOCK: Final = 0x636F6465666573  # "codefes": one key for the ledger's migrations on a PostgreSQL server


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, set in code: where the scripts are, and the connection to run them on."""
    found = Config()
    found.set_main_option("script_location", str(MIGRATIONS))
    found.attributes["connection"] = connection
    return found


def upgrade(engine: Engine) -> None:
    """Migrate the database to the newest version, once across processes."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        command.upgrade(config(connection), "head")
