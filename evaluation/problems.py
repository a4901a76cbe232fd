"""Validation problems, collected rather than raised one by one, so a participant fixes a file in one pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from codefest.core.errors import CodefestError
from codefest.core.registry import nearest

MAX_LISTED = 20
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
    where: str  # "line 12", "id 'APP-0000042'", "topic PAC-00007", or "file"
    what: str
    fix: str

    def render(self) -> str:
        return f"{self.where}: {self.what}. Fix: {self.fix}"


def listing(problems: list[Problem], total: int) -> str:
    """The listed problems, one per line, and how many more there were."""
    more = f"\n  ... and {total - len(problems)} more problems" if total > len(problems) else ""
    return "\n".join(f"  - {p.render()}" for p in problems) + more


class InvalidSubmission(CodefestError):
    """A predictions file that cannot be scored; never changes a leaderboard."""

    def __init__(self, path: Path, problems: list[Problem], total: int) -> None:
        self.path, self.problems, self.total = path, problems, total
        super().__init__(
            f"{path} is not a valid submission ({total} problem{'s' if total != 1 else ''}):\n"
            + listing(problems, total),
            "correct the file and submit it again; an invalid file uses none of your quota",
        )


class Problems:
    """Up to MAX_LISTED problems of one file, and a count of all of them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listed: list[Problem] = []
        self.total = 0

    def add(self, where: str, what: str, fix: str) -> None:
        self.total += 1
        if len(self.listed) < MAX_LISTED:
            self.listed.append(Problem(where, what, fix))

    @property
    def full(self) -> bool:
        """Enough to report: a reader may stop early instead of scanning a broken file to its end."""
        return self.total >= MAX_LISTED

    def __bool__(self) -> bool:
        return self.total > 0

    def check(self) -> None:
        if self.total:
            raise InvalidSubmission(self.path, self.listed, self.total)
