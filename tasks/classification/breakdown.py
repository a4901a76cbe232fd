"""Classification scores per IPC section: the section of an item is its main symbol's first letter."""

from __future__ import annotations

from pathlib import Path

from codefest.challenges.spec import Challenge
from codefest.tasks.classification.formats import read_gold


def item_groups(spec: Challenge, gold_path: Path, ids: list[str]) -> tuple[str, dict[str, str]]:
    gold = read_gold(gold_path)
    return "IPC section", {item: gold[item][0][0] for item in ids if gold.get(item)}
