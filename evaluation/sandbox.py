"""Running a participant's pilot on the test inputs: its own process, no labels, no network, the challenge's limits.

The pilot only writes a predictions file; codefest validates and scores it afterwards in its own process, so the
participant's code never runs where the held-out labels can be read. This side copies the pilot (bounded, the same
entries as its fingerprint), puts the run in a cgroup of its own (whole-run memory, tasks, CPU), reads the pilot's
streams, stops it at the wall time and gives the verdict; `codefest.evaluation.jail` builds the isolation around
Debian's bubblewrap (an allowlist of read-only host paths, one bounded writable space, no network, no nested
namespaces).
The contract for participants, and what the isolation guarantees, are in docs/code-submissions.md.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from codefest.core.errors import CodefestError
from codefest.core.offline import OFFLINE_DEFAULTS
from codefest.core.workspace import Workspace
from codefest.evaluation import cgroups, environments, jail, pilot_tree
from codefest.evaluation.devices import environment as device_environment
from codefest.evaluation.records import Status

NETWORK_MARKER = "codefest-sandbox: network access blocked:"
TAIL_BYTES = 64 * 1024
TAIL_LINES = 20
CALL_BYTES = 400  # what is kept of a blocked network call's description
CHUNK_BYTES = 64 * 1024
STREAM_GRACE_SECONDS = 2.0  # how long the streams may stay open after the kill (a process escaped it, unisolated)
MAX_PYPROJECT_BYTES = 1024**2
DEFAULT_DISK_MB = 1024
DEFAULT_TASKS = 1024  # processes and threads of one run together: stops fork bombs, not thread pools
DEFAULT_CPUS = 2.0  # CPUs' worth of time a run may take at once (a CFS quota): a busy run cannot starve the others
DEFAULT_OUTPUT_MB = 256  # apparent size of all the output folder's files that come back: a predictions file's worth
DEFAULT_OUTPUT_FILES = 16  # files (and links) of the output folder that come back
PREDICTIONS = "predictions.jsonl"
TEST_INPUT = "test.jsonl"
MEMORY_SIGNS = ("MemoryError", "std::bad_alloc", "Cannot allocate memory", "out of memory")
DISK_SIGNS = ("No space left on device", "Disk quota exceeded")
FILE_SIGNS = ("File too large",)
PROCESS_SIGNS = ("Resource temporarily unavailable", "can't start new thread")
NEAR_LIMIT = 0.75  # a share of the memory limit: a kill or crash above it is taken for running out of memory
STAGE_PARENT = "/tmp"  # where the jail mounts a run's scratch space: bwrap, as nobody, must reach it (mode 1777)
_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_STAGE = re.compile(re.escape(STAGE_PARENT) + r"/codefest-stage-\w+")

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
    memory_mb: int  # the whole run (cgroup), and each process's address space
    disk_mb: int = DEFAULT_DISK_MB  # all the pilot writes in a run: its folder's changes, output, temp folders
    max_tasks: int = DEFAULT_TASKS  # processes and threads of the whole run (cgroup pids.max)
    cpus: float = DEFAULT_CPUS  # CPU time per second of wall time (cgroup CPU quota)
    output_mb: int = DEFAULT_OUTPUT_MB  # what may come back from the output folder, by apparent size ...
    output_files: int = DEFAULT_OUTPUT_FILES  # ... and by count; over either, nothing comes back
    environment_seconds: float = environments.DEFAULT_SECONDS  # to install the pilot's dependencies ...
    environment_mb: int = environments.DEFAULT_MB  # ... and what they may take installed


@dataclass(frozen=True)
class CodeRun:
    status: str  # ok | timeout | memory | network | crashed | no-output | environment
    message: str  # one clear sentence for the participant, with the fix where there is one
    predictions: Path | None
    seconds: float
    stdout: str
    stderr: str
    isolated: bool
    peak_memory_bytes: int | None = None  # the run's peak, all processes together (cgroup); None without one
    cpu_seconds: float | None = None  # CPU time of all the run's processes (cgroup); None without one
    environment: environments.Environment | None = None  # the pilot's own, built or reused; None if it failed


@dataclass(frozen=True)
class _Layout:
    """The run folder: a private copy of the pilot, its inputs, its output, and the network hook; and the
    pilot's environment (elsewhere: shared by the runs of the same dependencies)."""

    root: Path
    environment: Path

    @property
    def python(self) -> Path:
        return self.environment / "bin" / "python"

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


