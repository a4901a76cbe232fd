"""Who submitted what: team names, submission fingerprints, and the quota a challenge allows."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from codefest.challenges.calendar import utc_today
from codefest.challenges.spec import SubmissionLimits
from codefest.core.errors import CodefestError
from codefest.evaluation.pilot_tree import Entry, walk
from codefest.shared_datasets.files import sha256_file

TEAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_team(name: str) -> str:
    if not TEAM.match(name):
        raise CodefestError(
            f"team name {name!r} is not allowed",
            "use 1 to 64 letters, digits, '-', '_' or '.', starting with a letter or digit",
        )
    return name


def fingerprint(path: Path) -> str:
    """sha256 of a predictions file, or of a pilot folder's entries (names and contents, in a fixed order).

    A folder's entries are those the sandbox copies (`codefest.evaluation.pilot_tree`: one ignore list, one bounded
    walk), so two pilots that run different code never share a fingerprint, and an oversized folder is refused before
    any of it is read. Links are never followed: a link to the vault would otherwise be read, here or as the
    predictions.
    """
    if path.is_symlink():
        raise CodefestError(f"{path} is a link", "submit the predictions file or the pilot folder itself")
    if path.is_file():
        return sha256_file(path)
    if not path.is_dir():
        raise CodefestError(f"{path} not found", "give the path of the predictions file or the pilot folder")
    digest = hashlib.sha256()
    for entry in _entries(path):
        name, where = os.fsencode(entry.relative), path / entry.relative
        if entry.kind == "link":
            digest.update(name + b"\0link\0" + os.fsencode(os.readlink(where)) + b"\0")
        elif entry.kind == "file":
            digest.update(name + b"\0" + bytes.fromhex(sha256_file(where)) + b"\0")
        else:  # a folder, even empty, is copied: it counts
            digest.update(name + b"\0folder\0")
    return digest.hexdigest()


def _entries(folder: Path) -> list[Entry]:
    """The files, links and folders the sandbox would copy, sorted; refused past the pilot folder's limits."""
    return walk(folder)


@dataclass(frozen=True)
class Quota:
    used_today: int
    used_total: int
    limits: SubmissionLimits

    @property
    def remaining(self) -> int:
        return max(0, min(self.limits.per_team_per_day - self.used_today, self.limits.total - self.used_total))

    def describe(self) -> str:
        return (
            f"{self.remaining} submission(s) left "
            f"({self.used_today}/{self.limits.per_team_per_day} today, {self.used_total}/{self.limits.total} in all)"
        )

    def refusal(self) -> CodefestError:
        if self.used_total >= self.limits.total:
            return CodefestError(
                f"the team has used all {self.limits.total} submissions of this challenge",
                "no more submissions are possible; ask the organisers if you think this is wrong",
            )
        tomorrow = dt.datetime.combine(utc_today() + dt.timedelta(days=1), dt.time(), dt.UTC)
        return CodefestError(
            f"the team has used its {self.limits.per_team_per_day} submissions of today (UTC)",
            f"submit again from {tomorrow:%Y-%m-%d %H:%M} UTC",
        )


def day_start_ms(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000)
