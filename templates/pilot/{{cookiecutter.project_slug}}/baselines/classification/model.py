"""The baseline: TF-IDF over title and abstract, linear classifiers over IPC main groups, a ranked list per item.

Two linear SVMs share the features. One is multi-class over the main symbol (which group comes first); the other
is multi-label over all symbols (which groups apply at all). Their margins are added, so the main classifier
decides the first guess and the multi-label one fills the further guesses. Symbols are cut to the main group
("H01M 10/02" -> "H01M 10/00"), the deepest level the scorer compares, which gives far more examples per class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import joblib
import numpy as np
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.svm import LinearSVC

from .data import Bundle, Rows

NAME = "tfidf-linear-svm"
FILE = "model.joblib"
ABSENT_MARGIN = -1.0  # main-classifier margin of a group never seen as main: a confident "no" for a linear SVM


def main_group(symbol: str) -> str:
    """'H01M 10/02' -> 'H01M 10/00'; a symbol without a group (a bare subclass) stays as it is."""
    return f"{symbol.split('/')[0].strip()}/00" if "/" in symbol else symbol.strip()


def groups(labels: Iterable[str]) -> list[str]:
    """The distinct main groups of a label list, main first."""
    return list(dict.fromkeys(main_group(s) for s in labels))


def texts(rows: Rows) -> list[str]:
    """Title and abstract in one string; missing fields count as empty."""
    return [f"{title or ''}\n{abstract or ''}" for title, abstract in zip(rows["title"], rows["abstract"], strict=True)]


def ranked(ids: list[str], scores: np.ndarray, classes: list[str], top_k: int) -> list[dict]:
    """The task's prediction records: the top_k classes per row by descending score."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    return [
        {"id": item, "labels": [classes[j] for j in row], "scores": [float(s) for s in scores[i, row]]}
        for i, (item, row) in enumerate(zip(ids, order, strict=True))
    ]


def trivial(bundle: Bundle, split: str, top_k: int = 5) -> list[dict]:
    """The floor any model must beat: train's most frequent main groups (of main symbols), the same for every item."""
    counts = Counter(main_group(labels[0]) for labels in bundle.split("train")["labels"] if labels)
    common = counts.most_common(top_k)
    total = sum(counts.values())
    labels, scores = [s for s, _ in common], [n / total for _, n in common]
    return [{"id": item, "labels": list(labels), "scores": list(scores)} for item in bundle.split(split)["id"]]


class Model:
    """TF-IDF features, a main-symbol SVM plus a multi-label one-vs-rest SVM, both at main-group level."""

    def __init__(
        self,
        min_df: int = 2,
        max_ngram: int = 2,
        c_main: float = 1.0,
        c_labels: float = 1.0,
        labels_weight: float = 1.0,
        top_k: int = 5,
        random_state: int = 0,
    ) -> None:
        self._params: dict[str, object] = {
            "min_df": min_df,
            "max_ngram": max_ngram,
            "c_main": c_main,
            "c_labels": c_labels,
            "labels_weight": labels_weight,
            "top_k": top_k,
            "random_state": random_state,
        }
        self.vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, max_ngram), min_df=min_df)
        self.main = LinearSVC(C=c_main, random_state=random_state)
        self.labels = OneVsRestClassifier(LinearSVC(C=c_labels, random_state=random_state))
        self.binarizer = MultiLabelBinarizer()

    @property
    def params(self) -> dict[str, object]:
        """The hyperparameters, logged to MLflow with the run."""
        return {"model": NAME, "features": "tfidf title+abstract, sublinear, word n-grams", **self._params}

    @property
    def classes(self) -> list[str]:
        """Every main group the model can predict: those seen as any label in train."""
        return [str(c) for c in self.binarizer.classes_]

    def fit(self, bundle: Bundle) -> Model:
        """Learn from the train split only; dev stays for measuring."""
        rows = bundle.split("train")
        features = self.vectorizer.fit_transform(texts(rows))
        label_groups = [groups(labels) for labels in rows["labels"]]
        self.main.fit(features, [g[0] for g in label_groups])
        self.labels.fit(features, self.binarizer.fit_transform(label_groups))
        return self

    def scores(self, features: csr_matrix) -> np.ndarray:
        """Main margin + weight x multi-label margin, one column per class of `self.classes`."""
        labels = self.labels.decision_function(features).reshape(features.shape[0], -1)
        main = self.main.decision_function(features)
        if main.ndim == 1:  # a binary SVM gives one margin, for its second class
            main = np.column_stack([-main, main])
        combined = np.full_like(labels, ABSENT_MARGIN)
        columns = {c: j for j, c in enumerate(self.classes)}
        combined[:, [columns[c] for c in self.main.classes_]] = main
        return combined + float(self._params["labels_weight"]) * labels

    def predict(self, bundle: Bundle, split: str) -> list[dict]:
        """One ranked prediction per row of the split, in the split's order."""
        rows = bundle.split(split)
        features = self.vectorizer.transform(texts(rows))
        return ranked(list(rows["id"]), self.scores(features), self.classes, int(self._params["top_k"]))

    def save(self, folder: Path) -> None:
        """One joblib file: the fitted vectorizer and classifiers with the parameters."""
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, folder / FILE)

    @classmethod
    def load(cls, folder: Path) -> Model:
        """The model `save` wrote; only load files you trust (joblib unpickles)."""
        model = joblib.load(folder / FILE)
        if not isinstance(model, cls):
            raise TypeError(f"{folder / FILE} holds a {type(model).__name__}, not a {cls.__name__}")
        return model
