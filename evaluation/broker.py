"""The Celery engine of a multi-host event: the app, its queues, and sending a ledger submission to a worker.

CODEFEST_BROKER_URL selects it (`redis://HOST:6379/0`; an `amqp://` URL selects RabbitMQ by configuration alone,
which nothing here tests); unset, codefest keeps its embedded default, the in-process workers of `codefest serve`.
The ledger stays the source of truth: a message only says "evaluate submission ID", and the task is idempotent by
that id (`codefest.evaluation.tasks`), so a message delivered twice or late changes nothing. No result backend:
statuses and scores are in the ledger.

Exactly once, from the broker's side: a message is acknowledged after its task ran (`task_acks_late`), and given to
another worker when the worker running it dies (`task_reject_on_worker_lost`; Redis redelivers what was not
acknowledged within the visibility timeout). Each worker process holds one message at a time
(`worker_prefetch_multiplier=1`), so a long code run never holds back a queued one. The visibility timeout must be
longer than any evaluation, else Redis hands a running task to a second worker (which then finds the submission
held in the ledger and waits): by default twice the longest wall time the challenges declare plus a lease, at least
an hour; CODEFEST_VISIBILITY_TIMEOUT (seconds) overrides it. On RabbitMQ, raise the server's `consumer_timeout`
(30 minutes by default) above it likewise.

Three queues: `score` (predictions files: seconds of CPU), `code` (pilots: sandboxed runs up to their wall time) and
`code-gpu` (pilots of a challenge whose `resources.gpus` is above 0), so that organisers start `codefest worker
--queues code` on the machines fit for code runs and `codefest worker --queues code-gpu --gpus 0,1` on those with
GPUs. A worker without GPUs does not listen on `code-gpu`, so it never takes a run that needs one.

Nothing is lost when the broker is down or loses its messages (restarted without persistence): a submission is
committed to the ledger `queued` before anything is sent, and its row says until when a message for it is trusted
to be in the broker (`Ledger.mark_sent`). Sending marks the row first, so that of many processes only one sends;
a failed send clears the mark. Every `codefest worker` sweeps the ledger (`sweep`) when it starts and every
`sweep_seconds()`: a queued submission that has no trusted message (never sent, sending failed, or the mark is
older than CODEFEST_REQUEUE_SECONDS, default the visibility timeout) is sent again. A message sent twice is
harmless: the task is idempotent.

Public names (used by `codefest worker`, `codefest serve`, `codefest evaluate --inbox` and benchmarks): `ENV`,
`QUEUES`, `configured()`, `app()`, `queue_for(kind, gpus)`, `gpus_for(challenge)`, `send(submission_id, queue)`,
`enqueue(ledger, submission_id, kind, challenge)`, `sweep(ledger)`,
`wait_ended(ledger, ids)`, `Sender(ledger)`.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from codefest.evaluation.records import Kind

if TYPE_CHECKING:
    from celery import Celery

    from codefest.evaluation.ledger import Ledger, Submission

ENV: Final = "CODEFEST_BROKER_URL"
VISIBILITY_ENV: Final = "CODEFEST_VISIBILITY_TIMEOUT"  # seconds; tests make it short
REQUEUE_ENV: Final = "CODEFEST_REQUEUE_SECONDS"  # how long a sent message is trusted before a sweep sends it again
SWEEP_ENV: Final = "CODEFEST_SWEEP_SECONDS"  # how often each worker sweeps the ledger
LEASE_ENV: Final = "CODEFEST_LEASE_SECONDS"  # a worker's lease of a submission in the ledger, renewed every third
SCORE: Final = "score"
CODE: Final = "code"
CODE_GPU: Final = "code-gpu"
QUEUES: Final = (SCORE, CODE, CODE_GPU)
TASK: Final = "codefest.evaluate"  # its one argument: a submission id of the ledger
MIN_VISIBILITY: Final = 3600.0  # Celery's own default for Redis
LEASE_SECONDS: Final = 300.0
SWEEP_SECONDS: Final = 60.0
log = logging.getLogger("codefest.broker")


def configured() -> str | None:
    """The broker's URL when an event runs on Celery, else None (the embedded default)."""
    return os.environ.get(ENV) or None


