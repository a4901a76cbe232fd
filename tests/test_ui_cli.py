"""`codefest ui` as a user runs it: a busy port is an error, and SIGTERM or Ctrl+C stop the server it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import children, members
from tests.test_cli import assert_clean_failure, codefest

pytestmark = pytest.mark.slow  # starts MLflow servers


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def test_a_busy_port_is_an_error_with_the_fix() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = codefest("ui", "--port", str(port))
    assert_clean_failure(result, f"port {port} on 127.0.0.1 is already in use", f"--port {port + 1}")
    assert "http://" not in result.stdout + result.stderr  # no address that does not answer


def _started(port: int, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CODEFEST_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true"}
    ui = subprocess.Popen(
        [sys.executable, "-m", "codefest", "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a shell's job: Ctrl+C goes to the whole group
    )
    deadline = time.monotonic() + 120
    while not _answers(port):
        assert ui.poll() is None and time.monotonic() < deadline, ui.communicate()
        time.sleep(0.5)
    return ui


def _gone(port: int) -> bool:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return True
        time.sleep(0.5)
    return False


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_stop_the_server_quietly(home: Path, signal_number: signal.Signals) -> None:
    """A service manager's SIGTERM to codefest, or a terminal's Ctrl+C to its group: the MLflow server's whole
    process group ends, nothing but codefest's own line reaches the terminal, and MLflow's notices are in the log.
    Over the test's workspace, whose store conftest copies in: the server need not spend seconds creating one."""
    port = _free_port()
    ui = _started(port, home)
    (server,) = children(ui.pid)  # `mlflow server`, in a session of its own, with its uvicorn worker
    assert len(members(server)) >= 2, "the server's worker did not start"
    if signal_number == signal.SIGINT:
        os.killpg(ui.pid, signal_number)
    else:
        os.kill(ui.pid, signal_number)
    stdout, stderr = ui.communicate(timeout=60)
    assert ui.returncode == 0, stderr
    assert _gone(port), f"the MLflow server still listens on {port} after {signal_number.name}"
    deadline = time.monotonic() + 20
    while members(server) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not members(server), f"left behind after {signal_number.name}: {members(server)}"
    assert stdout == "" and stderr.splitlines() == [
        f"MLflow UI on http://127.0.0.1:{port} over {home}; its log: {home / 'ui.log'} (Ctrl+C stops it)"
    ]
    log = (home / "ui.log").read_text()
    assert "uvicorn" in log.lower() or "INFO" in log  # the server's notices went to its log
