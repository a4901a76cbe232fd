"""Search scoring: run and qrels reading, the ordering rule, ir_measures agreement, PRES by hand, validation."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import ir_measures
import numpy as np
import pytest

from codefest.core.errors import CodefestError
from codefest.evaluation.bootstrap import confidence_intervals
from codefest.evaluation.problems import InvalidSubmission, Problems
from codefest.evaluation.reading import Limits, PublicItems
from codefest.evaluation.scorers import ScoringOptions, scorer_for
from codefest.evaluation.scoring import validated_items
from codefest.tasks.search.formats import read_qrels, read_run
from codefest.tasks.search.metrics import MEASURES, REL, pres, search_metrics
from codefest.tasks.search.scorer import SearchScorer

CLI_MEASURES = "AP nDCG@10 R@100 P@10 RR"
CLI_NAMES = {"AP": "map", "nDCG@10": "ndcg@10", "R@100": "recall@100", "P@10": "p@10", "RR": "rr"}


def write(folder: Path, name: str, content: str | bytes) -> Path:
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def by_name(metrics: list) -> dict:
    return {m.name: m for m in metrics}


def read(path: Path, topics: set[str], depth: int = 1000) -> dict[str, list[str]]:
    problems = Problems(path)
    run = read_run(path, topics, problems, Limits(), depth)
    problems.check()
    return run


# ------------------------------------------------------------------------------------------------------------ PRES


@pytest.mark.parametrize(
    ("ranking", "relevant", "n_max", "expected"),
    [
        # n=2 at ranks 1 and 3, N_max=10: sum r = 4, 4/2 - 3/2 = 0.5, 1 - 0.5/10 = 0.95
        (["r1", "x", "r2"], {"r1", "r2"}, 10, 0.95),
        # n=2, one at rank 5, the other missed: its r = N_max + 2 = 12; sum = 17, 17/2 - 1.5 = 7, 1 - 7/10 = 0.3
        (["a", "b", "c", "d", "r1"], {"r1", "r2"}, 10, 0.3),
        # none found, n=3: r = 11, 12, 13; 36/3 - 2 = 10, 1 - 10/10 = 0
        (["a", "b"], {"r1", "r2", "r3"}, 10, 0.0),
        # all at the top, n=3: r = 1, 2, 3; 6/3 - 2 = 0, 1 - 0 = 1
        (["r1", "r2", "r3", "a"], {"r1", "r2", "r3"}, 10, 1.0),
        # N_max=2 < n=5, both top places relevant: r = 1, 2, then 2+3, 2+4, 2+5; 21/5 - 3 = 1.2, 1 - 1.2/2 = 0.4,
        # the best reachable (recall N_max/n = 2/5)
        (["r1", "r2", "r3", "r4", "r5"], {"r1", "r2", "r3", "r4", "r5"}, 2, 0.4),
        # a relevant document below N_max counts as missed: n=1, r = 10 + 1 = 11, 11 - 1 = 10, 1 - 10/10 = 0
        ([f"x{i}" for i in range(10)] + ["r1"], {"r1"}, 10, 0.0),
        # n=1 at rank N_max=10: 10 - 1 = 9, 1 - 9/10 = 0.1
        ([f"x{i}" for i in range(9)] + ["r1"], {"r1"}, 10, 0.1),
        # recall 1/2 at best (ranks 1, 2; missed r = 13, 14): 30/4 - 2.5 = 5, 1 - 5/10 = 0.5 = R
        (["r1", "r2"], {"r1", "r2", "r3", "r4"}, 10, 0.5),
        # recall 1/2 at worst (ranks 9, 10; missed 13, 14): 46/4 - 2.5 = 9, 1 - 9/10 = 0.1 = n R^2 / N_max = 4/4/10
        ([f"x{i}" for i in range(8)] + ["r1", "r2"], {"r1", "r2", "r3", "r4"}, 10, 0.1),
        # no relevant document: 0 by definition, and the topic still counts in the mean
        (["a", "b"], set(), 10, 0.0),
    ],
)
def test_pres_by_hand(ranking: list[str], relevant: set[str], n_max: int, expected: float) -> None:
    assert pres(ranking, relevant, n_max) == pytest.approx(expected)


def test_pres_rejects_a_depth_below_one() -> None:
    with pytest.raises(ValueError, match="N_max"):
        pres(["a"], {"a"}, 0)


# ---------------------------------------------------------------------------------- agreement with ir_measures


def random_collection(seed: int = 7, topics: int = 6) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    """Graded qrels (grades -1..3) and a run of 150 documents a topic, best first, without ties."""
    rng = np.random.default_rng(seed)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, list[str]] = {}
    for t in range(topics):
        topic = f"T{t:02d}"
        pool = [f"D{t}-{d:03d}" for d in range(200)]
        judged = rng.choice(200, size=40, replace=False)
        qrels[topic] = {pool[d]: int(g) for d, g in zip(judged, rng.integers(-1, 4, size=40), strict=True)}
        run[topic] = [pool[d] for d in rng.permutation(200)[:150]]
    return qrels, run


def scored(run: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Distinct scores, highest first: no ties for trec_eval to break."""
    return {t: {doc: 1000.0 - i * 1.5 for i, doc in enumerate(docs)} for t, docs in run.items()}


