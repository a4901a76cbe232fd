"""Light commands stay light: listing challenges, asking for help or reading a board loads none of the heavy libraries.

Every command start pays for what it imports (datasets with pandas and pyarrow alone cost a second of CPU), and the
suite and the users start codefest hundreds of times; a module-level import added in the wrong place brings that
back silently, so each command here runs as users run it and the loaded modules are read at its exit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("datasets", "pandas", "pyarrow", "mlflow", "sklearn", "scipy", "sacrebleu", "ir_measures", "httpx", "httpx2")
HEAVY += ("uvicorn", "fastapi", "celery", "matplotlib")

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


def probed(*args: str, prelude: str = "") -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """The finished command and the heavy modules it had loaded when it ended."""
    done = subprocess.run(
        [sys.executable, "-c", prelude + PROBE, json.dumps(HEAVY), *args], capture_output=True, text=True, timeout=120
    )
    marks = [line for line in done.stderr.splitlines() if line.startswith("LOADED=")]
    assert marks, done.stderr
    return done, json.loads(marks[-1].removeprefix("LOADED="))


def loaded_heavy(*args: str, prelude: str = "") -> tuple[int, list[str]]:
    """The command's exit code and the heavy modules it had loaded when it ended."""
    done, heavy = probed(*args, prelude=prelude)
    return done.returncode, heavy


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


BOARD = "ipc-classification"


@pytest.fixture
def built_board(home: Path) -> Path:
    """The workspace of a host that knows the challenge as built, as the API host does (its record, no vault): a
    board, empty, with its signature. Writing the record costs nothing; a build would cost seconds of CPU."""
    from codefest.shared_datasets.heldout import BuiltRecord, write_built_record

    write_built_record(BuiltRecord(BOARD, "5e" * 32, (), legacy=False), home)
    return home


@pytest.mark.parametrize("view", [(), ("--format", "json")], ids=["table", "json"])
def test_reading_a_board_loads_neither_scikit_learn_nor_matplotlib(built_board: Path, view: tuple[str, ...]) -> None:
    """A board is signed with the classification scorer's signature, which names scikit-learn's version, and its
    module draws charts: reading a board in the terminal or as JSON computes no metric and draws nothing."""
    done, heavy = probed("leaderboard", BOARD, *view)
    assert done.returncode == 0, done.stderr
    assert heavy == [], f"`codefest leaderboard {BOARD} {' '.join(view)}` imported {heavy}"


def test_the_board_is_signed_with_the_version_scikit_learn_gives(built_board: Path) -> None:
    """The signature takes scikit-learn's version from its metadata, without importing it; a score recorded by a
    worker that had imported it must carry the same signature, else the board drops it."""
    import sklearn

    from codefest.challenges.discovery import load
    from codefest.leaderboard.board import current_signature

    done, _ = probed("leaderboard", BOARD, "--format", "json")
    signed = json.loads(done.stdout)["signature"]
    assert signed.endswith(f"|sklearn:{sklearn.__version__}"), signed
    assert signed == current_signature(load(BOARD).spec, built_board)


SIGNED = """
import json, sys
from codefest.evaluation.scorers import ScoringOptions, scorer_for
signed = scorer_for("classification").signature(ScoringOptions())
lazy = "sklearn" not in sys.modules
import sklearn
print(json.dumps({"signed": signed, "lazy": lazy, "version": sklearn.__version__}))
"""


def test_the_classification_signature_imports_no_scikit_learn_and_names_its_version() -> None:
    """In a fresh interpreter: signing imports no scikit-learn, and names the version that importing it gives."""
    done = subprocess.run([sys.executable, "-c", SIGNED], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["lazy"], "signing a classification score imported scikit-learn"
    assert found["signed"]["sklearn"] == found["version"]


def heavy_imported_by(modules: list[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    """Which of `heavy` a fresh interpreter has loaded once it has imported `modules`."""
    code = f"import json, sys, {', '.join(modules)}\n"
    code += "print(json.dumps(sorted(set(json.loads(sys.argv[1])) & set(sys.modules))))"
    done = subprocess.run([sys.executable, "-c", code, json.dumps(heavy)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


@pytest.mark.parametrize("module", ["codefest.leaderboard.page", "codefest.tasks.classification.scorer"])
def test_modules_that_sign_or_show_a_board_import_no_heavy_library(module: str) -> None:
    """Their libraries are imported where a metric is computed or a chart drawn, not with the module: the page module
    and the scorer stay cheap to import wherever a board is signed or a page may be rendered."""
    heavy = heavy_imported_by([module])
    assert heavy == [], f"importing {module} imported {heavy}"


def test_the_event_service_process_loads_no_mlflow() -> None:
    """`codefest serve` answers participants from the ledger; MLflow (two seconds of imports) is its workers' work.
    Checking its port once imported the tracking client with the MLflow server's helpers."""
    modules = ["codefest.cli.serve", "codefest.service.app", "codefest.evaluation.mlflow_server"]
    scoring = ("mlflow", "sklearn", "scipy", "pandas", "pyarrow", "datasets", "matplotlib")  # it serves: web libraries
    heavy = heavy_imported_by([*modules, "codefest.evaluation.workers"], scoring)
    assert heavy == [], f"the service's modules imported {heavy}"
