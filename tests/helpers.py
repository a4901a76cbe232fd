"""Small builders of challenge folders for tests: a bundled challenge, re-declared with other values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from challenges.discovery import BUNDLED

SMALL = {
    "ipc-classification": {"size": 400, "seed": 5},
    "patent-translation-en-fr": {"size": 300, "seed": 5},
    "prior-art-search": {"size": 480, "topics": 30, "seed": 5},
}


def bundled_spec(slug: str) -> dict[str, Any]:
    return yaml.safe_load((BUNDLED / slug / "challenge.yaml").read_text(encoding="utf-8"))


def write_challenge(root: Path, spec: dict[str, Any], folder: str | None = None) -> Path:
    """A challenge folder under `root` holding `spec`; returns the challenge.yaml path."""
    path = root / (folder or spec["slug"]) / "challenge.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def small_copy(root: Path, slug: str, new_slug: str | None = None) -> Path:
    """A bundled challenge under another slug with a small dataset, for fast builds."""
    spec = bundled_spec(slug)
    spec["slug"] = new_slug or f"small-{slug}"
    spec["dataset"]["options"] = dict(SMALL[slug])
    spec["dataset"].pop("sha256", None)
    return write_challenge(root, spec)
