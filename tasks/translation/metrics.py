"""BLEU, chrF and TER as sacrebleu computes them, turned into per-segment statistics for the bootstrap.

sacrebleu's own paired bootstrap resamples the per-segment statistics of `_extract_corpus_statistics` and scores
their sums with `_compute_score_from_stats`; we do the same, so a resampled corpus is scored exactly as sacrebleu
would score it, and the point value is sacrebleu's corpus score.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import cast

import numpy as np
from sacrebleu.metrics import BLEU, CHRF, TER
from sacrebleu.metrics.base import Metric

from codefest.core.errors import CodefestError
from codefest.evaluation.metrics.base import ItemStats

DEFAULT_TOKENIZER = "13a"
TOKENIZERS = {"ja": "ja-mecab", "zh": "zh", "ko": "ko-mecab"}  # primary language subtag -> BLEU tokenizer
_EXTRAS = {"ja-mecab": "ja", "ko-mecab": "ko"}  # tokenizers that need `pip install "sacrebleu[extra]"`
_INTEGER_STATS = ("bleu", "chrf")  # counts; TER's second column is an average reference length

References = Sequence[Sequence[str | None]]  # sacrebleu's reference streams: streams[j][i] is item i's j-th reference


def tokenizer_for(target_language: str) -> str:
    """BLEU's tokenizer for a language tag; 'zh-Hant', 'ja_JP' and 'KO' count as their primary language."""
    primary = target_language.replace("_", "-").split("-")[0].strip().lower()
    return TOKENIZERS.get(primary, DEFAULT_TOKENIZER)


def sacrebleu_metrics(target_language: str) -> dict[str, Metric]:
    """The three metrics with sacrebleu's defaults, BLEU tokenized for the target language."""
    tokenize = tokenizer_for(target_language)
    try:
        bleu = BLEU(tokenize=tokenize)
    except RuntimeError as err:  # sacrebleu defers MeCab's ImportError to here
        if tokenize not in _EXTRAS:
            raise
        extra = _EXTRAS[tokenize]
        raise CodefestError(
            f"BLEU for target language '{target_language}' needs the '{tokenize}' tokenizer, "
            "whose MeCab dependencies are not installed",
            f'pip install "sacrebleu[{extra}]"',
        ) from err
    return {"bleu": bleu, "chrf": CHRF(), "ter": TER()}


def metric_signatures(target_language: str, num_refs: int | None = None) -> dict[str, str]:
    """name -> sacrebleu signature; without `num_refs`, the data-dependent 'nrefs' field is left out."""
    signatures = {}
    for name, metric in sacrebleu_metrics(target_language).items():
        metric.num_refs = -1 if num_refs is None else num_refs  # sacrebleu sets it when it reads references
        signature = metric.get_signature()
        if num_refs is None:
            signature.update("nrefs", None)  # None fields are not printed
        signatures[name] = signature.format()
    return signatures


def translation_metrics(hypotheses: list[str], references: References, target_language: str) -> list[ItemStats]:
    """BLEU, chrF and TER of a corpus; `references` are streams, None where an item has fewer references."""
    _check_streams(hypotheses, references)
    metrics = sacrebleu_metrics(target_language)
    segments = _segment_statistics(metrics, hypotheses, references, target_language)
    return [_item_stats(name, metric, segments[name]) for name, metric in metrics.items()]


PARALLEL_SEGMENTS = 2000  # from this many segments on, TER's statistics are worth a second process


def _segment_statistics(
    metrics: dict[str, Metric], hypotheses: list[str], references: References, target_language: str
) -> dict[str, list[list[float]]]:
    """Each metric's per-segment statistics, as sacrebleu's `corpus_score` computes them.

    TER takes about half of the time; where a second CPU is free and forking is safe, a forked process computes it
    while this one computes BLEU and chrF. The same sacrebleu code computes the same numbers either way.
    """
    helper = _helper() if len(hypotheses) >= PARALLEL_SEGMENTS and "ter" in metrics else None
    if helper is None:
        return {name: _extract(metric, hypotheses, references) for name, metric in metrics.items()}
    with helper:
        try:
            ter: Future[list[list[float]]] | None = helper.submit(_extract_ter, target_language, hypotheses, references)
        except (OSError, RuntimeError, AssertionError):  # no process to be had (limits, a daemon): this one does it
            ter = None
        stats = {name: _extract(metric, hypotheses, references) for name, metric in metrics.items() if name != "ter"}
        try:
            stats["ter"] = ter.result() if ter is not None else _extract(metrics["ter"], hypotheses, references)
        except BrokenProcessPool:  # the helper died (out of memory, killed): this one does it
            stats["ter"] = _extract(metrics["ter"], hypotheses, references)
    return {name: stats[name] for name in metrics}


