"""Evaluations beyond one machine: what a Celery broker (Redis) and a PostgreSQL ledger add over the embedded default.

    python benchmarks/distributed.py [--submissions 40] [--idle 10] [--modes embedded,celery-1,celery-2]

Builds an IPC challenge (the bundled one: 1,200 test items) in a temporary workspace and, for each mode, starts
`codefest serve` over a copy of it, as an organiser would:

- `embedded`: the default, a SQLite ledger in the workspace and one in-process worker (`codefest serve --workers 1`);
- `celery-N`: its own redis-server and PostgreSQL server (in temporary folders, started here), the ledger in a
  PostgreSQL database (CODEFEST_DATABASE_URL), `codefest serve` sending to the broker (CODEFEST_BROKER_URL) and N
  `codefest worker --queues score --concurrency 1` processes.

MLflow is the workspace's SQLite store in every mode, so that the difference is the broker's and the database's.
Teams submit predictions files over HTTP, as participants do. Measured, from the ledger's own timestamps:

- throughput: a burst of `--submissions` distinct files from half as many teams, uploaded as fast as answered;
  submissions per minute from the first received to the last finished, and the burst's wait (received -> claimed,
  which the backlog dominates);
- queueing latency: `--idle` files sent one at a time to idle workers (each waits for the previous to be scored),
  received -> claimed at the median and p95: what the engine adds before an evaluation starts;
- the evaluation itself (claimed -> finished), median.

Prints a table; exits 1 when a submission did not end `scored`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from codefest.core.offline import stay_offline

stay_offline()

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' PostgreSQL and Redis helpers

from codefest.challenges.discovery import BUNDLED, load  # noqa: E402
from codefest.evaluation.ledger import Ledger, Submission  # noqa: E402
from codefest.shared_datasets.heldout import build  # noqa: E402

# The tests' helpers, on sys.path when this runs (and in the view mypy checks).
from tests.postgres import cluster, new_database  # noqa: E402
from tests.processes import stop_group  # noqa: E402
from tests.redis_server import redis_server  # noqa: E402

SLUG = "bench-distributed"
API = "/api/v1"
POLL = 0.05  # seconds between looks at the ledger
START_SECONDS = 300
TERMINAL_WAIT = 1800


@dataclass(frozen=True)
class Template:
    """The built challenge, copied into each mode's workspace."""

    base: Path
    challenges: Path
    home: Path
    ids: list[str]

    def predictions(self, variant: int) -> bytes:
        """A valid file for every test item, distinct for each `variant` (the first item's label varies)."""
        symbol = f"A01B {variant % 9000 + 1}/{variant // 9000 % 100:02d}"
        lines = [json.dumps({"id": i, "labels": [symbol if n == 0 else "G06F 3/00"]}) for n, i in enumerate(self.ids)]
        return ("\n".join(lines) + "\n").encode()


