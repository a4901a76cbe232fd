"""The search task: rank a collection's documents for each topic (prior-art search for a new application)."""

from __future__ import annotations

from typing import Any

from pydantic import PositiveInt

from codefest.tasks.base import DemoVariant, Metric, Task, TaskOptions


class SearchOptions(TaskOptions):
    ranking_depth: PositiveInt | None = None  # the most documents per topic; the harness's default otherwise

    def scoring(self) -> dict[str, Any]:
        return {} if self.ranking_depth is None else {"ranking_depth": self.ranking_depth}


TASK = Task(
    name="search",
    description="rank the collection's documents for each topic (a new application)",
    columns={"id": "string", "title": "string", "abstract": "string", "qrels": "qrels"},
    inputs=("id", "title", "abstract"),
    labels=("qrels",),
    gold_format="qrels",
    corpus=True,
    metrics=(
        Metric(name="map", higher_is_better=True, description="mean average precision (ir_measures)"),
        Metric(name="ndcg@10", higher_is_better=True, description="nDCG at 10 with graded relevance (ir_measures)"),
        Metric(name="recall@100", higher_is_better=True, description="recall at 100 (ir_measures)"),
        Metric(name="p@10", higher_is_better=True, description="precision at 10 (ir_measures)"),
        Metric(
            name="rr",
            higher_is_better=True,
            description="reciprocal rank of the first relevant document (ir_measures)",
        ),
        Metric(
            name="pres@100",
            higher_is_better=True,
            description="patent retrieval evaluation score at 100 (Magdy & Jones 2010)",
        ),
    ),
    options=SearchOptions,
    scorer="codefest.tasks.search.scorer:SCORER",
    demo_variants={  # BM25 learns nothing from training topics: other settings instead of more data
        "office-a": DemoVariant(label="BM25 k1 2.0, b 1.0", params={"k1": 2.0, "b": 1.0}),
        "office-b": DemoVariant(label="BM25 k1 1.5, b 0.75", params={"k1": 1.5, "b": 0.75}),
    },
)
