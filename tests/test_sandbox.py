"""Pilots run in a sandbox: their own process, the challenge's limits, no network, no view of the labels."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from codefest.core.errors import CodefestError
from codefest.evaluation import jail
from codefest.evaluation.sandbox import CodeLimits, CodeRun, entry_point, isolation_available, run_pilot

LIMITS = CodeLimits(wall_time_seconds=20, memory_mb=1024)
ISOLATED = isolation_available()
needs_isolation = pytest.mark.skipif(not ISOLATED, reason="needs root on Linux with bubblewrap (/usr/bin/bwrap)")

PREAMBLE = """\
import argparse
import json
import os
import sys
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--input", type=Path, required=True)
parser.add_argument("--output", type=Path, required=True)
args = parser.parse_args()


def report(**seen):
    (args.output.parent / "seen.json").write_text(json.dumps(seen))


"""


def write_pilot(root: Path, code: str = "", package: str = "mypilot", declare: bool = True) -> Path:
    """A pilot repository: pyproject.toml and src/<package>/predict.py running `code` after parsing arguments."""
    root.mkdir(parents=True, exist_ok=True)
    tool = f'\n[tool.codefest]\npredict = "{package}.predict"\n' if declare else ""
    (root / "pyproject.toml").write_text(f'[project]\nname = "{package}"\nversion = "0.1"\n{tool}', encoding="utf-8")
    module = root / "src" / package / "predict.py"
    module.parent.mkdir(parents=True, exist_ok=True)
    module.write_text(PREAMBLE + textwrap.dedent(code), encoding="utf-8")
    return root


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "bundle"
    folder.mkdir()
    test = folder / "test.jsonl"
    test.write_text("".join(json.dumps({"id": f"T{n}", "text": "a claim"}) + "\n" for n in range(3)), encoding="utf-8")
    corpus = folder / "corpus.jsonl"
    corpus.write_text(json.dumps({"id": "D1", "text": "prior art"}) + "\n", encoding="utf-8")
    return [test, corpus]


@pytest.fixture
def workspace() -> Iterator[Path]:
    """An organiser's workspace that every user could read, outside pytest's private temp folder.

    Only the sandbox's own hiding keeps the labels from the pilot here, not folder permissions.
    """
    root = Path(tempfile.mkdtemp(prefix="codefest-test-workspace-"))
    root.chmod(0o755)
    labels = root / "vault" / "test-labels.jsonl"
    labels.parent.mkdir(mode=0o755)
    labels.write_text('{"id": "T0", "labels": ["SECRET-LABEL-G06F"]}\n', encoding="utf-8")
    labels.chmod(0o644)
    (root / "bundles").mkdir(mode=0o755)
    yield root
    shutil.rmtree(root)


def run(tmp_path: Path, code: str, inputs: list[Path], limits: CodeLimits = LIMITS, hidden: list[Path] = ()) -> CodeRun:
    pilot = write_pilot(tmp_path / "pilot", code)
    return run_pilot(pilot, inputs, limits, list(hidden), tmp_path / "run")


def seen(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "run" / "output" / "seen.json").read_text(encoding="utf-8"))


SUCCESS = """\
rows = [json.loads(line) for line in args.input.read_text().splitlines()]
with args.output.open("w") as out:
    for row in rows:
        out.write(json.dumps({"id": row["id"], "labels": ["G06F"]}) + "\\n")
