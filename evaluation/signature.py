"""Signatures in sacrebleu's style: everything that decides a score, so that only comparable scores are ranked.

The harness is named by its scoring version, not by the package version: a release that changes no score keeps
every leaderboard entry comparable, while the package version is still recorded on each run as provenance.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import version

SCORING_VERSION = "1"
"""Raised (1, 2, ...) when a score for the same files, options and libraries would change, and only then.

One version for every task: the harness's reading, bootstrap and validation are shared, and a bump is rare.
tests/test_scoring_version.py holds scores that must not move without a bump; CHANGELOG.md lists every bump.
"""


def signature(task: str, provenance: dict[str, str], options: dict[str, str]) -> str:
    """'scoring:1|task:search|challenge:prior-art-search:1.0|...|depth:1000' in a fixed order."""
    parts = {"scoring": SCORING_VERSION, "task": task, **provenance, **options}
    return "|".join(f"{key}:{_nested(value)}" for key, value in parts.items())


def _nested(value: str) -> str:
    """A library's own signature inside ours: '{case:mixed,tok:13a}', so '|' still separates our fields."""
    return "{" + value.replace("|", ",") + "}" if "|" in value else value


@cache
def library_version(distribution: str) -> str:
    """A scoring library's installed version, from its package metadata rather than its `__version__`: signing a
    board needs the version alone, and importing scikit-learn to read it costs every `codefest leaderboard` seconds
    of CPU. tests/test_startup.py checks that both say the same."""
    return version(distribution)
