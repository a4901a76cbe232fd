"""The classification scorer: IPC/CPC symbols, ranked, scored with the WIPO measures, precision@k and F1."""

from __future__ import annotations

from pathlib import Path

from codefest.evaluation.metrics.base import ItemStats
from codefest.evaluation.problems import Problems
from codefest.evaluation.reading import Limits, PublicItems
from codefest.evaluation.scorers import ScoringOptions
from codefest.evaluation.signature import library_version
from codefest.tasks.classification.formats import Prediction, gold_items, read_gold, read_inputs, read_predictions
from codefest.tasks.classification.metrics import SET_LEVEL, Encoded, f1_measures, precision_at, wipo_measures


def chosen(prediction: Prediction, options: ScoringOptions) -> list[str]:
    """The predicted set for precision and F1: the top k symbols, or those scored at or above the threshold."""
    if options.threshold is not None and prediction.scores is not None:
        return [s for s, score in zip(prediction.labels, prediction.scores, strict=True) if score >= options.threshold]
    return prediction.labels[: options.top_k or 1]


class ClassificationScorer:
    task = "classification"

    def read_gold(self, path: Path) -> dict[str, list[str]]:
        return read_gold(path)

    def read_inputs(self, path: Path) -> PublicItems:
        return read_inputs(path)

    def gold_items(self, gold: dict[str, list[str]]) -> PublicItems:
        return gold_items(gold)

    def read_predictions(
        self, path: Path, items: PublicItems, problems: Problems, limits: Limits, options: ScoringOptions
    ) -> dict[str, Prediction]:
        return read_predictions(path, items, problems, limits, need_scores=options.threshold is not None)

    def item_ids(self, gold: dict[str, list[str]]) -> list[str]:
        return list(gold)

    def metrics(
        self, gold: dict[str, list[str]], predictions: dict[str, Prediction], options: ScoringOptions
    ) -> list[ItemStats]:
        ids = self.item_ids(gold)
        labels = [gold[i] for i in ids]
        ranked = [predictions[i].labels for i in ids]
        encoded = Encoded(labels, ranked, depth=3)
        if options.threshold is None:  # what chosen() gives, without a call per item
            top = options.top_k or 1
            picked = [symbols[:top] for symbols in ranked]
        else:
            picked = [chosen(predictions[i], options) for i in ids]
        return [
            *wipo_measures(encoded),
            precision_at(encoded, 1),
            precision_at(encoded, 3),
            *f1_measures(labels, picked, encoded.reach),
        ]

    def signature(self, options: ScoringOptions) -> dict[str, str]:
        rule = f"threshold:{options.threshold}" if options.threshold is not None else f"top:{options.top_k}"
        return {"set": rule, "set_level": SET_LEVEL, "sklearn": library_version("scikit-learn")}


SCORER = ClassificationScorer()
