"""Team names as the ledger accepts them: a name must match the pattern whole (`fullmatch`: `team-a\\n` is not
`team-a`), and names are compared without regard to case (`Team-A` is `team-a`), so nobody gets a second quota by
spelling their name another way."""

from __future__ import annotations

import re
from typing import Final

from codefest.core.errors import CodefestError, printable

TEAM: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RULE: Final = "1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit"


def shown(name: str) -> str:
    """A name quoted as it can be printed and typed: line feeds, control and undecodable bytes escaped."""
    return printable(name) if printable(name) != name else repr(name)


def check_name(name: str) -> str:
    if not TEAM.fullmatch(name):
        raise CodefestError(f"team name {shown(name)} is not allowed", f"use {RULE}")
    return name
