"""Files that arrive from participants over the network: stored within a byte limit, archives checked whole first.

An upload is written as it arrives and abandoned (deleted) the moment it passes its limit, so an oversized upload
costs the server no more than the limit. A pilot arrives packed (tar.gz or zip); every member of the archive is
listed and checked (names, kinds, sizes, count, compression ratio) before a single byte is unpacked, and the
unpacking itself writes only plain files and folders, never over anything, with the owner's permissions only.
Messages name the archive's members as the participant wrote them, never a path of the server.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from codefest.core.errors import CodefestError, printable
from codefest.evaluation.pilot_tree import MAX_PILOT_BYTES, MAX_PILOT_ENTRIES
from codefest.evaluation.problems import cut

ARCHIVES = {".tar.gz": "tar", ".tgz": "tar", ".zip": "zip"}  # what a packed pilot may be, by its name's ending
CHUNK_BYTES = 1024**2
MAX_HEADER_READ = 4 * 1024**2  # the most an archive's reader may ask at once: a header of gigabytes is a bomb
MAX_NAME_BYTES = 255  # one component of a member's name, as Linux file systems allow
MAX_PATH_BYTES = 1024
RATIO_FLOOR_BYTES = 16 * 1024**2  # below this much unpacked, any compression ratio is harmless


class UploadRefused(CodefestError):
    """An upload the service answers with a message and stores nothing of."""


class TooLarge(UploadRefused):
    """Over its byte limit: HTTP 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the upload is larger than this challenge's limit of {limit:,} bytes",
            "submit only what is asked for: one prediction per test item, or the pilot without data or models",
        )
        self.limit = limit


def long_name(size: int | None = None) -> UploadRefused:
    """A file name over MAX_NAME_BYTES (`size`, when known): the service refuses it, and `codefest submit` before
    sending it, in these words."""
    length = f"is {size:,} bytes long (UTF-8), over" if size is not None else "is longer than"
    return UploadRefused(
        f"the file name {length} the limit of {MAX_NAME_BYTES} bytes",
        f"rename the file to at most {MAX_NAME_BYTES} bytes ({MAX_NAME_BYTES} ASCII characters) and submit it again",
    )


class UnsafeArchive(UploadRefused):
    """A packed pilot that would not unpack safely: a link, a path out of its folder, a bomb."""


@dataclass(frozen=True)
class ArchiveLimits:
    """What a packed pilot may hold once unpacked: the limits of a pilot folder, and a ratio no code compresses to."""

    max_bytes: int = MAX_PILOT_BYTES
    max_members: int = MAX_PILOT_ENTRIES
    max_ratio: float = 200.0  # unpacked bytes over packed bytes, for archives unpacking past RATIO_FLOOR_BYTES


@dataclass(frozen=True)
class Member:
    name: str  # normalised: '/'-separated, relative, without '.' parts
    kind: str  # file | folder
    size: int
    executable: bool


# -- storing an upload ------------------------------------------------------------------------------------------


class BoundedFile:
    """A new file that never grows past `limit` bytes: the write that would pass it deletes the file and raises
    TooLarge. Created exclusively (never over an existing file, never through a link), readable by its owner only."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path, self.limit, self.size = path, limit, 0
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        self._file: IO[bytes] | None = os.fdopen(descriptor, "wb")

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError("the file is closed")
        if self.size + len(data) > self.limit:
            self.discard()
            raise TooLarge(self.limit)
        self._file.write(data)
        self.size += len(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        """Close and delete what was written: nothing of a refused upload stays on disk."""
        self.close()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None:
            self.close()
        else:
            self.discard()


def store(chunks: Iterable[bytes], path: Path, limit: int) -> int:
    """Write `chunks` to the new file `path`, stopping at `limit` (TooLarge, the file deleted); returns its size."""
    with BoundedFile(path, limit) as target:
        for chunk in chunks:
            target.write(chunk)
        return target.size


# -- checking an archive ----------------------------------------------------------------------------------------


def archive_kind(filename: str) -> str | None:
    """'tar' or 'zip' from an uploaded file's name, or None when it names neither."""
    lowered = filename.lower()
    return next((kind for ending, kind in ARCHIVES.items() if lowered.endswith(ending)), None)


def _refuse(what: str, fix: str = "pack the pilot folder itself: its files and folders, nothing else") -> UnsafeArchive:
    return UnsafeArchive(f"the archive {what}; nothing of it was unpacked", fix)


def _shown(name: str) -> str:
    return cut(printable(name), 120)


