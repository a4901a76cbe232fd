"""Evaluation workers: processes that claim queued submissions from the ledger and evaluate them by id.

The evaluation is a function of a submission id (`Evaluate`), run wherever the workspace's vault is; the loop here
only claims, keeps the claim's lease alive while the evaluation runs, and records the verdict. A worker told to stop
(SIGTERM, Ctrl+C) finishes the submission in hand, then exits; one that is killed or crashes mid-evaluation records
nothing, and the ledger gives the submission to another worker once the lease has expired (at most MAX_ATTEMPTS
times). `codefest serve` starts them as child processes: `python -m codefest.evaluation.workers [NAME]`.

A worker process is named `worker@HOST#PID-NONCE` in the ledger: a process of the same host can tell that it no
longer runs, so a worker that starts (a restarted `codefest serve`) takes over at once what the dead workers of its
host held, as it does for a dead `codefest evaluate` (`evaluate@HOST#PID`), instead of waiting for their leases to
expire; a worker of another host is left to its lease. A worker whose server died (its parent is gone) finishes the
submission in hand and exits.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from codefest.core import collector
from codefest.core.errors import CodefestError, VaultUnavailable
from codefest.core.workspace import home
from codefest.evaluation.claims import gone, worker_name
from codefest.evaluation.devices import NoDevices, checked
from codefest.evaluation.ledger import Cost, ItemScores, Ledger
from codefest.evaluation.ledger.engine import ENV as DATABASE_VARIABLE  # how a worker learns the ledger's URL
from codefest.evaluation.ledger.statuses import RUNNING
from codefest.evaluation.scoring import MetricValue

LEASE_SECONDS = 300.0  # renewed every third of it while the evaluation runs
POLL_SECONDS = 0.25  # how often an idle worker asks the ledger for work: a quarter second of a scoring's latency
STOP_SECONDS = 30.0  # how long `stop_all` waits for a worker to finish its submission before killing it
PAGE = 1000  # submissions read at a time when looking for those held by dead workers
PARENT = "CODEFEST_WORKER_PARENT"  # environment: the pid of the server that started the worker
NO_VAULT_PAUSE = 60.0  # seconds a worker without a challenge's vault waits before claiming again
WAITING = "waiting for a worker that holds the held-out data of {slug}"  # what its team reads meanwhile
EVALUATOR = "codefest.evaluation.evaluate:evaluate_submission"  # the seam: looked up when a submission is evaluated
RECORD_TRIES = 5  # a verdict is recorded again this many times when the database dropped the connection
RECORD_PAUSE_SECONDS = 1.0
log = logging.getLogger("codefest.workers")


@dataclass(frozen=True)
class Verdict:
    """What an evaluation found: the arguments of `Ledger.finish` besides the submission and the worker."""

    status: str  # scored, invalid, or a code run's failure
    message: str  # for the team: no server path, no label, no other team
    scores: Mapping[str, Mapping[str, MetricValue]] | None = None  # {part: {metric: value}}
    per_item: Sequence[ItemScores] = ()
    public_run_id: str | None = None
    private_run_id: str | None = None
    cost: Cost | None = None
    signature: str | None = None  # the evaluation signature the scores were computed under
    breakdowns: Mapping[str, Mapping[str, Any] | None] | None = None  # {part: scores per group of items}


Evaluate = Callable[[Path, Ledger, str], Verdict]  # (workspace, ledger, submission id) -> verdict


def evaluate_submission(root: Path, ledger: Ledger, submission_id: str) -> Verdict:
    """Evaluate one submission by its id: the harness's `EVALUATOR`, looked up when called (a worker process loads
    it beforehand, in `warm`)."""
    module, _, name = EVALUATOR.partition(":")
    evaluate: Evaluate = getattr(importlib.import_module(module), name)
    return evaluate(root, ledger, submission_id)


def warm(root: Path, stores: bool = True) -> None:
    """Load what the first evaluation would otherwise load while a team waits (about 10 s: the evaluator, MLflow and
    its store, each served challenge's experiments and scorer), before the worker claims anything. A failure here
    is logged and left to the evaluation that meets it again, which records it. Without `stores`, only code is
    loaded (no database opened): what a process that forks workers does first."""
    from codefest.challenges.discovery import discover, load
    from codefest.evaluation.scorers import scorer_for
    from codefest.evaluation.tracking import Tracker
    from codefest.shared_datasets.heldout import vault_built

    try:
        importlib.import_module(EVALUATOR.partition(":")[0])
        for slug in discover():
            if vault_built(slug, root):
                scorer_for(load(slug).spec.task)
                if stores:
                    Tracker(slug, root)  # the store opened (a new one made, once), the experiments found or made
    except Exception:
        log.exception("preparing the evaluations failed; each evaluation will try again")


def dead_holders(ledger: Ledger) -> list[str]:
    """The workers holding a `running` submission that were processes of this host and no longer run."""
    holders: set[str] = set()
    offset = 0
    while rows := ledger.submissions(offset=offset, limit=PAGE):
        holders |= {row.worker for row in rows if row.status == RUNNING and row.worker}
        offset += len(rows)
    return sorted(name for name in holders if gone(name))


class Worker:
    """One worker's loop over the ledger."""

    def __init__(
        self,
        name: str,
        root: Path,
        ledger: Ledger,
        evaluate: Evaluate = evaluate_submission,
        *,
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        kinds: Sequence[str] | None = None,
    ) -> None:
        self.name, self.root, self.ledger, self.evaluate = name, root, ledger, evaluate
        self.lease_seconds, self.poll_seconds, self.kinds = lease_seconds, poll_seconds, kinds
        self.pause = 0.0  # set when a submission was given back for want of its vault: wait before claiming again
        self.left: set[str] = set()  # submissions given back for want of GPUs: never claimed again by this worker

    def run(self, stop: threading.Event) -> None:
        """Claim and evaluate until `stop` is set; the submission in hand is finished first. What dead workers of
        this host held when the loop starts is claimed without waiting for their leases."""
        dead = dead_holders(self.ledger)
        if dead:
            log.warning("%s: taking over the submissions of stopped workers: %s", self.name, ", ".join(dead))
        while not stop.is_set():
            claimed = self.ledger.claim(self.name, self.lease_seconds, self.kinds, dead=dead, skip=self.left)
            if claimed is None:
                stop.wait(self.poll_seconds)
                continue
            if not self.one(claimed.id) and self.pause:
                stop.wait(self.pause)  # the vault is not here: not at once again
                self.pause = 0.0

    def one(self, submission_id: str) -> bool:
        """Evaluate a claimed submission and record its verdict; False when nothing was recorded (the evaluation
        failed, which the log tells the organisers, or another worker took the submission over)."""
        try:
            with lease_kept(self.ledger, submission_id, self.name, self.lease_seconds):
                verdict = self.evaluate(self.root, self.ledger, submission_id)
        except VaultUnavailable as missing:
            self._give_back(submission_id, missing)
            return False
        except NoDevices as missing:  # its devices do not change while it runs: the submission is another's
            log.warning("%s: submission %s waits for a worker with GPUs: %s", self.name, submission_id, missing.problem)
            self.ledger.release(submission_id, self.name, missing.waiting)
            self.left.add(submission_id)
            return False
        except Exception:
            log.exception(
                "%s: the evaluation of submission %s failed; it will be tried again", self.name, submission_id
            )
            return False
        recorded = record(self.ledger, submission_id, self.name, verdict)
        if not recorded:
            log.warning(
                "%s: submission %s was no longer ours to finish; its verdict is dropped", self.name, submission_id
            )
        return recorded

    def _give_back(self, submission_id: str, missing: VaultUnavailable) -> None:
        """This host cannot score the challenge: the submission waits, queued, saying so to its team (no path), and
        the organisers' log says where the vault was looked for, in one line; a rebuild would draw new held-out
        data, so the fix is to install the vault, which the error says."""
        log.warning(
            "%s: submission %s of %s waits for a worker with its held-out data: %s (%s); fix: %s",
            self.name,
            submission_id,
            missing.slug,
            missing.problem,
            missing.detail,
            missing.fix,
        )
        self.ledger.release(submission_id, self.name, waiting(missing))
        self.pause = NO_VAULT_PAUSE


def waiting(missing: VaultUnavailable) -> str:
    """What the team of a submission reads while no worker holding the challenge's vault has taken it (no path)."""
    return f"{WAITING.format(slug=missing.slug)}: {missing.problem}"


@contextlib.contextmanager
def lease_kept(ledger: Ledger, submission_id: str, worker: str, lease_seconds: float) -> Iterator[None]:
    """While the block runs, a thread renews `worker`'s lease of the submission every third of it."""
    done = threading.Event()

    def keep() -> None:
        while not done.wait(lease_seconds / 3):
            try:
                kept = ledger.renew(submission_id, worker, lease_seconds)
            except SQLAlchemyError as error:  # the database dropped the connection: the next third tries again
                log.warning("%s: the lease of submission %s was not renewed (%s)", worker, submission_id, error)
                continue
            if not kept:
                log.warning("%s: lost the lease of submission %s", worker, submission_id)
                return

    keeper = threading.Thread(target=keep, daemon=True)
    keeper.start()
    try:
        yield
    finally:
        done.set()
        keeper.join()


def record(ledger: Ledger, submission_id: str, worker: str, verdict: Verdict, tries: int = RECORD_TRIES) -> bool:
    """The verdict in the ledger, if `worker` still holds the submission. A database that dropped the connection
    is tried again (`tries` times in all, a second apart): the evaluation behind the verdict is not repeated for
    it, and `finish` records a verdict once whatever happens."""
    for attempt in range(1, tries + 1):
        try:
            return ledger.finish(
                submission_id,
                worker,
                verdict.status,
                verdict.message,
                scores=verdict.scores,
                per_item=verdict.per_item,
                public_run_id=verdict.public_run_id,
                private_run_id=verdict.private_run_id,
                cost=verdict.cost,
                signature=verdict.signature,
                breakdowns=verdict.breakdowns,
            )
        except SQLAlchemyError as error:
            if attempt == tries:
                raise
            log.warning("%s: recording submission %s failed (%s); trying again", worker, submission_id, error)
            time.sleep(RECORD_PAUSE_SECONDS)
    return False


# -- as processes ---------------------------------------------------------------------------------------------


def start(root: Path, ledger_url: str | None, name: str | None = None) -> subprocess.Popen[bytes]:
    """A worker process over the workspace `root`, named `name` in the ledger (default: `worker_name()`, which
    lets a restarted server take over what it held); its log goes where ours does. The ledger's URL, which may
    hold a password, passes in the environment. CodefestError, before anything starts, when CODEFEST_GPUS names a
    GPU this host does not have (`codefest serve` says so and exits 2)."""
    checked()
    env = {**os.environ, "CODEFEST_HOME": str(root), PARENT: str(os.getpid())}
    if ledger_url:
        env[DATABASE_VARIABLE] = ledger_url
    command = [sys.executable, "-m", "codefest.evaluation.workers", *([name] if name else [])]
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)