@dataclass(frozen=True)
class _Exit:
    code: int  # as subprocess reports it: negative for a signal
    peak_kib: int
    timed_out: bool


# --- the entry point ---------------------------------------------------------------------------------------


def _pyproject_text(path: Path) -> str:
    """The file itself, never what a link points at: a link to the vault, a FIFO or /dev/zero stays unread."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise CodefestError(
            f"the pilot {path.parent} has no pyproject.toml",
            'add one with [tool.codefest] predict = "<package>.predict" (see docs/code-submissions.md)',
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise CodefestError(f"{path} is a link or a special file", "make pyproject.toml a plain file")
    if info.st_size > MAX_PYPROJECT_BYTES:
        raise CodefestError(f"{path} is over {MAX_PYPROJECT_BYTES // 1024**2} MiB", "keep pyproject.toml small")
    return path.read_text(encoding="utf-8")


def _pyproject(pilot: Path) -> dict:
    if not pilot.is_dir():
        raise CodefestError(f"the pilot folder {pilot} does not exist", "give the path of the pilot's repository")
    path = pilot / "pyproject.toml"
    try:
        return tomllib.loads(_pyproject_text(path))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise CodefestError(f"{path} is not valid TOML ({err})", "fix the file's syntax") from err
    except RecursionError:  # thousands of nested brackets: refused like any other bad file, not a traceback
        raise CodefestError(f"{path} nests values too deeply to be read", "write a plain pyproject.toml") from None


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
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)  # whatever the organiser's umask (the CLI's is 077): user nobody reads the inputs
    for path in inputs:
        if not path.is_file():
            raise CodefestError(f"the input file {path} does not exist", "build the challenge bundle first")
        target = folder / path.name
        if target.exists():
            raise CodefestError(f"two input files are named {path.name}", "give inputs with distinct names")
        shutil.copyfile(path, target)
        with open(target, "rb") as copied:
            pilot_tree.uncached(copied.fileno())
        target.chmod(0o644)


def _prepare(
    pilot: Path, entries: list[pilot_tree.Entry], inputs: list[Path], workdir: Path, environment: Path
) -> _Layout:
    """Copy, never link, never follow: a link in the pilot is copied as a link and resolved only in the sandbox.

    `entries` are the pilot's, walked (and bounded) before anything was copied: the fingerprint's own list.
    """
    layout = _Layout(workdir, environment)
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    pilot_tree.copy(pilot, entries, layout.pilot)
    _copy_inputs(inputs, layout.input)
    layout.output.mkdir()
    layout.site.mkdir(exist_ok=True)
    layout.site.chmod(0o755)
    (layout.site / "sitecustomize.py").write_text(SITECUSTOMIZE, encoding="utf-8")
    (layout.site / "sitecustomize.py").chmod(0o644)
    return layout


def _environment(layout: _Layout) -> dict[str, str]:
    """Nothing of the organiser's environment: no workspace path, no tracking server, no credentials; the pilot's
    own environment's programs first."""
    return {
        "PATH": os.pathsep.join([str(layout.python.parent), "/usr/local/bin", "/usr/bin", "/bin"]),
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
        str(layout.python),
        "-m",
        module,
        "--input",
        str(layout.input / TEST_INPUT),
        "--output",
        str(layout.output / PREDICTIONS),
    ]


# --- isolation ---------------------------------------------------------------------------------------------


def _launcher_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C.UTF-8"}


def _launcher() -> list[str]:
    """The jail runs as root: by its file path, isolated (-I: no current folder, no user site, no PYTHON* settings)
    and importing only the standard library, so nothing a participant could place on a path is imported."""
    return [sys.executable, "-I", "-B", str(Path(__file__).with_name("jail.py"))]


