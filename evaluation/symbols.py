"""IPC and CPC symbols: one canonical form, and truncation to the levels the WIPO measures compare.

'A01B 1/00', 'A01B1/00', 'a01b 1/00' and 'A01B0001000000' (WIPO ST.8: subclass, main group right-aligned in
four digits, subgroup left-aligned in six) are one symbol, written 'A01B 1/00'. Sections A to H are the IPC's; Y is
the CPC's section for new technological developments.
"""

from __future__ import annotations

import re
from functools import lru_cache

LEVELS = ("section", "class", "subclass", "group")
_PRINTED = re.compile(r"^([A-HY]\d\d[A-Z])\s*(\d{1,4})\s*/\s*(\d{2,6})$")
_ST8 = re.compile(r"^([A-HY]\d\d[A-Z])(\d{4})(\d{6})$")
_PARTIAL = re.compile(r"^[A-HY](\d\d([A-Z])?)?$")
MAX_CHARS = 40  # 'A01B0001024000' has 14: room for spaces, none for a payload that the cache below would keep


def normalise(text: str) -> str | None:
    """The canonical symbol, or None if `text` is not a symbol at any level."""
    return _normalise(text) if len(text) <= MAX_CHARS else None


@lru_cache(maxsize=1 << 16)
def _normalise(text: str) -> str | None:
    value = text.strip().upper()
    if (match := _PRINTED.match(value)) or (match := _ST8.match(value)):
        subclass, group, subgroup = match.groups()
    else:
        return value if _PARTIAL.match(value) else None
    if int(group) == 0:
        return None
    return f"{subclass} {int(group)}/{subgroup.rstrip('0').ljust(2, '0')}"


@lru_cache(maxsize=1 << 16)
def truncate(symbol: str, level: str) -> str | None:
    """A canonical symbol cut to a level; None where the symbol is less precise than the level."""
    if level == "section":
        return symbol[0]
    if level == "class":
        return symbol[:3] if len(symbol) >= 3 else None
    if level == "subclass":
        return symbol[:4] if len(symbol) >= 4 else None
    if level == "group":
        return f"{symbol.split('/')[0]}/00" if "/" in symbol else None
    raise ValueError(f"unknown level {level!r}; valid: {', '.join(LEVELS)}")
