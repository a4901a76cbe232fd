"""Uploads: stored within their limit, and hostile archives refused whole before anything is unpacked.

Every archive here is built by the test with the standard library, the way an attacker would: a member named
'../x' or '/etc/x', a link to /etc, a hard link, a device node, a bomb, too many members.
"""

from __future__ import annotations

import io
import stat
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from codefest.evaluation.uploads import (
    ArchiveLimits,
    BoundedFile,
    TooLarge,
    UnsafeArchive,
    archive_kind,
    check_archive,
    store,
    unpack,
)

SMALL = ArchiveLimits(max_bytes=1024**2, max_members=50, max_ratio=200.0)


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else info.size
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, **extra: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode = kind, 0o644
    for key, value in extra.items():
        setattr(info, key, value)
    return info


def _zip(path: Path, members: list[tuple[str, bytes]], mode: int | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as packed, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a duplicate name, on purpose
        for name, data in members:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.create_system, info.external_attr = 3, mode << 16
            packed.writestr(info, data)
    return path


def _pilot_tar(path: Path) -> Path:
    return _tar(
        path,
        [
            (_info("./", tarfile.DIRTYPE, mode=0o755), b""),
            (_info("./pyproject.toml"), b"[project]\nname = 'pilot'\n"),
            (_info("./src/pilot/predict.py", mode=0o755), b"print('hello')\n"),
        ],
    )


def test_a_good_tar_gz_unpacks_with_owner_only_permissions(tmp_path: Path) -> None:
    target = tmp_path / "pilot"
    members = unpack(_pilot_tar(tmp_path / "p.tar.gz"), "tar", target, SMALL)
    assert [m.name for m in members] == ["pyproject.toml", "src/pilot/predict.py"]
    assert (target / "src/pilot/predict.py").read_text() == "print('hello')\n"
    assert stat.S_IMODE((target / "src/pilot/predict.py").stat().st_mode) == 0o700
    assert stat.S_IMODE((target / "pyproject.toml").stat().st_mode) == 0o600
    assert stat.S_IMODE((target / "src").stat().st_mode) == 0o700


def test_a_good_zip_unpacks(tmp_path: Path) -> None:
    target = tmp_path / "pilot"
    path = _zip(tmp_path / "p.zip", [("pilot/", b""), ("pilot/run.py", b"x = 1\n")])
    unpack(path, "zip", target, SMALL)
    assert (target / "pilot/run.py").read_bytes() == b"x = 1\n"


HOSTILE_TARS: dict[str, tuple[Callable[[], list[tuple[tarfile.TarInfo, bytes]]], str]] = {
    "traversal": (lambda: [(_info("../../escaped.py"), b"x")], "names a member outside its folder: ../../escaped.py"),
    "deep traversal": (lambda: [(_info("a/b/../../../x"), b"x")], "outside its folder: a/b/../../../x"),
    "absolute": (lambda: [(_info("/etc/cron.d/evil"), b"x")], "names a member by an absolute path: /etc/cron.d/evil"),
    "symlink": (
        lambda: [(_info("etc", tarfile.SYMTYPE, linkname="/etc"), b"")],
        "holds a symbolic link, etc",
    ),
    "relative symlink": (
        lambda: [(_info("up", tarfile.SYMTYPE, linkname="../../.."), b"")],
        "holds a symbolic link, up",
    ),
    "hard link": (
        lambda: [(_info("a.py"), b"x"), (_info("passwd", tarfile.LNKTYPE, linkname="/etc/passwd"), b"")],
        "holds a hard link, passwd",
    ),
    "device": (
        lambda: [(_info("null", tarfile.CHRTYPE, devmajor=1, devminor=3), b"")],
        "holds a device or a pipe, null",
    ),
    "block device": (lambda: [(_info("sda", tarfile.BLKTYPE, devmajor=8), b"")], "holds a device or a pipe, sda"),
    "fifo": (lambda: [(_info("pipe", tarfile.FIFOTYPE), b"")], "holds a device or a pipe, pipe"),
    "duplicate": (lambda: [(_info("a.py"), b"1"), (_info("./a.py"), b"2")], "holds ./a.py more than once"),
    "file as folder": (lambda: [(_info("a"), b"1"), (_info("a/b.py"), b"2")], "uses the file a as a folder"),
    "too many": (lambda: [(_info(f"f{i}.py"), b"") for i in range(51)], "holds more than 50 members"),
    "too big": (lambda: [(_info("big.bin"), b"\1" * (1024**2 + 1))], "unpacks to more than 1,048,576 bytes"),
    "backslash": (lambda: [(_info("..\\..\\x.py"), b"x")], "with a NUL or a backslash in its name"),
    "no file": (lambda: [(_info("empty", tarfile.DIRTYPE), b"")], "holds no file"),
}


@pytest.mark.parametrize("case", list(HOSTILE_TARS))
def test_a_hostile_tar_is_refused_before_anything_is_unpacked(tmp_path: Path, case: str) -> None:
    members, message = HOSTILE_TARS[case]
    path = _tar(tmp_path / "p.tar.gz", members())
    target = tmp_path / "pilot"
    with pytest.raises(UnsafeArchive) as refused:
        unpack(path, "tar", target, SMALL)
    assert message in refused.value.problem
    assert "nothing of it was unpacked" in refused.value.problem
    assert str(tmp_path) not in refused.value.render()  # participants never see the server's paths
    assert not target.exists()


def test_a_tar_bomb_of_zeros_is_refused_by_its_ratio(tmp_path: Path) -> None:
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = _info("zeros.bin")
        info.size = 64 * 1024**2
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    limits = ArchiveLimits(max_bytes=1024**3, max_members=10)
    with pytest.raises(UnsafeArchive, match="times its packed size, as an archive bomb does"):
        check_archive(path, "tar", limits)


def test_a_giant_extended_header_is_refused_without_being_read(tmp_path: Path) -> None:
    """A pax header of 64 MiB packs into kilobytes; tarfile would read it whole into memory."""
    path = tmp_path / "pax.tar.gz"
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        info = _info("a.py")
        info.pax_headers = {"comment": "x" * (64 * 1024**2)}
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(UnsafeArchive, match="a member header too large to be real"):
        check_archive(path, "tar", ArchiveLimits())


def test_not_an_archive_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.tar.gz"
    path.write_bytes(b"just some text, not gzip")
    with pytest.raises(UnsafeArchive, match=r"is not a readable tar\.gz file"):
        check_archive(path, "tar")
    with pytest.raises(UnsafeArchive, match="is not a readable zip file"):
        check_archive(path, "zip")


HOSTILE_ZIPS: dict[str, tuple[list[tuple[str, bytes]], int | None, str]] = {
    "traversal": ([("../evil.py", b"x")], None, "names a member outside its folder: ../evil.py"),
    "absolute": ([("/etc/evil", b"x")], None, "names a member by an absolute path: /etc/evil"),
    "drive": ([("C:/Windows/evil", b"x")], None, "names a member by an absolute path: C:/Windows/evil"),
    "symlink": ([("etc", b"/etc")], stat.S_IFLNK | 0o777, "holds a symbolic link, etc"),
    "device": ([("null", b"")], stat.S_IFCHR | 0o666, "holds null, which is neither a file nor a folder"),
    "duplicate": ([("a.py", b"1"), ("a.py", b"2")], None, "holds a.py more than once"),
    "too many": ([(f"f{i}", b"") for i in range(51)], None, "holds more than 50 members"),
    "too big": ([("big.bin", b"\1" * (1024**2 + 1))], None, "unpacks to more than 1,048,576 bytes"),
}


@pytest.mark.parametrize("case", list(HOSTILE_ZIPS))
def test_a_hostile_zip_is_refused_before_anything_is_unpacked(tmp_path: Path, case: str) -> None:
    members, mode, message = HOSTILE_ZIPS[case]
    path = _zip(tmp_path / "p.zip", members, mode)
    target = tmp_path / "pilot"
    with pytest.raises(UnsafeArchive) as refused:
        unpack(path, "zip", target, SMALL)
    assert message in refused.value.problem
    assert not target.exists()


def test_a_zip_bomb_of_high_ratio_is_refused(tmp_path: Path) -> None:
    path = _zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(64 * 1024**2))])
    assert path.stat().st_size < 200_000  # the bomb: 64 MiB in well under 200 kB
    with pytest.raises(UnsafeArchive, match=r"unpacks to [\d,]+ times its packed size"):
        check_archive(path, "zip", ArchiveLimits(max_bytes=1024**3))