def stop_all(workers: Sequence[subprocess.Popen[bytes]], grace: float = STOP_SECONDS) -> None:
    """SIGTERM to each, then wait for each up to `grace` seconds before killing it."""
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def orphaned(stop: threading.Event, name: str, seconds: float = POLL_SECONDS) -> threading.Thread:
    """A thread that sets `stop` once this process's parent (the server that started it) is gone; the server says
    its pid in the environment, in case it died before this process could ask for its parent."""
    told = os.environ.get(PARENT, "")
    parent = int(told) if told.isdigit() else os.getppid()

    def watch() -> None:
        while not stop.wait(seconds):
            if os.getppid() != parent:
                log.warning("%s: the server that started it is gone; it stops", name)
                stop.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def main(argv: Sequence[str]) -> int:
    """A worker process: runs until SIGTERM or SIGINT, or until its parent is gone, then finishes its submission and
    exits 0, quietly."""
    collector.starting()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    name = argv[0] if argv else worker_name()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    orphaned(stop, name)
    try:
        checked()  # a GPU without its node would run pilots on the CPU: refused before anything is claimed
    except CodefestError as refused:
        log.error("%s: %s; fix: %s", name, refused.problem, refused.fix)
        return 2
    root = home()
    ledger = Ledger.open(None, root)
    try:
        warm(root)
        collector.started()
        log.info("%s: ready", name)
        Worker(name, root, ledger).run(stop)
    finally:
        ledger.close()
    return 0


def exit_now(code: int) -> None:
    """Exit without the interpreter's teardown: with the evaluator's thousands of modules loaded, its garbage
    collection takes seconds (about 1 CPU-s), which `codefest serve` waits for as it stops. Nothing is left to
    clean: the ledger is closed and the verdicts recorded."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
