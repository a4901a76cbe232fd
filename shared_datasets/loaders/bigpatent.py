"""BIGPATENT as classification items: each abstract labelled with its CPC section, the nine categories.

BIGPATENT ships gzipped JSON Lines in `train/`, `val/` and `test/` folders with one subfolder per CPC section
letter (a-h, y); when a folder has that layout its split is kept and the letters are read off the folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from codefest.core.errors import CodefestError
from codefest.shared_datasets.builders import BuildContext, builder
from codefest.shared_datasets.loaders.files import (
    POOLED,
    LoaderOptions,
    Record,
    arrange,
    check_unique_ids,
    find_files,
    hub_records,
    id_field,
    json_records,
    load_hub,
    resolve,
    rows_to_dataset,
    split_folders,
    text_field,
)
from codefest.shared_datasets.schema import FEATURES

if TYPE_CHECKING:
    from datasets import DatasetDict

NAME = "bigpatent"
SECTIONS = frozenset("abcdefghy")
CATEGORY_FIELDS = ("cpc_code", "category")
PATTERNS = ("*.jsonl", "*.json", "*.gz")


class BigPatentOptions(LoaderOptions):
    path: str | None = Field(
        default=None,
        description="a JSON Lines file (.jsonl, .gz), or a folder: BIGPATENT's own layout or any",
    )
    category: str | None = Field(
        default=None,
        pattern=r"^[a-hyA-HY]$",
        description="CPC section of records without a cpc_code/category field (BIGPATENT's folder letter)",
    )


def section(value: Any, where: str) -> str:
    letter = str(value).strip().lower()
    if letter not in SECTIONS:
        raise CodefestError(f"{where}: '{value}' is not a BIGPATENT category", fix="use a CPC section letter: a-h or y")
    return letter.upper()


def to_row(record: dict[str, Any], where: str, default_category: str | None) -> dict[str, Any]:
    """The record's own category wins over the option or folder, which only stand in when it has none."""
    given = next((record[field] for field in CATEGORY_FIELDS if record.get(field)), default_category)
    if given is None:
        raise CodefestError(
            f"{where}: no CPC category: no 'cpc_code' or 'category' field and no 'category' option",
            fix="set the option 'category' to the section letter of this file (BIGPATENT's folder name)",
        )
    if not isinstance(record.get("abstract"), str):
        raise CodefestError(f"{where}: no 'abstract' text", fix="every BIGPATENT record has an abstract")
    return {
        "id": id_field(record, "publication_number", where),
        "title": text_field(record, "title", where),
        "abstract": text_field(record, "abstract", where),
        "labels": [section(given, where)],
    }


def folder_letter(file: Path) -> str | None:
    name = file.parent.name.lower()
    return name if name in SECTIONS else None


def local_records(path: Path, category: str | None) -> Iterator[tuple[Record, str | None]]:
    """Records with the category that stands in for a missing field: the option, else the folder's letter."""
    for file in find_files(path, PATTERNS, "BIGPATENT"):
        for record in json_records(file):
            yield record, category or folder_letter(file)


def numbered(records: Iterator[Record], split: str) -> Iterator[Record]:
    """The hub copy has no publication numbers: number its rows per split so ids stay unique."""
    for index, (where, record) in enumerate(records, start=1):
        if not record.get("publication_number"):
            record = {**record, "publication_number": f"{split}-{index}"}
        yield where, record


def hub_rows(options: BigPatentOptions) -> dict[str, Iterator[dict[str, Any]]]:
    """Rows per hub split; the configuration names the section when it is one letter (`g`, not `all`)."""
    assert options.hub_id is not None
    config_letter = (options.hub_config or "").lower()
    default = options.category or (config_letter if config_letter in SECTIONS else None)
    parts = hub_records(load_hub(options.hub_id, options.hub_config, options.hub_revision), options.hub_id)
    return {
        split: (to_row(record, where, default) for where, record in numbered(records, split))
        for split, records in parts.items()
    }


def local_rows(path: Path, category: str | None) -> dict[str, Iterator[dict[str, Any]]]:
    """Rows per split folder when the corpus ships train/val/test, else one pool."""
    folders = split_folders(path) or {POOLED: path}
    return {
        split: (to_row(record, where, default) for (where, record), default in local_records(folder, category))
        for split, folder in folders.items()
    }


@builder(NAME, task="classification", kind="loader", options=BigPatentOptions, card="bigpatent.md")
def build(options: BigPatentOptions, context: BuildContext) -> DatasetDict:
    """BIGPATENT abstracts (JSON Lines, gzipped or not) labelled with their CPC section letter."""
    if options.hub_id is not None:
        source, rows = f"hub dataset {options.hub_id}", hub_rows(options)
    else:
        assert options.path is not None  # the options model requires path or hub_id
        path = resolve(context.base_dir, options.path, "BIGPATENT file or folder")
        source, rows = f"BIGPATENT {path}", local_rows(path, options.category)
    data = {split: rows_to_dataset(items, FEATURES["classification"], source, "") for split, items in rows.items()}
    check_unique_ids(data, source)
    return arrange(data, options, source)
