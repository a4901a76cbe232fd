"""MLflow as the record of an event: one run per submission, public and private scores in separate experiments.

Participants read the public experiment `<slug>`; the private scores live in `<slug>/private`, which only the
organisers read until the reveal (in tracking-server mode, MLflow's permissions enforce it). A run is marked
`status=scored` last, after its metrics and artifacts, so an interrupted evaluation never looks scored; the
evaluation that takes the submission over marks such a run `interrupted`.

Many evaluations may share one store. With the embedded SQLite store, writers take turns through a lock file next
to the database (SQLite alone answers "database is locked" to writers that collide), and a call that still meets a
locked database is retried with backoff; it is never dropped. A full disk or an unwritable workspace becomes a
`StoreError`, which says what to fix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from codefest.core.errors import CodefestError
from codefest.core.offline import stay_offline
from codefest.core.workspace import Workspace
from codefest.evaluation.names import mlflow_key
from codefest.evaluation.records import EXPERIMENT_CHALLENGE, PRIVATE_SUFFIX, Status, Tag, where
from codefest.evaluation.scoring import MetricValue

stay_offline()

from mlflow import MlflowClient  # noqa: E402  (after the telemetry switch)
from mlflow.entities import Metric, RunTag  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

logging.getLogger("mlflow").setLevel(logging.WARNING)  # its database set-up notices are not the user's concern
logging.getLogger("alembic").setLevel(logging.WARNING)
# It logs every database error with a traceback before raising it; the errors are retried or explained here.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)

# What MLflow raises for a call the tracking server refuses (no permission, a bad request): front ends catch this
# name, so that only this module names MLflow.
Refused = MlflowException
PAGE = 1000
ATTEMPTS = 6  # a store call that meets a locked database: tried this often, waiting 0.25, 0.5, ... 4 s between
FIRST_WAIT = 0.25
INTERRUPTED_MESSAGE = "the evaluation stopped before this run was complete; the submission is evaluated again"

T = TypeVar("T")


class StoreError(CodefestError):
    """The workspace or the store cannot be written: the evaluation stops, and what is recorded stays as it was."""


def tracking_uri(root: Path) -> str:
    """MLFLOW_TRACKING_URI when set (a tracking server), else a SQLite store in the workspace."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Workspace(root).store}"


def _sqlite_file(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


# -- what can go wrong with the disk ------------------------------------------------------------------------

FULL = {errno.ENOSPC, errno.EDQUOT}
UNWRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}
SQLITE_FULL = ("database or disk is full",)
SQLITE_UNWRITABLE = ("readonly database", "unable to open database file")
SQLITE_IO = ("disk i/o error",)
SQLITE_LOCKED = ("database is locked", "database table is locked")


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it: MLflow wraps SQLite's and the file system's errors."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _says(error: BaseException, fragments: tuple[str, ...]) -> bool:
    return any(fragment in str(cause).lower() for cause in _chain(error) for fragment in fragments)


def locked(error: BaseException) -> bool:
    """SQLite's answer to a writer that met another one: worth waiting for."""
    return _says(error, SQLITE_LOCKED)


def storage_problem(error: BaseException, root: Path) -> StoreError | None:
    """A full disk or an unwritable workspace, said so with the fix; None for any other error."""
    if locked(error):
        return None  # a turn to wait for, not a disk problem
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno in FULL:
            return _full(root, cause.filename)
        if isinstance(cause, OSError) and cause.errno in UNWRITABLE:
            return _unwritable(root, f"{cause.strerror}: {cause.filename or root}")
    if _says(error, SQLITE_FULL):
        return _full(root, Workspace(root).store)
    if _says(error, SQLITE_UNWRITABLE):
        return _unwritable(root, "the MLflow database is read-only")
    if _says(error, SQLITE_IO):
        return StoreError(
            f"the MLflow store in {root} could not be written (disk I/O error: a full, failing or read-only disk)",
            f"check the disk with `df -h {root}` and its system log, then run the evaluation again",
        )
    return None


def _still_locked(root: Path) -> StoreError:
    return StoreError(
        f"the MLflow store in {root} stayed locked by another program through {ATTEMPTS} attempts",
        "stop whatever holds the database open for writing (a long query, a stuck process), then run again",
    )


def _full(root: Path, filename: object) -> StoreError:
    return StoreError(
        f"the disk holding the workspace {root} is full (writing {filename or root})",
        "free space on that disk, or set CODEFEST_HOME to a workspace on a disk with room, then run the evaluation "
        "again: what was recorded before is intact, and an interrupted submission is evaluated again",
    )


