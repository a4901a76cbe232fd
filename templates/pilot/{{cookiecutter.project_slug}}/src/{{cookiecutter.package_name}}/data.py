"""The challenge's public bundle, read with the standard library: the prediction step, which runs in the code
submission's own environment, needs nothing but the model's libraries to read its input.

A split is its JSON Lines records in file order; `rows["column"]` gives one column as a list, as a Hugging Face
`datasets.Dataset` does, so a model written against either reads the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rows:
    """A split's records, in file order."""

    records: list[dict[str, Any]]

    @property
    def columns(self) -> list[str]:
        """Every field of any record, in the order they first appear."""
        return list(dict.fromkeys(key for record in self.records for key in record))

    def __getitem__(self, column: str) -> list[Any]:
        """The column as a list; a record without the field gives None, as a Dataset fills it."""
        if self.records and not any(column in record for record in self.records):
            raise KeyError(f"no column {column!r}: the split has {', '.join(self.columns)}")
        return [record.get(column) for record in self.records]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)


@dataclass(frozen=True)
class Bundle:
    """A folder holding a public bundle (as `codefest data build` writes it), or the input folder of a sandbox run."""

    folder: Path

    def split(self, name: str) -> Rows:
        """train and dev carry labels; test has inputs only."""
        path = self.folder / f"{name}.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: build the bundle with `codefest data build <challenge>`")
        with path.open(encoding="utf-8") as lines:
            return Rows([json.loads(line) for line in lines if line.strip()])

    def corpus(self) -> Rows:
        """Search only: the document collection."""
        return self.split("corpus")

    def qrels(self, name: str) -> dict[str, dict[str, int]]:
        """Search only: topic -> document -> grade, from the split's TREC qrels."""
        judged: dict[str, dict[str, int]] = {}
        for line in (self.folder / f"{name}.qrels").read_text(encoding="utf-8").splitlines():
            if line.strip():
                topic, _, doc, grade = line.split()
                judged.setdefault(topic, {})[doc] = int(grade)
        return judged


def write_predictions(records: list[dict], path: Path) -> Path:
    """JSONL, one prediction per line, in the task's format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