def safe_name(raw: str) -> str:
    """The member's name as a relative '/'-separated path inside the pilot folder; refused if it could land outside
    it (absolute, '..', a drive or a backslash, as Windows reads it) or cannot be a file's name. '' is the root."""
    shown = _shown(raw)
    if "\0" in raw or "\\" in raw:
        raise _refuse(f"names a member {shown} with a NUL or a backslash in its name", "use plain '/'-separated names")
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise _refuse(f"names a member by an absolute path: {shown}", "pack paths relative to the pilot's folder")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _refuse(f"names a member outside its folder: {shown}", "pack paths relative to the pilot's folder")
    encoded = [os.fsencode(part) for part in parts]
    if any(len(part) > MAX_NAME_BYTES for part in encoded) or sum(map(len, encoded)) > MAX_PATH_BYTES:
        raise _refuse(f"names a member with a name too long for a file system: {shown}", "use shorter names")
    return "/".join(parts)


class _Listing:
    """The members seen so far: refuses the first one that crosses a limit or clashes with another."""

    def __init__(self, limits: ArchiveLimits, packed_bytes: int) -> None:
        self.limits, self.packed_bytes = limits, packed_bytes
        self.members: list[Member] = []
        self.kinds: dict[str, str] = {"": "folder"}
        self.total = 0

    def add(self, raw: str, kind: str, size: int, executable: bool) -> None:
        name = safe_name(raw)
        if len(self.members) >= self.limits.max_members:
            raise _refuse(f"holds more than {self.limits.max_members:,} members", "pack fewer files")
        previous = self.kinds.get(name)
        if previous is not None and not kind == previous == "folder":
            raise _refuse(f"holds {_shown(raw)} more than once", "pack each file once")
        for parent in _parents(name):
            if self.kinds.get(parent, "folder") != "folder":
                raise _refuse(f"uses the file {_shown(parent)} as a folder", "pack each file once")
        self.total += size
        if self.total > self.limits.max_bytes:
            raise _refuse(
                f"unpacks to more than {self.limits.max_bytes:,} bytes", "keep data and models out of the pilot"
            )
        ratio = self.total / max(self.packed_bytes, 1)
        if self.total > RATIO_FLOOR_BYTES and ratio > self.limits.max_ratio:
            raise _refuse(
                f"unpacks to {ratio:,.0f} times its packed size, as an archive bomb does",
                "pack the pilot's own files; data that compresses that much does not belong in it",
            )
        if name:
            self.kinds[name] = kind
            self.members.append(Member(name, kind, size, executable))


def _parents(name: str) -> Iterator[str]:
    parts = name.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


def _tar_kind(member: tarfile.TarInfo) -> str:
    shown = _shown(member.name)
    if member.issym() or member.islnk():
        link = "symbolic" if member.issym() else "hard"
        raise _refuse(f"holds a {link} link, {shown}", "pack the file the link points to, not the link")
    if member.ischr() or member.isblk() or member.isfifo():
        raise _refuse(f"holds a device or a pipe, {shown}", "pack only files and folders")
    if member.issparse():
        raise _refuse(f"holds a sparse file, {shown}", "pack files as plain files")
    if member.isdir():
        return "folder"
    if member.isreg():
        return "file"
    raise _refuse(f"holds {shown}, which is neither a file nor a folder", "pack only files and folders")


class _BoundedReads:
    """The unpacked tar stream, refusing any single read bigger than MAX_HEADER_READ: tarfile reads a member's
    extended header whole, and a header of gigabytes of zeros packs into a few megabytes."""

    def __init__(self, stream: gzip.GzipFile) -> None:
        self._stream = stream

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0 or size > MAX_HEADER_READ:
            raise _refuse("holds a member header too large to be real")
        return self._stream.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()


@contextlib.contextmanager
def _open_tar(path: Path) -> Iterator[tarfile.TarFile]:
    try:
        with gzip.GzipFile(path, "rb") as unpacked:
            reads: Any = _BoundedReads(unpacked)  # a file object as far as tarfile goes: read, seek, tell
            with tarfile.open(fileobj=reads, mode="r:") as tar:
                yield tar
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise _refuse("is not a readable tar.gz file", "pack it with: tar -czf pilot.tar.gz -C PILOT .") from error


