"""The API host of a multi-host event holds no vault: `codefest serve` and the leaderboard read the challenge's built
record (`Workspace.built`), written by the build outside the bundle and the vault, while the workers that hold the
vault score. Issue 15: the vault never leaves the workers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from codefest.challenges.discovery import load
from codefest.core.errors import CodefestError
from codefest.core.workspace import Workspace
from codefest.evaluation import roster
from codefest.evaluation.ledger import Ledger
from codefest.leaderboard.board import build as leaderboard
from codefest.leaderboard.board import current_signature
from codefest.shared_datasets.heldout import (
    BuiltRecord,
    build,
    built_record,
    challenge_built,
    read_vault_manifest,
)
from tests import launcher
from tests.helpers import bundled_spec, right_every, small_copy, with_empty_store, write_challenge
from tests.postgres import new_database
from tests.processes import wait_for
from tests.redis_server import redis_server

SLUG = "host-ipc"
WITHIN = 150.0  # seconds any wait may take on a loaded machine


def _secret_challenge(challenges: Path) -> str:
    """A small IPC challenge that pins no seed: its seeds are drawn at the build and kept in the vault."""
    spec = bundled_spec("ipc-classification") | {"slug": SLUG}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 300}}
    write_challenge(challenges, spec)
    return SLUG


def test_the_build_writes_a_record_outside_the_bundle_and_the_vault_with_no_secret(
    challenges: Path, home: Path
) -> None:
    result = build(load(_secret_challenge(challenges)), home)
    path = Workspace(home).built(SLUG)
    assert path.is_file() and result.bundle not in path.parents and result.vault not in path.parents
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == {"challenge": SLUG, "dataset_sha256": result.dataset_sha256, "public_seeds": [], "legacy": False}
    manifest = result.manifest
    secrets = [str(manifest.dataset_seed), str(manifest.split_seed), manifest.content_sha256]
    assert manifest.dataset_seed is not None and not [s for s in secrets if s in path.read_text(encoding="utf-8")]
    assert built_record(SLUG, home) == BuiltRecord.of(manifest)


def test_a_pinned_seed_warns_from_the_record_and_a_board_needs_no_vault(challenges: Path, home: Path) -> None:
    slug = "small-ipc-classification"
    small_copy(challenges, "ipc-classification")
    result = build(load(slug), home)
    with_vault = (leaderboard(load(slug), home).notes, current_signature(load(slug).spec, home))
    shutil.rmtree(result.vault)
    assert built_record(slug, home).warning == result.manifest.warning is not None
    assert (leaderboard(load(slug), home).notes, current_signature(load(slug).spec, home)) == with_vault
    assert with_vault[0] == [result.manifest.warning]


def test_a_workspace_built_before_records_gets_one_from_its_vault_else_a_clear_message(
    challenges: Path, home: Path
) -> None:
    result = build(load(_secret_challenge(challenges)), home)
    path = Workspace(home).built(SLUG)
    written = path.read_text(encoding="utf-8")
    path.unlink()  # as an older codefest left it: a vault, no record
    assert challenge_built(SLUG, home)
    assert built_record(SLUG, home) == BuiltRecord.of(read_vault_manifest(result.vault))
    assert path.read_text(encoding="utf-8") == written  # written once, as the build writes it
    path.unlink()
    shutil.rmtree(result.vault)
    assert not challenge_built(SLUG, home)
    with pytest.raises(CodefestError) as raised:
        built_record(SLUG, home)
    assert f"challenge '{SLUG}' is not built" in raised.value.problem
    assert f"codefest data build {SLUG}" in (raised.value.fix or "")
    assert f"built/{SLUG}.json" in (raised.value.fix or "")


# -- a real event: the API host without the vault, a worker with it -------------------------------------------


@dataclass
class Hosts:
    base: Path
    challenges: Path
    database: str
    broker: str
    started: list[tuple[launcher.Started, Path]] = field(default_factory=list)

    def env(self, home: Path, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFEST_")}
        return env | {
            "CODEFEST_HOME": str(home),
            "CODEFEST_CHALLENGES_PATH": str(self.challenges),
            "CODEFEST_DATABASE_URL": self.database,
            "CODEFEST_BROKER_URL": self.broker,
            "MLFLOW_DISABLE_TELEMETRY": "true",
            **more,
        }

    def start(self, name: str, home: Path, *args: str, **more: str) -> tuple[launcher.Started, Path]:
        log = self.base / f"{name}.log"
        with log.open("w") as sink:
            process = launcher.start(
                args,
                env=self.env(home, **more),
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        self.started.append((process, log))
        return process, log

    def serve(self, name: str, home: Path) -> str:
        """`codefest serve` on a free port of 127.0.0.1; its API's URL once it answers."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        process, log = self.start(name, home, "serve", "--port", str(port), "--rate-limit", "1e6")
        url = f"http://127.0.0.1:{port}/api/v1"

        def answers() -> bool:
            try:
                return httpx.get(f"{url}/openapi.json", timeout=5).status_code == 200
            except httpx.TransportError:
                return process.poll() is not None

        wait_for(answers, WITHIN, f"{name} answering")
        assert process.poll() is None, log.read_text()[-3000:]
        return url


