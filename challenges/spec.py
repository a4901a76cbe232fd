"""The challenge model: a challenge is data, validated strictly, so organisers add one without writing Python."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from codefest.challenges.efficiency import DEFAULT_TOLERANCE, MEASURES, Prices
from codefest.core.registry import unknown_key_message
from codefest.tasks import TASKS, Task, TaskOptions, metric_task

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
    """A metric of the challenge's task, with its direction stated: the challenge checks both against the task."""

    name: str
    higher_is_better: bool


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
    environment_seconds: PositiveInt = Field(default=600, description="to install a pilot's declared dependencies")
    environment_mb: PositiveInt = Field(default=4096, description="what a pilot's dependencies may take installed")
    gpus: int = Field(default=0, ge=0, description="GPUs one code run needs: its runs go to GPU workers")
    prices: Prices | None = Field(default=None, description="compute prices: the board shows each run's cost")

    @model_validator(mode="after")
    def _gpus_priced(self) -> ResourceLimits:
        """Runs that hold GPUs cost them too: a cost without their price would be too low to compare."""
        if self.gpus and self.prices is not None and self.prices.gpu_hour is None:
            raise ValueError(f"code runs hold {self.gpus} GPU(s): set resources.prices.gpu_hour too")
        return self


def task_of(name: object) -> Task | None:
    """The definition of a task that exists, else None (the `task` key's own error then says why)."""
    return TASKS.get(name) if isinstance(name, str) and name in TASKS else None


