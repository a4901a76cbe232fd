"""What people look at, in a real browser: the leaderboard page, and the MLflow UI over the event's store.

Debian's chromium, headless, driven by Playwright (no browser download). Screenshots are kept in test-artifacts/.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Frame, Page, sync_playwright

from codefest.challenges.discovery import load
from codefest.evaluation.records import Kind, Part, Tag, where
from codefest.evaluation.tracking import Tracker
from codefest.leaderboard.board import Board, build
from codefest.leaderboard.export import as_json
from codefest.leaderboard.formatting import number, scale_of
from codefest.leaderboard.page import render
from codefest.leaderboard.publish import publish
from tests.events import SLUG, TEAMS, Event

pytestmark = pytest.mark.slow  # drives Chromium over an evaluated event

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
FLAGS += ["--disable-component-update", "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
WAIT_MS = 90_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail("Debian's chromium is needed for the browser tests: apt-get install chromium")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def board(evaluated: Event) -> Board:
    """The public board, built and published as `codefest leaderboard` does."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in evaluated.env().items():
            patch.setenv(name, value)
        built = build(load(SLUG), evaluated.home)
        publish(Tracker(SLUG, evaluated.home), "public", render(built), as_json(built), public=True)
        return built


def _page(browser: Browser) -> Page:
    return browser.new_page(viewport={"width": 1400, "height": 1000})


def _expected_rows(board: Board) -> dict[str, str]:
    scale = scale_of([e.score.value for e in board.entries])
    return {e.team: number(e.score.value, scale) for e in board.entries}


def _screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def _assert_leaderboard_rows(frame: Frame | Page, board: Board) -> None:
    rows = frame.locator("#leaderboard tbody tr").all_inner_texts()
    assert len(rows) == len(TEAMS)
    for row, (team, score) in zip(rows, _expected_rows(board).items(), strict=True):
        cells = row.split("\t")
        assert cells[3].startswith(team) and cells[4] == score, row


def test_the_leaderboard_page_shows_teams_scores_history_and_sections(
    browser: Browser, board: Board, tmp_path: Path
) -> None:
    path = tmp_path / "leaderboard.html"
    path.write_text(render(board), encoding="utf-8")
    page = _page(browser)
    page.goto(path.as_uri())
    _assert_leaderboard_rows(page, board)
    assert "organisers (baseline)" in page.locator("#leaderboard").inner_text()
    legend = [t.strip() for t in page.locator("#history svg text").all_text_contents()]
    assert {"office-a", "office-b", "office-c", "organisers (baseline)"} <= set(legend)
    assert "per IPC section" in page.locator("h2").all_inner_texts()[-1]
    assert page.locator("#breakdown tbody tr").count() == len(TEAMS)
    _screenshot(page, "leaderboard-page.png")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ui(evaluated: Event, board: Board) -> Iterator[str]:
    """`codefest ui` over the event's store, as participants open it."""
    port = _free_port()
    env = {**os.environ, **evaluated.env()}
    server = subprocess.Popen(
        [sys.executable, "-m", "codefest", "ui", "--port", str(port)],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _wait_healthy(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"codefest ui exited: {server.stderr.read().decode() if server.stderr else ''}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail("the MLflow UI did not answer /health within 120 s")


def test_the_mlflow_ui_lists_each_team_s_runs_in_the_challenge_experiment(
    browser: Browser, evaluated: Event, ui: str
) -> None:
    experiment = Tracker(SLUG, evaluated.home).public
    page = _page(browser)
    page.goto(f"{ui}/#/experiments/{experiment}/runs")
    for team in TEAMS:
        page.get_by_text(team, exact=True).first.wait_for(timeout=WAIT_MS)
    page.get_by_text("leaderboard", exact=True).first.wait_for(timeout=WAIT_MS)
    _screenshot(page, "mlflow-experiment.png")


def test_the_mlflow_ui_shows_the_published_leaderboard(
    browser: Browser, evaluated: Event, board: Board, ui: str
) -> None:
    tracker = Tracker(SLUG, evaluated.home)
    run = tracker.runs(where({Tag.KIND: Kind.LEADERBOARD, Tag.VIEW: Part.PUBLIC}))[0].run_id
    page = _page(browser)
    page.goto(f"{ui}/#/experiments/{tracker.public}/runs/{run}/artifacts/leaderboard.html")
    frame = _frame_with(page, "#leaderboard")
    _assert_leaderboard_rows(frame, board)
    _screenshot(page, "mlflow-leaderboard.png")


def _frame_with(page: Page, selector: str) -> Frame:
    """The MLflow UI shows an HTML artifact in an iframe, once it has loaded it."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        for frame in page.frames:
            if frame is not page.main_frame and frame.locator(selector).count():
                return frame
        page.wait_for_timeout(500)
    pytest.fail(f"no frame with {selector} in {page.url}")