@pytest.fixture
def hosts(tmp_path: Path, challenges: Path, postgres_server: str) -> Iterator[Hosts]:
    """A new PostgreSQL database and Redis server; every process started is stopped at the end."""
    database = new_database(postgres_server, f"h{uuid.uuid4().hex[:16]}")
    with redis_server() as redis:
        hosts = Hosts(tmp_path, challenges, database, redis.url)
        try:
            yield hosts
        finally:
            for process, _ in hosts.started:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()


def _public(url: str) -> dict[str, Any]:
    """What anyone reads of the API: the challenges, the challenge, its leaderboard (without the time it was built)."""
    answers = {path: httpx.get(f"{url}{path}", timeout=60) for path in ("/challenges", f"/challenges/{SLUG}")}
    answers["board"] = httpx.get(f"{url}/challenges/{SLUG}/leaderboard", timeout=60)
    assert {path: answer.status_code for path, answer in answers.items()} == dict.fromkeys(answers, 200)
    found = {path: answer.json() for path, answer in answers.items()}
    found["board"].pop("generated")
    return found


def _host_without_vault_and_worker(hosts: Hosts, home: Path, tmp_path: Path, empty_store: Path) -> Path:
    """The challenge built in `home` (the organisers' build machine), copied to a host without its vault, and a
    `codefest worker`, started and ready, that holds the vault and shares the host's uploads; the host's workspace."""
    build(load(_secret_challenge(hosts.challenges)), home)
    host, worker, vaults = tmp_path / "api", tmp_path / "worker", tmp_path / "worker-vaults"
    for workspace in (host, worker):
        shutil.copytree(home, workspace, ignore=shutil.ignore_patterns("vault", "mlflow.db"))
    shutil.copytree(Workspace(home).vault(SLUG), vaults / SLUG)
    with_empty_store(worker, empty_store)
    (host / "uploads").mkdir()
    (worker / "uploads").symlink_to(host / "uploads")  # the shared file system of the uploads
    process, log = hosts.start("worker", worker, "worker", "--queues", "score", CODEFEST_VAULT=str(vaults))
    wait_for(lambda: ": ready" in log.read_text() or process.poll() is not None, WITHIN, "the worker ready")
    assert process.poll() is None, log.read_text()[-3000:]
    return host


def _stopped_cleanly(hosts: Hosts) -> None:
    for process, log in hosts.started:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