def test_a_zip_lying_about_its_size_is_refused_while_unpacking(tmp_path: Path) -> None:
    """The central directory says 4 bytes; the data holds 100 000: never more than declared is written."""
    path = _zip(tmp_path / "liar.zip", [("a.bin", b"\1" * 100_000)])
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (4).to_bytes(4, "little")  # uncompressed size in the central directory
    path.write_bytes(bytes(data))
    target = tmp_path / "pilot"
    with pytest.raises(UnsafeArchive) as refused:
        unpack(path, "zip", target, SMALL)
    assert "a.bin" in refused.value.problem
    assert not target.exists()


def test_archive_kind_reads_the_name() -> None:
    assert [archive_kind(n) for n in ("p.tar.gz", "P.TGZ", "p.zip", "p.tar", "p.jsonl")] == [
        "tar",
        "tar",
        "zip",
        None,
        None,
    ]


def test_an_upload_past_its_limit_is_deleted(tmp_path: Path) -> None:
    path = tmp_path / "upload"
    with pytest.raises(TooLarge, match="larger than this challenge's limit of 10 bytes"):
        store([b"12345", b"67890", b"1"], path, 10)
    assert not path.exists()
    assert store([b"12345", b"67890"], path, 10) == 10
    assert path.read_bytes() == b"1234567890"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_upload_never_writes_over_or_through_a_link(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("keep")
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    for name in ("secret", "link"):
        with pytest.raises(FileExistsError):
            BoundedFile(tmp_path / name, 10)
    assert (tmp_path / "secret").read_text() == "keep"
