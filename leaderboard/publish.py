"""The page in MLflow: a run named `leaderboard` in the challenge's experiment holds the latest page and JSON, so
participants open it from the MLflow UI. The private view goes to the private experiment, unless revealed. How the
UI opens the experiment (the runs list, sorted by the primary metric) is the evaluator's `RunsView`, set on the
experiments with the first evaluation."""

from __future__ import annotations

from codefest.evaluation.records import TRUE, Artifact, Kind, Part, Status, Tag, where
from codefest.evaluation.tracking import Tracker

RUN_NAMES = {Part.PUBLIC: "leaderboard", Part.PRIVATE: "final-leaderboard"}


def publish(tracker: Tracker, view: str, html: str, data: str, *, public: bool, forced: bool = False) -> str:
    """Log the page to the public or the private experiment; returns the leaderboard run's id.

    `forced`: an organiser revealed the private view before the final phase ended; the run says so.
    """
    run_id = _leaderboard_run(tracker, view, public)
    if forced:
        tracker.set_tags(run_id, {Tag.FORCED: TRUE})
    tracker.log_text(run_id, Artifact.PAGE, html)
    tracker.log_text(run_id, Artifact.DATA, data)
    tracker.end(run_id)
    return run_id


def _leaderboard_run(tracker: Tracker, view: str, public: bool) -> str:
    found = tracker.runs(where({Tag.KIND: Kind.LEADERBOARD, Tag.VIEW: view}), private=not public)
    if found:
        return found[0].run_id
    tags = {Tag.KIND: Kind.LEADERBOARD, Tag.VIEW: view, Tag.STATUS: Status.PUBLISHED}
    return tracker.create_run(tags, private=not public, name=RUN_NAMES[view])