@functools.cache
def isolation_available() -> bool:
    """Root on Linux, bubblewrap installed, and a probe run through the whole sandbox works: the normal case."""
    if sys.platform != "linux" or os.geteuid() != 0 or not os.access(jail.BWRAP, os.X_OK):
        return False
    try:
        with tempfile.TemporaryDirectory(prefix="codefest-probe-") as scratch:
            command = [*_launcher(), "--probe", scratch]
            probe = subprocess.run(command, env=_launcher_env(), cwd="/", capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.returncode == 0


def _read_only(layout: _Layout) -> list[str]:
    """What the pilot reads besides the system: the base interpreter, its own environment, and the run folder.

    The run folder holds the organiser's copy of the pilot and the output folder (both replaced by scratch space in
    the sandbox), the inputs and the network hook. codefest's own environment and packages are not shown: pilots
    import only what they declared, and the checkout beside them holds the default workspace. The pilot's
    environment is shown alone, read-only, though it lies in the workspace.
    """
    shown = {layout.root, layout.environment, *jail.interpreter_paths()}
    return sorted(str(path) for path in shown)


def _jailed(
    command: list[str], env: dict[str, str], layout: _Layout, limits: CodeLimits, place: _Place, devices: list[int]
) -> list[str]:
    spec = jail.JailSpec(
        argv=command,
        env=env,
        memory_mb=limits.memory_mb,
        disk_mb=limits.disk_mb,
        read_only=_read_only(layout),
        pilot=str(layout.pilot),
        output=str(layout.output),
        output_files=limits.output_files,
        output_bytes=limits.output_mb * 1024**2,
        stage=str(place.stage),
        cgroup_procs=place.group.procs_files if place.group else [],
        max_processes=None if place.group else limits.max_tasks,
        report_fd=place.report_fd,
        devices=devices,
    )
    return [*_launcher(), spec.to_json()]


def _fallback_limits(limits: CodeLimits) -> None:
    """Without isolation: the limits still hold (no process cap: it would count the organiser's own processes)."""
    jail.set_limits(limits.memory_mb)


def _run_group(limits: CodeLimits) -> tuple[cgroups.RunGroup | None, str]:
    """The run's cgroup, or why the host has none to give (then said in the verdict, never silently unlimited)."""
    try:
        return cgroups.create(limits.memory_mb * 1024**2, limits.max_tasks, limits.cpus), ""
    except cgroups.Unavailable as err:
        return None, str(err)


# --- the output streams ------------------------------------------------------------------------------------


class _Stream:
    """What codefest keeps of one stream: its last 64 KiB, and the first blocked network call, wherever it is."""

    def __init__(self) -> None:
        self.tail = bytearray()
        self._carry = b""
        self._call: bytes | None = None

    def feed(self, data: bytes) -> None:
        self.tail += data
        del self.tail[:-TAIL_BYTES]
        self._scan(data)

    def _scan(self, data: bytes) -> None:
        marker = NETWORK_MARKER.encode()
        if self._call is None:
            text = self._carry + data
            found = text.find(marker)
            self._carry = text[-len(marker) :]
            if found < 0:
                return
            self._call, data = b"", text[found + len(marker) :]
        if len(self._call) < CALL_BYTES and b"\n" not in self._call:
            self._call += data[:CALL_BYTES]

    @property
    def network_call(self) -> str | None:
        if self._call is None:
            return None
        return self._call[:CALL_BYTES].split(b"\n")[0].decode("utf-8", errors="replace").strip()

    @property
    def text(self) -> str:
        return self.tail.decode("utf-8", errors="replace")


class _Capture:
    """Reads the pilot's stdout and stderr as they flow: a pilot that prints without end fills no disk."""

    def __init__(self, streams: dict[int, _Stream]) -> None:
        self._streams = streams
        self._deadline: float | None = None
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        with selectors.DefaultSelector() as selector:
            for fd, stream in self._streams.items():
                selector.register(fd, selectors.EVENT_READ, stream)
            while selector.get_map() and (self._deadline is None or time.monotonic() < self._deadline):
                for key, _ in selector.select(timeout=0.1):
                    data = os.read(key.fd, CHUNK_BYTES)
                    if data:
                        key.data.feed(data)
                    else:
                        selector.unregister(key.fd)

    def finish(self) -> None:
        """Read to the end, but not past a grace period: an unisolated process may have escaped and kept them."""
        self._deadline = time.monotonic() + STREAM_GRACE_SECONDS
        self._thread.join()
        for fd in self._streams:
            os.close(fd)


# --- running -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    """Where the jail works: its staging folder, the pipe for what it reports, and the run's cgroup."""

    stage: Path
    report_fd: int
    group: cgroups.RunGroup | None


@dataclass(frozen=True)
class _Ran:
    done: _Exit
    stdout: _Stream
    stderr: _Stream
    isolated: bool
    report: str = ""  # what the jail reported: a setup failure, or the output it refused to copy back
    usage: cgroups.Usage | None = None
    unlimited: str = ""  # why the run had no cgroup, when it was isolated


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
        os.killpg(pid, signal.SIGKILL)


def _wait_unreaped(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # already reaped after a timeout
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


def _wait(proc: subprocess.Popen, timeout: float, group: cgroups.RunGroup | None) -> _Exit:
    """Wait without reaping, kill the process group and the cgroup (at the wall time, or stragglers), then reap.

    Killing the jail and bwrap kills the pilot's PID namespace (bwrap's --die-with-parent); the cgroup catches
    anything else. Reaping last keeps the group id taken until it is killed; wait4 gives the tree's peak memory.
    """
    waiter = threading.Thread(target=_wait_unreaped, args=(proc.pid,), daemon=True)
    waiter.start()
    waiter.join(timeout)
    timed_out = waiter.is_alive()
    _kill_group(proc.pid)
    if group is not None:
        group.kill_all()
    _, status, usage = os.wait4(proc.pid, 0)
    waiter.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return _Exit(code=proc.returncode, peak_kib=usage.ru_maxrss, timed_out=timed_out)


def _execute(
    command: list[str], env: dict[str, str], limits: CodeLimits, cwd: Path, place: _Place | None = None
) -> tuple[_Exit, _Stream, _Stream]:
    """Run `command` (the jail when there is a `place`) in a session of its own, its streams read through pipes."""
    stdout, stderr = _Stream(), _Stream()
    (out_read, out_write), (err_read, err_write) = os.pipe(), os.pipe()
    capture = _Capture({out_read: stdout, err_read: stderr})
    try:
        try:
            proc = subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out_write,
                stderr=err_write,
                start_new_session=True,
                pass_fds=() if place is None else (place.report_fd,),
                preexec_fn=functools.partial(_fallback_limits, limits) if place is None else None,
            )
        finally:
            os.close(out_write)
            os.close(err_write)
        done = _wait(proc, limits.wall_time_seconds, None if place is None else place.group)
    finally:
        capture.finish()
    return done, stdout, stderr


def _drain(fd: int) -> str:
    """What the jail reported, without waiting: every holder of the pipe has ended."""
    os.set_blocking(fd, False)
    with contextlib.suppress(BlockingIOError), open(fd, "rb") as pipe:
        return (pipe.read(CHUNK_BYTES) or b"").decode("utf-8", errors="replace")
    return ""


def _run_isolated(
    command: list[str], env: dict[str, str], layout: _Layout, limits: CodeLimits, devices: list[int]
) -> _Ran:
    group, unlimited = _run_group(limits)
    stage = Path(tempfile.mkdtemp(prefix="codefest-stage-", dir=STAGE_PARENT))
    report_read, report_write = os.pipe()
    usage = None
    try:
        place = _Place(stage, report_write, group)
        done, stdout, stderr = _execute(
            _jailed(command, env, layout, limits, place, devices), _launcher_env(), limits, Path("/"), place
        )
    finally:
        os.close(report_write)
        stage.rmdir()
        report = _drain(report_read)
        if group is not None:
            group.kill_all()
            usage = group.usage()
            group.remove()
    return _Ran(done, stdout, stderr, isolated=True, report=report, usage=usage, unlimited=unlimited)


def _run(command: list[str], layout: _Layout, limits: CodeLimits, devices: list[int]) -> _Ran:
    env = _environment(layout) | device_environment(devices)  # a run without GPUs is told it has none
    if isolation_available():
        return _run_isolated(command, env, layout, limits, devices)
    done, stdout, stderr = _execute(command, env, limits, layout.pilot)
    return _Ran(done, stdout, stderr, isolated=False)


# --- the verdict -------------------------------------------------------------------------------------------


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _ran_out_of_memory(ran: _Ran, limits: CodeLimits) -> bool:
    """The cgroup's own evidence (the kernel killed a process for its limit) first, then the signs of a crash."""
    if ran.usage is not None and ran.usage.oom_kills > 0:
        return True
    if any(sign in ran.stderr.text for sign in MEMORY_SIGNS):
        return True
    done = ran.done
    killed = done.code in (-signal.SIGKILL, -signal.SIGSEGV, 128 + signal.SIGKILL, 128 + signal.SIGSEGV)
    return killed and done.peak_kib * 1024 >= NEAR_LIMIT * limits.memory_mb * 1024**2


def _redacted(text: str, layout: _Layout) -> str:
    """The pilot's output as the team sees it: the organisers' paths of its interpreter, its environment and the
    sandbox's scratch space named instead of spelled (a traceback through a library shows them)."""
    prefixes = {Path(sys.base_prefix), Path(sys.base_exec_prefix)}
    prefixes |= {path.resolve() for path in prefixes}
    named = {
        **{str(path): "<python>" for path in prefixes if str(path) not in jail.SYSTEM},  # never /usr itself
        str(layout.environment): "<environment>",
        str(layout.environment.resolve()): "<environment>",
    }
    for path, name in sorted(named.items(), key=lambda pair: -len(pair[0])):
        text = text.replace(path, name)
    return _STAGE.sub("<sandbox>", text)


def _last_lines(stderr: str) -> str:
    return "\n".join(stderr.rstrip().splitlines()[-TAIL_LINES:])


def _limit_hit(stderr: str, limits: CodeLimits) -> str:
    """The limit a crash most likely hit, named from its error output, or nothing."""
    if any(sign in stderr for sign in DISK_SIGNS):
        return (
            f"it filled its writable space: the limit is {limits.disk_mb} MB for all it writes "
            "(changes to its folder, the output folder and the temp folders together)"
        )
    if any(sign in stderr for sign in FILE_SIGNS):
        return f"a file it wrote reached the limit of {jail.MAX_FILE_BYTES // 1024**3} GiB per file (sparse or not)"
    if any(sign in stderr for sign in PROCESS_SIGNS):
        return f"it may have started too many processes or threads: the limit is {limits.max_tasks}"
    return ""


def _crash_message(done: _Exit, stderr: str, limits: CodeLimits) -> str:
    if done.code == -signal.SIGXFSZ:
        return f"your code wrote a file over the limit of {jail.MAX_FILE_BYTES // 1024**3} GiB and was stopped"
    how = f"was killed by {_signal_name(done.code)}" if done.code < 0 else f"stopped with exit code {done.code}"
    limit = _limit_hit(stderr, limits)
    how += f"; {limit}" if limit else ""
    tail = _last_lines(stderr)
    return f"your code {how}; the last lines of its error output:\n{tail}" if tail else f"your code {how}."


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


def _output_refused(report: str) -> str:
    """The jail's word that the output folder was over its bounds, and nothing came back."""
    for line in report.splitlines():
        if line.startswith(jail.OUTPUT_MARKER):
            return "your code left " + line.removeprefix(jail.OUTPUT_MARKER).strip() + ", so none came back"
    return ""


def _verdict(ran: _Ran, stderr: str, layout: _Layout, limits: CodeLimits) -> tuple[str, str, Path | None]:
    """The status, the message for the team (with the end of `stderr`, the pilot's error output as shown), and the
    predictions file when there is one."""
    done, network_call = ran.done, ran.stderr.network_call
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
    if done.code != 0 and _ran_out_of_memory(ran, limits):
        return (
            "memory",
            (
                f"your code ran out of memory: the limit is {limits.memory_mb} MB for the whole run (all its "
                "processes and the files it keeps in /tmp together) and for each process's address space; "
                "load a smaller model or process the input in batches"
            ),
            None,
        )
    if done.code != 0:
        return "crashed", _crash_message(done, stderr, limits), None
    refused = _output_refused(ran.report)
    if refused:
        return "no-output", f"{refused}; write only {PREDICTIONS} (and small files) to the output folder", None
    predictions, problem = _predictions_file(layout)
    if predictions is None:
        return "no-output", problem, None
    return "ok", f"your code finished and wrote {PREDICTIONS}", predictions


def environment_for(
    pilot: Path, limits: CodeLimits, environments_folder: Path | None = None
) -> environments.Environment | CodeRun:
    """The pilot's environment, found in `environments_folder` (the current workspace's by default) else built
    there; or, when it cannot be built, the run that ends `environment` without running."""
    folder = environments_folder or Workspace.current().environments
    try:
        return environments.prepare(pilot.resolve(), folder, limits.environment_seconds, limits.environment_mb)
    except environments.EnvironmentFailure as failure:
        return CodeRun(Status.ENVIRONMENT, failure.render(), None, 0.0, "", "", isolation_available())


def run_pilot(
    pilot: Path,
    inputs: list[Path],
    limits: CodeLimits,
    hidden: list[Path],
    workdir: Path,
    devices: Sequence[int] = (),
    environments_folder: Path | None = None,
    environment: environments.Environment | None = None,
) -> CodeRun:
    """Run the pilot's entry point on `inputs` in `workdir`, unable to see `hidden` or the network, with the GPUs
    `devices` (held by the caller: `devices.held`) as its only devices, in `environment`, else the environment of
    its declared dependencies (`environment_for`). A pilot whose environment cannot be built ends `environment`,
    without running."""
    pilot, workdir = pilot.resolve(), workdir.resolve()
    module = entry_point(pilot)
    entries = pilot_tree.walk(pilot)  # bounded, and refused before anything is copied
    secrets = [path.resolve() for path in hidden]
    _check_places(workdir, secrets)
    if environment is None:
        prepared = environment_for(pilot, limits, environments_folder)
        if isinstance(prepared, CodeRun):
            return prepared
        environment = prepared
    layout = _prepare(pilot, entries, inputs, workdir, environment.path)
    started = time.monotonic()
    ran = _run(_command(module, layout), layout, limits, list(devices))
    seconds = time.monotonic() - started
    if jail.SETUP_MARKER in ran.report:
        raise CodefestError(
            f"the sandbox could not be set up: {_last_lines(ran.report)}\n{_last_lines(ran.stderr.text)}",
            f"check that {jail.BWRAP} (Debian's bubblewrap) works for user nobody and that mount works",
        )
    stdout, stderr = _redacted(ran.stdout.text, layout), _redacted(ran.stderr.text, layout)
    status, message, predictions = _verdict(ran, stderr, layout, limits)
    if not ran.isolated:
        message += " (network and file isolation were not available: run codefest as root on Linux with bubblewrap)"
    elif ran.unlimited:
        message += (
            f" (whole-run limits were not available: {ran.unlimited}; memory and processes were limited per "
            "process only)"
        )
    usage = ran.usage or cgroups.Usage(None, None, 0)
    return CodeRun(
        status,
        message,
        predictions,
        seconds,
        stdout,
        stderr,
        ran.isolated,
        usage.peak_memory_bytes,
        usage.cpu_seconds,
        environment,
    )
