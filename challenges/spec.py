"""The challenge model: a challenge is data, validated strictly, so organisers add one without writing Python."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from codefest.core.registry import unknown_key_message
from codefest.tasks import METRICS, metrics_for

SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


class Strict(BaseModel):
    """Unknown keys are errors: a typo in a challenge must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSpec(Strict):
    builder: str = Field(description="a registered dataset builder: a bundled generator or a loader")
    version: str = Field(min_length=1, description="the dataset's version, part of every score's signature")
    options: dict[str, Any] = Field(default_factory=dict, description="options for the builder")
    sha256: str | None = Field(
        default=None,
        pattern=SHA256_PATTERN,
        description="hash of the whole dataset, test labels included, that the build must reproduce; "
        "only with a pinned (public) options.seed",
    )

    @model_validator(mode="after")
    def _hash_only_with_public_seed(self) -> DatasetSpec:
        """A hash over the test labels verifies guesses of them: it may only be public when they already are."""
        if self.sha256 is not None and "seed" not in self.options:
            raise ValueError(
                "key 'dataset.sha256' hashes the test labels too, and only a pinned seed reproduces it; "
                "remove dataset.sha256 (a build keeps its secret seed in the vault and reproduces itself from it), "
                "or, for a demo whose test labels may be public, pin dataset.options.seed"
            )
        return self

    @field_validator("builder")
    @classmethod
    def _known_builder(cls, name: str) -> str:
        from codefest.shared_datasets.builders import all_builders

        BUILDERS = all_builders()
        if name not in BUILDERS:
            raise ValueError(unknown_key_message("dataset builder", name, BUILDERS.names()))
        return name


class MetricSpec(Strict):
    name: str
    higher_is_better: bool

    @model_validator(mode="after")
    def _known_direction(self) -> MetricSpec:
        if self.name not in METRICS:
            raise ValueError(unknown_key_message("metric", self.name, METRICS.names()))
        expected = METRICS.get(self.name).higher_is_better
        if self.higher_is_better != expected:
            raise ValueError(
                f"metric '{self.name}' is better when {'higher' if expected else 'lower'}; "
                f"set higher_is_better: {str(expected).lower()}"
            )
        return self


class TestSplitSpec(Strict):
    __test__ = False  # not a pytest class
    public_fraction: float = Field(gt=0, lt=1, description="share of test items scored on the public board")
    seed: int | None = Field(
        default=None,
        ge=0,
        description="leave out for an event: a secret seed is drawn and kept in the vault; "
        "a pinned seed makes the partition public (a demo)",
    )


class Phase(Strict):
    """Dated (`start`, `end`) for a real event, or `days` long, the phases following one another from the day the
    event opens (its first build in a workspace): bundled challenges and demos never expire."""

    name: str = Field(min_length=1)
    start: dt.date | None = None
    end: dt.date | None = None
    days: PositiveInt | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Phase:
        dated = self.start is not None and self.end is not None
        if dated == (self.days is not None) or (self.start is None) != (self.end is None):
            raise ValueError(f"phase '{self.name}': give either start and end (dates) or days (a length)")
        if dated and self.end < self.start:  # type: ignore[operator]
            raise ValueError(f"phase '{self.name}' ends ({self.end}) before it starts ({self.start})")
        return self


@dataclass(frozen=True)
class Window:
    """A phase on the calendar: submissions are accepted from `start` to `end`, both included (UTC days)."""

    name: str
    start: dt.date
    end: dt.date

    def __str__(self) -> str:
        return f"{self.name} {self.start}..{self.end}"


class SubmissionLimits(Strict):
    per_team_per_day: PositiveInt
    total: PositiveInt
    failed_code_runs_count: bool = Field(
        default=True,
        description="code runs that time out, crash or run out of memory use quota: they held a worker",
    )

    @model_validator(mode="after")
    def _consistent(self) -> SubmissionLimits:
        if self.total < self.per_team_per_day:
            raise ValueError("total must be at least per_team_per_day")
        return self


class ResourceLimits(Strict):
    """Limits for code submissions, which always run without network."""

    wall_time_seconds: PositiveInt
    memory_mb: PositiveInt


class PredictedSet(Strict):
    """Which of a ranked list of symbols count as predicted, for precision and F1: exactly one rule."""

    top_k: PositiveInt | None = None
    threshold: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_rule(self) -> PredictedSet:
        if (self.top_k is None) == (self.threshold is None):
            raise ValueError("give exactly one of top_k or threshold")
        return self