def test_relevance_threshold_is_ir_measures_default() -> None:
    assert REL == 1
    assert all(measure["rel"] == REL for name, measure in MEASURES.items() if name != "ndcg@10")


def test_each_metric_equals_ir_measures_called_directly() -> None:
    qrels, run = random_collection()
    ours = by_name(search_metrics(qrels, run, 100))
    direct: dict[str, dict[str, float]] = {name: {} for name in MEASURES}
    names = {measure: name for name, measure in MEASURES.items()}
    for result in ir_measures.iter_calc(list(MEASURES.values()), qrels, scored(run)):
        direct[names[result.measure]][result.query_id] = result.value
    for name in MEASURES:
        assert ours[name].per_item == pytest.approx([direct[name][t] for t in qrels], abs=1e-9)
    aggregate = ir_measures.calc_aggregate(list(MEASURES.values()), qrels, scored(run))
    for name, measure in MEASURES.items():
        assert ours[name].value == pytest.approx(aggregate[measure], abs=1e-12)


def test_graded_judgments_by_hand() -> None:
    qrels = {"t": {"a": 2, "b": 1, "c": 0, "d": -1}}
    metrics = by_name(search_metrics(qrels, {"t": ["c", "d", "a", "b"]}, 100))
    assert metrics["p@10"].value == pytest.approx(0.2)  # a and b relevant (grade >= 1), c and d not: 2/10
    assert metrics["rr"].value == pytest.approx(1 / 3)  # first relevant at rank 3
    assert metrics["map"].value == pytest.approx((1 / 3 + 2 / 4) / 2)  # precision 1/3 at a, 2/4 at b; n = 2
    assert metrics["recall@100"].value == pytest.approx(1.0)
    # gains are the grades, a negative grade gains nothing: DCG = 2/log2(4) + 1/log2(5), ideal = 2/log2(2) + 1/log2(3)
    ndcg = (2 / math.log2(4) + 1 / math.log2(5)) / (2 + 1 / math.log2(3))
    assert metrics["ndcg@10"].value == pytest.approx(ndcg)
    # PRES: ranks 3 and 4, n = 2, N_max = 100: 7/2 - 3/2 = 2, 1 - 2/100 = 0.98
    assert metrics["pres@100"].value == pytest.approx(0.98)


