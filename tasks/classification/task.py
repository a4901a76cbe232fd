"""The classification task: assign IPC/CPC symbols, main symbol first, to a patent text."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt, model_validator

from codefest.tasks.base import Definition, DemoVariant, Metric, Task, TaskOptions

LEVELS = ("section", "class", "subclass", "group")
WIPO = {
    "top_prediction": "the top prediction is the main symbol",
    "three_guesses": "the main symbol is among the top three predictions",
    "all_categories": "the top prediction is any of the gold symbols",
}


class PredictedSet(Definition):
    """Which of a ranked list of symbols count as predicted, for precision and F1: exactly one rule."""

    top_k: PositiveInt | None = None
    threshold: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_rule(self) -> PredictedSet:
        if (self.top_k is None) == (self.threshold is None):
            raise ValueError("give exactly one of top_k or threshold")
        return self


class ClassificationOptions(TaskOptions):
    predicted_set: PredictedSet | None = None

    @model_validator(mode="after")
    def _required(self) -> ClassificationOptions:
        if self.predicted_set is None:
            raise ValueError("a classification challenge needs 'predicted_set'")
        return self

    def scoring(self) -> dict[str, Any]:
        assert self.predicted_set is not None  # required above
        return {"top_k": self.predicted_set.top_k, "threshold": self.predicted_set.threshold}


METRICS = (
    *(
        Metric(
            name=f"{measure}@{level}",
            higher_is_better=True,
            description=f"{text}, truncated to the {level} (Fall et al. 2003)",
        )
        for measure, text in WIPO.items()
        for level in LEVELS
    ),
    Metric(name="precision@1", higher_is_better=True, description="precision of the top symbol"),
    Metric(name="precision@3", higher_is_better=True, description="precision of the top three symbols"),
    Metric(name="f1_micro", higher_is_better=True, description="micro-averaged F1 over the predicted set"),
    Metric(name="f1_macro", higher_is_better=True, description="macro-averaged F1 over the predicted set"),
)

TASK = Task(
    name="classification",
    description="assign IPC/CPC symbols (main symbol first) to a patent text",
    columns={"id": "string", "title": "string", "abstract": "string", "labels": "strings"},
    inputs=("id", "title", "abstract"),
    labels=("labels",),
    metrics=METRICS,
    options=ClassificationOptions,
    scorer="codefest.tasks.classification.scorer:SCORER",
    breakdown="codefest.tasks.classification.breakdown:item_groups",
    label_checker="codefest.tasks.classification.labels:checked_labels",
    demo_variants={
        "office-a": DemoVariant(label="trained on train+dev", with_dev=True),
        "office-b": DemoVariant(label="labels_weight 0.5", params={"labels_weight": 0.5}),
    },
)
