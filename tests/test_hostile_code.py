"""Hostile pilots: each attack is stopped or contained, gets a status and a message, and leaks nothing.

One small pilot per attack, run through `run_pilot` (a few through `Evaluator.code`, which records MLflow runs). After
every run: the vault's bytes appear nowhere the pilot could leave them (its streams, the message, the run folder),
the organiser's workspace and the pilot's source are unchanged, and no process of the pilot is left. The last tests
run ordinary pilots beside and after hostile ones: they are not affected.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mlflow import MlflowClient

from codefest.challenges.discovery import load
from codefest.core.errors import CodefestError
from codefest.evaluation import cgroups, jail, pilot_tree, roster
from codefest.evaluation.evaluate import Evaluator, evaluate_inbox
from codefest.evaluation.records import Tag, where
from codefest.evaluation.sandbox import CodeLimits, CodeRun, isolation_available, run_pilot
from codefest.evaluation.submissions import fingerprint
from codefest.evaluation.tracking import tracking_uri
from codefest.shared_datasets.heldout import build, gold_file
from tests.helpers import bundled_spec, write_challenge
from tests.test_sandbox import PREAMBLE as SANDBOX_PREAMBLE

pytestmark = [
    pytest.mark.slow,  # runs hostile code in the sandbox, one run per test
    pytest.mark.skipif(not isolation_available(), reason="needs root on Linux 5.12+ with namespaces"),
]

CODEFEST_ROOT = Path(__file__).resolve().parents[1]  # the checkout, whose .venv runs the pilots
LIMITS = CodeLimits(wall_time_seconds=30, memory_mb=256, disk_mb=64)  # ample on a loaded machine: attacks end sooner
SHORT = CodeLimits(wall_time_seconds=2, memory_mb=256, disk_mb=64)  # for attacks that only end at the wall time
BESIDE = CodeLimits(wall_time_seconds=5, memory_mb=2048, disk_mb=64)  # hostile runs that outlast an honest one
KILLED_WITHIN = 30  # seconds: a pilot that was not stopped would sleep (or fork) well past this
SECRET = "SECRET-LABEL-G06F-Q7X"
TEST_IDS = [f"T{n}" for n in range(3)]

PREAMBLE = (
    SANDBOX_PREAMBLE
    + """\
def predict():
    rows = [json.loads(line) for line in args.input.read_text().splitlines()]
    args.output.write_text("".join(json.dumps({"id": r["id"], "labels": ["G06F"]}) + "\\n" for r in rows))



def attempt(action):
    try:
        return {"result": action()}
    except Exception as err:
        return {"error": type(err).__name__, "detail": str(err)}


"""
)


# --- the organiser's side ----------------------------------------------------------------------------------


@pytest.fixture
def workspace(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The organiser's workspace, readable by every user: only the sandbox keeps the pilot from the vault.

    The organiser's environment points at it, as on a real server.
    """
    root = Path(tempfile.mkdtemp(prefix="codefest-hostile-workspace-"))
    root.chmod(0o755)
    labels = root / "vault" / "test-labels.jsonl"
    labels.parent.mkdir(mode=0o755)
    labels.write_text(f'{{"id": "T0", "labels": ["{SECRET}"]}}\n', encoding="utf-8")
    labels.chmod(0o644)
    monkeypatch.setenv("CODEFEST_HOME", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root}/mlflow.db")
    yield root
    shutil.rmtree(root)


@pytest.fixture
def inputs(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "bundle"
    folder.mkdir()
    test = folder / "test.jsonl"
    test.write_text("".join(json.dumps({"id": i, "text": "a claim"}) + "\n" for i in TEST_IDS), encoding="utf-8")
    return [test]


@pytest.fixture
def token() -> str:
    """A number unique to the test: in paths the pilot tries to write, and in its processes' command lines."""
    return str(10**8 + secrets.randbelow(9 * 10**8))


def labels_of(workspace: Path) -> Path:
    return workspace / "vault" / "test-labels.jsonl"


def write_pilot(root: Path, code: str) -> Path:
    (root / "src" / "hostile").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.codefest]\npredict = "hostile.predict"\n', encoding="utf-8")
    (root / "src" / "hostile" / "predict.py").write_text(PREAMBLE + textwrap.dedent(code), encoding="utf-8")
    return root


def tree(folder: Path) -> dict[str, tuple[str, int]]:
    """Every entry under `folder`, links not followed: kind and size."""
    found = {}
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(parent, name)
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            found[str(path.relative_to(folder))] = (kind, path.lstat().st_size if kind == "file" else 0)
    return found


def texts_under(folder: Path) -> dict[str, str]:
    """The text of every plain file under `folder`, links not followed."""
    return {
        str(Path(parent, name)): Path(parent, name).read_bytes().decode("utf-8", errors="replace")
        for parent, _, files in os.walk(folder)
        for name in files
        if not Path(parent, name).is_symlink()
    }


