"""Evaluations: validate, score the public and private parts of the test set, record both in MLflow, and the
verdict in the submissions ledger.

Test labels are read here, in the evaluating process, only after a submission's predictions exist; a code
submission runs first, in a sandbox that sees the test inputs only.

The ledger decides what a submission is (`Ledger.receive`: queued, a duplicate, over quota), in one transaction
across processes and hosts. `evaluate_submission` evaluates a recorded submission by its id, wherever the vault is:
the service's workers call it. The organisers' `codefest evaluate` and its inbox store a copy of the file or the
pilot in the workspace (`Workspace.uploads`), have the ledger receive it and claim it for this process at once,
evaluate it here while renewing the claim's lease, and record the verdict. With a broker (CODEFEST_BROKER_URL),
the inbox's entries are only received and queued, from public files, and the workers that hold the vault evaluate.

A process killed midway leaves its submission `running`. Sent again, the same file takes the submission over: at
once when the process that held it ran on this host and is gone, else once its lease has expired (a worker of
`codefest serve` takes it over then too); the MLflow runs of the dead attempt are marked `interrupted`. Nothing is
evaluated twice, nothing is lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from codefest import __version__
from codefest.challenges.calendar import closed, open_phase
from codefest.challenges.discovery import LoadedChallenge, load
from codefest.challenges.efficiency import cost_per_1000, money
from codefest.challenges.spec import Challenge
from codefest.core.errors import CodefestError, printable
from codefest.core.workspace import Workspace
from codefest.evaluation import devices, faults, pilot_tree
from codefest.evaluation.breakdown import Groups, breakdown, item_groups
from codefest.evaluation.challenge import evaluation_signature, options_for
from codefest.evaluation.claims import evaluate_name, gone
from codefest.evaluation.ledger import Cost, ItemScores, Ledger, Submission, statuses
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
from codefest.evaluation.roster import open_ledger, resolve
from codefest.evaluation.scoring import DEFAULT_RESAMPLES, DEFAULT_SEED, MetricValue, summarise, validated_items
from codefest.evaluation.submissions import Quota, fingerprint
from codefest.evaluation.tracking import StoreError, Tracker, runs_view, storage_errors
from codefest.evaluation.workers import Verdict, lease_kept, record

if TYPE_CHECKING:
    from codefest.evaluation.sandbox import CodeRun
from codefest.shared_datasets.heldout import built_record, check_vault, gold_file, read_vault_manifest

Progress = Callable[[str], None]
LEASE_SECONDS = 120.0  # an evaluation in the organisers' process renews it every third; a worker takes over after it
UPLOAD, PILOT = "upload", "pilot"  # in a submission's folder under `Workspace.uploads`, as the service stores them


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
    submission_id: str | None = None  # in the ledger

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


def _cost_tags(run: CodeRun) -> dict[str, str]:
    """What the whole run took, from its cgroup: beside the score, what a pilot costs to operate."""
    cost = {}
    if run.peak_memory_bytes is not None:
        cost[Tag.CODE_PEAK_MEMORY_MB] = f"{run.peak_memory_bytes / 1024**2:.1f}"
    if run.cpu_seconds is not None:
        cost[Tag.CODE_CPU_SECONDS] = f"{run.cpu_seconds:.2f}"
    return cost


def _environment_tags(run: CodeRun) -> dict[str, str]:
    """Which environment the run had, and what finding or building it took."""
    found = run.environment
    if found is None:
        return {}
    return {
        Tag.ENVIRONMENT_KEY: found.short_key,
        Tag.ENVIRONMENT_SECONDS: f"{found.seconds:.3f}",
        Tag.ENVIRONMENT_REUSED: str(found.reused).lower(),
    }


# On the private run only: in public, the same key would tell a team that another team declared the same set.
PRIVATE_ONLY = frozenset({Tag.ENVIRONMENT_KEY, Tag.ENVIRONMENT_REUSED})


def _public(tags: dict[str, str]) -> dict[str, str]:
    return {name: value for name, value in tags.items() if name not in PRIVATE_ONLY}


def _cost(tags: dict[str, str]) -> Cost | None:
    """A code run's cost for the ledger, read back from the tags it was recorded with."""
    if Tag.CODE_SECONDS not in tags:
        return None
    numbers = [tags.get(key) for key in (Tag.CODE_SECONDS, Tag.CODE_PEAK_MEMORY_MB, Tag.CODE_CPU_SECONDS)]
    return Cost(*(None if number is None else float(number) for number in numbers))


