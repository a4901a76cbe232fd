"""A leaderboard built from the challenge's MLflow runs: one entry per team, ranked, with uncertainty."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codefest.challenges.discovery import LoadedChallenge
from codefest.challenges.spec import Challenge
from codefest.evaluation.challenge import evaluation_signature
from codefest.evaluation.records import Artifact, Part
from codefest.evaluation.scoring import DEFAULT_RESAMPLES, DEFAULT_SEED
from codefest.evaluation.tracking import Tracker
from codefest.leaderboard import artifacts, significance
from codefest.leaderboard.ranking import by_team, chosen, order_key, ranks
from codefest.leaderboard.submissions import Submission, scored_submissions
from codefest.shared_datasets.heldout import read_vault_manifest

from codefest.core.workspace import vault_dir

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Score:
    value: float
    ci_low: float
    ci_high: float


@dataclass
class Entry:
    team: str
    baseline: bool
    run_id: str  # the public run; in the private view, the private run is `scored_run_id`
    scored_run_id: str
    choice: str  # best, selected, or best (none selected)
    score: Score
    tie_breakers: dict[str, float]
    submitted_ms: int  # when the chosen submission arrived: the last tie-breaker, earliest first
    submissions: int
    last_submission_ms: int
    rank: int | None = None
    rank_range: tuple[int, int] | None = None
    group: int | None = None
    public_rank: int | None = None  # private view only
    rank_change: int | None = None  # private view only: public rank minus private rank (positive: moved up)
    breakdown: dict[str, Any] | None = None

    def value(self, metric: str) -> float:
        return self.tie_breakers.get(metric, self.score.value)


@dataclass
class Board:
    slug: str
    title: str
    task: str
    view: str  # public or private
    primary_metric: str
    higher_is_better: bool
    tie_breakers: list[str]
    final_submission: str
    signature: str
    generated_ms: int
    runs_ranked: int
    entries: list[Entry]
    history: dict[str, list[tuple[int, float]]]  # team -> (submission time, score), oldest first
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def dataset_sha256(spec: Challenge, root: Path) -> str:
    """The built dataset's name in signatures, from the vault: the bundle says nothing of the test labels."""
    return read_vault_manifest(vault_dir(spec.slug, root)).dataset_sha256


def _public_labels_notes(spec: Challenge, root: Path) -> list[str]:
    """A board of a challenge whose test labels anyone can regenerate says so first."""
    warning = read_vault_manifest(vault_dir(spec.slug, root)).warning
    return [warning] if warning else []


def current_signature(spec: Challenge, root: Path) -> str:
    """The signature a run must carry to be ranked: the challenge's evaluation as declared and built now."""
    return evaluation_signature(spec, dataset_sha256(spec, root))


class View:
    """How one view reads scores: the public runs themselves, or the private runs they point to."""

    def __init__(self, tracker: Tracker, signature: str, primary: str, private: bool) -> None:
        self.private = private
        self.runs: dict[str, Submission] = {}
        if private:
            found = scored_submissions(tracker, signature, primary, private=True)
            self.runs = {s.run_id: s for s in found}

    def per_item(self, submission: Submission) -> tuple[str | None, str]:
        """Where this view's per-item scores of a submission are: always in its private run, out of teams' sight."""
        return submission.private_run_id, Artifact.PER_ITEM if self.private else Artifact.PUBLIC_PER_ITEM

    def scored(self, submission: Submission) -> Submission | None:
        """The run whose scores this view shows for a (public) submission."""
        if not self.private:
            return submission
        return self.runs.get(submission.private_run_id or "")


