"""Baseline for prior-art search: lexical BM25 (bm25s) over title + abstract, plus a random trivial baseline."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np

from .data import Bundle

NAME = "bm25"

DEFAULTS: dict[str, object] = {"k1": 1.2, "b": 0.9, "method": "lucene", "depth": 1000}
INDEX_DIR = "bm25s"  # bm25s' own index files
META_FILE = "model.json"  # our params and the document ids, which bm25s does not keep


def text_of(row: dict) -> str:
    """Title and abstract are both claims-like evidence; missing fields count as empty."""
    return f"{row.get('title') or ''} {row.get('abstract') or ''}"


def tokenize(texts: list[str]) -> list[list[str]]:
    """One tokeniser for documents and queries, so their vocabularies match."""
    return bm25s.tokenize(texts, stopwords="en", return_ids=False, show_progress=False)


def top_indices(scores: np.ndarray, depth: int) -> np.ndarray:
    """Best first; a stable sort breaks ties by corpus order, so rankings are reproducible."""
    return np.argsort(-scores, kind="stable")[:depth]


class Model:
    """BM25 ranking of the corpus for each topic; the topic's title + abstract is the query."""

    def __init__(self, **params: object) -> None:
        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise ValueError(f"unknown parameters: {sorted(unknown)}")
        self._params = {**DEFAULTS, **params}
        self.retriever: bm25s.BM25 | None = None
        self.doc_ids: list[str] = []

    @property
    def params(self) -> dict[str, object]:
        return dict(self._params)

    def fit(self, bundle: Bundle) -> Model:
        """Indexing is the whole of training: BM25 has no learned weights."""
        corpus = bundle.corpus()
        self.doc_ids = [str(i) for i in corpus["id"]]
        p = self._params
        self.retriever = bm25s.BM25(k1=p["k1"], b=p["b"], method=p["method"])
        self.retriever.index(tokenize([text_of(row) for row in corpus]), show_progress=False)
        return self

    def scores(self, query: list[str]) -> np.ndarray:
        """Scores for every document; an all-stopword query scores all zero rather than failing."""
        if self.retriever is None:
            raise RuntimeError("call fit() or load() first")
        known = [t for t in query if t in self.retriever.vocab_dict]
        if not known:
            return np.zeros(len(self.doc_ids), dtype=np.float32)
        return self.retriever.get_scores(known)

    def rank(self, query: list[str]) -> list[str]:
        depth = int(self._params["depth"])
        return [self.doc_ids[i] for i in top_indices(self.scores(query), depth)]

    def predict(self, bundle: Bundle, split: str) -> list[dict]:
        topics = bundle.split(split)
        queries = tokenize([text_of(row) for row in topics])
        return [{"id": str(t), "ranking": self.rank(q)} for t, q in zip(topics["id"], queries, strict=True)]

    def save(self, folder: Path) -> None:
        if self.retriever is None:
            raise RuntimeError("nothing to save: call fit() first")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.retriever.save(str(folder / INDEX_DIR), show_progress=False)
        meta = {"name": NAME, "params": self._params, "doc_ids": self.doc_ids}
        (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Model:
        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        model = cls(**meta["params"])
        model.doc_ids = list(meta["doc_ids"])
        model.retriever = bm25s.BM25.load(str(folder / INDEX_DIR), show_progress=False)
        return model


def trivial(bundle: Bundle, split: str, depth: int = 1000, seed: int = 0) -> list[dict]:
    """The floor any model must clear: a seeded random ranking of `depth` documents per topic."""
    doc_ids = [str(i) for i in bundle.corpus()["id"]]
    rng = np.random.default_rng(seed)
    return [
        {"id": str(t), "ranking": [doc_ids[i] for i in rng.permutation(len(doc_ids))[:depth]]}
        for t in bundle.split(split)["id"]
    ]
