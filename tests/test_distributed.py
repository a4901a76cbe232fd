"""The event on Celery: `codefest worker` processes on a real Redis broker, the ledger on a real PostgreSQL server.

Every process is real: `codefest worker` (Celery's prefork worker), `codefest evaluate --inbox` that queues and
waits, `codefest serve` that queues, redis-server, PostgreSQL. The broker's timings are made short through the
environment (visibility timeout, lease, sweep), so that a killed worker's message comes back in seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from codefest.challenges.discovery import load
from codefest.evaluation import faults, roster
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.records import Tag
from codefest.evaluation.sandbox import isolation_available
from codefest.evaluation.tracking import tracking_uri
from codefest.shared_datasets.heldout import build
from tests.helpers import bundled_spec, right_every, write_challenge
from tests.postgres import new_database
from tests.redis_server import RedisServer, redis_server

pytestmark = pytest.mark.slow  # real brokers, databases, worker processes and evaluations

SLUG = "queue-ipc"
TEAMS = 20
WITHIN = 150.0  # seconds any wait here may take on a loaded machine; an evaluation takes about one
needs_isolation = pytest.mark.skipif(not isolation_available(), reason="needs root on Linux with bubblewrap")
FAST = {  # the broker's timings, short: a killed worker's message is given out again within seconds
    "CODEFEST_VISIBILITY_TIMEOUT": "12",
    "CODEFEST_LEASE_SECONDS": "9",
    "CODEFEST_REQUEUE_SECONDS": "8",
    "CODEFEST_SWEEP_SECONDS": "1",
    "CODEFEST_NO_VAULT_RETRY_SECONDS": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
}
SLEEPY_PILOT = """\
import argparse
import json
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--input", type=Path, required=True)
parser.add_argument("--output", type=Path, required=True)
args = parser.parse_args()
time.sleep(6)
rows = [json.loads(line) for line in args.input.read_text().splitlines() if line.strip()]
args.output.write_text("".join(json.dumps({"id": r["id"], "labels": ["H04L 9/00"]}) + "\\n" for r in rows))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> dict[str, Path]:
    """A small IPC challenge built once; each test copies the workspace (bundle, vault, an empty MLflow store)."""
    base = tmp_path_factory.mktemp("distributed")
    spec = bundled_spec("ipc-classification") | {"slug": SLUG}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 300, "seed": 4}}
    spec["submission_limits"] = {"per_team_per_day": 5, "total": 10}
    spec["resources"] = {"wall_time_seconds": 60, "memory_mb": 600}
    write_challenge(base / "challenges", spec)
    home = base / "home"
    home.mkdir()
    shutil.copyfile(_empty_store, home / "mlflow.db")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_CHALLENGES_PATH", str(base / "challenges"))
        build(load(SLUG), home)
    return {"challenges": base / "challenges", "home": home}


@dataclass
class Process:
    process: subprocess.Popen[str]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the worker and its pool processes at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@dataclass
