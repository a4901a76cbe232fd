"""A throw-away PostgreSQL server for the ledger's tests: a cluster in a temporary folder, reached by a unix socket
there, stopped and removed at the end of the session.

The server comes from Debian's `postgresql` package, which .ci/run installs; its programs are not on PATH
(`/usr/lib/postgresql/<version>/bin`). Missing, the tests fail, saying so, unless CODEFEST_SKIP_POSTGRES=1: a
ledger that was never tried on PostgreSQL must not pass for one that was. PostgreSQL refuses to run as root, so a
root session runs it as the `postgres` user the package creates.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

SKIP = "CODEFEST_SKIP_POSTGRES"
PORT = 54329  # names the socket file only: the server listens on no TCP port


def binaries() -> Path | None:
    """The folder of PostgreSQL's server programs, the newest version when several are installed."""
    found = shutil.which("pg_ctl")
    if found and (Path(found).resolve().parent / "initdb").exists():
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: _version(p.parent.parent.name))
    return versions[-1].parent if versions else None


def _version(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name))


def _as_user() -> dict[str, Any]:
    """subprocess arguments that run a program as `postgres` when this process is root."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam("postgres")
    return {"user": user.pw_uid, "group": user.pw_gid}


@contextlib.contextmanager
def cluster() -> Iterator[str]:
    """A running server; yields the libpq connection string of its `postgres` database (trusted local user)."""
    bin_dir = binaries()
    if bin_dir is None:
        raise FileNotFoundError(
            "PostgreSQL's server programs were not found (pg_ctl on PATH or /usr/lib/postgresql/*/bin): "
            f"install Debian's postgresql package, as .ci/run does, or set {SKIP}=1 to skip the PostgreSQL tests"
        )
    folder = Path(tempfile.mkdtemp(prefix="codefest-pg-"))
    user = _as_user()
    if user:
        os.chown(folder, user["user"], user["group"])
    data, log = folder / "data", folder / "server.log"
    run: dict[str, Any] = {"check": True, "capture_output": True, "text": True, "cwd": folder, **user}
    options = f"-k {folder} -p {PORT} -c listen_addresses='' -c fsync=off -c max_connections=200"
    try:
        subprocess.run(
            [bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "-N"], **run
        )
        subprocess.run([bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start"], **run)
        try:
            yield f"host={folder} port={PORT} user=postgres dbname=postgres"
        finally:
            subprocess.run([bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], **run)
    except subprocess.CalledProcessError as error:
        server_log = log.read_text() if log.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {error.stderr}\n{server_log}") from error
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def new_database(server: str, name: str) -> str:
    """An empty database on the server; returns its SQLAlchemy URL (psycopg 3)."""
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    params = dict(part.split("=", 1) for part in server.split())
    return f"postgresql+psycopg://postgres@/{name}?host={params['host']}&port={params['port']}"
