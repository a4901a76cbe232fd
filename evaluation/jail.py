"""The root launcher around bubblewrap: one bounded writable space, the pilot's view, and the copy back.

`codefest.evaluation.sandbox` starts it as root (`python -m codefest.evaluation.jail SPEC`). It joins the run's cgroup,
then in a mount namespace of its own mounts one tmpfs of `disk_mb`, the *scratch space*, for everything the pilot may
write: its folder (an overlay on the organiser's copy), its output folder and fresh /tmp, /var/tmp and /dev/shm. It
exposes the few host folders the pilot may read inside that tmpfs and starts Debian's bubblewrap (`bwrap`) as user
nobody, which builds the pilot's view from them alone: an allowlist (and the device nodes of the GPUs the run holds,
none of another), in new user, mount, PID, network, IPC, UTS and cgroup namespaces, with no capabilities and no
further user namespaces. When bwrap ends, so has every process of the
pilot; the launcher copies the output folder's plain files, bounded by apparent size and count, to the organiser's run
folder and ends as the pilot ended. The scratch space vanishes with its namespace.

It imports only the standard library: it runs as root, so it must not import code a participant could shadow.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NoReturn

BWRAP = "/usr/bin/bwrap"
SETUP_FAILED = 125  # exit code: the jail, not the pilot, failed
SETUP_MARKER = "codefest-sandbox: setup failed:"
OUTPUT_MARKER = "codefest-sandbox: output refused:"
SANDBOX_UID = SANDBOX_GID = 65534  # nobody, nogroup
MAX_FILE_BYTES = 1024**3
INODES_PER_MB = 64  # files the scratch space holds per MB: empty files cost kernel memory, not tmpfs size
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # the system's programs and libraries
SYSTEM_ETC = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime")
NVIDIA_SHARED = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")  # the driver's, not one GPU's
DEVICE_ROOT_ENV = "CODEFEST_DEVICE_ROOT"  # the folder of the host's device nodes, when not /dev
PASSWD = "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
GROUP = "nogroup:x:65534:\n"
# Runs first in the sandbox, before any of the pilot's code: says the sandbox is built, then becomes the pilot.
# The pilot never holds the descriptor, so it cannot fake a setup failure or a success.
TRAMPOLINE = (
    "import os, sys; fd = int(sys.argv[1]); os.write(fd, b'1'); os.close(fd); os.execv(sys.argv[2], sys.argv[2:])"
)

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
_MS_NOSUID, _MS_NODEV, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
_CLONE_NEWNS = 0x20000
_PR_SET_PDEATHSIG = 1


class SetupError(Exception):
    """The sandbox could not be built: the organiser's machine, not the participant's code, is at fault."""


def device_root() -> str:
    """The folder holding the host's device nodes: CODEFEST_DEVICE_ROOT, else /dev; absolute, as the jail runs in /.
    Read where a run's spec is made: the jail's own environment holds no setting."""
    return os.path.abspath(os.environ.get(DEVICE_ROOT_ENV) or "/dev")


def gpu_node(device: int) -> str:
    """The name of the GPU `device`'s own node: nvidiaN."""
    return f"nvidia{device}"


def character_device(path: str) -> bool:
    """Whether `path` is a character device (a GPU's node), not a file, a folder or nothing."""
    try:
        return stat.S_ISCHR(os.stat(path).st_mode)
    except OSError:
        return False


@dataclass(frozen=True)
class JailSpec:
    """What the launcher needs, passed as one JSON argument so no file is left for the pilot to read."""

    argv: list[str]
    env: dict[str, str]
    memory_mb: int  # per process (address space), besides the cgroup's whole-run limit
    disk_mb: int  # the scratch space: every byte the pilot writes, in its folder, output folder or temp folders
    read_only: list[str]  # host paths the pilot reads at their own paths (interpreter, run folder, ...)
    pilot: str  # the organiser's copy of the pilot: the lower layer of the overlay the pilot runs in
    output: str  # the organiser's output folder: receives the plain files of the pilot's output folder
    output_files: int  # at most this many files come back ...
    output_bytes: int  # ... with at most this apparent size in all
    stage: str  # an empty folder outside every path above: the scratch space is mounted there
    cgroup_procs: list[str]  # the run's cgroup, joined first; empty when the host has none to give
    max_processes: int | None  # a per-user process cap, only when there is no cgroup to count them
    report_fd: int  # where a setup failure is told: the pilot never holds it, so it cannot fake one
    devices: list[int] = field(default_factory=list)  # the GPUs the run holds: their nodes are the only ones shown
    device_root: str = field(default_factory=device_root)  # where the host's device nodes are found

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> JailSpec:
        return cls(**json.loads(text))


