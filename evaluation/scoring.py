"""The harness: validate a predictions file against gold, compute the task's metrics and their intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.bootstrap import confidence_intervals
from evaluation.metrics.base import ItemStats
from evaluation.problems import Problems
from evaluation.reading import Limits
from evaluation.scorers import ScoringOptions, scorer_for
from evaluation.signature import signature

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 12345


@dataclass(frozen=True)
class MetricValue:
    value: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class ScoreResult:
    task: str
    n_items: int
    metrics: dict[str, MetricValue]
    signature: str
    item_ids: list[str] = field(repr=False)
    item_stats: list[ItemStats] = field(repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "n_items": self.n_items,
            "metrics": {name: vars(value) for name, value in self.metrics.items()},
            "signature": self.signature,
        }


def validated_items(
    task: str,
    gold_path: Path,
    predictions_path: Path,
    options: ScoringOptions,
    *,
    only: list[str] | None = None,
    limits: Limits = Limits(),
) -> tuple[list[str], list[ItemStats]]:
    """(item ids, per-item statistics of every metric); raises InvalidSubmission for a bad file."""
    scorer = scorer_for(task)
    gold = scorer.read_gold(gold_path)
    problems = Problems(predictions_path)
    predictions = scorer.read_predictions(predictions_path, gold, problems, limits, options)
    problems.check()
    metrics = scorer.metrics(gold, predictions, options)
    if only is not None:
        metrics = sorted((m for m in metrics if m.name in only), key=lambda m: only.index(m.name))
    return scorer.item_ids(gold), metrics


def summarise(metrics: list[ItemStats], n: int, resamples: int, seed: int) -> dict[str, MetricValue]:
    """Each metric's value with its 95% bootstrap interval."""
    intervals = confidence_intervals(metrics, n, resamples, seed)
    return {m.name: MetricValue(m.value, *intervals[m.name]) for m in metrics}


def make_signature(task: str, options: ScoringOptions, resamples: int, seed: int, provenance: dict[str, str]) -> str:
    return signature(task, {**provenance, "bootstrap": f"{resamples}:{seed}"}, scorer_for(task).signature(options))


def score_files(
    task: str,
    gold_path: Path,
    predictions_path: Path,
    options: ScoringOptions = ScoringOptions(),
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    provenance: dict[str, str] | None = None,
    only: list[str] | None = None,
    limits: Limits = Limits(),
) -> ScoreResult:
    """Scores with 95% intervals; raises InvalidSubmission (exit code 2 on the command line) for a bad file."""
    ids, metrics = validated_items(task, gold_path, predictions_path, options, only=only, limits=limits)
    sign = make_signature(task, options, resamples, seed, provenance or {})
    return ScoreResult(task, len(ids), summarise(metrics, len(ids), resamples, seed), sign, ids, metrics)
