"""Shared state of a multi-host event: the vault on the workers only, checked before any scoring; MLflow as a
tracking server on PostgreSQL that serves the artifacts, so that workers log over HTTP and keep nothing local."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from codefest.challenges.discovery import load
from codefest.cli import app
from codefest.core.errors import CodefestError, VaultUnavailable
from codefest.core.workspace import VAULT_ENV, Workspace
from codefest.evaluation import roster
from codefest.evaluation.mlflow_server import STORE_ENV, server_command, server_environment
from codefest.evaluation.records import Artifact, Kind, Tag
from codefest.shared_datasets.heldout import MANIFEST, build, check_vault
from tests.helpers import right_every, small_copy
from tests.postgres import new_database
from tests.processes import stop_group

SLUG = "small-ipc-classification"


@pytest.fixture
def built(challenges: Path, home: Path) -> Path:
    """A small classification challenge built in the test's workspace; returns its vault."""
    small_copy(challenges, "ipc-classification")
    return build(load(SLUG), home).vault


@pytest.fixture
def worker_vaults(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The vault moved out of the workspace to a worker's own folder, named by CODEFEST_VAULT."""
    vaults = tmp_path / "worker-vaults"
    vaults.mkdir()
    shutil.move(built, vaults / SLUG)
    monkeypatch.setenv(VAULT_ENV, str(vaults))
    return vaults


def _no_path(error: CodefestError, *folders: Path) -> None:
    """What a team may see names no folder of the organisers'."""
    for folder in folders:
        assert str(folder) not in str(error)
    assert "/" not in str(error)


# -- the vault on the workers only ----------------------------------------------------------------------------


def test_the_vault_is_found_where_codefest_vault_says(worker_vaults: Path, home: Path) -> None:
    assert Workspace(home).vault(SLUG) == worker_vaults / SLUG
    assert not (home / "vault" / SLUG).exists()
    manifest = check_vault(SLUG, home)
    assert manifest.slug == SLUG
    assert set(manifest.data["files"]) == {"test-labels.jsonl", "partition.json"}
    assert check_vault(SLUG, home) == manifest  # checked again (from the stat cache): still right


def test_the_default_vault_is_the_workspaces(built: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAULT_ENV, raising=False)
    assert built == home / "vault" / SLUG
    assert check_vault(SLUG, home).slug == SLUG


def test_a_worker_without_the_vault_says_which_challenge_and_what_to_do(
    worker_vaults: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-vaults"
    empty.mkdir()
    monkeypatch.setenv(VAULT_ENV, str(empty))
    with pytest.raises(VaultUnavailable) as raised:
        check_vault(SLUG, home)
    error = raised.value
    assert error.slug == SLUG
    assert error.problem == (
        f"challenge '{SLUG}' cannot be scored on this worker: its held-out data (the vault) is not installed here"
    )
    assert "nothing is wrong with the submission" in (error.fix or "")
    assert "CODEFEST_VAULT" in (error.fix or "")
    _no_path(error, empty, home, tmp_path)
    assert str(empty / SLUG / MANIFEST) in error.detail  # the organisers' log says where it looked


@pytest.mark.parametrize("name", ["test-labels.jsonl", "partition.json"])
def test_an_altered_vault_file_is_refused_even_after_a_good_check(worker_vaults: Path, home: Path, name: str) -> None:
    """One byte changed, size and modification time kept: the change time still tells the cache it was written."""
    check_vault(SLUG, home)  # the right vault passes, and is remembered
    path = worker_vaults / SLUG / name
    before = path.stat()
    data = bytearray(path.read_bytes())
    index = data.index(b'"') + 1
    data[index] = ord("X") if data[index] != ord("X") else ord("Y")
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    with pytest.raises(VaultUnavailable) as raised:
        check_vault(SLUG, home)
    assert raised.value.problem.endswith("its held-out data (the vault) differs from the vault that was built")
    assert f"{path}: its sha256 differs from the manifest's" == raised.value.detail
    _no_path(raised.value, worker_vaults, home)


def test_a_missing_file_a_shorter_file_and_another_challenges_manifest_are_refused(
    worker_vaults: Path, home: Path
) -> None:
    vault = worker_vaults / SLUG
    labels = vault / "test-labels.jsonl"
    kept = labels.read_bytes()
    labels.unlink()
    with pytest.raises(VaultUnavailable, match="differs from the vault that was built") as raised:
        check_vault(SLUG, home)
    assert raised.value.detail.startswith(f"{labels}: cannot be read")

    labels.write_bytes(kept[:-10])
    with pytest.raises(VaultUnavailable) as raised:
        check_vault(SLUG, home)
    assert raised.value.detail == f"{labels}: {len(kept) - 10} bytes, the manifest says {len(kept)}"

    labels.write_bytes(kept)
    assert check_vault(SLUG, home).slug == SLUG  # put back as built: accepted again

    manifest = json.loads((vault / MANIFEST).read_text())
    (vault / MANIFEST).chmod(0o600)
    (vault / MANIFEST).write_text(json.dumps({**manifest, "challenge": "another-challenge"}))
    with pytest.raises(VaultUnavailable) as raised:
        check_vault(SLUG, home)
    assert "'another-challenge'" in raised.value.detail
    (vault / MANIFEST).write_text("{not json")
    with pytest.raises(VaultUnavailable, match="differs from the vault that was built"):
        check_vault(SLUG, home)


# -- MLflow as a tracking server on PostgreSQL, artifacts served -----------------------------------------------

SERVER_START_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _tracking_server(root: Path, log: Path) -> Iterator[str]:
    """codefest's `mlflow server` command for the workspace `root`, in a process group of its own, until healthy."""
    port = _free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            server_command(root, "127.0.0.1", port),
            env=server_environment(),
            cwd=root,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not answer in {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield uri
    finally:
        stop_group(process, 20)


def _ok(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _libpq(url: str) -> str:
    """A SQLAlchemy URL of tests.postgres.new_database as psycopg connects to it."""
    database, _, query = url.removeprefix("postgresql+psycopg://postgres@/").partition("?")
    params = dict(pair.split("=", 1) for pair in query.split("&"))
    return f"host={params['host']} port={params['port']} user=postgres dbname={database}"


def _public_metrics(uri: str) -> dict[str, dict[str, float]]:
    """team -> the metrics of its scored public run, read through MLflow's client at `uri`."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(SLUG)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id], f"tags.{Tag.STATUS} = 'scored'")
    return {run.data.tags[Tag.TEAM]: run.data.metrics for run in runs}


@pytest.mark.slow
def test_an_evaluation_on_a_tracking_server_over_postgresql_keeps_nothing_on_the_worker(
    challenges: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, postgres_server: str
) -> None:
    """Two databases on one PostgreSQL server (the ledger's and MLflow's); the worker reaches MLflow over HTTP only,
    and its runs, metrics and the published leaderboard land in PostgreSQL and in the server's artifact folder."""
    small_copy(challenges, "ipc-classification")
    ledger_url, store_url = new_database(postgres_server, "event_ledger"), new_database(postgres_server, "mlflow")
    mlflow_host, worker, cwd = tmp_path / "mlflow-host", tmp_path / "worker", tmp_path / "cwd"
    for folder in (mlflow_host, worker, cwd):
        folder.mkdir()
    monkeypatch.chdir(cwd)

    # The embedded default, for comparison: the same predictions scored in the test's own workspace.
    build(load(SLUG), home)
    roster.add(home, ["team-a", "team-b"])
    predictions = {
        team: right_every(home, SLUG, tmp_path / f"{team}.jsonl", every)
        for team, every in (("team-a", 2), ("team-b", 3))
    }
    for team, path in predictions.items():
        _ok("evaluate", SLUG, "--team", team, "--predictions", str(path))
    embedded = _public_metrics(f"sqlite:///{home / 'mlflow.db'}")

    # The MLflow host: told its store as an organiser writes it (plain postgresql://).
    monkeypatch.setenv(STORE_ENV, "postgresql://" + store_url.removeprefix("postgresql+psycopg://"))
    assert store_url in server_command(mlflow_host, "127.0.0.1", 5000)
    with _tracking_server(mlflow_host, tmp_path / "mlflow.log") as uri:
        # The worker: its own workspace with the vault, the ledger on PostgreSQL, MLflow over HTTP.
        monkeypatch.setenv("CODEFEST_HOME", str(worker))
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        monkeypatch.setenv("CODEFEST_DATABASE_URL", ledger_url)
        monkeypatch.delenv(STORE_ENV)
        build(load(SLUG), worker)  # the same bytes: the small copy pins its seeds
        roster.add(worker, ["team-a", "team-b"])
        for team, path in predictions.items():
            _ok("evaluate", SLUG, "--team", team, "--predictions", str(path))
        assert "published to the challenge's experiment" in _ok("leaderboard", SLUG, "--publish")

        assert _public_metrics(uri) == embedded and set(embedded) == {"team-a", "team-b"}
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(SLUG)
        assert experiment is not None and experiment.artifact_location.startswith("mlflow-artifacts:/")
        board = client.search_runs([experiment.experiment_id], f"tags.{Tag.KIND} = 'leaderboard'")
        assert len(board) == 1
        with tempfile.TemporaryDirectory() as folder:
            data = json.loads(Path(client.download_artifacts(board[0].info.run_id, Artifact.DATA, folder)).read_text())
        assert {"team-a", "team-b"} <= {entry["team"] for entry in data["entries"]}

    # MLflow's records are in its own PostgreSQL database, the submissions in the ledger's.
    with psycopg.connect(_libpq(store_url)) as connection:
        tags = connection.execute("SELECT key, value FROM tags WHERE key IN (%s, %s)", (Tag.TEAM, Tag.KIND)).fetchall()
        assert {"team-a", "team-b"} <= {value for key, value in tags if key == Tag.TEAM}
        assert [value for key, value in tags if key == Tag.KIND].count(Kind.LEADERBOARD) == 1
    with psycopg.connect(_libpq(ledger_url)) as connection:
        assert connection.execute("SELECT count(*) FROM submissions").fetchone() == (2,)
    # The artifacts are on the MLflow host, which served them ...
    served = {path.name for path in (mlflow_host / "mlartifacts").rglob("*") if path.is_file()}
    assert {Artifact.RESULT, Artifact.PAGE, Artifact.DATA} <= served
    # ... and nothing of MLflow's is on the worker: no store, no artifacts, no mlruns folder in its working directory.
    assert not (worker / "mlflow.db").exists() and not (worker / "mlartifacts").exists()
    assert [p.name for p in worker.rglob("*.db")] == []
    assert list(cwd.iterdir()) == []
