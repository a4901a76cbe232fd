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


def _started(port: int, home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "CODEFEST_HOME": str(home)}
    ui = subprocess.Popen(
        [sys.executable, "-m", "codefest", "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
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


def test_sigterm_and_ctrl_c_stop_the_server_quietly(tmp_path: Path) -> None:
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        port = _free_port()
        ui = _started(port, tmp_path / "home")
        os.kill(ui.pid, signal_number)  # codefest itself, as a terminal or a service manager would
        stdout, stderr = ui.communicate(timeout=60)
        assert ui.returncode == 0, stderr
        assert _gone(port), f"the MLflow server still listens on {port} after {signal_number.name}"
        assert "Traceback" not in stdout + stderr and "its log:" in stderr
    assert (tmp_path / "home" / "ui.log").is_file()
