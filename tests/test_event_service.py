"""The event as a service, end to end: `codefest serve` as a process, teams enrolled and submitting through the
real command line, scores on one board wherever it is read, and a server killed mid-evaluation that loses nothing.

Everything goes through processes and HTTP as an event runs: `codefest teams add` (its token on the last line),
`codefest serve` with its worker processes, `codefest submit`, `codefest leaderboard`, and the MLflow store the
workers and the publisher write.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from mlflow import MlflowClient

from codefest.challenges.discovery import load
from codefest.evaluation import claims, faults
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.records import Artifact, Kind, Tag, where
from codefest.evaluation.sandbox import isolation_available
from codefest.evaluation.tracking import Tracker, tracking_uri
from codefest.shared_datasets.heldout import build
from tests import launcher
from tests.helpers import bundle_test_ids, bundled_spec, right_every, with_empty_store, write_challenge
from tests.postgres import new_database
from tests.processes import alive, children, members, wait_for

pytestmark = pytest.mark.slow  # real servers, worker processes, evaluations and a sandboxed pilot

SLUG = "event-ipc"
API = "/api/v1"
LIMITS = {"per_team_per_day": 3, "total": 10}
SCORED_WITHIN = 180  # seconds: far longer than any evaluation here, and shorter than a lease (300 s)
needs_isolation = pytest.mark.skipif(not isolation_available(), reason="needs root on Linux with bubblewrap")

PILOT = """\
import argparse
import json
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--input", type=Path, required=True)
parser.add_argument("--output", type=Path, required=True)
args = parser.parse_args()
rows = [json.loads(line) for line in args.input.read_text().splitlines() if line.strip()]
args.output.write_text("".join(json.dumps({"id": r["id"], "labels": ["H04L 9/00"]}) + "\\n" for r in rows))
"""


Completed = subprocess.CompletedProcess[str]


@dataclass(frozen=True)
class Event:
    home: Path
    challenges: Path
    base: Path
    database: str | None = None  # None: the workspace's SQLite ledger

    def env(self, **more: str) -> dict[str, str]:
        env = {**os.environ, "CODEFEST_HOME": str(self.home), "CODEFEST_CHALLENGES_PATH": str(self.challenges)}
        env.pop(faults.PAUSE_AT, None)
        env.pop("CODEFEST_DATABASE_URL", None)
        if self.database:
            env["CODEFEST_DATABASE_URL"] = self.database
        return env | more

    def codefest(
        self, *args: str, token: str | None = None, home: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = self.env(**({"CODEFEST_TOKEN": token} if token else {}))
        if home is not None:
            env["CODEFEST_HOME"] = str(home)
        return launcher.run(args, env=env, timeout=600)

    def enrol(self, team: str) -> str:
        """`codefest teams add TEAM`: the token is the last line of its output."""
        done = self.codefest("teams", "add", team)
        assert done.returncode == 0, done.stderr
        token = done.stdout.strip().splitlines()[-1]
        assert token.startswith("cf_") and " " not in token
        return token

    def ledger(self) -> Ledger:
        return Ledger.open(self.database, self.home)


def make_event(base: Path, empty_store: Path, database: str | None = None) -> Event:
    spec = bundled_spec("ipc-classification") | {"slug": SLUG}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 300, "seed": 8}}
    spec["submission_limits"] = dict(LIMITS)
    event = Event(base / "home", base / "challenges", base, database)
    write_challenge(event.challenges, spec)
    event.home.mkdir(parents=True)
    with_empty_store(event.home, empty_store)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_CHALLENGES_PATH", str(event.challenges))
        build(load(SLUG), event.home)
    return event


@pytest.fixture(scope="module")
def event(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> Event:
    return make_event(tmp_path_factory.mktemp("event"), _empty_store)


# -- the server as a process ------------------------------------------------------------------------------------


@dataclass
class Served:
    process: launcher.Started
    url: str
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url + API, headers=headers, timeout=60)

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM: exit 0, no worker left."""
        started = self.workers()
        self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=90) == 0, self.text()[-3000:]
        assert not [pid for pid in started if Path(f"/proc/{pid}").exists()]

    def kill(self) -> None:
        """SIGKILL to the server's process group: the server and its workers, at once."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while members(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not members(self.process.pid)


def serve(event: Event, *options: str, **env: str) -> Served:
    """`codefest serve` on a free port, its own process group, its log in a file (a pipe nobody reads would fill)."""
    from tests.test_service import free_port

    port = free_port()
    log = event.base / f"serve-{port}.log"
    command = ["serve", "--host", "127.0.0.1", "--port", str(port), *options]
    with log.open("w") as sink:
        process = launcher.start(
            command, env=event.env(**env), stdout=sink, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{served.url}{API}/challenges", timeout=5).status_code == 200:
                return served
        except httpx.TransportError:
            time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise AssertionError(f"the server did not answer within 120 s: {served.text()[-3000:]}")


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    """Servers a test started: whatever it left running is killed, with its workers."""
    started: list[Served] = []
    yield started
    for served in started:
        if served.process.poll() is None:
            os.killpg(served.process.pid, signal.SIGKILL)
            served.process.wait()


# -- what teams send ----------------------------------------------------------------------------------------------


def write_pilot(folder: Path) -> Path:
    (folder / "src" / "tiny").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "tiny"\nversion = "0.1"\n\n[tool.codefest]\n')
    with (folder / "pyproject.toml").open("a") as toml:
        toml.write('predict = "tiny.predict"\n')
    (folder / "src" / "tiny" / "predict.py").write_text(PILOT)
    return folder


def predictions(event: Event, path: Path, label: str = "A01B 1/00", broken: int = 0) -> Path:
    """A predictions file naming every test item; its first `broken` lines name unknown ids instead."""
    ids = bundle_test_ids(event.home, SLUG)
    rows = [{"id": f"NOT-{n}" if n < broken else item, "labels": [label]} for n, item in enumerate(ids)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def quota(served: Served, token: str) -> dict[str, Any]:
    with served.client(token) as client:
        answer = client.get(f"/challenges/{SLUG}/submissions")
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["quota"])


def ranked(entries: list[dict[str, Any]], score: Any) -> list[tuple[str, int, float]]:
    return [(e["team"], e["rank"], score(e)) for e in entries]


# -- the event, end to end ------------------------------------------------------------------------------------------


@needs_isolation
def test_two_teams_submit_a_file_and_a_pilot_and_every_board_agrees(
    event: Event, servers: list[Served], tmp_path: Path
) -> None:
    tokens = {team: event.enrol(team) for team in ("office-a", "office-b")}
    served = serve(event, "--workers", "2")
    servers.append(served)
    assert len(served.workers()) == 2

    good = right_every(event.home, SLUG, tmp_path / "office-a.jsonl", 2)
    pilot = write_pilot(tmp_path / "office-b-pilot")
    with ThreadPoolExecutor(2) as pool:  # both at once: each worker takes one
        sent = {
            "office-a": pool.submit(
                event.codefest, "submit", SLUG, str(good), "--server", served.url, token=tokens["office-a"]
            ),
            "office-b": pool.submit(
                event.codefest, "submit", SLUG, str(pilot), "--server", served.url, token=tokens["office-b"]
            ),
        }
        results = {team: future.result() for team, future in sent.items()}
    for team, result in results.items():
        assert result.returncode == 0, (team, result.stdout, result.stderr)
        assert "scored submission" in result.stderr and "Traceback" not in result.stderr
        assert "top_prediction@subclass (primary)" in result.stdout
        assert "public leaderboard: rank" in result.stdout, result.stdout
        assert "2 submission(s) left (1/3 today, 1/10 in all)" in result.stdout

    # an invalid file, checked by the server (no bundle where the team runs the command): exit 2, no quota used
    before = quota(served, tokens["office-a"])
    bad = predictions(event, tmp_path / "bad.jsonl", broken=3)
    args = ("submit", SLUG, str(bad), "--server", served.url)
    refused = event.codefest(*args, token=tokens["office-a"], home=tmp_path / "participant")
    assert refused.returncode == 2, refused.stderr
    assert "bad.jsonl is not a valid submission" in refused.stderr and "NOT-2" in refused.stderr
    assert quota(served, tokens["office-a"]) == before

    with served.client() as client:
        api = client.get(f"/challenges/{SLUG}/leaderboard").json()
    from_api = ranked(api["entries"], lambda e: e["score"])

    listed = event.codefest("leaderboard", SLUG, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    from_cli = ranked(json.loads(listed.stdout)["entries"], lambda e: e["score"]["value"])

    published = event.codefest("leaderboard", SLUG, "--publish")
    assert published.returncode == 0 and "published to the challenge's experiment" in published.stderr
    runs = Tracker(SLUG, event.home).runs(where({Tag.KIND: Kind.LEADERBOARD, Tag.VIEW: "public"}))
    assert len(runs) == 1
    store = MlflowClient(tracking_uri=tracking_uri(event.home))
    page = Path(store.download_artifacts(runs[0].run_id, Artifact.DATA, str(tmp_path)))
    from_mlflow = ranked(json.loads(page.read_text())["entries"], lambda e: e["score"]["value"])

    assert from_api == from_cli == from_mlflow
    assert [(team, rank) for team, rank, _ in from_api] == [("office-a", 1), ("office-b", 2)]
    assert from_api[0][2] > from_api[1][2]
    for team, result in results.items():  # each team was told its score as the board has it (its rank then)
        place = next(e for e in api["entries"] if e["team"] == team)
        told = next(line for line in result.stdout.splitlines() if line.startswith("public leaderboard: rank"))
        assert told.endswith(f"top_prediction@subclass {place['score']:.4f}"), told

    served.stop()
    assert "Traceback" not in served.text()


# -- one team at once --------------------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_event(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, event: Event) -> Event:
    """The built event over a ledger of its own: the workspace's SQLite file, or a PostgreSQL database."""
    base = tmp_path_factory.mktemp(f"crowd-{request.param}")
    if request.param == "sqlite":
        home = base / "home"
        shutil.copytree(event.home, home, ignore=shutil.ignore_patterns("ledger.db*", "uploads"))
        return Event(home, event.challenges, base)
    database = new_database(request.getfixturevalue("postgres_server"), f"e{uuid.uuid4().hex[:16]}")
    return Event(event.home, event.challenges, base, database)


