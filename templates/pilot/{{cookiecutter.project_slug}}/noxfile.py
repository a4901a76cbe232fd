"""Sessions of the {{ cookiecutter.project_name }} pilot: `nox -l` lists them; arguments after `--` pass through."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|venv"  # uv when it is installed (seconds from its cache), else venv and pip
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]
CHALLENGE = "{{ cookiecutter.challenge }}"
PACKAGE = "{{ cookiecutter.package_name }}"
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
SERVICE = ("CODEFEST_SERVER", "CODEFEST_TOKEN")  # the event's server, and the team's token: `nox -s submit` needs both


def workspace() -> Path:
    """The codefest workspace: CODEFEST_HOME, else the one this pilot was baked next to."""
    return Path(os.environ.get("CODEFEST_HOME") or "{{ cookiecutter.codefest_home | codefest_home }}")


def bundle() -> str:
    """The challenge's public bundle: CODEFEST_BUNDLE, else the codefest workspace's copy."""
    return os.environ.get("CODEFEST_BUNDLE") or str(workspace() / "bundles" / CHALLENGE)


@nox.session(python=False)
def check_bundle(session: nox.Session) -> None:
    """Check that the challenge's bundle is there, before train, predict and score create their environments."""
    if (Path(bundle()) / "train.jsonl").is_file():
        return
    if os.environ.get("CODEFEST_BUNDLE"):
        session.error(f"CODEFEST_BUNDLE={bundle()} holds no train.jsonl: point it at the {CHALLENGE} bundle")
    session.error(
        f"no bundle of {CHALLENGE} in {workspace()}: build it with `CODEFEST_HOME={workspace()} codefest data build "
        f"{CHALLENGE}`, or set CODEFEST_BUNDLE to the folder the organisers sent"
    )


@nox.session
def tests(session: nox.Session) -> None:
    """Run the pilot's tests."""
    session.install("-e", ".[train,dev]")
    session.run("pytest", *session.posargs, env=OFFLINE)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and formatting with ruff."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(requires=["check_bundle"])
def train(session: nox.Session) -> None:
    """Train the baseline on the bundle, score it on dev, and log both to MLflow."""
    session.install("-e", ".[train]")
    session.run("python", "-m", f"{PACKAGE}.train", "--bundle", bundle(), *session.posargs, env=OFFLINE)


@nox.session(requires=["check_bundle"])
def predict(session: nox.Session) -> None:
    """Write predictions/dev.jsonl and predictions/test.jsonl with the trained model, in an environment holding only
    the `[project] dependencies`, as a code submission's: an import they lack fails here first."""
    session.install("-e", ".")
    for split in ("dev", "test"):
        target = f"predictions/{split}.jsonl"
        source = f"{bundle()}/{split}.jsonl"
        session.run("python", "-m", f"{PACKAGE}.predict", "--input", source, "--output", target, env=OFFLINE)


@nox.session(requires=["check_bundle"])
def score(session: nox.Session) -> None:
    """Score predictions/dev.jsonl with the framework's harness, against the public dev labels."""
    session.install("-e", ".[train]")
    target = "predictions/dev.jsonl"
    session.run("codefest", "score", CHALLENGE, target, "--split", "dev", *session.posargs, env=OFFLINE)


@nox.session
def submit(session: nox.Session) -> None:
    """Submit predictions/test.jsonl to the event's service (`-- --code` submits this repository as a pilot), with
    the server in CODEFEST_SERVER and the team's token in CODEFEST_TOKEN; other arguments go to `codefest submit`."""
    missing = [name for name in SERVICE if not os.environ.get(name)]
    if missing:
        session.error(
            f"{' and '.join(missing)} not set: export CODEFEST_SERVER=<the event's address, from the organisers> "
            "and CODEFEST_TOKEN=<the token the organisers gave your team>, then run nox -s submit again"
        )
    session.install("-e", ".[train]")
    code = "--code" in session.posargs
    rest = [arg for arg in session.posargs if arg != "--code"]
    session.run("codefest", "submit", CHALLENGE, "." if code else "predictions/test.jsonl", *rest)
