"""The launcher that builds the sandbox, runs the pilot in it and hands its output back to the organiser.

`evaluation.sandbox` starts it as root (`python -m evaluation.jail SPEC`). In new mount, network and IPC namespaces
it hides the organiser's workspace, makes every mount read-only, and mounts one size-bounded tmpfs, the scratch
space, for all the pilot may write: its folder (an overlay on the organiser's copy), its output folder and fresh
temp folders. It then forks the pilot as the first process of a new PID namespace, in a user namespace of its own,
as user nobody, and waits. When that process ends the kernel kills every process left in its PID namespace; the
launcher copies the output folder's plain files back to the organiser's run folder and ends as the pilot ended.
The namespaces and the scratch space vanish with it.

It imports only the standard library: it runs as root, so it must not import code a participant could shadow.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import pwd
import resource
import shutil
import signal
import stat
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn

SETUP_FAILED = 125  # exit code: the jail, not the pilot, failed
SETUP_MARKER = "codefest-sandbox: setup failed:"
SANDBOX_USER = "nobody"
MAX_PROCESSES = 1024  # processes and threads of one run (its own user namespace): stops fork bombs, not thread pools
MAX_FILE_BYTES = 1024**3
INODES_PER_MB = 64  # files the scratch space holds per MB: empty files cost kernel memory, not tmpfs size
SCRATCH_PLACES = ("/tmp", "/var/tmp", "/dev/shm")  # writable by anyone on the host: the pilot gets fresh ones
EMPTIED = ("/run", "/var/run")  # the host's sockets (name service caches, resolvers, databases) would reach around
# the network namespace: a name lookup through them is a network access

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 0x1, 0x2, 0x4, 0x8
_MS_BIND, _MS_MOVE, _MS_REC, _MS_PRIVATE = 0x1000, 0x2000, 0x4000, 0x40000
_CLONE_NEWNS, _CLONE_NEWIPC, _CLONE_NEWUSER = 0x20000, 0x8000000, 0x10000000
_CLONE_NEWPID, _CLONE_NEWNET = 0x20000000, 0x40000000
_SYS_MOUNT_SETATTR = 442  # the same number on every architecture with the generic syscall table
_AT_FDCWD, _AT_RECURSIVE = -100, 0x8000
_MOUNT_ATTR_RDONLY, _MOUNT_ATTR_NOSUID = 0x1, 0x2
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38


class SetupError(Exception):
    """The sandbox could not be built: the organiser's machine, not the participant's code, is at fault."""


@dataclass(frozen=True)
class JailSpec:
    """What the launcher needs, passed as one JSON argument so no file is left for the pilot to read."""

    argv: list[str]
    env: dict[str, str]
    memory_mb: int
    disk_mb: int  # the scratch space: every byte the pilot writes, in its folder, output folder or temp folders
    hidden: list[str]  # covered by an empty read-only tmpfs (or /dev/null for a file)
    reachable: list[str]  # folders the sandbox user must reach even below a private folder such as /root
    pilot: str  # the organiser's copy of the pilot: the lower layer of the overlay the pilot runs in
    output: str  # the organiser's output folder: receives the plain files of the pilot's output folder
    stage: str  # an empty folder, outside every path above, used to assemble covers and hold the scratch space
    report_fd: int  # where a setup failure is told: the pilot never holds it, so it cannot fake one

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JailSpec:
        return cls(**json.loads(text))


def set_limits(memory_mb: int, max_processes: int | None = MAX_PROCESSES) -> None:
    """Address space, file size, no core dumps, and (when the user is the sandbox's own) a process cap."""
    memory = memory_mb * 1024**2
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if max_processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))


# --- system calls ------------------------------------------------------------------------------------------


def _fail(what: str) -> NoReturn:
    raise SetupError(f"{what}: {os.strerror(ctypes.get_errno())}")


def _mount(
    source: str | Path | None, target: str | Path, fstype: str | None = None, flags: int = 0, data: str = ""
) -> None:
    """mount(2) itself: no `mount` process, which would become the first process of the pilot's PID namespace."""
    encoded = [None if value is None else os.fsencode(str(value)) for value in (source, target, fstype)]
    if _libc.mount(*encoded, flags, data.encode() if data else None) != 0:
        _fail(f"mount {source} on {target}")


def _unshare(flags: int) -> None:
    if _libc.unshare(flags) != 0:
        _fail(f"unshare({flags:#x})")


def _prctl(option: int, value: int) -> None:
    if _libc.prctl(option, value, 0, 0, 0) != 0:
        _fail(f"prctl({option})")


class _MountAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in ("attr_set", "attr_clr", "propagation", "userns_fd")]


