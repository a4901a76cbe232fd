"""The scored submissions a leaderboard may rank: read from MLflow, only those comparable with each other."""

from __future__ import annotations

from dataclasses import dataclass

from codefest.evaluation.names import mlflow_key
from codefest.evaluation.records import Role, Status, Tag, where
from codefest.evaluation.tracking import RecordedRun, Tracker


@dataclass(frozen=True)
class Submission:
    run_id: str
    team: str
    baseline: bool
    time_ms: int
    metrics: dict[str, float]  # MLflow keys, e.g. top_prediction_at_subclass and its _ci_low, _ci_high
    selected_at: int | None
    private_run_id: str | None

    def value(self, metric: str) -> float:
        return self.metrics.get(mlflow_key(metric), float("nan"))

    def interval(self, metric: str) -> tuple[float, float]:
        key = mlflow_key(metric)
        return self.metrics.get(f"{key}_ci_low", float("nan")), self.metrics.get(f"{key}_ci_high", float("nan"))


def as_submission(run: RecordedRun) -> Submission:
    selected = run.tags.get(Tag.SELECTED_AT)
    return Submission(
        run_id=run.run_id,
        team=run.tags.get(Tag.TEAM, "?"),
        baseline=run.tags.get(Tag.ROLE) == Role.BASELINE,
        time_ms=run.start_time,
        metrics=run.metrics,
        selected_at=int(selected) if selected and selected.isdigit() else None,
        private_run_id=run.tags.get(Tag.PRIVATE_RUN_ID),
    )


def scored_submissions(tracker: Tracker, signature: str, primary: str, private: bool = False) -> list[Submission]:
    """Runs with status scored, the current signature and the primary metric; the rest never reach a leaderboard.

    The signature is compared here rather than in the filter string, whose quoting its characters would strain.
    """
    runs = tracker.runs(where({Tag.STATUS: Status.SCORED}), private=private)
    found = [as_submission(r) for r in runs if r.tags.get(Tag.SIGNATURE) == signature]
    return [s for s in found if mlflow_key(primary) in s.metrics]
