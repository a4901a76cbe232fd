"""`codefest demo` end to end: the real command, on small copies of the three bundled challenges, run twice.

The first run builds, bakes and trains the pilots, has the simulated teams submit and publishes the leaderboards;
the second must reuse all of it: the same files are duplicates, nothing is scored twice, the boards are the same.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient
from rich.console import Console

from codefest.challenges.discovery import LoadedChallenge, load
from codefest.console import Steps
from codefest.demo import Layout, ensure_built, is_built
from codefest.evaluation.records import Artifact, Kind, Status, Tag, where
from codefest.evaluation.tracking import Tracker, run_address, runs_address, tracking_uri
from codefest.leaderboard.board import Board, build
from codefest.shared_datasets.heldout import build as build_challenge
from tests.helpers import SMALL, small_copy
from tests.test_cli import assert_clean_failure

pytestmark = pytest.mark.slow  # runs the whole demo: builds, bakes, trains, evaluates

SLUGS = [f"small-{slug}" for slug in SMALL]
RANKED = {"office-a", "office-b", "office-d"}
SUBMISSIONS = {"organisers": 1, "office-a": 2, "office-b": 2, "office-d": 1}  # scored ones, per challenge
EVALUATED = 7  # per challenge: the above, and office-c's invalid file


@dataclass(frozen=True)
class DemoRuns:
    home: Path
    challenges: Path
    first: subprocess.CompletedProcess[str]
    second: subprocess.CompletedProcess[str]
    scored_before: dict[str, int]  # scored public runs per challenge after the first run
    boards_before: dict[str, list[tuple]]


def _demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = [arg for slug in SLUGS for arg in ("--challenge", slug)]
    return subprocess.run(
        [sys.executable, "-m", "codefest", "demo", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **env},
        timeout=1200,
    )


@pytest.fixture
def event_env(demo: DemoRuns, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process sees the demo's workspace and challenges, to read what it recorded."""
    monkeypatch.setenv("CODEFEST_HOME", str(demo.home))
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(demo.challenges))


def _scored(home: Path, slug: str) -> int:
    return len(Tracker(slug, home).runs(where({Tag.STATUS: Status.SCORED})))


