"""MLflow as the record of an event: one run per submission, public and private scores in separate experiments.

Participants read the public experiment `<slug>`; the private scores live in `<slug>/private`, which only the
organisers read until the reveal (in tracking-server mode, MLflow's permissions enforce it). Each experiment carries
what the MLflow UI needs to open it as participants expect (`RunsView`): the challenge's README as its description,
and a shared view of its runs list sorted by the primary metric, with the metric, its interval and the team shown;
`runs_address` is the one address codefest gives for it. A submission's run is named after its team, its number
and its file's hash (`team-a #3 · 1a2b3c4`), so two submissions of a team read apart. A run is marked
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
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

from codefest.core.errors import CodefestError
from codefest.core.offline import stay_offline
from codefest.core.workspace import Workspace
from codefest.evaluation.names import mlflow_key
from codefest.evaluation.records import EXPERIMENT_CHALLENGE, PRIVATE_SUFFIX, Kind, Status, Tag, where
from codefest.evaluation.scoring import MetricValue

stay_offline()

from mlflow import MlflowClient  # noqa: E402  (after the telemetry switch)
from mlflow.entities import Metric, RunTag  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

if TYPE_CHECKING:
    from codefest.challenges.discovery import LoadedChallenge

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


# -- what the MLflow UI shows first ------------------------------------------------------------------------------

# MLflow 3.17's UI (read from its bundle): the experiment tag `mlflow.experimentKind` no longer decides between the
# GenAI "Overview" and the runs list; a global "workflow type" does, kept in the browser (GenAI unless switched) and
# overridden by `workflowType=machine_learning` in the address. The runs list takes its sort, filter, columns, column
# order and widths from a shared view: the experiment tag `mlflow.sharedViewState.KEY` (JSON), named in the address
# by `viewStateShareKey=KEY`. Sort and filter alone could go in the address (orderByKey, orderByAsc, searchFilter),
# but the address then skips the shared view, and with it the columns: no address parameter selects columns.
EXPERIMENT_KIND: Final = "mlflow.experimentKind"
MODEL_TRAINING: Final = "custom_model_development"  # still shown by the UI's "Machine learning" label
NOTE: Final = "mlflow.note.content"  # an experiment's (or a run's) description in the UI, Markdown
VIEW_KEY: Final = "codefest"
VIEW_TAG: Final = f"mlflow.sharedViewState.{VIEW_KEY}"
NOTE_LIMIT: Final = 20_000  # MLflow's limit on an experiment tag's value
LOCAL_UI: Final = "http://127.0.0.1:5000"  # where `codefest ui` listens by default
# The UI's names for its columns: the run name, the "Created" column; widths in pixels.
RUN_NAME_COLUMN: Final = "attributes.`Run Name`"
CREATED_COLUMN: Final = "runDateAndNestInfo"
SHOWN_TAGS: Final = (Tag.TEAM, Tag.STATUS, Tag.PHASE)
SUBMISSIONS: Final = (Kind.PREDICTIONS, Kind.CODE)  # the kinds of run that count in a team's numbering


def metric_column(key: str) -> str:
    return f"metrics.`{key}`"


def tag_column(key: str) -> str:
    return f"tags.`{key}`"


@dataclass(frozen=True)
class RunsView:
    """How a challenge's runs list opens: sorted by the primary metric in its direction, the metric and its interval
    first, then team, status and phase; the challenge's README as the experiment's description."""

    metric: str  # the primary metric's MLflow key
    higher_is_better: bool
    description: str

    def state(self) -> dict[str, Any]:
        """The shared view as the UI reads it: its search facets and the table's layout."""
        metrics = [metric_column(k) for k in (self.metric, f"{self.metric}_ci_low", f"{self.metric}_ci_high")]
        columns = [*metrics, *(tag_column(k) for k in SHOWN_TAGS)]
        # Narrow enough for the metric and its interval beside the pinned name and date in a 1,400 px window with
        # MLflow's assistant panel open; the headers' full names are in their tooltips.
        widths = {RUN_NAME_COLUMN: 170, CREATED_COLUMN: 90, metrics[0]: 180, metrics[1]: 120, metrics[2]: 120}
        return {
            "searchFilter": "",
            "orderByKey": metrics[0],
            "orderByAsc": not self.higher_is_better,
            "startTime": "ALL",
            "lifecycleFilter": "Active",
            "datasetsFilter": [],
            "modelVersionFilter": "All Runs",
            "selectedColumns": columns,
            "columnOrder": [RUN_NAME_COLUMN, *columns, CREATED_COLUMN],
            "columnWidths": widths | {tag_column(Tag.TEAM): 100},
        }

    def tags(self) -> dict[str, str]:
        """The experiment tags that carry the view."""
        return {
            EXPERIMENT_KIND: MODEL_TRAINING,
            NOTE: self.description[:NOTE_LIMIT],
            VIEW_TAG: json.dumps(self.state(), separators=(",", ":")),
        }


def runs_view(challenge: LoadedChallenge) -> RunsView:
    spec = challenge.spec
    readme = challenge.readme
    description = readme.read_text(encoding="utf-8") if readme else f"# {spec.title}\n\n{spec.description}\n"
    return RunsView(mlflow_key(spec.primary_metric), spec.higher_is_better[spec.primary_metric], description)