def test_twenty_simultaneous_uploads_of_one_team_keep_the_quota_and_duplicate_rules(
    ledger_event: Event, servers: list[Served], tmp_path: Path
) -> None:
    """20 uploads at once, 12 distinct files (8 of them sent twice), no worker: exactly today's quota of 3 is queued,
    three distinct files; a repeat of a queued file is a duplicate of it; the others are over quota; every answer is
    in the ledger once."""
    team = f"crowd-{uuid.uuid4().hex[:6]}"
    token = ledger_event.enrol(team)
    served = serve(ledger_event, "--workers", "0", "--rate-limit", "1e6")
    servers.append(served)
    files = [predictions(ledger_event, tmp_path / f"f{n}.jsonl", label=f"A01B {n + 1}/00") for n in range(12)]

    def upload(n: int) -> httpx.Response:
        path = files[n % 12]
        with served.client(token) as client:
            return client.post(
                f"/challenges/{SLUG}/submissions",
                files={"file": (path.name, path.read_bytes())},
                data={"kind": "predictions"},
            )

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(upload, range(20)))
    assert all(a.status_code in (200, 202) for a in answers), [a.text for a in answers if a.status_code >= 300]
    outcomes = [a.json() for a in answers]
    statuses = Counter(o["status"] for o in outcomes)
    assert statuses["queued"] == LIMITS["per_team_per_day"]
    assert set(statuses) <= {"queued", "duplicate", "over-quota"}
    queued = {o["sha256"] for o in outcomes if o["status"] == "queued"}
    assert len(queued) == LIMITS["per_team_per_day"]
    by_id = {o["id"]: o for o in outcomes}
    assert len(by_id) == 20
    for outcome in outcomes:
        if outcome["status"] == "duplicate":
            assert by_id[outcome["duplicate_of"]]["sha256"] == outcome["sha256"]
        if outcome["status"] == "over-quota":
            assert outcome["sha256"] not in queued and "submissions of today" in outcome["message"]
    ledger = ledger_event.ledger()
    try:
        rows = ledger.submissions(SLUG, team, limit=100)
    finally:
        ledger.close()
    assert sorted((r.id, r.status) for r in rows) == sorted((o["id"], o["status"]) for o in outcomes)
    assert quota(served, token)["used_today"] == LIMITS["per_team_per_day"]
    served.stop()