def test_each_metric_equals_the_ir_measures_command_line(tmp_path: Path) -> None:
    qrels, run = random_collection(seed=11)
    run.pop("T03")  # a topic left out scores 0 for both
    qrels_path = write(
        tmp_path, "qrels.txt", "".join(f"{t} 0 {d} {g}\n" for t, docs in qrels.items() for d, g in docs.items())
    )
    lines = [
        f"{t} Q0 {d} {i + 1} {s:.3f} sys\n" for t, docs in scored(run).items() for i, (d, s) in enumerate(docs.items())
    ]
    run_path = write(tmp_path, "run.txt", "".join(lines))
    gold = read_qrels(qrels_path)
    ours = by_name(search_metrics(gold, read(run_path, set(gold)), 100))

    command = [str(Path(sys.executable).with_name("ir_measures")), str(qrels_path), str(run_path), CLI_MEASURES]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cli = dict(line.split("\t") for line in output.strip().splitlines())
    assert set(cli) == set(CLI_NAMES)
    for measure, name in CLI_NAMES.items():
        assert f"{ours[name].value:.4f}" == cli[measure], name

    by_query = subprocess.run([*command, "--by_query", "-o", "jsonl"], capture_output=True, text=True, check=True)
    for row in map(json.loads, by_query.stdout.splitlines()):
        if row["query_id"] != "all":
            topic = list(gold).index(row["query_id"])
            assert ours[CLI_NAMES[row["measure"]]].per_item[topic] == pytest.approx(row["value"], abs=5e-5)


# ------------------------------------------------------------------------------------ ordering and missing topics


def test_ties_keep_rank_then_file_order_never_document_ids(tmp_path: Path) -> None:
    # all three tie on score; the rank column says m, b, y although the file lists y, b, m
    path = write(tmp_path, "run.txt", "t Q0 y 3 1.0 s\nt Q0 b 2 1.0 s\nt Q0 m 1 1.0 s\n")
    run = read(path, {"t"})
    assert run == {"t": ["m", "b", "y"]}
    qrels = {"t": {"m": 1}}
    # in our order m is first: AP = 1; by id ascending (b, m, y) or descending (y, m, b) m is second: AP = 1/2
    assert by_name(search_metrics(qrels, run, 100))["map"].value == pytest.approx(1.0)
    trec_eval_ties = ir_measures.calc_aggregate([ir_measures.AP], qrels, {"t": {"m": 1.0, "b": 1.0, "y": 1.0}})
    assert trec_eval_ties[ir_measures.AP] == pytest.approx(0.5)  # what scoring the raw scores would have given


def test_score_first_then_rank_then_file_order(tmp_path: Path) -> None:
    lines = [
        "t Q0 z 5 2.0 s",  # equal score and rank with q: file order keeps z before q
        "t Q0 q 5 2.0 s",
        "t Q0 a 1 0.5 s",  # best rank but lowest score: last
        "t Q0 k 9 3.0 s",  # highest score first, whatever its rank
        "t Q0 c 4 2.0 s",  # equal score, better rank than z and q
    ]
    assert read(write(tmp_path, "run.txt", "\n".join(lines) + "\n"), {"t"}) == {"t": ["k", "c", "z", "q", "a"]}


def test_jsonl_ranking_is_kept_as_given(tmp_path: Path) -> None:
    path = write(tmp_path, "run.jsonl", '\n{"id": "t", "ranking": ["z", "a", "m"]}\n{"id": "u", "ranking": ["b"]}\n')
    assert read(path, {"t", "u", "v"}) == {"t": ["z", "a", "m"], "u": ["b"]}


def test_a_missing_topic_scores_zero_and_lowers_the_mean() -> None:
    qrels = {"t1": {"a": 1, "b": 0}, "t2": {"c": 1}}
    metrics = by_name(search_metrics(qrels, {"t1": ["a", "b"]}, 10))
    # t1: a relevant at rank 1, so AP = RR = nDCG@10 = recall@100 = PRES = 1 and P@10 = 1/10; t2 is absent: all 0
    for name in ("map", "rr", "ndcg@10", "recall@100", "pres@10"):
        assert list(metrics[name].per_item) == [1.0, 0.0], name
        assert metrics[name].value == pytest.approx(0.5), name  # (1 + 0) / 2
    assert metrics["p@10"].value == pytest.approx(0.05)  # (0.1 + 0) / 2


