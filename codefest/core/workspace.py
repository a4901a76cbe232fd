"""Where codefest writes: one workspace folder, so an organiser can move or wipe an event in one place."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = ".codefest"


def home() -> Path:
    """The workspace: CODEFEST_HOME, else ./.codefest in the current folder."""
    return Path(os.environ.get("CODEFEST_HOME") or DEFAULT_HOME).resolve()


def bundle_dir(slug: str, root: Path | None = None) -> Path:
    """Public: what participants download."""
    return (root or home()) / "bundles" / slug


def vault_dir(slug: str, root: Path | None = None) -> Path:
    """Private: held-out labels, read only by the organiser's scoring process."""
    return (root or home()) / "vault" / slug
