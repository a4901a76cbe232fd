"""ParaPat parallel patent text as translation items, from its tab-separated files in either published layout.

ParaPat publishes two layouts: sentence-aligned pairs (two columns, no header) and abstract-aligned pairs (a
header `index family_id src_lang src_abs tgt_lang tgt_abs`, then one abstract pair a line). Lines are split on
tabs by hand: ParaPat text is not quoted, and a CSV reader would take a sentence that opens with a quotation mark
for a quoted field running on across lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from codefest.core.errors import CodefestError
from codefest.shared_datasets.builders import BuildContext, builder
from codefest.shared_datasets.loaders.files import (
    POOLED,
    LoaderOptions,
    arrange,
    check_unique_ids,
    hub_records,
    load_hub,
    read_lines,
    resolve,
    rows_to_dataset,
)
from codefest.shared_datasets.schema import FEATURES

if TYPE_CHECKING:
    from datasets import DatasetDict

NAME = "parapat-tsv"
SKIP_REASON = "empty source or target"
ABSTRACT_HEADER = ("index", "family_id", "src_lang", "src_abs", "tgt_lang", "tgt_abs")
COLUMN_OPTIONS = {"source_column", "target_column", "id_column"}
Line = tuple[int, str]


class ParaPatOptions(LoaderOptions):
    path: str | None = Field(default=None, description="one ParaPat TSV file (one language pair), plain or gzipped")
    source_column: int = Field(default=0, ge=0, description="sentence files: 0-based column of the source sentence")
    target_column: int = Field(default=1, ge=0, description="sentence files: 0-based column of the reference")
    id_column: int | None = Field(default=None, ge=0, description="sentence files: 0-based column of a family id")
    source_lang: str | None = Field(
        default=None, description="abstract files and hub_id: the source language (default: the file's first pair)"
    )
    target_lang: str | None = Field(
        default=None, description="abstract files and hub_id: the target language (default: the file's first pair)"
    )

    @model_validator(mode="after")
    def _distinct_columns(self) -> ParaPatOptions:
        columns = [c for c in (self.source_column, self.target_column, self.id_column) if c is not None]
        if len(set(columns)) < len(columns):
            raise PydanticCustomError("columns", "source_column, target_column and id_column must differ")
        return self


class Ids:
    """'<family id>-<n>' numbering each family's sentences, or 'line-<n>' without an id column."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def next(self, family: str | None, line: int) -> str:
        if not family:
            return f"line-{line}"
        self.seen[family] += 1
        return f"{family}-{self.seen[family]}"


def tsv_rows(path: Path, options: ParaPatOptions) -> Iterator[dict[str, Any] | None]:
    """Pairs from either layout, told by the first line: ParaPat's abstract-level header, or a sentence pair."""
    lines = ((number, line) for number, line in read_lines(path) if line.strip())
    first = next(lines, None)
    if first is None:
        return
    header = [cell.strip().lower() for cell in first[1].split("\t")]
    if set(ABSTRACT_HEADER) <= set(header):
        check_no_column_options(path, options)
        yield from abstract_rows(path, lines, {name: header.index(name) for name in ABSTRACT_HEADER}, options)
    else:
        yield from sentence_rows(path, chain([first], lines), options)


def check_no_column_options(path: Path, options: ParaPatOptions) -> None:
    """An abstract-level file names its columns; column numbers given as well would say something else."""
    given = sorted(COLUMN_OPTIONS & options.model_fields_set)
    if given:
        raise CodefestError(
            f"{path} has ParaPat's abstract-level header ({' '.join(ABSTRACT_HEADER)}), so its columns are read "
            f"by name; the option(s) {', '.join(given)} do not apply",
            fix="remove them; set source_lang and target_lang to choose the direction",
        )


def sentence_rows(path: Path, lines: Iterable[Line], options: ParaPatOptions) -> Iterator[dict[str, Any] | None]:
    """The sentence-aligned layout: the text columns the options name, ids from an id column or the line."""
    needed = max(c for c in (options.source_column, options.target_column, options.id_column) if c is not None) + 1
    ids = Ids()
    for number, line in lines:
        cells = line.split("\t")
        if len(cells) < needed:
            raise CodefestError(
                f"{path}, line {number}: {len(cells)} tab-separated column(s), {needed} needed",
                fix="check source_column, target_column and id_column (0-based), or repair the line",
            )
        family = cells[options.id_column].strip() if options.id_column is not None else None
        yield pair(cells[options.source_column], cells[options.target_column], ids.next(family, number))


