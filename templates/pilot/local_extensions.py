"""Jinja filters for the pilot template: where the framework is, and what a task's baseline folder says about it.

Both are resolved at bake time from this checkout.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from cookiecutter.utils import simple_filter

HERE = Path(__file__).resolve().parent
FRAMEWORK = HERE.parents[1]  # templates/pilot/local_extensions.py -> the codefest checkout
BASELINES = HERE / "{{cookiecutter.project_slug}}" / "baselines"


@simple_filter
def codefest_source(answer: str) -> str:
    """'auto' means this checkout, as a file URL; anything else (a path or git URL) is kept as given."""
    return FRAMEWORK.as_uri() if answer == "auto" else answer


@simple_filter
def codefest_home(answer: str) -> str:
    """'auto' means CODEFEST_HOME if set, else the checkout's default workspace."""
    if answer != "auto":
        return answer
    return str(Path(os.environ.get("CODEFEST_HOME") or FRAMEWORK / ".codefest").resolve())


@simple_filter
def from_baseline(task: str, key: str) -> str:
    """A value of baselines/TASK/task.toml (a default answer, a paragraph): a new task is its folder, nothing else."""
    about = BASELINES / task / "task.toml"
    if not about.is_file():
        known = ", ".join(sorted(p.name for p in BASELINES.iterdir() if (p / "task.toml").is_file()))
        raise ValueError(f"task {task!r} has no baseline in {BASELINES} (there are: {known})")
    return str(tomllib.loads(about.read_text(encoding="utf-8"))[key]).strip()
