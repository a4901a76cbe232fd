"""The harness: validate a predictions file against gold, compute the task's metrics and their intervals."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefest.core.collector import cycles_uncollected
from codefest.core.errors import CodefestError
from codefest.evaluation.bootstrap import confidence_intervals
from codefest.evaluation.metrics.base import ItemStats
from codefest.evaluation.problems import Problems, shown
from codefest.evaluation.reading import Limits, PublicItems
from codefest.evaluation.scorers import ScoringOptions, scorer_for
from codefest.evaluation.signature import signature

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
    warnings: list[str] = field(default_factory=list)  # lines a lenient reading skipped, one per kind and file

    def to_json(self) -> dict[str, Any]:
        result = {
            "task": self.task,
            "n_items": self.n_items,
            "metrics": {name: self._metric_json(name, value) for name, value in self.metrics.items()},
            "signature": self.signature,
        }
        return {**result, "warnings": self.warnings} if self.warnings else result

    def not_computable(self) -> dict[str, str]:
        """Metric name -> why the gold labels cannot support it (its value and interval are NaN)."""
        return {m.name: m.reason for m in self.item_stats if m.reason is not None}

    def _metric_json(self, name: str, value: MetricValue) -> dict[str, Any]:
        reason = self.not_computable().get(name)
        return vars(value) if reason is None else {"value": None, "ci_low": None, "ci_high": None, "reason": reason}


def validated_items(
    task: str,
    gold_path: Path,
    predictions_path: Path,
    options: ScoringOptions,
    *,
    inputs: Path | None = None,
    only: list[str] | None = None,
    limits: Limits = Limits(),
) -> tuple[list[str], list[ItemStats]]:
    """(item ids, per-item statistics of every metric); raises InvalidSubmission for a bad file.

    See checked_items, which also returns the readers' warnings.
    """
    ids, metrics, _warnings = checked_items(
        task, gold_path, predictions_path, options, inputs=inputs, only=only, limits=limits
    )
    return ids, metrics


def checked_items(
    task: str,
    gold_path: Path,
    predictions_path: Path,
    options: ScoringOptions,
    *,
    inputs: Path | None = None,
    only: list[str] | None = None,
    limits: Limits = Limits(),
) -> tuple[list[str], list[ItemStats], list[str]]:
    """(item ids, per-item statistics of every metric, warnings); raises InvalidSubmission for a bad file.

    With `inputs`, the public test inputs of a held-out gold file (the bundle's test.jsonl), the predictions are
    validated against those alone and the gold file is read only once they are valid, so that no message depends on
    a held-out label. Without, the gold file must be public (a dev split, or one's own) and is validated against.
    """
    scorer = scorer_for(task)
    with cycles_uncollected():
        gold = None if inputs else scorer.read_gold(gold_path)
        items = scorer.read_inputs(inputs) if inputs else scorer.gold_items(gold)
        problems = Problems(predictions_path)
        predictions = scorer.read_predictions(predictions_path, items, problems, limits, options)
        problems.check()
        if gold is None:
            gold = scorer.read_gold(gold_path)
            _all_public(scorer.item_ids(gold), items, gold_path)
        metrics = scorer.metrics(gold, predictions, options)
    if only is not None:
        metrics = sorted((m for m in metrics if m.name in only), key=lambda m: only.index(m.name))
    return scorer.item_ids(gold), metrics, reading_warnings(gold, predictions)


def reading_warnings(*read: Any) -> list[str]:
    """The warnings that what the readers returned may carry (see Scorer): lines a lenient reading skipped."""
    return [warning for value in read for warning in getattr(value, "warnings", ())]


def _all_public(gold_ids: list[str], items: PublicItems, gold_path: Path) -> None:
    """Every held-out item must be one of the public test items, which the predictions were checked against."""
    unknown = [item for item in gold_ids if item not in items]
    if unknown:
        raise CodefestError(
            f"{gold_path} holds {len(unknown)} id(s) that the public test inputs lack, e.g. {shown(unknown[0])}",
            "the organisers must rebuild the challenge: its test inputs and labels do not match",
        )


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
    inputs: Path | None = None,
) -> ScoreResult:
    """Scores with 95% intervals; raises InvalidSubmission (exit code 2 on the command line) for a bad file.

    `inputs`: the public test inputs, when the gold file is held out (see validated_items).
    """
    ids, metrics, warnings = checked_items(
        task, gold_path, predictions_path, options, inputs=inputs, only=only, limits=limits
    )
    sign = make_signature(task, options, resamples, seed, provenance or {})
    return ScoreResult(task, len(ids), summarise(metrics, len(ids), resamples, seed), sign, ids, metrics, warnings)
