"""What people look at, in a real browser: the leaderboard page, and the MLflow UI over the event's store.

Debian's chromium, headless, driven by Playwright (no browser download); each page opens in a browser of its own
with a fresh profile. Screenshots are kept in test-artifacts/.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Frame, Page, Playwright

from codefest.challenges.discovery import load
from codefest.evaluation.records import Kind, Part, Tag, where
from codefest.evaluation.tracking import Tracker, run_address, runs_address
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


OpenPage = Callable[..., Page]


@pytest.fixture
def open_page(playwright: Playwright, tmp_path: Path) -> Iterator[OpenPage]:
    """Opens a page in a browser of its own with a fresh profile (a new --user-data-dir): nothing kept from another
    visit. The browsers close with the test."""
    opened: list[BrowserContext] = []

    def page(width: int = 1400) -> Page:
        profile = tmp_path / f"profile-{len(opened)}"
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=FLAGS, viewport={"width": width, "height": 1000}
        )
        opened.append(context)
        return context.pages[0] if context.pages else context.new_page()

    yield page
    for context in opened:
        context.close()


@pytest.fixture(scope="module")
def board(evaluated: Event) -> Board:
    """The public board, built and published as `codefest leaderboard` does."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in evaluated.env().items():
            patch.setenv(name, value)
        built = build(load(SLUG), evaluated.home)
        publish(Tracker(SLUG, evaluated.home), "public", render(built), as_json(built), public=True)
        return built


def _expected_rows(board: Board) -> dict[str, str]:
    scale = scale_of([e.score.value for e in board.entries])
    return {e.team: number(e.score.value, scale) for e in board.entries}


def _screenshot(page: Page, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=full_page)
    assert path.stat().st_size > 10_000
    return path


def _rows(frame: Frame | Page, body: str) -> list[list[str]]:
    """The text of each cell shown in the rows of one tbody of #leaderboard (ranked or baseline)."""
    found = frame.evaluate(
        """(body) => [...document.querySelectorAll(`#leaderboard tbody.${body} tr`)].map(row =>
            [...row.children].filter(cell => cell.getClientRects().length).map(cell => cell.innerText.trim()))""",
        body,
    )
    return [list(row) for row in found]


def _assert_leaderboard_rows(frame: Frame | Page, board: Board) -> None:
    """Teams and scores as the board has them; equal scores with one rank and range; the baseline apart, unranked."""
    shown = _shown_keys(frame)
    rank, team, score = shown.index("rank"), shown.index("team"), shown.index("score")
    ranked = _rows(frame, "ranked")
    expected = _expected_rows(board)
    assert [row[team] for row in ranked] == [e.team for e in board.entries if not e.baseline]
    for row in ranked:
        assert row[score].split()[0] == expected[row[team]], row
    ranks = {row[team]: row[rank] for row in ranked}
    assert ranks["office-a"] == ranks["office-c"] == "1" and ranks["office-b"] == "3"  # office-c copied office-a
    if "range" in shown:
        ranges = {row[team]: row[shown.index("range")] for row in ranked}
        assert ranges["office-a"] == ranges["office-c"]
    label, baseline = _rows(frame, "baseline")
    assert label == ["Baseline: for reference, not ranked"]
    assert (baseline[team], baseline[rank]) == ("organisers", "-")
    assert baseline[score].split()[0] == expected["organisers"]


def _shown_keys(frame: Frame | Page) -> list[str]:
    """The keys of the #leaderboard columns the page shows at its width, left to right."""
    return list(
        frame.evaluate(
            """() => [...document.querySelectorAll('#leaderboard thead th')]
                .filter(th => th.getClientRects().length).map(th => th.className.replace('c-', ''))"""
        )
    )


COLUMN_BOXES = """() => {
    const cells = [...document.querySelectorAll('#leaderboard thead th, #leaderboard tbody td')];
    return cells.filter(cell => cell.getClientRects().length).map(cell => {
        const box = cell.getBoundingClientRect(), style = getComputedStyle(cell);
        const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
        return {key: cell.className.split(' ')[0], header: cell.tagName === 'TH', text: cell.innerText.trim(),
                left: box.left, right: box.right, content: box.height - padding,
                line: parseFloat(style.lineHeight)};
    });
}"""


def _assert_readable(frame: Frame | Page, left: float, right: float, offset: float = 0.0) -> None:
    """Every column of #leaderboard lies between `left` and `right` (the page's px, the frame's being shifted by
    `offset`), and no header cell is taller than two lines of its own line height."""
    boxes = frame.evaluate(COLUMN_BOXES)
    assert {"c-rank", "c-team", "c-score"} <= {box["key"] for box in boxes}
    for box in boxes:
        assert left - 0.5 <= box["left"] + offset and box["right"] + offset <= right + 0.5, (box, left, right)
        if box["header"]:
            assert box["content"] <= 2 * box["line"] + 0.5, box


