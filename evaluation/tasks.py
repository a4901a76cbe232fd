"""The Celery task: evaluate one submission of the ledger by its id, at most once whatever the broker delivers.

A message may come twice (redelivered after its worker died, sent again by a sweep) or late; the ledger decides:

- a submission already ended (scored, invalid, a code failure, a refusal) is left as it is;
- one that waits (`queued`) is claimed under this process's name (`claims.worker_name()`, so that a process of the
  same host can tell once it is dead), evaluated while the claim's lease is renewed, and its verdict recorded;
- one left `running` by a dead worker of this host is taken over at once (`claims.gone`); one held by a worker of
  another host is left to its lease: the task is retried when the lease ends, and then takes it over unless it was
  renewed (that worker still runs it) or it ended;
- on a worker without the challenge's held-out data (its vault missing or different from its manifest), the
  submission stays `queued` with a message saying so for the team and the organisers, and the task is retried
  later, so that a worker holding the vault takes it: nothing is lost, nothing is scored without the vault;
- a code submission of a challenge that needs more GPUs than this worker has (`codefest.evaluation.devices`) also
  stays `queued`, saying that it waits for a worker with a GPU, and is sent again, after a pause, to the `code-gpu`
  queue: a message that reached a worker without GPUs (the challenge declared its GPUs after it was sent) goes where
  workers with GPUs take it, and no run that needs a GPU runs without one;
- an evaluation that fails unexpectedly (logged with its traceback) leaves the claim to expire; the retry after the
  lease takes it over, one attempt more, and after `MAX_ATTEMPTS` the ledger ends it `crashed`.

A database that drops its connections (a restart, `pg_terminate_backend`) costs a retry a few seconds later, never
the message. Expected cases are logged in a line each, without a traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from pathlib import Path
from typing import Any, Final

from celery import shared_task
from sqlalchemy.exc import SQLAlchemyError

from codefest.core.errors import VaultUnavailable
from codefest.core.workspace import home
from codefest.evaluation import broker, devices
from codefest.evaluation.claims import gone, worker_name
from codefest.evaluation.ledger import Ledger, statuses
from codefest.evaluation.records import Kind
from codefest.evaluation.workers import Evaluate, Worker, evaluate_submission, waiting
from codefest.shared_datasets.heldout import check_vault

NO_VAULT_RETRY_ENV: Final = "CODEFEST_NO_VAULT_RETRY_SECONDS"
NO_VAULT_RETRY: Final = 60.0  # seconds before a worker without the vault lets another worker try
DATABASE_RETRY: Final = 3.0  # seconds before trying again after the database dropped a connection
log = logging.getLogger("codefest.tasks")

_process: dict[int, tuple[str, Ledger]] = {}  # pid -> this process's worker name and ledger (pool processes fork)


def here() -> tuple[str, Ledger]:
    """This process's worker name and ledger (CODEFEST_DATABASE_URL, else the workspace's), made once a process."""
    pid = os.getpid()
    if pid not in _process:
        _process[pid] = (worker_name(), Ledger.open(None, home()))
    return _process[pid]


def vault_problem(slug: str, root: Path) -> VaultUnavailable | None:
    """Why this host cannot score the challenge `slug` (its vault missing, or its files not the manifest's), else
    None."""
    try:
        check_vault(slug, root)
    except VaultUnavailable as problem:
        return problem
    return None


def _capped(seconds: float) -> float:
    """A retry's countdown, well inside the visibility timeout (a message held longer would be handed out again)."""
    return max(1.0, min(seconds, broker.visibility_timeout() / 2))


def evaluate_once(
    root: Path,
    ledger: Ledger,
    submission_id: str,
    name: str,
    lease_seconds: float,
    evaluate: Evaluate = evaluate_submission,
) -> float | None:
    """Do what the ledger says of the submission (see the module); the seconds after which the task must run again,
    or None when it is done with."""
    row = ledger.get(submission_id)
    if row is None:
        log.warning("submission %s is not in the ledger: nothing to evaluate", submission_id)
        return None
    if row.status in statuses.TERMINAL:
        log.info("submission %s already ended %s: nothing to do", submission_id, row.status)
        return None
    if row.status == statuses.RECEIVED:  # a front end is still storing it
        return _capped(DATABASE_RETRY)
    problem = vault_problem(row.challenge, root)
    if problem is not None:
        after = _capped(broker._seconds(NO_VAULT_RETRY_ENV, NO_VAULT_RETRY))
        detail = problem.detail or problem.problem
        log.warning(
            "%s: submission %s of %s waits for a worker with its held-out data (%s); tried again in %.0f s",
            name,
            submission_id,
            row.challenge,
            detail,
            after,
        )
        message = waiting(problem)
        ledger.note(submission_id, message, trust_seconds=after + broker.requeue_seconds())  # no sweep sends it twice
        return after
    needed = broker.gpus_for(row.challenge) if row.kind == Kind.CODE else 0
    if needed > len(devices.present()):
        _to_gpu_workers(ledger, submission_id, row.challenge, name, needed)
        return None
    dead = [row.worker] if row.status == statuses.RUNNING and row.worker and gone(row.worker) else []
    claimed = ledger.claim(name, lease_seconds, submission_id=submission_id, dead=dead)
    if claimed is None:
        return _not_claimed(ledger, submission_id, lease_seconds)
    if claimed.attempts > 1:
        log.warning(
            "%s: taking over submission %s (attempt %d), whose evaluation by %s stopped",
            name,
            submission_id,
            claimed.attempts,
            row.worker,
        )
    if claimed.message != "queued":
        ledger.note(submission_id, "queued", worker=name)  # no longer waiting for a vault
    log.info("%s: evaluating submission %s (%s, %s)", name, submission_id, claimed.challenge, claimed.kind)
    if Worker(name, root, ledger, evaluate, lease_seconds=lease_seconds).one(submission_id):
        done = ledger.get(submission_id)
        log.info("%s: submission %s %s", name, submission_id, done.status if done else "recorded")
        return None
    return _capped(lease_seconds + 1)  # the claim expires; the retry takes it over, one attempt more


def _to_gpu_workers(ledger: Ledger, submission_id: str, slug: str, name: str, needed: int) -> None:
    """This worker has too few GPUs for the submission: it waits, queued, saying so, and a message for it goes to
    the `code-gpu` queue after a pause (this one is done with); if that fails, a sweep sends it."""
    after = _capped(broker._seconds(NO_VAULT_RETRY_ENV, NO_VAULT_RETRY))
    log.warning(
        "%s: submission %s of %s needs %d GPU(s) and this worker has %d; sent to the %s queue, in %.0f s",
        name,
        submission_id,
        slug,
        needed,
        len(devices.present()),
        broker.CODE_GPU,
        after,
    )
    ledger.note(submission_id, devices.waiting(needed), trust_seconds=after + broker.requeue_seconds())
    try:
        broker.send(submission_id, broker.CODE_GPU, countdown=after)
    except Exception as error:  # the broker went away meanwhile
        log.warning("submission %s was not sent again (%s); a sweep sends it", submission_id, error)
        ledger.unsent(submission_id)


def _not_claimed(ledger: Ledger, submission_id: str, lease_seconds: float) -> float | None:
    row = ledger.get(submission_id)
    if row is None or row.status in statuses.TERMINAL:
        log.info("submission %s already ended %s: nothing to do", submission_id, row.status if row else "(gone)")
        return None
    if row.status == statuses.RUNNING and row.lease_until is not None:
        left = (row.lease_until - dt.datetime.now(dt.UTC)).total_seconds()
        after = _capped(left + 1)
        log.info(
            "submission %s is being evaluated by %s; looked at again in %.0f s, when its lease ends",
            submission_id,
            row.worker,
            after,
        )
        return after
    return _capped(1.0)  # another worker is claiming it this very moment


@shared_task(name=broker.TASK, bind=True, max_retries=None, acks_late=True)
def evaluate(task: Any, submission_id: str) -> None:
    """Evaluate submission `submission_id` of the ledger, once (see the module)."""
    name, ledger = here()
    started = time.monotonic()
    try:
        after = evaluate_once(home(), ledger, submission_id, name, broker.lease_seconds())
    except SQLAlchemyError as error:
        log.warning(
            "%s: the ledger's database failed (%s); submission %s is tried again in %.0f s",
            name,
            type(error).__name__,
            submission_id,
            DATABASE_RETRY,
        )
        after = DATABASE_RETRY
    if after is not None:
        raise task.retry(countdown=after)
    log.debug("%s: submission %s done with in %.2f s", name, submission_id, time.monotonic() - started)