def build(
    challenge: LoadedChallenge,
    root: Path,
    *,
    private: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    progress: Progress = lambda _: None,
) -> Board:
    spec = challenge.spec
    signature = current_signature(spec, root)
    tracker = Tracker(spec.slug, root)
    progress("reading the scored runs")
    public = scored_submissions(tracker, signature, spec.primary_metric)
    view = View(tracker, signature, spec.primary_metric, private)
    teams = by_team(public)
    entries, notes = _entries(spec, teams, view)
    notes = _public_labels_notes(spec, root) + notes
    entries.sort(key=lambda e: order_key(spec, e.value, e.submitted_ms))
    for entry, rank in zip(entries, ranks([e.baseline for e in entries]), strict=True):
        entry.rank = rank
    if private:
        _rank_changes(spec, teams, entries)
    progress(f"paired bootstrap over {len(entries)} entries")
    sources = [view.per_item(chosen(spec, teams[e.team])[0]) for e in entries]
    notes += _uncertainty(tracker, spec, entries, sources, resamples, seed)
    progress("per-group scores")
    for entry in entries:
        entry.breakdown = artifacts.breakdown(tracker, entry.scored_run_id)
    history = _history(spec, public, view)
    return Board(
        slug=spec.slug,
        title=spec.title,
        task=spec.task,
        view=Part.PRIVATE if private else Part.PUBLIC,
        primary_metric=spec.primary_metric,
        higher_is_better=spec.higher_is_better[spec.primary_metric],
        tie_breakers=list(spec.tie_breakers),
        final_submission=spec.final_submission,
        signature=signature,
        generated_ms=int(time.time() * 1000),
        runs_ranked=len(public),
        entries=entries,
        history=history,
        notes=notes,
    )


def _entries(spec: Challenge, teams: dict[str, list[Submission]], view: View) -> tuple[list[Entry], list[str]]:
    entries, notes = [], []
    for team, submissions in sorted(teams.items()):
        choice, how = chosen(spec, submissions)
        scored = view.scored(choice)
        if scored is None:
            notes.append(f"{team}: the private run of {choice.run_id} is missing; not on the private leaderboard")
            continue
        low, high = scored.interval(spec.primary_metric)
        entries.append(
            Entry(
                team=team,
                baseline=choice.baseline,
                run_id=choice.run_id,
                scored_run_id=scored.run_id,
                choice=how,
                score=Score(scored.value(spec.primary_metric), low, high),
                tie_breakers={name: scored.value(name) for name in spec.tie_breakers},
                submitted_ms=choice.time_ms,
                submissions=len(submissions),
                last_submission_ms=max(s.time_ms for s in submissions),
            )
        )
    return entries, notes


def _rank_changes(spec: Challenge, teams: dict[str, list[Submission]], entries: list[Entry]) -> None:
    """Each entry's public rank, from the public scores of the same chosen submissions."""
    public = {e.team: chosen(spec, teams[e.team])[0] for e in entries}
    ordered = sorted(entries, key=lambda e: order_key(spec, public[e.team].value, e.submitted_ms))
    for entry, rank in zip(ordered, ranks([e.baseline for e in ordered]), strict=True):
        entry.public_rank = rank
        if rank is not None and entry.rank is not None:
            entry.rank_change = rank - entry.rank


def _uncertainty(
    tracker: Tracker,
    spec: Challenge,
    entries: list[Entry],
    sources: list[tuple[str | None, str]],
    resamples: int,
    seed: int,
) -> list[str]:
    """Rank ranges and tied groups from the entries' per-item scores; a note where they cannot be had."""
    if not entries:
        return []
    per_entry = [
        artifacts.per_item_scores(tracker, run_id, name, spec.primary_metric) if run_id else None
        for run_id, name in sources
    ]
    matrix = artifacts.score_matrix(per_entry)
    if matrix is None:
        return [f"no per-item scores of {spec.primary_metric} for every entry: no rank ranges or tied groups"]
    means = significance.resampled_means(matrix, resamples, seed)
    better = significance.oriented(means, spec.higher_is_better[spec.primary_metric])
    ranges = significance.rank_ranges(better, [e.rank for e in entries])
    for entry, rank_range, group in zip(entries, ranges, significance.tied_groups(better), strict=True):
        entry.rank_range, entry.group = rank_range, group
    return []


def _history(spec: Challenge, public: list[Submission], view: View) -> dict[str, list[tuple[int, float]]]:
    """Every scored submission's score in this view, per team, oldest first: the score over time."""
    history: dict[str, list[tuple[int, float]]] = {}
    for submission in sorted(public, key=lambda s: s.time_ms):
        scored = view.scored(submission)
        if scored is not None:
            history.setdefault(submission.team, []).append((submission.time_ms, scored.value(spec.primary_metric)))
    return history
