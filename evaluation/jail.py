"""The launcher that runs inside the sandbox's namespaces: hide the organiser's files, set limits, become nobody.

`evaluation.sandbox` starts it as root under
`unshare --net --mount --pid --fork --mount-proc --kill-child python -m evaluation.jail SPEC`; it then replaces
itself with the pilot's command (`os.execve`). It imports only the standard library: it runs as root, so it must
not import code a participant could shadow. Mounts made here exist only in the private mount namespace, which
disappears with the pilot's last process.
"""

from __future__ import annotations

import ctypes
import json
import os
import pwd
import resource
import stat
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

SETUP_FAILED = 125  # exit code: the jail, not the pilot, failed
SETUP_MARKER = "codefest-sandbox: setup failed:"
SANDBOX_USER = "nobody"
MAX_PROCESSES = 1024  # processes and threads of the sandbox user: stops fork bombs, not thread pools
MAX_FILE_BYTES = 1024**3
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38


class SetupError(Exception):
    """The sandbox could not be built: the organiser's machine, not the participant's code, is at fault."""


@dataclass(frozen=True)
class JailSpec:
    """What the launcher needs, passed as one JSON argument so no file is left for the pilot to read."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    memory_mb: int
    hidden: list[str]  # covered by an empty read-only tmpfs (or /dev/null for a file)
    reachable: list[str]  # folders the sandbox user must reach even below a private folder such as /root
    writable: list[str]  # folders handed to the sandbox user
    stage: str  # an empty folder, outside every path above, used to assemble covers

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


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SetupError(f"mount {' '.join(args)}: {done.stderr.strip() or f'exit code {done.returncode}'}")


def _traversable(folder: Path, user: pwd.struct_passwd) -> bool:
    info = folder.stat()
    if info.st_uid == user.pw_uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if info.st_gid == user.pw_gid:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


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
        _mount("-t", "tmpfs", "-o", "mode=0755,size=1m", "codefest-cover", str(stage))
        for path in inside:
            target = stage / path.relative_to(blocked)
            target.mkdir(parents=True)
            _mount("--rbind", str(path), str(target))
        _mount("--move", str(stage), str(blocked))


def hide(paths: list[Path]) -> None:
    """An empty read-only tmpfs over each folder (and /dev/null over each file): the labels are not there."""
    for path in paths:
        if path.is_dir():
            _mount("-t", "tmpfs", "-o", "ro,mode=0755,size=16k", "codefest-hidden", str(path))
        elif path.exists():
            _mount("--bind", "/dev/null", str(path))


def hand_over(folders: list[Path], user: pwd.struct_passwd) -> None:
    """Give folders to the sandbox user; lchown so a link in a pilot cannot hand over a file it points to."""
    for folder in folders:
        os.lchown(folder, user.pw_uid, user.pw_gid)
        for parent, dirs, files in os.walk(folder):
            for name in dirs + files:
                os.lchown(os.path.join(parent, name), user.pw_uid, user.pw_gid)


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise SetupError(f"prctl({option}): {os.strerror(ctypes.get_errno())}")


def drop_privileges(user: pwd.struct_passwd) -> None:
    """Become the sandbox user for good: no supplementary groups, no way back, no set-uid programs."""
    os.setgroups([])
    os.setgid(user.pw_gid)
    os.setuid(user.pw_uid)
    if os.geteuid() != user.pw_uid or os.getegid() != user.pw_gid:
        raise SetupError(f"still running as uid {os.geteuid()} after switching to {user.pw_name}")
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    _prctl(_PR_SET_PDEATHSIG, 9)  # changing uid cleared unshare's --kill-child: re-arm it (SIGKILL)


def enter(spec: JailSpec) -> None:
    """Everything up to the pilot's start, in an order where each step still has the rights it needs."""
    os.umask(0o022)
    user = pwd.getpwnam(SANDBOX_USER)
    _mount("--make-rprivate", "/")
    make_reachable([Path(path) for path in spec.reachable], Path(spec.stage), user)
    hide([Path(path) for path in spec.hidden])
    hand_over([Path(path) for path in spec.writable], user)
    set_limits(spec.memory_mb)
    drop_privileges(user)
    os.chdir(spec.cwd)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        spec = JailSpec.from_json(args[0])
        enter(spec)
        os.execve(spec.argv[0], spec.argv, spec.env)
    except (SetupError, OSError, KeyError, IndexError, ValueError, TypeError) as err:
        print(f"{SETUP_MARKER} {err}", file=sys.stderr, flush=True)
        os._exit(SETUP_FAILED)


if __name__ == "__main__":
    main()