def test_a_topic_without_relevant_documents_scores_zero_everywhere() -> None:
    metrics = search_metrics({"t1": {"a": 1}, "t2": {"b": 0, "c": -1}}, {"t1": ["a"], "t2": ["b", "c"]}, 10)
    for metric in metrics:
        assert metric.per_item[1] == 0.0, metric.name
        assert len(metric.per_item) == 2


def test_bootstrap_intervals_contain_the_value() -> None:
    qrels, run = random_collection(seed=3, topics=30)
    metrics = search_metrics(qrels, run, 100)
    intervals = confidence_intervals(metrics, len(qrels), resamples=500, seed=1)
    for metric in metrics:
        low, high = intervals[metric.name]
        assert low <= metric.value <= high, metric.name
        assert low < high, metric.name


# ------------------------------------------------------------------------------------------------------ the scorer


def test_scorer_is_registered_and_signs_its_options(tmp_path: Path) -> None:
    scorer = scorer_for("search")
    assert isinstance(scorer, SearchScorer)
    options = ScoringOptions(ranking_depth=500, pres_depth=50)
    assert scorer.signature(options) == {
        "ir_measures": ir_measures.__version__,
        "depth": "500",
        "pres": "50",
        "rel": "1",
    }
    gold = scorer.read_gold(write(tmp_path, "qrels.txt", "t2 0 a 1\nt1 0 b 2\nt2 0 c 0\n"))
    assert scorer.item_ids(gold) == ["t2", "t1"]
    run = scorer.read_predictions(
        write(tmp_path, "run.txt", "t1\tQ0\tb\t1\t9\ts\n"),
        scorer.gold_items(gold),
        Problems(tmp_path),
        Limits(),
        options,
    )
    names = [m.name for m in scorer.metrics(gold, run, options)]
    assert names == ["map", "ndcg@10", "recall@100", "p@10", "rr", "pres@50"]


def test_options_give_the_ranking_depth(tmp_path: Path) -> None:
    path = write(tmp_path, "run.txt", "t Q0 a 1 3 s\nt Q0 b 2 2 s\nt Q0 c 3 1 s\n")
    problems = Problems(path)
    SearchScorer().read_predictions(path, PublicItems(("t",)), problems, Limits(), ScoringOptions(ranking_depth=2))
    assert problems.total == 1 and "limit of 2" in problems.listed[0].what


# ------------------------------------------------------------------------------------------------------ validation

QRELS = {"t1": {"d1": 1}, "t2": {"d2": 1}}
TOPICS = PublicItems(("t1", "t2"))
JSON = '{"id": "t1", "ranking": ["d1", "d2"]}\n'