def _price_tags(spec: Challenge, extra: dict[str, str], items: int) -> dict[str, str]:
    """A code run's cost per 1,000 test items at the organisers' prices, from the values its tags record (so that
    the leaderboard, computing it from the ledger's copy of them, shows the same)."""
    prices = spec.resources.prices
    if prices is None or Tag.CODE_CPU_SECONDS not in extra or Tag.CODE_SECONDS not in extra:
        return {}
    cpu, wall = float(extra[Tag.CODE_CPU_SECONDS]), float(extra[Tag.CODE_SECONDS])
    cost = cost_per_1000(prices, cpu, wall, spec.resources.gpus, items)
    return {} if cost is None else {Tag.CODE_COST: money(cost), Tag.CODE_COST_CURRENCY: prices.currency}


def _storable(text: str) -> str:
    """A message as the ledger can store it: bytes of a file name that were not UTF-8 escaped, the rest kept."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class Evaluator:
    """Evaluations of one challenge against its vault, recorded in its experiments and in the ledger."""

    def __init__(
        self,
        challenge: LoadedChallenge,
        root: Path,
        progress: Progress = lambda _: None,
        ledger: Ledger | None = None,
        enqueue: Callable[[Submission], object] | None = None,
    ) -> None:
        """With `enqueue`, a submission the ledger queues is handed to it (a broker's workers evaluate it) instead
        of being evaluated here; its outcome says `queued`. Such an evaluator only receives, so it reads the
        challenge's public record (`built_record`) and never the vault, which lives on the workers only (issue 15);
        one that evaluates reads the vault at once, before it receives anything."""
        self.challenge, self.spec, self.root, self.progress = challenge, challenge.spec, root, progress
        self.vault, self.bundle = Workspace(root).vault(self.spec.slug), Workspace(root).bundle(self.spec.slug)
        if enqueue is None:
            vault_manifest = read_vault_manifest(self.vault)
            self.manifest = vault_manifest.data
            self.dataset_sha256 = vault_manifest.dataset_sha256
            self.warning = vault_manifest.warning  # said with every evaluation of a challenge whose labels are public
            partition = json.loads((self.vault / "partition.json").read_text(encoding="utf-8"))
            self.public_ids, self.private_ids = set(partition[Part.PUBLIC]), set(partition[Part.PRIVATE])
        else:
            record = built_record(self.spec.slug, root)  # "not built" when neither the record nor a vault is here
            self.dataset_sha256, self.warning = record.dataset_sha256, record.warning
        self.tracker = Tracker(self.spec.slug, root, view=runs_view(challenge))  # how the MLflow UI opens it
        self.ledger = ledger or open_ledger(root)
        self.worker = evaluate_name()
        self.enqueue = enqueue

    # -- the two kinds of submission, from the organisers ---------------------------------------------------

    def predictions(
        self, team: str, path: Path, kind: str = Kind.PREDICTIONS, *, baseline: bool = False, force: bool = False
    ) -> Outcome:
        """Score a predictions file; `baseline` marks the organisers' reference entry on the leaderboard.

        `force` evaluates outside the open phases (organisers only), recorded as forced.
        """
        team, phase = self._admit(team, force)
        if path.is_symlink() or not path.is_file():
            raise CodefestError(f"predictions file {path} not found", "give the path of your predictions file")
        _within_size(path)
        folder = self._upload_folder()
        try:
            stored = folder / UPLOAD
            with storage_errors(self.root):
                shutil.copyfile(path, stored)
            sha, size = fingerprint(stored), stored.stat().st_size
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return self._submit(team, kind, sha, size, str(path), folder, stored, phase, baseline, force)

    def code(self, team: str, pilot: Path, *, baseline: bool = False, force: bool = False) -> Outcome:
        team, phase = self._admit(team, force)
        fingerprint(pilot)  # refuses a link, a missing folder, a folder past the limits, before anything is copied
        folder = self._upload_folder()
        try:
            stored = folder / PILOT
            entries = pilot_tree.walk(pilot)
            with storage_errors(self.root):
                pilot_tree.copy(pilot, entries, stored)
            sha, size = fingerprint(stored), sum(e.size for e in entries if e.kind == "file")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return self._submit(team, Kind.CODE, sha, size, str(pilot), folder, stored, phase, baseline, force)

    def _admit(self, team: str, force: bool) -> tuple[str, str]:
        """The enrolled team and the phase it submits in; refused outside the open phases unless forced."""
        team = resolve(self.root, team, self.ledger)
        phase = open_phase(self.spec, self.root)
        if phase is None and not force:
            hint = "codefest evaluate ... --force"
            raise closed(self.spec, self.root, "submissions are not accepted outside its phases", hint)
        return team, phase.name if phase else OUTSIDE_PHASES

    def _upload_folder(self) -> Path:
        folder = Workspace(self.root).uploads(self.spec.slug) / uuid.uuid4().hex
        with storage_errors(self.root):
            folder.mkdir(parents=True)
        return folder

    def _submit(
        self,
        team: str,
        kind: str,
        sha: str,
        size: int,
        source: str,
        folder: Path,
        stored: Path,
        phase: str,
        baseline: bool,
        force: bool,
    ) -> Outcome:
        """The ledger decides; a queued submission is evaluated here at once, a duplicate of one whose evaluation
        died is taken over, the rest are answered."""
        row = self.ledger.receive(
            self.spec.slug,
            team,
            kind,
            sha,
            size,
            printable(source),  # a name that is not valid UTF-8 is kept escaped
            str(stored.relative_to(self.root)),
            self.spec.submission_limits,
            phase,
            Role.BASELINE if baseline else Role.PARTICIPANT,
            force,
            worker=None if self.enqueue else self.worker,
            lease_seconds=LEASE_SECONDS,
        )
        if row.status == statuses.QUEUED and self.enqueue is not None:
            self.enqueue(row)
            return Outcome(row.team, source, row.status, row.message, quota=row.quota, submission_id=row.id)
        if row.status != statuses.RUNNING:
            shutil.rmtree(folder, ignore_errors=True)
        if row.status == statuses.RUNNING:
            return self._flagged(self._evaluate_claimed(row, source), sha)
        if row.status == Status.OVER_QUOTA:
            return Outcome(row.team, source, row.status, row.message, quota=row.quota, submission_id=row.id)
        original = self.ledger.get(str(row.duplicate_of))
        taken = None if self.enqueue else self._take_over(original)  # a broker's workers take over their dead
        if taken is not None:
            return self._flagged(self._evaluate_claimed(taken, source), sha)
        assert original is not None
        return self._duplicate(row, original, source)

    def _take_over(self, original: Submission | None) -> Submission | None:
        """The original of a duplicate, claimed by this process if the evaluation that held it died."""
        if original is None or original.status != statuses.RUNNING:
            return None
        dead = [original.worker] if original.worker and gone(original.worker) else []
        taken = self.ledger.claim(self.worker, LEASE_SECONDS, submission_id=original.id, dead=dead)
        if taken is not None:
            self.progress(f"{original.team}: taking over submission {original.id}, whose evaluation stopped")
        return taken

    def _duplicate(self, row: Submission, original: Submission, source: str) -> Outcome:
        done = original.status not in statuses.ACTIVE
        where_ = f"run {original.public_run_id}" if original.public_run_id else f"submission {original.id}"
        message = f"already {'evaluated' if done else 'received'} as {where_} (status {original.status}); "
        message += "not scored twice"
        return Outcome(
            row.team, source, Status.DUPLICATE, message, original.public_run_id, quota=row.quota, submission_id=row.id
        )

    def _evaluate_claimed(self, row: Submission, source: str) -> Outcome:
        """Evaluate a submission this process holds, renewing its lease meanwhile, and record the verdict."""
        try:
            with lease_kept(self.ledger, row.id, self.worker, LEASE_SECONDS):
                verdict, raw = self.verdict(row, source)
        except devices.NoDevices as missing:  # a GPU challenge, and too few GPUs here: it waits for a GPU worker
            self.ledger.release(row.id, self.worker, missing.waiting)
            return Outcome(
                row.team, source, statuses.QUEUED, missing.waiting, quota=self.quota(row.team), submission_id=row.id
            )
        flags = []
        if not record(self.ledger, row.id, self.worker, verdict):
            flags.append(f"submission {row.id} was taken over by another worker: this verdict is not recorded")
        quota = self.quota(row.team)
        message = f"scored; {quota.describe()}" if verdict.status == Status.SCORED else raw
        public = dict((verdict.scores or {}).get(Part.PUBLIC, {}))
        run_id = verdict.public_run_id
        return Outcome(row.team, source, verdict.status, message, run_id, public, quota, flags, row.id)

    def quota(self, team: str) -> Quota:
        return self.ledger.quota(self.spec.slug, team, self.spec.submission_limits)

    def _flagged(self, outcome: Outcome, sha: str) -> Outcome:
        """The same file from other teams, told to the organisers and tagged on the private run, never to teams."""
        private = self.tracker.runs(where({Tag.SUBMISSION_SHA256: sha}), private=True)  # only private runs hold it
        others = sorted(
            f"{r.tags.get(Tag.TEAM)} (run {r.tags.get(Tag.PUBLIC_RUN_ID)})"
            for r in private
            if r.tags.get(Tag.TEAM) != outcome.team
        )
        if others and outcome.status in Status.EVALUATED:
            outcome.flags.append(f"the same submission (sha256 {sha}) was also sent by: {', '.join(others)}")
            for run in (r for r in private if r.tags.get(Tag.PUBLIC_RUN_ID) == str(outcome.run_id)):
                self.tracker.set_tags(run.run_id, {Tag.SAME_SUBMISSION_AS: ", ".join(others)[:TAG_VALUE_LIMIT]})
        return outcome

    # -- one recorded submission, wherever it came from -------------------------------------------------------

    def verdict(self, row: Submission, shown: str) -> tuple[Verdict, str]:
        """Evaluate a submission of the ledger from its stored copy: the verdict for the team (its stored path said
        as `shown`, the workspace as "(server)"), and the message as the organisers read it (the path as `shown`)."""
        if row.stored is None:
            raise ValueError(f"submission {row.id} has no stored file to evaluate")
        self.tracker.close_interrupted({Tag.SUBMISSION_ID: row.id})
        stored = self.root / row.stored
        tags = {Tag.PHASE: row.phase or OUTSIDE_PHASES, Tag.ROLE: row.role, Tag.SUBMISSION_ID: row.id}
        tags |= {Tag.FORCED: TRUE} if row.forced else {}
        if row.kind == Kind.CODE:
            verdict = self._run_code(row.team, stored, row.sha256, tags)
        else:
            verdict = self._score(row.team, stored, row.sha256, row.kind, {}, tags)
        raw = verdict.message.replace(str(stored), shown)
        private = _storable(raw.replace(str(self.root), "(server)"))
        return Verdict(**{**vars(verdict), "message": private}), raw

    def _run_code(self, team: str, pilot: Path, sha: str, tags: dict[str, str]) -> Verdict:
        from codefest.evaluation.sandbox import CodeLimits, CodeRun, entry_point, environment_for, run_pilot

        inputs = sorted(p for p in self.bundle.iterdir() if p.is_file())  # the public bundle: test inputs, no labels
        resources = self.spec.resources
        limits = CodeLimits(
            resources.wall_time_seconds,
            resources.memory_mb,
            environment_seconds=resources.environment_seconds,
            environment_mb=resources.environment_mb,
        )
        gpus = self.spec.resources.gpus
        held: tuple[int, ...] = ()
        with tempfile.TemporaryDirectory(prefix="codefest-run-") as work:
            entry_point(pilot)  # a pilot codefest cannot run (no entry point, a broken pyproject) is refused first
            # The environment next: a build holds no GPU that another challenge's run could use meanwhile.
            self.progress(f"{team}: preparing the pilot's environment")
            prepared = environment_for(pilot, limits, Workspace(self.root).environments)
            self.progress(f"{team}: running the pilot (limits {limits.wall_time_seconds} s, {limits.memory_mb} MB)")
            if isinstance(prepared, CodeRun):  # the environment failed: nothing to run
                run = prepared
            else:
                with devices.held(gpus, self.root, self.spec.slug) as held:  # NoDevices when too few: it waits
                    run = run_pilot(
                        pilot,
                        inputs,
                        limits,
                        hidden=[self.root],
                        workdir=Path(work),
                        devices=held,
                        environment=prepared,
                    )
            logs = {"stdout.txt": run.stdout, "stderr.txt": run.stderr}
            extra = {Tag.CODE_SECONDS: f"{run.seconds:.1f}", Tag.ISOLATED: str(run.isolated).lower(), **tags}
            extra |= {Tag.CODE_GPUS: str(len(held))} if held else {}
            extra |= _cost_tags(run) | _environment_tags(run)
            if run.status != "ok" or run.predictions is None:
                run_id = self._record_failure(team, Kind.CODE, run.status, run.message, logs, extra)
                return Verdict(run.status, run.message, public_run_id=run_id, cost=_cost(extra))
            return self._score(team, run.predictions, sha, Kind.CODE, logs, extra)

    # -- steps ----------------------------------------------------------------------------------------------

    def _tags(self, team: str, kind: str) -> dict[str, str]:
        return {
            Tag.TEAM: team,
            Tag.CHALLENGE: self.spec.slug,
            Tag.CHALLENGE_VERSION: self.spec.version,
            Tag.KIND: kind,
            Tag.HARNESS_VERSION: __version__,
            Tag.DATASET_SHA256: self.dataset_sha256,
            **({Tag.LABELS_PUBLIC: TRUE} if self.warning else {}),
            Tag.STATUS: Status.RUNNING,
        }

    def _gold(self) -> Path:
        return gold_file(self.vault, self.spec.task, "test")

    def _score(
        self, team: str, path: Path, sha: str, kind: str, logs: dict[str, str], extra: dict[str, str]
    ) -> Verdict:
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
            run_id = self._record_failure(team, kind, Status.INVALID, invalid.problem, logs, extra, problems)
            message = invalid.render()
            limits = spec.submission_limits
            if kind == Kind.CODE and statuses.uses_quota(kind, Status.INVALID, limits.failed_code_runs_count):
                fix = "correct what your code writes; a code run that ends without valid predictions uses quota"
                message = CodefestError(invalid.problem, fix).render()
            return Verdict(Status.INVALID, message, public_run_id=run_id, cost=_cost(extra))
        sign = evaluation_signature(spec, self.dataset_sha256)
        shown = _public(extra)
        tags = {**self._tags(team, kind), Tag.SIGNATURE: sign, **shown, **_price_tags(spec, extra, len(ids))}
        public_run = self.tracker.start(tags)
        faults.point(faults.SCORING)
        self.progress(f"{team}: bootstrap intervals for the public and private parts")
        parts = {Part.PUBLIC: self.public_ids, Part.PRIVATE: self.private_ids}
        groups = item_groups(spec, self._gold(), ids)
        scored = {part: self._part(ids, metrics, members, groups) for part, members in parts.items()}
        # The file's hash (and the environment's key) only where participants cannot read: in public it would tell
        # who sent the same file (declared the same dependencies).
        private_tags = {**tags, **extra, Tag.PART: Part.PRIVATE, Tag.PUBLIC_RUN_ID: public_run}
        private_tags[Tag.SUBMISSION_SHA256] = sha
        private_run = self.tracker.start(private_tags, private=True)
        self._log_part(private_run, scored[Part.PRIVATE], logs)
        self._log_per_item(private_run, Artifact.PUBLIC_PER_ITEM, scored[Part.PUBLIC])  # which ids are public: private
        self.tracker.finish(private_run, Status.SCORED)
        self._log_part(public_run, scored[Part.PUBLIC], logs, per_item=False)
        faults.point(faults.LOGGING)
        self.tracker.finish(public_run, Status.SCORED, {Tag.PART: Part.PUBLIC, Tag.PRIVATE_RUN_ID: private_run})
        return Verdict(
            Status.SCORED,
            Status.SCORED,
            scores={part: dict(found.values) for part, found in scored.items()},
            per_item=[_item_scores(part, found) for part, found in scored.items()],
            public_run_id=public_run,
            private_run_id=private_run,
            cost=_cost(extra),
            signature=sign,
            breakdowns={part: found.breakdown for part, found in scored.items()},
        )

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
        """Record a refused entry once, for the organisers (private experiment), and in the ledger when its team is
        enrolled: it uses no quota. An unknown team's entry is recorded in MLflow only (the ledger knows teams)."""
        team_shown, source = printable(team), printable(str(entry))
        key = hashlib.sha256(f"{team_shown}\0{source}\0{message}".encode()).hexdigest()
        seen = self.tracker.runs(where({Tag.REFUSAL: key}), private=True)
        if seen:
            return Outcome(team_shown, source, Status.REFUSED, message, seen[0].run_id)
        tags = {Tag.TEAM: team_shown, Tag.CHALLENGE: self.spec.slug, Tag.ENTRY: source[:1000], Tag.REFUSAL: key}
        run_id = self.tracker.start({**tags, Tag.MESSAGE: message[:TAG_VALUE_LIMIT]}, private=True)
        self.tracker.finish(run_id, Status.REFUSED)
        return Outcome(
            team_shown, source, Status.REFUSED, message, run_id, submission_id=self._refused(team, entry, message)
        )

    def _refused(self, team: str, entry: Path, message: str) -> str | None:
        try:
            enrolled = resolve(self.root, team, self.ledger)
        except CodefestError:
            return None
        phase = open_phase(self.spec, self.root)
        kind = Kind.CODE if entry.is_dir() and not entry.is_symlink() else Kind.PREDICTIONS
        name = phase.name if phase else OUTSIDE_PHASES
        row = self.ledger.refuse(
            self.spec.slug, enrolled, kind, "", 0, printable(str(entry)), _storable(message), name, Role.PARTICIPANT
        )
        return row.id

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
        kind: str,
        status: str,
        message: str,
        logs: dict[str, str],
        extra: dict[str, str],
        problems: str = "",
    ) -> str:
        """A run that never reaches the leaderboard, so that nothing evaluated goes unrecorded in MLflow."""
        shown = {**self._tags(team, kind), **_public(extra), Tag.MESSAGE: message[:TAG_VALUE_LIMIT]}
        run_id = self.tracker.start(shown)
        if problems:
            self.tracker.log_text(run_id, Artifact.PROBLEMS, problems + "\n")
        self._log_logs(run_id, logs)
        self.tracker.finish(run_id, status)
        return run_id


def _item_scores(part: str, scored: PartScores) -> ItemScores:
    """A part's per-item scores for the ledger: every metric that has them, in the order of the part's items."""
    values: dict[str, Any] = {m.name: m.per_item for m in scored.metrics if m.per_item is not None}
    return ItemScores(part, scored.ids, values)


def evaluate_submission(root: Path, ledger: Ledger, submission_id: str) -> Verdict:
    """Evaluate a submission of the ledger by its id (the workers' seam): the caller holds its claim and records the
    verdict. Its message is for the team: no server path, no label, no other team."""
    row = ledger.get(submission_id)
    if row is None:
        raise LookupError(f"no submission {submission_id} in the ledger")
    check_vault(row.challenge, root)  # VaultUnavailable: the worker gives the submission back, to wait
    evaluator = Evaluator(load(row.challenge), root, ledger=ledger)
    return evaluator.verdict(row, row.source)[0]


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
