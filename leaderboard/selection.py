"""A team's choice of final submission, for challenges that rank selected submissions rather than each best one."""

from __future__ import annotations

import time
from pathlib import Path

from codefest.challenges.calendar import closed, open_phase
from codefest.challenges.spec import Challenge
from codefest.evaluation.records import TRUE, Status, Tag, where
from codefest.evaluation.roster import resolve
from codefest.evaluation.tracking import Tracker
from codefest.leaderboard.board import current_signature

from codefest.core.errors import CodefestError


def select_submission(spec: Challenge, root: Path, team: str, run_id: str, force: bool = False) -> str:
    """Tag the run as selected now; the latest selection of a team is the one ranked.

    Selections close with the last phase: after it, a choice made knowing the revealed private scores would pick
    the best of them. `force` (organisers) selects anyway, recorded on the run.
    """
    team = resolve(root, team)
    if spec.final_submission != "selected":
        raise CodefestError(
            f"challenge '{spec.slug}' ranks each team's best submission, so there is nothing to select",
            "declare `final_submission: selected` in the challenge to let teams choose",
        )
    if open_phase(spec, root) is None and not force:
        hint = f"codefest select {spec.slug} {run_id} --team {team} --force"
        raise closed(spec, root, "final submissions are selected during its phases only", hint)
    tracker = Tracker(spec.slug, root)
    runs = {r.run_id: r for r in tracker.runs(where({Tag.TEAM: team}))}
    listing = f"codefest leaderboard {spec.slug} --format json   (each entry's run_id), or the MLflow UI"
    if run_id not in runs:
        raise CodefestError(f"run {run_id} is not a submission of team '{team}' to '{spec.slug}'", listing)
    run = runs[run_id]
    if run.tags.get(Tag.STATUS) != Status.SCORED:
        raise CodefestError(f"run {run_id} has status '{run.tags.get(Tag.STATUS)}', not scored", listing)
    if run.tags.get(Tag.SIGNATURE) != current_signature(spec, root):
        raise CodefestError(
            f"run {run_id} was scored under an older evaluation signature and cannot be ranked",
            "select a submission scored under the current signature",
        )
    forced = {Tag.SELECTION_FORCED: TRUE} if force else {}
    tracker.set_tags(run_id, {Tag.SELECTED_AT: str(int(time.time() * 1000))} | forced)
    return f"{team}: run {run_id} is now the final submission on the leaderboard of '{spec.slug}'"
