"""The columns every builder produces, per task, so bundles look the same whatever the source corpus.

Each task declares its columns in its definition (`codefest.tasks.<task>.task`); here they become `datasets` types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from datasets import Features, List, Value

from codefest.tasks import TASKS

QREL = {"doc_id": Value("string"), "relevance": Value("int32")}
TYPES = {"string": Value("string"), "strings": List(Value("string")), "qrels": List(QREL)}
CORPUS = Features({"id": Value("string"), "title": Value("string"), "abstract": Value("string")})
SPLITS = ("train", "dev", "test")


class _TaskFeatures(Mapping[str, Features]):
    """task -> its columns as `datasets` features, for every task found (see codefest.tasks)."""

    def __getitem__(self, task: str) -> Features:
        return Features({name: TYPES[kind] for name, kind in TASKS.get(task).columns.items()})

    def __iter__(self) -> Iterator[str]:
        return iter(TASKS.names())

    def __len__(self) -> int:
        return len(TASKS.names())


FEATURES: Mapping[str, Features] = _TaskFeatures()
