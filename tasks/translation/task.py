"""The translation task: translate patent sentences, scored with sacrebleu."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from codefest.tasks.base import Definition, DemoVariant, Metric, Task, TaskOptions


class LanguagePair(Definition):
    source: str = Field(pattern=r"^[a-z]{2,3}$", description="ISO 639 code")
    target: str = Field(pattern=r"^[a-z]{2,3}$", description="ISO 639 code; picks the BLEU tokenizer")


class TranslationOptions(TaskOptions):
    languages: LanguagePair | None = None

    @model_validator(mode="after")
    def _required(self) -> TranslationOptions:
        if self.languages is None:
            raise ValueError("a translation challenge needs 'languages'")
        return self

    def scoring(self) -> dict[str, Any]:
        assert self.languages is not None  # required above
        return {"target_language": self.languages.target}


TASK = Task(
    name="translation",
    description="translate patent sentences",
    columns={"id": "string", "source": "string", "reference": "string"},
    inputs=("id", "source"),
    labels=("reference",),
    metrics=(
        Metric(name="bleu", higher_is_better=True, description="sacrebleu BLEU, tokenizer by target language"),
        Metric(name="chrf", higher_is_better=True, description="sacrebleu chrF"),
        Metric(name="ter", higher_is_better=False, description="sacrebleu TER (edits per reference word)"),
    ),
    options=TranslationOptions,
    scorer="codefest.tasks.translation.scorer:SCORER",
    breakdown="codefest.tasks.translation.breakdown:item_groups",
    demo_variants={
        "office-a": DemoVariant(label="trained on train+dev", with_dev=True),
        # fewer candidates: another model at half the baseline's prediction cost (16 cost as much as the default 8)
        "office-b": DemoVariant(label="2 memory candidates", params={"candidates": 2}),
    },
)
