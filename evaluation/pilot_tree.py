"""A pilot folder as codefest sees it: one ignore list and one bounded walk, for the fingerprint and the copy alike.

The fingerprint names what runs, so it must cover exactly what is copied into the sandbox: both read the entries
listed here. The walk is bounded (apparent size, entry count, depth) and refuses before anything is hashed or
copied, so a small folder holding a sparse 5 GiB file, a million empty files or folders nested a thousand deep costs
the organiser neither disk nor a traceback. Links are listed as links and never followed.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from codefest.core.errors import CodefestError

# Names left out wherever they appear (folder, file or link): version control, environments, caches, workspaces.
IGNORED = frozenset({".git", ".venv", "__pycache__", ".nox", ".codefest", ".pytest_cache", ".ruff_cache"})
MAX_PILOT_BYTES = 2 * 1024**3  # apparent size (st_size) of all plain files: sparse files count in full
MAX_PILOT_ENTRIES = 100_000  # files, links and folders together
MAX_PILOT_DEPTH = 64  # folders below the pilot's root


@dataclass(frozen=True)
class TreeLimits:
    max_bytes: int = MAX_PILOT_BYTES
    max_entries: int = MAX_PILOT_ENTRIES
    max_depth: int = MAX_PILOT_DEPTH


@dataclass(frozen=True)
class Entry:
    relative: str  # the path under the pilot's root, '/'-separated, as the file system spells it
    kind: str  # file | link | folder
    size: int  # st_size: the apparent size of a file


def _kind(path: str, info: os.stat_result) -> str:
    if stat.S_ISLNK(info.st_mode):
        return "link"
    if stat.S_ISDIR(info.st_mode):
        return "folder"
    if stat.S_ISREG(info.st_mode):
        return "file"
    raise CodefestError(
        f"the pilot holds {path}, which is neither a file, a folder nor a link",
        "remove it from the repository",
    )


class _Budget:
    """Counts what the walk has seen and refuses as soon as a limit is crossed."""

    def __init__(self, root: Path, limits: TreeLimits) -> None:
        self.root, self.limits = root, limits
        self.entries = self.bytes = 0

    def add(self, entry: Entry, depth: int) -> None:
        self.entries += 1
        self.bytes += entry.size if entry.kind == "file" else 0
        if self.entries > self.limits.max_entries:
            self._refuse(f"more than {self.limits.max_entries:,} files, links and folders", "fewer files")
        if self.bytes > self.limits.max_bytes:
            self._refuse(
                f"more than {self.limits.max_bytes / 1024**3:g} GiB of files (apparent size, sparse files in full)",
                "smaller or fewer files",
            )
        if entry.kind == "folder" and depth > self.limits.max_depth:
            self._refuse(f"folders nested more than {self.limits.max_depth} levels deep", "a flatter layout")

    def _refuse(self, what: str, keep: str) -> None:
        raise CodefestError(
            f"the pilot {self.root} holds {what}, over codefest's limit",
            f"keep {keep} in the repository (models and data that large do not belong in a code submission); "
            f"files under {', '.join(sorted(IGNORED))} do not count",
        )


def _listing(folder: Path) -> Iterator[os.DirEntry]:
    """The folder's entries as they are read: a folder of a million files is refused without listing them all."""
    try:
        listing = os.scandir(folder)
    except OSError as err:
        raise CodefestError(f"codefest cannot read the folder {folder} ({err.strerror})", "make it readable") from err
    with listing:
        yield from listing


def walk(root: Path, limits: TreeLimits = TreeLimits()) -> list[Entry]:
    """Every entry under `root` not ignored, sorted by path, without following links; refused past a limit.

    Iterative (an explicit stack), so depth costs no recursion; it stops at the first limit crossed, before reading
    the rest.
    """
    budget, found = _Budget(root, limits), []
    pending: list[tuple[str, int]] = [("", 0)]
    while pending:
        relative, depth = pending.pop()
        for item in _listing(root / relative if relative else root):
            if item.name in IGNORED:
                continue
            path = f"{relative}/{item.name}" if relative else item.name
            info = item.stat(follow_symlinks=False)
            entry = Entry(path, _kind(item.path, info), info.st_size)
            budget.add(entry, depth + 1)
            found.append(entry)
            if entry.kind == "folder":
                pending.append((path, depth + 1))
    return sorted(found, key=lambda entry: entry.relative.split("/"))  # as Paths sort: part by part


def _copy_file(source: Path, target: Path) -> None:
    """The file itself, opened without following a link; its mode and times kept."""
    reader = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with open(reader, "rb") as src, open(target, "xb") as dst:
        if not stat.S_ISREG(os.fstat(reader).st_mode):  # replaced since the walk
            raise CodefestError(f"{source} changed while it was copied", "submit a folder that nobody is changing")
        shutil.copyfileobj(src, dst, 1024**2)
        uncached(dst.fileno())
    shutil.copystat(source, target, follow_symlinks=False)


def uncached(fd: int) -> None:
    """The copy's pages written out and dropped from the page cache: codefest copied them, so its own memory group
    would hold them, and a pilot that maps the file would find it resident, uncharged to its run. Dropped, they are
    read again by the run, charged to the run's memory group, and count in its peak."""
    if os.fstat(fd).st_size == 0:
        return
    os.fdatasync(fd)
    if hasattr(os, "posix_fadvise"):
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)


def copy(root: Path, entries: list[Entry], target: Path) -> None:
    """Copy exactly `entries` (as `walk` listed them) from `root` into the new folder `target`: links stay links."""
    target.mkdir()
    for entry in entries:  # sorted: a folder comes before what it holds
        source, copied = root / entry.relative, target / entry.relative
        if entry.kind == "folder":
            copied.mkdir()
        elif entry.kind == "link":
            copied.symlink_to(os.readlink(source))
        else:
            _copy_file(source, copied)
