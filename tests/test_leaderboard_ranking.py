"""The ranking rules on hand-made runs: direction, best and selected submissions, ties, what is never ranked."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from codefest.challenges.calendar import record_opening, utc_today
from codefest.challenges.discovery import load
from codefest.core.errors import CodefestError
from codefest.evaluation import roster
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.records import Tag
from codefest.evaluation.tracking import tracking_uri
from codefest.leaderboard.board import Board, build
from codefest.leaderboard.selection import select_submission
from tests.helpers import bundled_spec, write_challenge
from tests.runs import fake_build, record

PRIMARY, TIE1, TIE2 = "top_prediction@subclass", "three_guesses@subclass", "top_prediction@group"


@pytest.fixture
def home(home: Path, challenges: Path) -> Path:
    """Three challenges: IPC (higher is better), TER first (lower is better), IPC with selected submissions."""
    ipc = bundled_spec("ipc-classification") | {"slug": "rank-ipc"}
    ter = bundled_spec("patent-translation-en-fr") | {"slug": "rank-ter", "primary_metric": "ter"}
    ter["tie_breakers"] = ["bleu"]
    selected = ipc | {"slug": "rank-selected", "final_submission": "selected"}
    for spec in (ipc, ter, selected):
        write_challenge(challenges, spec)
    roster.add(home, ["office-a", "office-b"])
    record_opening("rank-selected", home, utc_today())
    return home


def _board(slug: str, home: Path, private: bool = False) -> Board:
    return build(load(slug), home, private=private, resamples=200)


def _order(board: Board) -> list[tuple[str, float]]:
    return [(e.team, e.score.value) for e in board.entries]


def test_each_team_is_ranked_by_its_best_submission_lower_is_better(home: Path) -> None:
    sig = fake_build("rank-ter", home)
    record(home, "rank-ter", "office-a", {"ter": 40.0, "bleu": 50.0}, at=1_000, signature=sig)
    best_a = record(home, "rank-ter", "office-a", {"ter": 30.0, "bleu": 40.0}, at=2_000, signature=sig)
    record(home, "rank-ter", "office-b", {"ter": 35.0, "bleu": 60.0}, at=1_500, signature=sig)
    record(home, "rank-ter", "office-c", {"ter": 50.0, "bleu": 70.0}, at=1_200, signature=sig)
    board = _board("rank-ter", home)
    assert _order(board) == [("office-a", 30.0), ("office-b", 35.0), ("office-c", 50.0)]
    first = board.entries[0]
    assert (first.rank, first.run_id, first.submissions, first.last_submission_ms) == (1, best_a, 2, 2_000)
    assert (first.score.ci_low, first.score.ci_high) == (29.9, 30.1)
    assert first.tie_breakers == {"bleu": 40.0}
    assert board.higher_is_better is False and board.runs_ranked == 4


def test_higher_is_better_puts_the_largest_score_first(home: Path) -> None:
    sig = fake_build("rank-ipc", home)
    record(home, "rank-ipc", "office-a", {PRIMARY: 0.5, TIE1: 0.5, TIE2: 0.5}, at=1_000, signature=sig)
    record(home, "rank-ipc", "office-b", {PRIMARY: 0.7, TIE1: 0.1, TIE2: 0.1}, at=2_000, signature=sig)
    assert [(e.rank, e.team) for e in _board("rank-ipc", home).entries] == [(1, "office-b"), (2, "office-a")]


def test_ties_go_to_the_tie_breakers_and_full_ties_share_a_rank(home: Path) -> None:
    sig = fake_build("rank-ipc", home)
    record(home, "rank-ipc", "office-a", {PRIMARY: 0.6, TIE1: 0.7, TIE2: 0.5}, at=2_000, signature=sig)
    record(home, "rank-ipc", "office-b", {PRIMARY: 0.6, TIE1: 0.8, TIE2: 0.1}, at=3_000, signature=sig)
    record(home, "rank-ipc", "office-c", {PRIMARY: 0.6, TIE1: 0.7, TIE2: 0.5}, at=1_000, signature=sig)
    record(home, "rank-ipc", "office-d", {PRIMARY: 0.6, TIE1: 0.7, TIE2: 0.6}, at=4_000, signature=sig)
    board = _board("rank-ipc", home)
    # c and a are equal on every ranking metric: one rank, the earlier submission listed first
    assert [e.team for e in board.entries] == ["office-b", "office-d", "office-c", "office-a"]
    assert [e.rank for e in board.entries] == [1, 2, 3, 3]


def test_three_teams_with_identical_scores_share_one_rank_and_one_rank_range(home: Path) -> None:
    sig = fake_build("rank-ipc", home)
    alternate = [1.0, 0.0] * 100
    teams = {
        "office-d": [1.0] * 180 + [0.0] * 20,  # 0.9
        # 0.5 each, right on different items: equal scores whose resamples differ. Alone, office-a's ranks would
        # range over 2-4 (office-e is right only where it is) and the other two's over 2-5
        "office-a": alternate,
        "office-b": [1.0] * 100 + [0.0] * 100,
        "office-c": [0.0, 1.0] * 100,
        "organisers": [1.0] * 120 + [0.0] * 80,  # 0.6
        "office-e": [0.0, 0.0, 0.0, *alternate[3:]],  # 0.49
    }
    for at, (team, scores) in enumerate(teams.items()):
        value = sum(scores) / len(scores)
        role = "baseline" if team == "organisers" else "participant"
        values = {PRIMARY: value, TIE1: 0.5, TIE2: 0.5}
        record(home, "rank-ipc", team, values, at=at, signature=sig, per_item={PRIMARY: scores}, role=role)
    board = _board("rank-ipc", home)
    rows = [(e.team, e.rank, e.rank_range, e.group) for e in board.entries]
    assert rows == [
        ("office-d", 1, (1, 1), 1),
        ("office-a", 2, (2, 5), 2),  # the earliest of the three first; one range, the span of theirs
        ("office-b", 2, (2, 5), 2),
        ("office-c", 2, (2, 5), 2),
        ("office-e", 5, (2, 5), 2),
        ("organisers", None, None, None),  # 0.6, above the three, yet apart and unranked
    ]


def test_a_team_s_equal_submissions_are_represented_by_the_earliest(home: Path) -> None:
    sig = fake_build("rank-ipc", home)
    values = {PRIMARY: 0.6, TIE1: 0.7, TIE2: 0.5}
    later = record(home, "rank-ipc", "office-a", values, at=5_000, signature=sig)
    earlier = record(home, "rank-ipc", "office-a", values, at=4_000, signature=sig)
    entry = _board("rank-ipc", home).entries[0]
    assert entry.run_id == earlier != later
    assert (entry.submitted_ms, entry.last_submission_ms) == (4_000, 5_000)


def test_only_scored_runs_under_the_current_signature_are_ranked(home: Path) -> None:
    sig = fake_build("rank-ipc", home)
    good = {PRIMARY: 0.5, TIE1: 0.5, TIE2: 0.5}
    great = {PRIMARY: 0.99, TIE1: 0.99, TIE2: 0.99}
    record(home, "rank-ipc", "office-a", good, at=1_000, signature=sig)
    record(home, "rank-ipc", "office-a", great, at=2_000, signature=sig, status="invalid")
    record(home, "rank-ipc", "office-b", great, at=2_000, signature=sig, status="running")
    record(home, "rank-ipc", "office-c", great, at=2_000, signature=sig.replace("bootstrap:1000", "bootstrap:10"))
    record(home, "rank-ipc", "office-d", great, at=2_000, signature=sig, status="timeout")
    record(home, "rank-ipc", "office-e", {TIE1: 0.99}, at=2_000, signature=sig)  # no primary metric
    board = _board("rank-ipc", home)
    assert _order(board) == [("office-a", 0.5)]
    assert board.entries[0].submissions == 1 and board.runs_ranked == 1


def test_the_baseline_is_listed_apart_after_the_ranked_entries_and_takes_no_rank(home: Path) -> None:
    sig = fake_build("rank-ipc", home)
    record(home, "rank-ipc", "organisers", {PRIMARY: 0.8, TIE1: 0, TIE2: 0}, at=1_000, signature=sig, role="baseline")
    record(home, "rank-ipc", "office-a", {PRIMARY: 0.9, TIE1: 0, TIE2: 0}, at=2_000, signature=sig)
    record(home, "rank-ipc", "office-b", {PRIMARY: 0.5, TIE1: 0, TIE2: 0}, at=3_000, signature=sig)
    entries = _board("rank-ipc", home).entries
    assert [(e.team, e.rank, e.baseline) for e in entries] == [
        ("office-a", 1, False),
        ("office-b", 2, False),
        ("organisers", None, True),  # after every ranked entry, though it scores between them
    ]


def test_a_selected_submission_replaces_the_best_where_the_challenge_says_so(home: Path) -> None:
    sig = fake_build("rank-selected", home)
    record(home, "rank-selected", "office-a", {PRIMARY: 0.9, TIE1: 0, TIE2: 0}, at=1_000, signature=sig)
    values = {PRIMARY: 0.6, TIE1: 0, TIE2: 0}
    chosen = record(home, "rank-selected", "office-a", values, at=2_000, signature=sig, mlflow=True)
    record(home, "rank-selected", "office-b", {PRIMARY: 0.7, TIE1: 0, TIE2: 0}, at=1_500, signature=sig, mlflow=True)
    record(home, "rank-selected", "office-b", {PRIMARY: 0.8, TIE1: 0, TIE2: 0}, at=1_600, signature=sig)
    message = select_submission(load("rank-selected").spec, home, "office-a", chosen)
    assert chosen in message
    entries = _board("rank-selected", home).entries
    assert [(e.team, e.score.value, e.choice) for e in entries] == [
        ("office-b", 0.8, "best (none selected)"),
        ("office-a", 0.6, "selected"),
    ]
    assert entries[1].run_id == chosen and entries[1].submissions == 2
    assert Tag.SELECTED_AT in MlflowClient(tracking_uri(home)).get_run(chosen).data.tags  # seen in the MLflow UI too
    ledger = Ledger.open(None, home)
    earlier = ledger.submissions("rank-selected", "office-b")[-1]  # newest first: its 0.7 submission
    ledger.close()
    select_submission(load("rank-selected").spec, home, "office-b", earlier.id)  # named by its ledger id
    entries = _board("rank-selected", home).entries
    assert [(e.team, e.score.value, e.submission_id) for e in entries] == [
        ("office-b", 0.7, earlier.id),
        ("office-a", 0.6, entries[1].submission_id),
    ]


def test_selecting_checks_the_team_the_status_and_the_challenge(home: Path) -> None:
    sig = fake_build("rank-selected", home)
    fake_build("rank-ipc", home)
    theirs = record(home, "rank-selected", "office-b", {PRIMARY: 0.7}, at=1_000, signature=sig)
    invalid = record(home, "rank-selected", "office-a", {PRIMARY: 0.7}, at=1_000, signature=sig, status="invalid")
    spec = load("rank-selected").spec
    with pytest.raises(CodefestError, match="is not a submission of team 'office-a'"):
        select_submission(spec, home, "office-a", theirs)
    with pytest.raises(CodefestError, match="has status 'invalid', not scored"):
        select_submission(spec, home, "office-a", invalid)
    with pytest.raises(CodefestError, match="ranks each team's best submission"):
        select_submission(load("rank-ipc").spec, home, "office-b", theirs)


def test_per_item_scores_give_tied_groups_and_rank_ranges(home: Path) -> None:
    sig = fake_build("rank-ipc", home)
    strong = [1.0] * 180 + [0.0] * 20  # 0.90
    weak = [1.0, 0.0] * 100  # 0.50
    weaker = [0.0, *weak[1:]]  # 0.495: one item fewer than weak
    for team, scores, at in (("a", strong, 1), ("b", strong, 2), ("c", weak, 3), ("d", weaker, 4)):
        value = sum(scores) / len(scores)
        record(home, "rank-ipc", f"office-{team}", {PRIMARY: value}, at=at, signature=sig, per_item={PRIMARY: scores})
    board = _board("rank-ipc", home)
    assert [e.team for e in board.entries] == ["office-a", "office-b", "office-c", "office-d"]
    assert [e.group for e in board.entries] == [1, 1, 2, 2]
    # a and b are equal: one rank, and on every resample equal again; c is never below d, and d ties c when its
    # one different item is not drawn (about 37% of resamples)
    assert [e.rank for e in board.entries] == [1, 1, 3, 4]
    assert [e.rank_range for e in board.entries] == [(1, 1), (1, 1), (3, 3), (3, 4)]
    assert board.notes == []


def test_without_per_item_scores_the_board_says_why_it_has_no_groups(home: Path) -> None:
    sig = fake_build("rank-ipc", home)
    record(home, "rank-ipc", "office-a", {PRIMARY: 0.5}, at=1, signature=sig, per_item={PRIMARY: [1.0, 0.0]})
    record(home, "rank-ipc", "office-b", {PRIMARY: 0.4}, at=2, signature=sig)
    board = _board("rank-ipc", home)
    assert [e.group for e in board.entries] == [None, None]
    assert board.notes == [f"no per-item scores of {PRIMARY} for every entry: no rank ranges or tied groups"]


def test_the_private_view_ranks_the_publicly_chosen_submissions_by_private_scores(home: Path) -> None:
    sig = fake_build("rank-ipc", home)
    zero = {TIE1: 0, TIE2: 0}

    def submit(team: str, public: float, private: float, at: int) -> str:
        return record(
            home, "rank-ipc", team, {PRIMARY: public, **zero}, at=at, signature=sig, private={PRIMARY: private, **zero}
        )

    submit("office-a", 0.9, 0.5, 1)
    submit("office-a", 0.8, 0.95, 2)  # better in private, but not the team's best on public scores
    submit("office-b", 0.7, 0.8, 3)
    submit("office-c", 0.6, 0.6, 4)
    public = _board("rank-ipc", home)
    assert _order(public) == [("office-a", 0.9), ("office-b", 0.7), ("office-c", 0.6)]
    assert all(e.public_rank is None and e.rank_change is None for e in public.entries)
    private = _board("rank-ipc", home, private=True)
    assert _order(private) == [("office-b", 0.8), ("office-c", 0.6), ("office-a", 0.5)]
    assert [(e.public_rank, e.rank, e.rank_change) for e in private.entries] == [(2, 1, 1), (3, 2, 1), (1, 3, -2)]
    assert private.history["office-a"] == [(1, 0.5), (2, 0.95)]
    assert public.history["office-a"] == [(1, 0.9), (2, 0.8)]


def test_a_challenge_without_scored_submissions_has_an_empty_board(home: Path) -> None:
    sig = fake_build("rank-ipc", home)
    record(home, "rank-ipc", "office-a", {PRIMARY: 0.5}, at=1, signature=sig, status="invalid")
    for private in (False, True):
        board = _board("rank-ipc", home, private=private)
        assert (board.entries, board.history, board.runs_ranked, board.notes) == ([], {}, 0, [])


def test_a_board_needs_the_challenge_built(home: Path) -> None:
    with pytest.raises(CodefestError, match="is not built") as refused:
        _board("rank-ipc", home)
    assert "codefest data build rank-ipc" in refused.value.render()