def ui_base(base: str | None = None) -> str:
    """The MLflow UI participants open: `base`, else the event's tracking server, else `codefest ui` here.

    Credentials written into the address (user:password@host) are never part of an address shown."""
    server = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not server.startswith(("http://", "https://")):
        server = ""  # a database or a folder: the organiser's own UI shows it
    parts = urlsplit((base or server or LOCAL_UI).rstrip("/"))
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def runs_address(experiment_id: str, base: str | None = None, workspace: str | None = None) -> str:
    """The address of an experiment's runs list as `RunsView` lays it out: what codefest prints and documents.

    It names the runs tab itself: the experiment's bare address redirects, keeping the workflow type but dropping
    the shared view. `workspace`: on a server with MLflow workspaces (the access-controlled one), whose UI shows a
    workspace picker instead of any experiment until the address names one."""
    query = f"workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"
    query += f"&workspace={workspace}" if workspace else ""
    return f"{ui_base(base)}/#/experiments/{experiment_id}/runs?{query}"


def run_address(experiment_id: str, run_id: str, artifact: str | None = None, base: str | None = None) -> str:
    """A run's page (or one of its artifacts) in the MLflow UI, in the model-training workflow."""
    path = f"/artifacts/{artifact}" if artifact else ""
    return f"{ui_base(base)}/#/experiments/{experiment_id}/runs/{run_id}{path}?workflowType=machine_learning"


def challenge_addresses(root: Path, base: str | None = None) -> dict[str, str]:
    """The runs address of each challenge's public experiment in the workspace's store, by slug: what `codefest ui`
    prints. A store not made yet has none (reading it would create it)."""
    uri = tracking_uri(root)
    database = _sqlite_file(uri)
    if database is None or not database.is_file():
        return {}
    client = MlflowClient(tracking_uri=uri)
    found = client.search_experiments(max_results=PAGE)
    public = (e for e in found if e.tags.get(EXPERIMENT_CHALLENGE) == e.name)  # SLUG, not SLUG/private
    return {e.name: runs_address(e.experiment_id, base) for e in sorted(public, key=lambda e: e.name)}


def run_name(team: str, number: int, submission_id: str) -> str:
    """The submission's ledger id, random, ends the name: a hash of the file there would tell every participant
    which teams sent the same file, and confirm a guess of another team's file."""
    return f"{team} #{number} · {submission_id[:7]}"


@dataclass(frozen=True)
class RecordedRun:
    run_id: str
    tags: dict[str, str]
    metrics: dict[str, float]
    start_time: int


class Tracker:
    """The MLflow experiments of one challenge."""

    def __init__(self, slug: str, root: Path, view: RunsView | None = None) -> None:
        """`view`: how the MLflow UI opens the experiments, set on them where it differs (the evaluator's)."""
        with storage_errors(root):
            root.mkdir(parents=True, exist_ok=True)
        self.slug, self.root, self.uri, self.view = slug, root, tracking_uri(root), view
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
        view = self.view.tags() if self.view else {}
        found = self._call(lambda: self.client.get_experiment_by_name(name))
        if found is not None:
            stale = {key: value for key, value in view.items() if found.tags.get(key) != value}
            for key, value in stale.items():  # made before the view, or by an older version, or the README changed
                # in the turn __init__ holds: a turn of its own would wait on that one, in this process, for ever
                self._call(partial(self.client.set_experiment_tag, found.experiment_id, key, value))
            return found.experiment_id
        location = None
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            location = (Workspace(self.root).artifacts / name.replace("/", "-")).as_uri()
        tags = {EXPERIMENT_CHALLENGE: self.slug, **view}
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
        """A submission's run, named so that the MLflow UI's run list says whose it is and which one of theirs:
        `team-a #3 · 1a2b3c4` (team, submission number, the start of its ledger id); a refused entry by its team
        only."""
        team, submission = tags.get(Tag.TEAM), tags.get(Tag.SUBMISSION_ID)
        name = run_name(team, self.submission_number(team, submission), submission) if team and submission else team
        return self.create_run({**tags, Tag.EVALUATOR: self.evaluator}, private, name=name)

    def submission_number(self, team: str, submission_id: str) -> int:
        """The submission's number in its team's submissions to the challenge, counted from 1 in the order their
        public runs were recorded; a submission evaluated again keeps its number. Two submissions of one team
        evaluated at the same moment may share a number: the id still tells them apart."""
        if "'" in team:  # not a team name codefest accepts; counted without a filter
            runs = [r for r in self.runs() if r.tags.get(Tag.TEAM) == team]
        else:
            runs = self.runs(where({Tag.TEAM: team}))
        ordered = sorted((r for r in runs if r.tags.get(Tag.KIND) in SUBMISSIONS), key=lambda r: r.start_time)
        seen = list(dict.fromkeys(r.tags.get(Tag.SUBMISSION_ID) for r in ordered))
        return seen.index(submission_id) + 1 if submission_id in seen else len(seen) + 1

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
