"""One control group per code run: whole-run memory, task and CPU limits, what the run used, and its end.

Per-process limits let a pilot split its memory over processes, or slow other runs with a busy fork bomb; a cgroup
holds every process of the run, whatever it forks. cgroup v2 is used where the host has a unified hierarchy with the
memory, pids and cpu controllers enabled below codefest's own group; otherwise v1 (these machines: memory, pids, cpu
and cpuacct mounted under /sys/fs/cgroup/<controller>). The run's group is created below the group codefest itself
is in, in each hierarchy, so the host's own limits on codefest still bound every run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
V2_CONTROLLERS = ("memory", "pids", "cpu")
KILL_SECONDS = 10.0  # how long emptying a group may take (a fork bomb held at its task limit)
CPU_PERIOD_US = 100_000
PREFIX = "codefest-run-"  # then the pid of the codefest process that made the group, and a random part


class Unavailable(Exception):
    """The host's cgroups cannot hold a run: the reason, for the organiser."""


@dataclass(frozen=True)
class Usage:
    peak_memory_bytes: int | None
    cpu_seconds: float | None
    oom_kills: int  # processes the kernel killed for the group's memory limit


# --- finding codefest's own groups -------------------------------------------------------------------------


def _own_paths() -> dict[str, str]:
    """controller (or '' for v2) -> codefest's own group path, from /proc/self/cgroup."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount root, mount point, super options) of every cgroup mount, from /proc/self/mountinfo."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, tail = line.partition(" - ")
        parts, rest = fields.split(), tail.split()
        if rest and rest[0] in ("cgroup", "cgroup2"):
            options = set(rest[2].split(",")) if len(rest) > 2 else set()
            found.append((rest[0], parts[3], parts[4].replace("\\040", " "), options))
    return found


def _under(mount_point: str, mount_root: str, path: str) -> Path:
    """The folder of group `path` in a hierarchy mounted at `mount_point` from its group `mount_root`."""
    relative = path[len(mount_root) :] if path.startswith(mount_root) else path
    return Path(mount_point) / relative.lstrip("/")


def _v2_parent(paths: dict[str, str]) -> Path | None:
    for fstype, root, point, _ in _mounts():
        if fstype != "cgroup2" or "" not in paths:
            continue
        parent = _under(point, root, paths[""])
        with contextlib.suppress(OSError):
            if set(V2_CONTROLLERS) <= set((parent / "cgroup.controllers").read_text().split()):
                return parent
    return None


def _v1_parents(paths: dict[str, str]) -> dict[str, Path]:
    parents: dict[str, Path] = {}
    for fstype, root, point, options in _mounts():
        for name in V1_CONTROLLERS:
            if fstype == "cgroup" and name in options and name in paths and name not in parents:
                parents[name] = _under(point, root, paths[name])
    return parents


# --- one run's group ---------------------------------------------------------------------------------------


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def _read(path: Path) -> str | None:
    with contextlib.suppress(OSError):
        return path.read_text()
    return None


def _field(text: str | None, key: str) -> int | None:
    """The value of `key` in a flat-keyed file such as memory.events or cpu.stat."""
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return None


@dataclass(frozen=True)
class RunGroup:
    """The run's group: one folder (v2) or one per controller (v1)."""

    version: int
    folders: dict[str, Path]  # controller -> folder; v2 has one folder under the key ''

    @property
    def procs_files(self) -> list[str]:
        """Where a process writes its pid to join the run's group (in every hierarchy)."""
        return sorted({str(folder / "cgroup.procs") for folder in self.folders.values()})

    def _folder(self, controller: str) -> Path:
        """The folder of memory, pids or cpu: create() refuses a group without them."""
        return self.folders["" if self.version == 2 else controller]

    def limit(self, memory_bytes: int, tasks: int, cpus: float) -> None:
        memory, pids, cpu = (self._folder(name) for name in ("memory", "pids", "cpu"))
        quota = max(1000, int(cpus * CPU_PERIOD_US))
        if self.version == 2:
            _write(memory / "memory.max", str(memory_bytes))
            with contextlib.suppress(OSError):  # no swap configured: the file may be missing
                _write(memory / "memory.swap.max", "0")
            _write(pids / "pids.max", str(tasks))
            _write(cpu / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            return
        _write(memory / "memory.limit_in_bytes", str(memory_bytes))
        with contextlib.suppress(OSError):  # memory plus swap: present only with swap accounting
            _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
        _write(pids / "pids.max", str(tasks))
        _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(cpu / "cpu.cfs_quota_us", str(quota))

    def usage(self) -> Usage:
        memory = self._folder("memory")
        if self.version == 2:
            peak = _read(memory / "memory.peak")  # Linux 5.19 and later
            used = _field(_read(self._folder("cpu") / "cpu.stat"), "usage_usec")
            oom = _field(_read(memory / "memory.events"), "oom_kill")
            seconds = None if used is None else used / 1e6
        else:
            peak = _read(memory / "memory.max_usage_in_bytes")
            cpuacct = self.folders.get("cpuacct")  # v1's cpu time: a controller of its own, which may be missing
            used_ns = _read(cpuacct / "cpuacct.usage") if cpuacct else None
            oom = _field(_read(memory / "memory.oom_control"), "oom_kill")
            seconds = int(used_ns) / 1e9 if used_ns and used_ns.strip().isdigit() else None
        peak_bytes = int(peak) if peak and peak.strip().isdigit() else None
        return Usage(peak_bytes, seconds, oom or 0)

    def pids(self) -> list[int]:
        return sorted({int(pid) for name in self.procs_files for pid in (_read(Path(name)) or "").split()})

    def kill_all(self) -> None:
        """SIGKILL every process of the run until none is left (cgroup.kill where the kernel has it)."""
        kill_file = self.folders.get("", Path("/nonexistent")) / "cgroup.kill"
        deadline = time.monotonic() + KILL_SECONDS
        while (pids := self.pids()) and time.monotonic() < deadline:
            if kill_file.exists():
                with contextlib.suppress(OSError):
                    _write(kill_file, "1")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        """Remove the group's folders, once the killed processes are gone (rmdir is refused until then)."""
        deadline = time.monotonic() + KILL_SECONDS
        for folder in set(self.folders.values()):
            while folder.exists():
                try:
                    folder.rmdir()
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(parent: Path) -> None:
    """Remove empty groups left by a codefest killed before it could (named after its pid, which has ended).

    A live codefest's groups are never touched, and rmdir refuses a group that still holds a process.
    """
    for folder in parent.glob(f"{PREFIX}*-*"):
        pid = folder.name.removeprefix(PREFIX).split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _make(parents: dict[str, Path], version: int) -> RunGroup:
    for parent in set(parents.values()):
        _sweep(parent)
    name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    folders: dict[str, Path] = {}
    group = RunGroup(version, folders)
    try:
        for controller, parent in parents.items():
            folder = parent / name
            if folder not in folders.values():  # co-mounted controllers (cpu,cpuacct) share one folder
                folder.mkdir()
            folders[controller] = folder
    except OSError:
        group.remove()
        raise
    return group


def _enable_v2(parent: Path) -> None:
    """Let the run's group use the controllers: refused (busy) where codefest's own group holds processes."""
    _write(parent / "cgroup.subtree_control", " ".join(f"+{name}" for name in V2_CONTROLLERS))


def create(memory_bytes: int, tasks: int, cpus: float) -> RunGroup:
    """A new group for one run, limits set; `Unavailable` with the reason if the host's cgroups cannot hold it."""
    paths = _own_paths()
    try:
        v2 = _v2_parent(paths)
        if v2 is not None:
            _enable_v2(v2)
            group = _make({"": v2}, 2)
        else:
            parents = _v1_parents(paths)
            missing = [name for name in ("memory", "pids", "cpu") if name not in parents]
            if missing:
                raise Unavailable(f"no cgroup v2 with memory, pids and cpu, nor v1 {', '.join(missing)} mounted")
            group = _make(parents, 1)
    except OSError as err:
        raise Unavailable(f"cgroups are not writable ({err.filename}: {err.strerror})") from err
    try:
        group.limit(memory_bytes, tasks, cpus)
    except OSError as err:
        group.remove()
        raise Unavailable(f"cgroup limits could not be set ({err.filename}: {err.strerror})") from err
    return group
