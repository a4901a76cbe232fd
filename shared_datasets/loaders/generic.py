"""Any corpus already in CSV, TSV, JSON (Lines) or Parquet, one builder per task: `files-<task>`.

These formats `datasets` reads natively (TSV as CSV with a tab), so they go through `load_dataset`; only the mapping
of the file's columns onto the schema's, and the checks that make a bad row a clear message, happen here.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from codefest.core.errors import CodefestError
from codefest.core.registry import nearest, unknown_key_message
from codefest.shared_datasets.builders import BuildContext, builder
from codefest.shared_datasets.loaders.files import (
    POOLED,
    LoaderOptions,
    SplitFiles,
    arrange,
    check_split_files,
    check_unique_ids,
    find_files,
    finish_search,
    json_records,
    load_hub,
    open_text,
    resolve,
    root_cause,
    rows_to_dataset,
    split_file_lists,
    unique,
)
from codefest.shared_datasets.schema import CORPUS_COLUMNS, FEATURES, corpus_features

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

Format = Literal["csv", "tsv", "json", "parquet"]
EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}
DELIMITERS: dict[str, str] = {"csv": ",", "tsv": "\t"}
"""The formats read as delimited text, and the delimiter each has unless the option 'delimiter' says otherwise."""
REQUIRED = {
    "classification": ("id", "labels"),
    "translation": ("id", "source", "reference"),
    "search": ("id", "qrels"),
    "corpus": ("id",),
}


class FilesOptions(LoaderOptions):
    LOCAL: ClassVar[tuple[str, ...]] = ("data_files",)
    TASK: ClassVar[str] = ""

    data_files: SplitFiles | None = Field(
        default=None,
        description="file(s) or folder(s); a mapping with keys train, dev and test keeps that split",
    )
    format: Format | None = Field(default=None, description="csv, tsv, json or parquet; default from the extension")
    delimiter: str | None = Field(
        default=None,
        min_length=1,
        max_length=1,
        description="csv and tsv: the one character between fields (default ',' for csv, a tab for tsv)",
    )
    columns: dict[str, str] = Field(
        default_factory=dict, description="the file's column for each schema column, e.g. {abstract: text}"
    )

    @field_validator("data_files")
    @classmethod
    def _split_keys(cls, value: SplitFiles | None) -> SplitFiles | None:
        return check_split_files(value)

    @field_validator("columns")
    @classmethod
    def _schema_columns(cls, value: dict[str, str]) -> dict[str, str]:
        return check_columns(value, list(FEATURES[cls.TASK]))

    @model_validator(mode="after")
    def _delimiter_for_text(self) -> FilesOptions:
        """A delimiter means nothing to JSON or Parquet; accepting it there would hide a mistaken format."""
        if self.delimiter is not None and self.format in ("json", "parquet"):
            raise PydanticCustomError(
                "delimiter", "'delimiter' applies to csv and tsv files, not {format}", {"format": self.format}
            )
        return self


def check_columns(value: dict[str, str], allowed: list[str]) -> dict[str, str]:
    """Keys are the schema's names, so a typo there would otherwise be silently ignored."""
    for key in value:
        if key not in allowed:
            message = unknown_key_message("schema column", key, allowed)
            raise PydanticCustomError("schema_column", message.replace("{", "(").replace("}", ")"))
    return value


class ClassificationFilesOptions(FilesOptions):
    TASK = "classification"

    label_separator: str = Field(default=";", min_length=1, description="splits labels given as one string")


class TranslationFilesOptions(FilesOptions):
    TASK = "translation"


class SearchFilesOptions(FilesOptions):
    LOCAL = ("data_files", "corpus_files")
    TASK = "search"

    corpus_files: str | list[str] | None = Field(default=None, description="the collection's file(s)")
    corpus_columns: dict[str, str] = Field(default_factory=dict, description="as columns, for the collection")
    corpus_config: str = Field(default="corpus", description="with hub_id: the configuration holding the collection")
    qrels_separator: str = Field(default=";", min_length=1, description="splits 'doc:grade' pairs given as one string")
    keep_unjudged: bool = Field(default=False, description="keep topics without qrels, with an empty list")

    @field_validator("corpus_columns")
    @classmethod
    def _corpus_columns(cls, value: dict[str, str]) -> dict[str, str]:
        return check_columns(value, list(CORPUS_COLUMNS))


