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


PAD = -2  # no symbol at this position; -1 is a symbol too shallow for the level


def _cut(symbols: list[str], level: str) -> list[str | None]:
    return [truncate(s, level) for s in symbols]


class Encoded:
    """Ranked and gold symbols as integer codes per level, so the measures run as array comparisons."""

    def __init__(self, gold: list[list[str]], predicted: list[list[str]], depth: int = 3) -> None:
        vocabulary = {
            s: i for i, s in enumerate(dict.fromkeys(s for rows in (gold, predicted) for r in rows for s in r))
        }
        self.gold = _matrix(gold, vocabulary)
        self.top = _matrix([r[:depth] for r in predicted], vocabulary, width=depth)
        symbols = list(vocabulary)
        self.tables = {level: _level_table(symbols, level) for level in LEVELS}

    def at(self, codes: np.ndarray, level: str) -> np.ndarray:
        """Codes cut to a level; padding stays padding."""
        table = self.tables[level]
        return np.where(codes >= 0, table[np.maximum(codes, 0)], PAD)


def _matrix(rows: list[list[str]], vocabulary: dict[str, int], width: int | None = None) -> np.ndarray:
    width = width or max(map(len, rows), default=1)
    out = np.full((len(rows), width), PAD, dtype=np.int64)
    for i, row in enumerate(rows):
        codes = [vocabulary[s] for s in row[:width]]
        out[i, : len(codes)] = codes
    return out


def _level_table(symbols: list[str], level: str) -> np.ndarray:
    """symbol code -> code of its truncation (-1 where the symbol is shallower than the level)."""
    cut = [truncate(s, level) for s in symbols]
    ids = {c: i for i, c in enumerate(dict.fromkeys(c for c in cut if c is not None))}
    return np.array([ids[c] if c is not None else -1 for c in cut], dtype=np.int64)


def wipo_measures(encoded: Encoded) -> list[ItemStats]:
    """top_prediction@L, three_guesses@L, all_categories@L for every level L; per item 1 or 0."""
    metrics = []
    for level in LEVELS:
        labels, guesses = encoded.at(encoded.gold, level), encoded.at(encoded.top, level)
        main, first = labels[:, 0], guesses[:, 0]
        top = (first == main) & (main >= 0)
        three = (guesses == main[:, None]).any(axis=1) & (main >= 0)
        every = (labels == first[:, None]).any(axis=1) & (first >= 0)
        metrics += [
            mean_metric(f"top_prediction@{level}", top),
            mean_metric(f"three_guesses@{level}", three),
            mean_metric(f"all_categories@{level}", every),
        ]
    return metrics


def precision_at(encoded: Encoded, k: int) -> ItemStats:
    """Distinct main groups among the first k predictions that are gold main groups, over k."""
    if k > encoded.top.shape[1]:
        raise ValueError(f"precision@{k} needs the symbols encoded to depth {k}")
    labels, guesses = encoded.at(encoded.gold, SET_LEVEL), encoded.at(encoded.top[:, :k], SET_LEVEL)
    hit = (guesses[:, :, None] == labels[:, None, :]).any(axis=2) & (guesses >= 0)
    for j in range(1, guesses.shape[1]):  # a main group predicted twice counts once
        hit[:, j] &= ~(guesses[:, :j] == guesses[:, j : j + 1]).any(axis=1)
    return mean_metric(f"precision@{k}", hit.sum(axis=1) / k)


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
    macro_stats = sparse.hstack([tp, fp, fn]).tocsr()
    if classes < 2:  # scikit-learn takes one column for a binary target and refuses it sparse: the same sums here
        micro = float(_micro_f1(micro_stats.sum(axis=0)))
        macro = float(_macro_f1(np.asarray(macro_stats.sum(axis=0)).ravel(), classes))
    else:
        micro = float(f1_score(y_true, y_pred, average="micro", zero_division=0))
        macro = float(f1_score(y_true, y_pred, average="macro", zero_division=0))
    return [
        ItemStats("f1_micro", micro, micro_stats, _micro_f1),
        ItemStats("f1_macro", macro, macro_stats, lambda sums: _macro_f1(sums, classes)),
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