def _rows(board: Board) -> list[tuple]:
    """What a reader compares between two builds: everything but when the board was generated."""
    return [
        (e.team, e.baseline, e.rank, e.rank_range, e.group, e.score, e.run_id, e.submissions) for e in board.entries
    ]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRuns]:
    base = tmp_path_factory.mktemp("demo")
    for slug in SMALL:
        small_copy(base / "challenges", slug)
    home = base / "home"
    env = {"CODEFEST_HOME": str(home), "CODEFEST_CHALLENGES_PATH": str(base / "challenges")}
    first = _demo(env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        scored = {slug: _scored(home, slug) for slug in SLUGS}
        boards = {slug: _rows(build(load(slug), home)) for slug in SLUGS}
    second = _demo(env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    yield DemoRuns(home, base / "challenges", first, second, scored, boards)


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.usefixtures("event_env")
def test_each_leaderboard_ranks_the_teams_and_marks_the_baseline(demo: DemoRuns, slug: str) -> None:
    board = build(load(slug), demo.home)
    entries = {e.team: e for e in board.entries}
    assert set(entries) == {"organisers", *RANKED}
    baseline = entries["organisers"]
    assert baseline.baseline and baseline.rank is None
    ranks = sorted(entries[team].rank or 0 for team in RANKED)  # office-d's code runs the template office-a sent:
    assert ranks[0] == 1 and all(1 <= rank <= place for place, rank in enumerate(ranks, 1)), ranks  # ties share
    assert all(entries[team].rank_range and entries[team].group for team in RANKED)
    assert {team: e.submissions for team, e in entries.items()} == SUBMISSIONS
    assert board.runs_ranked == sum(SUBMISSIONS.values())


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.usefixtures("event_env")
def test_the_invalid_file_is_recorded_not_ranked_and_its_problems_shown(demo: DemoRuns, slug: str) -> None:
    tracker = Tracker(slug, demo.home)
    runs = tracker.runs(where({Tag.TEAM: "office-c"}))
    assert [r.tags[Tag.STATUS] for r in runs] == ["invalid"]
    assert "NOT-A-TEST-ID" in str(tracker.artifact_text(runs[0].run_id, Artifact.PROBLEMS))
    assert "office-c" not in {e.team for e in build(load(slug), demo.home).entries}
    shown = re.search(rf"invalid office-c .*{slug}.*\n(  - .*\n)+", demo.first.stdout)
    assert shown and "NOT-A-TEST-ID" in shown.group(0), demo.first.stdout


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.usefixtures("event_env")
def test_the_code_submission_ran_in_the_sandbox_and_was_scored(demo: DemoRuns, slug: str) -> None:
    runs = Tracker(slug, demo.home).runs(where({Tag.KIND: Kind.CODE}))
    assert [(r.tags[Tag.TEAM], r.tags[Tag.STATUS]) for r in runs] == [("office-d", "scored")]
    assert "code_seconds" in runs[0].tags
    pilot = demo.home / "demo" / "pilots" / f"office-d-{slug}"
    assert json.loads((pilot / ".cookiecutter.json").read_text())["team"] == "office-d"
    assert not (pilot / "models").exists()  # submitted as baked: the sandbox trained it, on the public bundle


@pytest.mark.parametrize("slug", SLUGS)
def test_the_teams_variants_are_their_own_predictions(demo: DemoRuns, slug: str) -> None:
    folder = demo.home / "demo" / "submissions" / slug
    baseline = (folder / "organisers" / "baseline.jsonl").read_bytes()
    files = {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.glob("*/*.jsonl")}
    assert files.pop("office-a/template.jsonl") == baseline  # a team that submits the template as baked
    variants = {name: data for name, data in files.items() if name.startswith(("office-a/", "office-b/"))}
    assert len(variants) == 3 and all(data != baseline for data in variants.values())
    assert len(set(variants.values())) == 3


@pytest.mark.parametrize("slug", SLUGS)
@pytest.mark.usefixtures("event_env")
def test_the_pages_are_written_published_and_name_the_teams(demo: DemoRuns, slug: str) -> None:
    page = (demo.home / "demo" / "leaderboards" / f"{slug}.html").read_text()
    for team in RANKED:
        assert f">{team}<" in page
    assert "organisers (baseline)" in page and "office-c" not in page
    tracker = Tracker(slug, demo.home)
    published = tracker.runs(where({Tag.KIND: Kind.LEADERBOARD}))
    assert len(published) == 1
    assert tracker.artifact_names(published[0].run_id) == ["leaderboard.html", "leaderboard.json"]


@pytest.mark.parametrize("slug", SLUGS)
def test_the_organisers_pilot_was_baked_and_trained_with_mlflow_runs(demo: DemoRuns, slug: str) -> None:
    pilot = demo.home / "demo" / "pilots" / f"organisers-{slug}"
    answers = json.loads((pilot / ".cookiecutter.json").read_text())
    assert (answers["team"], answers["challenge"]) == ("organisers", slug)
    assert any((pilot / "models").iterdir())
    client = MlflowClient(tracking_uri=tracking_uri(demo.home))
    runs = client.search_runs([client.get_experiment_by_name(pilot.name).experiment_id])
    assert [r.info.status for r in runs] == ["FINISHED"]  # trained once, though the demo ran twice
    assert runs[0].data.params["model"] and "train_seconds" in runs[0].data.metrics


@pytest.mark.usefixtures("event_env")
def test_the_output_tells_how_to_open_the_ui_and_where_the_pages_are(demo: DemoRuns) -> None:
    for run in (demo.first, demo.second):
        line = next(line for line in run.stdout.splitlines() if line.startswith("Start the MLflow UI"))
        typed = shlex.split(line.split("with:")[1])  # what the user is told to type, runnable as it stands
        settings = dict(word.split("=", 1) for word in typed if "=" in word)
        command, *arguments = [word for word in typed if "=" not in word]
        assert arguments == ["ui"] and settings == {"CODEFEST_HOME": str(demo.home)}, line
        assert shutil.which(command) if command == "codefest" else os.access(command, os.X_OK), command
        for slug in SLUGS:
            tracker = Tracker(slug, demo.home)
            assert f"{slug}: {runs_address(tracker.public)}" in run.stdout
            [page] = tracker.runs(where({Tag.KIND: Kind.LEADERBOARD}))
            assert run_address(tracker.public, page.run_id, Artifact.PAGE) in run.stdout
        assert str(demo.home / "demo" / "leaderboards") in run.stdout
        assert "Traceback" not in run.stdout + run.stderr


@pytest.mark.usefixtures("event_env")
def test_a_second_run_reuses_everything_and_scores_nothing_twice(demo: DemoRuns) -> None:
    assert {slug: _scored(demo.home, slug) for slug in SLUGS} == demo.scored_before
    assert demo.scored_before == dict.fromkeys(SLUGS, sum(SUBMISSIONS.values()))
    statuses = re.findall(r"^\s*(scored|invalid|duplicate) ", demo.second.stdout, re.M)
    assert statuses == ["duplicate"] * EVALUATED * len(SLUGS)
    assert re.findall(r"^\s*(scored|invalid|duplicate) ", demo.first.stdout, re.M).count("scored") == 6 * len(SLUGS)
    for slug in SLUGS:
        assert f"{slug}: bundle and vault already built" in demo.second.stderr
        assert f"organisers-{slug}: already trained" in demo.second.stderr
        assert {slug: _rows(build(load(slug), demo.home))} == {slug: demo.boards_before[slug]}


def test_each_long_step_is_announced_as_it_starts_and_what_is_reused_is_said(demo: DemoRuns) -> None:
    """Not a terminal here: one line per step, in the order a challenge goes through them."""
    for slug in SLUGS:
        steps = [
            f"{slug}: building its bundle and vault ...",
            f"{slug}: training the baseline of organisers-{slug} (logged to MLflow) ...",
            f"{slug}: the organisers predict the test set with organisers-{slug} ...",
            f"{slug}: the teams submit to the service ...",
        ]
        positions = [demo.first.stderr.find(text) for text in steps]
        assert -1 not in positions and positions == sorted(positions), demo.first.stderr
        assert f"{slug}: the teams fit their variants (trivial floor; " in demo.first.stderr
        assert f"{slug}: building, writing and publishing the leaderboard ..." in demo.second.stderr
        assert f"{slug}: training the baseline" not in demo.second.stderr
    assert "the service's workers evaluate the teams' submissions ..." in demo.first.stderr


def test_an_unknown_challenge_is_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "codefest", "demo", "--challenge", "ipc-clasification"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_clean_failure(result, "Unknown challenge 'ipc-clasification'. Did you mean 'ipc-classification'?")


def _declaring(item: LoadedChallenge, **dataset: object) -> LoadedChallenge:
    """The same challenge, declaring other dataset values."""
    spec = item.spec.model_copy(update={"dataset": item.spec.dataset.model_copy(update=dataset)})
    return LoadedChallenge(spec, item.folder)


def test_a_built_challenge_is_reused_only_while_it_holds_the_declared_data(tmp_path: Path, challenges: Path) -> None:
    small_copy(challenges, "prior-art-search", "tiny-search")
    item, home = load("tiny-search"), tmp_path / "home"
    assert not is_built(item, home)
    content = build_challenge(item, home).dataset_sha256
    assert is_built(item, home)
    assert is_built(_declaring(item, sha256=content), home)
    assert not is_built(_declaring(item, sha256="0" * 64), home)
    assert not is_built(_declaring(item, options={**item.spec.dataset.options, "seed": 6}), home)
    qrels = home / "vault" / "tiny-search" / "test.qrels"
    qrels.write_text(qrels.read_text() + "PAC-X 0 DOC-X 1\n")
    assert not is_built(item, home)


def test_a_rebuilt_challenge_drops_the_demo_files_made_from_the_earlier_build(tmp_path: Path, challenges: Path) -> None:
    small_copy(challenges, "prior-art-search", "tiny-search")
    item, home = load("tiny-search"), tmp_path / "home"
    layout = Layout(home)
    made = [
        layout.submissions("tiny-search") / "office-a" / "template.jsonl",
        layout.pilots / "organisers-tiny-search" / "models" / "model.bin",
        layout.pilots / "office-d-tiny-search" / "models" / "model.bin",
    ]
    kept = [layout.pilots / "organisers-tiny-search" / "README.md", layout.submissions("other") / "x.jsonl"]
    for path in made + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("from the earlier build\n")
    steps = Steps(Console(file=io.StringIO()))
    ensure_built(item, home, steps)  # not built yet: whatever the demo made before is from other data
    assert [path.exists() for path in made + kept] == [False, False, False, True, True]

    made[0].parent.mkdir(parents=True)
    made[0].write_text("from this build\n")
    ensure_built(item, home, steps)  # built with the declared data: reused, and the files with it
    assert made[0].read_text() == "from this build\n"
    ensure_built(_declaring(item, options={**item.spec.dataset.options, "seed": 6}), home, steps)  # another dataset
    assert not made[0].exists()
