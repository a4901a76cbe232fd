"""Faults an event meets, made real: evaluations started at once, evaluations killed midway, a read-only workspace
and a full disk, each with `codefest evaluate` processes against a SQLite store.

The 7 evaluations started at once are the slow part: they start before the module's other tests and are checked
last. The disk faults need root and `unshare` (a mount namespace holds the read-only mount or the small tmpfs, so
nothing outside the test sees them); they are skipped elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from mlflow import MlflowClient
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from codefest.challenges.discovery import load
from codefest.evaluation import roster, tracking
from codefest.evaluation.evaluate import Evaluator, evaluate_inbox
from codefest.evaluation.faults import PAUSE_AT
from codefest.evaluation.records import Artifact, Status, Tag, where
from codefest.evaluation.tracking import StoreError, storage_problem, tracking_uri
from codefest.shared_datasets.heldout import build
from tests import launcher
from tests.helpers import bundled_spec, with_empty_store, write_challenge
from tests.test_cli import assert_clean_failure

pytestmark = pytest.mark.slow  # starts some 12 evaluation processes

SLUG = "fault-search"
PRIMARY = "map"
# Teams evaluated at once by the `crowd` below, plus team-0 a second time: 7 interpreters, each loading MLflow for
# seconds, on the 2 to 4 cores a test runner has, so they run over one another and race to create the store and to
# record their runs, as 20 did (the proof is the overlap, not the count; each one more cost some 4.5 CPU-s).
TEAMS = 6
CAN_MOUNT = sys.platform == "linux" and os.geteuid() == 0 and shutil.which("unshare") is not None


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small search challenge (60 test topics); its bundle and vault, built once, are copied into each workspace.

    Search, because its scorer loads fastest: the module starts some 12 evaluation processes.
    """
    base = tmp_path_factory.mktemp("faults")
    spec = bundled_spec("prior-art-search") | {"slug": SLUG}
    spec["dataset"] = {"builder": "synthetic-prior-art", "version": "1.0", "options": {"size": 4800, "topics": 300}}
    spec["submission_limits"] = {"per_team_per_day": 3, "total": 10}
    spec["resources"] = {"wall_time_seconds": 60, "memory_mb": 600}
    write_challenge(base / "challenges", spec)
    os.environ["CODEFEST_CHALLENGES_PATH"] = str(base / "challenges")
    try:
        build(load(SLUG), base / "built")
    finally:
        del os.environ["CODEFEST_CHALLENGES_PATH"]
    others = ["killed", "coders", "early-a", "early-b", "late", "patient", "stuck"]
    roster.add(base / "built", [f"team-{n}" for n in range(TEAMS)] + others)
    return {"challenges": base / "challenges", "built": base / "built"}


def _fresh_home(built: dict[str, Path], where: Path, store: Path | None = None) -> Path:
    """A workspace with the challenge's data and no store yet: the first evaluation creates the database. Or, given
    `store` (conftest's `_empty_store`), a copy of that empty store: creating one costs seconds of migrations."""
    shutil.copytree(built["built"], where)
    if store is not None:
        with_empty_store(where, store)
    return where