def shown(url: str) -> str:
    """The URL as it may be logged: without its password."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(url))


def _seconds(variable: str, default: float) -> float:
    told = os.environ.get(variable, "")
    try:
        return float(told) if told else default
    except ValueError:
        log.warning("%s=%r is not a number of seconds; %s s is used", variable, told, default)
        return default


def lease_seconds() -> float:
    return _seconds(LEASE_ENV, LEASE_SECONDS)


@functools.cache
def longest_wall_time() -> float:
    """The longest wall time a challenge here declares for a code run (0 when none can be read); read once."""
    from codefest.challenges.discovery import discover, load

    longest = 0.0
    for slug in discover():
        try:
            longest = max(longest, float(load(slug).spec.resources.wall_time_seconds))
        except Exception:  # a challenge that does not load is refused where it is used, with its message
            continue
    return longest


def visibility_timeout() -> float:
    """Seconds Redis waits for a message's acknowledgement before giving it to another worker: longer than any
    evaluation (twice the longest declared wall time, plus a lease for the scoring), at least an hour."""
    return _seconds(VISIBILITY_ENV, max(MIN_VISIBILITY, 2 * longest_wall_time() + lease_seconds()))


def requeue_seconds() -> float:
    return _seconds(REQUEUE_ENV, visibility_timeout())


def sweep_seconds() -> float:
    return _seconds(SWEEP_ENV, min(SWEEP_SECONDS, requeue_seconds() / 2))


def transport_options() -> dict[str, float]:
    """The visibility timeout, and how often a worker looks for messages to give out again (Redis; other transports
    ignore both): a tenth of the timeout, at most a minute, rather than kombu's default of every 100 s."""
    timeout = visibility_timeout()
    return {
        "visibility_timeout": timeout,
        "unacked_restore_interval": max(1.0, min(60.0, timeout / 10)),
        "unacked_restore_throttle": 1,
    }


def queue_for(kind: str, gpus: int = 0) -> str:
    """Predictions files are scored on `score`; pilots run on `code`, or on `code-gpu` when they need `gpus`."""
    if kind != Kind.CODE:
        return SCORE
    return CODE_GPU if gpus > 0 else CODE


def gpus_for(challenge: str) -> int:
    """The GPUs a code run of `challenge` needs, as declared now (0 when it cannot be read: its evaluation then
    fails with the challenge's own message)."""
    from codefest.challenges.discovery import load

    try:
        return int(load(challenge).spec.resources.gpus)
    except Exception:
        return 0


def make_app(url: str) -> Celery:
    """A Celery app on the broker at `url`, configured as the module says."""
    from celery import Celery
    from kombu import Queue

    celery = Celery("codefest", broker=url, include=["codefest.evaluation.tasks"])
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options=transport_options(),
        task_queues=[Queue(name, routing_key=name) for name in QUEUES],
        task_default_queue=SCORE,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_proc_alive_timeout=120.0,  # a pool process warms up (imports, stores) before it takes a task
        worker_send_task_events=False,
        worker_hijack_root_logger=False,  # `codefest worker` sets up its log itself
        worker_redirect_stdouts=False,
        # an evaluation in hand when the broker goes away is finished and recorded in the ledger, not thrown away;
        # its message comes back (or not) as the broker decides, and the ledger makes the repeat do nothing
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    return celery


@functools.cache
def app() -> Celery:
    """The app on CODEFEST_BROKER_URL (one per process)."""
    url = configured()
    if url is None:
        raise RuntimeError(f"{ENV} is not set: the event runs on its embedded workers")
    return make_app(url)


def send(submission_id: str, queue: str, countdown: float | None = None) -> None:
    """One message for the submission on `queue` (delivered after `countdown` seconds, when given); raises when the
    broker cannot be reached."""
    app().send_task(
        TASK,
        args=[submission_id],
        queue=queue,
        countdown=countdown,
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0},
    )


