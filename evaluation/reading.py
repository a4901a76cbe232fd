"""Reading submitted files line by line, within size limits, with every problem tied to a line."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from evaluation.problems import Problems, shown


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 2 * 1024**3
    max_line_bytes: int = 4_000_000


def _size_ok(path: Path, problems: Problems, limits: Limits) -> bool:
    if not path.is_file():
        problems.add("file", f"{path} does not exist or is not a file", "give the path of your predictions file")
        return False
    size = path.stat().st_size
    if size > limits.max_bytes:
        problems.add(
            "file",
            f"the file has {size:,} bytes, over the limit of {limits.max_bytes:,}",
            "submit only the ids asked for, without extra fields",
        )
        return False
    if size == 0:
        problems.add("file", "the file is empty", "write one prediction per test item")
        return False
    return True


def text_lines(path: Path, problems: Problems, limits: Limits = Limits()) -> Iterator[tuple[int, str]]:
    """(line number, text) of non-blank lines; bad bytes and overlong lines become problems, not exceptions."""
    if not _size_ok(path, problems, limits):
        return
    try:
        handle = path.open("rb")
    except OSError as err:
        problems.add("file", f"cannot be read ({err.strerror})", "make the file readable")
        return
    with handle:
        for number, raw in enumerate(_bounded_lines(handle, limits.max_line_bytes), start=1):
            if problems.full:
                return
            text = _decoded(number, raw, problems, limits)
            if text is not None and text.strip():
                yield number, text


def _decoded(number: int, raw: bytes | None, problems: Problems, limits: Limits) -> str | None:
    """The line's text without byte order mark and ending; None, with the problem recorded, if it is not text.

    A NUL byte is refused here: no format holds one, and C libraries (pytrec_eval) cut strings at it, so that a
    document id 'd1<NUL>x' would count as 'd1'. It is also what a UTF-16 file looks like when read as UTF-8.
    """
    where = f"line {number}"
    if raw is None:
        problems.add(where, f"the line is longer than {limits.max_line_bytes:,} bytes", "write one prediction per line")
        return None
    if (nul := raw.find(b"\x00")) >= 0:
        problems.add(where, f"byte {nul + 1} is NUL (is the file UTF-16 or binary?)", "save the file as UTF-8 text")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        problems.add(
            where, f"byte {err.start + 1} is not UTF-8 ({raw[err.start : err.start + 1]!r})", "save the file as UTF-8"
        )
        return None
    return (text.removeprefix("\ufeff") if number == 1 else text).rstrip("\r\n")


_SKIP_CHUNK = 1 << 16  # bytes read at a time while passing over an overlong line


def _bounded_lines(handle: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """Lines of at most `limit` bytes besides their LF or CRLF; None stands for a longer one.

    A longer line is passed over in small chunks, never held whole, so its length costs time, not memory.
    """
    while line := handle.readline(limit + 2):  # room for `limit` bytes and a CRLF
        ended = line.endswith(b"\n")
        if len(line.removesuffix(b"\n").removesuffix(b"\r") if ended else line) <= limit:
            yield line
            continue
        if not ended:
            while (rest := handle.readline(_SKIP_CHUNK)) and not rest.endswith(b"\n"):
                pass
        yield None


def jsonl_objects(path: Path, problems: Problems, limits: Limits = Limits()) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every line holding a JSON object."""
    for number, text in text_lines(path, problems, limits):
        value = _json_object(text, f"line {number}", problems)
        if value is not None:
            yield number, value


def _json_object(text: str, where: str, problems: Problems) -> dict[str, Any] | None:
    """The line's object; None, with the problem recorded, for anything else."""
    try:
        value = _DECODER.decode(text)
    except ValueError as err:
        problems.add(where, f"not valid JSON ({err})", "write one JSON object per line")
        return None
    except RecursionError:  # json's C scanner recurses once per '[' or '{'
        problems.add(where, "JSON nested too deeply to read", "write one flat JSON object per line")
        return None
    if not isinstance(value, dict):
        problems.add(where, f"a JSON {type(value).__name__}, not an object", 'write {"id": ..., ...}')
        return None
    if "\\u" in text and (bad := _lone_surrogate(value)) is not None:
        problems.add(
            where,
            f"the string {shown(bad)} holds a \\u escape of half a character (a lone surrogate)",
            "write the character itself, or both halves of its surrogate pair",
        )
        return None
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(value: Any) -> str | None:
    """The first string in `value` holding a surrogate, which json decodes from an unpaired escape such as \\ud800.

    Such a string is not text: it cannot be encoded, and pytrec_eval crashes the process on one.
    """
    stack = [value]
    while stack:  # not recursive: the value may be nested nearly as deep as json's own recursion limit
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return item
        elif isinstance(item, dict):
            stack += [*item, *item.values()]
        elif isinstance(item, list):
            stack += item
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def csv_rows(
    path: Path, problems: Problems, columns: Iterable[str], limits: Limits = Limits()
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file whose header must hold `columns`."""
    wanted = list(columns)
    lines = text_lines(path, problems, limits)
    header: list[str] | None = None
    for number, text in lines:
        try:
            fields = next(csv.reader([text]))
        except csv.Error as err:
            problems.add(f"line {number}", f"not valid CSV ({err})", "quote fields that hold commas")
            continue
        if header is None:
            header = [f.strip() for f in fields]
            missing = [c for c in wanted if c not in header]
            if missing:
                problems.add(
                    "line 1",
                    f"the header is {shown(','.join(header))}; it lacks {', '.join(missing)}",
                    f"start the file with the header {','.join(wanted)}",
                )
                return
            continue
        if len(fields) != len(header):
            problems.add(
                f"line {number}",
                f"{len(fields)} fields where the header has {len(header)}",
                "quote fields that hold commas",
            )
            continue
        yield number, dict(zip(header, fields, strict=True))
