"""The event as a service under load: `codefest serve` over a fresh workspace, spoken to over HTTP.

    python benchmarks/service.py [--workers 2] [--uploads 200] [--scored 5] [--clients 50] [--duration 120]

Builds an IPC challenge of 1,200 test items in a temporary workspace, enrols teams in its ledger (SQLite), starts
`codefest serve` as a process (the rate limit raised out of the way: what is measured is the service, not the
limiter) and measures:

(b) upload to board: the time from the start of an upload of a 1,200-item predictions file until the submission is
    scored (its status polled every 20 ms), then until the API's public leaderboard ranks its team; `--scored` runs
    on an idle server, each by a new team, the median reported;
(a) upload answered: the latency of accepted predictions uploads (validated against the public inputs, queued), one
    after the other, `--uploads` distinct files spread over teams so that no quota is reached; the workers keep
    evaluating what was queued meanwhile, as in an event;
(c) `--clients` concurrent clients, each a team of its own, uploading distinct files as fast as answers come for
    `--duration` seconds: throughput, latency percentiles, and every answer other than 202 queued or 200 over-quota
    counted as an error (there must be none). Then the ledger is checked: every acknowledged submission is in it
    once, no other is, and no team holds more submissions than its quota.

Prints a compact table; exits 1 when (c) had an error or the ledger check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from codefest.core.offline import stay_offline

stay_offline()

from codefest.challenges.discovery import BUNDLED, load  # noqa: E402
from codefest.evaluation.ledger import Ledger  # noqa: E402
from codefest.shared_datasets.heldout import build  # noqa: E402

SLUG = "bench-service"
API = "/api/v1"
ITEMS = 1200
PER_DAY, TOTAL = 10, 100  # each team's quota
STATUS_POLL = 0.02  # seconds between status checks in (b)


@dataclass
class Workspace:
    base: Path
    home: Path
    challenges: Path
    ids: list[str]

    def env(self) -> dict[str, str]:
        env = {**os.environ, "CODEFEST_HOME": str(self.home), "CODEFEST_CHALLENGES_PATH": str(self.challenges)}
        env.pop("CODEFEST_DATABASE_URL", None)
        env.pop("CODEFEST_TEST_PAUSE_AT", None)
        return env

    def predictions(self, variant: int) -> bytes:
        """A valid file for every test item, distinct for each `variant` (the first item's label varies)."""
        symbol = f"A01B {variant % 9000 + 1}/{variant // 9000 % 100:02d}"
        lines = [
            json.dumps({"id": item, "labels": [symbol if n == 0 else "G06F 3/00"]}) for n, item in enumerate(self.ids)
        ]
        return ("\n".join(lines) + "\n").encode()


def workspace(base: Path) -> Workspace:
    spec = yaml.safe_load((BUNDLED / "ipc-classification" / "challenge.yaml").read_text(encoding="utf-8"))
    spec["slug"] = SLUG
    spec["submission_limits"] = {"per_team_per_day": PER_DAY, "total": TOTAL}
    folder = base / "challenges" / SLUG
    folder.mkdir(parents=True)
    (folder / "challenge.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    space = Workspace(base, base / "home", base / "challenges", [])
    os.environ["CODEFEST_CHALLENGES_PATH"] = str(space.challenges)
    try:
        build(load(SLUG), space.home)
    finally:
        del os.environ["CODEFEST_CHALLENGES_PATH"]
    test = space.home / "bundles" / SLUG / "test.jsonl"
    space.ids = [json.loads(line)["id"] for line in test.read_text().splitlines()]
    return space


def enrol(space: Workspace, teams: list[str]) -> dict[str, str]:
    ledger = Ledger.open(None, space.home)
    try:
        return {team: ledger.add_team(team) for team in teams}
    finally:
        ledger.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(space: Workspace, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (space.base / "serve.log").open("ab")
    command = [sys.executable, "-m", "codefest", "serve", "--port", str(port), "--workers", str(workers)]
    command += ["--rate-limit", "1000000"]
    process = subprocess.Popen(command, env=space.env(), stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        ready = (space.base / "serve.log").read_text(errors="replace").count(": ready\n")
        try:
            if ready >= workers and httpx.get(f"{url}{API}/challenges", timeout=5).status_code == 200:
                return process, url  # answering, and every worker has loaded the evaluator
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    raise SystemExit(f"codefest serve did not start: see {space.base / 'serve.log'}")


def upload(client: httpx.Client, token: str, content: bytes, name: str) -> httpx.Response:
    return client.post(
        f"{API}/challenges/{SLUG}/submissions",
        files={"file": (name, content)},
        data={"kind": "predictions"},
        headers={"Authorization": f"Bearer {token}"},
    )


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"median": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan")}

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"median": statistics.median(ordered), "p90": at(0.90), "p99": at(0.99), "max": ordered[-1]}


# -- (b) upload to board ----------------------------------------------------------------------------------------


def to_board(space: Workspace, url: str, tokens: dict[str, str]) -> list[tuple[float, float, float]]:
    """(answered, scored, on the board) seconds after the upload started, for each team in `tokens`."""
    found = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for n, (team, token) in enumerate(tokens.items()):
            start = time.perf_counter()
            answer = upload(client, token, space.predictions(10_000 + n), "scored.jsonl")
            answered = time.perf_counter() - start
            assert answer.status_code == 202, answer.text
            submission = answer.json()["id"]
            auth = {"Authorization": f"Bearer {token}"}
            while (status := client.get(f"{API}/submissions/{submission}", headers=auth).json()["status"]) in (
                "queued",
                "running",
            ):
                time.sleep(STATUS_POLL)
            assert status == "scored", status
            scored = time.perf_counter() - start
            while not any(
                e["team"] == team for e in client.get(f"{API}/challenges/{SLUG}/leaderboard").json()["entries"]
            ):
                time.sleep(STATUS_POLL)
            found.append((answered, scored, time.perf_counter() - start))
    return found


# -- (a) accepted uploads, one after the other ----------------------------------------------------------------


def accepted(space: Workspace, url: str, tokens: dict[str, str], n: int) -> tuple[list[float], Counter[str]]:
    teams = list(tokens.values())
    latencies, statuses = [], Counter[str]()
    with httpx.Client(base_url=url, timeout=60) as client:
        for k in range(n):
            content = space.predictions(k)
            start = time.perf_counter()
            answer = upload(client, teams[k % len(teams)], content, f"a{k}.jsonl")
            latencies.append(time.perf_counter() - start)
            statuses[f"{answer.status_code} {answer.json().get('status', answer.json().get('type'))}"] += 1
    return latencies, statuses


# -- (c) concurrent clients -------------------------------------------------------------------------------------


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    acknowledged: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (team, status)


async def crowd(space: Workspace, url: str, tokens: dict[str, str], seconds: float) -> tuple[Load, float]:
    found = Load()
    limits = httpx.Limits(max_connections=len(tokens) + 10, max_keepalive_connections=len(tokens) + 10)
    contents = [space.predictions(50_000 + k) for k in range(64)]  # shared by the teams: distinct within each
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        deadline = time.monotonic() + seconds

        async def one_client(team: str, token: str) -> None:
            k = 0
            while time.monotonic() < deadline:
                content = contents[k % len(contents)] if k < len(contents) else space.predictions(60_000 + k)
                start = time.perf_counter()
                try:
                    answer = await client.post(
                        f"{API}/challenges/{SLUG}/submissions",
                        files={"file": (f"c{k}.jsonl", content)},
                        data={"kind": "predictions"},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                except httpx.HTTPError as error:
                    found.errors.append(f"{team}: {type(error).__name__} {error}")
                    k += 1
                    continue
                found.latencies.append(time.perf_counter() - start)
                body = answer.json()
                status = body.get("status") if isinstance(body.get("status"), str) else body.get("type")
                found.answers[f"{answer.status_code} {status}"] += 1
                if (answer.status_code, status) in ((202, "queued"), (200, "over-quota")):
                    found.acknowledged[body["id"]] = (team, status)
                else:
                    found.errors.append(f"{team}: {answer.status_code} {answer.text[:200]}")
                k += 1

        start = time.perf_counter()
        await asyncio.gather(*(one_client(team, token) for team, token in tokens.items()))
        elapsed = time.perf_counter() - start
    return found, elapsed


def check_ledger(space: Workspace, load_: Load, teams: list[str]) -> list[str]:
    """What is wrong in the ledger after (c): an acknowledged submission missing or twice, one never acknowledged,
    a status other than answered, a team over its quota."""
    problems = []
    ledger = Ledger.open(None, space.home)
    try:
        rows = []
        for team in teams:
            offset = 0
            while page := ledger.submissions(SLUG, team, offset, 100):
                rows += page
                offset += len(page)
    finally:
        ledger.close()
    counts = Counter(row.id for row in rows)
    problems += [f"submission {id} recorded {n} times" for id, n in counts.items() if n > 1]
    recorded = {row.id: row for row in rows}
    problems += [f"acknowledged {id} is not in the ledger" for id in load_.acknowledged if id not in recorded]
    problems += [f"{id} is in the ledger, never acknowledged" for id in recorded if id not in load_.acknowledged]
    for id, (_, status) in load_.acknowledged.items():
        row = recorded.get(id)
        if row is not None and status == "over-quota" and row.status != "over-quota":
            problems.append(f"{id} was answered over-quota, recorded {row.status}")
    used = Counter(row.team for row in rows if row.counts_for_quota)
    problems += [
        f"{team} holds {n} submissions, over its {PER_DAY} of today" for team, n in used.items() if n > PER_DAY
    ]
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="evaluation workers of the server")
    parser.add_argument("--uploads", type=int, default=200, help="(a): accepted uploads, one after the other")
    parser.add_argument("--scored", type=int, default=5, help="(b): submissions followed to the board")
    parser.add_argument("--clients", type=int, default=50, help="(c): concurrent clients, a team each")
    parser.add_argument("--duration", type=float, default=120.0, help="(c): seconds of load")
    parser.add_argument("--keep", action="store_true", help="keep the workspace (its path is printed)")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="codefest-bench-service-"))
    process = None
    try:
        started = time.perf_counter()
        space = workspace(base)
        assert len(space.ids) == ITEMS, f"{len(space.ids)} test items, not {ITEMS}"
        a_teams = enrol(space, [f"a-{n:02d}" for n in range(-(-args.uploads // PER_DAY))])
        b_teams = enrol(space, [f"b-{n:02d}" for n in range(args.scored)])
        c_teams = enrol(space, [f"c-{n:02d}" for n in range(args.clients)])
        process, url = serve(space, args.workers)
        print(f"workspace built and server up in {time.perf_counter() - started:.1f} s ({base})", file=sys.stderr)
        with httpx.Client(base_url=url, timeout=60) as client:  # a first board and upload: imports, caches
            client.get(f"{API}/challenges/{SLUG}/leaderboard")
        print(f"(b) {args.scored} submissions followed to the board", file=sys.stderr)
        board = to_board(space, url, b_teams)
        print(f"(a) {args.uploads} accepted uploads", file=sys.stderr)
        latencies, a_statuses = accepted(space, url, a_teams, args.uploads)
        print(f"(c) {args.clients} clients for {args.duration:.0f} s", file=sys.stderr)
        load_, elapsed = asyncio.run(crowd(space, url, c_teams, args.duration))
        problems = check_ledger(space, load_, list(c_teams))
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)

    ms = 1000.0
    a = percentiles(latencies)
    c = percentiles(load_.latencies)
    answered, scored, ranked = (statistics.median(column) for column in zip(*board, strict=True))
    print(f"\ncodefest serve, {args.workers} worker(s), {os.cpu_count()} CPUs, {ITEMS}-item predictions files")
    print(f"{'measure':<52} {'median':>9} {'p90':>9} {'p99':>9} {'max':>9}")
    row = "{:<52} {:>9.1f} {:>9.1f} {:>9.1f} {:>9.1f}"
    print(row.format(f"(a) accepted upload answered, ms (n={len(latencies)})", *(a[k] * ms for k in a)))
    spread = percentiles([r for _, _, r in board])
    print(row.format(f"(b) upload to on the board, ms (n={len(board)})", *(spread[k] * ms for k in spread)))
    print(f"    (b) medians: answered {answered * ms:.0f} ms, scored {scored * ms:.0f} ms, ranked {ranked * ms:.0f} ms")
    print(row.format(f"(c) upload answered under load, ms (n={len(load_.latencies)})", *(c[k] * ms for k in c)))
    print(
        f"    (c) {args.clients} clients, {elapsed:.0f} s: {len(load_.latencies) / elapsed:.1f} answers/s; "
        + ", ".join(f"{k}: {v}" for k, v in sorted(load_.answers.items()))
    )
    print("    (a) answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(a_statuses.items())))
    print(f"    (c) errors (anything but queued or over-quota): {len(load_.errors)}")
    for error in load_.errors[:10]:
        print(f"      {error}")
    print(f"    ledger after (c): {len(load_.acknowledged)} acknowledged; problems: {len(problems)}")
    for problem in problems[:10]:
        print(f"      {problem}")
    if load_.errors or problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
