"""The guides' commands, run as written: every ```sh block of docs/guide-*.md, in order, in a fresh workspace.

The three guides run one after another in one workspace (organiser, developer, participant), as an office follows
them, in one shell each (so `cd` and `export` carry on). A bundled challenge is swapped for a small copy of it, and
`codefest ui` is started, asked for /health and stopped. `codefest serve` is started in the background on a free
port, which replaces the guides' default one (8000), and serves the rest of the guides until they are done. Each
command must exit 0, or the code its comment gives (`# exit code 2: ...`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import SMALL, small_copy

pytestmark = pytest.mark.slow  # runs every command of the guides

DOCS = Path(__file__).resolve().parents[1] / "docs"
GUIDES = ("guide-organiser.md", "guide-developer.md", "guide-participant.md")  # the order they run in
SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.S | re.M)
HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
EXIT_CODE = re.compile(r"#.*\bexit code (\d+)")
BUNDLED_SLUG = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, SMALL)) + r")(?![\w-])")
UI = "codefest ui"
SERVE = "codefest serve"
GUIDE_PORT = "8000"  # where the guides' `codefest serve` listens, and their CODEFEST_SERVER points
HEALTH = """import sys, time, urllib.request
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}{sys.argv[2]}", timeout=2) as answer:
            sys.exit(0 if answer.status == 200 else 1)
    except OSError:
        time.sleep(0.5)