def _challenge_of(ledger: Ledger, submission_id: str) -> str | None:
    row = ledger.get(submission_id)
    return None if row is None else row.challenge


def enqueue(ledger: Ledger, submission_id: str, kind: str, challenge: str | None = None) -> bool:
    """Send a queued submission of the ledger to its queue, unless a message for it is already trusted to be there;
    True when sent. A code submission's queue depends on its challenge (`challenge`, else read from the ledger). A
    broker that cannot be reached is logged, not raised: the submission stays queued in the ledger and a worker's
    sweep sends it."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        if kind == Kind.CODE and challenge is None:
            challenge = _challenge_of(ledger, submission_id)
        if not ledger.mark_sent(submission_id, requeue_seconds()):
            return False
    except SQLAlchemyError as error:  # unmarked, it is the sweep's
        log.warning("submission %s was not sent now (the ledger failed: %s); a sweep sends it", submission_id, error)
        return False
    try:
        send(submission_id, queue_for(kind, gpus_for(challenge) if challenge else 0))
    except Exception as error:  # kombu's OperationalError, a refused connection, a DNS failure...
        ledger.unsent(submission_id)
        log.warning(
            "the broker cannot be reached (%s): submission %s stays queued in the ledger; a worker's sweep sends it",
            error,
            submission_id,
        )
        return False
    return True


class Sender:
    """Sends queued submissions to the broker from one background thread, in order, so that no request of
    `codefest serve` waits for a broker that is slow or down (redis-py retries a refused connection for seconds).
    What is not sent, because sending failed or the process stopped first, stays queued in the ledger for a
    worker's sweep."""

    def __init__(self, ledger: Ledger) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.ledger = ledger
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="codefest-send")

    def __call__(self, row: Submission) -> None:
        self._pool.submit(self._send, row.id, row.kind, row.challenge)

    def _send(self, submission_id: str, kind: str, challenge: str) -> None:
        try:
            enqueue(self.ledger, submission_id, kind, challenge)
        except Exception:  # the ledger failed after sending: the row's mark expires and a sweep sends it again
            log.exception("submission %s: sending it to the broker failed; a worker's sweep sends it", submission_id)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def sweep(ledger: Ledger, kinds: Sequence[str] | None = None) -> int:
    """Send every queued submission (of `kinds`, else all) that has no trusted message; how many were sent."""
    sent = 0
    for submission_id, kind in ledger.to_send():
        if (kinds is None or kind in kinds) and enqueue(ledger, submission_id, kind):
            sent += 1
    if sent:
        log.info("sent %d queued submission(s) of the ledger to the broker", sent)
    return sent


def wait_ended(
    ledger: Ledger,
    ids: Sequence[str],
    progress: Callable[[int, int], None] = lambda done, total: None,
    poll_seconds: float = 0.5,
) -> dict[str, Submission]:
    """Wait until every submission of `ids` has ended (a terminal status in the ledger), telling `progress` how many
    have, each time that changes; their rows. Nothing here bounds the wait: the workers' leases and the ledger's
    MAX_ATTEMPTS end every submission a worker took, and one no worker can take stays queued, as the ledger says."""
    from sqlalchemy.exc import SQLAlchemyError

    from codefest.evaluation.ledger import statuses

    rows: dict[str, Submission] = {}
    told = -1
    while True:
        for submission_id in ids:
            if submission_id not in rows:
                try:
                    row = ledger.get(submission_id)
                except SQLAlchemyError as error:  # the database dropped the connection: asked again next round
                    log.warning("the ledger could not be read (%s); trying again", type(error).__name__)
                    break
                if row is not None and row.status in statuses.TERMINAL:
                    rows[submission_id] = row
        if len(rows) != told:
            told = len(rows)
            progress(told, len(ids))
        if len(rows) == len(ids):
            return rows
        time.sleep(poll_seconds)
