"""The teams of an event, as the organisers enrolled them: a team is who the roster says, not what a folder is named.

A name must match the pattern whole (`fullmatch`: `team-a\\n` is not `team-a`), and names are compared without
regard to case (`Team-A` is `team-a`), so nobody gets a second quota by spelling their name another way. A
submission from a team not on the roster is refused.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from codefest.evaluation.tracking import file_lock

from codefest.core.errors import CodefestError, printable

TEAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
FILE = "teams.json"
RULE = "1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"


def shown(name: str) -> str:
    """A name quoted as it can be printed and typed: line feeds, control and undecodable bytes escaped."""
    return printable(name) if printable(name) != name else repr(name)


def check_name(name: str) -> str:
    if not TEAM.fullmatch(name):
        raise CodefestError(f"team name {shown(name)} is not allowed", f"use {RULE}")
    return name


def _path(root: Path) -> Path:
    return root / FILE


def teams(root: Path) -> list[str]:
    """The enrolled teams, as they were spelled when enrolled."""
    path = _path(root)
    if not path.is_file():
        return []
    try:
        names = json.loads(path.read_text(encoding="utf-8"))["teams"]
    except (ValueError, KeyError, TypeError):
        raise CodefestError(
            f"the roster {path} is damaged", "restore it, or remove it and enrol the teams again"
        ) from None
    return [str(name) for name in names]


def resolve(root: Path, name: str) -> str:
    """The enrolled spelling of `name`; an unknown or malformed name is refused with the fix."""
    check_name(name)
    enrolled = {team.casefold(): team for team in teams(root)}
    found = enrolled.get(name.casefold())
    if found is None:
        raise CodefestError(
            f"team {shown(name)} is not on the event's roster",
            f"organisers enrol a team with: codefest teams add {name}",
        )
    return found


def add(root: Path, names: list[str]) -> list[str]:
    """Enrol new teams (one turn at a time across processes); returns the names that were new."""
    for name in names:
        check_name(name)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with file_lock(root / "locks" / "teams.lock", root):
        current = teams(root)
        known = {team.casefold(): team for team in current}
        added = []
        for name in names:
            if name.casefold() in known:
                if known[name.casefold()] != name:
                    raise CodefestError(
                        f"team {shown(name)} is already enrolled as {shown(known[name.casefold()])}",
                        "team names are compared without regard to case: use the enrolled name",
                    )
                continue
            known[name.casefold()] = name
            added.append(name)
        _write(root, current + added)
    return added


def _write(root: Path, names: list[str]) -> None:
    """Replace the roster whole: a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(prefix=".teams.", dir=root)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump({"teams": names}, file, indent=2)
        file.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, _path(root))
