"""The tests' launcher: a command forked from the preloaded zygote sees what a fresh `python -m` would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests import launcher
from tests.processes import alive, wait_for

ROOT = Path(__file__).resolve().parents[1]
PROBE = "tests.launched_probe"


def _env(**more: str) -> dict[str, str]:
    """A small environment; the locale's variables are the zygote's, as the launcher's streams use its encoding."""
    locale = {name: value for name, value in os.environ.items() if name == "LANG" or name.startswith("LC_")}
    return {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "CODEFEST_PROBE": "é", **locale, **more}


def _fresh(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", PROBE, *args]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def _seen(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    seen = json.loads(done.stdout.splitlines()[0])
    seen.pop("pid")
    return seen


@pytest.mark.parametrize("more", [{}, {"PYTHONUNBUFFERED": "1"}], ids=["buffered", "unbuffered"])
def test_a_launched_command_sees_what_a_fresh_interpreter_sees(tmp_path: Path, more: dict[str, str]) -> None:
    env = _env(**more)
    fresh = _fresh("3", "thread", cwd=tmp_path, env=env)
    launched = launcher.run(["3", "thread"], env=env, cwd=tmp_path, module=PROBE, timeout=60)
    assert (launched.returncode, fresh.returncode) == (3, 3)
    assert _seen(launched) == _seen(fresh)
    assert _seen(launched)["cwd"] == str(tmp_path) and _seen(launched)["environ"] == env
    assert launched.stdout.splitlines()[1:] == fresh.stdout.splitlines()[1:] == ["thread done"]
    assert launched.stderr == fresh.stderr == "atexit ran\n"


@pytest.mark.parametrize(
    ("how", "last_line"), [("raise", "RuntimeError: the probe failed"), ("say", "the probe says no")]
)
def test_a_command_that_fails_ends_as_a_fresh_interpreter_does(tmp_path: Path, how: str, last_line: str) -> None:
    fresh = _fresh("0", how, cwd=tmp_path, env=_env())
    launched = launcher.run(["0", how], env=_env(), cwd=tmp_path, module=PROBE, timeout=60)
    assert launched.returncode == fresh.returncode == 1
    for done in (fresh, launched):
        assert done.stderr.splitlines()[-2:] == [last_line, "atexit ran"]
        assert ("Traceback (most recent call last):" in done.stderr) == (how == "raise")


def test_codefest_itself_is_loaded_by_each_command_not_before(tmp_path: Path) -> None:
    launched = launcher.run(["0"], env=_env(), cwd=tmp_path, module=PROBE, timeout=60)
    assert _seen(launched)["codefest_loaded"] == []
    version = launcher.run(["--version"], env={**os.environ, "CODEFEST_HOME": str(tmp_path)})
    assert (version.returncode, version.stderr) == (0, "") and version.stdout.startswith("codefest ")


def test_a_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    process = launcher.start(["0", "sleep"], env=_env(), cwd=tmp_path, module=PROBE, stdout=subprocess.PIPE)
    assert process.stdout is not None
    pid = json.loads(process.stdout.readline())["pid"]
    assert pid == process.pid and alive(pid)
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.5)
    process.kill()
    assert process.wait(timeout=30) == -signal.SIGKILL
    assert not alive(pid)
    with pytest.raises(subprocess.TimeoutExpired):
        launcher.run(["0", "sleep"], env=_env(), cwd=tmp_path, module=PROBE, timeout=1)


def test_signals_and_sessions_reach_the_command_itself(tmp_path: Path) -> None:
    process = launcher.start(
        ["0", "sleep"], env=_env(), cwd=tmp_path, module=PROBE, stdout=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    assert json.loads(process.stdout.readline())["session_leader"] is True
    assert process.poll() is None
    process.terminate()
    assert wait_for(lambda: process.poll() is not None, 30, "the command's end") and process.returncode == -15


def test_the_zygote_ends_with_the_pytest_process_and_leaves_no_folder(tmp_path: Path) -> None:
    client = (
        "from tests import launcher\n"
        "done = launcher.run(['0'], module='tests.launched_probe', timeout=60)\n"
        "assert done.returncode == 0, done.stderr\n"
        "print(launcher._zygote.folder, launcher._zygote.process.pid)\n"
    )
    ran = subprocess.run([sys.executable, "-c", client], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    folder, pid = ran.stdout.split()
    assert Path(folder).name.startswith("codefest-zygote-")
    wait_for(lambda: not alive(int(pid)) and not Path(folder).exists(), 30, "the zygote's end")
