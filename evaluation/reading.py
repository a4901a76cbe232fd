"""Reading submitted files line by line, within size limits, with every problem tied to a line."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from evaluation.problems import Problems


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
            if raw is None:
                problems.add(
                    f"line {number}",
                    f"the line is longer than {limits.max_line_bytes:,} bytes",
                    "write one prediction per line",
                )
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                problems.add(
                    f"line {number}",
                    f"byte {err.start + 1} is not UTF-8 ({raw[err.start : err.start + 1]!r})",
                    "save the file as UTF-8",
                )
                continue
            if number == 1:
                text = text.removeprefix("\ufeff")
            text = text.rstrip("\r\n")
            if text.strip():
                yield number, text


def _bounded_lines(handle: BinaryIO, limit: int) -> Iterator[bytes | None]:
    """Lines of at most `limit` bytes; None stands for a longer one, which is skipped without being held."""
    while line := handle.readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
            pass
        yield None


def jsonl_objects(path: Path, problems: Problems, limits: Limits = Limits()) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every line holding a JSON object."""
    for number, text in text_lines(path, problems, limits):
        try:
            value = _DECODER.decode(text)
        except ValueError as err:
            problems.add(f"line {number}", f"not valid JSON ({err})", "write one JSON object per line")
            continue
        if not isinstance(value, dict):
            problems.add(f"line {number}", f"a JSON {type(value).__name__}, not an object", 'write {"id": ..., ...}')
            continue
        yield number, value


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
                    f"the header is {','.join(header)!r}; it lacks {', '.join(missing)}",
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