@pytest.mark.slow  # PostgreSQL, Redis, two `codefest serve` and a `codefest worker`, one evaluation
def test_the_api_host_serves_without_the_vault_and_a_worker_with_it_scores(
    hosts: Hosts, home: Path, tmp_path: Path, _empty_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = _host_without_vault_and_worker(hosts, home, tmp_path, _empty_store)
    monkeypatch.setenv("CODEFEST_DATABASE_URL", hosts.database)
    token = roster.add(api, ["office-a"])["office-a"]
    url = hosts.serve("api", api)
    assert not (api / "vault").exists() and not Workspace(api).vault(SLUG).exists()

    predictions = right_every(home, SLUG, tmp_path / "office-a.jsonl", 3)
    auth = {"Authorization": f"Bearer {token}"}
    with predictions.open("rb") as file:
        sent = httpx.post(f"{url}/challenges/{SLUG}/submissions", headers=auth, files={"file": file}, timeout=60)
    assert sent.status_code == 202, sent.text
    where = f"{url}/submissions/{sent.json()['id']}"

    def ended() -> dict[str, Any] | None:
        row = httpx.get(where, headers=auth, timeout=30).json()
        return row if row["status"] not in ("queued", "running") else None

    row = wait_for(ended, WITHIN, "the submission scored")
    assert (row["status"], row["message"]) == ("scored", "scored"), row
    assert set(row["scores"]) == {m.name for m in load(SLUG).spec.metrics}

    without = _public(url)
    assert [item["slug"] for item in without["/challenges"]["items"]] == [SLUG]
    assert [entry["team"] for entry in without["board"]["entries"]] == ["office-a"]
    assert without["board"]["notes"] == []

    Workspace(home).built(SLUG).unlink()  # the organisers' older workspace: its vault, no record
    assert _public(hosts.serve("organiser", home)) == without
    assert built_record(SLUG, home) == built_record(SLUG, api)
    ledger = Ledger.open(hosts.database, api)
    try:
        assert [r.status for r in ledger.submissions(SLUG, limit=10)] == ["scored"]
    finally:
        ledger.close()
    _stopped_cleanly(hosts)


@pytest.mark.slow  # PostgreSQL, Redis, a `codefest worker`, two evaluations
def test_evaluate_inbox_with_a_broker_needs_no_vault_and_the_worker_scores(
    hosts: Hosts, home: Path, tmp_path: Path, _empty_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The organisers queue an inbox from a host that only has the public files: the vault stays on the workers."""
    organiser = _host_without_vault_and_worker(hosts, home, tmp_path, _empty_store)
    with_empty_store(organiser, _empty_store)
    monkeypatch.setenv("CODEFEST_DATABASE_URL", hosts.database)
    roster.add(organiser, ["office-a", "office-b"])
    inbox = tmp_path / "inbox"
    for team, every in (("office-a", 3), ("office-b", 2)):
        (inbox / team).mkdir(parents=True)
        right_every(home, SLUG, inbox / team / "test-predictions.jsonl", every)
    empty = tmp_path / "no-vault"
    empty.mkdir()
    ran = launcher.run(
        ["evaluate", SLUG, "--inbox", str(inbox), "--wait"],
        env=hosts.env(organiser, CODEFEST_VAULT=str(empty), COLUMNS="200"),
        timeout=WITHIN,
    )
    said = ran.stdout + ran.stderr
    assert ran.returncode == 0, said[-3000:]
    assert not list(empty.iterdir()) and not Workspace(organiser).vault(SLUG).exists()
    for team in ("office-a", "office-b"):
        assert f"scored {team}: " in said, said
    assert said.count("scored; ") == 2 and said.count("(primary)") == 2, said
    ledger = Ledger.open(hosts.database, organiser)
    try:
        rows = ledger.submissions(SLUG, limit=10)
    finally:
        ledger.close()
    assert sorted((r.team, r.status) for r in rows) == [("office-a", "scored"), ("office-b", "scored")]
    assert {r.id for r in rows} == {line.split()[-1] for line in said.splitlines() if line.startswith("submission:")}
    _stopped_cleanly(hosts)
