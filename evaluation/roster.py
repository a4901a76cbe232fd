"""The teams of an event, as the organisers enrolled them in the ledger: a team is who the ledger says, not what a
folder is named. A submission from a team not enrolled is refused.

Names follow the ledger's rules (`codefest.evaluation.ledger.names`): matched whole, compared without regard to case.
A workspace from before the ledger kept its roster in teams.json: the first time its ledger is opened here with no
team, those teams are enrolled in it (without tokens: `codefest teams token TEAM` issues one), and teams.json is
read no more.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from codefest.core.errors import CodefestError
from codefest.core.workspace import Workspace
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.ledger.names import RULE, TEAM, check_name, shown

__all__ = ["RULE", "TEAM", "add", "check_name", "new_token", "open_ledger", "resolve", "shown", "teams"]


def open_ledger(root: Path) -> Ledger:
    """The workspace's ledger (CODEFEST_DATABASE_URL, else ledger.db in it), with an old teams.json imported once.

    A workspace that cannot be written (read-only, a full disk) is said so with its fix, as MLflow's store is.
    """
    try:
        ledger = Ledger.open(None, root)
    except SQLAlchemyError as error:
        problem = _disk_problem(root)
        if problem is not None:
            raise problem from error
        raise
    _import_roster(ledger, root)
    return ledger


def _disk_problem(root: Path) -> CodefestError | None:
    """Why nothing can be written in the workspace, found by writing a page there; None when it can be."""
    try:
        with tempfile.TemporaryFile(dir=root) as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        from codefest.evaluation.tracking import storage_problem  # loads MLflow (seconds): only when it is needed

        return storage_problem(error, root)
    return None


def _import_roster(ledger: Ledger, root: Path) -> None:
    path = Workspace(root).teams
    if not path.is_file() or ledger.teams():
        return
    try:
        names = [str(name) for name in json.loads(path.read_text(encoding="utf-8"))["teams"]]
    except (ValueError, KeyError, TypeError):
        raise CodefestError(
            f"the old roster {path} is damaged", "restore it, or remove it and enrol the teams: codefest teams add"
        ) from None
    for name in names:
        with contextlib.suppress(CodefestError):  # enrolled meanwhile by another process
            ledger.add_team(name)


@contextlib.contextmanager
def _ledger(root: Path, ledger: Ledger | None) -> Iterator[Ledger]:
    """The given ledger, else the workspace's, closed after use."""
    if ledger is not None:
        yield ledger
        return
    opened = open_ledger(root)
    try:
        yield opened
    finally:
        opened.close()


def teams(root: Path, ledger: Ledger | None = None) -> list[str]:
    """The enrolled teams, as they were spelled when enrolled, in order of enrolment."""
    with _ledger(root, ledger) as found:
        return found.teams()


def resolve(root: Path, name: str, ledger: Ledger | None = None) -> str:
    """The enrolled spelling of `name`; an unknown or malformed name is refused with the fix."""
    check_name(name)
    enrolled = {team.casefold(): team for team in teams(root, ledger)}
    found = enrolled.get(name.casefold())
    if found is None:
        raise CodefestError(
            f"team {shown(name)} is not on the event's roster",
            f"organisers enrol a team with: codefest teams add {name}",
        )
    return found


def add(root: Path, names: list[str], ledger: Ledger | None = None) -> dict[str, str]:
    """Enrol the teams not enrolled yet; returns each new team's token, which is shown once (only its hash is kept).

    A name enrolled already in another case is refused before any is enrolled; one enrolled as spelled is skipped.
    """
    for name in names:
        check_name(name)
    with _ledger(root, ledger) as found:
        known = {team.casefold(): team for team in found.teams()}
        for name in names:
            enrolled = known.get(name.casefold())
            if enrolled is not None and enrolled != name:
                raise CodefestError(
                    f"team {shown(name)} is already enrolled as {shown(enrolled)}",
                    "team names are compared without regard to case: use the enrolled name",
                )
        tokens: dict[str, str] = {}
        for name in names:
            if name.casefold() not in known and name.casefold() not in {n.casefold() for n in tokens}:
                tokens[name] = found.add_team(name)
        return tokens


def new_token(root: Path, name: str, ledger: Ledger | None = None) -> str:
    """A new token for an enrolled team; its earlier tokens stop working."""
    with _ledger(root, ledger) as found:
        return found.new_token(resolve(root, name, found))