def abstract_rows(
    path: Path, lines: Iterable[Line], columns: dict[str, int], options: ParaPatOptions
) -> Iterator[dict[str, Any] | None]:
    """The abstract-aligned layout: one direction for the file, rows written the other way round turned back."""
    wanted = (options.source_lang, options.target_lang) if options.source_lang and options.target_lang else None
    ids = Ids()
    for number, line in lines:
        cells = line.split("\t")
        if len(cells) <= max(columns.values()):
            raise CodefestError(
                f"{path}, line {number}: {len(cells)} tab-separated column(s), {len(ABSTRACT_HEADER)} needed "
                f"({' '.join(ABSTRACT_HEADER)})",
                fix="repair the line: ParaPat text holds no tabs or line breaks",
            )
        row = {name: cells[index].strip() for name, index in columns.items()}
        langs = (row["src_lang"], row["tgt_lang"])
        wanted = wanted or langs
        if langs not in (wanted, wanted[::-1]):
            raise CodefestError(
                f"{path}, line {number}: the pair {'-'.join(langs)}, but the file is read as {'-'.join(wanted)}",
                fix="give one language pair a file; source_lang and target_lang choose the direction",
            )
        source, target = (row["src_abs"], row["tgt_abs"])[:: 1 if langs == wanted else -1]
        yield pair(source, target, ids.next(row["family_id"], number))


def pair(source: Any, reference: Any, item_id: str) -> dict[str, Any] | None:
    source, reference = str(source or "").strip(), str(reference or "").strip()
    return {"id": item_id, "source": source, "reference": reference} if source and reference else None


def hub_rows(records: Iterator[tuple[str, dict[str, Any]]], options: ParaPatOptions) -> Iterator[dict[str, Any] | None]:
    """The hub copy stores {'translation': {lang: text}} with a family id; languages default from 'de-en'."""
    default = (options.hub_config or "").split("-")
    source_lang = options.source_lang or (default[0] if len(default) == 2 else None)
    target_lang = options.target_lang or (default[1] if len(default) == 2 else None)
    ids = Ids()
    for number, (where, record) in enumerate(records, start=1):
        texts = record.get("translation")
        if not isinstance(texts, dict) or source_lang not in texts or target_lang not in texts:
            raise CodefestError(
                f"{where}: no 'translation' with the languages '{source_lang}' and '{target_lang}'",
                fix="set source_lang and target_lang to the keys of the hub dataset's 'translation' column",
            )
        family = str(record.get("family_id") or "").strip() or None
        yield pair(texts[source_lang], texts[target_lang], ids.next(family, number))


@builder(NAME, task="translation", kind="loader", options=ParaPatOptions, card="parapat-tsv.md")
def build(options: ParaPatOptions, context: BuildContext) -> DatasetDict:
    """ParaPat pairs from a tab-separated file: sentence-aligned (source, target) or abstract-aligned (with header)."""
    features = FEATURES["translation"]
    if options.hub_id is not None:
        source = f"hub dataset {options.hub_id}"
        parts = hub_records(load_hub(options.hub_id, options.hub_config, options.hub_revision), options.hub_id)
        data = {
            split: rows_to_dataset(hub_rows(items, options), features, source, SKIP_REASON)
            for split, items in parts.items()
        }
    else:
        assert options.path is not None  # the options model requires path or hub_id
        path = resolve(context.base_dir, options.path, "ParaPat TSV file")
        if path.is_dir():
            raise CodefestError(f"ParaPat path is a folder: {path}", fix="give one TSV file: one language pair")
        source = f"ParaPat {path}"
        data = {POOLED: rows_to_dataset(tsv_rows(path, options), features, source, SKIP_REASON)}
    check_unique_ids(data, source)
    return arrange(data, options, source)
