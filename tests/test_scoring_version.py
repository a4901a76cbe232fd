"""The scoring version: golden scores that must not move without a bump, and leaderboards that outlive releases.

When a golden test fails because scores moved: raise SCORING_VERSION in evaluation/signature.py, note the bump in
CHANGELOG.md, and regenerate tests/golden/scores.json with `.venv/bin/python -m tests.golden`.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import codefest
from codefest.challenges.discovery import load
from codefest.evaluation import roster
from codefest.evaluation import signature as signing
from codefest.evaluation.evaluate import Evaluator
from codefest.evaluation.records import Tag
from codefest.evaluation.scoring import score_files
from codefest.evaluation.signature import SCORING_VERSION
from codefest.evaluation.tracking import Tracker
from codefest.leaderboard.board import Board, build
from tests.events import SLUG, TEAMS, Event, evaluated_event
from tests.golden import CASES, GOLDEN, REGENERATE, computed, moved, stored
from tests.golden.__main__ import dumped, main
from tests.golden.inputs import FILES, contents
from tests.helpers import right_every

CHANGELOG = Path(__file__).parents[1] / "CHANGELOG.md"
BUMP = (
    f"raise SCORING_VERSION in evaluation/signature.py, note the bump in CHANGELOG.md and regenerate with {REGENERATE}"
)


def test_the_golden_input_files_are_the_ones_their_generator_writes() -> None:
    assert {p.name: p.read_text(encoding="utf-8") for p in FILES.iterdir()} == contents()


def test_scores_of_the_golden_files_have_not_moved() -> None:
    old, new = stored(), computed()
    assert set(old["cases"]) == set(CASES), f"the golden cases changed: regenerate with {REGENERATE}"
    for name, case in new["cases"].items():
        assert old["cases"][name]["inputs_sha256"] == case["inputs_sha256"], f"{name}: its input files changed"
    changes = moved(old, new)
    assert not changes, "the scores moved, so " + BUMP + ":\n" + "\n".join(changes)


def test_the_golden_scores_were_computed_under_the_current_scoring_version() -> None:
    version = stored()["scoring_version"]
    assert version == SCORING_VERSION, (
        f"SCORING_VERSION is {SCORING_VERSION}, but {GOLDEN.name} was computed under {version}: regenerate with "
        f"{REGENERATE} and note the bump in CHANGELOG.md"
    )


def test_the_changelog_lists_the_current_scoring_version() -> None:
    text = CHANGELOG.read_text(encoding="utf-8")
    assert re.search(rf"scoring version {re.escape(SCORING_VERSION)}\b", text, re.IGNORECASE), (
        f"CHANGELOG.md does not mention scoring version {SCORING_VERSION}"
    )


def test_regenerating_refuses_moved_scores_under_the_same_version(tmp_path: Path) -> None:
    golden = tmp_path / "scores.json"
    old = stored()
    old["cases"]["search"]["metrics"]["map"][0] += 1e-12
    golden.write_text(dumped(old), encoding="utf-8")
    assert main(golden) == 1 and stored(golden) == old
    old["scoring_version"] = "0"  # the version was raised since: the new scores are written
    golden.write_text(dumped(old), encoding="utf-8")
    assert main(golden) == 0 and golden.read_text(encoding="utf-8") == GOLDEN.read_text(encoding="utf-8")


def _release(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    """A new package release: every loaded codefest module that holds the package version sees `version`."""
    current = codefest.__version__
    for name, module in list(sys.modules.items()):
        if (name == "codefest" or name.startswith("codefest.")) and getattr(module, "__version__", None) == current:
            monkeypatch.setattr(module, "__version__", version)


def test_the_signature_names_the_scoring_version_and_not_the_package_version(monkeypatch: pytest.MonkeyPatch) -> None:
    case = CASES["search"]

    def signed() -> str:
        return score_files(case.task, FILES / case.gold, FILES / case.predictions, resamples=10).signature

    before = signed()
    assert before.startswith(f"scoring:{SCORING_VERSION}|task:search|bootstrap:10:12345|")
    _release(monkeypatch, "99.0.0")
    assert signed() == before and "99.0.0" not in before


@pytest.fixture
def event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Event:
    """The small evaluated event of the leaderboard tests, in this test's own workspace, plus one team to come."""
    event = evaluated_event(tmp_path)
    for name, value in event.env().items():
        monkeypatch.setenv(name, value)
    roster.add(event.home, ["office-d"])
    return event


def _evaluate_one_more(event: Event, tmp_path: Path) -> str:
    """office-d's submission, evaluated by whatever codefest is installed now; returns its run id."""
    outcome = Evaluator(load(SLUG), event.home).predictions(
        "office-d", right_every(event.home, SLUG, tmp_path / "office-d.jsonl", 4)
    )
    assert outcome.status == "scored", outcome.message
    return outcome.run_id


def _board(event: Event) -> Board:
    return build(load(SLUG), event.home, resamples=100)


def test_a_release_without_a_scoring_change_keeps_every_leaderboard_entry(
    event: Event, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _board(event)
    assert {e.team for e in before.entries} == set(TEAMS)
    _release(monkeypatch, "0.2.0")
    run_id = _evaluate_one_more(event, tmp_path)
    run = Tracker(SLUG, event.home).client.get_run(run_id)
    assert run.data.tags[Tag.HARNESS_VERSION] == "0.2.0"  # the release is recorded on the run, as provenance
    after = _board(event)
    assert after.signature == before.signature and after.runs_ranked == before.runs_ranked + 1
    assert {e.team for e in after.entries} == {*TEAMS, "office-d"}
    kept = {e.team: (e.run_id, e.score) for e in after.entries if e.team != "office-d"}
    assert kept == {e.team: (e.run_id, e.score) for e in before.entries}


def test_a_new_scoring_version_leaves_the_earlier_runs_unranked(
    event: Event, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _board(event)
    monkeypatch.setattr(signing, "SCORING_VERSION", "2")
    _evaluate_one_more(event, tmp_path)
    after = _board(event)
    assert after.signature.startswith("scoring:2|") and before.signature.startswith(f"scoring:{SCORING_VERSION}|")
    assert [e.team for e in after.entries] == ["office-d"] and after.runs_ranked == 1
