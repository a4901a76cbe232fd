"""Offline by default: libraries that would call home are told not to, unless the user said otherwise."""

from __future__ import annotations

import os

OFFLINE_DEFAULTS = {
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # a bar per downloaded artifact drowns the leaderboard's output
}


def stay_offline() -> None:
    """Set the defaults before `datasets` or `mlflow` is imported; explicit settings win."""
    for name, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(name, value)