def _env(built: dict[str, Path], home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", PAUSE_AT)}
    return env | {"CODEFEST_CHALLENGES_PATH": str(built["challenges"]), "CODEFEST_HOME": str(home), "COLUMNS": "200"}


def _topics(home: Path) -> list[str]:
    return [json.loads(line)["id"] for line in (home / f"bundles/{SLUG}/test.jsonl").read_text().splitlines()]


def _judged(home: Path) -> dict[str, dict[str, int]]:
    """topic -> document -> grade, from the vault's test qrels."""
    judged: dict[str, dict[str, int]] = {}
    for line in (home / f"vault/{SLUG}/test.qrels").read_text().splitlines():
        topic, _, doc, grade = line.split()
        judged.setdefault(topic, {})[doc] = int(grade)
    return judged


def _predictions(home: Path, path: Path, right_every: int) -> Path:
    """A TREC run: every `right_every`-th test topic ranks its relevant documents first (average precision 1),
    the others one document not relevant to them (0)."""
    judged, lines = _judged(home), []
    for n, topic in enumerate(_topics(home)):
        grades = judged[topic]
        relevant = sorted((d for d, g in grades.items() if g > 0), key=lambda d: -grades[d])
        wrong = next(d for other in judged.values() for d in other if grades.get(d, 0) == 0)
        docs = relevant if n % right_every == 0 else [wrong]
        lines += [f"{topic} Q0 {doc} {rank} {100 - rank} faults" for rank, doc in enumerate(docs, start=1)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _expected_primary(home: Path, right_every: int) -> float:
    """The public part's MAP of `_predictions(..., right_every)`: its share of topics ranked right."""
    public = set(json.loads((home / f"vault/{SLUG}/partition.json").read_text())["public"])
    judged = _judged(home)
    right = [
        n % right_every == 0 and max(judged[topic].values()) > 0
        for n, topic in enumerate(_topics(home))
        if topic in public
    ]
    return sum(right) / len(right)


def _client(home: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri(home))


def _runs(home: Path, private: bool = False, team: str | None = None) -> list[Run]:
    client = _client(home)
    experiment = client.get_experiment_by_name(SLUG + ("/private" if private else ""))
    if experiment is None:
        return []
    query = where({Tag.TEAM: team}) if team else ""
    return client.search_runs([experiment.experiment_id], query, max_results=1000)


def _statuses(home: Path, team: str, private: bool = False) -> Counter[str]:
    return Counter(r.data.tags[Tag.STATUS] for r in _runs(home, private, team))


def _assert_nothing_half_scored(home: Path) -> None:
    """What the leaderboard reads, a public run tagged scored, is complete: metrics, artifacts, scored private run."""
    client = _client(home)
    for run in _runs(home):
        if run.data.tags[Tag.STATUS] != Status.SCORED:
            continue
        assert {PRIMARY, f"{PRIMARY}_ci_low", f"{PRIMARY}_ci_high"} <= set(run.data.metrics), run.info.run_id
        public_artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        per_item_names = {Artifact.PER_ITEM, Artifact.PUBLIC_PER_ITEM}
        assert "result.json" in public_artifacts and not public_artifacts & per_item_names
        private = client.get_run(run.data.tags[Tag.PRIVATE_RUN_ID])
        assert private.data.tags[Tag.STATUS] == Status.SCORED and PRIMARY in private.data.metrics
        per_item = {a.path for a in client.list_artifacts(private.info.run_id)}
        assert {"result.json", *per_item_names} <= per_item  # both parts', out of teams' sight
        assert private.data.tags[Tag.PUBLIC_RUN_ID] == run.info.run_id


# -- evaluations started at once: launched first, checked last --------------------------------------------

CROWD_TESTS = ("test_evaluations_started_at_once", "test_the_same_file_submitted_twice_at_once")


class Finished(NamedTuple):
    team: str
    output: str  # stdout and stderr
    code: int


@dataclass
class Crowd:
    """Evaluations started at once against one workspace; `finished` waits for them."""

    home: Path
    jobs: list[tuple[str, subprocess.Popen[bytes], Path]]
    done: list[Finished] = field(default_factory=list)

    def finished(self) -> list[Finished]:
        if not self.done:
            for team, process, log in self.jobs:
                code = process.wait(timeout=600)
                self.done.append(Finished(team, log.read_text(), code))
        return self.done

    def stop(self) -> None:
        for _, process, _ in self.jobs:
            process.kill()  # only those still running: a hung evaluation fails its test, not the session


@pytest.fixture(scope="module", autouse=True)
def crowd(
    request: pytest.FixtureRequest, built: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Crowd | None]:
    """TEAMS teams evaluated at once against a workspace without a store yet, and team-0's file a second time.

    The slowest part of the module (TEAMS + 1 interpreters loading MLflow), so it starts before the other tests and
    runs while they do; not at all when none of its tests is selected.
    """
    if not any(item.name.startswith(CROWD_TESTS) for item in request.session.items):
        yield None
        return
    base = tmp_path_factory.mktemp("crowd")
    home = _fresh_home(built, base / "home")
    files = [_predictions(home, base / f"team-{n}.jsonl", n + 2) for n in range(TEAMS)]
    jobs = []
    for number, (team, file) in enumerate([("team-0", files[0]), *((f"team-{n}", f) for n, f in enumerate(files))]):
        log = base / f"{number}.log"
        with log.open("wb") as sink:
            command = ["evaluate", SLUG, "--team", team, "--predictions", str(file)]
            jobs.append((team, launcher.start(command, env=_env(built, home), stdout=sink, stderr=sink), log))
    started = Crowd(home, jobs)
    yield started
    started.stop()


# -- evaluations killed midway ---------------------------------------------------------------------------

PILOT = """\
import argparse, json, pathlib, time
parser = argparse.ArgumentParser()
parser.add_argument("--input", type=pathlib.Path)
parser.add_argument("--output", type=pathlib.Path)
args = parser.parse_args()
time.sleep(2)
topics = [json.loads(line)["id"] for line in args.input.read_text().splitlines()]
with (args.input.parent / "corpus.jsonl").open() as corpus:
    docs = [json.loads(next(corpus))["id"] for _ in range(10)]
args.output.write_text("".join(json.dumps({"id": t, "ranking": docs}) + "\\n" for t in topics))
"""
PILOT_PACKAGE = f"fault_pilot_{os.getpid()}"  # this session's: another session's pilots are not ours to kill
PILOT_MODULE = f"{PILOT_PACKAGE}.predict"


def _pilot(root: Path) -> Path:
    (root / "src" / PILOT_PACKAGE).mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "fault-pilot"\nversion = "0.1"\n\n[tool.codefest]\npredict = "{PILOT_MODULE}"\n'
    )
    (root / "src" / PILOT_PACKAGE / "predict.py").write_text(PILOT)
    return root


def _pilot_processes() -> list[int]:
    """The pilot's own interpreter (`python -m PILOT_MODULE ...`), wherever the sandbox started it."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if entry.name.isdigit() and PILOT_MODULE.encode() in argv:
            found.append(int(entry.name))
    return found


def _killed(command: list[str], env: dict[str, str], ready: str) -> None:
    """Run `command` until `ready` happens, then SIGKILL it.

    `ready` is a step named in CODEFEST_TEST_PAUSE_AT (the evaluator says when it waits there) or "code" (the
    pilot's own process has started).
    """
    if ready != "code":
        env = env | {PAUSE_AT: ready}
    process = launcher.start(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    guard = threading.Timer(300, process.kill)
    guard.start()
    seen = ""
    try:
        if ready == "code":
            while not _pilot_processes() and process.poll() is None:
                time.sleep(0.05)
        else:
            while process.stderr is not None and f"paused at {ready}" not in seen:
                line = process.stderr.readline()
                if not line:
                    break
                seen += line
        assert process.poll() is None, f"the evaluation ended before {ready}: {seen[-2000:]}"
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        guard.cancel()
        for pid in _pilot_processes():  # the sandbox's pilot may outlive a killed evaluator: stop it here
            with contextlib.suppress(ProcessLookupError):  # unless it ended since it was listed
                os.kill(pid, signal.SIGKILL)
        for folder in Path(tempfile.gettempdir()).glob("codefest-run-*"):  # and so does its run folder
            if (folder / "pilot" / "src" / PILOT_PACKAGE).is_dir():
                shutil.rmtree(folder, ignore_errors=True)


def test_an_evaluation_killed_at_any_point_is_completed_once_by_the_next_run(
    built: dict[str, Path], _empty_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _fresh_home(built, tmp_path / "home", _empty_store)
    inbox = tmp_path / "inbox"
    (inbox / "killed").mkdir(parents=True)
    entry = _predictions(home, inbox / "killed" / "run.jsonl", 3)
    os.utime(entry, (1_000_000, 1_000_000))  # arrived first
    _pilot(inbox / "coders" / "pilot")
    command, env = ["evaluate", SLUG, "--inbox", str(inbox)], _env(built, home)

    _killed(command, env, "scoring")  # the public run is open, nothing scored yet
    _assert_nothing_half_scored(home)
    assert _statuses(home, "killed") == {"running": 1} and _statuses(home, "killed", private=True) == {}

    _killed(command, env, "logging")  # the private part scored, the public part logged, its status not yet written
    _assert_nothing_half_scored(home)
    assert _statuses(home, "killed") == {"interrupted": 1, "running": 1}
    assert _statuses(home, "killed", private=True) == {"scored": 1}
    unfinished = next(r for r in _runs(home, team="killed") if r.data.tags[Tag.STATUS] == "running")
    assert PRIMARY in unfinished.data.metrics  # killed after logging, before the status tag

    _killed(command, env, "code")  # `killed` is completed first, then the pilot of `coders` runs
    _assert_nothing_half_scored(home)
    assert _statuses(home, "killed") == {"interrupted": 2, "scored": 1}
    assert _statuses(home, "killed", private=True) == {"interrupted": 1, "scored": 1}
    assert _statuses(home, "coders") == {}

    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(built["challenges"]))
    evaluator = Evaluator(load(SLUG), home)
    final = evaluate_inbox(evaluator, inbox)  # the same inbox once more, in this process, to its end
    assert [(o.team, o.status) for o in final] == [("killed", "duplicate"), ("coders", "scored")]
    assert evaluator.quota("killed").used_total == 1  # interrupted runs use no quota
    _assert_nothing_half_scored(home)
    for team, interrupted in (("killed", {"interrupted": 2}), ("coders", {})):
        assert _statuses(home, team) == {"scored": 1, **interrupted}
        assert _statuses(home, team, private=True) == {"scored": 1, **({"interrupted": 1} if interrupted else {})}
    for run in _runs(home) + _runs(home, private=True):
        assert run.info.status in ("FINISHED", "KILLED"), (run.data.tags[Tag.STATUS], run.info.status)


# -- a workspace that cannot be written -----------------------------------------------------------------

needs_mount = pytest.mark.skipif(not CAN_MOUNT, reason="needs root and unshare for a private mount namespace")

# What a later check compares: every run's lifecycle status, tags and metrics, every artifact's bytes, and SQLite's
# own integrity check. Standard library only, so that it runs as fast inside a mount namespace as outside.
SNAPSHOT = """
import hashlib, json, sqlite3, sys
from pathlib import Path
home = Path(sys.argv[1])
db = sqlite3.connect(f"file:{home / 'mlflow.db'}?mode=ro", uri=True)
runs = {
    run: {
        "status": status,
        "tags": dict(db.execute("select key, value from tags where run_uuid = ?", (run,))),
        "metrics": dict(db.execute("select key, value from latest_metrics where run_uuid = ?", (run,))),
    }
    for run, status in db.execute("select run_uuid, status from runs")
}
files = {
    str(p.relative_to(home)): hashlib.sha256(p.read_bytes()).hexdigest()
    for p in (home / "mlartifacts").rglob("*")
    if p.is_file()
}
print(json.dumps({"integrity": db.execute("pragma integrity_check").fetchone()[0], "runs": runs, "files": files}))
"""

# In a mount namespace of its own: a tmpfs over the workspace holding a copy of it, filled up, then the command.
FULL_DISK = """
set -e
home=$1 stage=$2 out=$3
shift 3
mount -t tmpfs -o size=16m codefest-full "$home"
cp -a "$stage/." "$home/"
dd if=/dev/zero of="$home/filler" bs=64k 2>/dev/null || true
set +e
"$@" >"$out/stdout" 2>"$out/stderr"
echo $? >"$out/exit"
"$PYTHON" -c "$SNAPSHOT" "$home" >"$out/snapshot.json"
"""

READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && shift && exec "$@"'


def _snapshot(home: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", SNAPSHOT, str(home)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def recorded(built: dict[str, Path], _empty_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where two submissions are already scored."""
    home = _fresh_home(built, tmp_path_factory.mktemp("recorded") / "home", _empty_store)
    os.environ["CODEFEST_CHALLENGES_PATH"] = str(built["challenges"])
    try:
        evaluator = Evaluator(load(SLUG), home)
        for n, team in enumerate(("early-a", "early-b")):
            path = _predictions(home, home.parent / f"{team}.jsonl", n + 2)
            assert evaluator.predictions(team, path).status == "scored"
    finally:
        del os.environ["CODEFEST_CHALLENGES_PATH"]
    return home


def _late_submission(home: Path, folder: Path) -> list[str]:
    path = _predictions(home, folder / "late.jsonl", 5)
    return [sys.executable, "-m", "codefest", "evaluate", SLUG, "--team", "late", "--predictions", str(path)]


@needs_mount
def test_a_read_only_workspace_is_a_clear_error_and_changes_nothing(
    built: dict[str, Path], recorded: Path, tmp_path: Path
) -> None:
    before = _snapshot(recorded)
    assert before["integrity"] == "ok" and len(before["runs"]) == 4
    command = ["unshare", "--mount", "sh", "-c", READ_ONLY, "sh", str(recorded), *_late_submission(recorded, tmp_path)]
    result = subprocess.run(command, env=_env(built, recorded), capture_output=True, text=True, timeout=300)
    assert_clean_failure(result, "cannot be written", "Read-only file system", "fix: make it writable")
    assert str(recorded) in result.stderr.replace("\n", "")
    assert _snapshot(recorded) == before


@needs_mount
def test_a_full_disk_is_a_clear_error_and_changes_nothing(
    built: dict[str, Path], recorded: Path, tmp_path: Path
) -> None:
    before = _snapshot(recorded)
    stage, out = tmp_path / "stage", tmp_path / "out"
    shutil.copytree(recorded, stage)
    out.mkdir()
    command = ["unshare", "--mount", "sh", "-c", FULL_DISK, "sh", str(recorded), str(stage), str(out)]
    env = _env(built, recorded) | {"PYTHON": sys.executable, "SNAPSHOT": SNAPSHOT}
    subprocess.run([*command, *_late_submission(recorded, tmp_path)], env=env, check=True, timeout=300)
    stderr = (out / "stderr").read_text()
    assert (out / "exit").read_text().strip() == "2", stderr
    assert "Traceback" not in stderr and "is full" in stderr and "fix: free space" in stderr
    assert json.loads((out / "snapshot.json").read_text()) == before


# -- the store's answers, one at a time ---------------------------------------------------------------------

LOCKED = "(sqlite3.OperationalError) database is locked"


def test_a_locked_database_is_waited_for_and_no_write_is_dropped(
    built: dict[str, Path], _empty_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite refuses a writer that meets another with "database is locked": the call is tried again, and a
    database that stays locked stops the evaluation with a message, before anything is half-recorded."""
    home = _fresh_home(built, tmp_path / "home", _empty_store)
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(built["challenges"]))
    monkeypatch.setattr(tracking, "FIRST_WAIT", 0.0)
    evaluator = Evaluator(load(SLUG), home)
    create_run, refused = evaluator.tracker.client.create_run, []
    limit = tracking.ATTEMPTS - 1  # refusals before create_run goes through

    def busy(*args: object, **kwargs: object) -> object:
        if len(refused) < limit:
            refused.append(args)
            raise MlflowException(LOCKED)
        return create_run(*args, **kwargs)

    monkeypatch.setattr(evaluator.tracker.client, "create_run", busy)
    assert evaluator.predictions("patient", _predictions(home, tmp_path / "a.jsonl", 2)).status == "scored"
    assert len(refused) == tracking.ATTEMPTS - 1
    assert _statuses(home, "patient") == {"scored": 1} and _statuses(home, "patient", private=True) == {"scored": 1}
    refused.clear()
    limit = tracking.ATTEMPTS
    with pytest.raises(StoreError, match="stayed locked"):
        evaluator.predictions("stuck", _predictions(home, tmp_path / "b.jsonl", 3))
    assert len(refused) == tracking.ATTEMPTS and _statuses(home, "stuck") == {}


def _caused_by(cause: BaseException) -> MlflowException:
    wrapper = MlflowException("could not log the artifact")
    wrapper.__cause__ = cause
    return wrapper


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_caused_by(OSError(errno.ENOSPC, "No space left on device", "/w/mlartifacts/r.json")), "full (writing /w/ml"),
        (OSError(errno.EDQUOT, "Disk quota exceeded", "/w/mlflow.db"), "is full (writing /w/mlflow.db)"),
        (OSError(errno.EACCES, "Permission denied", "/w/locks"), "cannot be written (Permission denied: /w/locks)"),
        (MlflowException("(sqlite3.OperationalError) attempt to write a readonly database"), "database is read-only"),
        (MlflowException("(sqlite3.OperationalError) database or disk is full"), "is full (writing /w/mlflow.db)"),
        (MlflowException("(sqlite3.OperationalError) disk I/O error"), "disk I/O error"),
    ],
)
def test_disk_problems_are_named_with_their_fix(error: BaseException, expected: str) -> None:
    problem = storage_problem(error, Path("/w"))
    assert problem is not None and expected in problem.problem and "/w" in problem.problem and problem.fix


@pytest.mark.parametrize(
    "error", [MlflowException(LOCKED), MlflowException("RESOURCE_DOES_NOT_EXIST"), OSError(errno.ENOENT, "gone")]
)
def test_other_errors_are_not_taken_for_disk_problems(error: BaseException) -> None:
    assert storage_problem(error, Path("/w")) is None


# -- evaluations started at once (the `crowd` above) ------------------------------------------------------


def test_evaluations_started_at_once_are_each_recorded_exactly_once(crowd: Crowd) -> None:
    failed = [(job.team, job.output[-2000:]) for job in crowd.finished() if job.code != 0]
    assert failed == []
    home = crowd.home
    public = [r for r in _runs(home) if r.data.tags[Tag.STATUS] == Status.SCORED]
    private = [r for r in _runs(home, private=True) if r.data.tags[Tag.STATUS] == Status.SCORED]
    assert sorted(r.data.tags[Tag.TEAM] for r in public) == sorted(f"team-{n}" for n in range(TEAMS))
    assert len(private) == TEAMS
    assert {r.data.tags[Tag.PRIVATE_RUN_ID] for r in public} == {r.info.run_id for r in private}
    for run in public:
        n = int(run.data.tags[Tag.TEAM].removeprefix("team-"))
        assert run.data.metrics[PRIMARY] == pytest.approx(_expected_primary(home, n + 2)), run.data.tags[Tag.TEAM]
    assert len(_runs(home)) == TEAMS  # no run left over, running or failed
    _assert_nothing_half_scored(home)


def test_the_same_file_submitted_twice_at_once_is_scored_once(crowd: Crowd) -> None:
    twice = [job.output for job in crowd.finished() if job.team == "team-0"]
    verdicts = sorted("duplicate" if "duplicate team-0" in output else "scored" for output in twice)
    assert verdicts == ["duplicate", "scored"]
    assert any("not scored twice" in output for output in twice)
    assert _statuses(crowd.home, "team-0") == {"scored": 1}
