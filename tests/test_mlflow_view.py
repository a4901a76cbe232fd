"""What a participant sees on opening the address codefest prints, in a real browser over a real MLflow UI.

A small event is evaluated (one team twice), its leaderboard published with `codefest leaderboard --publish`, and
`codefest ui` serves the workspace's store. Debian's chromium, headless, opens each printed address with a fresh
profile (a new --user-data-dir) at 1,000 and 1,400 px: the runs list, not the GenAI overview, sorted by the primary
metric in its direction, with that metric and the team in view. Screenshots go to test-artifacts/mlflow-view-*.png.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, Playwright
from typer.testing import CliRunner

from codefest.challenges.discovery import load
from codefest.cli import app
from codefest.evaluation import roster
from codefest.evaluation.evaluate import Evaluator
from codefest.evaluation.records import Status, Tag, where
from codefest.evaluation.tracking import (
    NOTE,
    VIEW_TAG,
    RunsView,
    Tracker,
    metric_column,
    run_address,
    runs_address,
    runs_view,
)
from codefest.shared_datasets.heldout import build
from tests.helpers import bundled_spec, right_every, with_empty_store, write_challenge

slow = pytest.mark.slow  # evaluates an event, starts the MLflow UI or drives Chromium

SLUG = "view-ipc"
PRIMARY = "top_prediction_at_subclass"
# (team, every how many items it gets right): team-a sends two files, the second one better
SUBMISSIONS = [("team-a", 4), ("team-b", 3), ("team-a", 2), ("team-c", 5)]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
FLAGS += ["--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
WIDTHS = (1000, 1400)
WAIT_MS = 60_000
INTERVAL = (PRIMARY, f"{PRIMARY}_ci_low", f"{PRIMARY}_ci_high")
GENAI = ("Detect Issues", "No data available", "GenAI apps & agents", "Training runs")


@dataclass(frozen=True)
class Event:
    home: Path
    challenges: Path
    experiment: str
    runs: dict[str, float]  # run name -> primary metric, as MLflow keeps them
    printed: list[str]  # the addresses codefest printed

    def env(self) -> dict[str, str]:
        return {"CODEFEST_HOME": str(self.home), "CODEFEST_CHALLENGES_PATH": str(self.challenges)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def event(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> Iterator[Event]:
    base = tmp_path_factory.mktemp("view")
    spec = bundled_spec("ipc-classification") | {"slug": SLUG}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 200, "seed": 5}}
    ranked = {spec["primary_metric"], *spec["tie_breakers"]}
    spec["metrics"] = [m for m in spec["metrics"] if m["name"] in ranked]  # fewer bootstraps: a faster fixture
    write_challenge(base / "challenges", spec)
    (base / "challenges" / SLUG / "README.md").write_text("# View test\n\nThe challenge's own words.\n")
    with pytest.MonkeyPatch.context() as env:
        env.delenv("MLFLOW_TRACKING_URI", raising=False)
        env.setenv("CODEFEST_HOME", str(base / "home"))
        env.setenv("CODEFEST_CHALLENGES_PATH", str(base / "challenges"))
        home = base / "home"
        build(load(SLUG), home)
        with_empty_store(home, _empty_store)
        roster.add(home, sorted({team for team, _ in SUBMISSIONS}))
        evaluator = Evaluator(load(SLUG), home)
        for i, (team, every) in enumerate(SUBMISSIONS):
            outcome = evaluator.predictions(team, right_every(home, SLUG, base / f"{i}.jsonl", every))
            assert outcome.status == Status.SCORED, outcome.message
        published = CliRunner().invoke(app, ["leaderboard", SLUG, "--publish"])
        assert published.exit_code == 0, published.output
        tracker = Tracker(SLUG, home)
        scored = tracker.runs(where({Tag.STATUS: Status.SCORED}))
        runs = {tracker.client.get_run(r.run_id).info.run_name: r.metrics[PRIMARY] for r in scored}
        printed = re.findall(r"https?://\S+", published.output)
        yield Event(home, base / "challenges", tracker.public, runs, printed)


@slow
def test_runs_are_named_by_team_number_and_hash(event: Event) -> None:
    names = sorted(event.runs)
    assert [re.sub(r"[0-9a-f]{7}$", "HASH", n) for n in names] == [
        "team-a #1 · HASH",
        "team-a #2 · HASH",
        "team-b #1 · HASH",
        "team-c #1 · HASH",
    ]
    assert len({n.split(" · ")[1] for n in names}) == len(names)  # every file has its own hash


@slow
def test_the_experiment_carries_the_readme_and_the_view(event: Event) -> None:
    tags = Tracker(SLUG, event.home).client.get_experiment(event.experiment).tags
    assert tags[NOTE] == "# View test\n\nThe challenge's own words.\n"
    view = json.loads(tags[VIEW_TAG])
    assert view["orderByKey"] == metric_column(PRIMARY) and view["orderByAsc"] is False
    assert view["selectedColumns"][:3] == [metric_column(f"{PRIMARY}{s}") for s in ("", "_ci_low", "_ci_high")]


@slow
def test_publishing_prints_the_runs_address(event: Event) -> None:
    assert runs_address(event.experiment) in event.printed


@dataclass(frozen=True)
class UI:
    url: str
    printed: str  # what `codefest ui` said on starting


@pytest.fixture(scope="module")
def ui(event: Event, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    """`codefest ui` over the event's store, as an organiser starts it."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"} | event.env()
    said = tmp_path_factory.mktemp("ui") / "stderr.txt"
    with said.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "codefest", "ui", "--port", str(port)],
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"codefest ui did not start: {said.read_text()}")
            time.sleep(0.3)
        yield UI(url, said.read_text())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def _open(playwright: Playwright, address: str, width: int, profile: Path) -> Page:
    """A browser with a profile of its own, nothing kept from an earlier visit, on `address`."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), args=FLAGS, viewport={"width": width, "height": 900}
    )
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(address)
    return page


ROWS = """(column) => {
    const rows = {};
    for (const cell of document.querySelectorAll('.ag-row .ag-cell')) {
        const row = cell.closest('.ag-row').getAttribute('row-index');
        const key = cell.getAttribute('col-id');
        rows[row] = rows[row] || {};
        rows[row][key] = cell.innerText.trim();
    }
    const name = (text) => (text || '').split('\\n').pop();  // the name after the colour swatch's hidden text
    const ordered = Object.entries(rows).sort((a, b) => a[0] - b[0]);
    return ordered.map(([, r]) => [name(r['attributes.`Run Name`']), r[column]]);
}"""


SHOWN = """(column) => {
    const header = document.querySelector(`.ag-header-cell[col-id="${column}"]`);
    if (!header) return 0;
    const box = header.getBoundingClientRect();
    const grid = document.querySelector('.ag-root-wrapper').getBoundingClientRect();
    return Math.max(0, Math.min(box.right, grid.right, window.innerWidth) - Math.max(box.left, grid.left, 0));
}"""


def _shown(page: Page, column: str) -> float:
    """How many pixels of a column's header the table shows, inside the window."""
    return float(page.evaluate(SHOWN, column))


