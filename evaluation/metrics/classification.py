"""Classification metrics: the WIPO measures (written here), precision@k (written here), F1 (scikit-learn).

The WIPO measures (Fall, Törcsvári, Benzineb, Karetka 2003, 'Automated categorization in the International Patent
Classification', SIGIR Forum 37(1)) compare symbols truncated to a level:
- top prediction: the first predicted symbol is the main symbol;
- three guesses: the main symbol is among the first three predicted;
- all categories: the first predicted symbol is any of the gold symbols (main or further).
Precision@k and F1 compare symbols truncated to the main group, the deepest level the WIPO measures use.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer

from evaluation.metrics.base import ItemStats, mean_metric
from evaluation.symbols import LEVELS, truncate

SET_LEVEL = "group"


def _cut(symbols: list[str], level: str) -> list[str | None]:
    return [truncate(s, level) for s in symbols]


def wipo_measures(gold: list[list[str]], predicted: list[list[str]]) -> list[ItemStats]:
    """top_prediction@L, three_guesses@L, all_categories@L for every level L; per item 1 or 0."""
    metrics = []
    for level in LEVELS:
        top, three, every = (np.zeros(len(gold)) for _ in range(3))
        for i, (labels, ranked) in enumerate(zip(gold, predicted, strict=True)):
            main = truncate(labels[0], level)
            first3 = _cut(ranked[:3], level)
            top[i] = first3[0] is not None and first3[0] == main
            three[i] = main in first3
            every[i] = first3[0] is not None and first3[0] in _cut(labels, level)
        metrics += [
            mean_metric(f"top_prediction@{level}", top),
            mean_metric(f"three_guesses@{level}", three),
            mean_metric(f"all_categories@{level}", every),
        ]
    return metrics


def precision_at(gold: list[list[str]], predicted: list[list[str]], k: int) -> ItemStats:
    """Distinct main groups among the first k predictions that are gold main groups, over k."""
    scores = np.zeros(len(gold))
    for i, (labels, ranked) in enumerate(zip(gold, predicted, strict=True)):
        relevant = set(_cut(labels, SET_LEVEL))
        found = {g for g in _cut(ranked[:k], SET_LEVEL) if g is not None and g in relevant}
        scores[i] = len(found) / k
    return mean_metric(f"precision@{k}", scores)


def f1_measures(gold: list[list[str]], chosen: list[list[str]]) -> list[ItemStats]:
    """Micro and macro F1 (scikit-learn) over main groups, with per-item counts for the bootstrap."""
    gold_sets = [{g for g in _cut(labels, SET_LEVEL) if g} for labels in gold]
    chosen_sets = [{g for g in _cut(labels, SET_LEVEL) if g} for labels in chosen]
    binarizer = MultiLabelBinarizer(sparse_output=True)
    binarizer.fit(gold_sets + chosen_sets)
    y_true = binarizer.transform(gold_sets).tocsr().astype(np.float64)
    y_pred = binarizer.transform(chosen_sets).tocsr().astype(np.float64)
    tp = y_true.multiply(y_pred).tocsr()
    fp, fn = y_pred - tp, y_true - tp
    micro_stats = np.column_stack([np.asarray(m.sum(axis=1)).ravel() for m in (tp, fp, fn)])
    classes = len(binarizer.classes_)
    return [
        ItemStats(
            "f1_micro",
            float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
            micro_stats,
            _micro_f1,
        ),
        ItemStats(
            "f1_macro",
            float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
            sparse.hstack([tp, fp, fn]).tocsr(),
            lambda sums: _macro_f1(sums, classes),
        ),
    ]


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator, dtype=np.float64), where=denominator > 0)


def _micro_f1(sums: np.ndarray) -> np.ndarray:
    return _f1(sums[..., 0], sums[..., 1], sums[..., 2])


def _macro_f1(sums: np.ndarray, classes: int) -> np.ndarray:
    """The mean over the classes that occur (as gold or predicted) in the sample, as scikit-learn averages."""
    tp, fp, fn = sums[..., :classes], sums[..., classes : 2 * classes], sums[..., 2 * classes :]
    occurs = (tp + fp + fn) > 0
    return (_f1(tp, fp, fn) * occurs).sum(axis=-1) / np.maximum(occurs.sum(axis=-1), 1)
