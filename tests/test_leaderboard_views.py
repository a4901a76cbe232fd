"""The leaderboard command on a really evaluated event: its views, what it publishes, and what it escapes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient
from rich.console import Console

from codefest.challenges.discovery import load
from codefest.evaluation.records import Kind, Part, Tag, where
from codefest.evaluation.tracking import tracking_uri
from codefest.leaderboard.board import Board, Entry, Score, build
from codefest.leaderboard.export import as_csv, as_json, cell
from codefest.leaderboard.page import render
from codefest.leaderboard.terminal import table
from tests.events import SLUG, Event
from tests.helpers import bundle_test_ids, vault_test_labels
from tests.test_cli import assert_clean_failure, codefest, codefest_many

pytestmark = pytest.mark.slow  # evaluates an event and publishes its pages to MLflow


@pytest.fixture(scope="module")
def boards(evaluated: Event) -> dict[str, dict]:
    """The public and private boards as their JSON export gives them (built in process: a subprocess is slow)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in evaluated.env().items():
            patch.setenv(name, value)
        challenge = load(SLUG)
        return {
            view: json.loads(as_json(build(challenge, evaluated.home, private=view == "private")))
            for view in ("public", "private")
        }


def _public_items(evaluated: Event) -> tuple[list[str], dict[str, list[str]]]:
    """(test ids in bundle order, public ids' gold labels)."""
    public = set(json.loads((evaluated.home / f"vault/{SLUG}/partition.json").read_text())["public"])
    gold = vault_test_labels(evaluated.home, SLUG)
    return bundle_test_ids(evaluated.home, SLUG), {item: labels for item, labels in gold.items() if item in public}


def test_json_ranks_equal_teams_equal_and_lists_the_baseline_apart(evaluated: Event, boards: dict) -> None:
    board = boards["public"]
    entries = board["entries"]
    assert [(e["team"], e["rank"], e["baseline"]) for e in entries] == [
        ("office-a", 1, False),
        ("office-c", 1, False),  # the same file as office-a: the same rank, listed after it as submitted later
        ("office-b", 3, False),
        ("organisers", None, True),  # apart, after the ranked entries
    ]
    a, c, b, baseline = entries
    assert a["score"] == c["score"] and a["group"] == c["group"] == 1
    assert (a["rank_range"], c["rank_range"]) == ([1, 1], [1, 1])
    assert (baseline["rank_range"], baseline["group"]) == (None, None)
    assert a["score"]["ci_low"] < a["score"]["value"] < a["score"]["ci_high"]
    assert b["score"]["value"] < a["score"]["value"] and board["runs_ranked"] == 4
    client = MlflowClient(tracking_uri(evaluated.home))
    assert client.get_run(a["run_id"]).data.metrics["top_prediction_at_subclass"] == a["score"]["value"]


def test_the_breakdown_per_ipc_section_matches_a_count_by_hand(evaluated: Event, boards: dict) -> None:
    ids, public_gold = _public_items(evaluated)
    right = {item for n, item in enumerate(ids) if n % 2 == 0}  # office-a is right on every second item
    expected: dict[str, list[int]] = {}
    for item, labels in public_gold.items():
        expected.setdefault(labels[0][0], []).append(item in right)
    office_a = next(e for e in boards["public"]["entries"] if e["team"] == "office-a")
    groups = office_a["breakdown"]["groups"]
    assert office_a["breakdown"]["by"] == "IPC section"
    assert {s: g["n"] for s, g in groups.items()} == {s: len(v) for s, v in expected.items()}
    for section, hits in expected.items():
        assert groups[section]["value"] == sum(hits) / len(hits)


def test_the_private_view_shows_private_scores_and_rank_changes(evaluated: Event, boards: dict) -> None:
    public = {e["team"]: e for e in boards["public"]["entries"]}
    private = boards["private"]
    assert private["view"] == "private"
    for entry in private["entries"]:
        assert entry["run_id"] == public[entry["team"]]["run_id"]  # the same submissions, chosen publicly
        assert entry["scored_run_id"] != entry["run_id"]
        assert entry["public_rank"] == public[entry["team"]]["rank"]
        if entry["rank"] is not None:
            assert entry["rank_change"] == entry["public_rank"] - entry["rank"]
    client = MlflowClient(tracking_uri(evaluated.home))
    first = private["entries"][0]
    private_run = client.get_run(first["scored_run_id"])
    assert private_run.data.metrics["top_prediction_at_subclass"] == first["score"]["value"]
    assert client.get_experiment(private_run.info.experiment_id).name == f"{SLUG}/private"


Runs = list[tuple[str, int | None]]
Read = tuple[Runs, list[subprocess.CompletedProcess[str]], Runs]  # runs before, the reads, runs after


@pytest.fixture(scope="module")
def read(evaluated: Event) -> Read:
    """The runs in MLflow, then `codefest leaderboard` read as csv, public and private, and as the table, one command
    after the other, then the runs again."""
    client = MlflowClient(tracking_uri=tracking_uri(evaluated.home))
    experiments = [client.get_experiment_by_name(name).experiment_id for name in (SLUG, f"{SLUG}/private")]

    def runs() -> Runs:
        return sorted((r.info.run_id, r.info.end_time) for r in client.search_runs(experiments))

    before = runs()
    commands = [["leaderboard", SLUG, *view, "--format", "csv"] for view in ([], ["--private"])]
    results = codefest_many(*commands, ["leaderboard", SLUG, "--no-publish"], env=evaluated.env())
    return before, results, runs()