def _tar_members(path: Path, limits: ArchiveLimits) -> list[Member]:
    listing = _Listing(limits, path.stat().st_size)
    with _open_tar(path) as tar:
        while (member := tar.next()) is not None:  # one at a time: a bomb is refused before the rest is read
            kind = _tar_kind(member)
            listing.add(member.name, kind, member.size if kind == "file" else 0, bool(member.mode & 0o100))
            try:
                tarfile.data_filter(member, "/pilot")  # the standard library's own verdict, after ours
            except tarfile.FilterError as error:
                raise _refuse(f"holds a member tarfile refuses to unpack, {_shown(member.name)}") from error
    return listing.members


def _zip_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16 if info.create_system == 3 else 0  # Unix permissions, when a Unix tool packed it
    kind = stat.S_IFMT(mode)
    if stat.S_ISLNK(mode):
        raise _refuse(f"holds a symbolic link, {_shown(info.filename)}", "pack the file the link points to")
    if info.flag_bits & 0x1:
        raise _refuse(f"holds an encrypted member, {_shown(info.filename)}", "pack it without a password")
    if info.is_dir() and kind in (0, stat.S_IFDIR):
        return "folder"
    if kind not in (0, stat.S_IFREG) or info.is_dir():
        raise _refuse(f"holds {_shown(info.filename)}, which is neither a file nor a folder", "pack only files")
    return "file"


@contextlib.contextmanager
def _open_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    try:
        with zipfile.ZipFile(path) as packed:
            yield packed
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, zlib.error) as error:
        raise _refuse("is not a readable zip file", "pack it with: cd PILOT && zip -r ../pilot.zip .") from error


def _zip_members(path: Path, limits: ArchiveLimits) -> list[Member]:
    listing = _Listing(limits, path.stat().st_size)
    with _open_zip(path) as packed:
        for info in packed.infolist():
            kind = _zip_kind(info)
            mode = info.external_attr >> 16 if info.create_system == 3 else 0
            listing.add(info.filename, kind, info.file_size if kind == "file" else 0, bool(mode & 0o100))
    return listing.members


def check_archive(path: Path, kind: str, limits: ArchiveLimits | None = None) -> list[Member]:
    """Every member of a packed pilot, checked, in the archive's order; UnsafeArchive names the first problem."""
    limits = limits or ArchiveLimits()
    members = _tar_members(path, limits) if kind == "tar" else _zip_members(path, limits)
    if not any(member.kind == "file" for member in members):
        raise _refuse("holds no file", "pack the pilot's folder with its files")
    return members


# -- unpacking it -----------------------------------------------------------------------------------------------


def unpack(path: Path, kind: str, target: Path, limits: ArchiveLimits | None = None) -> list[Member]:
    """Check the archive whole, then unpack it into the new folder `target` (removed again on any problem)."""
    members = check_archive(path, kind, limits)
    target.mkdir(mode=0o700)
    try:
        if kind == "tar":
            with _open_tar(path) as tar:
                wanted = {safe_name(info.name): info for info in tar.getmembers() if info.isreg()}
                _write_all(target, members, lambda name: tar.extractfile(wanted[name]))
        else:
            with _open_zip(path) as packed:
                infos = {safe_name(info.filename): info for info in packed.infolist() if not info.is_dir()}
                _write_all(target, members, lambda name: packed.open(infos[name]))
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return members


def _write_all(target: Path, members: list[Member], opener: Callable[[str], IO[bytes] | None]) -> None:
    for member in members:
        where = target / member.name
        for parent in reversed(where.parents):
            if parent.is_relative_to(target) and parent != target:
                _folder(parent)
        if member.kind == "folder":
            _folder(where)
            continue
        reader = opener(member.name)
        if reader is None:
            raise _refuse(f"lost the member {_shown(member.name)} while unpacking")
        with reader:
            _write_file(where, reader, member)


def _folder(path: Path) -> None:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    if path.is_symlink() or not path.is_dir():  # nothing here makes links; a fresh folder holds none
        raise _refuse(f"clashes at {_shown(path.name)}")


def _write_file(where: Path, reader: IO[bytes], member: Member) -> None:
    """The member's bytes, never more than it declared (a zip may lie about its sizes), in a new file."""
    mode = 0o700 if member.executable else 0o600
    descriptor = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    written = 0
    try:
        with os.fdopen(descriptor, "wb") as out:
            while chunk := reader.read(CHUNK_BYTES):
                written += len(chunk)
                if written > member.size:
                    raise _refuse(f"holds {_shown(member.name)}, larger than it declares")
                out.write(chunk)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as error:
        raise _refuse(f"is damaged at {_shown(member.name)}") from error
    if written != member.size:
        raise _refuse(f"holds {_shown(member.name)}, smaller than it declares")