def read_only_everywhere() -> None:
    """Every mount read-only and without set-uid: the pilot writes only where scratch space is mounted afterwards."""
    attr = _MountAttr(_MOUNT_ATTR_RDONLY | _MOUNT_ATTR_NOSUID, 0, 0, 0)
    if _libc.syscall(_SYS_MOUNT_SETATTR, _AT_FDCWD, b"/", _AT_RECURSIVE, ctypes.byref(attr), ctypes.sizeof(attr)):
        _fail("mount_setattr (needs Linux 5.12 or later)")


# --- the pilot's view of the files -------------------------------------------------------------------------


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _traversable(folder: Path, user: pwd.struct_passwd) -> bool:
    info = folder.stat()
    if info.st_uid == user.pw_uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == user.pw_gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def interpreter_paths() -> list[Path]:
    """The Python installation the pilot runs on (the launcher's own), with its installed packages."""
    prefixes = (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix)
    return sorted({Path(sys.executable).resolve().parent} | {Path(prefix).resolve() for prefix in prefixes})


def _blocked_ancestor(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The outermost folder above `path` the user cannot enter (e.g. /root, mode 0700), if any."""
    return next((folder for folder in reversed(path.parents) if not _traversable(folder, user)), None)


def _outermost(paths: list[Path]) -> list[Path]:
    """Drop paths inside other paths of the list: binding the outer one brings them along."""
    unique = sorted(set(paths))
    return [path for path in unique if not any(other != path and other in path.parents for other in unique)]


def make_reachable(paths: list[Path], stage: Path, user: pwd.struct_passwd) -> None:
    """Cover each private ancestor with a tmpfs holding only the needed folders, bound at their own paths.

    The interpreter may live under /root (pyenv) and the run folder under a 0700 temp folder: the sandbox user
    reaches them at the same paths, and sees nothing else of the private folder.
    """
    covers: dict[Path, list[Path]] = {}
    for path in _outermost(paths):
        blocked = _blocked_ancestor(path, user)
        if blocked is not None:
            covers.setdefault(blocked, []).append(path)
    for blocked, inside in covers.items():
        _mount("codefest-cover", stage, "tmpfs", 0, "mode=0755,size=1m")
        for path in inside:
            target = stage / path.relative_to(blocked)
            target.mkdir(parents=True)
            _mount(path, target, None, _MS_BIND | _MS_REC)
        _mount(stage, blocked, None, _MS_MOVE)


def hide(paths: list[Path]) -> None:
    """An empty read-only tmpfs over each folder (and /dev/null over each file): the labels are not there."""
    for path in paths:
        if path.is_dir():
            _mount("codefest-hidden", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV, "mode=0755,size=16k")
        elif path.exists():
            _mount("/dev/null", path, None, _MS_BIND)


def hand_over(folders: list[Path], user: pwd.struct_passwd) -> None:
    """Give folders to the sandbox user; lchown so a link in a pilot cannot hand over a file it points to."""
    for folder in folders:
        os.lchown(folder, user.pw_uid, user.pw_gid)
        for parent, dirs, files in os.walk(folder):
            for name in dirs + files:
                os.lchown(os.path.join(parent, name), user.pw_uid, user.pw_gid)


def mount_scratch(stage: Path, disk_mb: int) -> None:
    """One tmpfs for everything the pilot writes: its size bounds what a run can take, and it vanishes after."""
    options = f"mode=0755,size={disk_mb}m,nr_inodes={disk_mb * INODES_PER_MB}"
    _mount("codefest-scratch", stage, "tmpfs", _MS_NOSUID | _MS_NODEV, options)


def _scratch_folder(path: Path, mode: int, uid: int = 0, gid: int = 0) -> Path:
    path.mkdir()
    os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def _escaped(path: Path) -> str:
    """A path as an overlay option: its separators escaped."""
    return str(path).replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def overlay_pilot(pilot: Path, scratch: Path) -> None:
    """The pilot's folder stays writable through an overlay: writes land in scratch, the organiser's copy is kept."""
    info = pilot.stat()
    upper = _scratch_folder(scratch / "pilot", stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    work = _scratch_folder(scratch / "pilot-work", 0o700)
    layers = f"lowerdir={_escaped(pilot)},upperdir={_escaped(upper)},workdir={_escaped(work)}"
    _mount("codefest-pilot", pilot, "overlay", _MS_NOSUID | _MS_NODEV, layers)


def scratch_output(output: Path, scratch: Path, user: pwd.struct_passwd) -> int:
    """The output folder in scratch, bound over the organiser's; returns it open, for the copy back."""
    folder = _scratch_folder(scratch / "output", 0o755, user.pw_uid, user.pw_gid)
    _mount(folder, output, None, _MS_BIND)
    return os.open(folder, os.O_RDONLY | os.O_DIRECTORY)


def _fresh_place(place: Path, folder: Path, keep: list[Path]) -> None:
    """`folder` (sticky, writable by all) bound over `place`, with the kept paths inside it bound back in."""
    for path in keep:
        if path != place and _inside(path, place):
            target = folder / path.relative_to(place)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.mkdir() if path.is_dir() else target.touch()
            _mount(path, target, None, _MS_BIND | _MS_REC)
    _mount(folder, place, None, _MS_BIND | _MS_REC)


def fresh_places(scratch: Path, keep: list[Path]) -> None:
    """Empty temp folders in scratch over the host's; the run folder and hidden paths inside them stay in place."""
    places = [Path(place) for place in SCRATCH_PLACES if Path(place).is_dir() and not Path(place).is_symlink()]
    places.sort(key=lambda place: _inside(scratch, place))  # the place holding scratch itself goes last
    for number, place in enumerate(places):
        _fresh_place(place, _scratch_folder(scratch / f"place-{number}", 0o1777), _outermost(keep))


def empty(paths: list[Path], keep: list[Path]) -> None:
    """An empty read-only tmpfs over each folder, unless something the pilot needs lives there."""
    for path in paths:
        if path.is_dir() and not path.is_symlink() and not any(_inside(kept, path) for kept in keep):
            _mount("codefest-empty", path, "tmpfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=16k")


@dataclass(frozen=True)
class _Handles:
    """Folders of the organiser's mount namespace, opened before the private one existed: still writable there."""

    proc: int  # the host's /proc, to write the pilot's id maps
    output: int  # the organiser's output folder
    scratch_output: int = -1  # the pilot's output folder in scratch


def _host_handles(output: str) -> _Handles:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    return _Handles(proc=os.open("/proc", flags), output=os.open(output, flags))


def build(spec: JailSpec, user: pwd.struct_passwd) -> _Handles:
    """The pilot's view of the files, in a private mount namespace, in an order where each step still can act."""
    os.umask(0o022)
    host = _host_handles(spec.output)
    _unshare(_CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWIPC)
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    hidden, reachable = [Path(path) for path in spec.hidden], [Path(path) for path in spec.reachable]
    stage, pilot = Path(spec.stage), Path(spec.pilot)
    make_reachable(reachable, stage, user)
    hide(hidden)
    hand_over([pilot], user)
    read_only_everywhere()
    mount_scratch(stage, spec.disk_mb)
    overlay_pilot(pilot, stage)
    output = scratch_output(Path(spec.output), stage, user)
    fresh_places(stage, reachable + hidden)
    empty([Path(path) for path in EMPTIED], reachable)
    return _Handles(host.proc, host.output, output)


# --- the pilot's process -----------------------------------------------------------------------------------


def drop_privileges(user: pwd.struct_passwd) -> None:
    """Become the sandbox user for good: no supplementary groups, no way back, no set-uid programs."""
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    if os.geteuid() != user.pw_uid or os.getegid() != user.pw_gid:
        raise SetupError(f"still running as uid {os.geteuid()} after switching to {user.pw_name}")
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # changing uid cleared it: re-arm it


def _report(fd: int, problem: object) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, f"{SETUP_MARKER} {problem}\n".encode())


