"""Search metrics per topic: MAP, nDCG@10, recall@100, P@10 and RR from ir_measures, and PRES written here.

Every qrels topic is an item, in qrels order, and counts in every mean: a topic the run leaves out scores 0, and so
does a topic whose judgments hold no relevant document (grade >= the relevance level), for every metric alike
(ir_measures gives 0 there too). The relevance level, trec_eval's -l, reaches ir_measures as its own `rel` parameter;
nDCG takes the grades as gains, so the level leaves it unchanged, as in trec_eval. Rankings reach ir_measures with
scores that strictly decrease with position, so that trec_eval's tie breaking by document id never reorders them: the
order decided by the run reader is the one scored.
"""

from __future__ import annotations

from collections.abc import Mapping

import ir_measures
import numpy as np
from ir_measures import AP, RR, P, R, nDCG

from codefest.evaluation.metrics.base import ItemStats, mean_metric

REL = 1  # the least grade that counts as relevant; ir_measures' default `rel` for AP, R, P and RR
PROVIDER = ir_measures.pytrec_eval  # pinned, so another installed provider cannot change the scores


def measures(rel: int = REL) -> dict[str, ir_measures.Measure]:
    """codefest's name -> ir_measures measure, counting grades >= rel as relevant."""
    return {
        "map": AP(rel=rel),
        "ndcg@10": nDCG @ 10,
        "recall@100": R(rel=rel) @ 100,
        "p@10": P(rel=rel) @ 10,
        "rr": RR(rel=rel),
    }


MEASURES = measures()


def search_metrics(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, list[str]], pres_depth: int, rel: int = REL
) -> list[ItemStats]:
    """One statistics row per qrels topic for each metric: the ir_measures ones, then pres@{pres_depth}."""
    topics = list(qrels)
    per_topic = ir_measures_per_topic(qrels, run, rel)
    metrics = [mean_metric(name, np.array([per_topic[name].get(t, 0.0) for t in topics])) for name in MEASURES]
    pres_scores = [pres(run.get(t, []), relevant_docs(qrels[t], rel), pres_depth) for t in topics]
    metrics.append(mean_metric(f"pres@{pres_depth}", np.array(pres_scores)))
    return metrics


def ir_measures_per_topic(
    qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, list[str]], rel: int = REL
) -> dict[str, dict[str, float]]:
    """metric name -> topic -> value, from ir_measures' per-query results."""
    chosen = measures(rel)
    names = {measure: name for name, measure in chosen.items()}
    values: dict[str, dict[str, float]] = {name: {} for name in chosen}
    for result in PROVIDER.iter_calc(list(chosen.values()), as_qrels(qrels), positional_run(run)):
        values[names[result.measure]][result.query_id] = float(result.value)
    return values


def as_qrels(qrels: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    return {topic: dict(grades) for topic, grades in qrels.items()}


def positional_run(run: Mapping[str, list[str]]) -> dict[str, dict[str, float]]:
    """topic -> document -> -position: strictly decreasing scores, so no two documents of a topic tie."""
    scores = [-float(i) for i in range(1, max(map(len, run.values()), default=0) + 1)]  # built once, zipped in C
    return {topic: dict(zip(docs, scores, strict=False)) for topic, docs in run.items() if docs}  # scores: the longest


def relevant_docs(grades: Mapping[str, int], rel: int = REL) -> set[str]:
    return {doc for doc, grade in grades.items() if grade >= rel}


def pres(ranking: list[str], relevant: set[str], n_max: int) -> float:
    """PRES, the Patent Retrieval Evaluation Score (Magdy & Jones, SIGIR 2010), of one topic.

        PRES = 1 - (sum(r_i) / n - (n + 1) / 2) / N_max

    n is the number of relevant documents and r_i the rank of the i-th of them (i = 1..n, best first). The ranks
    of the n_R found in the top N_max are their ranks in the ranking; the others count as ranked right after
    N_max, continuing the numbering: the i-th relevant document, if missed, has r_i = N_max + i for
    i = n_R + 1..n. So all relevant at ranks 1..n gives 1, none in the top N_max gives 0, and for a recall
    R = n_R / n the score lies between n * R**2 / N_max (found at the bottom of the top N_max) and R (found at
    the top), the range Magdy gives (homepages.inf.ed.ac.uk/wmagdy/PRES.htm). When N_max < n the best score is
    N_max / n, the highest recall reachable. A topic without relevant documents scores 0, like every other
    metric here, so that it still counts in the mean.
    """
    if n_max < 1:
        raise ValueError(f"PRES needs N_max >= 1, not {n_max}")
    n = len(relevant)
    if n == 0:
        return 0.0
    found = _found_ranks(ranking[:n_max], relevant)
    n_found = len(found)
    missed = (n - n_found) * n_max + (n * (n + 1) - n_found * (n_found + 1)) // 2  # sum of N_max + i, i > n_R
    return 1.0 - ((sum(found) + missed) / n - (n + 1) / 2) / n_max


def _found_ranks(top: list[str], relevant: set[str]) -> list[int]:
    """1-based ranks of the relevant documents in `top`, each document counted once."""
    seen: set[str] = set()
    ranks = []
    for rank, doc in enumerate(top, start=1):
        if doc in relevant and doc not in seen:
            seen.add(doc)
            ranks.append(rank)
    return ranks
