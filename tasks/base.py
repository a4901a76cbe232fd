"""What a task is, declared in one place per task: `tasks/<name>/task.py` holds a `TASK` of these types.

A definition imports only the standard library, pydantic and codefest.core, so listing tasks, validating a challenge
or building a dataset loads no scoring library. The task's code (scorer, breakdown, label checks) is named by
"module:object" references, imported when first used.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from codefest.core.registry import resolve

REFERENCE = r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$"
ColumnType = Literal["string", "strings", "qrels"]  # text; a list of texts; (doc_id, relevance) judgments


class Definition(BaseModel):
    """Strict and frozen: a misspelt key in a definition is an error, never a silent default (mteb's rule)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Metric(Definition):
    name: str = Field(min_length=1)
    higher_is_better: bool
    description: str = Field(min_length=1)


class TaskOptions(Definition):
    """The options a challenge of the task declares (its own keys in challenge.yaml), validated by the task's model."""

    def scoring(self) -> dict[str, Any]:
        """The harness's ScoringOptions these options set (field name -> value; a name that is no field of it reaches
        the scorer in `ScoringOptions.task_options`); the others keep their defaults."""
        return {}


class DemoVariant(Definition):
    """A simulated team's model in `codefest demo`: the template's Model with other settings, or more data."""

    label: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    with_dev: bool = False  # fit on train and dev together


class Task(Definition):
    """A task: its data, metrics and options, and references to the code that reads and scores it."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = Field(min_length=1)
    columns: dict[str, ColumnType] = Field(description="every item's columns and their types, `id` first")
    inputs: tuple[str, ...] = Field(description="the columns a pilot gets for every item, test items included")
    labels: tuple[str, ...] = Field(min_length=1, description="the columns kept in the vault for the test items")
    gold_format: Literal["jsonl", "qrels"] = Field(
        default="jsonl", description="jsonl: labels beside the inputs; qrels: TREC qrels files, one per split"
    )
    corpus: bool = Field(default=False, description="a collection of documents (corpus.jsonl) comes with the items")
    metrics: tuple[Metric, ...] = Field(min_length=1)
    options: type[TaskOptions] = Field(description="the model of the task's keys in challenge.yaml")
    scorer: str = Field(pattern=REFERENCE, description="module:object of the Scorer (evaluation.scorers.Scorer)")
    breakdown: str | None = Field(
        default=None,
        pattern=REFERENCE,
        description="module:function(spec, gold_path, ids) -> (what the groups are, item -> group) or None",
    )
    label_checker: str | None = Field(
        default=None, pattern=REFERENCE, description="module:function(data, spec) -> data, run on every build"
    )
    demo_variants: dict[str, DemoVariant] = Field(default_factory=dict, description="team -> its model in the demo")

    @model_validator(mode="after")
    def _consistent(self) -> Task:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"task '{self.name}' lists a metric more than once")
        unknown = [c for c in (*self.inputs, *self.labels) if c not in self.columns]
        if unknown or next(iter(self.columns), None) != "id" or "id" not in self.inputs:
            raise ValueError(f"task '{self.name}': columns must start with 'id', and hold inputs and labels")
        return self

    @property
    def metric_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def metric(self, name: str) -> Metric | None:
        return next((m for m in self.metrics if m.name == name), None)

    def load(self, part: Literal["scorer", "breakdown", "label_checker"]) -> Any:
        """The object a reference names, imported now (None where the task has no such part)."""
        reference = getattr(self, part)
        return None if reference is None else resolve(reference, f"the {part} of task '{self.name}'")