def _helper() -> ProcessPoolExecutor | None:
    """One forked process, where a second CPU is there to use and forking is safe (no other thread could hold a lock
    that the child would inherit locked)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if cpus < 2 or threading.active_count() > 1 or multiprocessing.current_process().daemon:
        return None
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))


def _extract_ter(target_language: str, hypotheses: list[str], references: References) -> list[list[float]]:
    return _extract(sacrebleu_metrics(target_language)["ter"], hypotheses, references)


def _extract(metric: Metric, hypotheses: list[str], references: References) -> list[list[float]]:
    """The body of `corpus_score` (n_bootstrap=1) up to the segment statistics it computes and throws away."""
    refs = cast(Sequence[Sequence[str]], references)  # sacrebleu reads None as a missing reference; its hints say str
    metric._check_corpus_score_args(hypotheses, refs)
    return cast(list[list[float]], metric._extract_corpus_statistics(hypotheses, refs))


def _check_streams(hypotheses: list[str], references: References) -> None:
    """sacrebleu zips streams and silently truncates to the shortest; a length mismatch is a bug, not data."""
    if not hypotheses:
        raise ValueError("no hypotheses to score")
    lengths = {len(stream) for stream in references}
    if lengths != {len(hypotheses)}:
        raise ValueError(f"{len(hypotheses)} hypotheses but reference streams of lengths {sorted(lengths)}")
    if any(all(stream[i] is None for stream in references) for i in range(len(hypotheses))):
        raise ValueError("every item needs at least one reference")


def _item_stats(name: str, metric: Metric, segments: list[list[float]]) -> ItemStats:
    """The rest of `corpus_score`'s body: the corpus score from the segment statistics, which are kept."""
    value = float(metric._aggregate_and_compute(segments).score)
    stats = np.asarray(segments, dtype=np.float64)
    return ItemStats(
        name=name,
        value=value,
        stats=stats,
        value_of=_scorer(metric, name in _INTEGER_STATS),
        per_item=_sentence_scores(name, metric, stats),
    )


def _scorer(metric: Metric, integer: bool) -> Callable[[np.ndarray], np.ndarray]:
    """value_of: sacrebleu's score of each row of summed statistics."""

    def value_of(sums: np.ndarray) -> np.ndarray:
        sums = np.asarray(sums, dtype=np.float64)
        rows = sums.reshape(-1, sums.shape[-1])
        scores = [metric._compute_score_from_stats(_as_stats(row, integer)).score for row in rows]
        return np.asarray(scores, dtype=np.float64).reshape(sums.shape[:-1])

    return value_of


def _as_stats(row: np.ndarray, integer: bool) -> list[float] | list[int]:
    """Python numbers as sacrebleu sums them; counts summed in float64 are exact integers below 2**53."""
    return [round(x) for x in row.tolist()] if integer else row.tolist()


def _sentence_scores(name: str, metric: Metric, stats: np.ndarray) -> np.ndarray:
    """Each segment's own score, equal to sacrebleu's sentence_bleu / sentence_chrf / sentence_ter.

    A segment's statistics are what `sentence_score` computes, so scoring the rows costs no tokenizing. Sentence
    BLEU uses effective order, as `sacrebleu.sentence_bleu` does, else most short segments would score near 0.
    """
    if name == "bleu":
        bleu = cast(BLEU, metric)  # the metric named bleu is sacrebleu's BLEU
        return np.array([_sentence_bleu(bleu, [round(x) for x in row.tolist()]) for row in stats], dtype=np.float64)
    integer = name in _INTEGER_STATS
    return np.array([metric._compute_score_from_stats(_as_stats(row, integer)).score for row in stats])


def _sentence_bleu(bleu: BLEU, row: list[int]) -> float:
    order = bleu.max_ngram_order
    return BLEU.compute_bleu(
        correct=row[2 : 2 + order],
        total=row[2 + order :],
        sys_len=row[0],
        ref_len=row[1],
        smooth_method=bleu.smooth_method,
        smooth_value=bleu.smooth_value,
        effective_order=True,
        max_ngram_order=order,
    ).score
