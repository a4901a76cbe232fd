"""Each code submission's own virtual environment: built with uv from what the pilot declares, cached, shared.

A pilot's dependencies (`codefest.evaluation.requirements`) are installed into a fresh virtual environment on
codefest's base interpreter, from wheels only (`--no-build`: no participant's build code ever runs), and only from
the organisers' sources: uv's cache and the wheel folder CODEFEST_WHEELS by default (`--offline`), the package index
CODEFEST_PACKAGE_INDEX as the only index when the organisers set one. uv runs in a session of its own, with an
environment holding nothing of the organiser's (no workspace path, no credential), in an empty folder, under the
challenge's time limit, and stopped as soon as its folders (the environment, and when an index is reached the build's
own throwaway uv cache) hold more than the challenge's environment_mb or MAX_FILES files.

The environment is kept in `<workspace>/environments/<key>/`, the key a hash of everything that defines it (the
interpreter, the sorted requirements, the sources, each file of the wheel folder by its sha256), so that submissions
with the same dependencies share one. It is
built in a temporary sibling and renamed into place, under a lock per key held across processes, so two workers
that need the same environment build it once; its record is written beside it (`<key>.json`), where no package
writes. A failed build is remembered (`<key>.failed`) for FAILED_SECONDS: the same declaration sent again fails at
once. The sandbox shows the environment to the pilot read-only.

uv finds the organisers' wheels in `environments/.wheels/<digest>/`, a folder of links named by what the wheels hold:
uv's shared cache keeps a wheel it took from a folder by the folder, the name and the version, and never looks at it
again offline, so a wheel replaced in place would otherwise be installed as it was before.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from urllib.parse import urlsplit

from codefest.evaluation.requirements import LOCK, Declared, EnvironmentFailure, checked, declared, logical_lines

FORMAT = 3  # of the key's record: a change here builds every environment anew
RECORD = ".json"  # suffix of the record beside the environment, `<key>.json`: never inside, where a package writes
FAILED = ".failed"  # suffix of a failed build's record, `<key>.failed`: the same declaration fails at once
FAILED_SECONDS = 15 * 60  # how long a failed build is remembered
MAX_FILES = 100_000  # files an environment may hold (numpy, scipy and torch together hold about 30,000)
WATCH_SECONDS = 0.25  # between two measures of a build's folder
WHEELS_ENV = "CODEFEST_WHEELS"  # the organisers' folder of pre-seeded wheels (offline events)
INDEX_ENV = "CODEFEST_PACKAGE_INDEX"  # a package index (e.g. https://pypi.org/simple): the only one used
UV_CACHE_ENV = "CODEFEST_UV_CACHE"  # uv's cache, when not uv's default
DEFAULT_SECONDS = 600
DEFAULT_MB = 4096
EXPORT_SECONDS = 60.0
TAIL_LINES = 15  # of uv's error output, in the message
TAIL_CHARS = 3000
LINE_CHARS = 200  # of each of uv's lines, in the message
MAX_WHEELS = 10_000  # files of the wheel folder read into the key
DISTRIBUTIONS = (".whl", ".tar.gz", ".zip")  # what uv reads in the wheel folder (sdists only to say it builds none)
LOCKS = ".locks"
PINNED = ".wheels"  # the wheel folder's contents, linked into a folder named by their digest
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

    def wheel_files(self) -> list[tuple[str, str]]:
        """The wheel folder's distributions (name, sha256): one added or replaced, even in place, makes a new key."""
        if self.wheels is None:
            return []
        if not self.wheels.is_dir():
            raise EnvironmentFailure(
                "the organisers' wheel folder is missing on the evaluation host",
                "tell the organisers; send the pilot again once they have fixed it",
            )
        found = []
        for entry in os.scandir(self.wheels):
            if entry.name.endswith(DISTRIBUTIONS) and entry.is_file():
                found.append((entry.name, _sha256(entry)))
            if len(found) > MAX_WHEELS:
                break
        return sorted(found)

    def arguments(self) -> list[str]:
        links = ["--find-links", str(self.wheels)] if self.wheels is not None else []
        return ["--index-url", self.index, *links] if self.index else ["--offline", *links]


_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}  # a long-lived worker hashes each wheel once