class Event:
    base: Path
    home: Path
    challenges: Path
    database: str
    redis: RedisServer
    started: list[Process] = field(default_factory=list)

    def env(self, home: Path | None = None, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != faults.PAUSE_AT and not k.startswith("CODEFEST_")}
        env |= {
            "CODEFEST_HOME": str(home or self.home),
            "CODEFEST_CHALLENGES_PATH": str(self.challenges),
            "CODEFEST_DATABASE_URL": self.database,
            "CODEFEST_BROKER_URL": self.redis.url,
            **FAST,
        }
        return env | more

    def codefest(self, *args: str, **more: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "codefest", *args]
        return subprocess.run(command, env=self.env(**more), capture_output=True, text=True, timeout=600)

    def worker(self, name: str, *options: str, home: Path | None = None, **more: str) -> Process:
        """`codefest worker` in its own process group, its log in a file; returned once its pool is ready."""
        log = self.base / f"worker-{name}.log"
        command = [sys.executable, "-m", "codefest", "worker", *options]
        with log.open("w") as sink:
            process = subprocess.Popen(
                command,
                env=self.env(home, **more),
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        started = Process(process, log)
        self.started.append(started)
        wait_for(lambda: ": ready" in started.text() or process.poll() is not None, WITHIN, f"worker {name} ready")
        assert process.poll() is None, started.text()[-3000:]
        return started

    def ledger(self) -> Ledger:
        return Ledger.open(self.database, self.home)

    def rows(self) -> dict[str, Any]:
        ledger = self.ledger()
        try:
            return {row.id: row for row in ledger.submissions(SLUG, limit=1000)}
        finally:
            ledger.close()


def wait_for(condition: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {seconds} s")


@pytest.fixture
def event(built: dict[str, Path], tmp_path: Path, postgres_server: str) -> Iterator[Event]:
    """A workspace of the test's own, its ledger a new PostgreSQL database, its broker a new Redis server; the
    workers it starts are killed at the end."""
    home = tmp_path / "home"
    shutil.copytree(built["home"], home)
    database = new_database(postgres_server, f"q{uuid.uuid4().hex[:16]}")
    with redis_server() as redis:
        event = Event(tmp_path, home, built["challenges"], database, redis)
        try:
            yield event
        finally:
            for started in event.started:
                if started.process.poll() is None:
                    os.killpg(started.process.pid, signal.SIGKILL)
                    started.process.wait()


def enrol(event: Event, teams: list[str], home: Path | None = None) -> dict[str, str]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_DATABASE_URL", event.database)
        return roster.add(home or event.home, teams)


def inbox_of(event: Event, folder: Path, teams: list[str], per_team: int = 2) -> Path:
    """inbox/<team>/<file>: `per_team` distinct predictions files a team, each of another accuracy."""
    for n, team in enumerate(teams):
        (folder / team).mkdir(parents=True)
        for k in range(per_team):
            right_every(event.home, SLUG, folder / team / f"run-{k}.jsonl", 2 + n % 4 + 4 * k)
    return folder


def public_runs(home: Path) -> list[Any]:
    client = MlflowClient(tracking_uri=tracking_uri(home))
    experiment = client.get_experiment_by_name(SLUG)
    if experiment is None:
        return []
    return list(client.search_runs([experiment.experiment_id], "", max_results=5000))


def scored_once(home: Path, ids: list[str]) -> None:
    """Each submission has exactly one MLflow run tagged scored; no run of them is still `running`."""
    runs = public_runs(home)
    scored = Counter(r.data.tags.get(Tag.SUBMISSION_ID) for r in runs if r.data.tags.get(Tag.STATUS) == "scored")
    assert {id: scored[id] for id in ids} == dict.fromkeys(ids, 1)
    assert not [r for r in runs if r.data.tags.get(Tag.STATUS) == "running"]


def board(event: Event, home: Path, ledger: Ledger, private: bool) -> list[dict[str, Any]]:
    """The leaderboard as `codefest leaderboard --format json` writes it, without what differs between two runs of
    the same submissions (run ids, times)."""
    from codefest.leaderboard.board import build
    from codefest.leaderboard.export import as_json

    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_CHALLENGES_PATH", str(event.challenges))
        built = build(load(SLUG), home, private=private, ledger=ledger)
    drop = ("run_id", "submission_id", "received_at", "generated")
    return [
        {k: v for k, v in entry.items() if not k.endswith(("_ms", "run_id")) and k not in drop}
        for entry in json.loads(as_json(built))["entries"]
    ]


# -- many submissions, two workers --------------------------------------------------------------------------------


def test_two_workers_score_forty_submissions_once_and_the_boards_match_the_embedded_default(
    event: Event, built: dict[str, Path], tmp_path: Path
) -> None:
    teams = [f"office-{n:02d}" for n in range(TEAMS)]
    enrol(event, teams)
    inbox = inbox_of(event, tmp_path / "inbox", teams)

    # the same inbox, evaluated by the embedded default in a workspace of its own, meanwhile
    embedded = tmp_path / "embedded"
    shutil.copytree(built["home"], embedded)
    local_ledger = Ledger.open(f"sqlite:///{embedded / 'ledger.db'}", embedded)
    roster.add(embedded, teams, local_ledger)
    local = {"CODEFEST_DATABASE_URL": "", "CODEFEST_BROKER_URL": "", "CODEFEST_HOME": str(embedded)}
    command = [sys.executable, "-m", "codefest", "evaluate", SLUG, "--inbox", str(inbox)]
    alone = subprocess.Popen(command, env=event.env(**local), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    workers = [event.worker(name) for name in ("a", "b")]
    done = event.codefest("evaluate", SLUG, "--inbox", str(inbox), "--wait")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("scored") >= 2 * TEAMS and "Traceback" not in done.stderr

    rows = event.rows()
    assert len(rows) == 2 * TEAMS
    assert Counter(row.status for row in rows.values()) == {"scored": 2 * TEAMS}
    assert {row.attempts for row in rows.values()} == {1}
    by_worker = Counter(row.worker.rsplit("#", 1)[1].split("-")[0] for row in rows.values())
    assert len(by_worker) == 2, by_worker  # both workers took some
    scored_once(event.home, list(rows))
    for started in workers:
        assert "Traceback" not in started.text()

    _, stderr = alone.communicate(timeout=600)
    assert alone.returncode == 0, stderr[-3000:]
    distributed_ledger = event.ledger()
    try:
        for private in (False, True):
            expected = board(event, embedded, local_ledger, private)
            assert len(expected) == TEAMS
            assert board(event, event.home, distributed_ledger, private) == expected
    finally:
        distributed_ledger.close()
        local_ledger.close()
