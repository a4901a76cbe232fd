"""Signatures in sacrebleu's style: everything that decides a score, so that only comparable scores are ranked."""

from __future__ import annotations

from codefest import __version__


def signature(task: str, provenance: dict[str, str], options: dict[str, str]) -> str:
    """'codefest:0.1.0|task:search|challenge:prior-art-search:1.0|...|depth:1000' in a fixed order."""
    parts = {"codefest": __version__, "task": task, **provenance, **options}
    return "|".join(f"{key}:{_nested(value)}" for key, value in parts.items())


def _nested(value: str) -> str:
    """A library's own signature inside ours: '{case:mixed,tok:13a}', so '|' still separates our fields."""
    return "{" + value.replace("|", ",") + "}" if "|" in value else value
