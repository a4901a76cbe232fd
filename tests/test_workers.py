"""Evaluation workers: the loop claims, keeps its lease, records the verdict; a failure records nothing.

The evaluations here are small functions of the test's own, given to the loop in place of the harness's: the loop
is what is tested, not the scoring.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from codefest.challenges.spec import SubmissionLimits
from codefest.core.errors import VaultUnavailable
from codefest.evaluation.claims import WORKER
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.workers import EVALUATOR, Verdict, Worker, dead_holders, evaluate_submission

pytestmark = pytest.mark.slow  # starts real servers and worker processes: seconds a test

LIMITS = SubmissionLimits(per_team_per_day=5, total=10)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    opened = Ledger.open(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path)
    opened.add_team("office-a")
    return opened


def _queued(ledger: Ledger, sha: str = "a" * 64) -> str:
    row = ledger.receive(
        "c", "office-a", "predictions", sha, 10, "p.jsonl", "uploads/c/x/upload", LIMITS, "main", "participant"
    )
    assert row.status == "queued"
    return row.id


def test_a_claimed_submission_gets_its_verdict(ledger: Ledger, tmp_path: Path) -> None:
    submission = _queued(ledger)
    seen: list[tuple[Path, str]] = []

    def evaluate(root: Path, given: Ledger, submission_id: str) -> Verdict:
        seen.append((root, submission_id))
        return Verdict("invalid", "line 3: unknown id")

    stop = threading.Event()
    worker = Worker("w1", tmp_path, ledger, evaluate, poll_seconds=0.05)
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 10
    while (ledger.get(submission).status == "queued") and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    row = ledger.get(submission)
    assert row is not None and (row.status, row.message, row.worker) == ("invalid", "line 3: unknown id", "w1")
    assert seen == [(tmp_path, submission)]


def test_a_failed_evaluation_records_nothing_and_is_logged(
    ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    submission = _queued(ledger)

    def evaluate(root: Path, given: Ledger, submission_id: str) -> Verdict:
        raise RuntimeError("the vault is not mounted")

    claimed = ledger.claim("w1", 60)
    assert claimed is not None and claimed.id == submission
    with caplog.at_level(logging.ERROR, "codefest.workers"):
        assert Worker("w1", tmp_path, ledger, evaluate).one(submission) is False
    assert "the vault is not mounted" in caplog.text and submission in caplog.text
    row = ledger.get(submission)
    assert row is not None and row.status == "running"  # taken over once its lease expires


def test_a_worker_without_the_vault_gives_the_submission_back_to_wait(
    ledger: Ledger, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The real evaluation checks the vault first; the loop then queues the submission again, saying why to its
    team, without a traceback, and waits before it claims again, instead of crashing it after three attempts."""
    submission = _queued(ledger)
    with pytest.raises(VaultUnavailable):
        evaluate_submission(tmp_path, ledger, submission)  # challenge "c" has no vault under tmp_path
    tried: list[str] = []

    def evaluate(root: Path, given: Ledger, submission_id: str) -> Verdict:
        tried.append(submission_id)
        return evaluate_submission(root, given, submission_id)

    stop = threading.Event()
    worker = Worker("w1", tmp_path, ledger, evaluate, poll_seconds=0.05)
    thread = threading.Thread(target=worker.run, args=(stop,))
    with caplog.at_level(logging.WARNING, logger="codefest.workers"):
        thread.start()
        deadline = time.monotonic() + 10
        while not tried and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        thread.join(timeout=10)
    row = ledger.get(submission)
    assert row is not None and (row.status, row.attempts, row.worker) == ("queued", 0, None)
    assert row.message.startswith("waiting for a worker that holds the held-out data of c: ")
    assert str(tmp_path) not in row.message
    assert tried == [submission]  # waited, rather than claiming it again at once
    assert [r.exc_info for r in caplog.records] == [None] and str(tmp_path) in caplog.text


def test_the_lease_is_renewed_while_the_evaluation_runs(ledger: Ledger, tmp_path: Path) -> None:
    submission = _queued(ledger)
    taken: list[object] = []

    def evaluate(root: Path, given: Ledger, submission_id: str) -> Verdict:
        for _ in range(6):  # 1.2 s: four leases of 0.3 s
            time.sleep(0.2)
            taken.append(given.claim("thief", 0.3))
        return Verdict("invalid", "done")

    assert ledger.claim("w1", 0.3) is not None
    assert Worker("w1", tmp_path, ledger, evaluate, lease_seconds=0.3).one(submission)
    assert taken == [None] * 6
    assert ledger.get(submission).status == "invalid"  # type: ignore[union-attr]


def test_the_seam_names_the_harness_evaluator(ledger: Ledger, tmp_path: Path) -> None:
    """`evaluate_submission` looks the harness's function up when called: until it exists, a worker logs why."""
    assert EVALUATOR == "codefest.evaluation.evaluate:evaluate_submission"
    import codefest.evaluation.evaluate as harness

    if not hasattr(harness, "evaluate_submission"):
        with pytest.raises(AttributeError, match="evaluate_submission"):
            evaluate_submission(tmp_path, ledger, "no-such-id")


def test_a_worker_process_stops_quietly_on_sigterm(tmp_path: Path) -> None:
    env = {**os.environ, "CODEFEST_HOME": str(tmp_path), "CODEFEST_DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}"}
    worker = subprocess.Popen(
        [sys.executable, "-m", "codefest.evaluation.workers", "w9"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60  # the ledger is opened once the signals are taken: a loaded machine is slow
    while not (tmp_path / "l.db").is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0 and "Traceback" not in stderr
    assert (tmp_path / "l.db").is_file()


def test_a_starting_worker_takes_over_at_once_what_dead_workers_of_its_host_held(
    ledger: Ledger, tmp_path: Path
) -> None:
    """A restarted server's worker: what its dead predecessors held is claimed without waiting for their leases;
    what a worker of another host holds waits for its lease (that host may still be running it)."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    host = socket.gethostname()
    holders = {
        "dead-here": f"{WORKER}{host}#{ended.pid}-00c0ffee",
        "alive-here": f"{WORKER}{host}#{os.getpid()}-00c0ffee",
        "elsewhere": f"{WORKER}another-host#{ended.pid}-00c0ffee",
        "evaluate": f"evaluate@{host}#{ended.pid}",
    }
    held = {}
    for n, (what, worker) in enumerate(holders.items()):
        held[what] = _queued(ledger, f"{n:064x}")
        assert ledger.claim(worker, 300) is not None
    assert dead_holders(ledger) == sorted([holders["dead-here"], holders["evaluate"]])

    seen: list[str] = []

    def evaluate(root: Path, given: Ledger, submission_id: str) -> Verdict:
        seen.append(submission_id)
        return Verdict("invalid", "checked")

    stop = threading.Event()
    worker = Worker("w-new", tmp_path, ledger, evaluate, poll_seconds=0.05)
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 20
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # time enough to take a third, which it must not
    stop.set()
    thread.join(timeout=20)
    assert sorted(seen) == sorted([held["dead-here"], held["evaluate"]])
    for what, submission in held.items():
        row = ledger.get(submission)
        assert row is not None
        if what in ("dead-here", "evaluate"):
            assert (row.status, row.worker, row.attempts) == ("invalid", "w-new", 2)
        else:
            assert (row.status, row.worker, row.attempts) == ("running", holders[what], 1)
