"""`codefest worker`: a Celery worker that evaluates submissions of the ledger from the broker's queues.

The worker is Celery's own (`app.Worker`, the prefork pool): it takes SIGTERM as a warm shutdown (the submissions in
hand are finished, the rest stay in the broker) and a second SIGTERM or SIGQUIT as a cold one. Each pool process
warms up (`workers.warm`: the evaluator, MLflow's store, each challenge's scorer) before it takes a task; the main
process loads only the code, before it forks, and opens no database there for the pool to inherit.

The main process also sweeps the ledger (`broker.sweep`), when it starts and every `broker.sweep_seconds()`: what was
received while the broker was down, or lost by a broker restarted without persistence, is sent again. Several
workers sweeping at once send a submission once: the ledger decides who sends (`Ledger.mark_sent`).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from codefest.core.errors import CodefestError
from codefest.core.workspace import home
from codefest.evaluation import broker
from codefest.evaluation.ledger import Ledger

log = logging.getLogger("codefest.worker")


def check_queues(queues: Sequence[str]) -> list[str]:
    """The queues named, each once; CodefestError for one codefest does not route to."""
    chosen = list(dict.fromkeys(q.strip() for q in queues if q.strip()))
    unknown = [q for q in chosen if q not in broker.QUEUES]
    if unknown or not chosen:
        raise CodefestError(
            f"unknown queue(s): {', '.join(unknown) or '(none given)'}; codefest's queues are "
            + " and ".join(broker.QUEUES),
            "codefest worker --queues score,code",
        )
    return chosen


def sweeper(ledger: Ledger, stop: threading.Event, seconds: float) -> threading.Thread:
    """A thread that sweeps the ledger now and every `seconds` until `stop` is set."""

    def run() -> None:
        while True:
            try:
                broker.sweep(ledger)
            except SQLAlchemyError as error:
                log.warning("the ledger could not be swept (%s); trying again in %.0f s", error, seconds)
            if stop.wait(seconds):
                return

    thread = threading.Thread(target=run, name="codefest-sweep", daemon=True)
    thread.start()
    return thread


def _warm_pool_process(**_: Any) -> None:
    """A pool process, once forked: its ledger and worker name, and the stores of the challenges it may score."""
    from codefest.evaluation.tasks import here
    from codefest.evaluation.workers import warm

    name, _ledger = here()
    warm(home())
    log.info("%s: ready", name)


def run(queues: Sequence[str], concurrency: int, loglevel: str = "INFO") -> int:
    """Run a worker on CODEFEST_BROKER_URL's `queues` with `concurrency` pool processes until it is stopped; its
    exit code."""
    from celery.signals import worker_process_init

    from codefest.evaluation.workers import warm

    url = broker.configured()
    if url is None:
        raise CodefestError(
            f"{broker.ENV} is not set: a worker takes its work from a broker",
            f"{broker.ENV}=redis://127.0.0.1:6379/0 codefest worker   (or let codefest serve run its own workers)",
        )
    chosen = check_queues(queues)
    logging.basicConfig(level=loglevel, format="%(asctime)s %(processName)s %(name)s %(levelname)s %(message)s")
    root = home()
    warm(root, stores=False)
    worker_process_init.connect(_warm_pool_process, weak=False)
    celery = broker.app()
    import codefest.evaluation.tasks  # noqa: F401  (registers the task on the app)

    ledger = Ledger.open(None, root)
    stop = threading.Event()
    log.info(
        "codefest worker on %s, queues %s, %d process(es); visibility timeout %.0f s, lease %.0f s",
        broker.shown(url),
        ",".join(chosen),
        concurrency,
        broker.visibility_timeout(),
        broker.lease_seconds(),
    )
    sweeping = sweeper(ledger, stop, broker.sweep_seconds())
    worker = celery.Worker(
        queues=chosen,
        concurrency=concurrency,
        pool="prefork",
        hostname=f"codefest-{os.getpid()}@{socket.gethostname()}",
        loglevel=loglevel,
        optimization="fair",
        without_gossip=True,
        without_mingle=True,
        quiet=True,
    )
    try:
        worker.start()
    finally:
        stop.set()
        sweeping.join(timeout=10)
        ledger.close()
    return int(worker.exitcode or 0)
