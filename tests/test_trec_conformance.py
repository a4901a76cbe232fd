"""codefest's standalone search scorer against trec_eval's own test files and published outputs (NIST, see
tests/fixtures/SOURCES.md): every measure both report agrees to the 4 decimals trec_eval prints, per topic and on
average, also with trec_eval's comment lines and its relevance level (-l2 on qrels.rel_level)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codefest.cli import app
from codefest.evaluation.scorers import ScoringOptions
from codefest.evaluation.scoring import score_files

FIXTURES = Path(__file__).parent / "fixtures" / "trec_eval"
RUN = FIXTURES / "results.test"
TREC_EVAL_NAMES = {  # trec_eval's name -> codefest's, for the measures both report
    "map": "map",
    "P_10": "p@10",
    "ndcg_cut_10": "ndcg@10",
    "recall_100": "recall@100",
    "recip_rank": "rr",
}

# (qrels, relevance level, trec_eval's published output): the Makefile's quicktest commands
#   trec_eval qrels.test results.test                                 > out.test
#   trec_eval qrels.test.with-comments results.test                   > out.test
#   trec_eval -m all_trec qrels.test results.test                     > out.test.a
#   trec_eval -m all_trec -q qrels.test results.test                  > out.test.aq
#   trec_eval -m all_trec -mrelstring.20 -q -l2 qrels.rel_level results.test > out.test.aql
CASES = [
    ("qrels.test", 1, "out.test"),
    ("qrels.test.with-comments", 1, "out.test"),
    ("qrels.test", 1, "out.test.a"),
    ("qrels.test", 1, "out.test.aq"),
    ("qrels.rel_level", 2, "out.test.aql"),
]


def published(name: str) -> dict[str, dict[str, float]]:
    """trec_eval's output: topic ('all' for the mean) -> codefest's metric name -> value, for the shared measures."""
    values: dict[str, dict[str, float]] = {}
    for line in (FIXTURES / name).read_text().splitlines():
        measure, topic, value = line.split()
        if measure in TREC_EVAL_NAMES:
            values.setdefault(topic, {})[TREC_EVAL_NAMES[measure]] = float(value)
    return values


def judged_topics_in_run(qrels: str) -> list[str]:
    """The topics trec_eval averages over (without -c): those of the run that the qrels judge."""
    judged = {line.split()[0] for line in (FIXTURES / qrels).read_text().splitlines() if not line.startswith("#")}
    return sorted({line.split()[0] for line in RUN.read_text().splitlines()} & judged)


@pytest.mark.parametrize(("qrels", "level", "output"), CASES)
def test_the_command_agrees_with_trec_eval_on_average(qrels: str, level: int, output: str) -> None:
    expected = published(output)["all"]
    command = ["score", "--task", "search", "--gold", str(FIXTURES / qrels), "--predictions", str(RUN)]
    result = CliRunner().invoke(app, [*command, "--level", str(level), "--json", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    assert scored["n_items"] == len(judged_topics_in_run(qrels)) == 3  # trec_eval's num_q: the same topics
    assert expected  # every case compares at least map, P_10 and recip_rank
    for name, value in expected.items():
        assert round(scored["metrics"][name]["value"], 4) == pytest.approx(value, abs=1e-12), name


@pytest.mark.parametrize(("qrels", "level", "output"), [case for case in CASES if case[2].endswith(("aq", "aql"))])
def test_each_topic_agrees_with_trec_eval(qrels: str, level: int, output: str) -> None:
    expected = published(output)
    options = ScoringOptions(lenient=True, relevance_level=level)
    result = score_files("search", FIXTURES / qrels, RUN, options, resamples=0)
    topics = judged_topics_in_run(qrels)
    assert result.item_ids == topics
    for stats in result.item_stats:
        if stats.name in expected["all"]:
            assert stats.per_item is not None
            ours = {topic: round(float(v), 4) for topic, v in zip(topics, stats.per_item, strict=True)}
            assert ours == pytest.approx({topic: expected[topic][stats.name] for topic in topics}, abs=1e-12)
            mean = round(float(stats.per_item.mean()), 4)  # the plain mean over the judged topics, as trec_eval's
            assert mean == pytest.approx(expected["all"][stats.name], abs=1e-12)


def test_trec_eval_comment_lines_are_skipped_with_one_warning() -> None:
    """qrels.test.with-comments: three '#' lines, and a document id holding '#' that stays an id."""
    command = ["score", "--task", "search", "--gold", str(FIXTURES / "qrels.test.with-comments")]
    result = CliRunner().invoke(app, [*command, "--predictions", str(RUN), "--json", "--bootstrap", "0"])
    assert result.exit_code == 0, result.output
    warning = "ignored 3 comment lines (starting with '#'), first on line 1, as trec_eval does"
    assert json.loads(result.stdout)["warnings"] == [f"{FIXTURES / 'qrels.test.with-comments'}: {warning}"]
    assert result.stderr.count("warning:") == 1 and warning in result.stderr
