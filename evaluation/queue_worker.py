"""`codefest worker`: a Celery worker that evaluates submissions of the ledger from the broker's queues.

The worker is Celery's own (`app.Worker`, the prefork pool): it takes SIGTERM as a warm shutdown (the submissions in
hand are finished, the rest stay in the broker) and a second SIGTERM or SIGQUIT as a cold one. Each pool process
warms up (`workers.warm`: the evaluator, MLflow's store, each challenge's scorer) before it takes a task; the main
process loads only the code, before it forks, and opens no database there for the pool to inherit.

The main process also sweeps the ledger (`broker.sweep`), when it starts and every `broker.sweep_seconds()`: what was
received while the broker was down, or lost by a broker restarted without persistence, is sent again. Several
workers sweeping at once send a submission once: the ledger decides who sends (`Ledger.mark_sent`).

A worker with GPUs (`--gpus 0,1`, else CODEFEST_GPUS) listens on `code-gpu` too and tells its pool processes its
devices through CODEFEST_GPUS, which they inherit; each run holds the ones it uses (`codefest.evaluation.devices`).
Its processes must never wait for one another's devices: `--concurrency` times the most GPUs a challenge's run needs
must not exceed its devices, else it refuses to start. `code-gpu` without devices is refused too, and so is a device
whose node (/dev/nvidiaN, or under CODEFEST_DEVICE_ROOT) is not a character device: its runs would run on the CPU.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from codefest.core.errors import CodefestError
from codefest.core.workspace import home
from codefest.evaluation import broker, devices

if TYPE_CHECKING:  # the ledger (SQLAlchemy, a second of imports) is loaded by `run`, once the options are checked
    from codefest.evaluation.ledger import Ledger

log = logging.getLogger("codefest.worker")


def check_queues(queues: Sequence[str]) -> list[str]:
    """The queues named, each once; CodefestError for one codefest does not route to."""
    chosen = list(dict.fromkeys(q.strip() for q in queues if q.strip()))
    unknown = [q for q in chosen if q not in broker.QUEUES]
    if unknown or not chosen:
        raise CodefestError(
            f"unknown queue(s): {', '.join(unknown) or '(none given)'}; codefest's queues are "
            + ", ".join(broker.QUEUES),
            "codefest worker --queues score,code",
        )
    return chosen


def gpus_per_run() -> tuple[int, str]:
    """The most GPUs a code run of a challenge here needs (at least 1), and the challenge that declares it."""
    from codefest.challenges.discovery import discover

    most, slug = 1, ""
    for found in discover():
        needed = broker.gpus_for(found)
        if needed > most:
            most, slug = needed, found
    return most, slug


def check_devices(queues: Sequence[str], gpus: Sequence[int], concurrency: int) -> tuple[int, ...]:
    """The devices the worker's processes share: none unless it listens on `code-gpu`, which needs enough of them
    for `concurrency` runs at once; CodefestError otherwise."""
    if broker.CODE_GPU not in queues:
        if gpus:
            log.warning("the worker does not listen on %s: its GPUs %s are left unused", broker.CODE_GPU, gpus)
        return ()
    if not gpus:
        raise CodefestError(
            f"the {broker.CODE_GPU} queue runs pilots that need GPUs, and this worker was given none",
            f"name the devices: codefest worker --queues {broker.CODE_GPU} --gpus 0,1   (or set {devices.ENV})",
        )
    per_run, slug = gpus_per_run()
    if concurrency * per_run > len(gpus):
        needs = f"runs of {slug} need {per_run} GPUs each" if slug else "each run needs a GPU"
        fit = len(gpus) // per_run
        raise CodefestError(
            f"{concurrency} process(es) with {len(gpus)} GPU(s) cannot run at once: {needs}",
            f"--concurrency {fit}" if fit else f"give this worker at least {per_run} GPUs with --gpus",
        )
    return tuple(gpus)


def default_queues(gpus: Sequence[int]) -> list[str]:
    """Predictions files and code runs; runs that need GPUs too when the worker has some."""
    return [broker.SCORE, broker.CODE, *([broker.CODE_GPU] if gpus else [])]


def sweeper(ledger: Ledger, stop: threading.Event, seconds: float) -> threading.Thread:
    """A thread that sweeps the ledger now and every `seconds` until `stop` is set."""
    from sqlalchemy.exc import SQLAlchemyError

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


def run(queues: Sequence[str] | None, concurrency: int, loglevel: str = "INFO", gpus: str | None = None) -> int:
    """Run a worker on CODEFEST_BROKER_URL's `queues` (default: `default_queues`) with `concurrency` pool processes,
    and the GPUs `gpus` ("0,1"; default: CODEFEST_GPUS), until it is stopped; its exit code."""
    url = broker.configured()
    if url is None:
        raise CodefestError(
            f"{broker.ENV} is not set: a worker takes its work from a broker",
            f"{broker.ENV}=redis://127.0.0.1:6379/0 codefest worker   (or let codefest serve run its own workers)",
        )
    given = devices.check(devices.parse(os.environ.get(devices.ENV, "") if gpus is None else gpus))
    chosen = check_queues(default_queues(given) if queues is None else queues)
    held = check_devices(chosen, given, concurrency)
    # loaded once the options are checked: a refused start (a GPU this host lacks) answers in half the time
    from celery.signals import worker_process_init

    from codefest.core import collector
    from codefest.evaluation.ledger import Ledger
    from codefest.evaluation.workers import warm

    os.environ[devices.ENV] = ",".join(str(device) for device in held)  # the pool processes inherit it
    logging.basicConfig(level=loglevel, format="%(asctime)s %(processName)s %(name)s %(levelname)s %(message)s")
    root = home()
    warm(root, stores=False)
    worker_process_init.connect(_warm_pool_process, weak=False)
    celery = broker.app()
    import codefest.evaluation.tasks  # noqa: F401  (registers the task on the app)

    collector.started()  # loaded: the pool processes forked from here share the frozen modules

    ledger = Ledger.open(None, root)
    stop = threading.Event()
    log.info(
        "codefest worker on %s, queues %s, %d process(es), GPUs %s; visibility timeout %.0f s, lease %.0f s",
        broker.shown(url),
        ",".join(chosen),
        concurrency,
        ",".join(str(device) for device in held) or "none",
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