@pytest.mark.parametrize(
    ("content", "depth", "fragments"),
    [
        ("t1 Q0 d1 1 2.0\n", 1000, ["line 1", "5 columns", "has 6", "Fix: write `topic Q0 doc rank score tag`"]),
        ("t1 Q0 d1 x 2.0 s\n", 1000, ["line 1", "rank 'x' is not an integer", "Fix: write the rank as a whole"]),
        ("t1 Q0 d1 1 high s\n", 1000, ["line 1", "score 'high' is not a number", "Fix: write the score as a number"]),
        ("t1 Q0 d1 1 nan s\n", 1000, ["line 1", "score 'nan' is not finite", "Fix: write a finite number"]),
        ("t1 Q0 d0 1 3 s\nt1 Q0 d1 2 inf s\n", 1000, ["line 2", "score 'inf' is not finite", "Fix: write a finite"]),
        ("t1 Q0 d1 1 2 s\nt9 Q0 d1 1 2 s\n", 1000, ["line 2", "topic 't9' is not one of", "Fix: use only the topic"]),
        (
            "t1 Q0 d1 1 3 s\nt1 Q0 d2 2 2 s\nt1 Q0 d1 3 1 s\n",
            1000,
            ["line 3", "document d1 of topic t1 is repeated (lines 1 and 3)", "Fix: list each document at most once"],
        ),
        (
            "t1 Q0 d1 1 3 s\nt1 Q0 d2 2 2 s\nt1 Q0 d3 3 1 s\nt2 Q0 d1 1 1 s\n",
            2,
            ["line 3", "document 3 of topic t1, more than the limit of 2", "Fix: keep only the top 2 documents"],
        ),
        ('{"id": "t1", "ranking": []}\n', 1000, ["line 1", "ranking of topic t1 is empty", "Fix: list at least one"]),
        (
            '{"id": "t1", "ranking": ["d1", 7]}\n',
            1000,
            ["line 1", "item 2 is 7, not a string", "Fix: write the ranking"],
        ),
        ('{"id": "t1", "ranking": "d1 d2"}\n', 1000, ["line 1", "a JSON str, not a list", "Fix: write the ranking"]),
        ('{"id": "t1"}\n', 1000, ["line 1", "lacks 'ranking'", "Fix: write the keys id and ranking, and only those"]),
        ('{"ranking": ["d1"]}\n', 1000, ["line 1", "lacks 'id'", "Fix: write the keys id and ranking, and only those"]),
        (
            '{"id": 1, "ranking": ["d1"]}\n',
            1000,
            ["line 1", "id 1 is not a string", 'Fix: quote the topic id: "id": "1"'],
        ),
        (
            '{"id": "t1", "ranking": ["d1"], "scores": [1.0]}\n',
            1000,
            ["line 1", "unexpected keys 'scores'", "Fix: write the keys id and ranking, and only those"],
        ),
        (JSON + JSON, 1000, ["line 2", "topic t1 appears again (first on line 1)", "Fix: write one line per topic"]),
        (
            '{"id": "t1", "ranking": ["d1", "d2", "d1"]}\n',
            1000,
            ["line 1", "d1 of topic t1 is repeated (positions 1 and 3)", "Fix: list each document at most once"],
        ),
        (JSON, 1, ["line 1", "topic t1 holds 2 documents, more than the limit of 1", "Fix: keep only the top 1"]),
        ('{"id": "t9", "ranking": ["d1"]}\n', 1000, ["line 1", "topic 't9' is not one of the test topics"]),
        (JSON + "{not json\n", 1000, ["line 2", "not valid JSON", "Fix: write one JSON object per line"]),
        (b"t1 Q0 d1 1 2.0 s\nt1 Q0 d\xff2 2 1.0 s\n", 1000, ["line 2", "is not UTF-8", "Fix: save the file as UTF-8"]),
        ("", 1000, ["file: the file is empty", "Fix: write one prediction"]),
        ("\n  \n", 1000, ["file: the run holds no ranking", "Fix: write `topic Q0 doc rank score tag` lines"]),
    ],
)
def test_malformed_runs_are_rejected_with_the_fix(
    tmp_path: Path, content: str | bytes, depth: int, fragments: list[str]
) -> None:
    path = write(tmp_path, "run.txt", content)
    problems = Problems(path)
    SearchScorer().read_predictions(path, TOPICS, problems, Limits(), ScoringOptions(ranking_depth=depth))
    with pytest.raises(InvalidSubmission) as raised:
        problems.check()
    message = raised.value.render()
    for fragment in fragments:
        assert fragment in message


def test_an_unknown_topic_is_reported_once(tmp_path: Path) -> None:
    path = write(tmp_path, "run.txt", "t9 Q0 d1 1 3 s\nt9 Q0 d2 2 2 s\nt1 Q0 d1 1 1 s\n")
    problems = Problems(path)
    read_run(path, set(QRELS), problems, Limits(), 1000)
    assert problems.total == 1


def test_topics_missing_from_the_run_are_not_a_problem(tmp_path: Path) -> None:
    assert read(write(tmp_path, "run.txt", "\ufefft2\tQ0\td2\t1\t0.5\tsys\r\n"), set(QRELS)) == {"t2": ["d2"]}


# ------------------------------------------------------------------------------------------------------------ qrels


