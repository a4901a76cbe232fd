"""A leaderboard built from the ledger's scored submissions: one entry per team, ranked, with uncertainty.

The submissions and their scores on the parts a view needs come in two queries; choosing each team's entry,
ordering, rank ranges and tied groups are numpy on columns; per-item scores and breakdowns are read for the
chosen entries alone.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codefest.challenges.discovery import LoadedChallenge
from codefest.challenges.efficiency import DEFAULT_TOLERANCE, MEASURES
from codefest.challenges.spec import Challenge
from codefest.evaluation.challenge import evaluation_signature
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.records import Part
from codefest.evaluation.scoring import DEFAULT_RESAMPLES, DEFAULT_SEED
from codefest.leaderboard import scored, significance
from codefest.leaderboard.efficiency import Efficiency, efficiency, gpus, text
from codefest.leaderboard.formatting import number, scale_of
from codefest.leaderboard.ranking import chosen, deciders, order, ranks
from codefest.leaderboard.scored import Scores, Submissions
from codefest.shared_datasets.heldout import built_record

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
    submission_id: str  # in the ledger
    run_id: str  # the public MLflow run; in the private view, the private run is `scored_run_id`
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
    efficiency: Efficiency = field(default_factory=Efficiency)  # what its code run used; empty for a file
    # the tie-breaker that ranked it below the entry above, whose score is equal; None where the score decided
    decided_by: str | None = None

    def value(self, metric: str) -> float:
        """A metric's value, or a measure's (NaN for an entry without one: it ranks after those with one)."""
        if metric in MEASURES:
            measured = self.efficiency.of(metric)
            return math.nan if measured is None else measured
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
    prices: dict[str, Any] | None = None  # the organisers' compute prices, where set: entries then have a cost
    gpus: int = 0  # GPUs each code run holds, priced for its wall time
    efficiency_tolerance: float = DEFAULT_TOLERANCE  # measures within this share of the best are equal

    @property
    def metric_tie_breakers(self) -> list[str]:
        """The tie-breakers that are scores (each entry's `tie_breakers`); a measure's column is the run's."""
        return [name for name in self.tie_breakers if name not in MEASURES]

    @property
    def measured(self) -> bool:
        """Some entry is a code run: the views show what runs used."""
        return any(e.efficiency.measured for e in self.entries)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def dataset_sha256(spec: Challenge, root: Path) -> str:
    """The built dataset's name in signatures, from the challenge's record (`built_record`), so that a host without
    the vault (the API host) signs as the workers do; the bundle says nothing of the test labels."""
    return built_record(spec.slug, root).dataset_sha256


def _public_labels_notes(spec: Challenge, root: Path) -> list[str]:
    """A board of a challenge whose test labels anyone can regenerate says so first."""
    warning = built_record(spec.slug, root).warning
    return [warning] if warning else []


def current_signature(spec: Challenge, root: Path) -> str:
    """The signature a submission must carry to be ranked: the challenge's evaluation as declared and built now."""
    return evaluation_signature(spec, dataset_sha256(spec, root))


@dataclass(frozen=True)
class _Read:
    """The board's columns: the submissions ranked (public primary score known), their public scores, and this
    view's scores (the same object in the public view)."""

    found: Submissions
    public: Scores
    shown: Scores


def build(
    challenge: LoadedChallenge,
    root: Path,
    *,
    private: bool = False,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    progress: Progress = lambda _: None,
    ledger: Ledger | None = None,
) -> Board:
    """The public or private board of the challenge from the ledger (`ledger`, else the workspace's own)."""
    spec = challenge.spec
    signature = current_signature(spec, root)
    opened = ledger or Ledger.open(None, root)
    try:
        progress("reading the scored submissions")
        read = _read(opened, spec, signature, private)
        teams, rows, how = chosen(spec, read.found, read.public)
        entries, notes = _entries(spec, read, teams, rows, how, private)
        _measured(spec, opened, read, entries)
        ordered, found_ranks, decided = _ranked(spec, entries, _scores_of(read.shown, entries))
        entries = [entries[i] for i in ordered]
        for entry, rank, by in zip(entries, found_ranks, decided, strict=True):
            entry.rank, entry.decided_by = rank, by
        notes += _decided_notes(spec, entries)
        if private:
            _rank_changes(spec, read, entries)
        part = Part.PRIVATE if private else Part.PUBLIC
        progress(f"paired bootstrap over {len(entries)} entries")
        ids = [e.submission_id for e in entries]
        notes += _uncertainty(spec, entries, scored.per_item(opened, ids, part, spec.primary_metric), resamples, seed)
        found_breakdowns = scored.breakdowns(opened, ids, part)
    finally:
        if ledger is None:
            opened.close()
    for entry in entries:
        entry.breakdown = found_breakdowns.get(entry.submission_id)
    return Board(
        slug=spec.slug,
        title=spec.title,
        task=spec.task,
        view=part,
        primary_metric=spec.primary_metric,
        higher_is_better=spec.higher_is_better[spec.primary_metric],
        tie_breakers=list(spec.tie_breakers),
        prices=None if spec.resources.prices is None else spec.resources.prices.model_dump(),
        gpus=gpus(spec),
        efficiency_tolerance=spec.efficiency_tolerance,
        final_submission=spec.final_submission,
        signature=signature,
        generated_ms=int(time.time() * 1000),
        runs_ranked=len(read.found),
        entries=entries,
        history=_history(spec, read),
        notes=_public_labels_notes(spec, root) + notes,
    )


def _read(ledger: Ledger, spec: Challenge, signature: str, private: bool) -> _Read:
    """The submissions with a public score of the primary metric (the rest are never ranked) and their scores."""
    metrics = (spec.primary_metric, *(name for name in spec.tie_breakers if name not in MEASURES))
    found = scored.submissions(ledger, spec.slug, signature)
    parts = (Part.PUBLIC, Part.PRIVATE) if private else (Part.PUBLIC,)
    read = {
        part: _with_measures(spec, found, got)
        for part, got in scored.scores(ledger, spec.slug, signature, parts, metrics, found.ids).items()
    }
    ranked = ~np.isnan(read[Part.PUBLIC].of(spec.primary_metric))
    public = read[Part.PUBLIC].only(ranked)
    return _Read(found.only(ranked), public, read[Part.PRIVATE].only(ranked) if private else public)


def _with_measures(spec: Challenge, found: Submissions, scores: Scores) -> Scores:
    """`scores` with a column for each measure the challenge ranks by: one value, the run's, on either part."""
    names = tuple(name for name in spec.tie_breakers if name in MEASURES)
    if not names:
        return scores
    extra = np.column_stack([found.measure(name) for name in names])
    exact = np.hstack([scores.values, extra])
    return Scores(scores.metrics + names, exact, np.hstack([scores.low, extra]), np.hstack([scores.high, extra]))


def _measured(spec: Challenge, ledger: Ledger, read: _Read, entries: list[Entry]) -> None:
    """Each entry's measures and cost, from the ledger: what its chosen submission's run used."""
    row = {id: i for i, id in enumerate(read.found.ids)}
    items = scored.items_scored(ledger, [e.submission_id for e in entries], spec.primary_metric)
    for entry in entries:
        measures = read.found.measures[row[entry.submission_id]]
        found = dict(zip(MEASURES, measures.tolist(), strict=True))
        entry.efficiency = efficiency(spec, found, items.get(entry.submission_id, 0))


def _entries(
    spec: Challenge, read: _Read, teams: list[str], rows: np.ndarray, how: list[str], private: bool
) -> tuple[list[Entry], list[str]]:
    """One entry per team, in name order, with this view's scores of its chosen submission."""
    found, shown, primary = read.found, read.shown, spec.primary_metric
    codes = np.unique(np.array(found.teams, dtype=object), return_inverse=True)[1]  # teams are in name order too
    counts, last = np.bincount(codes, minlength=len(teams)), np.zeros(len(teams), dtype=np.int64)
    np.maximum.at(last, codes, found.received_ms)
    column = shown.metrics.index(primary)
    entries, notes = [], []
    for t, (team, row) in enumerate(zip(teams, rows, strict=True)):
        if np.isnan(shown.values[row, column]):
            notes.append(f"{team}: submission {found.ids[row]} has no private score; not on the private leaderboard")
            continue
        entries.append(
            Entry(
                team=team,
                baseline=bool(found.baseline[row]),
                submission_id=found.ids[row],
                run_id=found.public_run_ids[row] or "",
                scored_run_id=(found.private_run_ids[row] if private else found.public_run_ids[row]) or "",
                choice=how[t],
                score=Score(
                    float(shown.values[row, column]), float(shown.low[row, column]), float(shown.high[row, column])
                ),
                tie_breakers={name: float(shown.of(name)[row]) for name in spec.tie_breakers if name not in MEASURES},
                submitted_ms=int(found.received_ms[row]),
                submissions=int(counts[t]),
                last_submission_ms=int(last[t]),
            )
        )
    return entries, notes


def _scores_of(scores: Scores, entries: list[Entry]) -> Scores:
    """The entries' scores (as the entries hold them) as columns, for ordering."""
    values = np.array([[e.value(name) for name in scores.metrics] for e in entries], dtype=np.float64)
    values = values.reshape(len(entries), len(scores.metrics))
    return Scores(scores.metrics, values, values, values)


def _ranked(
    spec: Challenge, entries: list[Entry], scores: Scores
) -> tuple[np.ndarray, list[int | None], list[str | None]]:
    """(the entries' order by `scores` (row i: entries[i]), best first and the baseline last; their ranks in it;
    the tie-breaker that decided each rank below an equal score)."""
    baseline = np.array([e.baseline for e in entries], dtype=bool)
    ordered = order(spec, scores, np.array([e.submitted_ms for e in entries], dtype=np.int64), baseline)
    in_order = Scores(scores.metrics, scores.values[ordered], scores.low[ordered], scores.high[ordered])
    return ordered, ranks(spec, in_order, baseline[ordered]), deciders(spec, in_order, baseline[ordered])


def _decided_notes(spec: Challenge, entries: list[Entry]) -> list[str]:
    """A note for each rank a tie-breaker decided between equal scores: the board says what broke the tie."""
    ranked = [e for e in entries if not e.baseline]
    notes = []
    for upper, lower in itertools.pairwise(ranked):
        if lower.decided_by is not None:
            name = lower.decided_by
            shown = f"{_shown(name, lower)} vs {_shown(name, upper)}"
            if name in MEASURES and lower.efficiency.of(name) is None:
                shown = f"not measured: a predictions file, vs {_shown(name, upper)}"
            elif name in MEASURES:
                shown += f", more than {spec.efficiency_tolerance:.0%} apart"
            notes.append(f"{lower.team} ranks below {upper.team} on an equal score, by {name} ({shown})")
    return notes


def _shown(name: str, entry: Entry) -> str:
    if name in MEASURES:
        return text(MEASURES[name], entry.efficiency.of(name))
    value = entry.value(name)
    return number(value, scale_of([value]))


def _rank_changes(spec: Challenge, read: _Read, entries: list[Entry]) -> None:
    """Each entry's public rank, from the public scores of the same chosen submissions."""
    row = {id: i for i, id in enumerate(read.found.ids)}
    rows = np.array([row[e.submission_id] for e in entries], dtype=np.intp)
    public = Scores(read.public.metrics, read.public.values[rows], read.public.low[rows], read.public.high[rows])
    ordered, found, _ = _ranked(spec, entries, public)
    for i, rank in zip(ordered, found, strict=True):
        entry = entries[i]
        entry.public_rank = rank
        if rank is not None and entry.rank is not None:
            entry.rank_change = rank - entry.rank


def _uncertainty(
    spec: Challenge, entries: list[Entry], matrix: np.ndarray | None, resamples: int, seed: int
) -> list[str]:
    """Rank ranges and tied groups from the entries' per-item scores; a note where they cannot be had."""
    if not entries:
        return []
    if matrix is None:
        return [f"no per-item scores of {spec.primary_metric} for every entry: no rank ranges or tied groups"]
    means = significance.resampled_means(matrix, resamples, seed)
    better = significance.oriented(means, spec.higher_is_better[spec.primary_metric])
    ranked = [e.rank for e in entries]
    ranges, groups = significance.rank_ranges(better, ranked), significance.tied_groups(better, ranked)
    for entry, rank_range, group in zip(entries, ranges, groups, strict=True):
        entry.rank_range, entry.group = rank_range, group
    return []


def _history(spec: Challenge, read: _Read) -> dict[str, list[tuple[int, float]]]:
    """Every scored submission's score in this view, per team, oldest first: the score over time."""
    values = read.shown.of(spec.primary_metric)
    history: dict[str, list[tuple[int, float]]] = {}
    for team, ms, value in zip(read.found.teams, read.found.received_ms.tolist(), values.tolist(), strict=True):
        if value == value:  # not NaN: a submission without a score in this view is not drawn
            history.setdefault(team, []).append((ms, value))
    return history