def set_limits(memory_mb: int, max_processes: int | None = None) -> None:
    """Address space, file size, no core dumps, and (without a cgroup) a process cap."""
    memory = memory_mb * 1024**2
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if max_processes is not None:
        resource.setrlimit(resource.RLIMIT_NPROC, (max_processes, max_processes))


# --- the scratch space and what the pilot may read ---------------------------------------------------------


def _mount(source: str | Path | None, target: str | Path, fstype: str | None, flags: int, data: str = "") -> None:
    encoded = [None if value is None else os.fsencode(str(value)) for value in (source, target, fstype)]
    if _libc.mount(*encoded, flags, data.encode() if data else None) != 0:
        raise SetupError(f"mount {source} on {target}: {os.strerror(ctypes.get_errno())}")


def _private_namespace() -> None:
    if _libc.unshare(_CLONE_NEWNS) != 0:
        raise SetupError(f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}")
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)


def _folder(path: Path, mode: int, uid: int = 0, gid: int = 0) -> Path:
    path.mkdir()
    os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def _escaped(path: Path) -> str:
    """A path as an overlay option: its separators escaped."""
    return str(path).replace("\\", "\\\\").replace(",", "\\,").replace(":", "\\:")


def hand_over(folder: Path) -> None:
    """Give the organiser's copy to the sandbox user; lchown, so a link cannot hand over the file it points to."""
    os.lchown(folder, SANDBOX_UID, SANDBOX_GID)
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            os.lchown(os.path.join(parent, name), SANDBOX_UID, SANDBOX_GID)


@dataclass(frozen=True)
class Scratch:
    """The scratch space's folders: the pilot's (merged overlay), its output, its temp folders, its /etc files."""

    root: Path

    @property
    def pilot(self) -> Path:
        return self.root / "pilot"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def var_tmp(self) -> Path:
        return self.root / "var-tmp"

    @property
    def shm(self) -> Path:
        return self.root / "shm"

    @property
    def etc(self) -> Path:
        return self.root / "etc"