def processes_with(*markers: str) -> list[str]:
    """Command lines of live processes that hold a marker (the test's own process aside)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().decode(errors="replace").replace("\0", " ")
        except OSError:
            continue
        if any(marker in command for marker in markers):
            found.append(command)
    return found


def attack(
    tmp_path: Path, code: str, inputs: list[Path], workspace: Path, token: str, limits: CodeLimits = LIMITS
) -> CodeRun:
    """Run a hostile pilot, then check what must hold whatever it tried: no leak, nothing changed, nothing left.

    The pilot is `code` in tmp_path/pilot, unless the test has already built one there (with links, say).
    """
    pilot = tmp_path / "pilot" if (tmp_path / "pilot").exists() else write_pilot(tmp_path / "pilot", code)
    source, vault = tree(pilot), labels_of(workspace).read_bytes()
    # the pilot's environment outside the workspace, so that the workspace must stay exactly as it was
    result = run_pilot(pilot, inputs, limits, [workspace], tmp_path / "run", environments_folder=tmp_path / "envs")
    assert result.isolated
    assert not processes_with(token, str(tmp_path)), "a process of the pilot outlived its run"
    left = {"stdout": result.stdout, "stderr": result.stderr, "message": result.message} | texts_under(tmp_path / "run")
    assert not [place for place, text in left.items() if SECRET in text], "the vault's bytes got out"
    assert labels_of(workspace).read_bytes() == vault and tree(workspace) == {
        "vault": ("dir", 0),
        "vault/test-labels.jsonl": ("file", len(vault)),
    }
    assert tree(pilot) == source and tree(tmp_path / "run" / "pilot") == source  # the organiser's copy too
    return result


def seen(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "run" / "output" / "seen.json").read_text(encoding="utf-8"))


def refused(outcome: dict) -> bool:
    return outcome.get("error") in ("FileNotFoundError", "PermissionError", "NotADirectoryError")


# --- reading the vault -------------------------------------------------------------------------------------


def test_the_vault_by_absolute_and_relative_paths(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    labels = labels_of(workspace)
    code = f"""\
    labels = {str(labels)!r}
    report(
        absolute=attempt(lambda: open(labels).read()),
        relative=attempt(lambda: open(os.path.relpath(labels)).read()),
        dotdot=os.path.relpath(labels),
        listing=attempt(lambda: os.listdir({str(workspace)!r})),
    )
    predict()
    """
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "ok", result.message
    view = seen(tmp_path)
    assert view["dotdot"].startswith("../")
    assert refused(view["absolute"]) and refused(view["relative"]), view
    assert refused(view["listing"]), view  # not on the allowlist: not there at all


def test_links_in_the_pilot_are_copied_as_links_and_lead_nowhere(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    code = """\
    report(
        file=attempt(lambda: Path("leak-file").read_text()),
        folder=attempt(lambda: os.listdir("leak-folder")),
        module_data=attempt(lambda: (Path(__file__).parent / "labels.jsonl").read_text()),
    )
    predict()
    """
    pilot = write_pilot(tmp_path / "pilot", code)
    (pilot / "leak-file").symlink_to(labels_of(workspace))
    (pilot / "leak-folder").symlink_to(workspace / "vault", target_is_directory=True)
    (pilot / "src" / "hostile" / "labels.jsonl").symlink_to(labels_of(workspace))
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "ok", result.message
    copy = tmp_path / "run" / "pilot"
    assert (copy / "leak-file").is_symlink() and (copy / "leak-folder").is_symlink()  # links, not the vault's bytes
    view = seen(tmp_path)
    assert refused(view["file"]) and refused(view["folder"]) and refused(view["module_data"]), view


def test_a_pyproject_linked_to_the_vault_is_refused_unread(tmp_path: Path, inputs: list[Path], workspace: Path) -> None:
    pilot = write_pilot(tmp_path / "pilot", "predict()\n")
    (pilot / "pyproject.toml").unlink()
    (pilot / "pyproject.toml").symlink_to(labels_of(workspace))
    with pytest.raises(CodefestError, match="is a link or a special file") as raised:
        run_pilot(pilot, inputs, LIMITS, [workspace], tmp_path / "run")
    assert SECRET not in str(raised.value) and not (tmp_path / "run").exists()


def test_a_fifo_in_the_pilot_is_refused_without_stalling_the_copy(
    tmp_path: Path, inputs: list[Path], workspace: Path
) -> None:
    pilot = write_pilot(tmp_path / "pilot", "predict()\n")
    os.mkfifo(pilot / "src" / "hostile" / "model.bin")
    started = time.monotonic()
    with pytest.raises(CodefestError, match="neither a file, a folder nor a link"):
        run_pilot(pilot, inputs, LIMITS, [workspace], tmp_path / "run")
    assert time.monotonic() - started < 5


def test_predictions_linked_to_the_vault_are_not_followed(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    code = f"os.symlink({str(labels_of(workspace))!r}, args.output)\n"
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "no-output" and "not a link" in result.message
    assert (tmp_path / "run" / "output" / "predictions.jsonl").is_symlink() and result.predictions is None


def test_the_environment_names_no_organiser_path(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    code = """\
    found = {}
    for name, value in os.environ.items():
        for part in value.split(os.pathsep):
            path = Path(part.removeprefix("sqlite:///"))
            if path.is_absolute() and path.is_dir():
                found[part] = attempt(lambda: [str(p) for p in path.rglob("test-labels.jsonl")])
    report(env=dict(os.environ), found=found)
    predict()
    """
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "ok", result.message
    view = seen(tmp_path)
    assert os.environ["CODEFEST_HOME"] == str(workspace)  # the organiser's side has it
    assert not {"CODEFEST_HOME", "MLFLOW_TRACKING_URI"} & view["env"].keys()
    assert not [value for value in view["env"].values() if str(workspace) in value]
    assert all(outcome.get("result") in ([], None) or refused(outcome) for outcome in view["found"].values()), view


def test_proc_shows_no_organiser_process_or_path(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    labels, me = labels_of(workspace), os.getpid()
    code = f"""\
    ppid = os.getppid()
    mounts = [line.split()[4] for line in open("/proc/self/mountinfo")]
    report(
        ppid=ppid,
        first_environ=attempt(lambda: open("/proc/1/environ").read()),
        parent_environ=attempt(lambda: open(f"/proc/{{ppid}}/environ").read()),
        parent_cwd=attempt(lambda: os.listdir(f"/proc/{{ppid}}/cwd")),
        parent_root=attempt(lambda: open(f"/proc/{{ppid}}/root{labels}").read()),
        organiser_root=attempt(lambda: open("/proc/{me}/root{labels}").read()),
        organiser_environ=attempt(lambda: open("/proc/{me}/environ").read()),
        pids=sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        workspace_mounts={{m: attempt(lambda: os.listdir(m)) for m in mounts if {workspace.name!r} in m}},
    )
    predict()
    """
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "ok", result.message
    view = seen(tmp_path)
    assert view["ppid"] == 1 and view["pids"] == [1, 2]  # alone in its PID namespace, under bwrap's reaper
    assert "CODEFEST_HOME" not in view["first_environ"]["result"]  # its own environment
    assert view["parent_environ"] == view["first_environ"]  # its parent is bwrap's reaper, with the pilot's environment
    assert sorted(view["parent_cwd"]["result"]) == ["pyproject.toml", "src"]  # in the pilot's own folder
    for name in ("parent_root", "organiser_root", "organiser_environ"):
        assert refused(view[name]), (name, view[name])
    assert not view["workspace_mounts"]  # the allowlist has no mount of the workspace, not even an empty one


# --- the network -------------------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP server of the organiser on the host's loopback: a pilot must not reach it."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def no_connection(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return True
    return False


@pytest.mark.parametrize(
    ("call", "named"),
    [
        ("socket.create_connection(('127.0.0.1', PORT), timeout=1)", "socket.getaddrinfo"),
        ("socket.socket().connect(('127.0.0.1', PORT))", "socket.connect"),
        ("socket.create_connection(('192.0.2.1', 80), timeout=1)", "socket.getaddrinfo"),
        ("socket.getaddrinfo('example.org', 443)", "socket.getaddrinfo"),
    ],
    ids=["loopback", "loopback-raw", "external", "dns"],
)
def test_python_network_calls_are_blocked_and_reported(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str, listener: socket.socket, call: str, named: str
) -> None:
    code = (
        f"import socket\ntry:\n    {call.replace('PORT', str(listener.getsockname()[1]))}\nexcept OSError:\n    pass\n"
    )
    result = attack(tmp_path, code + "predict()\n", inputs, workspace, token)
    assert result.status == "network", result.message
    assert "tried to use the network" in result.message and named in result.message
    assert result.predictions is None and no_connection(listener)


BYPASS = """\
import ctypes, socket, subprocess
PORT = {port}
child = (
    "import socket\\n"
    "for call in (lambda: socket.create_connection(('127.0.0.1', %d), timeout=2), "
    "lambda: socket.getaddrinfo('example.org', 443)):\\n"
    "    try:\\n        call(); print('reached')\\n"
    "    except OSError as err:\\n        print(type(err).__name__, err)\\n"
) % PORT
done = subprocess.run([sys.executable, "-I", "-S", "-c", child, "{token}"], capture_output=True, text=True)
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.socket(socket.AF_INET, socket.SOCK_STREAM, 0)
address = socket.inet_aton("127.0.0.1")
sockaddr = PORT.to_bytes(2, "big")
raw = (ctypes.c_ubyte * 16)(*(socket.AF_INET.to_bytes(2, sys.byteorder) + sockaddr + address + bytes(8)))
connected = libc.connect(fd, raw, 16)
errno = ctypes.get_errno()
found = ctypes.c_void_p()
lookup = libc.getaddrinfo(b"example.org", b"443", None, ctypes.byref(found))
links = [name for _, name in socket.if_nameindex()]
report(child=done.stdout, ctypes_connect=[connected, os.strerror(errno)], ctypes_lookup=lookup, links=links)
predict()
"""


def test_network_calls_around_the_audit_hook_still_fail(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str, listener: socket.socket
) -> None:
    code = BYPASS.format(port=listener.getsockname()[1], token=token)
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "ok", result.message  # contained: the calls fail, nothing reaches out
    view = seen(tmp_path)
    # bwrap's network namespace has its own loopback, with nothing listening: refused there, never the host's
    assert "reached" not in view["child"] and "Connection refused" in view["child"] and "gaierror" in view["child"]
    assert view["ctypes_connect"] == [-1, "Connection refused"]
    assert view["ctypes_lookup"] != 0 and view["links"] == ["lo"]
    assert no_connection(listener)


@pytest.fixture
def unix_listeners(token: str) -> Iterator[list[socket.socket]]:
    """Unix sockets of the organiser, open to all, in /run (where resolvers and databases listen) and /tmp."""
    servers, folders = [], [Path("/run") / f"codefest-{token}", Path("/tmp") / f"codefest-{token}"]
    for folder in folders:
        folder.mkdir(mode=0o755)
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(folder / "socket"))
        (folder / "socket").chmod(0o777)
        server.listen()
        server.setblocking(False)
        servers.append(server)
    yield servers
    for server, folder in zip(servers, folders, strict=True):
        server.close()
        shutil.rmtree(folder)


def test_the_hosts_unix_sockets_are_out_of_reach(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str, unix_listeners: list[socket.socket]
) -> None:
    code = f"""\
    import socket
    report(**{{path: attempt(lambda: socket.socket(socket.AF_UNIX).connect(path))
        for path in ("/run/codefest-{token}/socket", "/tmp/codefest-{token}/socket")}})
    predict()
    """
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "ok", result.message
    assert all(refused(outcome) for outcome in seen(tmp_path).values()), seen(tmp_path)
    assert all(no_connection(server) for server in unix_listeners)


# --- processes, memory, disk -------------------------------------------------------------------------------

FORK_BOMB = """\
while True:
    try:
        os.fork()
    except OSError:
        pass
