"""Organiser evaluations: validate, score the public and private parts of the test set, record both in MLflow.

Test labels are read here, in the organiser's process, only after a submission's predictions exist; a code
submission runs first, in a sandbox that sees the test inputs only.

Evaluations of one team take turns (a lock file in the workspace), so that two submitted at once cannot both pass
the duplicate and quota checks; evaluations of different teams run side by side. A run that an evaluation killed
midway left `running` is marked `interrupted` at the team's next turn, and the submission is evaluated again.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from challenges.discovery import LoadedChallenge
from codefest import __version__
from codefest.errors import CodefestError
from codefest.workspace import bundle_dir, vault_dir
from evaluation.breakdown import Groups, breakdown, item_groups
from evaluation.challenge import evaluation_signature, options_for
from evaluation.metrics.base import ItemStats, subset
from evaluation.problems import InvalidSubmission
from evaluation.scoring import DEFAULT_RESAMPLES, DEFAULT_SEED, MetricValue, summarise, validated_items
from evaluation.submissions import Quota, check_team, day_start_ms, fingerprint, utc_today
from evaluation.tracking import SCORED, StoreError, Tracker
from shared_datasets.heldout import gold_file

Progress = Callable[[str], None]
COUNTED = (SCORED,)  # only scored submissions use quota; invalid files and failed code runs do not
EVALUATED = ("scored", "invalid", "timeout", "memory", "network", "crashed", "no-output")
PAUSE_AT = "CODEFEST_TEST_PAUSE_AT"  # tests only: a step (scoring, logging) where an evaluation waits to be killed


def _step(name: str) -> None:
    """A point where the fault tests kill an evaluation; it waits there only when CODEFEST_TEST_PAUSE_AT names it."""
    if os.environ.get(PAUSE_AT) == name:
        print(f"codefest: paused at {name}", file=sys.stderr, flush=True)
        time.sleep(3600)


@dataclass
class Outcome:
    team: str
    source: str
    status: str  # scored, invalid, duplicate, over-quota, or a code run's failure
    message: str
    run_id: str | None = None
    public: dict[str, MetricValue] = field(default_factory=dict)
    quota: Quota | None = None

    @property
    def ok(self) -> bool:
        return self.status in (SCORED, "duplicate")


@dataclass(frozen=True)
class Part:
    """The scores of one part (public or private) of the test set."""

    values: dict[str, MetricValue]
    ids: list[str]
    metrics: list[ItemStats]
    breakdown: dict[str, object] | None


def _role(baseline: bool) -> dict[str, str]:
    return {"role": "baseline" if baseline else "participant"}


class Evaluator:
    """Evaluations of one challenge against its vault, recorded in its experiments."""

    def __init__(self, challenge: LoadedChallenge, root: Path, progress: Progress = lambda _: None) -> None:
        self.challenge, self.spec, self.root, self.progress = challenge, challenge.spec, root, progress
        self.vault, self.bundle = vault_dir(self.spec.slug, root), bundle_dir(self.spec.slug, root)
        if not (self.vault / "manifest.json").is_file():
            raise CodefestError(
                f"challenge '{self.spec.slug}' has no vault in {root}",
                f"run: codefest data build {self.spec.slug}",
            )
        self.manifest = json.loads((self.vault / "manifest.json").read_text(encoding="utf-8"))
        partition = json.loads((self.vault / "partition.json").read_text(encoding="utf-8"))
        self.public_ids, self.private_ids = set(partition["public"]), set(partition["private"])
        self.tracker = Tracker(self.spec.slug, root)

    # -- the two kinds of submission ------------------------------------------------------------------------

    def predictions(self, team: str, path: Path, kind: str = "predictions", *, baseline: bool = False) -> Outcome:
        """Score a predictions file; `baseline` marks the organisers' reference entry on the leaderboard."""
        check_team(team)
        if not path.is_file():
            raise CodefestError(f"predictions file {path} not found", "give the path of your predictions file")
        sha = fingerprint(path)
        with self._turn(team):
            early = self._duplicate_or_over_quota(team, sha, str(path), kind)
            return early or self._score(team, path, sha, kind, {}, _role(baseline))

    def code(self, team: str, pilot: Path, *, baseline: bool = False) -> Outcome:
        check_team(team)
        sha = fingerprint(pilot)
        with self._turn(team):
            early = self._duplicate_or_over_quota(team, sha, str(pilot), "code")
            return early or self._run_code(team, pilot, sha, baseline)

    def _run_code(self, team: str, pilot: Path, sha: str, baseline: bool) -> Outcome:
        from evaluation.sandbox import CodeLimits, run_pilot

        inputs = sorted(p for p in self.bundle.iterdir() if p.is_file())  # the public bundle: test inputs, no labels
        limits = CodeLimits(self.spec.resources.wall_time_seconds, self.spec.resources.memory_mb)
        with tempfile.TemporaryDirectory(prefix="codefest-run-") as work:
            self.progress(f"{team}: running the pilot (limits {limits.wall_time_seconds} s, {limits.memory_mb} MB)")
            run = run_pilot(pilot, inputs, limits, hidden=[self.root], workdir=Path(work))
            logs = {"stdout.txt": run.stdout, "stderr.txt": run.stderr}
            extra = {"code_seconds": f"{run.seconds:.1f}", "isolated": str(run.isolated).lower(), **_role(baseline)}
            if run.status != "ok" or run.predictions is None:
                run_id = self._record_failure(team, sha, "code", run.status, run.message, logs, extra)
                return Outcome(team, str(pilot), run.status, run.message, run_id, quota=self.quota(team))
            return self._score(team, run.predictions, sha, "code", logs, extra)

    # -- steps ----------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _turn(self, team: str) -> Iterator[None]:
        """The team's turn: checks and records of its submissions never interleave, across processes."""
        with self.tracker.team_turn(team, lambda: self.progress(f"{team}: waiting for its other evaluation")):
            closed = self.tracker.close_interrupted(team)
            if closed:
                self.progress(f"{team}: marked {len(closed)} interrupted run(s)")
            yield

    def quota(self, team: str) -> Quota:
        scored = [r for r in self.tracker.runs(f"tags.team = '{team}'") if r.tags.get("status") in COUNTED]
        today = day_start_ms(utc_today())
        return Quota(sum(r.start_time >= today for r in scored), len(scored), self.spec.submission_limits)

    def _duplicate_or_over_quota(self, team: str, sha: str, source: str, kind: str) -> Outcome | None:
        same = [
            r
            for r in self.tracker.runs(f"tags.team = '{team}' and tags.submission_sha256 = '{sha}'")
            if r.tags.get("status") in EVALUATED
        ]
        if same:
            done = same[0]
            message = f"already evaluated as run {done.run_id} (status {done.tags['status']}); not scored twice"
            return Outcome(team, source, "duplicate", message, done.run_id, quota=self.quota(team))
        quota = self.quota(team)
        if quota.remaining == 0:
            refusal = quota.refusal()
            run_id = self._record_failure(team, sha, kind, "over-quota", refusal.problem, {}, {})
            return Outcome(team, source, "over-quota", refusal.render(), run_id, quota=quota)
        return None

    def _tags(self, team: str, sha: str, kind: str) -> dict[str, str]:
        phase = self.spec.phase_on(utc_today())
        return {
            "team": team,
            "challenge": self.spec.slug,
            "challenge_version": self.spec.version,
            "phase": phase.name if phase else "outside-phases",
            "kind": kind,
            "submission_sha256": sha,
            "harness_version": __version__,
            "dataset_sha256": self.manifest["dataset"]["sha256"],
            "status": "running",
        }

    def _gold(self) -> Path:
        return gold_file(self.vault, self.spec.task, "test")

    def _score(
        self, team: str, path: Path, sha: str, kind: str, logs: dict[str, str], extra: dict[str, str] | None = None
    ) -> Outcome:
        spec, options = self.spec, options_for(self.spec)
        self.progress(f"{team}: validating and scoring {path.name}")
        try:
            ids, metrics = validated_items(spec.task, self._gold(), path, options, only=[m.name for m in spec.metrics])
        except InvalidSubmission as invalid:
            problems = "\n".join(p.render() for p in invalid.problems)
            run_id = self._record_failure(team, sha, kind, "invalid", invalid.problem, logs, extra or {}, problems)
            return Outcome(team, str(path), "invalid", invalid.render(), run_id, quota=self.quota(team))
        sign = evaluation_signature(spec, self.manifest["dataset"]["sha256"])
        tags = {**self._tags(team, sha, kind), "signature": sign, **(extra or {})}
        public_run = self.tracker.start(tags)
        _step("scoring")
        self.progress(f"{team}: bootstrap intervals for the public and private parts")
        parts = {"public": self.public_ids, "private": self.private_ids}
        groups = item_groups(spec, self._gold(), ids)
        scored = {part: self._part(ids, metrics, members, groups) for part, members in parts.items()}
        private_run = self.tracker.start({**tags, "part": "private", "public_run_id": public_run}, private=True)
        self._log_part(private_run, scored["private"], logs)
        self.tracker.finish(private_run, SCORED)
        self._log_part(public_run, scored["public"], logs)
        _step("logging")
        self.tracker.finish(public_run, SCORED, {"part": "public", "private_run_id": private_run})
        quota = self.quota(team)
        values = scored["public"].values
        return Outcome(team, str(path), SCORED, f"scored; {quota.describe()}", public_run, values, quota)

    def _part(self, ids: list[str], metrics: list[ItemStats], members: set[str], groups: Groups | None) -> Part:
        rows = np.array([i for i, item in enumerate(ids) if item in members], dtype=np.int64)
        part = [subset(m, rows) for m in metrics]
        part_ids = [ids[i] for i in rows]
        primary = next(m for m in part if m.name == self.spec.primary_metric)
        values = summarise(part, len(rows), DEFAULT_RESAMPLES, DEFAULT_SEED)
        return Part(values, part_ids, part, breakdown(groups, part_ids, primary))

    def _log_part(self, run_id: str, scored: Part, logs: dict[str, str]) -> None:
        values, ids, metrics = scored.values, scored.ids, scored.metrics
        self.tracker.log_scores(run_id, values)
        result = {
            "task": self.spec.task,
            "n_items": len(ids),
            "metrics": {name: vars(v) for name, v in values.items()},
        }
        if scored.breakdown is not None:
            result["breakdown"] = scored.breakdown
        self.tracker.log_json(run_id, "result.json", result)
        per_item = [m for m in metrics if m.per_item is not None]
        lines = (
            json.dumps({"id": item, **{m.name: float(m.per_item[i]) for m in per_item}})  # type: ignore[index]
            for i, item in enumerate(ids)
        )
        self.tracker.log_text(run_id, "per_item.jsonl", "\n".join(lines) + "\n")
        for name, text in logs.items():
            self.tracker.log_text(run_id, f"logs/{name}", text)

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
        run_id = self.tracker.start({**self._tags(team, sha, kind), **extra, "message": message[:4000]})
        if problems:
            self.tracker.log_text(run_id, "problems.txt", problems + "\n")
        for name, text in logs.items():
            self.tracker.log_text(run_id, f"logs/{name}", text)
        self.tracker.finish(run_id, status)
        return run_id


def inbox_items(inbox: Path) -> list[tuple[str, Path]]:
    """(team, submission) for every file or pilot folder under inbox/<team>/, oldest first."""
    if not inbox.is_dir():
        raise CodefestError(f"inbox {inbox} is not a folder", "give a folder holding one folder per team")
    items = [
        (team.name, entry)
        for team in sorted(inbox.iterdir())
        if team.is_dir() and not team.name.startswith(".")
        for entry in team.iterdir()
        if not entry.name.startswith(".")
    ]
    return sorted(items, key=lambda item: (item[1].stat().st_mtime, item[0], item[1].name))


def evaluate_inbox(evaluator: Evaluator, inbox: Path) -> list[Outcome]:
    """Each new file (or pilot folder) once, in order of arrival; seen ones are reported as duplicates."""
    outcomes = []
    for team, entry in inbox_items(inbox):
        try:
            outcome = evaluator.code(team, entry) if entry.is_dir() else evaluator.predictions(team, entry)
        except StoreError:
            raise  # the workspace itself fails: every later entry would too
        except CodefestError as problem:
            outcome = Outcome(team, str(entry), "refused", problem.render())
        outcomes.append(outcome)
    return outcomes