# -- a server killed mid-evaluation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("point", [faults.SCORING, faults.LOGGING])
def test_a_server_killed_mid_evaluation_scores_the_submission_once_after_restart(
    event: Event, servers: list[Served], tmp_path: Path, point: str
) -> None:
    team = f"killed-{point}"
    token = event.enrol(team)
    paused = serve(event, "--workers", "1", **{faults.PAUSE_AT: point})
    servers.append(paused)
    path = predictions(event, tmp_path / "run.jsonl", label="A01B 3/00")
    with paused.client(token) as client:
        answer = client.post(f"/challenges/{SLUG}/submissions", files={"file": (path.name, path.read_bytes())})
    assert answer.status_code == 202, answer.text
    submission = answer.json()["id"]
    wait_for(lambda: f"paused at {point}" in paused.text(), SCORED_WITHIN, f"the worker pausing at {point}")
    paused.kill()

    ledger = event.ledger()
    try:
        held = ledger.get(submission)
        assert held is not None and (held.status, held.attempts) == ("running", 1)
        assert held.worker is not None and held.worker.startswith(claims.WORKER) and claims.gone(held.worker)

        restarted = serve(event, "--workers", "1")
        servers.append(restarted)
        with restarted.client(token) as client:
            final = wait_for(
                lambda: (s := client.get(f"/submissions/{submission}").json())["status"] != "running" and s,
                SCORED_WITHIN,
                "the submission ending after the restart",
            )
        assert "taking over the submissions of stopped workers" in restarted.text()  # not after the 300 s lease
        assert (final["status"], final["message"]) == ("scored", "scored")
        assert final["quota"]["used_total"] == 1
        done = ledger.get(submission)
        assert done is not None and done.attempts == 2 and done.worker != held.worker
        assert [row.id for row in ledger.submissions(SLUG, team)] == [submission]  # no submission more, none lost
    finally:
        ledger.close()

    tracker = Tracker(SLUG, event.home)
    public = tracker.runs(where({Tag.SUBMISSION_ID: submission}))
    private = tracker.runs(where({Tag.SUBMISSION_ID: submission}), private=True)
    assert Counter(run.tags[Tag.STATUS] for run in public) == {"scored": 1, "interrupted": 1}
    scored = next(run for run in public if run.tags[Tag.STATUS] == "scored")
    assert scored.run_id == done.public_run_id
    expected_private = {"scored": 1} if point == faults.SCORING else {"scored": 1, "interrupted": 1}
    assert Counter(run.tags[Tag.STATUS] for run in private) == expected_private

    with restarted.client() as client:
        board = client.get(f"/challenges/{SLUG}/leaderboard").json()
    mine = [entry for entry in board["entries"] if entry["team"] == team]
    assert len(mine) == 1 and mine[0]["submissions"] == 1
    restarted.stop()