"""


def test_a_fork_bomb_is_stopped_at_the_wall_time_and_leaves_nothing(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    started = time.monotonic()
    result = attack(tmp_path, FORK_BOMB, inputs, workspace, token, SHORT)
    # Stopped by whichever whole-run limit it reaches first: the wall time, or (on a loaded machine, where the
    # forks pile up before the clock runs out) the run's memory, all processes counted together.
    stopped = {"timeout": "within the limit of 2 s", "memory": "the limit is 256 MB"}
    assert result.status in stopped and stopped[result.status] in result.message, result.message
    assert time.monotonic() - started < KILLED_WITHIN


def test_spawning_processes_without_end_hits_the_process_cap(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    code = f"""\
    import subprocess
    while True:
        subprocess.Popen(["sleep", "{token}"])
    """
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "crashed", result.message
    assert f"too many processes or threads: the limit is {LIMITS.max_tasks}" in result.message
    assert "BlockingIOError" in result.message


def test_allocating_without_end_is_stopped(tmp_path: Path, inputs: list[Path], workspace: Path, token: str) -> None:
    code = "blocks = []\nwhile True:\n    blocks.append(bytearray(8 * 1024**2))\n"
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "memory" and "256 MB" in result.message


@pytest.mark.parametrize(
    "code",
    [
        "with open('/tmp/big-{token}', 'wb') as out:\n    while True:\n        out.write(bytes(1024**2))\n",
        "with open('/dev/shm/big-{token}', 'wb') as out:\n    while True:\n        out.write(bytes(1024**2))\n",
        "n = 0\nwhile True:\n    (args.output.parent / f'part-{{n}}').write_bytes(bytes(1024**2))\n    n += 1\n",
        "n = 0\nwhile True:\n    Path(f'empty-{{n}}').touch()\n    n += 1\n",
    ],
    ids=["one-big-file", "shared-memory", "many-files-in-output", "many-empty-files"],
)
def test_filling_the_disk_is_bounded(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str, code: str
) -> None:
    tmp_before = set(os.listdir("/tmp"))
    result = attack(tmp_path, code.format(token=token), inputs, workspace, token)
    assert result.status == "crashed", result.message
    assert "filled its writable space: the limit is 64 MB" in result.message
    assert "No space left on device" in result.message
    assert not {name for name in set(os.listdir("/tmp")) - tmp_before if token in name}
    assert not Path(f"/dev/shm/big-{token}").exists()
    returned = sum(path.stat().st_size for path in (tmp_path / "run" / "output").iterdir())
    assert returned <= LIMITS.disk_mb * 1024**2  # what came back to the organiser fits in the scratch space


def test_printing_without_end_fills_no_disk(tmp_path: Path, inputs: list[Path], workspace: Path, token: str) -> None:
    code = "while True:\n    sys.stdout.buffer.write(b'x' * 1024**2)\n    sys.stderr.buffer.write(b'y' * 1024**2)\n"
    result = attack(tmp_path, code, inputs, workspace, token, SHORT)
    assert result.status == "timeout", result.message
    assert len(result.stdout) == len(result.stderr) == 64 * 1024
    written = sum(path.stat().st_size for path in (tmp_path / "run").rglob("*") if path.is_file())
    assert written < 1024**2


# --- writing outside -------------------------------------------------------------------------------------


@pytest.fixture
def other_run(token: str) -> Iterator[Path]:
    """Another run's copy of its pilot, outside the temp folders and handed to nobody as the jail does."""
    folder = Path("/srv") / f"codefest-hostile-{token}"
    folder.mkdir()
    os.chown(folder, 65534, 65534)
    yield folder
    shutil.rmtree(folder)


