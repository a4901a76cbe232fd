"""Connecting to the ledger's database: SQLite in the workspace by default, PostgreSQL when a URL says so.

SQLite is set up for many processes on one host: write-ahead logging (readers never wait for the writer), a busy
timeout (a writer waits its turn instead of failing), and `BEGIN IMMEDIATE` for write transactions, so that a
transaction takes the write lock before it reads what it decides on: two processes can never both read "one
submission left" and both take it. This is SQLAlchemy's documented recipe for pysqlite's transaction control
(pysqlite's own BEGIN is switched off, SQLAlchemy's `begin` event emits ours).

PostgreSQL is for several hosts; there the ledger locks rows (`SELECT ... FOR UPDATE`) instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError

from codefest.core.errors import CodefestError

ENV: Final = "CODEFEST_DATABASE_URL"
FILE: Final = "ledger.db"
BUSY_TIMEOUT_SECONDS: Final = 60.0
READ: Final = "codefest_read"  # execution option: a read-only transaction (SQLite: a plain, deferred BEGIN)


def database_url(url: str | None, root: Path) -> URL:
    """The argument, else CODEFEST_DATABASE_URL, else the workspace's SQLite file; `postgresql://` means psycopg 3
    (the driver codefest installs), not SQLAlchemy's default psycopg2."""
    found = make_url(url or os.environ.get(ENV) or f"sqlite:///{root / FILE}")
    if found.drivername == "postgresql":
        found = found.set(drivername="postgresql+psycopg")
    return found


def connect(url: URL) -> Engine:
    """An engine for the ledger at `url`, with SQLite's locking set up as the module says. A database server is
    connected to once here: one that cannot be reached is a CodefestError naming it (without its password) and
    the reason, where the ledger is opened, instead of a driver's traceback. (SQLite's failures are the
    workspace's disk, which the callers name: `roster.open_ledger`.)"""
    if url.get_backend_name() == "sqlite":
        return _sqlite(url)
    engine = create_engine(url, pool_pre_ping=True)
    try:
        with engine.connect():
            pass
    except DBAPIError as error:
        engine.dispose()
        raise unreachable(url, error) from None
    return engine


def unreachable(url: URL, error: DBAPIError) -> CodefestError:
    """Why the ledger's database server at `url` cannot be used, for an organiser: the URL without its password,
    the driver's reason on one line, and the setting to check."""
    shown = url._replace(password=None).render_as_string(hide_password=False)  # set() keeps a None field
    reason = " ".join(str(error.orig or error).split())
    return CodefestError(
        f"cannot reach the ledger's database at {shown}: {reason}",
        f"check {ENV}: the server's host and port, the database's name, the user and its password",
    )


def _sqlite(url: URL) -> Engine:
    database = url.database or ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS})
    event.listen(engine, "connect", _sqlite_connected)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connected(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # pysqlite emits no BEGIN of its own: _sqlite_begin does
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # a killed process loses no commit (a power cut may lose the last)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """A write transaction locks the database from its first statement; a read-only one does not."""
    read_only = connection.get_execution_options().get(READ, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
