"""The command line as users run it: a real subprocess, exit codes, and messages instead of tracebacks."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from hashlib import sha256
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests import launcher
from tests.helpers import bundled_spec, small_copy, write_challenge

if TYPE_CHECKING:
    from tests.events import Event

ROOT = Path(__file__).resolve().parents[1]


def codefest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return launcher.run(args, env={**os.environ, "COLUMNS": "200", **(env or {})})


def codefest_many(*commands: list[str], env: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Several codefest commands, one after another, each in its own process."""
    return [codefest(*command, env=env) for command in commands]


def assert_clean_failure(result: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for text in expected:
        assert text in result.stderr


def test_challenges_list_shows_the_three_bundled_challenges() -> None:
    result = codefest("challenges", "list")
    assert result.returncode == 0, result.stderr
    for slug, metric in (
        ("ipc-classification", "top_prediction@subclass"),
        ("patent-translation-en-fr", "bleu"),
        ("prior-art-search", "map"),
    ):
        assert slug in result.stdout and metric in result.stdout


def test_challenges_show_as_json_round_trips_the_yaml() -> None:
    result = codefest("challenges", "show", "prior-art-search", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["primary_metric"] == "map"
    assert shown["dataset"]["options"] == bundled_spec("prior-art-search")["dataset"]["options"]


def test_challenges_show_in_the_terminal() -> None:
    result = codefest("challenges", "show", "patent-translation-en-fr")
    assert result.returncode == 0, result.stderr
    assert "bleu (↑), chrf (↑), ter (↓)" in result.stdout
    assert "5/day, 40 in all" in result.stdout


def test_challenges_show_says_when_relative_phases_run(tmp_path: Path) -> None:
    """Before the first build the phases are days from it; after it, the dates the workspace recorded."""
    env = {"CODEFEST_HOME": str(tmp_path)}
    before = codefest("challenges", "show", "ipc-classification", env=env)
    assert before.returncode == 0, before.stderr
    assert "development days 1-14; final days 15-18, counted from the first build" in before.stdout
    assert "codefest data build ipc-classification" in before.stdout
    assert "None" not in before.stdout
    (tmp_path / "opened").mkdir()
    (tmp_path / "opened" / "ipc-classification").write_text("2026-11-20\n")
    after = codefest("challenges", "show", "ipc-classification", env=env)
    assert "development 2026-11-20..2026-12-03; final 2026-12-04..2026-12-07" in after.stdout


def test_unknown_slug_is_a_clear_error() -> None:
    assert_clean_failure(
        codefest("challenges", "show", "prior-art-serch"),
        "Unknown challenge 'prior-art-serch'. Did you mean 'prior-art-search'?",
    )


def test_malformed_challenge_fails_list_but_shows_the_others(tmp_path: Path) -> None:
    write_challenge(tmp_path, {**bundled_spec("prior-art-search"), "slug": "broken", "ranking_depth": -1})
    result = codefest("challenges", "list", env={"CODEFEST_CHALLENGES_PATH": str(tmp_path)})
    assert_clean_failure(result, "broken/challenge.yaml", "key 'ranking_depth'")
    assert "ipc-classification" in result.stdout


def test_unknown_builder_is_a_clear_error(tmp_path: Path) -> None:
    spec = bundled_spec("ipc-classification") | {"slug": "typo"}
    spec["dataset"]["builder"] = "hupd-jsn"
    write_challenge(tmp_path, spec)
    result = codefest("data", "build", "typo", env={"CODEFEST_CHALLENGES_PATH": str(tmp_path)})
    assert_clean_failure(result, "key 'dataset.builder'", "Did you mean 'hupd-json'?")


@pytest.mark.slow  # builds a challenge in a subprocess
def test_data_build_writes_bundle_and_vault(tmp_path: Path) -> None:
    small_copy(tmp_path / "challenges", "ipc-classification", "tiny-ipc")
    home = tmp_path / "home"
    env = {"CODEFEST_CHALLENGES_PATH": str(tmp_path / "challenges"), "CODEFEST_HOME": str(home)}
    result = codefest("data", "build", "tiny-ipc", env={**env, "COLUMNS": "60"})
    assert result.returncode == 0, result.stderr
    assert "built tiny-ipc" in result.stderr
    assert (home / "bundles" / "tiny-ipc" / "test.jsonl").is_file()
    assert (home / "vault" / "tiny-ipc" / "test-labels.jsonl").is_file()
    assert "train 280, dev 40, test 80" in result.stdout
    # what organisers copy (the full dataset sha256, the folders) is whole at 60 columns
    words = result.stdout.split()
    assert any(len(word) == 64 and set(word) <= set("0123456789abcdef") for word in words), result.stdout
    assert str(home / "bundles" / "tiny-ipc") in words and str(home / "vault" / "tiny-ipc") in words

    # the organisers' nox sessions take paths as the user typed them, from where nox was started
    elsewhere = tmp_path / "organiser"
    elsewhere.mkdir()
    nox = [str(Path(sys.executable).with_name("nox")), "-f", str(ROOT / "noxfile.py"), "--no-venv", "--no-install"]
    session = [*nox, "-s", "leaderboard", "--", "tiny-ipc", "--format", "json", "--out", "board.json"]
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    ran = subprocess.run(
        session, cwd=elsewhere, env={**os.environ, **env, "PATH": path}, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads((elsewhere / "board.json").read_text())["slug"] == "tiny-ipc"
    assert not (ROOT / "board.json").exists()


def test_data_builders_lists_generators_and_loaders() -> None:
    result = codefest("data", "builders")
    assert result.returncode == 0, result.stderr
    for name in (
        "synthetic-ipc",
        "synthetic-patent-en-fr",
        "synthetic-prior-art",
        "hupd-json",
        "parapat-tsv",
    ):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["challenges", "show"], "error: Missing argument 'slug'."),
        (["data", "build", "--bogus"], "error: No such option: --bogus"),
        (["nosuch"], "error: No such command 'nosuch'."),
    ],
)
def test_usage_errors_exit_2_without_traceback(args: list[str], message: str) -> None:
    """Click's usage errors say "error:" as codefest's own do: one prefix, whoever found the mistake."""
    result = codefest(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr.splitlines() and "Error" not in result.stderr
    assert "--help' for help." in result.stderr


def test_missing_data_file_is_a_clear_error(tmp_path: Path) -> None:
    spec = bundled_spec("ipc-classification") | {"slug": "office-hupd"}
    spec["dataset"] = {"builder": "hupd-json", "version": "2026-01", "options": {"path": "data/hupd"}}
    write_challenge(tmp_path, spec)
    result = codefest("data", "build", "office-hupd", env={"CODEFEST_CHALLENGES_PATH": str(tmp_path)})
    assert_clean_failure(result, "not found:", str(tmp_path / "office-hupd" / "data" / "hupd"))


@pytest.mark.slow  # builds a challenge in a subprocess
def test_a_real_corpus_builds_from_the_challenge_folder(tmp_path: Path) -> None:
    """An organiser's own challenge over HUPD-style files, with a path relative to the challenge folder."""
    fixtures = Path(__file__).parent / "fixtures" / "corpora" / "hupd"
    spec = bundled_spec("ipc-classification") | {"slug": "office-hupd"}
    spec["dataset"] = {"builder": "hupd-json", "version": "2026-01", "options": {"path": "data"}}
    folder = write_challenge(tmp_path, spec).parent
    (folder / "data").symlink_to(fixtures)
    home = tmp_path / "home"
    result = codefest(
        "data", "build", "office-hupd", env={"CODEFEST_CHALLENGES_PATH": str(tmp_path), "CODEFEST_HOME": str(home)}
    )
    assert result.returncode == 0, result.stderr
    test_rows = [json.loads(line) for line in (home / "bundles/office-hupd/test.jsonl").read_text().splitlines()]
    assert test_rows and all(set(row) == {"id", "title", "abstract"} for row in test_rows)
    gold = (home / "vault/office-hupd/test-labels.jsonl").read_text()
    assert all(row["id"] in gold for row in test_rows)


@pytest.mark.parametrize("command", [[], ["evaluate"], ["leaderboard"], ["data", "build"], ["teams", "add"]])
def test_help_names_flags_without_placeholders(command: list[str]) -> None:
    """A flag takes no value: help that shows `--force <bool>` invites `--force true`, which is refused."""
    result = codefest(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "--help" in result.stdout and "Show this message and exit." in result.stdout
    assert "<bool>" not in result.stdout


def _commands() -> list[list[str]]:
    """Every command and command group of `codefest`, as a user types it before --help."""
    import typer.main

    from codefest.cli import app

    def walk(command: Any, path: list[str]) -> list[list[str]]:  # typer's own copy of click's Command
        found = [path]
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(app), [])


def test_every_command_has_clean_help() -> None:
    """Help for each command: no flag shown as taking a <bool>, no traceback, no doubled error prefix."""
    commands = _commands()
    assert ["challenges", "list"] in commands and ["ui"] in commands
    helped = codefest_many(*([*command, "--help"] for command in commands), env={"COLUMNS": "80"})
    for command, result in zip(commands, helped, strict=True):
        assert result.returncode == 0, (command, result.stderr)
        assert "Show this message and exit." in result.stdout, command
        assert "<bool>" not in result.stdout and "Traceback" not in result.stdout + result.stderr, command


@pytest.mark.slow  # reads a really evaluated event
def test_reading_the_leaderboard_leaves_every_byte_of_the_store(evaluated: Event, tmp_path: Path) -> None:
    """`codefest leaderboard` is a read command: in every format, public or private, the MLflow store, its
    artifacts and the ledger stay byte for byte as they were; --publish is what writes."""
    from tests.events import SLUG

    def state() -> dict[str, str]:
        """Every file's hash, the ledger's by its rows: SQLite may checkpoint the write-ahead log of the fixture's
        own writes into ledger.db when a reader closes, which moves bytes but changes nothing."""
        files = sorted(path for path in evaluated.home.rglob("*") if path.is_file() and "ledger.db" not in path.name)
        found = {str(path.relative_to(evaluated.home)): sha256(path.read_bytes()).hexdigest() for path in files}
        with closing(sqlite3.connect(evaluated.home / "ledger.db")) as ledger:
            found["ledger.db"] = sha256("\n".join(ledger.iterdump()).encode()).hexdigest()
        return found

    before = state()
    assert "mlflow.db" in before and "ledger.db" in before
    written = tmp_path / "board.csv"
    reads = [
        ["leaderboard", SLUG, *view, "--format", form]
        for view in ([], ["--private"])
        for form in ("table", "json", "csv", "html")
    ]
    reads.append(["leaderboard", SLUG, "--format", "csv", "--out", str(written)])
    for result in codefest_many(*reads, env=evaluated.env()):
        assert result.returncode == 0 and "published" not in result.stderr, (result.args, result.stderr)
    assert written.read_text().startswith("rank")
    assert state() == before


def _one_machine_script() -> str:
    """The shell block of docs/deploy.md's "Try it on one machine", as a reader copies it."""
    guide = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = guide.split("## Try it on one machine", 1)[1]
    return section.split("```sh\n", 1)[1].split("\n```", 1)[0]


def test_the_one_machine_trial_puts_codefest_on_path_and_bounds_its_waits(tmp_path: Path) -> None:
    """Its first line makes `codefest` the checkout's, and a server that never answers ends its wait with a message
    naming it and the end of its log, instead of a loop that never ends."""
    script = _one_machine_script()
    assert not re.search(r"^\s*(until|while) .*; do", script, re.MULTILINE)
    lines = script.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("wait_for() {"))
    end = lines.index("}", start)
    log = tmp_path / "server.log"
    log.write_text("the server failed: port in use\n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    trial = [
        f"cd {ROOT}",
        lines[0],
        "command -v codefest",
        *lines[start : end + 1],
        f"wait_for http://127.0.0.1:{closed}/health 2 {log}",
    ]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(["bash", "-c", "\n".join(trial)], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip() == str(ROOT / ".venv" / "bin" / "codefest")
    assert f"no answer from http://127.0.0.1:{closed}/health within 2 s" in done.stderr
    assert "the server failed: port in use" in done.stderr


def test_enrolling_a_team_loads_no_mlflow(tmp_path: Path) -> None:
    """`codefest teams` reads and writes the ledger only: importing MLflow cost it 10 s on a busy machine."""
    script = (
        "import sys\nfrom codefest.cli import app\n"
        "sys.argv = ['codefest', 'teams', 'add', 'office-a']\n"
        "try:\n    app()\nexcept SystemExit as done:\n    print('exit', done.code)\n"
        "print('mlflow loaded:', any(m == 'mlflow' or m.startswith('mlflow.') for m in sys.modules))\n"
    )
    env = {**os.environ, "CODEFEST_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert "exit 0" in done.stdout and "mlflow loaded: False" in done.stdout, done.stdout + done.stderr
    assert done.stdout.splitlines()[0].startswith("cf_"), done.stdout  # the token, on its own line