def test_reading_the_leaderboard_writes_nothing_to_mlflow(read: Read) -> None:
    before, results, after = read
    for result in results[:2]:
        assert result.returncode == 0 and "published" not in result.stderr, result.stderr
    assert after == before


def test_the_table_names_every_team_and_marks_the_baseline(read: Read) -> None:
    result = read[1][2]
    assert result.returncode == 0, result.stderr
    for text in ("office-a", "office-b", "office-c", "organisers (baseline)", "public leaderboard"):
        assert text in result.stdout


def test_the_page_is_written_and_published_to_the_right_experiment(evaluated: Event, tmp_path: Path) -> None:
    client = MlflowClient(tracking_uri(evaluated.home))
    page = tmp_path / "board.html"
    result = codefest("leaderboard", SLUG, "--format", "html", "--out", str(page), "--publish", env=evaluated.env())
    assert result.returncode == 0, result.stderr
    assert "office-a" in page.read_text() and "published to the challenge's experiment" in result.stderr
    public = client.get_experiment_by_name(SLUG).experiment_id
    private = client.get_experiment_by_name(f"{SLUG}/private").experiment_id
    pages = where({Tag.KIND: Kind.LEADERBOARD})
    runs = client.search_runs([public], pages)
    assert [(r.info.run_name, r.data.tags[Tag.VIEW]) for r in runs] == [("leaderboard", "public")]
    published = Path(client.download_artifacts(runs[0].info.run_id, "leaderboard.html", str(tmp_path)))
    assert published.read_text() == page.read_text()

    result = codefest("leaderboard", SLUG, "--private", "--format", "csv", "--publish", env=evaluated.env())
    assert result.returncode == 0 and "published to the private experiment" in result.stderr
    assert [r.data.tags[Tag.VIEW] for r in client.search_runs([public], pages)] == ["public"]
    assert [r.data.tags[Tag.VIEW] for r in client.search_runs([private], pages)] == ["private"]

    result = codefest("leaderboard", SLUG, "--private", "--reveal", "--force", env=evaluated.env())  # during the event
    assert result.returncode == 0, result.stderr
    revealed = client.search_runs([public], where({Tag.KIND: Kind.LEADERBOARD, Tag.VIEW: Part.PRIVATE}))
    assert [r.info.run_name for r in revealed] == ["final-leaderboard"]


def test_reveal_needs_the_private_view(evaluated: Event) -> None:
    result = codefest("leaderboard", SLUG, "--reveal", env=evaluated.env())
    assert_clean_failure(result, "--reveal publishes the private leaderboard", "--private --reveal")


def test_a_challenge_not_built_gets_a_clear_message() -> None:
    assert_clean_failure(codefest("leaderboard", "ipc-classification"), "is not built", "codefest data build")


def _board_with_team(team: str) -> Board:
    entry = Entry(
        team=team,
        baseline=False,
        submission_id="s1",
        run_id="r1",
        scored_run_id="r1",
        choice="best",
        score=Score(0.5, 0.4, 0.6),
        tie_breakers={},
        submitted_ms=1_700_000_000_000,
        submissions=1,
        last_submission_ms=1_700_000_000_000,
        rank=1,
    )
    return Board(
        slug="x",
        title="<b>T</b>",
        task="classification",
        view="public",
        primary_metric="m",
        higher_is_better=True,
        tie_breakers=[],
        final_submission="best",
        signature="s",
        generated_ms=1_700_000_000_000,
        runs_ranked=1,
        entries=[entry],
        history={team: [(1_700_000_000_000, 0.5)]},
    )


def test_team_names_and_titles_stay_text_in_the_page() -> None:
    page = render(_board_with_team("<script>alert(1)</script>"))
    assert "<script>" not in page and "<b>T</b>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2  # the table and the chart's legend


def test_csv_cells_never_start_a_formula() -> None:
    assert [cell(v) for v in ("=1+1", "+SUM(A1)", "-cmd", "@A1", "office-a", "-3", "0.5", None)] == [
        "'=1+1",
        "'+SUM(A1)",
        "'-cmd",
        "'@A1",
        "office-a",
        "-3",
        "0.5",
        "",
    ]
    rows = list(csv.reader(io.StringIO(as_csv(_board_with_team('=HYPERLINK("http://x")')))))
    assert rows[1][4] == '\'=HYPERLINK("http://x")'


def _rendered(board: Board, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(table(board, width))
    return console.export_text()


def test_a_narrow_terminal_keeps_rank_team_and_score_and_says_what_it_left_out() -> None:
    board = _board_with_team("office-a")
    board.tie_breakers = ["three_guesses@subclass"]
    board.entries[0].tie_breakers = {"three_guesses@subclass": 0.75}
    wide, narrow = _rendered(board, 200), _rendered(board, 60)
    for text in ("rank", "office-a", "0.5000 [0.4000, 0.6000]"):
        assert text in wide and text in narrow
    assert "three_guesses@subclass" in wide and "0.7500" in wide and "2023-11-14" not in wide
    header = next(line for line in narrow.splitlines() if "rank" in line and "team" in line)
    assert "three_guesses" not in header and "last" not in header and "0.7500" not in narrow
    said = " ".join(narrow.split())
    assert "(hidden at this width: range, group, three_guesses@subclass, subs, last (UTC); a wider terminal" in said
    assert "wider terminal" not in wide
    assert max(len(line) for line in narrow.splitlines()) <= 60
