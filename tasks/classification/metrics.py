"""Classification metrics: the WIPO measures (written here), precision@k (written here), F1 (scikit-learn).

The WIPO measures (Fall, Törcsvári, Benzineb, Karetka 2003, 'Automated categorization in the International Patent
Classification', SIGIR Forum 37(1)) compare the categories of a level: the predicted symbols are truncated to the
level and repeats removed, keeping the order, so that 'H04L 1/00, H04L 5/00, H04W 4/00' guesses H04L then H04W at
subclass level. A symbol shallower than the level is a guess that matches nothing there.
- top prediction: the first predicted category is the main symbol's;
- three guesses: the main symbol's category is among the first three predicted;
- all categories: the first predicted category is any gold symbol's (main or further).
Precision@k takes the first k distinct predicted main groups the same way; F1 compares sets of main groups.
A metric at a level that no gold label reaches is not computable (see `symbols.Reach`): it is
reported with its reason and NaN, never as a 0 that no submission could improve.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from codefest.evaluation.metrics.base import ItemStats, mean_metric
from codefest.tasks.classification.symbols import LEVELS, SET_LEVEL, Reach, truncate

if TYPE_CHECKING:  # scipy and scikit-learn are imported by the F1 functions alone: see f1_measures
    from scipy import sparse

__all__ = ["SET_LEVEL", "Encoded", "f1_measures", "precision_at", "wipo_measures"]

PAD = -2  # no symbol at this position; -1 is a symbol too shallow for the level


class Encoded:
    """Ranked and gold symbols as integer codes per level, so the measures run as array comparisons."""

    def __init__(self, gold: list[list[str]], predicted: list[list[str]], depth: int = 3) -> None:
        vocabulary = {
            s: i for i, s in enumerate(dict.fromkeys(s for rows in (gold, predicted) for r in rows for s in r))
        }
        self.depth = depth
        self.reach = Reach.of(gold)
        self.gold = _matrix(gold, vocabulary)
        self.predicted = _matrix(predicted, vocabulary)
        symbols = list(vocabulary)
        self.tables = {level: _level_table(symbols, level) for level in LEVELS}
        self._guesses: dict[str, np.ndarray] = {}

    def at(self, codes: np.ndarray, level: str) -> np.ndarray:
        """Codes cut to a level; padding stays padding."""
        table = self.tables[level]
        return np.where(codes >= 0, table[np.maximum(codes, 0)], PAD)

    def guesses(self, level: str) -> np.ndarray:
        """The first `depth` distinct predicted categories of a level, per item, best first."""
        if level not in self._guesses:
            self._guesses[level] = first_distinct(self.at(self.predicted, level), self.depth)
        return self._guesses[level]


def first_distinct(codes: np.ndarray, depth: int) -> np.ndarray:
    """Per row, the first `depth` entries that do not repeat an earlier category; -1 (too shallow) never repeats.

    `depth` passes over the matrix: each takes a row's first remaining entry and drops its later repeats.
    """
    rest, rows = codes.copy(), np.arange(len(codes))
    out = np.full((len(codes), depth), PAD, dtype=np.int64)
    if rest.shape[1] == 0:
        return out
    for j in range(depth):
        position = (rest != PAD).argmax(axis=1)
        out[:, j] = rest[rows, position]
        rest[rows, position] = PAD
        rest[(rest == out[:, j : j + 1]) & (out[:, j : j + 1] >= 0)] = PAD
    return out


def _matrix(rows: list[list[str]], vocabulary: dict[str, int], width: int | None = None) -> np.ndarray:
    """Each row's codes, left-aligned and padded; filled in one scatter rather than a numpy call per row."""
    width = width or max(map(len, rows), default=1)
    out = np.full((len(rows), width), PAD, dtype=np.int64)
    lengths = np.minimum(np.fromiter(map(len, rows), dtype=np.int64, count=len(rows)), width)
    codes = np.fromiter((vocabulary[s] for row in rows for s in row[:width]), dtype=np.int64, count=int(lengths.sum()))
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    out[np.repeat(np.arange(len(rows)), lengths), np.arange(len(codes)) - starts] = codes
    return out


def _level_table(symbols: list[str], level: str) -> np.ndarray:
    """symbol code -> code of its truncation (-1 where the symbol is shallower than the level)."""
    cut = [truncate(s, level) for s in symbols]
    ids = {c: i for i, c in enumerate(dict.fromkeys(c for c in cut if c is not None))}
    return np.array([ids[c] if c is not None else -1 for c in cut], dtype=np.int64)


def not_computable(name: str, reason: str, n: int) -> ItemStats:
    """A metric the gold labels cannot support: NaN with its reason, on any subset of the items."""
    return ItemStats(name, float("nan"), np.zeros((n, 1)), _nan, reason=reason)


def _nan(sums: np.ndarray) -> np.ndarray:
    return np.full(sums.shape[:-1], np.nan)


def _measure(encoded: Encoded, name: str, scores: np.ndarray) -> ItemStats:
    reason = encoded.reach.unreached(name)
    return mean_metric(name, scores) if reason is None else not_computable(name, reason, len(scores))


