"""Metric names as MLflow accepts them: the one place where the harness's names are mapped."""

from __future__ import annotations


def mlflow_key(name: str) -> str:
    """'top_prediction@subclass' -> 'top_prediction_at_subclass'; MLflow refuses '@' in metric keys."""
    return name.replace("@", "_at_")