report(env=dict(os.environ), inputs=sorted(os.listdir(args.input.parent)), cwd=os.getcwd(), uid=os.getuid())
"""


def test_a_pilot_writes_predictions_from_the_inputs_in_a_clean_environment(
    tmp_path: Path, inputs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.internal:5000")
    monkeypatch.setenv("ORGANISER_TOKEN", "s3cret")
    result = run(tmp_path, SUCCESS, inputs)
    assert result.status == "ok", result.message
    assert result.isolated is ISOLATED
    assert result.predictions == tmp_path / "run" / "output" / "predictions.jsonl"
    lines = [json.loads(line) for line in result.predictions.read_text(encoding="utf-8").splitlines()]
    assert lines == [{"id": f"T{n}", "labels": ["G06F"]} for n in range(3)]
    view = seen(tmp_path)
    assert view["inputs"] == ["corpus.jsonl", "test.jsonl"]
    assert view["cwd"] == str(tmp_path / "run" / "pilot")
    env = view["env"]
    assert "CODEFEST_HOME" in os.environ
    assert not {"CODEFEST_HOME", "MLFLOW_TRACKING_URI", "ORGANISER_TOKEN"} & env.keys()
    assert env["HOME"] == str(tmp_path / "run")
    assert env["PYTHONHASHSEED"] == "0" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HF_HUB_OFFLINE"] == env["HF_DATASETS_OFFLINE"] == "1" and env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert env["PYTHONPATH"].split(os.pathsep)[1:] == [
        str(tmp_path / "run" / "pilot" / "src"),
        str(tmp_path / "run" / "pilot"),
    ]
    if ISOLATED:
        assert view["uid"] == 65534


def test_the_copy_leaves_out_version_control_and_environments(tmp_path: Path, inputs: list[Path]) -> None:
    pilot = write_pilot(tmp_path / "pilot", "args.output.write_text('')\n")
    for ignored in (".git", ".venv", "src/mypilot/__pycache__"):
        (pilot / ignored).mkdir(parents=True)
        (pilot / ignored / "file").write_text("x", encoding="utf-8")
    run_pilot(pilot, inputs, LIMITS, [], tmp_path / "run")
    copy = tmp_path / "run" / "pilot"
    assert (copy / "src" / "mypilot" / "predict.py").is_file()
    assert not any((copy / ignored).exists() for ignored in (".git", ".venv", "src/mypilot/__pycache__"))


def test_without_isolation_the_result_says_so(
    tmp_path: Path, inputs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("codefest.evaluation.sandbox.isolation_available", lambda: False)
    result = run(tmp_path, SUCCESS, inputs)
    assert result.status == "ok"
    assert result.isolated is False
    assert "network and file isolation were not available" in result.message
    assert "CODEFEST_HOME" not in seen(tmp_path)["env"]


def test_a_pilot_past_its_wall_time_is_killed(tmp_path: Path, inputs: list[Path]) -> None:
    code = "import subprocess, time\nsubprocess.Popen(['sleep', '60'])\ntime.sleep(60)\n"
    started = time.monotonic()
    result = run(tmp_path, code, inputs, CodeLimits(wall_time_seconds=2, memory_mb=1024))
    elapsed = time.monotonic() - started
    assert result.status == "timeout"
    assert "within the limit of 2 s" in result.message
    assert result.seconds >= 2 and elapsed < 10
    assert result.predictions is None


def test_a_pilot_over_its_memory_limit_is_stopped(tmp_path: Path, inputs: list[Path]) -> None:
    result = run(tmp_path, "block = bytearray(2 * 1024**3)\n", inputs, CodeLimits(wall_time_seconds=20, memory_mb=300))
    assert result.status == "memory", result.message
    assert "300 MB" in result.message
    assert "MemoryError" in result.stderr


@pytest.mark.parametrize(
    "code",
    [
        "import socket\nsocket.create_connection(('10.255.255.1', 80), timeout=1)\n",
        "import urllib.request\nurllib.request.urlopen('http://example.org', timeout=1)\n",
    ],
    ids=["socket", "urllib"],
)
def test_network_access_is_blocked_and_reported(tmp_path: Path, inputs: list[Path], code: str) -> None:
    result = run(tmp_path, code, inputs)
    assert result.status == "network", result.message
    assert "tried to use the network" in result.message
    assert "codefest-sandbox: network access blocked: socket.getaddrinfo" in result.stderr


@needs_isolation
def test_code_that_skips_the_audit_hook_still_has_no_network(tmp_path: Path, inputs: list[Path]) -> None:
    code = """\
    import socket, subprocess
    probe = (
        "import socket\\ntry:\\n socket.create_connection(('10.255.255.1', 80), timeout=2)\\n"
        "except OSError as e:\\n print(e)"
    )
    done = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True)
    report(error=done.stdout, interfaces=[name for _, name in socket.if_nameindex()])
    args.output.write_text("")
    """
    result = run(tmp_path, code, inputs)
    assert result.status == "ok", result.message
    view = seen(tmp_path)
    assert "unreachable" in view["error"]
    assert view["interfaces"] == ["lo"]


@needs_isolation
def test_the_organisers_labels_are_out_of_sight(tmp_path: Path, inputs: list[Path], workspace: Path) -> None:
    labels = workspace / "vault" / "test-labels.jsonl"
    me = os.getpid()
    code = f"""\
    attempts = {{}}
    for path in [{str(labels)!r}, "/proc/1/root{labels}", "/proc/{me}/root{labels}", "/proc/{me}/cwd"]:
        try:
            attempts[path] = open(path).read() if path.endswith(".jsonl") else os.listdir(path)
        except OSError as err:
            attempts[path] = f"{{type(err).__name__}}: {{err.strerror}}"
    attempts["workspace"] = os.path.exists({str(workspace)!r})
    report(attempts=attempts, parent=os.getppid(), pids=sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
    args.output.write_text("")
    """
    assert labels.stat().st_mode & 0o004  # readable by anyone: only the sandbox hides it
    result = run(tmp_path, code, inputs, hidden=[workspace])
    assert result.status == "ok", result.message
    view = seen(tmp_path)
    assert view["attempts"].pop("workspace") is False  # not on the allowlist: not there at all
    assert view["parent"] == 1 and view["pids"] == [1, 2]  # under bwrap's reaper in its own PID namespace
    assert all(outcome.startswith(("FileNotFoundError", "PermissionError")) for outcome in view["attempts"].values()), (
        view
    )
    text = json.dumps(view) + result.stdout + result.stderr
    assert "SECRET-LABEL" not in text
    assert labels.read_text(encoding="utf-8").startswith('{"id": "T0"')  # still there for the organiser


@needs_isolation
def test_a_link_to_the_organisers_files_is_not_taken_for_predictions(tmp_path: Path, inputs: list[Path]) -> None:
    result = run(tmp_path, "os.symlink('/etc/passwd', args.output)\n", inputs)
    assert result.status == "no-output"
    assert "not a link" in result.message
    assert result.predictions is None


def test_a_crash_reports_the_exception(tmp_path: Path, inputs: list[Path]) -> None:
    result = run(tmp_path, "raise ValueError('the model file models/clf.pkl is missing')\n", inputs)
    assert result.status == "crashed"
    assert "exit code 1" in result.message
    assert "ValueError: the model file models/clf.pkl is missing" in result.message
    assert result.predictions is None


def test_finishing_without_predictions_is_no_output(tmp_path: Path, inputs: list[Path]) -> None:
    result = run(tmp_path, "print('done, I think')\n", inputs)
    assert result.status == "no-output"
    assert "predictions.jsonl" in result.message and "--output" in result.message
    assert result.stdout == "done, I think\n"


def test_streams_are_kept_to_their_last_64_kib(tmp_path: Path, inputs: list[Path]) -> None:
    code = "sys.stderr.write('x' * 200_000 + 'END')\nargs.output.write_text('')\n"
    result = run(tmp_path, code, inputs)
    assert result.status == "ok"
    assert len(result.stderr) == 64 * 1024 and result.stderr.endswith("END")


def test_the_entry_point_is_found_without_the_key_when_there_is_one_package(tmp_path: Path) -> None:
    assert entry_point(write_pilot(tmp_path / "declared", package="triage")) == "triage.predict"
    assert entry_point(write_pilot(tmp_path / "found", package="classify", declare=False)) == "classify.predict"


def test_no_entry_point_is_an_error_with_the_fix(tmp_path: Path) -> None:
    pilot = tmp_path / "pilot"
    (pilot / "src" / "mypilot").mkdir(parents=True)
    (pilot / "pyproject.toml").write_text('[project]\nname = "mypilot"\n', encoding="utf-8")
    with pytest.raises(CodefestError, match=r"no src/<package>/predict\.py") as raised:
        entry_point(pilot)
    assert "[tool.codefest] predict" in str(raised.value.fix)


def test_two_predict_modules_are_an_error_naming_both(tmp_path: Path) -> None:
    pilot = write_pilot(tmp_path / "pilot", package="alpha", declare=False)
    write_pilot(pilot, package="beta", declare=False)
    with pytest.raises(CodefestError, match="several predict modules") as raised:
        entry_point(pilot)
    assert "src/alpha/predict.py" in str(raised.value) and "src/beta/predict.py" in str(raised.value)
    assert "[tool.codefest] predict" in str(raised.value.fix)


def test_a_declared_module_must_exist(tmp_path: Path) -> None:
    pilot = write_pilot(tmp_path / "pilot", package="alpha")
    (pilot / "pyproject.toml").write_text('[tool.codefest]\npredict = "alpha.infer"\n', encoding="utf-8")
    with pytest.raises(CodefestError, match=r"alpha\.infer"):
        entry_point(pilot)


def test_a_missing_pilot_or_pyproject_is_an_error_with_the_fix(tmp_path: Path, inputs: list[Path]) -> None:
    with pytest.raises(CodefestError, match="does not exist"):
        run_pilot(tmp_path / "nowhere", inputs, LIMITS, [], tmp_path / "run")
    (tmp_path / "bare").mkdir()
    with pytest.raises(CodefestError, match=r"no pyproject\.toml") as raised:
        run_pilot(tmp_path / "bare", inputs, LIMITS, [], tmp_path / "run")
    assert "[tool.codefest]" in str(raised.value.fix)


def test_the_run_folder_may_not_overlap_the_hidden_workspace(tmp_path: Path, inputs: list[Path]) -> None:
    pilot = write_pilot(tmp_path / "pilot")
    with pytest.raises(CodefestError, match="overlap"):
        run_pilot(pilot, inputs, LIMITS, [tmp_path / "workspace"], tmp_path / "workspace" / "runs" / "1")


def test_copy_out_is_bounded_by_apparent_size_and_count_before_copying(tmp_path: Path) -> None:
    source, target = tmp_path / "scratch-output", tmp_path / "output"
    source.mkdir()
    target.mkdir()
    (source / "predictions.jsonl").write_text('{"id": "T0"}\n')
    (source / "link").symlink_to("/etc/passwd")
    flags = os.O_RDONLY | os.O_DIRECTORY
    fds = os.open(source, flags), os.open(target, flags)
    try:
        assert jail.copy_out(*fds, max_files=2, max_bytes=1024) == ""
        assert (target / "predictions.jsonl").read_text() == '{"id": "T0"}\n' and (target / "link").is_symlink()
        for path in target.iterdir():
            path.unlink()
        with (source / "sparse.bin").open("wb") as out:
            out.truncate(5 * 1024**3)  # no block used in the scratch space, 5 GiB apparent
        refused = jail.copy_out(*fds, max_files=16, max_bytes=256 * 1024**2)
        assert "3 files of 5,368,709,133 bytes" in refused and "at most 16 files of 268,435,456 bytes" in refused
        assert not list(target.iterdir())  # nothing copied, not even the predictions
        assert "at most 2 files" in jail.copy_out(*fds, max_files=2, max_bytes=10 * 1024**3)
    finally:
        for fd in fds:
            os.close(fd)


@needs_isolation
def test_an_owner_only_umask_still_lets_the_pilot_read_its_inputs(tmp_path: Path, inputs: list[Path]) -> None:
    """The CLI creates workspace files owner-only (umask 077); the run folder must stay readable by user nobody."""
    previous = os.umask(0o077)
    try:
        result = run(tmp_path, SUCCESS, inputs)
    finally:
        os.umask(previous)
    assert result.status == "ok", result.message
    assert seen(tmp_path)["inputs"] == ["corpus.jsonl", "test.jsonl"]