def test_writes_outside_fail_or_vanish_with_the_run(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str, other_run: Path
) -> None:
    pilot = tmp_path / "pilot"
    contained = {"/tmp", "/var/tmp", "/dev/shm", "."}
    # A checkout cloned under /tmp has its interpreter bound inside the fresh /tmp: a write beside it lands in the
    # scratch space and vanishes with the run (the leftovers check below), like any other write to /tmp.
    in_scratch = any(place in CODEFEST_ROOT.parents for place in (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")))
    refused_places = {
        "/",
        *([] if in_scratch else [str(CODEFEST_ROOT)]),
        str(pilot),
        str(tmp_path / "run"),
        str(workspace),
        str(workspace / "vault"),
        str(other_run),  # owned by the same user, but read-only like every mount outside the scratch space
    }
    code = f"""\
    places = {sorted(contained | refused_places | {str(CODEFEST_ROOT)})!r}
    outcomes = {{p: attempt(lambda: Path(p, "written-{token}").write_text("x")) for p in places}}
    outcomes["labels"] = attempt(lambda: open({str(labels_of(workspace))!r}, "a").write("forged"))
    outcomes["home"] = attempt(lambda: Path(os.environ["HOME"], "written-{token}").write_text("x"))
    report(outcomes=outcomes, home=os.environ["HOME"])
    predict()
    """
    write_pilot(pilot, code)
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "ok", result.message
    view = seen(tmp_path)
    outcomes = view["outcomes"]
    assert view["home"] == str(tmp_path / "run")
    assert all("result" in outcomes[place] for place in contained), outcomes  # in the scratch space
    assert all("error" in outcomes[place] for place in refused_places), outcomes
    assert "error" in outcomes["labels"] and "error" in outcomes["home"]
    leftovers = [Path(place, f"written-{token}") for place in [*contained - {"."}, *refused_places, CODEFEST_ROOT]]
    assert not [path for path in leftovers if path.exists()]
    assert not (tmp_path / "run" / "pilot" / f"written-{token}").exists()


# --- time --------------------------------------------------------------------------------------------------


def test_ignoring_sigterm_past_the_wall_time_is_killed(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"
    started = time.monotonic()
    result = attack(tmp_path, code, inputs, workspace, token, SHORT)
    assert result.status == "timeout" and "within the limit of 2 s" in result.message
    assert time.monotonic() - started < KILLED_WITHIN


@pytest.mark.parametrize(
    ("then", "limits", "status"),
    [("predict()", LIMITS, "ok"), ("os.setsid(); import time; time.sleep(60)", SHORT, "timeout")],
    ids=["pilot-exits", "pilot-overstays"],
)
def test_a_daemon_left_behind_is_killed_with_the_run(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str, then: str, limits: CodeLimits, status: str
) -> None:
    code = f"""\
    import signal
    if os.fork() == 0:
        os.setsid()  # out of the process group that is killed at the wall time
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "{token}"])
        os._exit(0)
    os.wait()
    {then}
    """
    result = attack(tmp_path, code, inputs, workspace, token, limits)  # no `sleep {token}` is left when it returns
    assert result.status == status, result.message


def test_a_pilot_cannot_pass_itself_off_as_a_broken_sandbox(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    code = f"print({jail.SETUP_MARKER!r} + ' mount failed', file=sys.stderr)\nsys.exit({jail.SETUP_FAILED})\n"
    result = attack(tmp_path, code, inputs, workspace, token)  # a CodefestError here would stop an inbox run
    assert result.status == "crashed" and "exit code 125" in result.message


# --- the organisers' files beside the workspace (an allowlist, not a blocklist) ------------------------------


@pytest.fixture
def organiser_tree(token: str) -> Iterator[Path]:
    """The organiser guide's layout, readable by every user: challenge data and the inbox beside the workspace."""
    root = Path("/srv") / f"codefest-event-{token}"
    for folder in ("challenge-data", "inbox/other-team/pilot", "workspace"):
        (root / folder).mkdir(parents=True, mode=0o755)
    (root / "challenge-data" / "labels.jsonl").write_text(f'{{"id": "T0", "labels": ["{SECRET}"]}}\n')
    (root / "inbox" / "other-team" / "pilot" / "model.py").write_text(f"WEIGHTS = {SECRET!r}\n")
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    root.chmod(0o755)
    yield root
    shutil.rmtree(root)


def allowed_children(folder: str, allowlist: list[Path]) -> set[str]:
    """The names a listing of `folder` may show: the next part of each allowlisted path below it."""
    base = Path(folder)
    return {path.relative_to(base).parts[0] for path in allowlist if base in path.parents}


def test_the_organisers_files_beside_the_workspace_are_not_there(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str, organiser_tree: Path
) -> None:
    labels = organiser_tree / "challenge-data" / "labels.jsonl"
    other = organiser_tree / "inbox" / "other-team" / "pilot" / "model.py"
    listed = ["/root", "/home", "/work", "/srv", str(CODEFEST_ROOT), str(organiser_tree), "/run", "/etc"]
    code = f"""\
    report(
        labels=attempt(lambda: open({str(labels)!r}).read()),
        other_team=attempt(lambda: open({str(other)!r}).read()),
        listings={{folder: attempt(lambda: sorted(os.listdir(folder))) for folder in {listed!r}}},
    )
    predict()
    """
    assert labels.stat().st_mode & 0o004 and other.stat().st_mode & 0o004  # only the sandbox keeps them out
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == "ok", result.message
    view = seen(tmp_path)
    assert view["labels"]["error"] == view["other_team"]["error"] == "FileNotFoundError", view
    allowlist = [*jail.interpreter_paths(), tmp_path / "run"]
    for folder, outcome in view["listings"].items():
        shown = set(outcome.get("result", []))
        if folder == "/etc":
            assert shown <= {"passwd", "group", *(Path(p).name for p in jail.SYSTEM_ETC)}, shown
        else:
            assert shown <= allowed_children(folder, allowlist), (folder, shown)
    assert refused(view["listings"]["/home"]) and refused(view["listings"][str(organiser_tree)])
    assert view["listings"][str(CODEFEST_ROOT)] in ({"result": [".venv"]}, {"result": []}) or refused(
        view["listings"][str(CODEFEST_ROOT)]
    )  # never the checkout's .codefest workspace, challenges or other packages


# --- nested namespaces --------------------------------------------------------------------------------------

NESTED = """\
import ctypes, subprocess
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x20000
def call(result):
    return [result, os.strerror(ctypes.get_errno()) if result != 0 else ""]
tool = subprocess.run(["unshare", "-Ur", "sh", "-c", "mount -t tmpfs none /tmp && echo mounted"],
                      capture_output=True, text=True)
report(
    tool=[tool.returncode, tool.stdout, tool.stderr],
    user_ns=call(libc.unshare(CLONE_NEWUSER)),
    mount_ns=call(libc.unshare(CLONE_NEWNS)),
    tmpfs=call(libc.mount(b"none", b"/tmp", b"tmpfs", 0, b"size=100g")),
)
predict()
"""


def test_a_nested_user_namespace_and_its_mounts_fail(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    result = attack(tmp_path, NESTED, inputs, workspace, token)
    assert result.status == "ok", result.message
    view = seen(tmp_path)
    assert view["tool"][0] != 0 and "mounted" not in view["tool"][1], view
    assert view["user_ns"][0] == -1 and view["user_ns"][1] in ("No space left on device", "Operation not permitted")
    assert view["mount_ns"] == [-1, "Operation not permitted"] and view["tmpfs"] == [-1, "Operation not permitted"]


# --- whole-run limits (cgroup) -----------------------------------------------------------------------------

SPLIT_MEMORY = """\
import time
children = []
for _ in range(4):  # 4 x 100 MB: each process under the limit of 256 MB, the run over it
    pid = os.fork()
    if pid == 0:
        block = bytearray(100 * 1024**2)
        block[::4096] = b"\\1" * (len(block) // 4096)  # touched: really used, not only reserved
        time.sleep(60)
        os._exit(0)
    children.append(pid)
time.sleep(3)
statuses = [os.waitpid(pid, os.WNOHANG)[1] for pid in children]
sys.exit(f"children ended with {statuses}" if any(statuses) else 0)
"""


def test_processes_that_together_exceed_the_memory_limit_are_stopped(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    result = attack(tmp_path, SPLIT_MEMORY, inputs, workspace, token)
    assert result.status == "memory", result.message
    assert "256 MB for the whole run" in result.message
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes <= LIMITS.memory_mb * 1024**2


COUNTED_BOMB = """\
import time
children = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError as err:
    report(children=children, error=type(err).__name__)
predict()
"""


def test_a_fork_bomb_is_held_at_the_runs_task_limit(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str
) -> None:
    limits = CodeLimits(wall_time_seconds=30, memory_mb=1024, disk_mb=64, max_tasks=64)
    result = attack(tmp_path, COUNTED_BOMB, inputs, workspace, token, limits)
    assert result.status == "ok", result.message
    view = seen(tmp_path)
    assert view["error"] == "BlockingIOError"
    assert 50 <= view["children"] < 64, view  # the launcher, bwrap and the pilot count too


def test_peak_memory_and_cpu_time_are_recorded(tmp_path: Path, inputs: list[Path], workspace: Path, token: str) -> None:
    code = """\
    import time
    block = bytearray(200 * 1024**2)
    block[::4096] = b"\\1" * (len(block) // 4096)
    end = time.process_time() + 1.0
    while time.process_time() < end:
        pass
    predict()
    """
    limits = CodeLimits(wall_time_seconds=30, memory_mb=512, disk_mb=64)
    result = attack(tmp_path, code, inputs, workspace, token, limits)
    assert result.status == "ok", result.message
    assert 200 * 1024**2 <= result.peak_memory_bytes <= 512 * 1024**2
    assert 0.8 <= result.cpu_seconds <= result.seconds * limits.cpus + 0.5


def test_the_cpu_quota_holds_for_the_whole_run(tmp_path: Path, inputs: list[Path], workspace: Path, token: str) -> None:
    code = """\
    import time
    for _ in range(3):
        if os.fork() == 0:
            break
    end = time.monotonic() + 2
    while time.monotonic() < end:
        pass
    predict()
    """
    limits = CodeLimits(wall_time_seconds=30, memory_mb=512, disk_mb=64, cpus=0.5)
    result = attack(tmp_path, code, inputs, workspace, token, limits)
    assert result.status == "ok", result.message
    assert result.cpu_seconds <= 0.5 * result.seconds + 0.3, (result.cpu_seconds, result.seconds)


def test_without_writable_cgroups_the_verdict_says_so(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> None:
        raise cgroups.Unavailable("cgroups are not writable (/sys/fs/cgroup/memory: Read-only file system)")

    monkeypatch.setattr(cgroups, "create", refuse)
    result = attack(tmp_path, "predict()\n", inputs, workspace, token)
    assert result.status == "ok" and result.isolated
    assert "whole-run limits were not available: cgroups are not writable" in result.message
    assert "limited per process only" in result.message
    assert result.peak_memory_bytes is None and result.cpu_seconds is None


def test_groups_left_by_a_killed_codefest_are_removed_by_the_next_run() -> None:
    make = "from codefest.evaluation import cgroups; print(*cgroups.create(2**28, 64, 1).procs_files)"
    made = subprocess.run([sys.executable, "-c", make], cwd=CODEFEST_ROOT, capture_output=True, text=True, check=True)
    left = [Path(path).parent for path in made.stdout.split()]  # its maker ended without removing it
    assert left and all(folder.is_dir() for folder in left)
    group = cgroups.create(2**28, 64, 1)
    try:
        assert not any(folder.exists() for folder in left)
    finally:
        group.remove()


# --- what comes back, and what goes in ----------------------------------------------------------------------


def disk_used(folder: Path) -> int:
    """Bytes the files under `folder` take on disk (blocks, not apparent size)."""
    return sum(path.lstat().st_blocks * 512 for path in folder.rglob("*"))


@pytest.mark.parametrize(
    ("code", "status", "says"),
    [
        ("open(args.output.parent / 'big', 'wb').truncate(5 * 1024**3)\n", "crashed", "the limit of 1 GiB per file"),
        (
            "for n in range(5):\n    open(args.output.parent / f'big-{n}', 'wb').truncate(1024**3 - 1)\npredict()\n",
            "no-output",
            "codefest copies back at most 16 files of 268,435,456 bytes",
        ),
        (
            "predict()\nfor n in range(20):\n    (args.output.parent / f'part-{n}').write_text('x')\n",
            "no-output",
            "left 21 files of",
        ),
    ],
    ids=["one-sparse-5-GiB", "five-sparse-1-GiB", "too-many-files"],
)
def test_the_output_that_comes_back_is_bounded(
    tmp_path: Path, inputs: list[Path], workspace: Path, token: str, code: str, status: str, says: str
) -> None:
    result = attack(tmp_path, code, inputs, workspace, token)
    assert result.status == status and says in result.message, result.message
    output = tmp_path / "run" / "output"
    assert disk_used(output) < 1024**2 and sum(path.lstat().st_size for path in output.iterdir()) < 1024**2
    assert result.predictions is None


def sparse_pilot(root: Path) -> Path:
    pilot = write_pilot(root, "predict()\n")
    with (pilot / "model.bin").open("wb") as out:
        out.truncate(5 * 1024**3)
    return pilot


def deep_pilot(root: Path) -> Path:
    pilot = write_pilot(root, "predict()\n")
    os.chdir(pilot)  # each level relative to the last: the whole path would pass PATH_MAX
    try:
        for _ in range(1100):
            os.mkdir("d")
            os.chdir("d")
    finally:
        os.chdir(CODEFEST_ROOT)
    return pilot


def crowded_pilot(root: Path) -> Path:
    pilot = write_pilot(root, "predict()\n")
    (pilot / "many").mkdir()
    for n in range(pilot_tree.MAX_PILOT_ENTRIES):
        (pilot / "many" / str(n)).touch()
    return pilot


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (sparse_pilot, "more than 2 GiB of files (apparent size, sparse files in full)"),
        (deep_pilot, "folders nested more than 64 levels deep"),
        (crowded_pilot, "more than 100,000 files, links and folders"),
    ],
    ids=["sparse-5-GiB", "1100-deep", "too-many-files"],
)
def test_an_oversized_pilot_is_refused_before_it_is_copied_or_fingerprinted(
    tmp_path: Path,
    inputs: list[Path],
    workspace: Path,
    build: Callable[[Path], Path],
    says: str,
    request: pytest.FixtureRequest,
) -> None:
    pilot = build(tmp_path / "pilot")
    # Removed here, without recursion: pytest's own clean-up of old temp folders recurses once per level and would
    # raise RecursionError on the 1,100-deep tree in a later session.
    request.addfinalizer(lambda: subprocess.run(["rm", "-rf", str(pilot)], check=False))
    started = time.monotonic()
    for attempt_it in (
        lambda: fingerprint(pilot),
        lambda: run_pilot(pilot, inputs, LIMITS, [workspace], tmp_path / "run"),
    ):
        with pytest.raises(CodefestError, match="over codefest's limit") as raised:
            attempt_it()
        assert says in raised.value.problem and "keep" in raised.value.fix
    assert not (tmp_path / "run").exists()  # refused before anything was copied
    assert time.monotonic() - started < 20


CACHE_RUNNER = """\
hidden = Path(__file__).parents[2] / ".pytest_cache" / "payload.py"
report(ran=hidden.read_text() if hidden.exists() else None)
predict()
"""


def test_the_fingerprint_covers_exactly_what_runs(tmp_path: Path, inputs: list[Path], workspace: Path) -> None:
    """Two pilots differing only in an ignored folder: same fingerprint, and the difference never reaches the run.

    Before one list, .pytest_cache was left out of the fingerprint but copied into the sandbox: a pilot could run
    code there that its fingerprint did not cover.
    """
    fingerprints, seen_runs = [], []
    for name, payload in (("a", "print('honest')"), ("b", "print('different code, same fingerprint')")):
        pilot = write_pilot(tmp_path / name, CACHE_RUNNER)
        for ignored in (".pytest_cache", ".ruff_cache", ".git"):
            (pilot / ignored).mkdir()
            (pilot / ignored / "payload.py").write_text(payload)
        (pilot / "src" / "hostile" / "__pycache__").touch()  # a file named like an ignored folder
        (pilot / "link").symlink_to("src/hostile/predict.py")
        result = run_pilot(pilot, inputs, LIMITS, [workspace], tmp_path / f"{name}-run")
        assert result.status == "ok", result.message
        copy = tmp_path / f"{name}-run" / "pilot"
        assert fingerprint(copy) == fingerprint(pilot)  # the copy is what was fingerprinted
        kept = {key: value for key, value in tree(pilot).items() if not set(key.split("/")) & pilot_tree.IGNORED}
        assert tree(copy) == kept
        fingerprints.append(fingerprint(pilot))
        seen_runs.append(json.loads((tmp_path / f"{name}-run" / "output" / "seen.json").read_text()))
    assert fingerprints[0] == fingerprints[1]
    assert seen_runs == [{"ran": None}, {"ran": None}]  # the ignored code was not there to run


# --- other submissions are not affected --------------------------------------------------------------------

HONEST = """\
import subprocess
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(8) as pool:
    squares = list(pool.map(lambda n: n * n, range(8)))
child = subprocess.run([sys.executable, "-c", "print('child ok')"], capture_output=True, text=True, check=True)
Path("/tmp/scratch").write_bytes(bytes(1024**2))
report(squares=squares, child=child.stdout)
predict()
"""


def assert_honest_run(result: CodeRun, run: Path) -> None:
    assert result.status == "ok", result.message
    assert result.predictions is not None
    rows = [json.loads(line) for line in result.predictions.read_text(encoding="utf-8").splitlines()]
    assert rows == [{"id": i, "labels": ["G06F"]} for i in TEST_IDS]
    view = json.loads((run / "output" / "seen.json").read_text(encoding="utf-8"))
    assert view == {"squares": [n * n for n in range(8)], "child": "child ok\n"}


HOLDING_BOMB = """\
import time
while True:
    try:
        if os.fork() == 0:
            time.sleep(60)
    except OSError:
        time.sleep(60)
"""
FILLER = """\
import time
with open("/tmp/big", "wb") as out:
    try:
        while True:
            out.write(bytes(1024**2))
    except OSError:
        time.sleep(60)
"""


def wait_for_processes(marker: str, count: int, deadline: float = 30) -> None:
    started = time.monotonic()
    while len(processes_with(marker)) < count:
        assert time.monotonic() - started < deadline, f"fewer than {count} processes hold {marker}"
        time.sleep(0.1)


def test_an_honest_pilot_runs_beside_a_fork_bomb_and_a_disk_filler(
    tmp_path: Path, inputs: list[Path], workspace: Path
) -> None:
    """The bomb holds every process it may have, and the filler all its scratch space, while the honest one runs.

    With one count of processes for all runs of user nobody, the honest pilot could not even start.
    """
    hostile = {"bomb": HOLDING_BOMB, "filler": FILLER}
    with ThreadPoolExecutor(len(hostile)) as pool:
        runs = {
            name: pool.submit(
                run_pilot, write_pilot(tmp_path / name, code), inputs, BESIDE, [workspace], tmp_path / f"{name}-run"
            )
            for name, code in hostile.items()
        }
        wait_for_processes(str(tmp_path / "bomb-run"), LIMITS.max_tasks - 8)
        assert not runs["bomb"].done() and not runs["filler"].done()
        honest = run_pilot(
            write_pilot(tmp_path / "honest", HONEST), inputs, LIMITS, [workspace], tmp_path / "honest-run"
        )
        assert_honest_run(honest, tmp_path / "honest-run")
        assert {name: run.result().status for name, run in runs.items()} == {"bomb": "timeout", "filler": "timeout"}


def test_an_honest_pilot_runs_after_the_hostile_ones(tmp_path: Path, inputs: list[Path], workspace: Path) -> None:
    """Last in the file: whatever the attacks above left behind (processes, files, full temp folders) would show."""
    result = run_pilot(write_pilot(tmp_path / "pilot", HONEST), inputs, LIMITS, [workspace], tmp_path / "run")
    assert_honest_run(result, tmp_path / "run")


# --- through the organiser's evaluations (MLflow) ----------------------------------------------------------


@pytest.fixture(scope="module")
def event(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A small code challenge built into a workspace that every user could read: only the sandbox hides it."""
    challenges = tmp_path_factory.mktemp("hostile-challenges")
    spec = bundled_spec("ipc-classification") | {"slug": "hostile-code"}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 120, "seed": 3}}
    spec["resources"] = {"wall_time_seconds": 30, "memory_mb": 400}
    write_challenge(challenges, spec)
    home = Path(tempfile.mkdtemp(prefix="codefest-hostile-home-"))
    home.chmod(0o755)
    os.environ["CODEFEST_CHALLENGES_PATH"] = str(challenges)
    try:
        build(load("hostile-code"), home)
    finally:
        del os.environ["CODEFEST_CHALLENGES_PATH"]
    for path in home.rglob("*"):  # as if the organiser had slipped: all of it readable by every user
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield {"challenges": challenges, "home": home}
    shutil.rmtree(home)


@pytest.fixture
def evaluator(event: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Evaluator:
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(event["challenges"]))
    return Evaluator(load("hostile-code"), event["home"])


EVALUATED_PILOT = """\
ids = [json.loads(line)["id"] for line in args.input.read_text().splitlines()]
labels = {{}}
{body}
args.output.write_text("".join(json.dumps({{"id": i, "labels": labels.get(i, ["Y02E 10/50"])}}) + "\\n" for i in ids))
"""

PEEK = """\
for path in [GOLD, os.path.relpath(GOLD), "/proc/1/root" + GOLD, "gold.jsonl"]:
    try:
        for line in open(path):
            print(line, end="")
            row = json.loads(line)
            labels[row["id"]] = row["labels"]
    except OSError as err:
        print(type(err).__name__, path)
"""


def logged(evaluator: Evaluator, run_id: str, tmp_path: Path) -> str:
    client = MlflowClient(tracking_uri=tracking_uri(evaluator.root))
    folder = Path(client.download_artifacts(run_id, "logs", str(tmp_path / run_id)))
    return "".join(path.read_text(encoding="utf-8") for path in sorted(folder.iterdir()))


def test_an_inbox_of_hostile_pilots_is_recorded_and_the_honest_one_scored(evaluator: Evaluator, tmp_path: Path) -> None:
    gold = gold_file(evaluator.vault, evaluator.spec.task, "test")
    assert gold.stat().st_mode & 0o004 and all(folder.stat().st_mode & 0o001 for folder in gold.parents)
    bodies = {
        "peekers": f"GOLD = {str(gold)!r}\n{PEEK}",
        "hoarders": "blocks = [bytearray(8 * 1024**2) for _ in range(1000)]",
        "forgers": f"print({jail.SETUP_MARKER!r} + ' mount failed', file=sys.stderr); sys.exit({jail.SETUP_FAILED})",
        "honest": "labels = {i: ['H01M 10/00'] for i in ids}",
    }
    for team, body in bodies.items():
        pilot = write_pilot(tmp_path / "inbox" / team / "pilot", EVALUATED_PILOT.format(body=body))
        (pilot / "gold.jsonl").symlink_to(gold)  # a link to the vault, followed nowhere but in the sandbox
    roster.add(evaluator.root, list(bodies))
    outcomes = {outcome.team: outcome for outcome in evaluate_inbox(evaluator, tmp_path / "inbox")}
    assert {team: outcome.status for team, outcome in outcomes.items()} == {
        "peekers": "scored",
        "hoarders": "memory",
        "forgers": "crashed",
        "honest": "scored",
    }, {team: outcome.message for team, outcome in outcomes.items()}
    assert outcomes["peekers"].public["top_prediction@subclass"].value == 0.0  # it found nothing to copy
    peeked = logged(evaluator, outcomes["peekers"].run_id, tmp_path)
    assert peeked.count("FileNotFoundError") == 4 and gold.read_text(encoding="utf-8").splitlines()[0] not in peeked
    assert "400 MB" in outcomes["hoarders"].message and "exit code 125" in outcomes["forgers"].message
    for team in ("hoarders", "forgers"):
        runs = evaluator.tracker.runs(where({Tag.TEAM: team}))
        assert [(run.tags[Tag.STATUS], run.metrics) for run in runs] == [(outcomes[team].status, {})]
