"""The columns every builder produces, per task, so bundles look the same whatever the source corpus."""

from __future__ import annotations

from datasets import Features, List, Value

QREL = {"doc_id": Value("string"), "relevance": Value("int32")}

FEATURES: dict[str, Features] = {
    "classification": Features(
        {
            "id": Value("string"),
            "title": Value("string"),
            "abstract": Value("string"),
            "labels": List(Value("string")),
        }
    ),
    "translation": Features({"id": Value("string"), "source": Value("string"), "reference": Value("string")}),
    "search": Features(
        {"id": Value("string"), "title": Value("string"), "abstract": Value("string"), "qrels": List(QREL)}
    ),
}
CORPUS = Features({"id": Value("string"), "title": Value("string"), "abstract": Value("string")})
SPLITS = ("train", "dev", "test")
