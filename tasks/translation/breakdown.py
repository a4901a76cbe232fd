"""Translation scores per language pair: one group per challenge today, several once a challenge mixes pairs."""

from __future__ import annotations

from pathlib import Path

from codefest.challenges.spec import Challenge


def item_groups(spec: Challenge, gold_path: Path, ids: list[str]) -> tuple[str, dict[str, str]] | None:
    languages = getattr(spec.options, "languages", None)
    if languages is None:
        return None
    return "language pair", dict.fromkeys(ids, f"{languages.source}-{languages.target}")