def _unwritable(root: Path, detail: str) -> StoreError:
    return StoreError(
        f"the workspace {root} cannot be written ({detail})",
        "make it writable for this user (it may be mounted read-only), or set CODEFEST_HOME to a writable "
        "workspace, then run the evaluation again",
    )


@contextlib.contextmanager
def storage_errors(root: Path) -> Iterator[None]:
    """Turn a full disk or an unwritable workspace into a StoreError; other errors pass unchanged."""
    try:
        yield
    except Exception as error:
        problem = storage_problem(error, root)
        if problem is None:
            raise
        raise problem from error


def _nothing() -> None:
    return None


def _lock_file(path: Path, root: Path, required: bool) -> int | None:
    """The lock file, open; None if it cannot be created and the lock is not `required`."""
    try:
        with storage_errors(root):
            path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except StoreError:
        if required:
            raise
        return None


@contextlib.contextmanager
def file_lock(path: Path, root: Path, required: bool = True, on_wait: Callable[[], None] = _nothing) -> Iterator[None]:
    """An exclusive lock among the processes that open `path`, released by the kernel when its holder dies.

    Not `required`: where the lock file cannot be created (a read-only workspace), go on without it; whoever
    reads there can write nothing that needs a turn.
    """
    handle = _lock_file(path, root, required)
    if handle is None:
        yield
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)  # closing releases the lock


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    tags: dict[str, str]
    metrics: dict[str, float]
    start_time: int