# reading


def infer_format(paths: list[Path]) -> Format:
    """The one format all files share, told by extension (a trailing .gz aside)."""
    formats = {EXTENSIONS.get(Path(p.name.removesuffix(".gz")).suffix.lower()) for p in paths}
    if None in formats or len(formats) > 1:
        names = ", ".join(p.name for p in paths[:5])
        raise CodefestError(
            f"cannot tell the format of {names}", fix="set the option 'format' to csv, tsv, json or parquet"
        )
    return formats.pop()  # type: ignore[return-value]


def expand(path: Path) -> list[Path]:
    patterns = tuple(f"*{ext}{gz}" for ext in EXTENSIONS for gz in ("", ".gz"))
    return find_files(path, patterns, "data")


def load_files(
    context: BuildContext, spec: SplitFiles, fmt: Format | None, what: str, delimiter: str | None = None
) -> dict[str, Dataset]:
    """Each split's files loaded by `datasets`; a failure names the file, and the line where it can tell."""
    from datasets import load_dataset  # not at import: see schema

    paths = {
        split: [file for name in names for file in expand(resolve(context.base_dir, name, what))]
        for split, names in split_file_lists(spec).items()
    }
    every = [file for files in paths.values() for file in files]
    fmt = fmt or infer_format(every)
    reader = reader_options(fmt, delimiter, every)
    try:
        loaded = load_dataset(
            "csv" if fmt in DELIMITERS else fmt,
            data_files={split: [str(f) for f in files] for split, files in paths.items()},
            **reader,
        )
    except Exception as err:  # datasets wraps parser errors of every kind in its own
        raise load_failure(fmt, every, err, reader.get("delimiter", "")) from None
    return dict(loaded.items())


def reader_options(fmt: Format, delimiter: str | None, files: list[Path]) -> dict[str, str]:
    """The delimiter of delimited text; refused for a format told by extension that has none."""
    if fmt in DELIMITERS:
        return {"delimiter": delimiter or DELIMITERS[fmt]}
    if delimiter is not None:
        raise CodefestError(
            f"the option 'delimiter' applies to csv and tsv files, and {files[0].name} is read as {fmt}",
            fix="remove 'delimiter', or set 'format' to csv or tsv",
        )
    return {}


def load_failure(fmt: str, files: list[Path], err: Exception, delimiter: str = "") -> CodefestError:
    if fmt == "json":
        for file in files:  # the JSON parser names no line, so find the first bad one
            for _ in json_records(file):
                pass
    if fmt in DELIMITERS:
        for file in files:  # pandas names a line but not the file, and counts lines its own way
            if (problem := ragged_line(file, delimiter)) is not None:
                return problem
    names = str(files[0]) if len(files) == 1 else f"{len(files)} files ({files[0].name}, ...)"
    return CodefestError(
        f"could not read {names} as {fmt}: {root_cause(err)}",
        fix="repair the file; files of one split must share their columns",
    )


def ragged_line(path: Path, delimiter: str) -> CodefestError | None:
    """The first line of delimited text whose fields do not match the header's, named by file and line."""
    shown = "a tab" if delimiter == "\t" else repr(delimiter)
    fix = f"fields are separated by {shown} (option 'delimiter'); a field holding it, or a line break, must be quoted"
    with open_text(path) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = next(reader, [])
            for row in reader:
                if row and len(row) != len(header):
                    return CodefestError(
                        f"{path}, line {reader.line_num}: {len(row)} fields, but the header has {len(header)}", fix=fix
                    )
        except (csv.Error, UnicodeDecodeError) as err:
            return CodefestError(f"{path}, line {reader.line_num}: cannot be read ({err})", fix=fix)
    return None


