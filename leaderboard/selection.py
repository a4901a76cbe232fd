"""A team's choice of final submission, for challenges that rank selected submissions rather than each best one."""

from __future__ import annotations

import re
import time
from pathlib import Path

from codefest.challenges.calendar import closed, open_phase
from codefest.challenges.spec import Challenge
from codefest.core.errors import CodefestError, printable
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.records import TRUE, Tag
from codefest.evaluation.roster import resolve
from codefest.evaluation.tracking import Tracker
from codefest.leaderboard.board import current_signature

SUBMISSION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
PAGE = 100


def select_submission(
    spec: Challenge, root: Path, team: str, chosen: str, force: bool = False, ledger: Ledger | None = None
) -> str:
    """Record in the ledger that `chosen` (a submission id, or its public MLflow run id) is the team's final
    submission; the latest selection of a team is the one ranked. Its MLflow run is tagged too, for those who
    browse the runs.

    Selections close with the last phase: after it, a choice made knowing the revealed private scores would pick
    the best of them. `force` (organisers) selects anyway, recorded with the selection.
    """
    team = resolve(root, team)
    if spec.final_submission != "selected":
        raise CodefestError(
            f"challenge '{spec.slug}' ranks each team's best submission, so there is nothing to select",
            "declare `final_submission: selected` in the challenge to let teams choose",
        )
    if open_phase(spec, root) is None and not force:
        hint = f"codefest select {spec.slug} {chosen} --team {team} --force"
        raise closed(spec, root, "final submissions are selected during its phases only", hint)
    opened = ledger or Ledger.open(None, root)
    try:
        id = _submission_id(opened, spec.slug, team, chosen)
        selected = opened.select(spec.slug, team, id, forced=force, signature=current_signature(spec, root))
    finally:
        if ledger is None:
            opened.close()
    if selected.public_run_id:
        forced = {Tag.SELECTION_FORCED: TRUE} if force else {}
        selected_ms = int((selected.selected_at.timestamp() if selected.selected_at else time.time()) * 1000)
        Tracker(spec.slug, root).set_tags(selected.public_run_id, {Tag.SELECTED_AT: str(selected_ms)} | forced)
    return f"{team}: {_named(chosen)} is now the final submission on the leaderboard of '{spec.slug}'"


def _submission_id(ledger: Ledger, slug: str, team: str, chosen: str) -> str:
    """The ledger's id of a submission named by its id or by its public MLflow run id."""
    if SUBMISSION_ID.match(chosen):
        return chosen
    offset = 0
    while page := ledger.submissions(slug, team, offset, PAGE):
        for submission in page:
            if submission.public_run_id == chosen:
                return submission.id
        offset += PAGE
    raise CodefestError(
        f"{_named(chosen)} is not a submission of team '{team}' to '{slug}'",
        f"codefest leaderboard {slug} --format json   (each entry's submission_id or run_id), or the MLflow UI",
    )


def _named(chosen: str) -> str:
    return f"submission {chosen}" if SUBMISSION_ID.match(chosen) else f"run {printable(chosen)}"
