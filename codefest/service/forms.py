"""A submission's multipart form, read as it arrives: its one file goes straight to disk within the upload limit.

FastAPI's UploadFile would first spool the whole body to a temporary file; here the parser's callbacks write the
file part into a BoundedFile, so an upload over the limit stops being read and written the moment it passes it, and
nothing of it stays. The only other field, `kind`, is a few bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from codefest.evaluation.uploads import MAX_NAME_BYTES, BoundedFile, TooLarge, long_name
from codefest.service.problems import Problem

FIELDS = ("file", "kind")
MAX_FIELD_BYTES = 64
FORM_OVERHEAD = 64 * 1024  # boundaries, part headers and the kind field, beyond the file itself


def bad_form(detail: str) -> Problem:
    return Problem(422, "invalid-form", "The form is not valid", detail, problems=[{"where": "body", "what": detail}])


def name_too_long(size: int | None = None) -> Problem:
    refused = long_name(size)
    return Problem(
        422,
        "name-too-long",
        "The file name is too long",
        f"{refused.problem}; {refused.fix}",
        limit_bytes=MAX_NAME_BYTES,
    )


def too_large(limit: int) -> Problem:
    return Problem(413, "too-large", "Content Too Large", TooLarge(limit).render(), limit_bytes=limit)


@dataclass
class Form:
    file: Path
    limit: int
    filename: str | None = None
    size: int = 0
    fields: dict[str, str] = field(default_factory=dict)
    _name: str = ""
    _headers: dict[bytes, bytes] = field(default_factory=dict)
    _header: tuple[bytes, bytes] = (b"", b"")
    _value: bytearray = field(default_factory=bytearray)
    _out: BoundedFile | None = None
    _files: int = 0

    # the parser's callbacks -------------------------------------------------------------------------------------

    def on_part_begin(self) -> None:
        self._headers, self._value, self._name = {}, bytearray(), ""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header = (self._header[0] + data[start:end], self._header[1])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header = (self._header[0], self._header[1] + data[start:end])

    def on_header_end(self) -> None:
        self._headers[self._header[0].lower()] = self._header[1]
        self._header = (b"", b"")

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if disposition != b"form-data" or name not in FIELDS:
            raise bad_form(f"the form has a part {name!r}; it takes only: {', '.join(FIELDS)}")
        if name in self.fields or (name == "file" and self._files):
            raise bad_form(f"the form has the field {name!r} twice")
        self._name = name
        if name == "file":
            self._files += 1
            raw = options.get(b"filename")
            if raw is not None and len(raw) > MAX_NAME_BYTES:
                raise name_too_long(len(raw))
            self.filename = raw.decode("utf-8", "replace") if raw is not None else None
            self._out = BoundedFile(self.file, self.limit)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._name == "file" and self._out is not None:
            try:
                self._out.write(data[start:end])
            except TooLarge:
                raise too_large(self.limit) from None
        else:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD_BYTES:
                raise bad_form(f"the field {self._name!r} is longer than {MAX_FIELD_BYTES} bytes")

    def on_part_end(self) -> None:
        if self._name == "file" and self._out is not None:
            self.size = self._out.size
            self._out.close()
        elif self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    @property
    def in_disposition(self) -> bool:
        """Whether the parser is inside a part's Content-Disposition header, where the file name is."""
        return self._header[0].lower() == b"content-disposition"

    def discard(self) -> None:
        if self._out is not None:
            self._out.discard()
        self.file.unlink(missing_ok=True)


async def read_form(content_type: str, body: AsyncIterator[bytes], file: Path, limit: int) -> Form:
    """The form's fields and its file, written to `file` (deleted again on any problem); Problem when it is not a
    form with one file within `limit` bytes."""
    media, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if media != b"multipart/form-data" or not boundary:
        raise bad_form("send the submission as multipart/form-data with a 'file' part and a 'kind' field")
    form = Form(file, limit)
    callbacks = {name: getattr(form, name) for name in dir(Form) if name.startswith("on_")}
    parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as error:
        form.discard()
        if form.in_disposition and "header size" in str(error):  # the parser's limit on a header line, ~4 KiB
            raise name_too_long() from None  # a file name far over the limit: too long to be read, so not measured
        raise bad_form("the multipart body is malformed") from None
    except BaseException:
        form.discard()
        raise
    if form._files != 1 or not form.file.exists():
        form.discard()
        raise bad_form("the form needs one 'file' part: the predictions file or the packed pilot")
    return form