class Tracker:
    """The MLflow experiments of one challenge."""

    def __init__(self, slug: str, root: Path) -> None:
        with storage_errors(root):
            root.mkdir(parents=True, exist_ok=True)
        self.slug, self.root, self.uri = slug, root, tracking_uri(root)
        self.evaluator = hashlib.sha256(f"{socket.gethostname()}:{root.resolve()}".encode()).hexdigest()[:16]
        database = _sqlite_file(self.uri)
        self._store_lock = database.with_name(database.name + ".lock") if database else None
        with self._turn(required=False):  # a new database is created by one process, not by all at once
            self.client = self._call(lambda: MlflowClient(tracking_uri=self.uri))
            self.public = self._experiment(slug)
            self.private = self._experiment(slug + PRIVATE_SUFFIX)

    def _turn(self, required: bool = True) -> contextlib.AbstractContextManager[None]:
        """The SQLite store's writers, one at a time; a tracking server orders its writes itself."""
        if self._store_lock is None:
            return contextlib.nullcontext()
        return file_lock(self._store_lock, self.root, required)

    def _call(self, call: Callable[[], T], write: bool = False) -> T:
        """One store call: a write in its turn; retried while the database is locked; disk problems explained."""
        for attempt in range(ATTEMPTS):
            try:
                with storage_errors(self.root), self._turn() if write else contextlib.nullcontext():
                    return call()
            except Exception as error:
                if not locked(error):
                    raise
                if attempt + 1 == ATTEMPTS:
                    raise _still_locked(self.root) from error
                time.sleep(FIRST_WAIT * 2**attempt)
        raise AssertionError("unreachable")

    def _experiment(self, name: str) -> str:
        found = self._call(lambda: self.client.get_experiment_by_name(name))
        if found is not None:
            return found.experiment_id
        location = None
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            location = (Workspace(self.root).artifacts / name.replace("/", "-")).as_uri()
        tags = {EXPERIMENT_CHALLENGE: self.slug}
        try:
            return self._call(lambda: self.client.create_experiment(name, artifact_location=location, tags=tags))
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        made = self._call(lambda: self.client.get_experiment_by_name(name))  # by another process, just now
        if made is None:
            raise StoreError(f"the experiment {name} was made and is gone", "run the command again")
        return made.experiment_id

    # -- reading ----------------------------------------------------------------------------------------------

    def experiment(self, private: bool = False) -> str:
        """The id of the public or the private experiment."""
        return self.private if private else self.public

    def runs(self, filter_string: str = "", private: bool = False) -> list[RecordedRun]:
        """Every run matching the filter, paged through (MlflowClient stops at one page otherwise)."""
        experiment = self.experiment(private)
        found: list[RecordedRun] = []
        token = None
        while True:
            page = self._call(
                partial(self.client.search_runs, [experiment], filter_string, max_results=PAGE, page_token=token)
            )
            found += [RecordedRun(r.info.run_id, r.data.tags, r.data.metrics, r.info.start_time) for r in page]
            token = page.token
            if not token:
                return found

    def artifact_text(self, run_id: str, name: str) -> str | None:
        """An artifact's text; None where the run has none by that name (an older or incomplete run)."""
        with tempfile.TemporaryDirectory(prefix="codefest-artifact-") as folder:
            try:
                path = self._call(lambda: self.client.download_artifacts(run_id, name, folder))
            except (MlflowException, OSError):
                return None
            return Path(path).read_text(encoding="utf-8")

    def artifact_names(self, run_id: str, folder: str | None = None) -> list[str]:
        """The paths of a run's artifacts (in `folder`), as MLflow lists them."""
        return [found.path for found in self._call(lambda: self.client.list_artifacts(run_id, folder))]

    # -- writing ----------------------------------------------------------------------------------------------

    def start(self, tags: dict[str, str], private: bool = False) -> str:
        """A submission's run, named after its team, so the MLflow UI's run list says whose it is."""
        return self.create_run({**tags, Tag.EVALUATOR: self.evaluator}, private, name=tags.get(Tag.TEAM))

    def create_run(
        self, tags: dict[str, str], private: bool = False, *, name: str | None = None, start_time: int | None = None
    ) -> str:
        """A run in the public or the private experiment; `start_time` in ms (now if None)."""
        experiment = self.experiment(private)
        run = self._call(
            lambda: self.client.create_run(experiment, start_time=start_time, tags=tags, run_name=name), write=True
        )
        return run.info.run_id

    def tag_experiment(self, key: str, value: str, private: bool = False) -> None:
        experiment = self.experiment(private)
        self._call(lambda: self.client.set_experiment_tag(experiment, key, value), write=True)

    def log_metrics(self, run_id: str, values: dict[str, float], timestamp_ms: int | None = None) -> None:
        """Metrics under their MLflow keys as given; `log_scores` names a harness's scores and their intervals."""
        now = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
        metrics = [Metric(key, value, now, 0) for key, value in values.items()]
        self._call(lambda: self.client.log_batch(run_id, metrics=metrics), write=True)

    def log_scores(self, run_id: str, values: dict[str, MetricValue]) -> None:
        now = int(time.time() * 1000)
        metrics = []
        for name, value in values.items():
            key = mlflow_key(name)
            metrics += [
                Metric(key, value.value, now, 0),
                Metric(f"{key}_ci_low", value.ci_low, now, 0),
                Metric(f"{key}_ci_high", value.ci_high, now, 0),
            ]
        self._call(lambda: self.client.log_batch(run_id, metrics=metrics), write=True)

    def log_json(self, run_id: str, name: str, value: Any) -> None:
        self.log_text(run_id, name, json.dumps(value, indent=2, ensure_ascii=False))

    def log_text(self, run_id: str, name: str, text: str) -> None:
        """An artifact: a file in the artifact store, no database write."""
        self._call(lambda: self.client.log_text(run_id, text, name))

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        batch = [RunTag(k, v) for k, v in tags.items()]
        self._call(lambda: self.client.log_batch(run_id, tags=batch), write=True)

    def finish(self, run_id: str, status: str, tags: dict[str, str] | None = None) -> None:
        """The status tag goes last: it is what the leaderboard reads."""
        batch = [*(RunTag(k, v) for k, v in (tags or {}).items()), RunTag(Tag.STATUS, status)]
        self._call(lambda: self.client.log_batch(run_id, tags=batch), write=True)
        self.end(run_id, {Status.SCORED: "FINISHED", Status.INTERRUPTED: "KILLED"}.get(status, "FAILED"))

    def end(self, run_id: str, state: str = "FINISHED") -> None:
        """The run's lifecycle state in MLflow (FINISHED, FAILED or KILLED), apart from codefest's status tag."""
        self._call(lambda: self.client.set_terminated(run_id, state), write=True)

    def close_interrupted(self, tags: dict[str, str]) -> list[str]:
        """Mark `interrupted` the public runs with these tags that a dead evaluation left `running`, with their
        private runs; call it only where no live evaluation can be writing them (the ledger's claim of the
        submission says so). Private runs go first: if this is interrupted too, the public run is still `running`
        and is found again next time."""
        stale = self.runs(where({**tags, Tag.STATUS: Status.RUNNING}))
        for run in stale:
            for private in self.runs(where({Tag.PUBLIC_RUN_ID: run.run_id}), private=True):
                if private.tags.get(Tag.STATUS) != Status.INTERRUPTED:
                    self.finish(private.run_id, Status.INTERRUPTED, {Tag.MESSAGE: INTERRUPTED_MESSAGE})
            self.finish(run.run_id, Status.INTERRUPTED, {Tag.MESSAGE: INTERRUPTED_MESSAGE})
        return [run.run_id for run in stale]


def has_finished_run(root: Path, experiment: str) -> bool:
    """Whether the workspace's store has a finished run in `experiment` (a pilot's own training, for one)."""
    client = MlflowClient(tracking_uri=tracking_uri(root))
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return False
    return bool(client.search_runs([found.experiment_id], "attributes.status = 'FINISHED'", max_results=1))
