"""What each task's scorer provides to the harness, and the scorer of a task, found from its definition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from codefest.core.registry import Registry
from codefest.evaluation.metrics.base import ItemStats
from codefest.evaluation.problems import Problems
from codefest.evaluation.reading import Limits, PublicItems
from codefest.tasks import TASKS


@dataclass(frozen=True)
class ScoringOptions:
    """Task options that change scores; every one of them enters the signature, except `lenient`, which decides
    only which lines are read (those it skips change no score) and is reported by warnings instead."""

    top_k: int | None = 3  # classification: the predicted set for precision and F1 ...
    threshold: float | None = None  # ... or the symbols scored at or above this
    target_language: str = "en"  # translation: picks the tokenizer
    ranking_depth: int = 1000  # search: the most documents a topic's ranking may hold
    pres_depth: int = 100  # search: N_max of PRES
    relevance_level: int = 1  # search: the least grade counted relevant (trec_eval -l)
    lenient: bool = False  # standalone scoring: accept what the reference tool accepts, warning of what it skips
    task_options: Mapping[str, Any] = field(default_factory=dict)  # a task's own, that no field above holds


def scoring_options(declared: Mapping[str, Any]) -> ScoringOptions:
    """The harness's options from those a challenge's task declares (TaskOptions.scoring): the ones this class has
    as fields, and the task's own in `task_options`, for its scorer to read and sign."""
    known = {f.name for f in fields(ScoringOptions)} - {"task_options"}
    own = {key: value for key, value in declared.items() if key not in known}
    return ScoringOptions(**{key: value for key, value in declared.items() if key in known}, task_options=own)


class Scorer(Protocol):
    """A task's reading and scoring. What the readers return may carry `warnings` (a tuple of str): the lines a
    lenient reading skipped, which the harness reports."""

    task: str

    def read_gold(self, path: Path) -> Any:
        """The organiser's reference file; a problem in it raises CodefestError naming the line."""

    def read_inputs(self, path: Path) -> PublicItems:
        """The public test items, from the bundle's test inputs: what a held-out test set is validated against."""

    def gold_items(self, gold: Any) -> PublicItems:
        """The items of a gold file that is public (a dev split, standalone scoring), to validate against."""

    def read_predictions(
        self, path: Path, items: PublicItems, problems: Problems, limits: Limits, options: ScoringOptions
    ) -> Any:
        """Predictions validated against public `items` only; every problem goes to `problems` (the harness raises
        if there are any), and none depends on a label."""

    def item_ids(self, gold: Any) -> list[str]:
        """The scored items, in the order of the rows of every metric's statistics."""

    def metrics(self, gold: Any, predictions: Any, options: ScoringOptions) -> list[ItemStats]:
        """Every metric of the task, one statistics row per item of `item_ids(gold)`."""

    def signature(self, options: ScoringOptions) -> dict[str, str]:
        """The options and library versions that decide the scores, for the signature."""


SCORERS: Registry[Scorer] = Registry("task")  # the scorers loaded so far, by task


def scorer_for(task: str) -> Scorer:
    """The task's scorer (its definition's `scorer`), imported on first use so that scoring one task loads only its
    libraries."""
    definition = TASKS.get(task)  # an unknown task names the valid ones
    return SCORERS.get_or_add(task, lambda: definition.load("scorer"))
