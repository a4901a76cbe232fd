"""The translation scorer: JSONL references and translations, scored by sacrebleu's BLEU, chrF and TER."""

from __future__ import annotations

from pathlib import Path

import sacrebleu

from codefest.evaluation.metrics.base import ItemStats
from codefest.evaluation.problems import Problems
from codefest.evaluation.reading import Limits, PublicItems
from codefest.evaluation.scorers import ScoringOptions
from codefest.tasks.translation.formats import (
    TranslationGold,
    gold_items,
    read_gold,
    read_inputs,
    read_predictions,
)
from codefest.tasks.translation.metrics import metric_signatures, tokenizer_for, translation_metrics


class TranslationScorer:
    task = "translation"

    def read_gold(self, path: Path) -> TranslationGold:
        return read_gold(path)

    def read_inputs(self, path: Path) -> PublicItems:
        return read_inputs(path)

    def gold_items(self, gold: TranslationGold) -> PublicItems:
        return gold_items(gold)

    def read_predictions(
        self, path: Path, items: PublicItems, problems: Problems, limits: Limits, options: ScoringOptions
    ) -> dict[str, str]:
        return read_predictions(path, items, problems, limits)

    def item_ids(self, gold: TranslationGold) -> list[str]:
        return list(gold.ids)

    def metrics(self, gold: TranslationGold, predictions: dict[str, str], options: ScoringOptions) -> list[ItemStats]:
        """Rows in gold order; the harness only gets here once every id has a translation."""
        hypotheses = [predictions[item_id] for item_id in gold.ids]
        return translation_metrics(hypotheses, gold.streams(), options.target_language)

    def signature(self, options: ScoringOptions) -> dict[str, str]:
        """sacrebleu's own signatures (without nrefs, which the reference file decides), so scores are reproducible
        with the sacrebleu command line."""
        return {
            "sacrebleu": sacrebleu.__version__,
            "tok": tokenizer_for(options.target_language),
            **metric_signatures(options.target_language),
        }


SCORER = TranslationScorer()
