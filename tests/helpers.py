"""Small builders of challenge folders for tests: a bundled challenge, re-declared with other values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from codefest.challenges.discovery import BUNDLED
from codefest.core.workspace import Workspace

SMALL = {
    "ipc-classification": {"size": 400, "seed": 5},
    "patent-translation-en-fr": {"size": 300, "seed": 5},
    "prior-art-search": {"size": 480, "topics": 30, "seed": 5},
}
# The bundled challenges draw secret seeds; small copies pin public ones so that tests see fixed bytes.
SMALL_SPLIT_SEED = {"ipc-classification": 11, "patent-translation-en-fr": 12, "prior-art-search": 13}


def bundled_spec(slug: str) -> dict[str, Any]:
    return yaml.safe_load((BUNDLED / slug / "challenge.yaml").read_text(encoding="utf-8"))


def write_challenge(root: Path, spec: dict[str, Any], folder: str | None = None) -> Path:
    """A challenge folder under `root` holding `spec`; returns the challenge.yaml path."""
    path = root / (folder or spec["slug"]) / "challenge.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def small_copy(root: Path, slug: str, new_slug: str | None = None) -> Path:
    """A bundled challenge under another slug with a small dataset and pinned (public) seeds, for fast builds."""
    spec = bundled_spec(slug)
    spec["slug"] = new_slug or f"small-{slug}"
    spec["dataset"]["options"] = dict(SMALL[slug])
    spec["dataset"].pop("sha256", None)
    spec["test_split"] = {**spec["test_split"], "seed": SMALL_SPLIT_SEED[slug]}
    return write_challenge(root, spec)


WRONG_SYMBOL = ["Y02E 10/50"]  # a valid symbol that no generated item carries


def bundle_test_ids(home: Path, slug: str) -> list[str]:
    """The test ids of a built classification challenge, in the bundle's order."""
    return [json.loads(line)["id"] for line in (home / f"bundles/{slug}/test.jsonl").read_text().splitlines()]


def vault_test_labels(home: Path, slug: str) -> dict[str, list[str]]:
    """The held-out labels, read from the vault as only a test may."""
    rows = (home / f"vault/{slug}/test-labels.jsonl").read_text().splitlines()
    return {r["id"]: r["labels"] for r in map(json.loads, rows)}


def right_every(home: Path, slug: str, path: Path, every: int) -> Path:
    """Predictions with the gold labels on every `every`-th test item and a wrong symbol elsewhere."""
    gold = vault_test_labels(home, slug)
    lines = [
        json.dumps({"id": i, "labels": gold[i] if n % every == 0 else WRONG_SYMBOL})
        for n, i in enumerate(bundle_test_ids(home, slug))
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def with_empty_store(home: Path, empty: Path) -> None:
    """The workspace `home` starts from `empty`, an MLflow store whose schema is in place (conftest's `_empty_store`):
    the first process to open a new store spends seconds of CPU on its migrations."""
    shutil.copyfile(empty, Workspace(home).store)
