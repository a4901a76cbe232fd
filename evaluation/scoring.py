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
    scorer = scorer_for(task)
    gold = scorer.read_gold(gold_path)
    problems = Problems(predictions_path)
    predictions = scorer.read_predictions(predictions_path, gold, problems, limits, options)
    problems.check()
    metrics = scorer.metrics(gold, predictions, options)
    if only is not None:
        metrics = sorted((m for m in metrics if m.name in only), key=lambda m: only.index(m.name))
    ids = scorer.item_ids(gold)
    intervals = confidence_intervals(metrics, len(ids), resamples, seed)
    sign = signature(
        task,
        {**(provenance or {}), "bootstrap": f"{resamples}:{seed}"},
        scorer.signature(options),
    )
    values = {m.name: MetricValue(m.value, *intervals[m.name]) for m in metrics}
    return ScoreResult(task, len(ids), values, sign, ids, metrics)
