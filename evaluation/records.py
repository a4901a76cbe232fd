"""What codefest records in MLflow, named once: run tags and their values, artifact names, and `result.json`.

The evaluator writes these records; the leaderboard, the demo, the tests and the benchmarks read them. Each name
is spelled here only, so a writer and its readers cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from codefest.evaluation.scoring import MetricValue

PRIVATE_SUFFIX: Final = "/private"  # the private experiment of challenge SLUG is SLUG/private
EXPERIMENT_CHALLENGE: Final = "codefest.challenge"  # experiment tag: the challenge an experiment belongs to
TAG_VALUE_LIMIT: Final = 4000  # longer texts (messages, lists of runs) are cut to this before they become tags
TRUE: Final = "true"  # the value of a flag tag (forced, labels_public, ...): absent means false


class Tag:
    """Run tag keys."""

    TEAM: Final = "team"
    CHALLENGE: Final = "challenge"
    CHALLENGE_VERSION: Final = "challenge_version"
    KIND: Final = "kind"  # a Kind
    STATUS: Final = "status"  # a Status; written last, what the leaderboard reads
    PHASE: Final = "phase"  # the open phase's name, or OUTSIDE_PHASES
    ROLE: Final = "role"  # a Role
    FORCED: Final = "forced"  # TRUE: evaluated outside the open phases, or a board revealed early
    SUBMISSION_SHA256: Final = "submission_sha256"
    SUBMISSION_ID: Final = "submission_id"  # the ledger's submission the run is an evaluation of
    HARNESS_VERSION: Final = "harness_version"
    DATASET_SHA256: Final = "dataset_sha256"
    LABELS_PUBLIC: Final = "labels_public"  # TRUE: scored against test labels anyone can regenerate
    SIGNATURE: Final = "signature"  # the evaluation signature; only runs with the current one are ranked
    PART: Final = "part"  # a Part
    PUBLIC_RUN_ID: Final = "public_run_id"  # on a private run: its public run
    PRIVATE_RUN_ID: Final = "private_run_id"  # on a public run: its private run
    SAME_SUBMISSION_AS: Final = "same_submission_as"  # private run: other teams that sent the same file
    MESSAGE: Final = "message"
    ENTRY: Final = "entry"  # a refused inbox entry's path
    REFUSAL: Final = "refusal"  # a refused entry's key, so that it is recorded once
    EVALUATOR: Final = "evaluator"  # which workspace's evaluation made the run (a hash of host and folder)
    CODE_SECONDS: Final = "code_seconds"
    ISOLATED: Final = "isolated"  # "true" or "false": whether the sandbox isolated the code run
    CODE_PEAK_MEMORY_MB: Final = "code_peak_memory_mb"
    CODE_CPU_SECONDS: Final = "code_cpu_seconds"
    ENVIRONMENT_KEY: Final = "environment_key"  # the start of the code run's environment's key (its cache folder)
    ENVIRONMENT_SECONDS: Final = "environment_seconds"  # to find (reused) or build the environment
    ENVIRONMENT_REUSED: Final = "environment_reused"  # "true": found built; "false": built for this run
    CODE_COST: Final = "code_cost_per_1000_items"  # where the challenge sets prices: the run's cost per 1,000 items
    CODE_COST_CURRENCY: Final = "code_cost_currency"
    CODE_GPUS: Final = "code_gpus"  # GPUs the code run held for its whole wall time
    SELECTED_AT: Final = "selected_at"  # milliseconds since the epoch; the latest selection of a team counts
    SELECTION_FORCED: Final = "selection_forced"  # TRUE: selected outside the open phases
    VIEW: Final = "view"  # on a leaderboard run: a Part, the view the page shows


class Status:
    """Values of the status tag."""

    RUNNING: Final = "running"
    SCORED: Final = "scored"
    INVALID: Final = "invalid"
    DUPLICATE: Final = "duplicate"  # an outcome only: a duplicate is not recorded again
    OVER_QUOTA: Final = "over-quota"
    REFUSED: Final = "refused"
    INTERRUPTED: Final = "interrupted"
    PUBLISHED: Final = "published"  # a leaderboard run
    CODE_FAILURES: Final = ("timeout", "memory", "network", "crashed", "no-output")  # the sandbox's verdicts
    EVALUATED: Final = (SCORED, INVALID, *CODE_FAILURES)  # a submission judged: sent again, it is a duplicate
    # A code run whose declared dependencies could not be installed: not judged, so sent again it is evaluated
    # again (the organisers may have added a wheel meanwhile), and it uses no quota.
    ENVIRONMENT: Final = "environment"


class Kind:
    PREDICTIONS: Final = "predictions"
    CODE: Final = "code"
    LEADERBOARD: Final = "leaderboard"


class Role:
    PARTICIPANT: Final = "participant"
    BASELINE: Final = "baseline"


class Part:
    """The parts of the test set, and the views of the leaderboard."""

    PUBLIC: Final = "public"
    PRIVATE: Final = "private"


OUTSIDE_PHASES: Final = "outside-phases"  # the phase tag of a forced evaluation


class Artifact:
    """Artifact names in a run."""

    RESULT: Final = "result.json"  # a part's scores: a Result
    PER_ITEM: Final = "per_item.jsonl"  # in the private run: the private part's per-item scores
    PUBLIC_PER_ITEM: Final = "public_per_item.jsonl"  # in the private run too: the public part's, for the board's tests
    PROBLEMS: Final = "problems.txt"  # an invalid submission's problems
    LOGS: Final = "logs"  # a code run's output, logs/stdout.txt and logs/stderr.txt
    PAGE: Final = "leaderboard.html"  # in a leaderboard run
    DATA: Final = "leaderboard.json"  # in a leaderboard run

    @staticmethod
    def log(name: str) -> str:
        return f"{Artifact.LOGS}/{name}"


def where(tags: Mapping[str, str]) -> str:
    """An MLflow filter string for runs with these tag values; the values are codefest's own (no quotes)."""
    for value in tags.values():
        if "'" in value:
            raise ValueError(f"a tag value in a filter cannot hold a quote: {value!r}")
    return " and ".join(f"tags.{key} = '{value}'" for key, value in tags.items())


