"""Running a participant's pilot on the test inputs: its own process, no labels, no network, the challenge's limits.

The pilot only writes a predictions file; codefest validates and scores it afterwards in its own process, so the
participant's code never runs where the held-out labels can be read. The contract for participants is in
docs/code-submissions.md.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from codefest.errors import CodefestError
from codefest.offline import OFFLINE_DEFAULTS
from evaluation import jail

NETWORK_MARKER = "codefest-sandbox: network access blocked:"
TAIL_BYTES = 64 * 1024
TAIL_LINES = 20
PREDICTIONS = "predictions.jsonl"
TEST_INPUT = "test.jsonl"
IGNORED = (".git", ".venv", "__pycache__", ".nox", ".codefest")
MEMORY_SIGNS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory")
NEAR_LIMIT = 0.75  # a share of the memory limit: a kill or crash above it is taken for running out of memory
CODEFEST_ROOT = Path(__file__).resolve().parents[1]
UNSHARE = ("unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc", "--kill-child")
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")

# Injected into the pilot's interpreter: names the call that tried the network, which the empty network namespace
# would only report as "network unreachable". Audit hooks cannot be removed once added.
SITECUSTOMIZE = f'''"""Written by codefest: pilots run offline."""
import sys


def _codefest_no_network(event, args):
    if event == "socket.getaddrinfo" or (event == "socket.connect" and not isinstance(args[1], (str, bytes))):
        sys.stderr.write("{NETWORK_MARKER} " + event + " " + repr(args)[:300] + "\\n")
        sys.stderr.flush()
        raise PermissionError("codefest: pilots run without network access")


sys.addaudithook(_codefest_no_network)
'''


@dataclass(frozen=True)
class CodeLimits:
    wall_time_seconds: float
    memory_mb: int


@dataclass(frozen=True)
class CodeRun:
    status: str  # ok | timeout | memory | network | crashed | no-output
    message: str  # one clear sentence for the participant, with the fix where there is one
    predictions: Path | None
    seconds: float
    stdout: str
    stderr: str
    isolated: bool


@dataclass(frozen=True)
class _Layout:
    """The run folder: a private copy of the pilot, its inputs, its output, and the captured streams."""

    root: Path

    @property
    def pilot(self) -> Path:
        return self.root / "pilot"

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def site(self) -> Path:
        return self.root / "sandbox-site"

    @property
    def stdout(self) -> Path:
        return self.root / "stdout.txt"

    @property
    def stderr(self) -> Path:
        return self.root / "stderr.txt"


@dataclass(frozen=True)
class _Exit:
    code: int  # as subprocess reports it: negative for a signal
    peak_kib: int
    timed_out: bool


# --- the entry point ---------------------------------------------------------------------------------------


def _pyproject(pilot: Path) -> dict:
    if not pilot.is_dir():
        raise CodefestError(f"the pilot folder {pilot} does not exist", "give the path of the pilot's repository")
    path = pilot / "pyproject.toml"
    if not path.is_file():
        raise CodefestError(
            f"the pilot {pilot} has no pyproject.toml",
            'add one with [tool.codefest] predict = "<package>.predict" (see docs/code-submissions.md)',
        )
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CodefestError(f"{path} is not valid TOML ({err})", "fix the file's syntax") from err


def _declared(pyproject: dict, pilot: Path) -> str | None:
    value = pyproject.get("tool", {}).get("codefest", {}).get("predict")
    if value is None:
        return None
    if not isinstance(value, str) or not _MODULE.match(value):
        raise CodefestError(
            f"[tool.codefest] predict in {pilot / 'pyproject.toml'} is {value!r}, not a module name",
            'write the module to run, e.g. predict = "mypilot.predict"',
        )
    return value


def _module_exists(pilot: Path, module: str) -> bool:
    relative = Path(*module.split("."))
    return any(
        candidate.is_file()
        for base in (pilot / "src", pilot)
        for candidate in (base / relative.with_suffix(".py"), base / relative / "__main__.py")
    )


def _discovered(pilot: Path) -> str:
    found = sorted((pilot / "src").glob("*/predict.py"))
    if len(found) == 1:
        return f"{found[0].parent.name}.predict"
    fix = 'add [tool.codefest] predict = "<package>.predict" to pyproject.toml'
    if not found:
        raise CodefestError(f"the pilot {pilot} declares no entry point and has no src/<package>/predict.py", fix)
    names = ", ".join(str(path.relative_to(pilot)) for path in found)
    raise CodefestError(f"the pilot {pilot} has several predict modules ({names}); codefest cannot choose", fix)


def entry_point(pilot: Path) -> str:
    """The module codefest runs with `python -m`: [tool.codefest] predict, else the one src/<package>/predict.py."""
    declared = _declared(_pyproject(pilot), pilot)
    if declared is None:
        return _discovered(pilot)
    if not _module_exists(pilot, declared):
        raise CodefestError(
            f"the entry point {declared} of {pilot} is not a file under src/ or the repository root",
            f"create src/{declared.replace('.', '/')}.py or correct [tool.codefest] predict",
        )
    return declared


# --- the run folder ----------------------------------------------------------------------------------------


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _check_places(workdir: Path, hidden: list[Path]) -> None:
    for secret in hidden:
        if _inside(workdir, secret) or _inside(secret, workdir):
            raise CodefestError(
                f"the run folder {workdir} and the hidden path {secret} overlap",
                "run pilots in a folder outside the codefest workspace, e.g. under the system temp folder",
            )
    taken = [path for path in (workdir / "pilot", workdir / "input", workdir / "output") if path.exists()]
    if taken:
        raise CodefestError(f"the run folder {workdir} is already used ({taken[0].name} exists)", "give a new folder")


def _copy_inputs(inputs: list[Path], folder: Path) -> None:
    folder.mkdir()
    for path in inputs:
        if not path.is_file():
            raise CodefestError(f"the input file {path} does not exist", "build the challenge bundle first")
        target = folder / path.name
        if target.exists():
            raise CodefestError(f"two input files are named {path.name}", "give inputs with distinct names")
        shutil.copyfile(path, target)
        target.chmod(0o644)


def _prepare(pilot: Path, inputs: list[Path], workdir: Path) -> _Layout:
    """Copy, never link: the pilot may write in its copy, and a link in it must not reach the organiser's files."""
    layout = _Layout(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    shutil.copytree(pilot, layout.pilot, symlinks=True, ignore=shutil.ignore_patterns(*IGNORED))
    _copy_inputs(inputs, layout.input)
    layout.output.mkdir()
    layout.site.mkdir(exist_ok=True)
    (layout.site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    return layout


def _environment(layout: _Layout) -> dict[str, str]:
    """Nothing of the organiser's environment: no workspace path, no tracking server, no credentials."""
    python_bin = str(Path(sys.executable).parent)
    return {
        "PATH": os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": str(layout.root),
        "PYTHONPATH": os.pathsep.join(str(path) for path in (layout.site, layout.pilot / "src", layout.pilot)),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        **OFFLINE_DEFAULTS,
    }


def _command(module: str, layout: _Layout) -> list[str]:
    return [
        sys.executable,
        "-m",
        module,
        "--input",
        str(layout.input / TEST_INPUT),
        "--output",
        str(layout.output / PREDICTIONS),
    ]


# --- isolation ---------------------------------------------------------------------------------------------


@functools.cache
def isolation_available() -> bool:
    """Root on Linux with a working `unshare` and a `nobody` user: the normal case on an organiser's server."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        pwd.getpwnam(jail.SANDBOX_USER)
        probe = subprocess.run([*UNSHARE, "true"], capture_output=True, timeout=30, check=False)
    except (KeyError, OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _reachable(layout: _Layout) -> list[str]:
    """What the sandbox user must reach: the run folder and the interpreter with its installed packages."""
    places = {layout.root, Path(sys.executable).resolve().parent}
    places |= {Path(prefix).resolve() for prefix in (sys.prefix, sys.exec_prefix, sys.base_prefix)}
    places.add(Path(sys.base_exec_prefix).resolve())
    return sorted(str(path) for path in places)


def _jailed(
    command: list[str], env: dict[str, str], layout: _Layout, limits: CodeLimits, hidden: list[Path], stage: Path
) -> list[str]:
    spec = jail.JailSpec(
        argv=command,
        env=env,
        cwd=str(layout.pilot),
        memory_mb=limits.memory_mb,
        hidden=[str(path) for path in hidden],
        reachable=_reachable(layout),
        writable=[str(layout.pilot), str(layout.output)],
        stage=str(stage),
    )
    return [*UNSHARE, sys.executable, "-m", "evaluation.jail", spec.to_json()]


def _launcher_env() -> dict[str, str]:
    """The jail runs codefest's own code as root: found from codefest's folder, never from the current one."""
    return {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(CODEFEST_ROOT),
        "PYTHONSAFEPATH": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _fallback_limits(limits: CodeLimits) -> None:
    """Without namespaces: the limits still hold (no process cap: it would count the organiser's own processes)."""
    jail.set_limits(limits.memory_mb, max_processes=None)


# --- running -----------------------------------------------------------------------------------------------


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pid, signal.SIGKILL)


def _wait_unreaped(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # already reaped after a timeout
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def _wait(proc: subprocess.Popen, timeout: float) -> _Exit:
    """Wait without reaping, kill the group (on timeout, or stragglers after a normal exit), then reap.

    Reaping last keeps the group id taken until it is killed; wait4 gives the peak memory of the whole tree.
    """
    waiter = threading.Thread(target=_wait_unreaped, args=(proc.pid,), daemon=True)
    waiter.start()
    waiter.join(timeout)
    timed_out = waiter.is_alive()
    _kill_group(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    waiter.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return _Exit(code=proc.returncode, peak_kib=usage.ru_maxrss, timed_out=timed_out)


def _tail(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - TAIL_BYTES))
        return handle.read().decode("utf-8", errors="replace")


def _execute(command: list[str], env: dict[str, str], layout: _Layout, limits: CodeLimits, isolated: bool) -> _Exit:
    with layout.stdout.open("wb") as out, layout.stderr.open("wb") as err:
        proc = subprocess.Popen(
            command,
            env=env,
            cwd="/" if isolated else layout.pilot,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
            preexec_fn=None if isolated else functools.partial(_fallback_limits, limits),
        )
        return _wait(proc, limits.wall_time_seconds)


def _run(command: list[str], layout: _Layout, limits: CodeLimits, hidden: list[Path]) -> tuple[_Exit, bool]:
    env = _environment(layout)
    if not isolation_available():
        return _execute(command, env, layout, limits, isolated=False), False
    stage = Path(tempfile.mkdtemp(prefix="codefest-stage-"))
    try:
        jailed = _jailed(command, env, layout, limits, hidden, stage)
        return _execute(jailed, _launcher_env(), layout, limits, isolated=True), True
    finally:
        stage.rmdir()


# --- the verdict -------------------------------------------------------------------------------------------


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _ran_out_of_memory(done: _Exit, stderr: str, limits: CodeLimits) -> bool:
    if any(sign in stderr for sign in MEMORY_SIGNS):
        return True
    killed = done.code in (-signal.SIGKILL, -signal.SIGSEGV, 128 + signal.SIGKILL, 128 + signal.SIGSEGV)
    return killed and done.peak_kib * 1024 >= NEAR_LIMIT * limits.memory_mb * 1024**2


def _last_lines(stderr: str) -> str:
    return "\n".join(stderr.rstrip().splitlines()[-TAIL_LINES:])


def _crash_message(done: _Exit, stderr: str) -> str:
    if done.code == -signal.SIGXFSZ:
        return f"your code wrote a file over the limit of {jail.MAX_FILE_BYTES // 1024**3} GiB and was stopped"
    how = f"was killed by {_signal_name(done.code)}" if done.code < 0 else f"stopped with exit code {done.code}"
    tail = _last_lines(stderr)
    return f"your code {how}; the last lines of its error output:\n{tail}" if tail else f"your code {how}."


def _network_call(path: Path) -> str | None:
    """The first blocked call, searched in the whole stderr file: later output must not push it out of sight."""
    marker, chunk_size, carry = NETWORK_MARKER.encode(), 1024**2, b""
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            text = carry + chunk
            found = text.find(marker)
            if found >= 0:
                line = (text[found + len(marker) :] + handle.read(400))[:400].split(b"\n")[0]
                return line.decode("utf-8", errors="replace").strip()
            carry = text[-len(marker) :]
    return None


def _predictions_file(layout: _Layout) -> tuple[Path | None, str]:
    """The predictions file if it is a plain file in the output folder (a link could point at the organiser's)."""
    path = layout.output / PREDICTIONS
    if layout.output.is_symlink() or not layout.output.is_dir():
        return None, "your code replaced the output folder; write only the file given by --output"
    if not path.exists() and not path.is_symlink():
        return None, f"your code finished without writing {PREDICTIONS}; write your predictions to the --output path"
    info = path.lstat()
    if path.is_symlink() or not path.is_file() or info.st_nlink != 1:
        return None, f"{PREDICTIONS} must be a plain file, not a link; write the predictions themselves"
    return path, ""


def _verdict(done: _Exit, stderr: str, layout: _Layout, limits: CodeLimits) -> tuple[str, str, Path | None]:
    network_call = _network_call(layout.stderr)
    if network_call is not None:
        return (
            "network",
            (
                f"your code tried to use the network ({network_call}), which pilots do not have; "
                "ship models and data in the repository and load them from disk"
            ),
            None,
        )
    if done.timed_out:
        return (
            "timeout",
            (
                f"your code did not finish within the limit of {limits.wall_time_seconds:g} s and was stopped; "
                "make it faster (smaller model, batching) or ask the organisers about the limit"
            ),
            None,
        )
    if done.code != 0 and _ran_out_of_memory(done, stderr, limits):
        return (
            "memory",
            (
                f"your code ran out of memory: the limit is {limits.memory_mb} MB of address space; "
                "load a smaller model or process the input in batches"
            ),
            None,
        )
    if done.code != 0:
        return "crashed", _crash_message(done, stderr), None
    predictions, problem = _predictions_file(layout)
    if predictions is None:
        return "no-output", problem, None
    return "ok", f"your code finished and wrote {PREDICTIONS}", predictions


def run_pilot(pilot: Path, inputs: list[Path], limits: CodeLimits, hidden: list[Path], workdir: Path) -> CodeRun:
    """Run the pilot's entry point on `inputs` in `workdir`, unable to see `hidden` or the network."""
    pilot, workdir = pilot.resolve(), workdir.resolve()
    module = entry_point(pilot)
    secrets = [path.resolve() for path in hidden]
    _check_places(workdir, secrets)
    layout = _prepare(pilot, inputs, workdir)
    started = time.monotonic()
    done, isolated = _run(_command(module, layout), layout, limits, secrets)
    seconds = time.monotonic() - started
    stderr = _tail(layout.stderr)
    if isolated and done.code == jail.SETUP_FAILED and jail.SETUP_MARKER in stderr:
        raise CodefestError(
            f"the sandbox could not be set up: {_last_lines(stderr)}",
            f"check that user {jail.SANDBOX_USER} can read codefest's Python installation and that mount works",
        )
    status, message, predictions = _verdict(done, stderr, layout, limits)
    if not isolated:
        message += " (network and file isolation were not available: run codefest as root with unshare)"
    return CodeRun(status, message, predictions, seconds, _tail(layout.stdout), stderr, isolated)
