"""Organiser evaluations: validate, score the public and private parts of the test set, record both in MLflow.

Test labels are read here, in the organiser's process, only after a submission's predictions exist; a code
submission runs first, in a sandbox that sees the test inputs only.

Evaluations of one team take turns (a lock file in the workspace), so that two submitted at once cannot both pass
the duplicate and quota checks; evaluations of different teams run side by side. A run that an evaluation killed
midway left `running` is marked `interrupted` at the team's next turn, and the submission is evaluated again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from codefest.challenges.calendar import closed, open_phase, utc_today
from codefest.challenges.discovery import LoadedChallenge
from codefest.evaluation import faults
from codefest.evaluation.breakdown import Groups, breakdown, item_groups
from codefest.evaluation.challenge import evaluation_signature, options_for
from codefest.evaluation.metrics.base import ItemStats, subset
from codefest.evaluation.problems import InvalidSubmission
from codefest.evaluation.reading import Limits
from codefest.evaluation.records import (
    OUTSIDE_PHASES,
    TAG_VALUE_LIMIT,
    TRUE,
    Artifact,
    Kind,
    Part,
    Result,
    Role,
    Status,
    Tag,
    where,
)
from codefest.evaluation.roster import resolve
from codefest.evaluation.scoring import DEFAULT_RESAMPLES, DEFAULT_SEED, MetricValue, summarise, validated_items
from codefest.evaluation.submissions import Quota, day_start_ms, fingerprint
from codefest.evaluation.tracking import StoreError, Tracker

from codefest import __version__
from codefest.core.errors import CodefestError, printable
from codefest.core.workspace import bundle_dir, vault_dir

if TYPE_CHECKING:
    from codefest.evaluation.sandbox import CodeRun
from codefest.shared_datasets.heldout import gold_file, read_vault_manifest

Progress = Callable[[str], None]


@dataclass
class Outcome:
    team: str
    source: str
    status: str  # scored, invalid, duplicate, over-quota, or a code run's failure
    message: str
    run_id: str | None = None
    public: dict[str, MetricValue] = field(default_factory=dict)
    quota: Quota | None = None
    flags: list[str] = field(default_factory=list)  # for the organisers only, e.g. the same file from two teams

    @property
    def ok(self) -> bool:
        return self.status in (Status.SCORED, Status.DUPLICATE)


@dataclass(frozen=True)
class PartScores:
    """The scores of one part (public or private) of the test set."""

    values: dict[str, MetricValue]
    ids: list[str]
    metrics: list[ItemStats]
    breakdown: dict[str, object] | None


def _within_size(path: Path) -> None:
    """Refuse a file over the size limit before anything reads it: a sparse file of terabytes costs no hashing."""
    limit, size = Limits().max_bytes, path.stat().st_size
    if size > limit:
        raise CodefestError(
            f"{path} has {size:,} bytes, over the limit of {limit:,} for a predictions file",
            "submit only the predictions, one line per test item",
        )


def _cost(run: CodeRun) -> dict[str, str]:
    """What the whole run took, from its cgroup: beside the score, what a pilot costs to operate."""
    cost = {}
    if run.peak_memory_bytes is not None:
        cost[Tag.CODE_PEAK_MEMORY_MB] = f"{run.peak_memory_bytes / 1024**2:.1f}"
    if run.cpu_seconds is not None:
        cost[Tag.CODE_CPU_SECONDS] = f"{run.cpu_seconds:.2f}"
    return cost


def _role(baseline: bool) -> dict[str, str]:
    return {Tag.ROLE: Role.BASELINE if baseline else Role.PARTICIPANT}


class Evaluator:
    """Evaluations of one challenge against its vault, recorded in its experiments."""

    def __init__(self, challenge: LoadedChallenge, root: Path, progress: Progress = lambda _: None) -> None:
        self.challenge, self.spec, self.root, self.progress = challenge, challenge.spec, root, progress
        self.vault, self.bundle = vault_dir(self.spec.slug, root), bundle_dir(self.spec.slug, root)
        vault_manifest = read_vault_manifest(self.vault)
        self.manifest = vault_manifest.data
        self.dataset_sha256 = vault_manifest.dataset_sha256
        self.warning = vault_manifest.warning  # said with every evaluation of a challenge whose test labels are public
        partition = json.loads((self.vault / "partition.json").read_text(encoding="utf-8"))
        self.public_ids, self.private_ids = set(partition[Part.PUBLIC]), set(partition[Part.PRIVATE])
        self.tracker = Tracker(self.spec.slug, root)

    # -- the two kinds of submission ------------------------------------------------------------------------

    def predictions(
        self, team: str, path: Path, kind: str = Kind.PREDICTIONS, *, baseline: bool = False, force: bool = False
    ) -> Outcome:
        """Score a predictions file; `baseline` marks the organisers' reference entry on the leaderboard.

        `force` evaluates outside the open phases (organisers only), recorded as forced.
        """
        team, extra = self._admit(team, force, baseline)
        if path.is_symlink() or not path.is_file():
            raise CodefestError(f"predictions file {path} not found", "give the path of your predictions file")
        _within_size(path)
        sha = fingerprint(path)
        with self._turn(team):
            early = self._duplicate_or_over_quota(team, sha, str(path), kind, extra)
            return early or self._flagged(self._score(team, path, sha, kind, {}, extra), sha)

    def code(self, team: str, pilot: Path, *, baseline: bool = False, force: bool = False) -> Outcome:
        team, extra = self._admit(team, force, baseline)
        sha = fingerprint(pilot)
        with self._turn(team):
            early = self._duplicate_or_over_quota(team, sha, str(pilot), Kind.CODE, extra)
            return early or self._flagged(self._run_code(team, pilot, sha, extra), sha)

    def _admit(self, team: str, force: bool, baseline: bool) -> tuple[str, dict[str, str]]:
        """The enrolled team, and the tags of an admitted submission; refused outside the open phases."""
        team = resolve(self.root, team)
        phase = open_phase(self.spec, self.root)
        if phase is None and not force:
            hint = "codefest evaluate ... --force"
            raise closed(self.spec, self.root, "submissions are not accepted outside its phases", hint)
        tags = {Tag.PHASE: phase.name if phase else OUTSIDE_PHASES, **_role(baseline)}
        return team, tags | ({Tag.FORCED: TRUE} if force else {})

    def _run_code(self, team: str, pilot: Path, sha: str, tags: dict[str, str]) -> Outcome:
        from codefest.evaluation.sandbox import CodeLimits, run_pilot

        inputs = sorted(p for p in self.bundle.iterdir() if p.is_file())  # the public bundle: test inputs, no labels
        limits = CodeLimits(self.spec.resources.wall_time_seconds, self.spec.resources.memory_mb)
        with tempfile.TemporaryDirectory(prefix="codefest-run-") as work:
            self.progress(f"{team}: running the pilot (limits {limits.wall_time_seconds} s, {limits.memory_mb} MB)")
            run = run_pilot(pilot, inputs, limits, hidden=[self.root], workdir=Path(work))
            logs = {"stdout.txt": run.stdout, "stderr.txt": run.stderr}
            extra = {Tag.CODE_SECONDS: f"{run.seconds:.1f}", Tag.ISOLATED: str(run.isolated).lower(), **tags}
            extra |= _cost(run)
            if run.status != "ok" or run.predictions is None:
                run_id = self._record_failure(team, sha, Kind.CODE, run.status, run.message, logs, extra)
                return Outcome(team, str(pilot), run.status, run.message, run_id, quota=self.quota(team))
            return self._score(team, run.predictions, sha, Kind.CODE, logs, extra)

    # -- steps ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _turn(self, team: str) -> Iterator[None]:
        """The team's turn: checks and records of its submissions never interleave, across processes."""
        with self.tracker.team_turn(team, lambda: self.progress(f"{team}: waiting for its other evaluation")):
            closed = self.tracker.close_interrupted(team)
            if closed:
                self.progress(f"{team}: marked {len(closed)} interrupted run(s)")
            yield

    def _uses_quota(self, tags: dict[str, str]) -> bool:
        """Scored submissions; and, unless the challenge says not, every code run that ended without valid predictions
        (its output invalid among them): it held a worker for up to the wall time, which must not be free, again and
        again."""
        status = tags.get(Tag.STATUS)
        if status == Status.SCORED:
            return True
        failed_code = status in Status.CODE_FAILURES or (status == Status.INVALID and tags.get(Tag.KIND) == Kind.CODE)
        return failed_code and self.spec.submission_limits.failed_code_runs_count

    def quota(self, team: str) -> Quota:
        used = [r for r in self.tracker.runs(where({Tag.TEAM: team})) if self._uses_quota(r.tags)]
        today = day_start_ms(utc_today())
        return Quota(sum(r.start_time >= today for r in used), len(used), self.spec.submission_limits)

    def _flagged(self, outcome: Outcome, sha: str) -> Outcome:
        """The same file from other teams, told to the organisers and tagged on the private run, never to teams."""
        same = self.tracker.runs(where({Tag.SUBMISSION_SHA256: sha}))
        others = sorted(
            f"{r.tags.get(Tag.TEAM)} (run {r.run_id})" for r in same if r.tags.get(Tag.TEAM) != outcome.team
        )
        if others and outcome.status in Status.EVALUATED:
            outcome.flags.append(f"the same submission (sha256 {sha}) was also sent by: {', '.join(others)}")
            private = self.tracker.runs(where({Tag.PUBLIC_RUN_ID: str(outcome.run_id)}), private=True)
            for run in private:
                self.tracker.set_tags(run.run_id, {Tag.SAME_SUBMISSION_AS: ", ".join(others)[:TAG_VALUE_LIMIT]})
        return outcome

    def _duplicate_or_over_quota(
        self, team: str, sha: str, source: str, kind: str, extra: dict[str, str]
    ) -> Outcome | None:
        same = [
            r
            for r in self.tracker.runs(where({Tag.TEAM: team, Tag.SUBMISSION_SHA256: sha}))
            if r.tags.get(Tag.STATUS) in Status.EVALUATED
        ]
        if same:
            done = same[0]
            message = f"already evaluated as run {done.run_id} (status {done.tags[Tag.STATUS]}); not scored twice"
            return Outcome(team, source, Status.DUPLICATE, message, done.run_id, quota=self.quota(team))
        quota = self.quota(team)
        if quota.remaining == 0:
            refusal = quota.refusal()
            run_id = self._record_failure(team, sha, kind, Status.OVER_QUOTA, refusal.problem, {}, extra)
            return Outcome(team, source, Status.OVER_QUOTA, refusal.render(), run_id, quota=quota)
        return None

    def _tags(self, team: str, sha: str, kind: str) -> dict[str, str]:
        return {
            Tag.TEAM: team,
            Tag.CHALLENGE: self.spec.slug,
            Tag.CHALLENGE_VERSION: self.spec.version,
            Tag.KIND: kind,
            Tag.SUBMISSION_SHA256: sha,
            Tag.HARNESS_VERSION: __version__,
            Tag.DATASET_SHA256: self.dataset_sha256,
            **({Tag.LABELS_PUBLIC: TRUE} if self.warning else {}),
            Tag.STATUS: Status.RUNNING,
        }

    def _gold(self) -> Path:
        return gold_file(self.vault, self.spec.task, "test")

    def _score(
        self, team: str, path: Path, sha: str, kind: str, logs: dict[str, str], extra: dict[str, str] | None = None
    ) -> Outcome:
        spec, options = self.spec, options_for(self.spec)
        self.progress(f"{team}: validating and scoring {path.name}")
        try:
            ids, metrics = validated_items(  # checked against the public test inputs: no message can tell a label
                spec.task,
                self._gold(),
                path,
                options,
                inputs=self.bundle / "test.jsonl",
                only=[m.name for m in spec.metrics],
            )
        except InvalidSubmission as invalid:
            problems = "\n".join(p.render() for p in invalid.problems)
            run_id = self._record_failure(team, sha, kind, Status.INVALID, invalid.problem, logs, extra or {}, problems)
            message = invalid.render()
            if kind == Kind.CODE and self._uses_quota({Tag.STATUS: Status.INVALID, Tag.KIND: kind}):
                fix = "correct what your code writes; a code run that ends without valid predictions uses quota"
                message = CodefestError(invalid.problem, fix).render()
            return Outcome(team, str(path), Status.INVALID, message, run_id, quota=self.quota(team))
        sign = evaluation_signature(spec, self.dataset_sha256)
        tags = {**self._tags(team, sha, kind), Tag.SIGNATURE: sign, **(extra or {})}
        public_run = self.tracker.start(tags)
        faults.point(faults.SCORING)
        self.progress(f"{team}: bootstrap intervals for the public and private parts")
        parts = {Part.PUBLIC: self.public_ids, Part.PRIVATE: self.private_ids}
        groups = item_groups(spec, self._gold(), ids)
        scored = {part: self._part(ids, metrics, members, groups) for part, members in parts.items()}
        private_tags = {**tags, Tag.PART: Part.PRIVATE, Tag.PUBLIC_RUN_ID: public_run}
        private_run = self.tracker.start(private_tags, private=True)
        self._log_part(private_run, scored[Part.PRIVATE], logs)
        self._log_per_item(private_run, Artifact.PUBLIC_PER_ITEM, scored[Part.PUBLIC])  # which ids are public: private
        self.tracker.finish(private_run, Status.SCORED)
        self._log_part(public_run, scored[Part.PUBLIC], logs, per_item=False)
        faults.point(faults.LOGGING)
        self.tracker.finish(public_run, Status.SCORED, {Tag.PART: Part.PUBLIC, Tag.PRIVATE_RUN_ID: private_run})
        quota = self.quota(team)
        values = scored[Part.PUBLIC].values
        return Outcome(team, str(path), Status.SCORED, f"scored; {quota.describe()}", public_run, values, quota)

    def _part(self, ids: list[str], metrics: list[ItemStats], members: set[str], groups: Groups | None) -> PartScores:
        rows = np.array([i for i, item in enumerate(ids) if item in members], dtype=np.int64)
        part = [subset(m, rows) for m in metrics]
        part_ids = [ids[i] for i in rows]
        primary = next(m for m in part if m.name == self.spec.primary_metric)
        values = summarise(part, len(rows), DEFAULT_RESAMPLES, DEFAULT_SEED)
        return PartScores(values, part_ids, part, breakdown(groups, part_ids, primary))

    def _log_part(self, run_id: str, scored: PartScores, logs: dict[str, str], per_item: bool = True) -> None:
        """Scores, result.json and logs; per-item scores only where participants cannot read them.

        A team reading its own per-item scores would learn, item by item, whether a guess was right: the held-out
        labels, one submission at a time.
        """
        values, ids = scored.values, scored.ids
        self.tracker.log_scores(run_id, values)
        result = Result(self.spec.task, len(ids), dict(values), scored.breakdown)
        self.tracker.log_json(run_id, Artifact.RESULT, result.to_json())
        if per_item:
            self._log_per_item(run_id, Artifact.PER_ITEM, scored)
        self._log_logs(run_id, logs)

    def refuse(self, team: str, entry: Path, message: str) -> Outcome:
        """Record a refused entry once, for the organisers (private experiment): it uses no quota."""
        team_shown, source = printable(team), printable(str(entry))
        key = hashlib.sha256(f"{team_shown}\0{source}\0{message}".encode()).hexdigest()
        seen = self.tracker.runs(where({Tag.REFUSAL: key}), private=True)
        if seen:
            return Outcome(team_shown, source, Status.REFUSED, message, seen[0].run_id)
        tags = {Tag.TEAM: team_shown, Tag.CHALLENGE: self.spec.slug, Tag.ENTRY: source[:1000], Tag.REFUSAL: key}
        run_id = self.tracker.start({**tags, Tag.MESSAGE: message[:TAG_VALUE_LIMIT]}, private=True)
        self.tracker.finish(run_id, Status.REFUSED)
        return Outcome(team_shown, source, Status.REFUSED, message, run_id)

    def _log_per_item(self, run_id: str, name: str, scored: PartScores) -> None:
        per_item = [m for m in scored.metrics if m.per_item is not None]
        lines = (
            json.dumps({"id": item, **{m.name: float(m.per_item[i]) for m in per_item}})  # type: ignore[index]
            for i, item in enumerate(scored.ids)
        )
        self.tracker.log_text(run_id, name, "\n".join(lines) + "\n")

    def _log_logs(self, run_id: str, logs: dict[str, str]) -> None:
        for name, text in logs.items():
            self.tracker.log_text(run_id, Artifact.log(name), text)

    def _record_failure(
        self,
        team: str,
        sha: str,
        kind: str,
        status: str,
        message: str,
        logs: dict[str, str],
        extra: dict[str, str],
        problems: str = "",
    ) -> str:
        """A run that never reaches the leaderboard, so that nothing submitted goes unrecorded."""
        run_id = self.tracker.start({**self._tags(team, sha, kind), **extra, Tag.MESSAGE: message[:TAG_VALUE_LIMIT]})
        if problems:
            self.tracker.log_text(run_id, Artifact.PROBLEMS, problems + "\n")
        self._log_logs(run_id, logs)
        self.tracker.finish(run_id, status)
        return run_id


