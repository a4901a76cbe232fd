"""IPC and CPC symbols: one canonical form, and truncation to the levels the WIPO measures compare.

'A01B 1/00', 'A01B1/00', 'a01b 1/00' and 'A01B0001000000' (WIPO ST.8: subclass, main group right-aligned in
four digits, subgroup left-aligned in six) are one symbol, written 'A01B 1/00'. Sections A to H are the IPC's; Y is
the CPC's section for new technological developments.

Real exports add notations that are read here too, where they can mean one symbol only: full-width characters
(NFKC), a version indicator ('A01B 1/00 (2006.01)'), a hyphen after the subclass ('A01B-1/00'), and the compact
form without a slash ('A61B512' is A61B 5/12). A compact form is read when one split of its digits is a symbol:
a main group of one to four digits without a leading zero, and a subgroup of two digits or of more digits not
ending in 0 (ST.8 pads subgroups with zeros on the right, so '/100' would be '/10'). 'F42B3127' can be
F42B 3/127 or F42B 31/27, so it is refused.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

LEVELS = ("section", "class", "subclass", "group")
SET_LEVEL = "group"  # precision@k and F1 compare main groups, the deepest level the WIPO measures use
LEVEL_NAMES = {"section": "section", "class": "class", "subclass": "subclass", "group": "main-group"}
_PRINTED = re.compile(r"^([A-HY]\d\d[A-Z])\s*(\d{1,4})\s*/\s*(\d{2,6})$")
_ST8 = re.compile(r"^([A-HY]\d\d[A-Z])\s*(\d{4})(\d{6})$")
_COMPACT = re.compile(r"^([A-HY]\d\d[A-Z])\s*(\d{3,10})$")
_PARTIAL = re.compile(r"^[A-HY](\d\d([A-Z])?)?$")
_VERSION = re.compile(r"\s*\(\s*\d{4}\s*\.\s*\d{2}\s*\)$")  # IPC version indicator, e.g. (2006.01)
_HYPHEN = re.compile(r"^([A-HY]\d\d[A-Z])\s*-\s*(?=\d)")
MAX_CHARS = 40  # 'A01B0001024000' has 14: room for spaces, none for a payload that the cache below would keep
EXAMPLES = "write symbols like 'H01M 10/02', or 'H01M', 'H01' and 'H' for a subclass, class or section"


def normalise(text: str) -> str | None:
    """The canonical symbol, or None if `text` is not a symbol at any level (`problem` says why)."""
    return _normalise(text) if len(text) <= MAX_CHARS else None


def problem(text: str) -> tuple[str, str]:
    """(why `text` is not one symbol, how to write it), for a text that `normalise` refuses."""
    if len(text) > MAX_CHARS:
        return f"is longer than {MAX_CHARS} characters", EXAMPLES
    value = _cleaned(text)
    if (match := _COMPACT.match(value)) and len(readings := _compact_readings(*match.groups())) > 1:
        return f"can be read as {' or '.join(readings)}", "write it with its slash, as the source means it"
    if (match := _PRINTED.match(value) or _ST8.match(value)) and int(match.group(2)) == 0:
        return "has main group 0, which no scheme has", EXAMPLES
    return "is not an IPC/CPC symbol", EXAMPLES


def _cleaned(text: str) -> str:
    """Full-width forms folded, the version indicator dropped, upper case, a hyphen after the subclass a space."""
    value = _VERSION.sub("", unicodedata.normalize("NFKC", text).strip()).strip().upper()
    return _HYPHEN.sub(r"\1 ", value)


@lru_cache(maxsize=1 << 16)
def _normalise(text: str) -> str | None:
    value = _cleaned(text)
    if (match := _PRINTED.match(value)) or (match := _ST8.match(value)):
        subclass, group, subgroup = match.groups()
        return _symbol(subclass, group, subgroup) if int(group) else None
    if match := _COMPACT.match(value):
        readings = _compact_readings(*match.groups())
        return readings[0] if len(readings) == 1 else None
    return value if _PARTIAL.match(value) else None


def _symbol(subclass: str, group: str, subgroup: str) -> str:
    return f"{subclass} {int(group)}/{subgroup.rstrip('0').ljust(2, '0')}"


def _compact_readings(subclass: str, digits: str) -> list[str]:
    """Every symbol the digits after a subclass can spell without a slash (see the module's docstring)."""
    readings = []
    for cut in range(1, min(4, len(digits) - 2) + 1):
        group, subgroup = digits[:cut], digits[cut:]
        if group[0] != "0" and len(subgroup) <= 6 and (len(subgroup) == 2 or subgroup[-1] != "0"):
            readings.append(_symbol(subclass, group, subgroup))
    return readings


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


def depth(symbol: str) -> int:
    """The index in LEVELS of the deepest level a canonical symbol reaches."""
    return next(i for i in reversed(range(len(LEVELS))) if truncate(symbol, LEVELS[i]) is not None)


def metric_level(metric: str) -> tuple[str, bool]:
    """The level a classification metric compares at, and whether only the main symbol counts there."""
    measure, _, level = metric.partition("@")
    if measure in ("top_prediction", "three_guesses"):
        return level, True
    if measure == "all_categories":
        return level, False
    return SET_LEVEL, False  # precision@k, F1


@dataclass(frozen=True)
class Reach:
    """How deep gold labels go: the LEVELS index reached by some main symbol and by some symbol (-1: none).

    A measure at a level no gold label reaches would score every submission 0 whatever it predicts; it is reported
    as not computable instead, and a challenge that declares one is refused at build.
    """

    main: int
    any: int

    @classmethod
    def of(cls, gold: Iterable[list[str]]) -> Reach:
        mains, others = set(), set()
        for labels in filter(None, gold):
            mains.add(labels[0])
            others.update(labels[1:])
        main = max(map(depth, mains), default=-1)
        return cls(main, max(main, max(map(depth, others - mains), default=-1)))

    def unreached(self, metric: str) -> str | None:
        """Why `metric` cannot be computed on these labels, or None when it can."""
        level, main_only = metric_level(metric)
        if LEVELS.index(level) <= (self.main if main_only else self.any):
            return None
        whose = "main symbols" if main_only and LEVELS.index(level) <= self.any else "labels"
        return f"not computable: the gold {whose} do not reach {LEVEL_NAMES[level]} level"
