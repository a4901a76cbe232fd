"""Each code submission's own virtual environment: built with uv from what the pilot declares, cached, shared.

A pilot's dependencies (`codefest.evaluation.requirements`) are installed into a fresh virtual environment on
codefest's base interpreter, from wheels only (`--no-build`: no participant's build code ever runs), and only from
the organisers' sources: uv's cache and the wheel folder CODEFEST_WHEELS by default (`--offline`), the package index
CODEFEST_PACKAGE_INDEX as the only index when the organisers set one. uv runs in a session of its own, with an
environment holding nothing of the organiser's (no workspace path, no credential), in an empty folder, under the
challenge's time limit; the size of what it installed is checked afterwards.

The environment is kept in `<workspace>/environments/<key>/`, the key a hash of everything that defines it (the
interpreter, the sorted requirements, the sources), so that submissions with the same dependencies share one. It is
built in a temporary sibling and renamed into place, under a lock per key held across processes, so two workers
that need the same environment build it once. The sandbox shows it to the pilot read-only.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from codefest.evaluation.requirements import LOCK, Declared, EnvironmentFailure, checked, declared, logical_lines

FORMAT = 1  # of the key's record: a change here builds every environment anew
RECORD = "codefest-environment.json"
WHEELS_ENV = "CODEFEST_WHEELS"  # the organisers' folder of pre-seeded wheels (offline events)
INDEX_ENV = "CODEFEST_PACKAGE_INDEX"  # a package index (e.g. https://pypi.org/simple): the only one used
UV_CACHE_ENV = "CODEFEST_UV_CACHE"  # uv's cache, when not uv's default
DEFAULT_SECONDS = 600
DEFAULT_MB = 4096
EXPORT_SECONDS = 60.0
TAIL_LINES = 15  # of uv's error output, in the message
TAIL_CHARS = 3000
MAX_WHEELS = 10_000  # files of the wheel folder read into the key
LOCKS = ".locks"
BUILDING = ".building-"  # prefix of a temporary sibling; left behind only by a killed process
# Variables uv needs to reach an index through the organisers' network; passed on only when there is an index.
NETWORK_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
)


@dataclass(frozen=True)
class Environment:
    """A built environment, and what finding or building it took this time."""

    path: Path
    key: str
    requirements: tuple[str, ...]
    source: str  # the pilot's file the requirements came from
    reused: bool  # found in the cache (built earlier, or meanwhile by another process)
    seconds: float  # to read the declaration and find or build the environment
    size_bytes: int

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def short_key(self) -> str:
        return self.key[:12]


@dataclass(frozen=True)
class Sources:
    """Where packages come from: an index (online) or none (offline: uv's cache), and the organisers' wheels."""

    index: str | None
    wheels: Path | None
    uv_cache: Path

    @classmethod
    def current(cls) -> Sources:
        index = os.environ.get(INDEX_ENV) or None
        wheels = os.environ.get(WHEELS_ENV)
        return cls(index, Path(wheels).resolve() if wheels else None, _uv_cache())

    def wheel_files(self) -> list[tuple[str, int]]:
        """The wheel folder's wheels (name, size): a wheel added or replaced makes a new key."""
        if self.wheels is None:
            return []
        if not self.wheels.is_dir():
            raise EnvironmentFailure(
                "the organisers' wheel folder is missing on the evaluation host",
                "tell the organisers; send the pilot again once they have fixed it",
            )
        found = []
        for entry in os.scandir(self.wheels):
            if entry.name.endswith(".whl") and entry.is_file():
                found.append((entry.name, entry.stat().st_size))
            if len(found) > MAX_WHEELS:
                break
        return sorted(found)

    def arguments(self) -> list[str]:
        links = ["--find-links", str(self.wheels)] if self.wheels is not None else []
        return ["--index-url", self.index, *links] if self.index else ["--offline", *links]


def uv_binary() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


@cache
def _uv_cache() -> Path:
    """CODEFEST_UV_CACHE, else the cache uv uses for the organisers (filled when codefest was installed with uv)."""
    named = os.environ.get(UV_CACHE_ENV)
    if named:
        return Path(named).resolve()
    found = subprocess.run([uv_binary(), "cache", "dir"], capture_output=True, text=True, check=False, timeout=30)
    if found.returncode != 0 or not found.stdout.strip():
        return Path.home() / ".cache" / "uv"
    return Path(found.stdout.strip())


def base_python() -> Path:
    """codefest's base interpreter (not its virtual environment's): the one every pilot's environment is made on."""
    return Path(getattr(sys, "_base_executable", None) or sys.executable)


# --- the key -----------------------------------------------------------------------------------------------


def key(requirements: list[str], sources: Sources) -> str:
    """A hash of everything that decides what the environment holds."""
    record = {
        "format": FORMAT,
        "python": {
            "executable": str(base_python()),
            "version": platform.python_version(),
            "implementation": sys.implementation.name,
            "platform": sysconfig.get_platform(),
        },
        "requirements": sorted(requirements),
        "index": sources.index,
        "wheels": sources.wheel_files(),
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


# --- running uv --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Place:
    """The paths a uv run knows, and how each is shown in a message to the team."""

    shown: dict[str, str]

    def redact(self, text: str) -> str:
        for path, name in sorted(self.shown.items(), key=lambda pair: -len(pair[0])):
            text = text.replace(path, name)
        return text


def _uv_environment(home: Path, sources: Sources) -> dict[str, str]:
    """Nothing of the organiser's environment but what reaching the index needs, when there is one."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "UV_CACHE_DIR": str(sources.uv_cache),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
        "NO_COLOR": "1",
    }
    if sources.index:
        env |= {name: os.environ[name] for name in NETWORK_VARIABLES if name in os.environ}
    return env


def _tail(stderr: str, place: _Place) -> str:
    lines = [line for line in place.redact(stderr).strip().splitlines() if line.strip()]
    return "\n".join(lines[-TAIL_LINES:])[-TAIL_CHARS:]


def _run_uv(arguments: list[str], cwd: Path, env: dict[str, str], deadline: float) -> tuple[int, str, str]:
    """uv in a session of its own, killed with all it started at the deadline: (exit code, stdout, stderr)."""
    process = subprocess.Popen(
        [uv_binary(), *arguments],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        process_group=0,
        umask=0o022,
    )
    try:
        out, err = process.communicate(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    return process.returncode, out, err


# --- reading what the pilot declares -----------------------------------------------------------------------


def _exported(found: Declared, sources: Sources, seconds: float) -> list[tuple[int, str]]:
    """The lock file's requirements, exported by uv from copies of the files in a folder of their own: never in the
    pilot's folder, and with a pyproject.toml that holds only the project's name (no workspace, no sources)."""
    with tempfile.TemporaryDirectory(prefix="codefest-export-") as folder:
        work = Path(folder)
        (work / "pyproject.toml").write_text(f'[project]\nname = "{found.project}"\nversion = "0"\n', "utf-8")
        (work / LOCK).write_text(found.lock, "utf-8")
        arguments = ["export", "--frozen", "--no-emit-project", "--no-hashes", "--format", "requirements-txt"]
        place = _Place({folder: "<pilot>", str(sources.uv_cache): "<uv cache>"})
        try:
            code, out, err = _run_uv(
                [*arguments, "--no-config"], work, _uv_environment(work, sources), time.monotonic() + seconds
            )
        except subprocess.TimeoutExpired:
            raise EnvironmentFailure(f"reading {LOCK} took over {seconds:g} s", f"check {LOCK} with uv") from None
    if code != 0:
        raise EnvironmentFailure(
            f"uv could not read the pilot's {LOCK}:\n{_tail(err, place)}", f"run `uv lock` again and commit {LOCK}"
        )
    return logical_lines(out)


def requirements_of(pilot: Path, sources: Sources, seconds: float = EXPORT_SECONDS) -> tuple[str, list[str]]:
    """(the file they come from, the checked requirement lines, sorted)."""
    found = declared(pilot)
    lines = _exported(found, sources, seconds) if found.source == LOCK else found.lines
    return found.source, checked(found.source, lines)


# --- building ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(cache: Path, key: str) -> Iterator[None]:
    """One builder per key, across processes and hosts sharing the folder (flock)."""
    folder = cache / LOCKS
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{key}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _size(folder: Path) -> int:
    """Bytes of the environment's files, each file once however many links it has."""
    seen, total = set(), 0
    for parent, _, files in os.walk(folder):
        for name in files:
            info = os.lstat(os.path.join(parent, name))
            if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total


def _readable(folder: Path) -> None:
    """Readable by every user and writable by root only: the pilot runs as nobody. Files uv linked from its cache
    share their mode with the cache's copy, which is left readable too."""
    for parent, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = os.path.join(parent, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                continue
            wanted = (stat.S_IMODE(mode) | 0o444 | (0o111 if stat.S_ISDIR(mode) or mode & 0o100 else 0)) & ~0o022
            if wanted != stat.S_IMODE(mode):
                os.chmod(path, wanted)
    folder.chmod(0o755)


def _install(target: Path, requirements: list[str], sources: Sources, limits: tuple[float, int]) -> None:
    """A virtual environment at `target` holding `requirements`, or EnvironmentFailure with uv's own words."""
    seconds, megabytes = limits
    deadline = time.monotonic() + seconds
    with tempfile.TemporaryDirectory(prefix="codefest-uv-") as folder:
        work = Path(folder)
        env = _uv_environment(work, sources)
        place = _Place(
            {
                str(target): "<environment>",
                folder: "<build folder>",
                str(sources.uv_cache): "<uv cache>",
                **({str(sources.wheels): "<wheel folder>"} if sources.wheels else {}),
                **({sources.index: "<package index>"} if sources.index else {}),  # it may hold a token
                str(Path(sys.base_prefix)): "<python>",
            }
        )
        venv = ["venv", "--relocatable", "--no-python-downloads", "--python", str(base_python()), "--no-config"]
        steps = [[*venv, "--quiet", str(target)]]
        if requirements:
            (work / "requirements.txt").write_text("".join(line + "\n" for line in requirements), "utf-8")
            install = ["pip", "install", "--python", str(target / "bin" / "python"), "--no-build", "--no-config"]
            steps.append([*install, *sources.arguments(), "-r", "requirements.txt"])
        for step in steps:
            try:
                code, _, err = _run_uv(step, work, env, deadline)
            except subprocess.TimeoutExpired:
                raise EnvironmentFailure(
                    f"installing the pilot's dependencies took over the limit of {seconds:g} s",
                    "depend on fewer or smaller packages, or ask the organisers about the limit",
                ) from None
            if code != 0:
                raise EnvironmentFailure(
                    f"the pilot's dependencies could not be installed; uv said:\n{_tail(err, place)}",
                    "depend only on packages that have wheels for this Python on the package registry or in the "
                    "organisers' wheel folder (codefest builds no source distribution); ask the organisers to add a "
                    "wheel, then send the pilot again",
                )
    size = _size(target)
    if size > megabytes * 1024**2:
        raise EnvironmentFailure(
            f"the pilot's dependencies take {size / 1024**2:,.0f} MB installed, over the limit of {megabytes} MB",
            "depend on fewer or smaller packages (a CPU-only build of a large library, say)",
        )


def _record(path: Path) -> dict | None:
    try:
        found = json.loads((path / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _build(
    cache: Path, key_: str, requirements: list[str], source: str, sources: Sources, limits: tuple[float, int]
) -> int:
    """Build in a temporary sibling, write the record, rename it into place: the key's folder is whole or absent."""
    started = time.monotonic()
    for left in cache.glob(f"{BUILDING}{key_}-*"):  # a killed builder's: this process holds the key's lock now
        shutil.rmtree(left, ignore_errors=True)
    building = Path(tempfile.mkdtemp(prefix=f"{BUILDING}{key_}-", dir=cache))
    try:
        _install(building, requirements, sources, limits)
        _readable(building)
        size = _size(building)
        record = {
            "format": FORMAT,
            "key": key_,
            "source": source,
            "requirements": requirements,
            "online": sources.index is not None,
            "wheels": [name for name, _ in sources.wheel_files()],
            "build_seconds": round(time.monotonic() - started, 3),
            "size_bytes": size,
        }
        (building / RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        (building / RECORD).chmod(0o644)
        if (cache / key_).exists():  # a folder without its record was never handed out: damaged, replaced whole
            shutil.rmtree(cache / key_)
        os.rename(building, cache / key_)
        return size
    finally:
        shutil.rmtree(building, ignore_errors=True)


def prepare(pilot: Path, cache: Path, seconds: float = DEFAULT_SECONDS, megabytes: int = DEFAULT_MB) -> Environment:
    """The pilot's environment: found in `cache`, else built (once, whoever else needs it meanwhile).

    Raises EnvironmentFailure, whose message the team reads, when the declaration is refused or uv fails.
    """
    started = time.monotonic()
    sources = Sources.current()
    source, requirements = requirements_of(pilot, sources, min(seconds, EXPORT_SECONDS))
    key_ = key(requirements, sources)
    path = cache / key_
    cache.mkdir(parents=True, exist_ok=True)
    record = _record(path)
    reused = record is not None
    if record is None:
        with _locked(cache, key_):
            record = _record(path)
            reused = record is not None
            if record is None:
                size = _build(cache, key_, requirements, source, sources, (seconds, megabytes))
                record = {"size_bytes": size}
    return Environment(
        path=path,
        key=key_,
        requirements=tuple(requirements),
        source=source,
        reused=reused,
        seconds=time.monotonic() - started,
        size_bytes=int(record.get("size_bytes", 0)),
    )