def wipo_measures(encoded: Encoded) -> list[ItemStats]:
    """top_prediction@L, three_guesses@L, all_categories@L for every level L; per item 1 or 0."""
    metrics = []
    for level in LEVELS:
        labels, guesses = encoded.at(encoded.gold, level), encoded.guesses(level)
        main, first = labels[:, 0], guesses[:, 0]
        top = (first == main) & (main >= 0)
        three = (guesses == main[:, None]).any(axis=1) & (main >= 0)
        every = (labels == first[:, None]).any(axis=1) & (first >= 0)
        metrics += [
            _measure(encoded, f"top_prediction@{level}", top),
            _measure(encoded, f"three_guesses@{level}", three),
            _measure(encoded, f"all_categories@{level}", every),
        ]
    return metrics


def precision_at(encoded: Encoded, k: int) -> ItemStats:
    """Gold main groups among the first k distinct predicted main groups, over k."""
    if k > encoded.depth:
        raise ValueError(f"precision@{k} needs the symbols encoded to depth {k}")
    labels, guesses = encoded.at(encoded.gold, SET_LEVEL), encoded.guesses(SET_LEVEL)[:, :k]
    hit = (guesses[:, :, None] == labels[:, None, :]).any(axis=2) & (guesses >= 0)
    return _measure(encoded, f"precision@{k}", hit.sum(axis=1) / k)


def f1_measures(gold: list[list[str]], chosen: list[list[str]], reach: Reach | None = None) -> list[ItemStats]:
    """Micro and macro F1 (scikit-learn) over main groups, with per-item counts for the bootstrap.

    `reach`: Reach.of(gold), when the caller has it already. scipy and scikit-learn are imported here, not with the
    module: the scorer is loaded to sign every leaderboard, which computes no metric, and scikit-learn alone (with
    the pandas and scipy.stats it loads) costs seconds of CPU.
    """
    from scipy import sparse

    reason = (reach or Reach.of(gold)).unreached("f1_micro")
    if reason is not None:
        return [not_computable(name, reason, len(gold)) for name in ("f1_micro", "f1_macro")]
    group = _groups(gold, chosen)  # each symbol's main group, looked up rather than cut again for every item
    names = sorted({g for g in group.values() if g})  # the columns in the order scikit-learn's binarizer gives
    column = {name: i for i, name in enumerate(names)}
    code = {symbol: column[g] for symbol, g in group.items() if g}  # a symbol shallower than a group: no column
    classes = len(names)
    y_true, y_pred = (_indicator(rows, code, classes) for rows in (gold, chosen))
    micro = float(_sklearn_f1(y_true, y_pred, "micro"))
    macro = float(_sklearn_f1(y_true, y_pred, "macro"))
    tp = y_true.multiply(y_pred).tocsr()
    fp, fn = y_pred - tp, y_true - tp
    micro_stats = np.column_stack([np.asarray(m.sum(axis=1)).ravel() for m in (tp, fp, fn)])
    macro_stats = sparse.hstack([tp, fp, fn]).tocsr()
    return [
        ItemStats("f1_micro", micro, micro_stats, _micro_f1),
        ItemStats("f1_macro", macro, macro_stats, lambda sums: _macro_f1(sums, classes)),
    ]


def _indicator(rows: list[list[str]], code: dict[str, int], classes: int) -> sparse.csr_matrix:
    """items x classes, 1.0 where an item has a symbol of the class: what MultiLabelBinarizer gives for the sets
    of main groups, built from integer codes in one pass rather than a set per item."""
    from scipy import sparse

    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    codes = np.fromiter((code.get(s, -1) for row in rows for s in row), dtype=np.int64, count=int(lengths.sum()))
    items = np.repeat(np.arange(len(rows)), lengths)
    known = codes >= 0
    matrix = sparse.csr_matrix(
        (np.ones(int(known.sum())), (items[known], codes[known])), shape=(len(rows), classes), dtype=np.float64
    )
    matrix.sum_duplicates()  # two symbols of one main group: the group once
    matrix.data[:] = 1.0
    return matrix


def _groups(*rows: list[list[str]]) -> dict[str, str | None]:
    """symbol -> its main group (None if shallower), for every symbol of the rows."""
    return {symbol: truncate(symbol, SET_LEVEL) for symbol in {s for each in rows for labels in each for s in labels}}


def _sklearn_f1(y_true: sparse.csr_matrix, y_pred: sparse.csr_matrix, average: str) -> float:
    """scikit-learn's multilabel F1 over the real classes.

    One empty column is appended, left out by `labels`, so that a single main group is still a multilabel target:
    scikit-learn reads a one-column target as binary, which it refuses sparse.
    """
    from scipy import sparse
    from sklearn.metrics import f1_score

    classes = y_true.shape[1]
    empty = sparse.csr_matrix((y_true.shape[0], 1))
    padded = [sparse.hstack([m, empty]).tocsr() for m in (y_true, y_pred)]
    return f1_score(*padded, labels=list(range(classes)), average=average, zero_division=0)


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
