"""Golden scores: what codefest's scoring gives fixed files, under the scoring version that signs them.

Scores that move for the same files mean a leaderboard would rank incomparable runs together, so the scoring
version must be raised (evaluation/signature.py SCORING_VERSION), the bump noted in CHANGELOG.md, and the golden
file regenerated with `.venv/bin/python -m tests.golden`. Regenerating refuses moved scores under an unchanged
version. tests/test_scoring_version.py compares them exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefest.evaluation.scoring import ScoringOptions, score_files
from codefest.evaluation.signature import SCORING_VERSION
from tests.golden.inputs import FILES

GOLDEN = Path(__file__).parent / "scores.json"
REGENERATE = ".venv/bin/python -m tests.golden"


@dataclass(frozen=True)
class Case:
    """One scoring of committed files, with the options that decide its scores (defaults elsewhere)."""

    task: str
    gold: str
    predictions: str
    options: dict[str, Any] = field(default_factory=dict)

    def inputs_sha256(self) -> str:
        digest = hashlib.sha256()
        for name in (self.gold, self.predictions):
            digest.update(f"{name} {hashlib.sha256((FILES / name).read_bytes()).hexdigest()}\n".encode())
        return digest.hexdigest()


CASES = {
    "classification": Case("classification", "classification-gold.jsonl", "classification-predictions.jsonl"),
    "classification-threshold": Case(
        "classification", "classification-gold.jsonl", "classification-predictions.jsonl", {"threshold": 0.5}
    ),
    "translation": Case(
        "translation", "translation-gold.jsonl", "translation-predictions.jsonl", {"target_language": "fr"}
    ),
    "search": Case("search", "search.qrels", "search-run.txt"),
    "search-level-2": Case("search", "search.qrels", "search-run.txt", {"relevance_level": 2, "pres_depth": 20}),
}


def scores(case: Case) -> dict[str, Any]:
    """The case's items and every metric's value and 95% interval, by the harness's defaults (bootstrap, seed)."""
    result = score_files(case.task, FILES / case.gold, FILES / case.predictions, ScoringOptions(**case.options))
    metrics = {name: [float(m.value), float(m.ci_low), float(m.ci_high)] for name, m in result.metrics.items()}
    return {"inputs_sha256": case.inputs_sha256(), "n_items": result.n_items, "metrics": metrics}


def computed() -> dict[str, Any]:
    """The golden file's content as the code gives it now."""
    return {
        "scoring_version": SCORING_VERSION,
        "regenerate": REGENERATE,
        "cases": {name: scores(case) for name, case in CASES.items()},
    }


def stored(path: Path = GOLDEN) -> dict[str, Any]:
    """The golden file as committed; JSON floats read back bit for bit (they are written by repr)."""
    return json.loads(path.read_text(encoding="utf-8"))


def moved(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """'case metric: old -> new' for every score of the same input files that differs; added cases are not moves."""
    lines = []
    for name, case in new["cases"].items():
        before = old["cases"].get(name)
        if before is None or before["inputs_sha256"] != case["inputs_sha256"]:
            continue
        if before["n_items"] != case["n_items"]:
            lines.append(f"{name} n_items: {before['n_items']} -> {case['n_items']}")
        for metric in sorted(set(before["metrics"]) | set(case["metrics"])):
            was, now = before["metrics"].get(metric), case["metrics"].get(metric)
            if was != now:
                lines.append(f"{name} {metric} [value, ci_low, ci_high]: {was} -> {now}")
    return lines