@dataclass(frozen=True)
class Result:
    """`result.json`: one part's scores, what participants read of their public run."""

    task: str
    n_items: int
    metrics: dict[str, MetricValue]
    breakdown: dict[str, Any] | None = None  # {"by", "metric", "groups": {group: {"n", "value"}}}

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "task": self.task,
            "n_items": self.n_items,
            "metrics": {name: vars(value) for name, value in self.metrics.items()},
        }
        return found if self.breakdown is None else {**found, "breakdown": self.breakdown}

    @classmethod
    def from_json(cls, data: object) -> Result:
        """The record as written; ValueError for anything else (a damaged or foreign file)."""
        if not isinstance(data, dict) or not isinstance(data.get("metrics"), dict):
            raise ValueError(f"not a codefest {Artifact.RESULT}: no metrics")
        breakdown = data.get("breakdown")
        if breakdown is not None and not isinstance(breakdown, dict):
            raise ValueError(f"not a codefest {Artifact.RESULT}: the breakdown is not an object")
        try:
            metrics = {str(name): _metric(value) for name, value in data["metrics"].items()}
            return cls(str(data["task"]), int(data["n_items"]), metrics, breakdown)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not a codefest {Artifact.RESULT}: {error!r}") from None


def _metric(value: Mapping[str, Any]) -> MetricValue:
    """A metric's value and interval; null (a metric the gold labels cannot support) reads as NaN."""
    numbers = [math.nan if value[key] is None else float(value[key]) for key in ("value", "ci_low", "ci_high")]
    return MetricValue(*numbers)
