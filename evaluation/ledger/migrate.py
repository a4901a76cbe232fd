"""Bringing a ledger's schema to the current version with Alembic, programmatically: no alembic.ini at run time.

Every process that opens a ledger calls `upgrade`; the first one migrates, the others wait for it (SQLite: the
write lock of BEGIN IMMEDIATE; PostgreSQL: a transaction-level advisory lock) and then find nothing to do. The
migration runs in that one transaction, so a process killed midway leaves the schema as it was. A ledger already at
`HEAD` is read with one query and Alembic is not loaded: its import and script scan cost ~0.4 s of CPU, paid by every
command, worker and server start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS: Final = Path(__file__).parent / "migrations"
ADVISORY_LOCK: Final = 0x636F6465666573  # "codefes": one key for the ledger's migrations on a PostgreSQL server
HEAD: Final = "0003"  # the newest revision under migrations/versions (a test keeps the two equal)


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, set in code: where the scripts are, and the connection to run them on."""
    from alembic.config import Config

    found = Config()
    found.set_main_option("script_location", str(MIGRATIONS))
    found.attributes["connection"] = connection
    return found


def upgrade(engine: Engine) -> None:
    """Migrate the database to the newest version, once across processes."""
    if at_head(engine):
        return
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK})
        command.upgrade(config(connection), "head")


def at_head(engine: Engine) -> bool:
    """Whether the ledger's recorded revision is `HEAD`: then there is nothing to migrate (a new or older ledger,
    or one whose version table cannot be read, goes through Alembic)."""
    try:
        with engine.connect() as connection:
            found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        return False
    return found == [HEAD]
