"""Jinja filters for the pilot templates: where the framework is, resolved at bake time from this checkout."""

from __future__ import annotations

import os
from pathlib import Path

from cookiecutter.utils import simple_filter

FRAMEWORK = Path(__file__).resolve().parents[2]  # templates/_pilot/local_extensions.py -> the codefest checkout


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