def load_source(options: FilesOptions, context: BuildContext) -> tuple[dict[str, Dataset], str]:
    """The splits the hub or the files give, and a name for them in messages."""
    if options.hub_id is not None:
        parts = load_hub(options.hub_id, options.hub_config, options.hub_revision)
        return parts, f"hub dataset {options.hub_id}"
    assert options.data_files is not None  # the options model requires data_files or hub_id
    parts = load_files(context, options.data_files, options.format, "data file", options.delimiter)
    return parts, f"files {options.data_files}"


def load_corpus(options: SearchFilesOptions, context: BuildContext) -> Dataset:
    if options.hub_id is not None:
        parts = load_hub(options.hub_id, options.corpus_config, options.hub_revision)
        if len(parts) != 1 and "corpus" not in parts:
            raise CodefestError(
                f"the hub configuration '{options.corpus_config}' has splits {', '.join(parts)}",
                fix="point corpus_config at a configuration with one split, or one named 'corpus'",
            )
        data, label = parts.get("corpus") or next(iter(parts.values())), f"{options.hub_id} [corpus]"
    else:
        assert options.corpus_files is not None
        loaded = load_files(context, options.corpus_files, options.format, "corpus file", options.delimiter)
        data, label = loaded[POOLED], f"corpus files {options.corpus_files}"
    rows = rows_of(data, options.corpus_columns, "corpus", label, corpus_row)
    return rows_to_dataset(rows, corpus_features(), label, "")


# mapping columns


def rows_of(
    data: Dataset,
    columns: Mapping[str, str],
    schema: str,
    label: str,
    convert: Callable[[dict[str, Any], str], dict[str, Any] | None],
) -> Iterator[dict[str, Any] | None]:
    """Rows under the schema's names, each converted with a 'where' naming its source and row."""
    names = list(CORPUS_COLUMNS if schema == "corpus" else FEATURES[schema])
    present = {}
    for name in names:
        column = columns.get(name, name)
        if column in data.column_names:
            present[name] = column
        elif name in REQUIRED[schema] or name in columns:
            raise missing_column(label, name, column, data.column_names)
    for index, row in enumerate(data.select_columns(list(dict.fromkeys(present.values()))), start=1):
        yield convert({name: row[column] for name, column in present.items()}, f"{label}, row {index}")


def missing_column(label: str, name: str, column: str, available: list[str]) -> CodefestError:
    guess = nearest(column, available)
    hint = f"; did you mean '{guess}'?" if guess else ""
    fix = f"map it with the option columns: {{{name}: <the file's column>}}"
    if len(available) == 1 and (found := [d for d in ("\t", ";", ",", "|") if d in available[0]]):
        shown = "a tab" if found[0] == "\t" else f"'{found[0]}'"
        fix = f"the header was read as one column: its fields are separated by {shown}; set the option 'delimiter'"
        fix += " (or format: tsv)" if found[0] == "\t" else ""
    return CodefestError(
        f"{label}: no column '{column}' for the schema's '{name}'{hint} Columns: {', '.join(map(repr, available))}",
        fix=fix,
    )


def as_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def item_id(row: dict[str, Any], where: str) -> str:
    value = as_text(row.get("id"))
    if not value:
        raise CodefestError(f"{where}: empty id", fix="every row needs an id")
    return value


def corpus_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        "id": item_id(row, where),
        "title": as_text(row.get("title")),
        "abstract": as_text(row.get("abstract")),
    }


def labels_of(value: Any, separator: str, where: str) -> list[str]:
    """Labels arrive as a list (JSON, Parquet), one separated string (CSV), or a list written as text (TSV)."""
    if isinstance(value, str) and value.strip().startswith("["):
        value = list_literal(value.strip(), where)
    items = value.split(separator) if isinstance(value, str) else list(value or [])
    return unique(as_text(item) for item in items)


def list_literal(text: str, where: str) -> list[Any]:
    """`['A01H', 'C12Q']` or `["A01H"]`: a list that pandas or json wrote into one cell; no symbol opens with '['."""
    try:
        value = json.loads(text)
    except ValueError:
        try:
            value = ast.literal_eval(text)  # literals only: never runs code
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise CodefestError(
            f"{where}: the labels {text[:80]!r} look like a list but are not one of quoted symbols",
            fix="write them as ['A01H', 'C12Q'], or as one string split on label_separator",
        )
    return list(value)


