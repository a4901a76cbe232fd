"""The page in MLflow: a run named `leaderboard` in the challenge's experiment holds the latest page and JSON, so
participants open it from the MLflow UI. The private view goes to the private experiment, unless revealed."""

from __future__ import annotations

from codefest.evaluation.tracking import Tracker

PAGE, DATA = "leaderboard.html", "leaderboard.json"
UI_KIND = ("mlflow.experimentKind", "custom_model_development")  # the UI opens on runs, not on GenAI traces


def publish(tracker: Tracker, view: str, html: str, data: str, *, public: bool, forced: bool = False) -> str:
    """Log the page to the public or the private experiment; returns the leaderboard run's id.

    `forced`: an organiser revealed the private view before the final phase ended; the run says so.
    """
    run_id = _leaderboard_run(tracker, view, public)
    if forced:
        tracker.set_tags(run_id, {"forced": "true"})
    tracker.log_text(run_id, PAGE, html)
    tracker.log_text(run_id, DATA, data)
    tracker.client.set_terminated(run_id, "FINISHED")
    return run_id


def _leaderboard_run(tracker: Tracker, view: str, public: bool) -> str:
    found = tracker.runs(f"tags.kind = 'leaderboard' and tags.view = '{view}'", private=not public)
    if found:
        return found[0].run_id
    name = "leaderboard" if view == "public" else "final-leaderboard"
    experiment = tracker.public if public else tracker.private
    tracker.client.set_experiment_tag(experiment, *UI_KIND)
    tags = {"kind": "leaderboard", "view": view, "status": "published"}
    return tracker.client.create_run(experiment, tags=tags, run_name=name).info.run_id