def _pilot_process(spec: JailSpec, user: pwd.struct_passwd, ready: int, go: int) -> NoReturn:
    """In the forked child: its own /proc, limits, its own user namespace (a process count of its own), then exec."""
    try:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # a launcher killed outright takes the pilot along
        _unshare(_CLONE_NEWNS)  # a /proc of the new PID namespace, unseen by the launcher, which needs the host's
        _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        set_limits(spec.memory_mb)
        _unshare(_CLONE_NEWUSER)
        os.write(ready, b"1")
        if os.read(go, 1) != b"1":
            os._exit(SETUP_FAILED)
        drop_privileges(user)
        os.chdir(spec.pilot)
        os.execve(spec.argv[0], spec.argv, spec.env)
    except BaseException as err:  # whatever stops the start is the organiser's to see
        _report(spec.report_fd, err)
    os._exit(SETUP_FAILED)


def _map_ids(proc: int, pid: int, user: pwd.struct_passwd) -> None:
    """Root and the sandbox user keep their ids in the pilot's user namespace, so files show their real owners."""
    for name, own in (("uid_map", user.pw_uid), ("gid_map", user.pw_gid)):
        fd = os.open(f"{pid}/{name}", os.O_WRONLY, dir_fd=proc)
        try:
            os.write(fd, f"0 0 1\n{own} {own} 1\n".encode())
        finally:
            os.close(fd)