class Challenge(Strict):
    """The keys every challenge has, plus its task's own (e.g. `predicted_set`), validated by the task's options
    model and kept in `options`."""

    slug: str = Field(pattern=SLUG_PATTERN, description="lower-case letters, digits and dashes")
    title: str = Field(min_length=1)
    task: str = Field(description="a task: a folder of codefest.tasks")
    version: str = Field(min_length=1, description="the challenge's version, part of every score's signature")
    description: str = Field(min_length=1)
    dataset: DatasetSpec
    metrics: list[MetricSpec] = Field(min_length=1)
    primary_metric: str
    tie_breakers: list[str] = Field(default_factory=list)
    efficiency_tolerance: float = Field(
        default=DEFAULT_TOLERANCE,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="measures in tie_breakers within this share of the best one are equal (noise, not a difference)",
    )
    final_submission: Literal["best", "selected"] = "best"
    test_split: TestSplitSpec
    phases: list[Phase] = Field(min_length=1)
    submission_limits: SubmissionLimits
    resources: ResourceLimits
    licence: str = Field(min_length=1)
    confidentiality: str = Field(min_length=1)
    options: TaskOptions = Field(default_factory=TaskOptions, description="the task's keys, by the task's model")

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The task's keys back beside the others, as challenge.yaml has them."""
        data = handler(self)
        data.pop("options", None)
        return {**data, **self.options.model_dump()}

    @field_validator("task")
    @classmethod
    def _known_task(cls, name: str) -> str:
        if name not in TASKS:
            raise ValueError(unknown_key_message("task", name, TASKS.names()))
        return name

    @model_validator(mode="after")
    def _coherent(self) -> Challenge:
        definition = TASKS.get(self.task)
        names = [m.name for m in self.metrics]
        for metric in self.metrics:
            _check_metric(definition, metric)
        if len(set(names)) != len(names):
            raise ValueError("metrics are listed more than once")
        if self.primary_metric not in names:
            raise ValueError(unknown_key_message("primary_metric", self.primary_metric, names))
        for tie in self.tie_breakers:
            if (tie not in names and tie not in MEASURES) or tie == self.primary_metric:
                others = [n for n in names if n != self.primary_metric] + list(MEASURES)
                raise ValueError(unknown_key_message("tie_breaker", tie, others))
        if len(set(self.tie_breakers)) != len(self.tie_breakers):
            raise ValueError("tie_breakers are listed more than once")
        self._check_phases()
        self._check_builder_task()
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _with_task_options(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Challenge:
        """The task's keys are split off and validated by the task's model; all problems are reported together.

        Defined after `_coherent` so that `handler` runs it: its problems are reported with the task options'."""
        if not isinstance(data, dict) or isinstance(data.get("options"), TaskOptions):
            return handler(data)  # a copy or a revalidation: already split
        common = {key: value for key, value in data.items() if key in cls.model_fields and key != "options"}
        own = {key: value for key, value in data.items() if key not in common}
        task = task_of(data.get("task"))
        errors: list[InitErrorDetails] = []
        options = _task_options(cls, task, own, errors)
        try:
            spec = handler({**common, "options": options or TaskOptions()})
        except ValidationError as err:
            errors = [*_relocated(err), *errors]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return spec

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

    @property
    def ranked_higher_is_better(self) -> dict[str, bool]:
        """The direction of everything the board ranks by: the metrics, and what code runs use (lower is better)."""
        return self.higher_is_better | {name: False for name in MEASURES}


def _check_metric(task: Task, metric: MetricSpec) -> None:
    """The metric is one of the task's, and its direction is the task's."""
    known = task.metric(metric.name)
    if known is None:
        elsewhere = metric_task(metric.name)
        if elsewhere is None:
            raise ValueError(unknown_key_message(f"{task.name} metric", metric.name, task.metric_names))
        raise ValueError(
            f"metric '{metric.name}' is not a {task.name} metric (it is a {elsewhere} one); "
            f"valid: {', '.join(task.metric_names)}"
        )
    if metric.higher_is_better != known.higher_is_better:
        raise ValueError(
            f"metric '{metric.name}' is better when {'higher' if known.higher_is_better else 'lower'}; "
            f"set higher_is_better: {str(known.higher_is_better).lower()}"
        )


def _task_options(
    model: type[BaseModel], task: Task | None, given: dict[str, Any], errors: list[InitErrorDetails]
) -> TaskOptions | None:
    """The task's keys as its options model; a key that is no key of the challenge's is named with the valid ones."""
    own = list(task.options.model_fields) if task else []
    valid = [name for name in model.model_fields if name != "options"] + own
    for key in [key for key in given if key not in own]:
        other = next((t for t in TASKS.names() if key in TASKS.get(t).options.model_fields), None)
        if other is None:
            errors.append(_error("unknown_key", unknown_key_message("key", key, valid), (key,), given[key]))
        elif task is not None:  # without a valid task, its own error says what is wrong
            uses = f"; a {task.name} challenge uses {', '.join(map(repr, own))}" if own else ""
            errors.append(_error("other_task", f"'{key}' is for {other} challenges{uses}", (key,), given[key]))
    if task is None:
        return None
    try:
        return task.options.model_validate({key: value for key, value in given.items() if key in own})
    except ValidationError as err:
        errors.extend(_relocated(err, task.options))
        return None


def _error(kind: str, message: str, loc: tuple[str | int, ...], value: Any) -> InitErrorDetails:
    """One error as pydantic reports it; without a context, the message is taken as it is (no {} formatting)."""
    return {"type": PydanticCustomError(kind, message), "loc": loc, "input": value}


def _relocated(err: ValidationError, model: type[BaseModel] | None = None) -> list[InitErrorDetails]:
    """Another validation's errors, to be raised with this one's: same type, place, message and input; an unknown key
    in `model` (the task's options) is named with the keys valid there, since the challenge model cannot list them."""
    found = []
    for e in err.errors():
        loc = tuple(e["loc"])
        if model is not None and e["type"] == "extra_forbidden":
            message = unknown_key_message("key", str(loc[-1]), fields_at(model, loc[:-1]))
            found.append(_error("unknown_key", message, loc, e["input"]))
        else:
            found.append(_error(e["type"], e["msg"], loc, e["input"]))
    return found


def fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed at a nested location of `model`, by walking the models' field annotations."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part) if isinstance(current, type) else None
        if field is None:
            return []
        current = _model_in(field.annotation)
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