def mount_scratch(stage: Path, disk_mb: int, pilot: Path) -> Scratch:
    """One tmpfs for everything the pilot writes: its size bounds what a run can take, and it vanishes after."""
    options = f"mode=0755,size={disk_mb}m,nr_inodes={max(disk_mb, 1) * INODES_PER_MB}"
    _mount("codefest-scratch", stage, "tmpfs", _MS_NOSUID | _MS_NODEV, options)
    scratch = Scratch(stage)
    for name in ("tmp", "var-tmp", "shm"):
        _folder(stage / name, 0o1777)
    _folder(stage / "output", 0o755, SANDBOX_UID, SANDBOX_GID)
    _folder(stage / "etc", 0o755)
    (stage / "etc" / "passwd").write_text(PASSWD)
    (stage / "etc" / "group").write_text(GROUP)
    info = pilot.stat()
    upper = _folder(stage / "upper", stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
    work, merged = _folder(stage / "work", 0o700), _folder(stage / "pilot", 0o755)
    layers = f"lowerdir={_escaped(pilot)},upperdir={_escaped(upper)},workdir={_escaped(work)}"
    _mount("codefest-pilot", merged, "overlay", _MS_NOSUID | _MS_NODEV, layers)
    _folder(stage / "ro", 0o755)
    return scratch


def expose(paths: list[Path], scratch: Scratch) -> list[tuple[Path, Path]]:
    """Bind each host path into the scratch space, where user nobody can reach it even below /root (mode 0700).

    Returns (where bwrap finds it, where the pilot sees it): the same path as on the host.
    """
    shown = []
    for number, path in enumerate(paths):
        view = scratch.root / "ro" / str(number)
        view.mkdir() if path.is_dir() else view.touch()
        _mount(path, view, None, _MS_BIND | _MS_REC)
        shown.append((view, path))
    return shown


def system_paths() -> tuple[list[Path], list[tuple[str, Path]]]:
    """The system folders the interpreter needs: (folders to show read-only, (target, link) for merged /usr links)."""
    folders, links = [], []
    for name in SYSTEM:
        path = Path(name)
        if path.is_symlink():
            links.append((os.readlink(path), path))
        elif path.is_dir():
            folders.append(path)
    return folders + [Path(name) for name in SYSTEM_ETC if Path(name).exists()], links


# --- bubblewrap --------------------------------------------------------------------------------------------


def base_interpreter() -> Path:
    """codefest's base Python, not its virtual environment: every pilot's environment is made on it."""
    return Path(getattr(sys, "_base_executable", None) or sys.executable)


def interpreter_paths() -> list[Path]:
    """The base Python installation pilots run on, as named and resolved. codefest's own virtual environment is not
    shown: a pilot imports the standard library and the packages of its own environment only."""
    python = base_interpreter()
    named = [python.parent, python.resolve().parent, *map(Path, (sys.base_prefix, sys.base_exec_prefix))]
    return sorted({*named, *(path.resolve() for path in named)})


def _depth(path: Path) -> int:
    return len(path.parts)


def device_nodes(devices: list[int], dev: str) -> list[str]:
    """The names of the nodes under `dev` a run holding the GPUs `devices` may open: each of its own (nvidiaN) and
    the driver's shared ones the host has as character devices; none for a run without GPUs. SetupError when one
    of its own is missing (removed since the run took it): a run told its GPU must never run on the CPU."""
    if not devices:
        return []
    absent = [device for device in devices if not character_device(os.path.join(dev, gpu_node(device)))]
    if absent:
        names = ", ".join(gpu_node(device) for device in absent)
        raise SetupError(f"the run holds GPUs whose device node is not a character device in {dev}: {names}")
    shared = [name for name in NVIDIA_SHARED if character_device(os.path.join(dev, name))]
    return [gpu_node(device) for device in devices] + shared


def bwrap_argv(
    spec: JailSpec, scratch: Scratch, shown: list[tuple[Path, Path]], links: list[tuple[str, Path]]
) -> list[str]:
    """The pilot's whole view: read-only binds of the allowlist, the scratch space's folders, the device nodes of
    its own GPUs (found in `spec.device_root`, shown as /dev/NAME), nothing else."""
    argv = [BWRAP, "--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_GID)]
    argv += ["--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    argv += ["--bind", str(scratch.tmp), "/tmp", "--bind", str(scratch.var_tmp), "/var/tmp"]
    for target, link in links:
        argv += ["--symlink", target, str(link)]
    for view, path in sorted(shown, key=lambda pair: _depth(pair[1])):  # outer folders first: inner ones land in them
        argv += ["--ro-bind", str(view), str(path)]
    argv += [
        "--ro-bind",
        str(scratch.etc / "passwd"),
        "/etc/passwd",
        "--ro-bind",
        str(scratch.etc / "group"),
        "/etc/group",
    ]
    argv += ["--bind", str(scratch.pilot), spec.pilot, "--bind", str(scratch.output), spec.output]
    argv += ["--dev", "/dev", "--bind", str(scratch.shm), "/dev/shm", "--proc", "/proc"]
    for name in device_nodes(spec.devices, spec.device_root):
        argv += ["--dev-bind", os.path.join(spec.device_root, name), f"/dev/{name}"]
    argv += ["--chdir", spec.pilot, "--remount-ro", "/", "--remount-ro", "/dev"]
    return argv


def _outermost(paths: list[Path]) -> list[Path]:
    """Drop paths inside other paths of the list: showing the outer one brings them along."""
    unique = sorted(set(paths))
    return [path for path in unique if not any(other in path.parents for other in unique)]


def _oom_score(value: int) -> None:
    """Who the kernel kills first when the run's cgroup is full: the pilot, not the launcher that reports on it.

    Raising the score is always allowed; lowering it needs CAP_SYS_RESOURCE, which a root in a container may lack.
    """
    with contextlib.suppress(PermissionError):
        Path("/proc/self/oom_score_adj").write_text(str(value))


def _sandbox_user(spec: JailSpec) -> None:
    """In the child before bwrap: limits, first in line for the OOM killer, user nobody for good, and the parent's
    death kills it (bwrap passes that on to the pilot)."""
    set_limits(spec.memory_mb, spec.max_processes)
    _oom_score(1000)  # while still root: /proc/self is root's once the uid has changed
    os.setgroups([])
    os.setgid(SANDBOX_GID)
    os.setuid(SANDBOX_UID)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # changing uid cleared it: re-arm it
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def start(spec: JailSpec, scratch: Scratch, started_fd: int) -> subprocess.Popen:
    """bwrap as user nobody, which creates the namespaces itself: the pilot is nobody on the host too."""
    folders, links = system_paths()
    readable = _outermost([*folders, *(Path(path) for path in spec.read_only)])
    shown = expose(readable, scratch)
    inner = [spec.argv[0], "-I", "-S", "-c", TRAMPOLINE, str(started_fd), *spec.argv]
    return subprocess.Popen(
        [*bwrap_argv(spec, scratch, shown, links), "--", *inner],
        env=spec.env,
        cwd="/",
        pass_fds=(started_fd,),
        preexec_fn=lambda: _sandbox_user(spec),
    )


# --- after the pilot ---------------------------------------------------------------------------------------


def _plain_files(source: int) -> tuple[list[tuple[str, int]], list[str]]:
    """The output folder's plain files (name, apparent size) and links, from its fd: nothing followed or read."""
    files, links = [], []
    for entry in os.scandir(source):
        info = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(info.st_mode):
            links.append(entry.name)
        elif stat.S_ISREG(info.st_mode):
            files.append((entry.name, info.st_size))
    return files, links


def _copy_file(name: str, source: int, target: int) -> None:
    reader = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=source)
    with open(reader, "rb") as src:
        if not stat.S_ISREG(os.fstat(reader).st_mode):
            return
        writer = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=target)
        with open(writer, "wb") as dst:
            shutil.copyfileobj(src, dst, 1024**2)


def copy_out(source: int, target: int, max_files: int, max_bytes: int) -> str:
    """The output folder's plain files, and its links as links, never followed; what was refused, if anything.

    Bounded before anything is copied, by count and by *apparent* size: a sparse file takes no room in the scratch
    space but would take its full size on the organiser's disk. Every process of the pilot is gone by now, so
    nothing changes under the copy.
    """
    files, links = _plain_files(source)
    total = sum(size for _, size in files)
    if len(files) + len(links) > max_files or total > max_bytes:
        return (
            f"{len(files) + len(links)} files of {total:,} bytes in the output folder (apparent size, sparse files "
            f"in full), and codefest copies back at most {max_files} files of {max_bytes:,} bytes in all"
        )
    for name in links:
        with contextlib.suppress(OSError):
            os.symlink(os.readlink(name, dir_fd=source), name, dir_fd=target)
    for name, _ in files:
        with contextlib.suppress(OSError):
            _copy_file(name, source, target)
    return ""


def exit_as(code: int) -> NoReturn:
    """End the way the pilot ended, so the organiser sees its exit code or its signal.

    `code` is bwrap's, as subprocess reports it: bwrap passes a pilot killed by a signal on as 128 + its number, and
    is itself reported as a negative number if a signal (the run's OOM kill, say) ended it.
    """
    number = -code if code < 0 else code - 128 if code > 128 else 0
    if number:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        with contextlib.suppress(OSError, ValueError):
            signal.signal(number, signal.SIG_DFL)
            os.kill(os.getpid(), number)
    os._exit(code if code >= 0 else 128 + number)


def _report(fd: int, marker: str, problem: object) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, f"{marker} {problem}\n".encode())