def test_a_worker_whose_server_died_finishes_and_exits(event: Event, servers: list[Served]) -> None:
    """Only the server is killed, not its group: its orphaned workers stop by themselves."""
    served = serve(event, "--workers", "2")
    servers.append(served)
    started = served.workers()
    assert len(started) == 2
    os.kill(served.process.pid, signal.SIGKILL)
    served.process.wait()
    wait_for(lambda: not [pid for pid in started if alive(pid)], 60, "the orphaned workers stopping")
    assert "the server that started it is gone" in served.text()


def test_worker_names_say_which_process_of_which_host() -> None:
    host = socket.gethostname()
    name = claims.worker_name()
    assert name.startswith(f"{claims.WORKER}{host}#{os.getpid()}-")
    assert not claims.gone(name)  # this process
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: not alive(dead.pid), 30, "the child exiting")
    assert claims.gone(f"{claims.WORKER}{host}#{dead.pid}-0a1b2c3d")  # exited, not reaped yet: a zombie
    dead.wait()
    assert claims.gone(f"{claims.WORKER}{host}#{dead.pid}-0a1b2c3d")
    assert claims.gone(f"evaluate@{host}#{dead.pid}")  # a dead `codefest evaluate` on this host
    assert not claims.gone(f"{claims.WORKER}{host}#1-0a1b2c3d")  # init runs
    assert not claims.gone(f"{claims.WORKER}another-host#{dead.pid}-0a1b2c3d")  # left to its lease
    assert not claims.gone("worker-1") and not claims.gone(None)
