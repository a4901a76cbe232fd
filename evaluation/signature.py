"""Signatures in sacrebleu's style: everything that decides a score, so that only comparable scores are ranked."""

from __future__ import annotations

from codefest import __version__


def signature(task: str, provenance: dict[str, str], options: dict[str, str]) -> str:
    """'codefest:0.1.0|task:search|challenge:prior-art-search:1.0|...|depth:1000' in a fixed order."""
    parts = {"codefest": __version__, "task": task, **provenance, **options}
    return "|".join(f"{key}:{value}" for key, value in parts.items())
