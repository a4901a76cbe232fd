"""The three pilot tasks and the metrics each is scored with, registered once for the whole framework."""

from __future__ import annotations

from dataclasses import dataclass

from codefest.core.registry import Registry


@dataclass(frozen=True)
class TaskInfo:
    """What a task's data looks like: which columns a pilot gets, and which stay in the vault for the test set."""

    name: str
    inputs: tuple[str, ...]
    labels: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class MetricInfo:
    name: str
    task: str
    higher_is_better: bool
    description: str


TASKS: Registry[TaskInfo] = Registry("task")
METRICS: Registry[MetricInfo] = Registry("metric")

TASKS.add(
    "classification",
    TaskInfo(
        "classification",
        ("id", "title", "abstract"),
        ("labels",),
        "assign IPC/CPC symbols (main symbol first) to a patent text",
    ),
)
TASKS.add(
    "translation",
    TaskInfo("translation", ("id", "source"), ("reference",), "translate patent sentences"),
)
TASKS.add(
    "search",
    TaskInfo(
        "search",
        ("id", "title", "abstract"),
        ("qrels",),
        "rank the collection's documents for each topic (a new application)",
    ),
)

_LEVELS = ("section", "class", "subclass", "group")
_WIPO = {
    "top_prediction": "the top prediction is the main symbol",
    "three_guesses": "the main symbol is among the top three predictions",
    "all_categories": "the top prediction is any of the gold symbols",
}


def _metric(name: str, task: str, description: str, higher_is_better: bool = True) -> None:
    METRICS.add(name, MetricInfo(name, task, higher_is_better, description))


for _measure, _text in _WIPO.items():
    for _level in _LEVELS:
        _metric(f"{_measure}@{_level}", "classification", f"{_text}, truncated to the {_level} (Fall et al. 2003)")
_metric("precision@1", "classification", "precision of the top symbol")
_metric("precision@3", "classification", "precision of the top three symbols")
_metric("f1_micro", "classification", "micro-averaged F1 over the predicted set")
_metric("f1_macro", "classification", "macro-averaged F1 over the predicted set")
_metric("bleu", "translation", "sacrebleu BLEU, tokenizer by target language")
_metric("chrf", "translation", "sacrebleu chrF")
_metric("ter", "translation", "sacrebleu TER (edits per reference word)", higher_is_better=False)
_metric("map", "search", "mean average precision (ir_measures)")
_metric("ndcg@10", "search", "nDCG at 10 with graded relevance (ir_measures)")
_metric("recall@100", "search", "recall at 100 (ir_measures)")
_metric("p@10", "search", "precision at 10 (ir_measures)")
_metric("rr", "search", "reciprocal rank of the first relevant document (ir_measures)")
_metric("pres@100", "search", "patent retrieval evaluation score at 100 (Magdy & Jones 2010)")


def metrics_for(task: str) -> list[str]:
    return [name for name in METRICS if METRICS.get(name).task == task]
