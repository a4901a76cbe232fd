"""Sessions for organisers and developers: `nox -l` lists them; arguments after `--` are passed through."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["lint", "tests"]
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs, env=OFFLINE)


@nox.session
def fast(session: nox.Session) -> None:
    """The everyday subset of the tests: `pytest -m 'not slow'` (`nox -s tests` runs them all)."""
    session.install("-e", ".[dev]")
    session.run("pytest", "-m", "not slow", *session.posargs, env=OFFLINE)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff, and types with mypy (scripts/typecheck.py)."""
    session.install("-e", ".[dev]")  # mypy reads the types of codefest's dependencies
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "scripts/typecheck.py")


@nox.session
def build(session: nox.Session) -> None:
    """Build the public bundles and private vaults: `nox -s build -- SLUG ...` (all challenges by default)."""
    session.install("-e", ".")
    _codefest(session, "data", "build")


@nox.session
def evaluate(session: nox.Session) -> None:
    """Evaluate submissions: `nox -s evaluate -- SLUG --team T --predictions FILE` (or --code DIR, --inbox DIR)."""
    session.install("-e", ".")
    _codefest(session, "evaluate")


@nox.session
def leaderboard(session: nox.Session) -> None:
    """Build a leaderboard: `nox -s leaderboard -- SLUG [--private] [--format table|json|csv|html] [--out FILE]`."""
    session.install("-e", ".")
    _codefest(session, "leaderboard")


@nox.session
def ui(session: nox.Session) -> None:
    """Start the MLflow UI over the workspace's store on localhost: `nox -s ui -- [--port 5000]`."""
    session.install("-e", ".")
    _codefest(session, "ui")


@nox.session
def serve(session: nox.Session) -> None:
    """Serve the event's API, with evaluation workers: `nox -s serve -- [--port 8000] [--workers 2]`."""
    session.install("-e", ".")
    _codefest(session, "serve")


def _codefest(session: nox.Session, *command: str) -> None:
    """Run codefest where nox was started, not in the checkout: paths given after `--` are the user's own."""
    with session.chdir(session.invoked_from):
        session.run("codefest", *command, *session.posargs, env=OFFLINE)


@nox.session
def benchmarks(session: nox.Session) -> None:
    """Time builds, scoring, evaluations (and their start, fresh or forked by the tests' launcher), the board, the
    ledger, the service, Celery, the demo."""
    session.install("-e", ".")
    scripts = [
        "build_datasets",
        "scoring",
        "evaluation_latency",
        "startup",
        "launcher",
        "leaderboard_build",
        "ledger",
        "service",
        "distributed",
        "demo",
    ]
    for script in scripts:
        session.run("python", f"benchmarks/{script}.py", env=OFFLINE)