@dataclass(frozen=True)
class InboxEntry:
    """One entry of inbox/<team>/: its folder's name as found (undecodable bytes kept), and when it arrived."""

    team: str
    path: Path
    arrived: float
    problem: str = ""  # why it cannot be evaluated, found while listing


def _listed(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def _team_entries(team: os.DirEntry[str]) -> list[InboxEntry]:
    path = Path(team.path)
    if team.is_symlink() or not team.is_dir(follow_symlinks=False):
        return [InboxEntry(team.name, path, 0.0, "inbox entries go in a team's folder: inbox/<team>/<file or pilot>")]
    try:
        entries = _listed(path)
    except OSError as error:
        return [InboxEntry(team.name, path, 0.0, f"the team's folder cannot be listed ({error.strerror})")]
    found = []
    for entry in entries:
        try:
            found.append(InboxEntry(team.name, Path(entry.path), entry.stat(follow_symlinks=False).st_mtime))
        except OSError as error:
            found.append(InboxEntry(team.name, Path(entry.path), 0.0, f"cannot be read ({error.strerror})"))
    return found


def inbox_items(inbox: Path) -> list[InboxEntry]:
    """Every file or pilot folder under inbox/<team>/, oldest first; what cannot be listed comes with its problem."""
    if not inbox.is_dir():
        raise CodefestError(f"inbox {printable(str(inbox))} is not a folder", "give a folder with one folder per team")
    items = [item for team in _listed(inbox) for item in _team_entries(team)]
    return sorted(items, key=lambda item: (item.arrived, item.team, item.path.name))


def _evaluate_entry(evaluator: Evaluator, item: InboxEntry) -> Outcome:
    if item.problem:
        raise CodefestError(item.problem)
    if item.path.is_symlink():
        raise CodefestError("the entry is a link", "put the predictions file or the pilot folder itself in the inbox")
    if item.path.is_dir():
        return evaluator.code(item.team, item.path)
    return evaluator.predictions(item.team, item.path)


def evaluate_inbox(evaluator: Evaluator, inbox: Path) -> list[Outcome]:
    """Each new file (or pilot folder) once, in order of arrival; seen ones are reported as duplicates.

    One bad entry never stops the others: whatever it raises, it ends as a recorded refusal with its reason.
    """
    outcomes = []
    for item in inbox_items(inbox):
        try:
            outcome = _evaluate_entry(evaluator, item)
        except StoreError:
            raise  # the workspace itself fails: every later entry would too
        except CodefestError as problem:
            outcome = evaluator.refuse(item.team, item.path, problem.render())
        except (OSError, RecursionError, UnicodeError, ValueError) as error:
            message = f"the entry could not be read ({type(error).__name__}: {error})"
            outcome = evaluator.refuse(item.team, item.path, message)
        outcomes.append(outcome)
    return outcomes