def _sha256(entry: os.DirEntry[str]) -> str:
    """The file's sha256, remembered while its inode, size and times stay (any write changes its ctime)."""
    info = entry.stat()
    seen = (entry.path, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    if seen not in _DIGESTS:
        if len(_DIGESTS) > 2 * MAX_WHEELS:
            _DIGESTS.clear()
        with open(entry.path, "rb") as handle:
            _DIGESTS[seen] = hashlib.file_digest(handle, "sha256").hexdigest()
    return _DIGESTS[seen]


def _pinned(sources: Sources, files: list[tuple[str, str]], cache: Path) -> Sources:
    """The same sources with the wheel folder seen through `cache/.wheels/<digest of files>/`: links (copies across
    file systems) made once, checked against `files`, then renamed into place whole."""
    if sources.wheels is None or not files:
        return Sources(sources.index, None, sources.uv_cache)
    digest = hashlib.sha256(json.dumps(files).encode()).hexdigest()[:32]
    pinned = cache / PINNED / digest
    if not pinned.is_dir():
        pinned.parent.mkdir(parents=True, exist_ok=True)
        making = Path(tempfile.mkdtemp(prefix=BUILDING, dir=pinned.parent))
        try:
            for name, _ in files:
                try:
                    os.link(sources.wheels / name, making / name)
                except OSError:
                    shutil.copyfile(sources.wheels / name, making / name)
            made = [(entry.name, _sha256(entry)) for entry in sorted(os.scandir(making), key=lambda e: e.name)]
            if made != files:
                raise EnvironmentFailure(
                    "the organisers' wheel folder changed while the pilot's environment was being prepared",
                    "send the pilot again",
                )
            with contextlib.suppress(OSError):  # another builder put the same folder in place first
                os.rename(making, pinned)
        finally:
            shutil.rmtree(making, ignore_errors=True)
    return Sources(sources.index, pinned, sources.uv_cache)


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


def key(requirements: list[str], sources: Sources, wheels: list[tuple[str, str]]) -> str:
    """A hash of everything that decides what the environment holds (`wheels`: `sources.wheel_files()`)."""
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
        "wheels": wheels,
    }
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


# --- running uv --------------------------------------------------------------------------------------------

INDEX_SHOWN = "<package index>"  # the team learns it was the organisers' index, never its address or credentials


@dataclass(frozen=True)
class _Place:
    """The paths a uv run knows, and how each is shown in a message to the team."""

    shown: dict[str, str]
    patterns: tuple[tuple[re.Pattern[str], str], ...] = ()

    def redact(self, text: str) -> str:
        for pattern, name in self.patterns:
            text = pattern.sub(name, text)
        for path, name in sorted(self.shown.items(), key=lambda pair: -len(pair[0])):
            text = text.replace(path, name)
        return text


def _index_place(index: str | None) -> tuple[dict[str, str], tuple[tuple[re.Pattern[str], str], ...]]:
    """The index's address as uv may print it: with or without its credentials, any path below it; its host, and
    its user name and password alone, wherever they appear."""
    if not index:
        return {}, ()
    parts = urlsplit(index)
    shown = {index: INDEX_SHOWN}
    for secret in (parts.netloc, parts.hostname, parts.username, parts.password):
        if secret and len(secret) > 2:
            shown[secret] = INDEX_SHOWN if secret in (parts.netloc, parts.hostname) else "<credentials>"
    if not parts.hostname:
        return shown, ()
    address = rf"[A-Za-z][A-Za-z0-9+.-]*://([^\s/@]*@)?{re.escape(parts.hostname)}(:\d+)?[^\s'\"`<>]*"
    return shown, ((re.compile(address, re.IGNORECASE), INDEX_SHOWN),)


def _uv_environment(home: Path, sources: Sources, uv_cache: Path | None = None) -> dict[str, str]:
    """Nothing of the organiser's environment but what reaching the index needs, when there is one."""
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "UV_CACHE_DIR": str(uv_cache or sources.uv_cache),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
        "NO_COLOR": "1",
    }
    if sources.index:
        env |= {name: os.environ[name] for name in NETWORK_VARIABLES if name in os.environ}
    return env


def _cut(line: str) -> str:
    return line if len(line) <= LINE_CHARS else line[:LINE_CHARS] + " [...]"


def _tail(stderr: str, place: _Place) -> str:
    lines = [_cut(line) for line in place.redact(stderr).strip().splitlines() if line.strip()]
    return "\n".join(lines[-TAIL_LINES:])[-TAIL_CHARS:]


