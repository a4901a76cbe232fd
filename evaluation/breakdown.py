"""Scores per group of test items (IPC section, language pair), so a leaderboard shows where entries differ.

Only aggregates leave the evaluation: how many items a group has and the metric on them, never which item is in
which group, since an item's IPC section is part of its held-out label.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from codefest.challenges.spec import Challenge
from codefest.evaluation.metrics.base import ItemStats, subset
from codefest.tasks import TASKS

Groups = tuple[str, dict[str, str]]  # (what the groups are, item id -> group)


def item_groups(spec: Challenge, gold_path: Path, ids: list[str]) -> Groups | None:
    """The task's natural grouping of items, where it has one (its definition's `breakdown`)."""
    groups = TASKS.get(spec.task).load("breakdown")
    return None if groups is None else groups(spec, gold_path, ids)


def breakdown(groups: Groups | None, ids: list[str], metric: ItemStats) -> dict[str, object] | None:
    """{"by", "metric", "groups": {group: {"n", "value"}}}, each group's value computed as the metric itself is."""
    if groups is None:
        return None
    by, group_of = groups
    members: dict[str, list[int]] = {}
    for row, item in enumerate(ids):
        if item in group_of:
            members.setdefault(group_of[item], []).append(row)
    values = {
        group: {"n": len(rows), "value": subset(metric, np.array(rows, dtype=np.int64)).value}
        for group, rows in sorted(members.items())
    }
    return {"by": by, "metric": metric.name, "groups": values}
