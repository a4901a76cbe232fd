"""Every test runs offline, in a workspace of its own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from codefest.core import collector
from codefest.core.offline import stay_offline
from tests.helpers import with_empty_store
from tests.postgres import SKIP, cluster

if TYPE_CHECKING:
    from playwright.sync_api import Playwright

    from tests.events import Event

CHROMIUM = Path("/usr/bin/chromium")  # Debian's, never a downloaded browser

stay_offline()
collector.starting()  # as `codefest` does: collecting imports MLflow, scikit-learn, FastAPI, Celery...

# The test files that take longest, longest first (measured with --durations on 2 processes). `./run tests` hands whole
# files to whichever pytest-xdist process is free in collection order (--dist loadfile --no-loadscope-reorder; xdist
# would otherwise start with the files of most tests, leaving a few long ones to the end): started first, a long file
# runs beside many short ones instead of keeping one process busy alone at the end. Files not listed follow, in order.
LONGEST_FIRST = [
    "test_templates.py",
    "test_guides.py",
    "test_demo.py",
    "test_distributed.py",
    "test_event_rules.py",
    "test_cli.py",
    "test_event_service.py",
    "test_score_cli.py",
    "test_faults.py",
    "test_leaderboard_views.py",
    "test_messages.py",
    "test_evaluate.py",
    "test_api_host.py",
    "test_fuzz_formats.py",
    "test_mlflow_view.py",
    "test_ui_cli.py",
    "test_real_formats.py",
    "test_hostile_code.py",
    "test_shared_state.py",
    "test_heldout.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order


def pytest_collection_finish() -> None:
    collector.started()  # the tests' modules are loaded: frozen, and the collector as usual for the tests


def _live_width_consoles() -> None:
    """Load the CLI's consoles with no COLUMNS set: rich fixes a console's width from COLUMNS when it is made, so the
    first test to load them (under pytest-xdist, whichever file a process runs first) would fix every later test's
    width; made without it, each console reads the width a test sets when it prints."""
    told = {name: os.environ.pop(name) for name in ("COLUMNS", "LINES") if name in os.environ}
    try:
        import codefest.cli.common  # noqa: F401
    finally:
        os.environ.update(told)


_live_width_consoles()


@pytest.fixture(scope="session")
def _empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its schema in place: creating one costs seconds of migrations, copying none."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(autouse=True)
def _workspace(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _empty_store: Path) -> Path:
    home = tmp_path_factory.mktemp("codefest-home")
    with_empty_store(home, _empty_store)
    monkeypatch.setenv("CODEFEST_HOME", str(home))
    monkeypatch.delenv("CODEFEST_CHALLENGES_PATH", raising=False)
    return home


@pytest.fixture
def home(_workspace: Path) -> Path:
    """The test's own workspace (CODEFEST_HOME): nothing built, an empty MLflow store."""
    return _workspace


@pytest.fixture
def challenges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder of the test's own on CODEFEST_CHALLENGES_PATH: the challenges written there are found."""
    folder = tmp_path / "challenges"
    folder.mkdir()
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(folder))
    return folder


@pytest.fixture(scope="session")
def evaluated(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> Event:
    """One small evaluated event for the leaderboard's view and browser tests; they only add leaderboard runs."""
    from tests.events import evaluated_event

    return evaluated_event(tmp_path_factory.mktemp("event"), _empty_store)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """One throw-away PostgreSQL server for the session; each test makes a database of its own on it."""
    if os.environ.get(SKIP) == "1":
        pytest.skip(f"{SKIP}=1: the PostgreSQL tests are skipped")
    with cluster() as server:
        yield server


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Playwright driving Debian's chromium, for the browser tests of a module."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium")
    with sync_playwright() as driver:
        yield driver