@dataclass(frozen=True)
class _Budget:
    """What a build's folders may hold while uv runs: bytes and entries (files, links and folders)."""

    folders: tuple[Path, ...]
    max_bytes: int
    max_files: int

    def over(self) -> str | None:
        """What is over the budget, measured now (stopping as soon as it is), else None."""
        found, total, seen = 0, 0, set()
        for folder in self.folders:
            for parent, dirs, files in os.walk(folder):
                found += len(dirs) + len(files)
                if found > self.max_files:
                    return f"over {self.max_files:,} files"
                for name in files:
                    with contextlib.suppress(OSError):  # uv moves files while it works
                        info = os.lstat(os.path.join(parent, name))
                        if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                            seen.add((info.st_dev, info.st_ino))
                            total += info.st_size
                if total > self.max_bytes:
                    return f"over {self.max_bytes // 1024**2:,} MB"
        return None


class _Watcher(threading.Thread):
    """Measures the build's folders every WATCH_SECONDS (or twice as long as a measure takes), and kills uv's
    process group once they are over the budget: uv is stopped while it unpacks, not after."""

    def __init__(self, pid: int, budget: _Budget) -> None:
        super().__init__(daemon=True)
        self.pid, self.budget = pid, budget
        self.done = threading.Event()
        self.found: str | None = None

    def run(self) -> None:
        pause = WATCH_SECONDS
        while not self.done.wait(pause):
            started = time.monotonic()
            self.found = self.budget.over()
            if self.found is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                return
            pause = max(WATCH_SECONDS, 2 * (time.monotonic() - started))


