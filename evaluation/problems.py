"""Validation problems, collected rather than raised one by one, so a participant fixes a file in one pass."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from codefest.core.errors import CodefestError
from codefest.core.registry import nearest

MAX_LISTED = 20  # different problems listed; reading may stop there
MAX_COUNTED = 100_000  # problems counted before reading stops, however few different ones
SHOWN_RANGES = 5  # line ranges named for one collapsed problem
SHOWN_CHARS = 60  # of a participant's value quoted in a message


def cut(text: str, limit: int = SHOWN_CHARS) -> str:
    """Text cut short: ids, keys and cells come from the participant and may be megabytes long."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: object) -> str:
    """A participant's value as Python writes it, cut short."""
    return cut(repr(value))


def keys_fix(unknown: list[str], allowed: list[str], otherwise: str) -> str:
    """'rename 'label' to 'labels'' where an unexpected key is a misspelt expected one, else `otherwise`."""
    renames = [f"rename {shown(key)} to {shown(guess)}" for key in unknown if (guess := nearest(str(key), allowed))]
    return "; ".join(renames) or otherwise


@dataclass(frozen=True)
class Problem:
    where: str  # "line 12", "lines 3-600", "id 'APP-0000042'", "topic PAC-00007", or "file"
    what: str
    fix: str
    count: int = 1  # of lines it was met on: one collapsed entry stands for them all

    def render(self) -> str:
        return f"{self.where}: {self.what}. Fix: {self.fix}"


def counted(total: int, stopped: bool = False, what: str = "problem") -> str:
    """'1 problem', '21 problems', or 'at least 21 problems' when reading stopped before the end of the file: the
    lines left unread may hold more, so a count there is only a lower bound."""
    number = f"{'at least ' if stopped else ''}{total:,} {what}"
    return number if total == 1 and not stopped else number + "s"


def listing(problems: list[Problem], total: int, stopped: bool = False) -> str:
    """The listed problems, one per line, how many more there were, and whether reading stopped short."""
    unlisted = total - _lines_of(problems)
    more = f"\n  ... and {counted(unlisted, stopped, 'more problem')}" if unlisted > 0 else ""
    if stopped:
        more += "\n  reading stopped there: fix these, then check the file again"
    return "\n".join(f"  - {p.render()}" for p in problems) + more


def _lines_of(problems: list[Problem]) -> int:
    """How many problems the listed ones stand for: a collapsed one counts each of its lines."""
    return sum(p.count for p in problems)


class InvalidSubmission(CodefestError):
    """A predictions file that cannot be scored; never changes a leaderboard."""

    def __init__(self, path: Path, problems: list[Problem], total: int, stopped: bool = False) -> None:
        self.path, self.problems, self.total, self.stopped = path, problems, total, stopped
        super().__init__(
            f"{path} is not a valid submission ({counted(total, stopped)}):\n" + listing(problems, total, stopped),
            "correct the file and submit it again; an invalid file uses none of your quota",
        )


@dataclass
class _Group:
    """One problem met on several lines: the lines kept as ranges, so 600 of them take one entry."""

    what: str
    fix: str
    ranges: list[list[int]]
    count: int = 1

    def add(self, line: int) -> None:
        self.count += 1
        last = self.ranges[-1]
        if line == last[1] + 1:
            last[1] = line
        elif line > last[1] and len(self.ranges) < SHOWN_RANGES:
            self.ranges.append([line, line])  # past SHOWN_RANGES, further lines are counted, not named

    def problem(self) -> Problem:
        if self.count == 1:
            return Problem(f"line {self.ranges[0][0]}", self.what, self.fix)
        spans = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in self.ranges)
        named = sum(b - a + 1 for a, b in self.ranges)
        where = f"lines {spans}" if named == self.count else f"lines {spans}, ... ({self.count} in all)"
        return Problem(where, self.what, self.fix, self.count)


_LINE = re.compile(r"line ([1-9][0-9]*)")


class Problems:
    """The problems of one file, the same problem on many lines collapsed into one entry with their range.

    Up to MAX_LISTED different problems are kept, and a count of all of them, so that a participant who wrote
    `label` for `labels` on 600 lines reads one line about it, and the next different problem after it.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.total = 0
        self.stopped = False  # a reader stopped before the end of the file: `total` is a lower bound
        self._entries: list[Problem | _Group] = []
        self._groups: dict[tuple[str, str], _Group] = {}

    def add(self, where: str, what: str, fix: str) -> None:
        """Count a problem; none once reading stopped, since what comes after (an id "missing" from the lines read)
        may be wrong about the lines left unread."""
        if self.stopped:
            return
        self.total += 1
        line = _LINE.fullmatch(where)
        if line is not None:
            group = self._groups.get((what, fix))
            if group is not None:
                group.add(int(line[1]))
                return
            if len(self._entries) < MAX_LISTED:
                group = _Group(what, fix, [[int(line[1])] * 2])
                self._groups[(what, fix)] = group
                self._entries.append(group)
            return
        if len(self._entries) < MAX_LISTED:
            self._entries.append(Problem(where, what, fix))

    @property
    def listed(self) -> list[Problem]:
        """The different problems, first met first; a collapsed one names its lines ("lines 3-600")."""
        return [entry.problem() if isinstance(entry, _Group) else entry for entry in self._entries]

    @property
    def full(self) -> bool:
        """Enough to report: a reader may stop early instead of scanning a broken file to its end.

        Repeats of a listed problem do not fill it (they only extend its range), up to MAX_COUNTED of them.
        """
        return len(self._entries) >= MAX_LISTED or self.total >= MAX_COUNTED

    def stop(self) -> bool:
        """Whether a reader should stop before its next line: once full, and remembered, so that the count is told
        as a lower bound ("at least 21 problems") and nothing more is added about a file read only in part."""
        self.stopped = self.stopped or self.full
        return self.stopped

    def __bool__(self) -> bool:
        return self.total > 0

    def check(self) -> None:
        if self.total:
            raise InvalidSubmission(self.path, self.listed, self.total, stopped=self.stopped)
