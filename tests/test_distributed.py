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
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from mlflow import MlflowClient
from sqlalchemy.engine import make_url

from codefest.challenges.discovery import load
from codefest.evaluation import faults, roster
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.ledger.statuses import TERMINAL
from codefest.evaluation.records import Tag
from codefest.evaluation.sandbox import isolation_available
from codefest.evaluation.tracking import tracking_uri
from codefest.shared_datasets.heldout import build
from tests import launcher
from tests.helpers import bundled_spec, right_every, with_empty_store, write_challenge
from tests.postgres import new_database
from tests.processes import children, wait_for
from tests.redis_server import RedisServer, redis_server

pytestmark = pytest.mark.slow  # real brokers, databases, worker processes and evaluations

SLUG = "queue-ipc"
TEAMS = 20
WITHIN = 150.0  # seconds any wait here may take on a loaded machine; an evaluation takes about one
needs_isolation = pytest.mark.skipif(not isolation_available(), reason="needs root on Linux with bubblewrap")
REQUEUE = "CODEFEST_REQUEUE_SECONDS"
VISIBILITY = "CODEFEST_VISIBILITY_TIMEOUT"
FAST = {  # the broker's timings, short: a killed worker's message is given out again within seconds
    VISIBILITY: "12",
    "CODEFEST_LEASE_SECONDS": "9",
    REQUEUE: "8",
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
time.sleep(4)
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
    with_empty_store(home, _empty_store)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_CHALLENGES_PATH", str(base / "challenges"))
        build(load(SLUG), home)
    return {"challenges": base / "challenges", "home": home}


@dataclass
class Process:
    process: launcher.Started
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
    timings: dict[str, str] = field(default_factory=dict)  # a test's own changes to FAST, for every process
    _reader: Ledger | None = field(default=None, repr=False)  # for `rows`, which the waits below ask every 0.2 s

    def env(self, home: Path | None = None, **more: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != faults.PAUSE_AT and not k.startswith("CODEFEST_")}
        env |= {
            "CODEFEST_HOME": str(home or self.home),
            "CODEFEST_CHALLENGES_PATH": str(self.challenges),
            "CODEFEST_DATABASE_URL": self.database,
            "CODEFEST_BROKER_URL": self.redis.url,
            **FAST,
            **self.timings,
        }
        return env | more

    def codefest(self, *args: str, **more: str) -> subprocess.CompletedProcess[str]:
        return launcher.run(args, env=self.env(**more), timeout=600)

    def worker(self, name: str, *options: str, home: Path | None = None, **more: str) -> Process:
        """`codefest worker` in its own process group, its log in a file; returned once its pool is ready."""
        return self.ready(self.start_worker(name, *options, home=home, **more))

    def workers(self, *names: str, options: tuple[str, ...] = ()) -> list[Process]:
        """Workers started at once, returned once each is ready: they warm up side by side."""
        return [self.ready(started) for started in [self.start_worker(name, *options) for name in names]]

    def start_worker(self, name: str, *options: str, home: Path | None = None, **more: str) -> Process:
        log = self.base / f"worker-{name}.log"
        command = ["worker", *options]
        with log.open("w") as sink:
            process = launcher.start(
                command,
                env=self.env(home, **more),
                stdout=sink,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        started = Process(process, log)
        self.started.append(started)
        return started

    def ready(self, started: Process) -> Process:
        process, name = started.process, started.log.stem
        wait_for(lambda: ": ready" in started.text() or process.poll() is not None, WITHIN, f"{name} ready")
        assert process.poll() is None, started.text()[-3000:]
        return started

    def ledger(self) -> Ledger:
        return Ledger.open(self.database, self.home)

    def rows(self) -> dict[str, Any]:
        """The submissions, read through one ledger kept open (its pool pings a connection before using it, so a
        dropped one is replaced): opening one for each of a wait's many looks costs a connection and a schema check
        each time."""
        if self._reader is None:
            self._reader = self.ledger()
        return {row.id: row for row in self._reader.submissions(SLUG, limit=1000)}

    def close(self) -> None:
        """Kill the processes the test started, with their children; close the reads' ledger."""
        for started in self.started:
            if started.process.poll() is None:
                os.killpg(started.process.pid, signal.SIGKILL)
                started.process.wait()
        if self._reader is not None:
            self._reader.close()


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
            event.close()


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
    command = ["evaluate", SLUG, "--inbox", str(inbox)]
    alone = launcher.start(command, env=event.env(**local), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    workers = event.workers("a", "b")
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


# -- a worker killed mid-evaluation ---------------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def holder_pid(row: Any) -> int:
    """The pool process that holds a running submission, from its worker name (worker@HOST#PID-NONCE)."""
    return int(row.worker.rsplit("#", 1)[1].split("-")[0])


def write_pilot(folder: Path) -> Path:
    (folder / "src" / "sleepy").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "sleepy"\nversion = "0.1"\n\n[tool.codefest]\npredict = "sleepy.predict"\n'
    )
    (folder / "src" / "sleepy" / "predict.py").write_text(SLEEPY_PILOT)
    return folder


def only_row(event: Event) -> Any:
    rows = list(event.rows().values())
    assert len(rows) == 1
    return rows[0]


def test_a_worker_killed_while_scoring_hands_the_submission_to_the_other_worker(event: Event, tmp_path: Path) -> None:
    enrol(event, ["office-k"])
    paused = event.start_worker("paused", **{faults.PAUSE_AT: faults.SCORING})  # warms up while the file is sent
    inbox = inbox_of(event, tmp_path / "inbox", ["office-k"], per_team=1)
    sent = event.codefest("evaluate", SLUG, "--inbox", str(inbox))
    assert sent.returncode == 0 and "queued" in sent.stderr, sent.stderr[-3000:]
    event.ready(paused)
    wait_for(lambda: f"paused at {faults.SCORING}" in paused.text(), WITHIN, "the worker pausing mid-scoring")
    held = only_row(event)
    assert (held.status, held.attempts) == ("running", 1)

    other = event.worker("other")
    paused.kill()
    done = wait_for(lambda: (row := only_row(event)).status in TERMINAL and row, WITHIN, "the submission ending")
    assert (done.status, done.attempts) == ("scored", 2)
    assert done.worker != held.worker and holder_pid(done) in descendants(other.process.pid)
    assert f"taking over submission {done.id} (attempt 2)" in other.text()
    assert "Traceback" not in other.text()
    scored_once(event.home, [done.id])
    statuses = Counter(r.data.tags.get(Tag.STATUS) for r in public_runs(event.home))
    assert statuses == {"scored": 1, "interrupted": 1}  # the killed attempt's run, closed by the one that took over


@needs_isolation
def test_a_worker_killed_during_a_code_run_hands_the_submission_to_the_other_worker(
    event: Event, tmp_path: Path
) -> None:
    # the killed worker's message comes back once the visibility timeout has passed since it was delivered: sooner
    # than FAST's. The survivor's run may outlast it, and its message come back meanwhile: the ledger, which this
    # checks too, makes that second delivery do nothing.
    event.timings[VISIBILITY] = "6"
    enrol(event, ["office-c"])
    workers = event.workers("a", "b", options=("--queues", "code"))
    inbox = tmp_path / "inbox"
    write_pilot(inbox / "office-c" / "pilot")
    sent = event.codefest("evaluate", SLUG, "--inbox", str(inbox))
    assert sent.returncode == 0 and "queued" in sent.stderr, sent.stderr[-3000:]

    def running_pilot() -> Any:
        row = only_row(event)
        if row.status != "running":
            return None
        under = [pid for pid in descendants(holder_pid(row)) if "bwrap" in command_of(pid)]
        return under and row

    held = wait_for(running_pilot, WITHIN, "the pilot running in its sandbox")
    killed = next(w for w in workers if holder_pid(held) in descendants(w.process.pid))
    survivor = next(w for w in workers if w is not killed)
    killed.kill()
    done = wait_for(lambda: (row := only_row(event)).status in TERMINAL and row, WITHIN, "the submission ending")
    assert (done.status, done.attempts, done.kind) == ("scored", 2, "code")
    assert holder_pid(done) in descendants(survivor.process.pid)
    assert "Traceback" not in survivor.text()
    scored_once(event.home, [done.id])


# -- the broker and the database fail -----------------------------------------------------------------------------


@dataclass
class Served:
    process: launcher.Started
    url: str
    log: Path


def serve(event: Event) -> Served:
    """`codefest serve` with the broker set, on a free port; returned once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = event.base / "serve.log"
    command = ["serve", "--port", str(port), "--rate-limit", "1e6"]
    with log.open("w") as sink:
        process = launcher.start(
            command, env=event.env(), stdout=sink, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
    served = Served(process, f"http://127.0.0.1:{port}/api/v1", log)
    event.started.append(Process(process, log))

    def answers() -> bool:
        try:
            return httpx.get(f"{served.url}/challenges", timeout=5).status_code == 200
        except httpx.TransportError:
            return process.poll() is not None

    wait_for(answers, WITHIN, "codefest serve answering")
    assert process.poll() is None, log.read_text()[-3000:]
    return served


def drop_connections(server: str, database: str) -> int:
    """pg_terminate_backend on every connection to `database`: what a database restart does to its clients."""
    name = make_url(database).database
    with psycopg.connect(server, autocommit=True) as connection:
        found = connection.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> "
            "pg_backend_pid()",
            (name,),
        ).fetchone()
    return int(found[0]) if found else 0


def test_work_resumes_after_the_broker_was_down_and_restarted_and_the_database_dropped_connections(
    event: Event, tmp_path: Path, postgres_server: str
) -> None:
    """Three uploads while Redis is down (queued in the ledger), Redis back empty, nine more queued by
    `codefest evaluate --inbox --wait`, then Redis restarted empty again and every ledger connection dropped,
    mid-queue: every submission is scored once, none is lost, none is left running."""
    # the messages the restart loses are sent again by a sweep once their mark expires: soon, rather than in 8 s
    event.timings[REQUEUE] = "3"
    teams = [f"office-{n}" for n in range(6)]
    tokens = enrol(event, teams)
    served = serve(event)
    assert "submissions go to the workers of redis://" in served.log.read_text()
    assert not children(served.process.pid)  # no in-process worker with a broker
    workers = event.workers("a", "b")

    event.redis.stop()
    uploads = inbox_of(event, tmp_path / "uploads", teams[:3], per_team=1)
    for team in teams[:3]:
        path = uploads / team / "run-0.jsonl"
        headers = {"Authorization": f"Bearer {tokens[team]}"}
        with httpx.Client(base_url=served.url, headers=headers, timeout=60) as client:
            answer = client.post(f"/challenges/{SLUG}/submissions", files={"file": (path.name, path.read_bytes())})
        assert answer.status_code == 202 and answer.json()["status"] == "queued", answer.text
    logs = [served.log, *(started.log for started in workers)]  # the server sends; a worker's sweep may too

    def failed_sends() -> int:
        return sum(log.read_text(errors="replace").count("the broker cannot be reached") for log in logs)

    wait_for(lambda: failed_sends() >= 3, WITHIN, "sending failing while the broker is down")
    event.redis.start()

    inbox = inbox_of(event, tmp_path / "inbox", teams[3:], per_team=3)
    command = ["evaluate", SLUG, "--inbox", str(inbox), "--wait"]
    waiting = launcher.start(command, env=event.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: len(event.rows()) == 12, WITHIN, "the inbox's nine entries queued")
    event.redis.restart()  # no persistence: the queue's messages are gone
    dropped = [drop_connections(postgres_server, event.database) for _ in range(3) if not time.sleep(0.5)]
    assert sum(dropped) > 0

    _, stderr = waiting.communicate(timeout=600)
    assert waiting.returncode == 0, stderr[-3000:]
    rows = event.rows()
    assert len(rows) == 12 and Counter(row.status for row in rows.values()) == {"scored": 12}
    scored_once(event.home, list(rows))
    assert stderr.count("scored") >= 9
    for started in workers:
        assert started.process.poll() is None  # the workers rode it out


# -- a worker without the vault -------------------------------------------------------------------------------------


def test_a_worker_without_the_vault_leaves_the_submission_queued_with_a_clear_message(
    event: Event, tmp_path: Path
) -> None:
    enrol(event, ["office-v"])
    bare = tmp_path / "bare"
    shutil.copytree(event.home, bare, ignore=shutil.ignore_patterns("vault"))
    # its retries 1.3 s apart, not a whole second: Redis gives a message to the worker that has waited longest, and
    # kombu asks again every second, so this worker's ask, renewed a second after the retry it held, would come
    # first almost every time (the worker with the vault took it after some 16 retries)
    without = event.start_worker("without-vault", home=bare, CODEFEST_NO_VAULT_RETRY_SECONDS="1.3")
    inbox = inbox_of(event, tmp_path / "inbox", ["office-v"], per_team=1)
    sent = event.codefest("evaluate", SLUG, "--inbox", str(inbox))
    assert sent.returncode == 0, sent.stderr[-3000:]
    event.ready(without)

    waiting = f"waiting for a worker that holds the held-out data of {SLUG}"
    row = wait_for(lambda: waiting in (r := only_row(event)).message and r, WITHIN, "the waiting message")
    wait_for(lambda: without.text().count("waits for a worker with its held-out data") >= 2, WITHIN, "a retry")
    row = only_row(event)
    assert (row.status, row.attempts, row.worker) == ("queued", 0, None)
    assert waiting in row.message and str(bare) not in row.message
    assert "Traceback" not in without.text()

    holder = event.worker("with-vault")
    done = wait_for(lambda: (r := only_row(event)).status in TERMINAL and r, WITHIN, "the submission ending")
    assert (done.status, done.attempts, done.message) == ("scored", 1, "scored")
    assert holder_pid(done) in descendants(holder.process.pid)
    scored_once(event.home, [done.id])
    assert "Traceback" not in without.text()


# -- who sends a queued submission to the broker ------------------------------------------------------------------


def test_the_ledger_says_which_queued_submissions_have_no_message_in_the_broker(tmp_path: Path) -> None:
    """One process wins the turn to send; a failed send or an expired mark puts the submission back in the sweep's
    list; a submission no longer queued is never sent."""
    import datetime as dt

    from codefest.challenges.spec import SubmissionLimits

    t0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    ledger = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)
    ledger.add_team("office-a")
    limits = SubmissionLimits(per_team_per_day=5, total=10)
    kinds = ["predictions", "code", "predictions"]
    where = ("f", "uploads/x", limits, "main", "participant")
    ids = [
        ledger.receive(SLUG, "office-a", kind, f"{n:064x}", 1, *where, now=t0 + dt.timedelta(milliseconds=n)).id
        for n, kind in enumerate(kinds)
    ]
    assert ledger.to_send(t0) == [(ids[0], "predictions"), (ids[1], "code"), (ids[2], "predictions")]
    assert ledger.mark_sent(ids[0], 60, t0) and not ledger.mark_sent(ids[0], 60, t0)  # one sender
    assert ledger.mark_sent(ids[1], 60, t0)
    ledger.unsent(ids[1])  # the broker was down
    assert ledger.claim("w", 60, now=t0, submission_id=ids[2]) is not None  # running: no longer the sweep's
    assert ledger.to_send(t0 + dt.timedelta(seconds=30)) == [(ids[1], "code")]
    assert ledger.to_send(t0 + dt.timedelta(seconds=61)) == [(ids[0], "predictions"), (ids[1], "code")]
    assert ledger.note(ids[1], "waiting for a vault", trust_seconds=100, now=t0)
    assert ledger.to_send(t0 + dt.timedelta(seconds=61)) == [(ids[0], "predictions")]
    assert ledger.get(ids[1]).message == "waiting for a vault"  # type: ignore[union-attr]
    assert not ledger.note(ids[2], "not queued")  # running: only its holder may
    assert ledger.note(ids[2], "queued", worker="w")
    ledger.close()