class LanguagePair(Strict):
    source: str = Field(pattern=r"^[a-z]{2,3}$", description="ISO 639 code")
    target: str = Field(pattern=r"^[a-z]{2,3}$", description="ISO 639 code; picks the BLEU tokenizer")


Task = Literal["classification", "translation", "search"]
_TASK_OPTIONS = {"classification": "predicted_set", "translation": "languages", "search": "ranking_depth"}


class Challenge(Strict):
    slug: str = Field(pattern=SLUG_PATTERN, description="lower-case letters, digits and dashes")
    title: str = Field(min_length=1)
    task: Task
    version: str = Field(min_length=1, description="the challenge's version, part of every score's signature")
    description: str = Field(min_length=1)
    dataset: DatasetSpec
    metrics: list[MetricSpec] = Field(min_length=1)
    primary_metric: str
    tie_breakers: list[str] = Field(default_factory=list)
    final_submission: Literal["best", "selected"] = "best"
    test_split: TestSplitSpec
    phases: list[Phase] = Field(min_length=1)
    submission_limits: SubmissionLimits
    resources: ResourceLimits
    licence: str = Field(min_length=1)
    confidentiality: str = Field(min_length=1)
    predicted_set: PredictedSet | None = None
    languages: LanguagePair | None = None
    ranking_depth: PositiveInt | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Challenge:
        names = [m.name for m in self.metrics]
        for metric in names:
            if metric not in metrics_for(self.task):
                raise ValueError(
                    f"metric '{metric}' is not a {self.task} metric; valid: {', '.join(metrics_for(self.task))}"
                )
        if len(set(names)) != len(names):
            raise ValueError("metrics are listed more than once")
        if self.primary_metric not in names:
            raise ValueError(unknown_key_message("primary_metric", self.primary_metric, names))
        for tie in self.tie_breakers:
            if tie not in names or tie == self.primary_metric:
                others = [n for n in names if n != self.primary_metric]
                raise ValueError(unknown_key_message("tie_breaker", tie, others))
        own = _TASK_OPTIONS[self.task]
        for task, option in _TASK_OPTIONS.items():
            if task != self.task and getattr(self, option) is not None:
                raise ValueError(f"'{option}' is for {task} challenges; a {self.task} challenge uses '{own}'")
        if self.task != "search" and getattr(self, own) is None:
            raise ValueError(f"a {self.task} challenge needs '{own}'")
        self._check_phases()
        self._check_builder_task()
        return self

    def _check_phases(self) -> None:
        if len({p.days is None for p in self.phases}) > 1:
            raise ValueError("phases are either all dated (start, end) or all relative (days), not a mix")
        ordered = self.schedule(dt.date.min)
        for before, after in itertools.pairwise(ordered):
            if after.start <= before.end:
                raise ValueError(f"phases '{before.name}' and '{after.name}' overlap")
        if len({p.name for p in self.phases}) != len(self.phases):
            raise ValueError("phase names must be unique")

    @property
    def relative_phases(self) -> bool:
        return self.phases[0].days is not None

    def schedule(self, opened: dt.date) -> list[Window]:
        """The phases as dates, in order; relative phases follow one another from `opened`."""
        if not self.relative_phases:
            windows = [Window(p.name, p.start, p.end) for p in self.phases]  # type: ignore[arg-type]
            return sorted(windows, key=lambda w: w.start)
        windows, start = [], opened
        for phase in self.phases:
            end = start + dt.timedelta(days=phase.days - 1)  # type: ignore[operator]
            windows.append(Window(phase.name, start, end))
            start = end + dt.timedelta(days=1)
        return windows

    def _check_builder_task(self) -> None:
        from codefest.shared_datasets.builders import all_builders

        BUILDERS = all_builders()
        builder = BUILDERS.get(self.dataset.builder)
        if builder.task != self.task:
            same_task = [n for n in BUILDERS if BUILDERS.get(n).task == self.task]
            raise ValueError(
                f"dataset builder '{builder.name}' makes {builder.task} data, not {self.task}; "
                f"use one of: {', '.join(same_task)}"
            )
        builder.validate_options(self.dataset.options)

    def phase_on(self, day: dt.date, opened: dt.date) -> Window | None:
        """The phase open on `day`, if any."""
        return next((w for w in self.schedule(opened) if w.start <= day <= w.end), None)

    @property
    def higher_is_better(self) -> dict[str, bool]:
        return {m.name: m.higher_is_better for m in self.metrics}
