"""A ledger's database server that cannot be used is said so where the ledger is opened: which database (its URL
without the password), the server's reason and the setting to check, never a driver's traceback."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from codefest.core.errors import CodefestError
from codefest.evaluation.ledger import Ledger
from tests import launcher

PASSWORD = "s3cret-pw"


def _closed_port() -> int:
    """A port of 127.0.0.1 on which nothing listens (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow  # a codefest process: seconds on a loaded machine
def test_teams_add_with_postgresql_unreachable_says_where_and_what_to_check(home: Path) -> None:
    port = _closed_port()
    url = f"postgresql://codefest:{PASSWORD}@127.0.0.1:{port}/codefest"
    env = {**os.environ, "CODEFEST_HOME": str(home), "CODEFEST_DATABASE_URL": url}
    result = launcher.run(["teams", "add", "office-a"], env=env, timeout=120)
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, output
    assert f"cannot reach the ledger's database at postgresql+psycopg://codefest@127.0.0.1:{port}/codefest:" in output
    assert "Connection refused" in output
    assert "fix: check CODEFEST_DATABASE_URL" in output
    assert "Traceback" not in output and PASSWORD not in output


@pytest.mark.slow  # starts a PostgreSQL server for the session
def test_a_database_the_server_does_not_have_is_named_with_the_servers_reason(
    postgres_server: str, tmp_path: Path
) -> None:
    params = dict(part.split("=", 1) for part in postgres_server.split())
    url = f"postgresql://postgres:{PASSWORD}@/no_such_ledger?host={params['host']}&port={params['port']}"
    with pytest.raises(CodefestError) as raised:
        Ledger.open(url, tmp_path)
    error = raised.value
    shown = make_url(url).set(drivername="postgresql+psycopg")._replace(password=None)
    assert error.problem.startswith(f"cannot reach the ledger's database at {shown.render_as_string()}: ")
    assert 'database "no_such_ledger" does not exist' in error.problem
    assert PASSWORD not in error.render()