def test_qrels_keep_topic_order_and_grades(tmp_path: Path) -> None:
    path = write(tmp_path, "qrels.txt", "b 0 x 2\n\na 0 y -1\nb Q0 z 0\n")
    assert read_qrels(path) == {"b": {"x": 2, "z": 0}, "a": {"y": -1}}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("a 0 x 1\na 0 y\n", "line 2: 3 columns where qrels have 4"),
        ("a 0 x 1\na 0 y one\n", "line 2: the grade 'one' is not an integer"),
        ("a 0 x 1.5\n", "line 1: the grade '1.5' is not an integer"),
        ("a 0 x 1\nb 0 y 1\na 0 x 0\n", "line 3: document x of topic a is judged again (first on line 1)"),
        (b"a 0 x 1\na 0 \xff 1\n", "line 2: the line is not UTF-8"),
        ("", "holds no judgments"),
    ],
)
def test_bad_qrels_stop_the_scoring(tmp_path: Path, content: str | bytes, fragment: str) -> None:
    path = write(tmp_path, "qrels.txt", content)
    with pytest.raises(CodefestError) as raised:
        read_qrels(path)
    assert fragment in raised.value.render()
    assert str(path) in raised.value.render()
    assert "fix:" in raised.value.render()


def test_missing_qrels_file(tmp_path: Path) -> None:
    with pytest.raises(CodefestError, match="cannot read qrels file"):
        read_qrels(tmp_path / "absent.txt")


def test_a_test_topic_without_judgments_is_as_valid_as_any(tmp_path: Path) -> None:
    """Run topics are checked against the public test topics: refusing t3, which the held-out qrels do not judge, told
    a team which topics those were. Its ranking is accepted and counts in no score."""
    inputs = write(tmp_path, "test.jsonl", "".join(json.dumps({"id": t}) + "\n" for t in ("t1", "t2", "t3")))
    qrels = write(tmp_path, "test.qrels", "t1 0 d1 1\nt2 0 d2 1\n")
    with_t3 = write(tmp_path, "run.txt", "t1 Q0 d1 1 2 s\nt3 Q0 d1 1 2 s\n")
    without = write(tmp_path, "run2.txt", "t1 Q0 d1 1 2 s\n")
    scored = [validated_items("search", qrels, run, ScoringOptions(), inputs=inputs) for run in (with_t3, without)]
    assert scored[0][0] == scored[1][0] == ["t1", "t2"]
    assert [m.value for m in scored[0][1]] == [m.value for m in scored[1][1]]
    unknown = write(tmp_path, "run3.txt", "t9 Q0 d1 1 2 s\n")
    with pytest.raises(InvalidSubmission) as refused:
        validated_items("search", tmp_path / "no-qrels-needed", unknown, ScoringOptions(), inputs=inputs)
    assert [p.render() for p in refused.value.problems] == [
        "line 1: topic 't9' is not one of the test topics (trec_eval would skip its lines; an evaluation refuses them,"
        " since a mistyped topic id would otherwise score 0 unnoticed). Fix: use only the topic ids of the test topics"
        " file"
    ]


# ---------------------------------------------------------------------------------------- files as trec_eval reads them

CLEAN_RUN = "t1 Q0 d1 1 3 s\nt1 Q0 d2 2 2 s\nt2 Q0 d2 1 1 s\n"
TREC_EVAL_RUN = (  # what trec_eval accepts and the clean run lacks: comments, a seventh column, an unjudged topic
    "# run s, written by a pilot\n"
    "t1 Q0 d1 1 3 s extra\n"
    "  # an indented comment\n"
    "t9 Q0 d1 1 3 s\n"
    "t1 Q0 d2 2 2 s\n"
    "t9 Q0 d2 2 2 s\n"
    "t2 Q0 d2 1 1 s 0.5 more\n"
)
QRELS_TEXT = "# judged by hand\nt1 0 d1 1\nt1 0 d3 2\nt2 0 d2 1\n"