def _join(cgroup_procs: list[str]) -> None:
    """Into the run's cgroup before anything else: every process started from here on is counted in it."""
    for path in cgroup_procs:
        Path(path).write_text(str(os.getpid()))


def _build(spec: JailSpec) -> tuple[int, int, subprocess.Popen, int]:
    """Join, mount, start: (organiser's output fd, scratch output fd, bwrap, the trampoline's read end)."""
    _join(spec.cgroup_procs)
    _oom_score(-1000)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the organiser killed: so is the run
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    host_output = os.open(spec.output, flags)
    hand_over(Path(spec.pilot))
    _private_namespace()
    scratch = mount_scratch(Path(spec.stage), spec.disk_mb, Path(spec.pilot))
    scratch_output = os.open(scratch.output, flags)
    started_read, started_write = os.pipe()
    try:
        bwrap = start(spec, scratch, started_write)
    finally:
        os.close(started_write)
    return host_output, scratch_output, bwrap, started_read


def run(spec: JailSpec) -> NoReturn:
    """Build, start, wait, copy back, end as the pilot did."""
    os.set_inheritable(spec.report_fd, False)  # bwrap and the pilot must not hold it
    os.umask(0o022)
    try:
        host_output, scratch_output, bwrap, started = _build(spec)
    except Exception as err:  # whatever stops the build is the organiser's to see
        _report(spec.report_fd, SETUP_MARKER, err)
        os._exit(SETUP_FAILED)
    status = bwrap.wait()
    with open(started, "rb") as pipe:
        if pipe.read(1) != b"1":
            _report(spec.report_fd, SETUP_MARKER, f"bwrap ended with exit code {status} before the pilot started")
            os._exit(SETUP_FAILED)
    refused = copy_out(scratch_output, host_output, spec.output_files, spec.output_bytes)
    if refused:
        _report(spec.report_fd, OUTPUT_MARKER, refused)
    exit_as(status)


def probe(scratch: Path) -> NoReturn:
    """A run of `python -I -S -c ''` in a full sandbox: exit code 0 if every piece works on this host.

    `scratch` is an empty folder of the caller's, holding the probe's own run folder and stage.
    """
    scratch.chmod(0o755)  # bwrap, as nobody, reaches the stage through it
    folders = {name: _folder(scratch / name, 0o755) for name in ("pilot", "output", "stage")}
    spec = JailSpec(
        argv=[str(base_interpreter()), "-I", "-S", "-c", ""],
        env={},
        memory_mb=256,
        disk_mb=1,
        read_only=[str(path) for path in interpreter_paths()],
        pilot=str(folders["pilot"]),
        output=str(folders["output"]),
        output_files=1,
        output_bytes=0,
        stage=str(folders["stage"]),
        cgroup_procs=[],
        max_processes=None,
        report_fd=os.dup(2),
    )
    run(spec)


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