def start_pilot(spec: JailSpec, user: pwd.struct_passwd, proc: int) -> int:
    """Fork the pilot as the first process of a new PID namespace; its pid once it is on its way to exec."""
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    _unshare(_CLONE_NEWPID)
    pid = os.fork()
    if pid == 0:
        os.close(ready_read)
        os.close(go_write)
        _pilot_process(spec, user, ready_write, go_read)
    os.close(ready_write)
    os.close(go_read)
    try:
        if os.read(ready_read, 1) == b"1":  # otherwise the child failed and said why
            _map_ids(proc, pid, user)
            os.write(go_write, b"1")
    finally:
        os.close(ready_read)
        os.close(go_write)
    return pid


# --- after the pilot ---------------------------------------------------------------------------------------


def _copy_file(name: str, source: int, target: int) -> None:
    reader = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=source)
    with open(reader, "rb") as src:
        if not stat.S_ISREG(os.fstat(reader).st_mode):
            return
        writer = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=target)
        with open(writer, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024**2)


def copy_out(source: int, target: int) -> None:
    """The output folder's plain files, and its links as links, never followed (the organiser refuses them).

    Folders and special files stay behind, and so does anything that fails to copy: the pilot's output, not the
    organiser's machine, is at fault. Every process of the pilot is gone by now, so nothing changes under the copy.
    """
    for entry in os.scandir(source):
        with contextlib.suppress(OSError):
            if entry.is_symlink():
                os.symlink(os.readlink(entry.name, dir_fd=source), entry.name, dir_fd=target)
            elif entry.is_file(follow_symlinks=False):
                _copy_file(entry.name, source, target)


def exit_as(status: int) -> NoReturn:
    """End the way the pilot ended, so the organiser sees its exit code or its signal."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        with contextlib.suppress(OSError, ValueError):
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    os._exit(os.waitstatus_to_exitcode(status))


def supervise(pid: int) -> tuple[int, bool]:
    """Wait for the pilot's first process; whether the organiser stopped it (SIGTERM, at the wall time).

    The launcher then kills that process itself: its PID namespace is empty when waitpid returns, so no process of
    the pilot outlives the launcher that the organiser waits for.
    """
    stopped = False

    def stop(*_: object) -> None:
        nonlocal stopped
        stopped = True
        os.kill(pid, signal.SIGKILL)

    signal.signal(signal.SIGTERM, stop)
    _, status = os.waitpid(pid, 0)
    return status, stopped


def run(spec: JailSpec) -> NoReturn:
    """Build, start, wait, copy back, end as the pilot did."""
    os.set_inheritable(spec.report_fd, False)  # the pilot's process must not keep it across exec
    try:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # an organiser killed outright takes the launcher, then the pilot
        user = pwd.getpwnam(SANDBOX_USER)
        handles = build(spec, user)
        pid = start_pilot(spec, user, handles.proc)
    except Exception as err:  # whatever stops the build is the organiser's to see
        _report(spec.report_fd, err)
        os._exit(SETUP_FAILED)
    status, stopped = supervise(pid)
    if not stopped:
        copy_out(handles.scratch_output, handles.output)
    exit_as(status)


def probe(scratch: Path) -> NoReturn:
    """Every kernel feature a run needs, tried once in throwaway namespaces: exit code 0 if they all work.

    `scratch` is an empty folder of the caller's: mounting over /tmp instead would hide an interpreter that lives
    there, as in a checkout cloned into /tmp.
    """
    user = pwd.getpwnam(SANDBOX_USER)
    host = _host_handles("/")
    _unshare(_CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWIPC)
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    read_only_everywhere()
    mount_scratch(scratch, 1)
    make_reachable(interpreter_paths(), _scratch_folder(scratch / "stage", 0o755), user)
    pilot = _scratch_folder(scratch / "probe", 0o755)
    overlay_pilot(pilot, scratch)
    argv = [sys.executable, "-I", "-S", "-c", ""]
    spec = JailSpec(
        argv=argv,
        env={},
        memory_mb=256,
        disk_mb=1,
        hidden=[],
        reachable=[],
        pilot=str(pilot),
        output=str(pilot),
        stage=str(scratch),
        report_fd=os.dup(2),
    )
    _, status = os.waitpid(start_pilot(spec, user, host.proc), 0)
    os._exit(0 if os.waitstatus_to_exitcode(status) == 0 else SETUP_FAILED)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] == ["--probe"]:
            probe(Path(args[1]))
        spec = JailSpec.from_json(args[0])
    except (SetupError, OSError, KeyError, IndexError, ValueError, TypeError) as err:
        print(f"{SETUP_MARKER} {err}", file=sys.stderr, flush=True)
        os._exit(SETUP_FAILED)
    run(spec)


if __name__ == "__main__":
    main()
