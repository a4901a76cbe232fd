"""The search scorer: TREC qrels against a run (TREC or JSONL), scored with ir_measures and PRES."""

from __future__ import annotations

from pathlib import Path

import ir_measures

from codefest.evaluation.metrics.base import ItemStats
from codefest.evaluation.problems import Problems
from codefest.evaluation.reading import Limits, PublicItems
from codefest.evaluation.scorers import ScoringOptions
from codefest.tasks.search.formats import Ignored, Qrels, Run, gold_items, read_inputs, read_qrels, read_run
from codefest.tasks.search.metrics import search_metrics


class SearchScorer:
    task = "search"

    def read_gold(self, path: Path) -> Qrels:
        return read_qrels(path)

    def read_inputs(self, path: Path) -> PublicItems:
        return read_inputs(path)

    def gold_items(self, gold: Qrels) -> PublicItems:
        return gold_items(gold)

    def read_predictions(
        self, path: Path, items: PublicItems, problems: Problems, limits: Limits, options: ScoringOptions
    ) -> Run:
        ignored = Ignored() if options.lenient else None
        return read_run(path, items, problems, limits, options.ranking_depth, ignored)

    def item_ids(self, gold: Qrels) -> list[str]:
        return list(gold)

    def metrics(self, gold: Qrels, predictions: Run, options: ScoringOptions) -> list[ItemStats]:
        return search_metrics(gold, predictions, options.pres_depth, options.relevance_level)

    def signature(self, options: ScoringOptions) -> dict[str, str]:
        return {
            "ir_measures": ir_measures.__version__,
            "depth": str(options.ranking_depth),
            "pres": str(options.pres_depth),
            "rel": str(options.relevance_level),
        }


SCORER = SearchScorer()