def _run_uv(
    arguments: list[str], cwd: Path, env: dict[str, str], deadline: float, budget: _Budget | None = None
) -> tuple[int, str, str]:
    """uv in a session of its own, killed with all it started at the deadline, or once its folders are over
    `budget` (EnvironmentFailure): (exit code, stdout, stderr)."""
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
    watcher = _Watcher(process.pid, budget) if budget is not None else None
    if watcher is not None:
        watcher.start()
    try:
        out, err = process.communicate(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    finally:
        if watcher is not None:
            watcher.done.set()
            watcher.join()
    if watcher is not None and watcher.found is not None:
        raise _too_large(watcher.found, budget)
    return process.returncode, out, err


def _too_large(what: str, budget: _Budget | None) -> EnvironmentFailure:
    megabytes = budget.max_bytes // 1024**2 if budget else 0
    files = budget.max_files if budget else MAX_FILES
    return EnvironmentFailure(
        f"the pilot's dependencies were stopped while installing: {what} (limits {megabytes:,} MB, {files:,} files)",
        "depend on fewer or smaller packages (a CPU-only build of a large library, say)",
    )


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


def _size(folder: Path) -> tuple[int, int]:
    """Bytes of the environment's files, each file once however many links it has; and its entries (files, links,
    folders)."""
    seen, total, entries = set(), 0, 0
    for parent, dirs, files in os.walk(folder):
        entries += len(dirs) + len(files)
        for name in files:
            info = os.lstat(os.path.join(parent, name))
            if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_size
    return total, entries


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


def _venv_files(target: Path) -> tuple[bytes, str]:
    """What `uv venv` wrote that decides which interpreter runs and what it sees: pyvenv.cfg and bin/python's link."""
    python = target / "bin" / "python"
    if not python.is_symlink():
        raise EnvironmentFailure(
            "a package overwrote the environment's bin/python", "depend on packages that install no interpreter"
        )
    return (target / "pyvenv.cfg").read_bytes(), os.readlink(python)


def _check_venv(target: Path, made: tuple[bytes, str]) -> None:
    """pyvenv.cfg and bin/python as uv made them: a wheel's data folder installs at the environment's root and
    could point it at another interpreter or at the host's site-packages."""
    try:
        now = _venv_files(target)
    except FileNotFoundError:
        now = (b"", "")
    for name, before, after in zip(("pyvenv.cfg", "bin/python"), made, now, strict=True):
        if before != after:
            raise EnvironmentFailure(
                f"a package overwrote the environment's {name}",
                "depend on packages that install nothing at the environment's root (a wheel's .data/data folder)",
            )


class _Unreachable(EnvironmentFailure):
    """The index could not be reached: the organisers' network, not the declaration; not remembered."""


UNREACHABLE = "the organisers' package index could not be reached: send the pilot again later, or tell the organisers"


def _uv_fix(said: str) -> str:
    """The fix that matches what uv said."""
    lowered = said.lower()
    if any(word in lowered for word in ("failed to fetch", "error sending request", "connect", "dns", "timed out")):
        return UNREACHABLE
    if any(word in lowered for word in ("no version of", "no versions of", "only the following versions")):
        return "ask for a version that exists (check the version specifiers against the package registry)"
    if any(word in lowered for word in ("source distribution", "no-build", "no usable wheel", "building source")):
        return (
            "depend only on packages that have wheels for this Python on the package registry or in the organisers' "
            "wheel folder (codefest builds no source distribution); ask the organisers to add a wheel"
        )
    if "not found" in lowered:
        return (
            "check the package's name; if it is not on the package registry, ask the organisers to add its wheel, "
            "then send the pilot again"
        )
    return "check the dependencies with uv against a fresh environment (see docs/code-submissions.md)"


def _install(target: Path, work: Path, requirements: list[str], sources: Sources, limits: tuple[float, int]) -> None:
    """A virtual environment at `target` holding `requirements`, or EnvironmentFailure with uv's own words.

    uv works in `work`, which holds uv's cache too when an index is reached: what a build downloads and unpacks
    is thrown away with `work` (the environment's files are links or copies, they stay), and counts in the budget
    while uv runs. Offline, uv's shared cache holds only the organisers' wheels and is not counted."""
    seconds, megabytes = limits
    deadline = time.monotonic() + seconds
    uv_cache = work / "uv-cache" if sources.index else sources.uv_cache
    env = _uv_environment(work, sources, uv_cache)
    index_shown, patterns = _index_place(sources.index)
    place = _Place(
        {
            str(target): "<environment>",
            str(uv_cache): "<uv cache>",
            str(work): "<build folder>",
            str(sources.uv_cache): "<uv cache>",
            **({str(sources.wheels): "<wheel folder>"} if sources.wheels else {}),
            **index_shown,
            str(Path(sys.base_prefix)): "<python>",
        },
        patterns,
    )
    budget = _Budget((target, work), megabytes * 1024**2, MAX_FILES)
    venv = ["venv", "--relocatable", "--no-python-downloads", "--python", str(base_python()), "--no-config"]
    steps = [[*venv, "--quiet", str(target)]]
    if requirements:
        (work / "requirements.txt").write_text("".join(line + "\n" for line in requirements), "utf-8")
        install = ["pip", "install", "--python", str(target / "bin" / "python"), "--no-build", "--no-config"]
        steps.append([*install, *sources.arguments(), "-r", "requirements.txt"])
    made: tuple[bytes, str] | None = None
    for step in steps:
        try:
            code, _, err = _run_uv(step, work, env, deadline, budget)
        except subprocess.TimeoutExpired:
            raise EnvironmentFailure(
                f"installing the pilot's dependencies took over the limit of {seconds:g} s",
                "depend on fewer or smaller packages, or ask the organisers about the limit",
            ) from None
        if code != 0:
            said = _tail(err, place)
            fix = _uv_fix(said)
            failure = _Unreachable if fix == UNREACHABLE else EnvironmentFailure
            raise failure(f"the pilot's dependencies could not be installed; uv said:\n{said}", fix)
        made = made or _venv_files(target)
    if made is not None:
        _check_venv(target, made)
    size, files = _size(target)
    if size > megabytes * 1024**2 or files > MAX_FILES:
        raise _over_limits(size, files, megabytes)


def _over_limits(size: int, files: int, megabytes: int) -> EnvironmentFailure:
    return EnvironmentFailure(
        f"the pilot's dependencies take {size / 1024**2:,.0f} MB in {files:,} files installed, over the limit of "
        f"{megabytes:,} MB or {MAX_FILES:,} files",
        "depend on fewer or smaller packages (a CPU-only build of a large library, say)",
    )


def _record(cache: Path, key_: str) -> dict | None:
    """The record beside a whole environment, else None (never built, or damaged: built again)."""
    try:
        found = json.loads((cache / f"{key_}{RECORD}").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and (cache / key_).is_dir() else None


def _write_json(path: Path, content: dict) -> None:
    """Written whole or not at all (a temporary sibling renamed)."""
    partial = path.with_name(f"{BUILDING}{path.name}")
    partial.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    partial.chmod(0o644)
    os.replace(partial, path)


def _failed(cache: Path, key_: str) -> EnvironmentFailure | None:
    """The failure of this key's build in the last FAILED_SECONDS: the same declaration, the same verdict."""
    try:
        found = json.loads((cache / f"{key_}{FAILED}").read_text(encoding="utf-8"))
        problem, fix, when = str(found["problem"]), str(found["fix"] or ""), float(found["time"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    left = when + FAILED_SECONDS - time.time()
    if not 0 < left <= FAILED_SECONDS:
        return None
    again = f"the same dependencies are refused without a new build for {left / 60:.0f} more min"
    return EnvironmentFailure(problem, f"{fix}; {again}" if fix else again)


def _remember(cache: Path, key_: str, failure: EnvironmentFailure) -> None:
    with contextlib.suppress(OSError):
        _write_json(cache / f"{key_}{FAILED}", {"problem": failure.problem, "fix": failure.fix, "time": time.time()})


def _build(
    cache: Path,
    key_: str,
    requirements: list[str],
    source: str,
    sources: Sources,
    wheels: list[tuple[str, str]],
    limits: tuple[float, int],
) -> dict:
    """Build in a temporary sibling, rename it into place, then write its record beside it: an environment with a
    record is whole. uv's work folder (and throwaway cache) is a sibling too, removed whatever happens. uv sees the
    wheel files the key was made of (`wheels`), or the build fails."""
    started = time.monotonic()
    for left in cache.glob(f"{BUILDING}{key_}-*"):  # a killed builder's: this process holds the key's lock now
        shutil.rmtree(left, ignore_errors=True)
    building = Path(tempfile.mkdtemp(prefix=f"{BUILDING}{key_}-", dir=cache))
    work = Path(tempfile.mkdtemp(prefix=f"{BUILDING}{key_}-uv-", dir=cache))
    try:
        _install(building, work, requirements, _pinned(sources, wheels, cache), limits)
        shutil.rmtree(work)
        _readable(building)
        size, files = _size(building)
        record = {
            "format": FORMAT,
            "key": key_,
            "source": source,
            "requirements": requirements,
            "online": sources.index is not None,
            "wheels": [name for name, _ in wheels],
            "build_seconds": round(time.monotonic() - started, 3),
            "size_bytes": size,
            "files": files,
        }
        if (cache / key_).exists():  # a folder without its record was never handed out: damaged, replaced whole
            shutil.rmtree(cache / key_)
        os.rename(building, cache / key_)
        _write_json(cache / f"{key_}{RECORD}", record)
        return record
    except OSError as err:  # a package's files that the environment cannot take, or the disk
        raise EnvironmentFailure(
            f"the pilot's environment could not be written ({err.strerror or type(err).__name__})",
            "depend on packages that install only ordinary files and folders, or tell the organisers",
        ) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(building, ignore_errors=True)


def _reusable(record: dict, megabytes: int) -> None:
    """An environment built under another challenge's limits is refused under this one's, not reused."""
    size, files = int(record.get("size_bytes", 0)), int(record.get("files", 0))
    if size > megabytes * 1024**2 or files > MAX_FILES:
        raise _over_limits(size, files, megabytes)


def prepare(pilot: Path, cache: Path, seconds: float = DEFAULT_SECONDS, megabytes: int = DEFAULT_MB) -> Environment:
    """The pilot's environment: found in `cache`, else built (once, whoever else needs it meanwhile).

    Raises EnvironmentFailure, whose message the team reads, when the declaration is refused, uv fails, or the same
    declaration failed in the last FAILED_SECONDS (remembered in `<key>.failed`: a resent pilot costs no build).
    """
    started = time.monotonic()
    sources = Sources.current()
    source, requirements = requirements_of(pilot, sources, min(seconds, EXPORT_SECONDS))
    wheels = sources.wheel_files()
    key_ = key(requirements, sources, wheels)
    cache.mkdir(parents=True, exist_ok=True)
    record = _record(cache, key_)
    reused = record is not None
    if record is None:
        with _locked(cache, key_):
            record = _record(cache, key_)
            reused = record is not None
            if record is None:
                build = partial(_build, cache, key_, requirements, source, sources, wheels, (seconds, megabytes))
                record = _built(cache, key_, build)
    _reusable(record, megabytes)
    return Environment(
        path=cache / key_,
        key=key_,
        requirements=tuple(requirements),
        source=source,
        reused=reused,
        seconds=time.monotonic() - started,
        size_bytes=int(record.get("size_bytes", 0)),
    )


def _built(cache: Path, key_: str, build: Callable[[], dict]) -> dict:
    """`build()` now, or the failure remembered from a build of the same key a short while ago; a new failure is
    remembered (an unreachable index is not)."""
    failed = _failed(cache, key_)
    if failed is not None:
        raise failed
    try:
        return build()
    except _Unreachable:
        raise
    except EnvironmentFailure as failure:
        _remember(cache, key_, failure)
        raise