@slow
@pytest.mark.parametrize("width", WIDTHS)
def test_the_printed_address_opens_the_runs_sorted_by_the_primary_metric(
    event: Event, ui: UI, playwright: Playwright, width: int
) -> None:
    column = metric_column(PRIMARY)
    address = runs_address(event.experiment, ui.url)
    assert f"  {SLUG}: {address}\n" in ui.printed  # `codefest ui` lists each challenge's address, not the private one
    assert "/private" not in ui.printed
    with tempfile.TemporaryDirectory(prefix="codefest-chromium-") as profile:
        page = _open(playwright, address, width, Path(profile))
        try:
            page.locator(f'.ag-header-cell[col-id="{column}"]').wait_for(timeout=WAIT_MS)
            page.locator(".ag-row .ag-cell").first.wait_for(timeout=WAIT_MS)
            page.wait_for_timeout(500)  # the last columns' widths settle
            rows = page.evaluate(ROWS, column)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"mlflow-view-{width}.png"))
            text = page.locator("body").inner_text()
            shown = {key: _shown(page, metric_column(key)) for key in INTERVAL}
        finally:
            page.context.close()
    scored = [(name, float(value)) for name, value in rows if name in event.runs]
    assert {name for name, _ in scored} == set(event.runs)  # every scored run, with the value MLflow holds
    assert all(value == pytest.approx(event.runs[name], abs=1e-9) for name, value in scored)
    values = [value for _, value in scored]
    assert values == sorted(values, reverse=True) and len(set(values)) > 1  # higher is better: best first
    assert [name for name, _ in rows][: len(scored)] == [name for name, _ in scored]  # runs without a score last
    # At 1,000 px (MLflow's assistant panel open, as on a first visit to a local server) most of the metric is in
    # view; at 1,400 px the metric and both ends of its interval are, whole.
    assert shown[PRIMARY] >= (150 if width < 1400 else 180), shown
    if width >= 1400:
        assert shown[f"{PRIMARY}_ci_low"] >= 120 and shown[f"{PRIMARY}_ci_high"] >= 120, shown
    for banned in GENAI:
        assert banned not in text
    assert "Sort: top_prediction_at_subclass" in text