sys.exit(1)
"""


@dataclass(frozen=True)
class Command:
    text: str
    expected: int = 0


@dataclass(frozen=True)
class Ran:
    command: Command
    code: int
    output: str


def commands(markdown: str) -> list[Command]:
    """Each command of the ```sh blocks: lines joined by `\\` continuations and heredocs; comments skipped."""
    found = []
    for block in SH_BLOCK.findall(markdown):
        lines = block.splitlines()
        while lines:
            first = lines.pop(0)
            if not first.strip() or first.lstrip().startswith("#"):
                continue
            head = [first]
            while head[-1].endswith("\\") and lines:
                head.append(lines.pop(0))
            body = []
            heredoc = HEREDOC.search("\n".join(head))
            if heredoc:
                while lines and (not body or body[-1] != heredoc.group(1)):
                    body.append(lines.pop(0))
            code = EXIT_CODE.search("\n".join(head))
            found.append(Command("\n".join(head + body), int(code.group(1)) if code else 0))
    return found


def on_small_data(command: Command) -> Command:
    return Command(BUNDLED_SLUG.sub(r"small-\1", command.text), command.expected)


def on_port(command: Command, port: int) -> Command:
    """The command with the service's port in place of the guides' default one."""
    text = command.text.replace(f"127.0.0.1:{GUIDE_PORT}", f"127.0.0.1:{port}")
    return Command(text.replace(f"--port {GUIDE_PORT}", f"--port {port}"), command.expected)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ui_step(number: int, command: Command, logs: Path) -> str:
    """`codefest ui` in the background, in a session of its own so that it stops with its MLflow server."""
    port = _free_port()
    return "\n".join(
        [
            f"setsid {command.text} --port {port} > {logs}/{number}.out 2>&1 < /dev/null &",
            "ui=$!",
            f"python {logs}/health.py {port} /health",
            f"echo $? > {logs}/{number}.rc",
            'kill -TERM -- "-$ui" 2> /dev/null',
            'wait "$ui" 2> /dev/null',
        ]
    )


def _serve_step(number: int, command: Command, logs: Path, port: int) -> str:
    """`codefest serve` in the background, in a session of its own (with its workers), its process group recorded
    for the fixture to stop once every guide has run; the step succeeds when its API answers."""
    text = command.text if "--port" in command.text else f"{command.text} --port {port}"
    return "\n".join(
        [
            f"setsid {text} > {logs}/{number}.out 2>&1 < /dev/null &",
            f"echo $! >> {logs.parent}/serve.pids",
            f"python {logs}/health.py {port} /api/v1/challenges",
            f"echo $? > {logs}/{number}.rc",
        ]
    )


def _step(number: int, command: Command, logs: Path, port: int) -> str:
    if command.text.startswith(UI):
        return _ui_step(number, command, logs)
    if command.text.startswith(SERVE):
        return _serve_step(number, command, logs, port)
    return f"{{\n{command.text}\n}} > {logs}/{number}.out 2>&1 < /dev/null\necho $? > {logs}/{number}.rc"


def run_guide(name: str, workdir: Path, env: dict[str, str], port: int) -> list[Ran]:
    steps = [on_port(on_small_data(c), port) for c in commands((DOCS / name).read_text(encoding="utf-8"))]
    logs = workdir.parent / "logs" / name.removesuffix(".md")
    logs.mkdir(parents=True)
    (logs / "health.py").write_text(HEALTH, encoding="utf-8")
    script = "\n".join(["set +e", *(_step(n, c, logs, port) for n, c in enumerate(steps))]) + "\n"
    subprocess.run(["bash", "-c", script], cwd=workdir, env=env, timeout=1200, check=False)
    return [Ran(c, _code(logs / f"{n}.rc"), _text(logs / f"{n}.out")) for n, c in enumerate(steps)]


def _code(path: Path) -> int:
    """The command's exit code; -1 if it never finished (the guide's shell was stopped)."""
    return int(path.read_text()) if path.is_file() else -1


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.is_file() else ""


def _stop_services(pids: Path) -> None:
    """SIGTERM to each `codefest serve` the guides started (and its workers, in its session); killed if it lingers."""
    groups = [int(pid) for pid in pids.read_text().split()] if pids.is_file() else []
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + 60
    for group in groups:
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


@dataclass(frozen=True)
class GuidesRun:
    ran: dict[str, list[Ran]]
    workdir: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def guides(guides_run: GuidesRun) -> dict[str, list[Ran]]:
    return guides_run.ran


@pytest.fixture(scope="module")
def guides_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GuidesRun]:
    """Every guide run in order in one fresh workspace, with the bundled challenges' small copies."""
    base = tmp_path_factory.mktemp("guides")
    for slug in SMALL:
        small_copy(base / "small-challenges", slug)
    workdir = base / "work"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
    env |= {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "CODEFEST_HOME": str(workdir / ".codefest"),
        "CODEFEST_CHALLENGES_PATH": str(base / "small-challenges"),
        "COLUMNS": "200",
    }
    port = _free_port()
    try:
        yield GuidesRun({name: run_guide(name, workdir, env, port) for name in GUIDES}, workdir, env)
    finally:
        _stop_services(base / "logs" / "serve.pids")


def _failures(ran: list[Ran]) -> str:
    return "\n\n".join(
        f"$ {r.command.text}\n-> exit code {r.code}, expected {r.command.expected}\n{r.output[-3000:]}"
        for r in ran
        if r.code != r.command.expected
    )


@pytest.mark.parametrize("guide", GUIDES)
def test_every_command_of_the_guide_exits_as_documented(guide: str, guides: dict[str, list[Ran]]) -> None:
    ran = guides[guide]
    assert ran, f"{guide} shows no commands"
    assert all(r.code == r.command.expected for r in ran), _failures(ran)
    assert all("Traceback" not in r.output for r in ran), _failures([r for r in ran if "Traceback" in r.output])


def test_the_guides_cover_their_roles() -> None:
    shown = {name: " ".join(c.text for c in commands((DOCS / name).read_text())) for name in GUIDES}
    organiser = ("files-classification", "codefest data build", "--predictions", "--code", "--inbox", "--reveal")
    for text in (*organiser, "codefest serve", "codefest teams token", "/api/v1/openapi.json"):
        assert text in shown["guide-organiser.md"], text
    for text in ("codefest new", ".train", ".predict", "codefest score", "codefest evaluate"):
        assert text in shown["guide-developer.md"], text
    participant = ("codefest submit", "codefest submissions", "CODEFEST_TOKEN", "/leaderboard", "codefest leaderboard")
    for text in (*participant, "codefest ui"):
        assert text in shown["guide-participant.md"], text
    assert any(c.expected == 2 for c in commands((DOCS / "guide-organiser.md").read_text()))


def test_commands_are_split_as_a_shell_reads_them() -> None:
    markdown = "\n".join(
        [
            "```sh",
            "# a comment",
            "export A=1",
            "cat > f <<'EOF'",
            "x: 1",
            "EOF",
            "run --long \\",
            "    --option   # exit code 2: refused",
            "```",
            "```yaml",
            "not: run",
            "```",
        ]
    )
    assert commands(markdown) == [
        Command("export A=1"),
        Command("cat > f <<'EOF'\nx: 1\nEOF"),
        Command("run --long \\\n    --option   # exit code 2: refused", 2),
    ]
    assert on_small_data(Command("codefest data build ipc-classification office-ipc")).text == (
        "codefest data build small-ipc-classification office-ipc"
    )


