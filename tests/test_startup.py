"""Light commands stay light: listing challenges or asking for help loads none of the heavy libraries.

Every command start pays for what it imports (datasets with pandas and pyarrow alone cost a second of CPU), and the
suite and the users start codefest hundreds of times; a module-level import added in the wrong place brings that
back silently, so each command here runs as users run it and the loaded modules are read at its exit.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("datasets", "pandas", "pyarrow", "mlflow", "sklearn", "scipy", "sacrebleu", "ir_measures", "httpx", "httpx2")
HEAVY += ("uvicorn", "fastapi", "celery")

# The command runs in this interpreter; at its exit (normal or SystemExit) the heavy modules loaded are printed.
PROBE = """
import atexit, json, runpy, sys
heavy = json.loads(sys.argv[1])
sys.argv = ["codefest", *sys.argv[2:]]
atexit.register(lambda: print("LOADED=" + json.dumps(sorted(set(heavy) & set(sys.modules))), file=sys.__stderr__))
runpy.run_module("codefest", run_name="__main__")
"""

LIGHT = (
    ("challenges", "list"),
    ("challenges", "show", "ipc-classification"),
    ("data", "builders"),
    ("--help",),
    ("submit", "--help"),
    ("leaderboard", "--help"),
    ("score", "--help"),
    ("data", "--help"),
)


def loaded_heavy(*args: str, prelude: str = "") -> tuple[int, list[str]]:
    """The command's exit code and the heavy modules it had loaded when it ended."""
    done = subprocess.run(
        [sys.executable, "-c", prelude + PROBE, json.dumps(HEAVY), *args], capture_output=True, text=True, timeout=120
    )
    marks = [line for line in done.stderr.splitlines() if line.startswith("LOADED=")]
    assert marks, done.stderr
    return done.returncode, json.loads(marks[-1].removeprefix("LOADED="))


@pytest.mark.parametrize("args", LIGHT, ids=" ".join)
def test_light_command_loads_no_heavy_library(args: tuple[str, ...]) -> None:
    code, heavy = loaded_heavy(*args)
    assert code == 0
    assert heavy == [], f"`codefest {' '.join(args)}` imported {heavy}: import them where they are used"


def test_the_probe_sees_a_heavy_import() -> None:
    """The check itself works: a library loaded before the command is reported."""
    code, heavy = loaded_heavy("--help", prelude="import datasets\n")
    assert code == 0
    assert {"datasets", "pandas", "pyarrow"} <= set(heavy)