BREAKDOWN_FITS = "(box => box.scrollWidth <= box.clientWidth)(document.querySelector('#breakdown').parentNode)"


def test_the_leaderboard_page_shows_teams_scores_history_and_sections(
    open_page: OpenPage, board: Board, tmp_path: Path
) -> None:
    path = tmp_path / "leaderboard.html"
    path.write_text(render(board), encoding="utf-8")
    page = open_page()
    page.goto(path.as_uri())
    _assert_leaderboard_rows(page, board)
    legend = [t.strip() for t in page.locator("#history .wide svg text").all_text_contents()]
    assert {"office-a", "office-b", "office-c", "organisers (baseline)"} <= set(legend)
    assert any(t.startswith("minutes since the first submission") for t in legend)
    assert "per IPC section" in page.locator("h2").all_inner_texts()[-1]
    assert page.locator("#breakdown tbody tr").count() == len(TEAMS)
    width = page.evaluate("document.documentElement.clientWidth")
    _assert_readable(page, 0, width)
    assert _shown_keys(page) == ["rank", "range", "group", "team", "score", "tie0", "tie1", "subs", "last"]
    _screenshot(page, "leaderboard-page-1400.png")
    for narrower in (1000, 760, 560, 400, 320):  # the columns give way, the rest stays inside the window
        page.set_viewport_size({"width": narrower, "height": 1000})
        _assert_readable(page, 0, page.evaluate("document.documentElement.clientWidth"))
        _assert_leaderboard_rows(page, board)
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
        if narrower >= 560:  # the per-section table fits too; narrower, it scrolls within its own box
            assert page.evaluate(BREAKDOWN_FITS)
    assert _shown_keys(page) == ["rank", "team", "score"]
    _screenshot(page, "leaderboard-page-320.png")


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
    open_page: OpenPage, evaluated: Event, ui: str
) -> None:
    experiment = Tracker(SLUG, evaluated.home).public
    page = open_page()
    page.goto(runs_address(experiment, ui))
    for team in TEAMS:  # runs are named `team #n · sha7`
        page.get_by_text(re.compile(rf"^{re.escape(team)} #1 · [0-9a-f]{{7}}$")).first.wait_for(timeout=WAIT_MS)
    page.get_by_text("leaderboard", exact=True).first.wait_for(timeout=WAIT_MS)
    _screenshot(page, "mlflow-experiment.png")


VISIBLE = """(frame) => {
    const box = frame.getBoundingClientRect();
    let left = box.left + frame.clientLeft, right = left + frame.clientWidth;
    for (let e = frame.parentElement; e; e = e.parentElement) {
        if (getComputedStyle(e).overflowX !== 'visible') {
            const clip = e.getBoundingClientRect();
            left = Math.max(left, clip.left);
            right = Math.min(right, clip.right);
        }
    }
    return {offset: box.left + frame.clientLeft, left, right: Math.min(right, document.documentElement.clientWidth)};
}"""


@pytest.mark.parametrize("width", [1000, 1400])
def test_the_mlflow_ui_shows_the_published_leaderboard_whole(
    open_page: OpenPage, evaluated: Event, board: Board, ui: str, width: int
) -> None:
    """The run's Artifacts tab, at the address codefest prints (MLflow 3.17's route for an artifact,
    /experiments/<id>/runs/<run>/artifacts/<path>), shows the page in an iframe that MLflow clips to what its layout
    leaves: every column must lie in what is shown of it."""
    tracker = Tracker(SLUG, evaluated.home)
    run = tracker.runs(where({Tag.KIND: Kind.LEADERBOARD, Tag.VIEW: Part.PUBLIC}))[0].run_id
    page = open_page(width)
    page.goto(run_address(tracker.public, run, "leaderboard.html", ui))
    frame = _frame_with(page, "#leaderboard")
    page.wait_for_timeout(1_000)  # the panes settle once the artifact is shown
    element = frame.frame_element()
    shown = element.evaluate(VISIBLE)
    assert shown["right"] - shown["left"] >= 250, shown  # MLflow leaves the page some room at all
    _assert_readable(frame, shown["left"], shown["right"], shown["offset"])
    _assert_leaderboard_rows(frame, board)
    assert str(evaluated.home) not in frame.content()
    _screenshot(page, f"leaderboard-mlflow-{width}.png", full_page=False)


def _frame_with(page: Page, selector: str) -> Frame:
    """The MLflow UI shows an HTML artifact in an iframe, once it has loaded it."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while time.monotonic() < deadline:
        for frame in page.frames:
            if frame is not page.main_frame and frame.locator(selector).count():
                return frame
        page.wait_for_timeout(500)
    pytest.fail(f"no frame with {selector} in {page.url}")