def test_the_code_submission_command_runs_the_developers_pilot_as_the_contract_says(guides_run: GuidesRun) -> None:
    """docs/code-submissions.md's command, with the names it gives: `mypilot` is the pilot's package (the developer's
    guide's), RUN the run folder (the whole public bundle in input/, an empty output/), tried locally as the contract's
    last line says (`PYTHONPATH=src:.`, from the repository's root)."""
    (command,) = commands((DOCS / "code-submissions.md").read_text(encoding="utf-8"))
    assert "mypilot" in command.text and "RUN/input/test.jsonl" in command.text
    pilot = guides_run.workdir / "office-a-ipc-pilot"
    run = guides_run.workdir.parent / "code-run"
    shutil.copytree(guides_run.workdir / ".codefest" / "bundles" / "small-ipc-classification", run / "input")
    (run / "output").mkdir()
    text = command.text.replace("mypilot", "office_a_ipc_pilot").replace("RUN/", f"{run}/")
    env = guides_run.env | {"PYTHONPATH": "src:."}
    result = subprocess.run(["bash", "-c", text], cwd=pilot, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    ids = [json.loads(line)["id"] for line in (run / "input" / "test.jsonl").read_text().splitlines()]
    written = [json.loads(line)["id"] for line in (run / "output" / "predictions.jsonl").read_text().splitlines()]
    assert sorted(written) == sorted(ids)


# The README's commands. `./run demo` is `codefest demo`, which tests/test_demo.py runs; `./run tests` is this suite.
# The other codefest lines are synopses (SLUG, TEAM, HOST, [optional parts], files of your own): each names a command
# that exists and options that command takes. Lines without a placeholder run as written, in a fresh clone.
README = DOCS.parent / "README.md"
RUN_BY_OTHER_TESTS = {"./run demo": "tests/test_demo.py", "./run tests": "the test suite itself"}
SYNOPSIS = re.compile(r"\[|\.\.\.|\b[A-Z][A-Z_]{2,}\b|\bcodefest\b")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z-]*")


HELP: dict[tuple[str, ...], str] = {}


def _codefest_help(words: list[str], env: dict[str, str]) -> str:
    """`codefest WORDS --help`, asked once per command."""
    if tuple(words) not in HELP:
        result = subprocess.run(["codefest", *words, "--help"], capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, f"codefest {' '.join(words)}: {result.stderr}"
        HELP[tuple(words)] = result.stdout
    return HELP[tuple(words)]


def _check_synopsis(text: str, env: dict[str, str]) -> None:
    """The command the synopsis names exists (the longest run of command words), with every option it shows."""
    words = text.split("#")[0].split()
    assert words[0] == "codefest", text
    path: list[str] = []
    for word in words[1:]:
        if not re.fullmatch(r"[a-z][a-z-]*", word) or "Commands" not in _codefest_help(path, env):
            break
        path.append(word)
    shown = _codefest_help(path, env)
    for option in OPTION.findall(text.split("#")[0]):
        assert option in shown, f"{text}: codefest {' '.join(path)} has no {option}"


def test_every_readme_command_works_as_written_or_names_a_real_command(tmp_path: Path) -> None:
    clone = tmp_path / "codefest"
    subprocess.run(["git", "clone", "-q", str(README.parent), str(clone)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH")}
    env |= {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "CODEFEST_HOME": str(tmp_path / "workspace"),
        "COLUMNS": "200",
    }
    found = commands(README.read_text(encoding="utf-8"))
    lines = [line for c in found for line in c.text.splitlines() if not line.lstrip().startswith("#")]
    assert set(RUN_BY_OTHER_TESTS) <= {line.split("#")[0].strip() for line in lines}
    ran = []
    for line in lines:
        command = line.split("#")[0].strip()
        if command in RUN_BY_OTHER_TESTS or command.startswith("export "):
            continue
        if SYNOPSIS.search(command):
            _check_synopsis(command, env)
            continue
        enter = "\n" * 20  # Enter at each question: its default
        result = subprocess.run(
            ["bash", "-c", command], cwd=clone, env=env, input=enter, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, f"$ {command}\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        ran.append(command)
    assert ran == ["cookiecutter templates/pilot task=search"]
    assert (clone / "prior-art-search-pilot" / "src" / "prior_art_search_pilot" / "model.py").is_file()
