"""Reading submitted files line by line, within size limits, with every problem tied to a line."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from codefest.core.errors import CodefestError
from codefest.evaluation.problems import Problems, listing, shown


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 2 * 1024**3
    max_line_bytes: int = 4_000_000


@dataclass(frozen=True)
class PublicItems:
    """The test items a predictions file is validated against, from public inputs only, never from labels.

    So no message can depend on a held-out label. `lengths`, when known, are the characters of each item's public
    input (a translation's source), from which per-item limits are derived.
    """

    ids: tuple[str, ...]
    lengths: tuple[int, ...] | None = None
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {item: i for i, item in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, item: object) -> bool:
        return item in self.index


def read_test_items(path: Path, length_of: str | None = None) -> PublicItems:
    """The ids of the organisers' public test inputs (JSONL), with the length of field `length_of` if given."""
    problems, ids, lengths = Problems(path), {}, []
    for number, row in jsonl_objects(path, problems):
        item, text = row.get("id"), row.get(length_of, "") if length_of else ""
        if not isinstance(item, str) or not item or item in ids or not isinstance(text, str):
            wanted = f"a new string 'id'{f' and a string {length_of!r}' if length_of else ''}"
            problems.add(f"line {number}", f"the line needs {wanted}", "repair the test inputs")
            continue
        ids[item] = number
        lengths.append(len(text))
    if problems or not ids:
        raise CodefestError(
            f"test inputs {path} cannot be used:\n"
            + (listing(problems.listed, problems.total, problems.stopped) or "  - no items"),
            "the organisers must rebuild the challenge's bundle",
        )
    return PublicItems(tuple(ids), tuple(lengths) if length_of else None)


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
    """(line number, text) of non-blank lines; bad bytes and overlong lines become problems, not exceptions.

    Reading stops at the first line past `limits.max_bytes` (a file may grow after its size was checked) and once
    `problems` is full, so that the work done for a bad file is bounded by the limits, not by the file's size.

    The lines in the read buffer are taken whole, decoded at once and split, when nothing in them can be a problem
    (no NUL, valid UTF-8, none too long, the file within its limit); otherwise they are read one by one, as the
    messages need. Either way gives the same lines, numbers and problems; the first costs no Python work per byte.
    """
    if not _size_ok(path, problems, limits):
        return
    try:
        handle = _open(path)
    except OSError as err:
        problems.add("file", f"cannot be read ({err.strerror})", "make the file readable")
        return
    with handle:
        reader = _Reader(handle, limits.max_line_bytes)
        while ahead := handle.peek(1):
            start = handle.tell()
            cut = ahead.rfind(b"\n") + 1
            texts = _whole_lines(ahead[:cut], reader.number == 0, start + cut, limits) if cut else None
            if texts is None:  # read one by one up to the end of the buffer's lines, or one line if none ends
                for number, raw in reader.lines(stop=start + max(cut, 1)):
                    if problems.stop():
                        return
                    if handle.tell() > limits.max_bytes:  # cheap: the buffered reader knows its position
                        problems.add(
                            "file",
                            f"the file grew past the limit of {limits.max_bytes:,} bytes while it was read",
                            "submit a finished file, within the limit",
                        )
                        return
                    text = _decoded(number, raw, problems, limits)
                    if text is not None and text.strip():
                        yield number, text
                continue
            handle.seek(cut, io.SEEK_CUR)
            number = reader.number
            reader.number += len(texts)
            for text in texts:
                number += 1
                if text.strip():
                    if problems.stop():  # blank lines left unread hold no problem: the count stays exact
                        return
                    yield number, text


def _whole_lines(region: bytes, first: bool, end: int, limits: Limits) -> list[str] | None:
    """The texts of the whole lines `region` holds, ending at file position `end`, if none of them can be a problem
    (see _decoded); None otherwise, so that they are read one by one. `first`: the region starts the file."""
    if end > limits.max_bytes or b"\x00" in region:
        return None
    limit = limits.max_line_bytes
    if len(region) > limit and max(map(len, region.split(b"\n"))) > limit:
        return None
    try:
        text = region.decode("utf-8")
    except UnicodeDecodeError:
        return None
    texts = text.split("\n")
    texts.pop()  # what follows the region's last line ending
    if first:
        texts[0] = texts[0].removeprefix("\ufeff")
    return [t.rstrip("\r") for t in texts] if "\r" in text else texts


def first_text(path: Path, limits: Limits = Limits()) -> bytes:
    """The start of the first line holding more than ASCII spaces and a byte order mark, stripped; b"" if none.

    Records nothing: text_lines reports the file's problems. At most one line's first bytes are held.
    """
    try:
        with _open(path) as handle:
            for _number, raw in _lines(handle, limits.max_line_bytes):
                if text := raw.removeprefix(b"\xef\xbb\xbf").strip():
                    return text
    except OSError:
        pass
    return b""


_BUFFER = 1 << 16  # bytes read from the file at a time; runs of blank lines are skipped within it


def _open(path: Path) -> io.BufferedReader:
    """The file, read through a large buffer that _lines looks into (a seam for tests that count what is read)."""
    return io.BufferedReader(io.FileIO(path), _BUFFER)  # what open(path, "rb", buffering=_BUFFER) builds, typed


def _decoded(number: int, raw: bytes, problems: Problems, limits: Limits) -> str | None:
    """The line's text without byte order mark and ending; None, with the problem recorded, if it is not text.

    A NUL byte is refused here: no format holds one, and C libraries (pytrec_eval) cut strings at it, so that a
    document id 'd1<NUL>x' would count as 'd1'. It is also what a UTF-16 file looks like when read as UTF-8.
    """
    where = f"line {number}"
    if isinstance(raw, Overlong):
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

# Every byte that a blank line's UTF-8 can hold (the ASCII spaces, and the bytes of U+0085, U+00A0, U+1680, U+2000 to
# U+205F and U+3000), and some more, which decoding and one search then rule out. One match in C finds a run of blank
# lines, so that a file of blank lines costs no Python work per line.
_SPACE_BYTES = re.compile(rb"[\t\n\x0b\x0c\r\x1c-\x1f \x80-\xbf\xc2\xe1-\xe3]*")
_NOT_SPACE = re.compile(r"\S")  # what str.strip() keeps


def _blank_prefix(ahead: bytes, limit: int) -> int:
    """The bytes of the whole blank lines that `ahead` starts with, each within `limit` bytes; 0 if none."""
    region = ahead[: _SPACE_BYTES.match(ahead, 0, limit + 1).end()]  # type: ignore[union-attr]  # `*` always matches
    if not region.isascii():
        try:
            text = region.decode("utf-8")
        except UnicodeDecodeError as err:  # a character cut at the end, or bytes that are not text
            text = region[: err.start].decode("utf-8")
        if found := _NOT_SPACE.search(text):
            text = text[: found.start()]
        region = text.encode("utf-8")
    return region.rfind(b"\n") + 1


class Overlong(bytes):
    """The first bytes of a line longer than the limit (enough to tell a format by); the rest was passed over."""


_HEAD = 1024


def _lines(handle: io.BufferedReader, limit: int) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of lines of at most `limit` bytes besides their LF or CRLF, or an Overlong head."""
    return _Reader(handle, limit).lines()


class _Reader:
    """A file's lines one by one, numbered from where the reading is (`number`: the lines passed so far)."""

    def __init__(self, handle: io.BufferedReader, limit: int) -> None:
        self.handle, self.limit, self.number = handle, limit, 0

    def lines(self, stop: int | None = None) -> Iterator[tuple[int, bytes]]:
        """(line number, line) of lines of at most `limit` bytes besides their LF or CRLF, or an Overlong head, up to
        file position `stop` (the whole file if None).

        Runs of short blank lines are counted and passed over within the read buffer, never yielded. A longer line
        is passed over in small chunks, never held whole, so its length costs time, not memory.
        """
        handle, limit = self.handle, self.limit
        while (stop is None or handle.tell() < stop) and (ahead := handle.peek(1)):
            if blank := _blank_prefix(ahead, limit):
                self.number += ahead.count(b"\n", 0, blank)
                handle.seek(blank, io.SEEK_CUR)
                continue
            self.number += 1
            line = handle.readline(limit + 2)  # room for `limit` bytes and a CRLF
            ended = line.endswith(b"\n")
            if len(line.removesuffix(b"\n").removesuffix(b"\r") if ended else line) <= limit:
                yield self.number, line
                continue
            head = Overlong(line[:_HEAD])
            del line  # passed over, never held whole
            if not ended:
                while (rest := handle.readline(_SKIP_CHUNK)) and not rest.endswith(b"\n"):
                    pass
            yield self.number, head


def jsonl_objects(path: Path, problems: Problems, limits: Limits = Limits()) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every line holding a JSON object."""
    for number, text in text_lines(path, problems, limits):
        value = _fast_object(text)
        if value is None:  # json's reading, and its messages, decide
            value = _json_object(text, f"line {number}", problems)
        if value is not None:
            yield number, value


_FAST_DECODE = msgspec.json.Decoder().decode
_SHALLOW = 256  # opening brackets below which json's recursion limit cannot be reached, however deep the caller


def _fast_object(text: str) -> dict[str, Any] | None:
    """The line's object as json reads it, when msgspec, several times faster, reads an object; None otherwise.

    msgspec reads what json reads to the same values (integers of any size stay integers; orjson would round those
    past 64 bits to floats). What it refuses, malformed JSON but also numbers past the float range and lone
    surrogates (so nothing it reads needs the surrogate check), goes to json, as do lines that may nest deeper than
    json's recursion limit, which is not msgspec's: json's reading and messages decide there.
    """
    if len(text) > 2 * _SHALLOW and text.count("[") + text.count("{") >= _SHALLOW:
        return None
    try:
        value = _FAST_DECODE(text)
    except (msgspec.DecodeError, RecursionError):
        return None
    return value if type(value) is dict else None


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
