"""Writing and hashing the files of bundles and vaults, in formats participants' tools read directly."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only named in hints: `codefest score` hashes a file here without loading datasets (seconds)
    from datasets import Dataset

BATCH = 10_000


def rows(data: Dataset, columns: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The rows of some columns, read in batches so a million-item split never sits in memory as dicts."""
    selected = data.select_columns(list(columns))
    for batch in selected.iter(batch_size=BATCH):
        keys = list(batch)
        for values in zip(*(batch[k] for k in keys), strict=True):
            yield dict(zip(keys, values, strict=True))


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


def write_qrels(path: Path, topics: Dataset) -> int:
    """TREC qrels ('topic 0 doc grade'), the format trec_eval and ir_measures read."""
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for topic in rows(topics, ["id", "qrels"]):
            for judgement in topic["qrels"]:
                out.write(f"{topic['id']} 0 {judgement['doc_id']} {judgement['relevance']}\n")
                count += 1
    return count


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