def classification_row(row: dict[str, Any], where: str, separator: str) -> dict[str, Any] | None:
    labels = labels_of(row.get("labels"), separator, where)
    if not labels:
        return None
    return {"labels": labels, **corpus_row(row, where)}


def translation_row(row: dict[str, Any], where: str) -> dict[str, Any] | None:
    source, reference = as_text(row.get("source")), as_text(row.get("reference"))
    return {"id": item_id(row, where), "source": source, "reference": reference} if source and reference else None


def qrel(item: Any, where: str) -> dict[str, Any]:
    """One judgment: {doc_id, relevance}, 'doc:grade', or a bare doc id (grade 1)."""
    if isinstance(item, dict):
        doc, grade = item.get("doc_id"), item.get("relevance", 1)
    else:
        doc, colon, grade = as_text(item).rpartition(":")
        if not colon:
            doc, grade = as_text(item), 1
    try:
        return {"doc_id": as_text(doc), "relevance": int(grade)}
    except (TypeError, ValueError):
        raise CodefestError(f"{where}: the qrel '{item}' has no whole-number grade", fix="write doc:grade") from None


def search_row(row: dict[str, Any], where: str, separator: str, doc_ids: set[str]) -> dict[str, Any]:
    value = row.get("qrels")
    items = [part for part in value.split(separator) if part.strip()] if isinstance(value, str) else value or []
    qrels = [qrel(item, where) for item in items]
    for judged in qrels:
        if judged["doc_id"] not in doc_ids:
            raise CodefestError(
                f"{where}: the document '{judged['doc_id']}' is not in the collection",
                fix="check corpus_files",
            )
    return {"qrels": qrels, **corpus_row(row, where)}


# builders


def _build_flat(
    options: ClassificationFilesOptions | TranslationFilesOptions,
    context: BuildContext,
    task: str,
    convert: Callable[[dict[str, Any], str], dict[str, Any] | None],
    dropped: str,
) -> DatasetDict:
    """Classification and translation files: one row per item, mapped onto the task's columns."""
    parts, source = load_source(options, context)
    data = {
        split: rows_to_dataset(
            rows_of(part, options.columns, task, f"{source} [{split}]", convert), FEATURES[task], source, dropped
        )
        for split, part in parts.items()
    }
    check_unique_ids(data, source)
    return arrange(data, options, source)


def build_classification(options: ClassificationFilesOptions, context: BuildContext) -> DatasetDict:
    def convert(row: dict[str, Any], where: str) -> dict[str, Any] | None:
        return classification_row(row, where, options.label_separator)

    return _build_flat(options, context, "classification", convert, "no labels")


def build_translation(options: TranslationFilesOptions, context: BuildContext) -> DatasetDict:
    return _build_flat(options, context, "translation", translation_row, "empty source or reference")


def build_search(options: SearchFilesOptions, context: BuildContext) -> DatasetDict:
    corpus = load_corpus(options, context)
    doc_ids = set(corpus["id"])
    parts, source = load_source(options, context)

    def convert(row: dict[str, Any], where: str) -> dict[str, Any]:
        return search_row(row, where, options.qrels_separator, doc_ids)

    topics = {
        split: rows_to_dataset(
            rows_of(part, options.columns, "search", f"{source} [{split}]", convert),
            FEATURES["search"],
            source,
            "",
        )
        for split, part in parts.items()
    }
    return finish_search(corpus, topics, options, options.keep_unjudged, source)


BUILDS: dict[str, tuple[type[FilesOptions], Callable[[Any, BuildContext], DatasetDict], str]] = {
    "classification": (
        ClassificationFilesOptions,
        build_classification,
        "labels as a list or one separated string",
    ),
    "translation": (TranslationFilesOptions, build_translation, "source and reference columns"),
    "search": (SearchFilesOptions, build_search, "topics with qrels, plus the collection's files"),
}

for _task, (_options, _build, _what) in BUILDS.items():
    _build.__doc__ = f"{_task.capitalize()} items from your own CSV, TSV, JSON Lines or Parquet files ({_what})."
    builder(f"files-{_task}", task=_task, kind="loader", options=_options, card="files.md")(_build)