def _artifact_texts(tracker: Tracker, run_id: str, folder: str | None = None) -> dict[str, str]:
    """Every artifact of a run, as text, by path."""
    found: dict[str, str] = {}
    for entry in tracker.client.list_artifacts(run_id, folder):
        if entry.is_dir:
            found |= _artifact_texts(tracker, run_id, entry.path)
        else:
            found[entry.path] = tracker.artifact_text(run_id, entry.path) or ""
    return found


@slow
def test_nothing_participants_read_names_an_organiser_path(event: Event) -> None:
    """Run names, tags, params, artifacts and the experiment's own tags hold no workspace or home folder."""
    tracker = Tracker(SLUG, event.home)
    experiment = tracker.client.get_experiment(event.experiment)
    texts = {f"experiment tag {k}": v for k, v in experiment.tags.items()}
    runs = tracker.client.search_runs([event.experiment])
    assert {r.info.run_name for r in runs} >= {*event.runs, "leaderboard"}
    for run in runs:
        name = run.info.run_name
        texts[f"{name}: name"] = name
        texts |= {f"{name}: tag {k}": v for k, v in run.data.tags.items()}
        texts |= {f"{name}: param {k}": v for k, v in run.data.params.items()}
        texts |= {f"{name}: {path}": text for path, text in _artifact_texts(tracker, run.info.run_id).items()}
    assert any(path.endswith("leaderboard.html") for path in texts) and any("result.json" in p for p in texts)
    paths = {str(event.home), str(event.home.resolve()), str(event.challenges), os.path.expanduser("~")}
    leaks = {(where, path) for where, text in texts.items() for path in paths if path in text}
    assert not leaks


def test_a_lower_is_better_metric_sorts_ascending() -> None:
    lower = json.loads(RunsView("ter", higher_is_better=False, description="").tags()[VIEW_TAG])
    higher = RunsView("bleu", higher_is_better=True, description="").state()
    assert (lower["orderByKey"], lower["orderByAsc"]) == ("metrics.`ter`", True)
    assert (higher["orderByKey"], higher["orderByAsc"]) == ("metrics.`bleu`", False)


def test_the_bundled_challenges_carry_their_readme_and_primary_metric() -> None:
    view = runs_view(load("ipc-classification"))
    assert (view.metric, view.higher_is_better) == (PRIMARY, True)
    assert view.description == (Path(load("ipc-classification").folder) / "README.md").read_text(encoding="utf-8")


def test_addresses_name_the_runs_tab_and_never_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    expected = "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning&viewStateShareKey=codefest"
    assert runs_address("7") == expected
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://olga:secret-password@mlflow.office.example/")
    assert runs_address("7").startswith("https://mlflow.office.example/#/experiments/7/runs?")
    assert run_address("7", "abc", "leaderboard.html") == (
        "https://mlflow.office.example/#/experiments/7/runs/abc/artifacts/leaderboard.html?workflowType=machine_learning"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///somewhere/mlflow.db")
    assert runs_address("7") == expected


def test_a_view_reaches_experiments_made_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`codefest serve` or a worker may open the store first, without a view; the evaluator's Tracker then writes the
    view onto the experiments, in the store's turn it already holds (a second turn would wait for ever)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    Tracker("plain", tmp_path)
    view = RunsView("bleu", higher_is_better=True, description="# Plain\n")
    opened: list[Tracker] = []
    thread = threading.Thread(target=lambda: opened.append(Tracker("plain", tmp_path, view=view)), daemon=True)
    thread.start()
    thread.join(60)
    assert opened, "opening the experiments with a view did not finish within 60 s"
    tracker = opened[0]
    for experiment in (tracker.public, tracker.private):
        tags = tracker.client.get_experiment(experiment).tags
        assert {key: tags.get(key) for key in view.tags()} == view.tags()
