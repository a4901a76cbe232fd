"""When a challenge's phases are open: its dated phases, or relative ones counted from the day the event opened.

The opening day of a challenge with relative phases is the day it is first built in a workspace, recorded there
once, so that rebuilding or moving to another day never shifts the event's calendar.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from codefest.challenges.spec import Challenge, Window
from codefest.core.errors import CodefestError
from codefest.core.workspace import Workspace


def utc_today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def record_opening(slug: str, root: Path, day: dt.date) -> dt.date:
    """Record `day` as the opening day unless one is recorded already; the recorded day wins."""
    path = Workspace(root).opened(slug)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return opening_day(slug, root)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(day.isoformat() + "\n")
    return day


def opening_day(slug: str, root: Path) -> dt.date:
    path = Workspace(root).opened(slug)
    try:
        return dt.date.fromisoformat(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        raise CodefestError(
            f"challenge '{slug}' has not opened in {root}", f"build it first: codefest data build {slug}"
        ) from None
    except ValueError:
        raise CodefestError(
            f"{path} does not hold a date (YYYY-MM-DD)", f"write the event's opening day into {path}"
        ) from None


def schedule(spec: Challenge, root: Path) -> list[Window]:
    """The phases as dates in this workspace."""
    opened = opening_day(spec.slug, root) if spec.relative_phases else dt.date.min
    return spec.schedule(opened)


def open_phase(spec: Challenge, root: Path, day: dt.date | None = None) -> Window | None:
    """The phase accepting submissions on `day` (today, UTC), or None."""
    today = day or utc_today()
    return next((w for w in schedule(spec, root) if w.start <= today <= w.end), None)


def describe(windows: list[Window]) -> str:
    return "; ".join(str(w) for w in windows)


def when(spec: Challenge, root: Path) -> str:
    """Today and the phases, for messages: what a user needs to see why something is refused."""
    return f"today is {utc_today()} UTC; phases: {describe(schedule(spec, root))}"


def closed(spec: Challenge, root: Path, what: str, force_hint: str) -> CodefestError:
    """The refusal for an action outside every open phase, saying when the phases are."""
    state = "has not opened yet" if utc_today() < schedule(spec, root)[0].start else "is over"
    return CodefestError(
        f"challenge '{spec.slug}' {state} ({when(spec, root)}): {what}",
        f"organisers can still do it, recorded as forced: {force_hint}",
    )


def event_over(spec: Challenge, root: Path, day: dt.date | None = None) -> bool:
    """Whether the final phase has ended: the private leaderboard may be revealed."""
    return (day or utc_today()) > schedule(spec, root)[-1].end