def template(base: Path) -> Template:
    spec = yaml.safe_load((BUNDLED / "ipc-classification" / "challenge.yaml").read_text(encoding="utf-8"))
    spec["slug"] = SLUG
    spec["submission_limits"] = {"per_team_per_day": 100, "total": 1000}
    folder = base / "challenges" / SLUG
    folder.mkdir(parents=True)
    (folder / "challenge.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    os.environ["CODEFEST_CHALLENGES_PATH"] = str(base / "challenges")
    try:
        build(load(SLUG), base / "template")
    finally:
        del os.environ["CODEFEST_CHALLENGES_PATH"]
    test = base / "template" / "bundles" / SLUG / "test.jsonl"
    ids = [json.loads(line)["id"] for line in test.read_text().splitlines()]
    return Template(base, base / "challenges", base / "template", ids)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Mode:
    name: str
    home: Path
    env: dict[str, str]
    workers: int  # Celery worker processes; 0 for the embedded default
    database: str | None  # the ledger's URL; None: the workspace's SQLite


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process in a group of its own, stopped with SIGTERM (then SIGKILL) at the end."""
    with log.open("ab") as sink:
        started = subprocess.Popen(command, env=env, stdout=sink, stderr=sink, start_new_session=True)
    try:
        yield started
    finally:
        if started.poll() is None:
            stop_group(started, 60)


def wait_for(what: str, ready: object, procs: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f"{what} stopped: see {', '.join(map(str, logs))}")
        if callable(ready) and ready():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not become ready in {START_SECONDS} s: see {', '.join(map(str, logs))}")


def count_in(log: Path, marker: str) -> int:
    return log.read_text(errors="replace").count(marker) if log.exists() else 0


@contextmanager
def running(mode: Mode) -> Iterator[str]:
    """`codefest serve` (and the mode's Celery workers) up and warmed; yields the API's URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    serve_log = mode.home.parent / "serve.log"
    command = [sys.executable, "-m", "codefest", "serve", "--port", str(port), "--rate-limit", "1000000"]
    command += ["--workers", "0" if mode.workers else "1"]
    with ExitStack() as stack:
        server = stack.enter_context(process(command, mode.env, serve_log))
        logs, procs = [serve_log], [server]
        for n in range(mode.workers):
            log = mode.home.parent / f"worker-{n}.log"
            worker = [sys.executable, "-m", "codefest", "worker", "--queues", "score", "--concurrency", "1"]
            procs.append(stack.enter_context(process(worker, mode.env, log)))
            logs.append(log)

        def ready() -> bool:
            warmed = sum(count_in(log, ": ready") for log in logs)
            try:
                answered = httpx.get(f"{url}{API}/challenges", timeout=5).status_code == 200
            except httpx.TransportError:
                return False
            return answered and warmed >= max(mode.workers, 1)

        wait_for(f"{mode.name}: codefest serve and its workers", ready, procs, logs)
        yield url


def enrol(mode: Mode, teams: list[str]) -> dict[str, str]:
    ledger = Ledger.open(mode.database, mode.home)
    try:
        return {team: ledger.add_team(team) for team in teams}
    finally:
        ledger.close()


def upload(client: httpx.Client, token: str, content: bytes, name: str) -> str:
    answer = client.post(
        f"{API}/challenges/{SLUG}/submissions",
        files={"file": (name, content)},
        data={"kind": "predictions"},
        headers={"Authorization": f"Bearer {token}"},
    )
    if answer.status_code != 202:
        raise SystemExit(f"upload refused: {answer.status_code} {answer.text[:300]}")
    return str(answer.json()["id"])


def ended(ledger: Ledger, ids: list[str]) -> list[Submission]:
    """The submissions once all are terminal (polling the ledger)."""
    deadline = time.monotonic() + TERMINAL_WAIT
    while time.monotonic() < deadline:
        rows = [ledger.get(i) for i in ids]
        if all(r is not None and r.status not in ("queued", "running") for r in rows):
            return [r for r in rows if r is not None]
        time.sleep(POLL)
    raise SystemExit(f"submissions still queued or running after {TERMINAL_WAIT} s")


@dataclass(frozen=True)
class Result:
    mode: str
    per_minute: float
    burst_wait: list[float]
    idle_wait: list[float]
    evaluation: list[float]
    failed: int


def seconds(rows: list[Submission], start: str, end: str) -> list[float]:
    return [(getattr(r, end) - getattr(r, start)).total_seconds() for r in rows]


def measure(mode: Mode, space: Template, burst: int, idle: int) -> Result:
    teams = [f"team-{n:02d}" for n in range(max(burst // 2, 1))]
    tokens = enrol(mode, [*teams, "team-idle", "team-warm"])
    with running(mode) as url, httpx.Client(base_url=url, timeout=120) as client:
        ledger = Ledger.open(mode.database, mode.home)
        try:
            warm = [upload(client, tokens["team-warm"], space.predictions(90_000 + k), "w.jsonl") for k in range(2)]
            ended(ledger, warm)  # the first evaluations of a process load what the next ones reuse
            ids = [
                upload(client, tokens[teams[k % len(teams)]], space.predictions(k), f"b{k}.jsonl") for k in range(burst)
            ]
            rows = ended(ledger, ids)
            first = min(r.received_at for r in rows)
            last = max(r.finished_at for r in rows if r.finished_at is not None)
            per_minute = 60 * len(rows) / (last - first).total_seconds()
            alone = []
            for k in range(idle):
                time.sleep(0.5)  # idle workers, as between a team's submissions
                alone += ended(ledger, [upload(client, tokens["team-idle"], space.predictions(50_000 + k), "i.jsonl")])
        finally:
            ledger.close()
    done = rows + alone
    return Result(
        mode.name,
        per_minute,
        seconds(rows, "received_at", "started_at"),
        seconds(alone, "received_at", "started_at"),
        seconds(done, "started_at", "finished_at"),
        sum(r.status != "scored" for r in done),
    )


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def table(results: list[Result], burst: int, idle: int) -> str:
    head = (
        f"{'mode':<10} {'subs/min':>9} {'burst wait med/p95 s':>21} {'idle wait med/p95 ms':>21} "
        f"{'evaluation med s':>17} {'not scored':>10}"
    )
    lines = [f"{burst} submissions in a burst, {idle} one at a time; wait = received -> claimed", head]
    for r in results:
        burst_wait = f"{statistics.median(r.burst_wait):.2f} / {quantile(r.burst_wait, 0.95):.2f}"
        idle_wait = f"{1000 * statistics.median(r.idle_wait):.0f} / {1000 * quantile(r.idle_wait, 0.95):.0f}"
        lines.append(
            f"{r.mode:<10} {r.per_minute:>9.1f} {burst_wait:>21} {idle_wait:>21} "
            f"{statistics.median(r.evaluation):>17.2f} {r.failed:>10}"
        )
    return "\n".join(lines)


def mode_for(name: str, space: Template, stack: ExitStack, services: dict[str, str]) -> Mode:
    home = space.base / name / "home"
    shutil.copytree(space.home, home)
    env = {**os.environ, "CODEFEST_HOME": str(home), "CODEFEST_CHALLENGES_PATH": str(space.challenges)}
    for variable in ("CODEFEST_DATABASE_URL", "CODEFEST_BROKER_URL", "MLFLOW_TRACKING_URI", "CODEFEST_VAULT"):
        env.pop(variable, None)
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    if name == "embedded":
        return Mode(name, home, env, 0, None)
    workers = int(name.removeprefix("celery-"))
    if "redis" not in services:
        services["redis"] = stack.enter_context(redis_server()).url
        services["postgres"] = stack.enter_context(cluster())
    database = new_database(services["postgres"], f"ledger_{workers}")
    redis_db = f"{services['redis'].rsplit('/', 1)[0]}/{workers}"  # a Redis database per mode: no leftovers
    env |= {"CODEFEST_BROKER_URL": redis_db, "CODEFEST_DATABASE_URL": database}
    return Mode(name, home, env, workers, database)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=40, help="files in the burst (from half as many teams)")
    parser.add_argument("--idle", type=int, default=10, help="files sent one at a time, for the queueing latency")
    parser.add_argument("--modes", default="embedded,celery-1,celery-2")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="codefest-bench-distributed-"))
    results = []
    space = template(base)
    with ExitStack() as stack:
        services: dict[str, str] = {}
        for name in args.modes.split(","):
            mode = mode_for(name, space, stack, services)
            print(f"{name}: measuring", file=sys.stderr, flush=True)
            results.append(measure(mode, space, args.submissions, args.idle))
    shutil.rmtree(base, ignore_errors=True)  # kept when something failed: the logs say what
    print(table(results, args.submissions, args.idle))
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
