"""The columns every builder produces, per task, so bundles look the same whatever the source corpus.

Each task declares its columns in its definition (`codefest.tasks.<task>.task`); here they become `datasets` types.
`datasets` is imported only when a type is asked for: registering the builders (every challenge's validation) must
not load it, pandas and pyarrow, a second of CPU at each command's start.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from codefest.tasks import TASKS

if TYPE_CHECKING:
    from datasets import Features

CORPUS_COLUMNS = ("id", "title", "abstract")
SPLITS = ("train", "dev", "test")


def corpus_features() -> Features:
    """The collection's columns (search tasks), all strings."""
    from datasets import Features, Value

    return Features({name: Value("string") for name in CORPUS_COLUMNS})


def _types() -> dict[str, Any]:
    """A task's column kinds as `datasets` types."""
    from datasets import List, Value

    qrel = {"doc_id": Value("string"), "relevance": Value("int32")}
    return {"string": Value("string"), "strings": List(Value("string")), "qrels": List(qrel)}


class _TaskFeatures(Mapping[str, "Features"]):
    """task -> its columns as `datasets` features, for every task found (see codefest.tasks)."""

    def __getitem__(self, task: str) -> Features:
        from datasets import Features

        types = _types()
        return Features({name: types[kind] for name, kind in TASKS.get(task).columns.items()})

    def __iter__(self) -> Iterator[str]:
        return iter(TASKS.names())

    def __len__(self) -> int:
        return len(TASKS.names())


FEATURES: Mapping[str, Features] = _TaskFeatures()
