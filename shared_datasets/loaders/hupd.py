"""HUPD, the Harvard USPTO Patent Dataset, as classification items: a JSON file per application, or JSONL.

The records are read with the `json` module rather than `datasets`' JSON builder: HUPD files differ in which
optional fields they carry, which breaks Arrow's schema inference across files, and every record needs its
labels assembled anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from codefest.core.errors import CodefestError
from codefest.shared_datasets.builders import BuildContext, builder
from codefest.shared_datasets.loaders.files import (
    POOLED,
    LoaderOptions,
    arrange,
    check_unique_ids,
    find_files,
    hub_records,
    id_field,
    json_records,
    load_hub,
    resolve,
    rows_to_dataset,
    text_field,
    unique,
)
from codefest.shared_datasets.schema import FEATURES

if TYPE_CHECKING:
    from datasets import DatasetDict

NAME = "hupd-json"
LABEL_FIELDS = {"ipc": ("main_ipcr_label", "ipcr_labels"), "cpc": ("main_cpc_label", "cpc_labels")}
PATTERNS = ("*.json", "*.jsonl", "*.json.gz", "*.jsonl.gz")


class HupdOptions(LoaderOptions):
    path: str | None = Field(default=None, description="a HUPD .json/.jsonl file, or a folder searched recursively")
    scheme: Literal["ipc", "cpc"] = Field(
        default="ipc", description="ipc: main_ipcr_label and ipcr_labels; cpc: main_cpc_label and cpc_labels"
    )


def symbol(value: Any, field: str, where: str) -> str:
    """A symbol as HUPD gives it ('G06F0016000000', 'G06F  16/00') with its whitespace collapsed."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CodefestError(f"{where}: '{field}' should be a string, found {type(value).__name__}", "repair it")
    return " ".join(value.split())


def further_symbols(record: dict[str, Any], field: str, where: str) -> list[str]:
    value = record.get(field) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise CodefestError(
            f"{where}: '{field}' should be a list of symbols, found {type(value).__name__}", "repair it"
        )
    return [symbol(item, field, where) for item in value]


def to_row(record: dict[str, Any], where: str, scheme: str) -> dict[str, Any] | None:
    """An application with its main symbol first, or None when it has no main symbol to score against."""
    main_field, further_field = LABEL_FIELDS[scheme]
    main = symbol(record.get(main_field), main_field, where)
    if not main:
        return None
    return {
        "id": id_field(record, "application_number", where),
        "title": text_field(record, "title", where),
        "abstract": text_field(record, "abstract", where),
        "labels": unique([main, *further_symbols(record, further_field, where)]),
    }


@builder(NAME, task="classification", kind="loader", options=HupdOptions, card="hupd-json.md")
def build(options: HupdOptions, context: BuildContext) -> DatasetDict:
    """HUPD patent applications (a JSON file each, or JSON Lines) with IPC or CPC symbols, main first."""
    if options.hub_id is not None:
        parts = load_hub(options.hub_id, options.hub_config, options.hub_revision)
        records = hub_records(parts, options.hub_id)
        source = f"hub dataset {options.hub_id}"
    else:
        assert options.path is not None  # the options model requires path or hub_id
        path = resolve(context.base_dir, options.path, "HUPD file or folder")
        records = {POOLED: (r for file in find_files(path, PATTERNS, "HUPD") for r in json_records(file))}
        source = f"HUPD {path}"
    reason = f"no {LABEL_FIELDS[options.scheme][0]}"
    data = {
        split: rows_to_dataset(
            (to_row(record, where, options.scheme) for where, record in items),
            FEATURES["classification"],
            source,
            reason,
        )
        for split, items in records.items()
    }
    check_unique_ids(data, source)
    return arrange(data, options, source)