def standalone(tmp_path: Path, run: str, *options: str) -> tuple[int, dict, str]:
    """`codefest score --task search --json` on the texts: (exit code, JSON printed, stderr)."""
    from typer.testing import CliRunner

    from codefest.cli import app

    gold, predictions = write(tmp_path, "qrels.txt", QRELS_TEXT), write(tmp_path, "run.txt", run)
    command = ["score", "--task", "search", "--gold", str(gold), "--predictions", str(predictions), "--json"]
    result = CliRunner().invoke(app, [*command, "--bootstrap", "0", *options])
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else {}, result.stderr


def test_the_standalone_scorer_reads_what_trec_eval_reads_with_one_warning_per_kind(tmp_path: Path) -> None:
    code, scored, stderr = standalone(tmp_path, TREC_EVAL_RUN)
    assert code == 0, stderr
    run, qrels = tmp_path / "run.txt", tmp_path / "qrels.txt"
    assert scored["warnings"] == [
        f"{qrels}: ignored 1 comment line (starting with '#'), first on line 1, as trec_eval does",
        f"{run}: ignored 2 comment lines (starting with '#'), first on line 1, as trec_eval does",
        f"{run}: ignored the columns after the sixth on 2 lines, first on line 2, as trec_eval does",
        f"{run}: ignored 2 lines of topics that the qrels do not judge, first on line 4, as trec_eval does",
    ]
    assert stderr.splitlines() == [f"warning: {warning}" for warning in scored["warnings"]]
    _, clean, clean_stderr = standalone(tmp_path, CLEAN_RUN)
    assert scored["metrics"] == clean["metrics"] and scored["n_items"] == 2
    assert clean["warnings"] == scored["warnings"][:1]  # the qrels' comment only
    assert clean_stderr.splitlines() == [f"warning: {scored['warnings'][0]}"]


def test_warnings_print_brackets_literally(tmp_path: Path) -> None:
    folder = tmp_path / "[red]runs x[b]"
    folder.mkdir()
    code, scored, stderr = standalone(folder, "#x\n" + CLEAN_RUN)
    assert code == 0
    assert f"warning: {folder / 'run.txt'}: ignored 1 comment line" in stderr
    assert "[red]runs x[b]" in scored["warnings"][1]


@pytest.mark.parametrize(
    ("line", "fragments"),
    [
        (
            "# run s\n",
            [
                "line 1: a comment line (starting with '#'): trec_eval skips these, but a submitted run holds only run",
                "Fix: delete the comment lines",
            ],
        ),
        (
            "t1 Q0 d3 3 1 s extra\n",
            [
                "line 1: 7 columns where a TREC run line has 6 (topic Q0 doc rank score tag): trec_eval ignores the "
                "columns after the sixth, but a submission must not carry them",
                "Fix: write `topic Q0 doc rank score",
            ],
        ),
        (
            "t9 Q0 d3 3 1 s\n",
            [
                "line 1: topic 't9' is not one of the test topics (trec_eval would skip its lines; an evaluation",
                "Fix: use only the topic ids of the test topics file",
            ],
        ),
    ],
)
def test_an_evaluation_refuses_those_lines_saying_why(tmp_path: Path, line: str, fragments: list[str]) -> None:
    inputs = write(tmp_path, "test.jsonl", "".join(json.dumps({"id": t}) + "\n" for t in ("t1", "t2")))
    qrels = write(tmp_path, "test.qrels", "t1 0 d1 1\nt2 0 d2 1\n")
    run = write(tmp_path, "run.txt", line + CLEAN_RUN)
    with pytest.raises(InvalidSubmission) as refused:
        validated_items("search", qrels, run, ScoringOptions(), inputs=inputs)
    assert refused.value.total == 1
    for fragment in fragments:
        assert fragment in refused.value.render()


def test_a_run_of_only_ignored_lines_scores_zero_with_its_warnings(tmp_path: Path) -> None:
    code, scored, _ = standalone(tmp_path, "# nothing judged\nt9 Q0 d1 1 1 s\n")
    assert code == 0 and scored["metrics"]["map"]["value"] == 0.0 and len(scored["warnings"]) == 3


def test_a_jsonl_run_skips_unjudged_topics_when_standalone(tmp_path: Path) -> None:
    run = '{"id": "t1", "ranking": ["d1"]}\n{"id": "t9", "ranking": ["d1"]}\n'
    code, scored, _ = standalone(tmp_path, run)
    assert code == 0
    assert scored["warnings"][-1].endswith(
        "ignored 1 line of topics that the qrels do not judge, first on line 2, as trec_eval does"
    )


# --------------------------------------------------------------------------------------- relevance level (trec_eval -l)

GRADED = {"t": {"a": 2, "b": 1, "c": 0}}


def test_the_relevance_level_counts_only_grades_at_or_above_it() -> None:
    """Hand-computed, run b, a, c: at level 1 both b and a are relevant (AP 1, RR 1, P@10 0.2); at level 2 only a,
    at rank 2 (AP 1/2, RR 1/2, P@10 0.1, recall 1, PRES@100 1 - (2 - 1)/100). nDCG takes grades as gains: unchanged."""
    run = {"t": ["b", "a", "c"]}
    one, two = (by_name(search_metrics(GRADED, run, 100, rel)) for rel in (1, 2))
    assert [one[n].value for n in ("map", "rr", "p@10", "recall@100", "pres@100")] == pytest.approx([1, 1, 0.2, 1, 1])
    assert [two[n].value for n in ("map", "rr", "p@10", "recall@100", "pres@100")] == pytest.approx(
        [0.5, 0.5, 0.1, 1, 0.99]
    )
    assert one["ndcg@10"].value == two["ndcg@10"].value
    assert by_name(search_metrics(GRADED, run, 100, 3))["map"].value == 0.0  # nothing relevant: 0, still counted


def test_the_level_is_an_option_of_the_command_and_in_the_signature(tmp_path: Path) -> None:
    code, scored, _ = standalone(tmp_path, CLEAN_RUN, "--level", "2")
    assert code == 0
    assert "|rel:2" in scored["signature"]
    assert scored["metrics"]["map"]["value"] == 0.0  # the one grade-2 document, t1's d3, is not retrieved
    _, default, _ = standalone(tmp_path, CLEAN_RUN)
    assert "|rel:1" in default["signature"] and default["metrics"]["map"]["value"] > 0


# ----------------------------------------------------------------------------------------------- CLEF-IP qrels layout


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("PAC-1 0 EP-1000001-A1 2", ("PAC-1", "EP-1000001-A1", 2)),  # PAC_qrels_21_EN.txt as published
        ("PAC-1 EP-1000001-A1 2", ("PAC-1", "EP-1000001-A1", 2)),
        ("PAC-1 0 EP-1000001-A1 1 EN", ("PAC-1", "EP-1000001-A1", 1)),  # with the document's language
    ],
)
def test_clef_ip_qrels_lines_load_as_they_are(line: str, expected: tuple[str, str, int]) -> None:
    from codefest.shared_datasets.loaders.clef_ip import qrel_cells

    assert qrel_cells(line.split(), "qrels, line 1") == expected


def test_clef_ip_qrels_with_a_language_column_load(tmp_path: Path) -> None:
    from codefest.shared_datasets.loaders.clef_ip import read_qrels as read_clef_ip_qrels

    path = write(tmp_path, "PAC_qrels.txt", "# CLEF-IP 2010\nPAC-1 0 EP-1 1 EN\nPAC-1 0 EP-2 0 DE\nPAC-9 0 EP-3 1 FR\n")
    qrels: dict = {}
    assert read_clef_ip_qrels(path, {"EP-1", "EP-2", "EP-3"}, {"PAC-1"}, qrels) == 1
    assert qrels == {"PAC-1": [{"doc_id": "EP-1", "relevance": 1}, {"doc_id": "EP-2", "relevance": 0}]}


def test_a_fifth_clef_ip_field_that_is_no_language_is_refused() -> None:
    from codefest.shared_datasets.loaders.clef_ip import qrel_cells

    with pytest.raises(CodefestError, match="the fifth field '7' is not a language code"):
        qrel_cells(["PAC-1", "0", "EP-1", "1", "7"], "qrels, line 1")
