"""Classification scoring: symbols, the WIPO measures and precision@k by hand, F1 against scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score
from sklearn.preprocessing import MultiLabelBinarizer

from codefest.evaluation.bootstrap import confidence_intervals
from codefest.evaluation.names import mlflow_key
from codefest.evaluation.problems import InvalidSubmission, Problems
from codefest.evaluation.reading import Limits
from codefest.evaluation.scorers import ScoringOptions, scorer_for
from codefest.evaluation.scoring import score_files
from codefest.tasks.classification.metrics import Encoded, f1_measures, precision_at, wipo_measures
from codefest.tasks.classification.symbols import normalise, truncate

# Three documents, worked by hand below.
GOLD = [["A01B 1/02", "A01C 5/00"], ["H01M 10/02"], ["G06F 16/00", "G06N 3/00"]]
PRED = [
    ["A01C 5/04", "A01B 1/00", "H01M 2/00"],
    ["H01L 21/00", "H01M 4/00", "H01M 10/04", "G06F 1/00"],
    ["B60W 30/00"],
]


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("A01B 1/00", "A01B 1/00"),
        ("A01B1/00", "A01B 1/00"),
        ("a01b   1/00 ", "A01B 1/00"),
        ("A01B0001000000", "A01B 1/00"),
        ("G06F0016000000", "G06F 16/00"),
        ("H01L0021670000", "H01L 21/67"),
        ("A01B0001024000", "A01B 1/024"),
        ("H01M  10/020", "H01M 10/02"),
        ("Y02E 10/50", "Y02E 10/50"),
        ("H01M", "H01M"),
        ("H01", "H01"),
        ("H", "H"),
        ("Z01B 1/00", None),
        ("A01B 0/00", None),
        ("A01B 1/0", None),
        ("A1B 1/00", None),
        ("", None),
    ],
)
def test_symbols_are_normalised(text: str, canonical: str | None) -> None:
    assert normalise(text) == canonical


def test_truncation_to_each_level() -> None:
    assert [truncate("H01L 21/67", level) for level in ("section", "class", "subclass", "group")] == [
        "H",
        "H01",
        "H01L",
        "H01L 21/00",
    ]
    assert truncate("H01L", "group") is None and truncate("H01", "subclass") is None


def test_wipo_measures_by_hand() -> None:
    values = {m.name: m.value for m in wipo_measures(Encoded(GOLD, PRED))}
    third, two_thirds = 1 / 3, 2 / 3
    expected = {
        # item 1: first guess A01C 5/04, main A01B 1/02 -> same section and class, other subclass
        # item 2: first guess H01L 21/00, main H01M 10/02 -> same section and class, other subclass
        # item 3: first guess B60W, main G06F -> nothing
        "top_prediction@section": two_thirds,
        "top_prediction@class": two_thirds,
        "top_prediction@subclass": 0.0,
        "top_prediction@group": 0.0,
        # the main symbol is among the first three for items 1 (A01B 1/00) and 2 (H01M 10/04 -> H01M 10/00)
        "three_guesses@section": two_thirds,
        "three_guesses@class": two_thirds,
        "three_guesses@subclass": two_thirds,
        "three_guesses@group": two_thirds,
        # the first guess is any gold symbol: item 1 (A01C 5/00 is a further symbol) at every level;
        # item 2 only down to the class (H01L is not H01M)
        "all_categories@section": two_thirds,
        "all_categories@class": two_thirds,
        "all_categories@subclass": third,
        "all_categories@group": third,
    }
    assert values == pytest.approx(expected, abs=1e-12)


def test_precision_at_k_by_hand() -> None:
    # @1: item 1 hits (A01C 5/00 is gold), items 2 and 3 miss -> 1/3
    assert precision_at(Encoded(GOLD, PRED), 1).value == pytest.approx(1 / 3)
    # @3: item 1 hits A01C 5/00 and A01B 1/00 (2/3); item 2 hits H01M 10/00 (1/3); item 3 none -> (2/3+1/3)/3
    assert precision_at(Encoded(GOLD, PRED), 3).value == pytest.approx(1 / 3)
    # two predictions in the same main group count once
    assert precision_at(Encoded([["A01B 1/00"]], [["A01B 1/02", "A01B 1/04", "A01C 1/00"]]), 3).value == pytest.approx(
        1 / 3
    )


def test_f1_by_hand_and_against_scikit_learn() -> None:
    chosen = [p[:1] for p in PRED]
    micro, macro = f1_measures(GOLD, chosen)
    # tp = 1 (A01C 5/00), fp = 2 (H01L 21/00, B60W 30/00), fn = 4 (A01B 1/00, H01M 10/00, G06F 16/00, G06N 3/00)
    assert micro.value == pytest.approx(2 * 1 / (2 * 1 + 2 + 4))
    # seven classes occur; only A01C 5/00 has F1 1, the other six 0
    assert macro.value == pytest.approx(1 / 7)
    cut = lambda rows: [{truncate(s, "group") for s in row} for row in rows]  # noqa: E731
    binarizer = MultiLabelBinarizer().fit(cut(GOLD) + cut(chosen))
    y_true, y_pred = binarizer.transform(cut(GOLD)), binarizer.transform(cut(chosen))
    assert micro.value == f1_score(y_true, y_pred, average="micro")
    assert macro.value == f1_score(y_true, y_pred, average="macro", zero_division=0)


def test_every_metric_is_recovered_from_its_summed_statistics() -> None:
    rng = np.random.default_rng(3)
    symbols = [f"{s} {g}/00" for s in ("A01B", "A01C", "H01M", "G06F") for g in (1, 3, 5)]
    gold = [list(rng.choice(symbols, size=rng.integers(1, 4), replace=False)) for _ in range(300)]
    pred = [list(rng.choice(symbols, size=4, replace=False)) for _ in range(300)]
    encoded = Encoded(gold, pred)
    metrics = [*wipo_measures(encoded), precision_at(encoded, 3), *f1_measures(gold, [p[:2] for p in pred])]
    for metric in metrics:
        total = np.asarray(metric.stats.sum(axis=0)).reshape(1, -1)
        assert metric.value_of(total)[0] == pytest.approx(metric.value, abs=1e-12), metric.name
    intervals = confidence_intervals(metrics, 300, 500, seed=1)
    for metric in metrics:
        low, high = intervals[metric.name]
        assert low <= metric.value <= high and high - low > 0, metric.name
    assert intervals == confidence_intervals(metrics, 300, 500, seed=1)


def test_pattern_bootstrap_matches_resampling_items() -> None:
    """Drawing counts per distinct pattern is the item bootstrap: same spread as resampling items directly."""
    rng = np.random.default_rng(5)
    scores = (rng.random(2000) < 0.3).astype(float)
    from codefest.evaluation.metrics.base import mean_metric

    low, high = confidence_intervals([mean_metric("m", scores)], 2000, 4000, seed=2)["m"]
    naive = np.array([scores[rng.integers(0, 2000, 2000)].mean() for _ in range(4000)])
    naive_low, naive_high = np.percentile(naive, [2.5, 97.5])
    assert abs((high - low) - (naive_high - naive_low)) < 0.1 * (naive_high - naive_low)


def test_mlflow_keys() -> None:
    assert mlflow_key("top_prediction@subclass") == "top_prediction_at_subclass"
    assert mlflow_key("f1_micro") == "f1_micro"


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def gold_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "gold.jsonl", [{"id": f"D{i}", "labels": g} for i, g in enumerate(GOLD)])


def test_score_files_gives_the_json_schema(gold_file: Path, tmp_path: Path) -> None:
    pred = _write(tmp_path / "pred.jsonl", [{"id": f"D{i}", "labels": p} for i, p in enumerate(PRED)])
    result = score_files("classification", gold_file, pred, ScoringOptions(top_k=1), resamples=100, seed=1)
    out = result.to_json()
    assert set(out) == {"task", "n_items", "metrics", "signature"}
    assert out["n_items"] == 3 and len(out["metrics"]) == 16
    assert out["metrics"]["f1_micro"]["value"] == pytest.approx(0.25)
    assert set(out["metrics"]["precision@1"]) == {"value", "ci_low", "ci_high"}
    assert "task:classification" in out["signature"] and "set:top:1" in out["signature"]


def test_csv_gold_and_predictions(tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("id,labels\nD0,A01B 1/02;A01C 5/00\nD1,H01M0010020000\n", encoding="utf-8")
    pred = tmp_path / "pred.csv"
    pred.write_text("id,labels,scores\nD0,A01C5/04;A01B 1/00,0.9;0.5\nD1,H01M 10/00,1\n", encoding="utf-8")
    result = score_files("classification", gold, pred, ScoringOptions(top_k=1), resamples=0)
    assert result.metrics["all_categories@group"].value == 1.0
    assert result.metrics["top_prediction@group"].value == 0.5


def test_threshold_selects_by_score(gold_file: Path, tmp_path: Path) -> None:
    rows = [
        {"id": "D0", "labels": ["A01C 5/00", "A01B 1/00"], "scores": [0.9, 0.6]},
        {"id": "D1", "labels": ["H01M 10/00", "H01L 1/00"], "scores": [0.7, 0.2]},
        {"id": "D2", "labels": ["G06F 16/00"], "scores": [0.1]},
    ]
    pred = _write(tmp_path / "pred.jsonl", rows)
    result = score_files("classification", gold_file, pred, ScoringOptions(threshold=0.5), resamples=0)
    # chosen: D0 {A01C 5/00, A01B 1/00}, D1 {H01M 10/00}, D2 {} -> tp 3, fp 0, fn 2
    assert result.metrics["f1_micro"].value == pytest.approx(6 / 8)


# Malformed classification submissions: (file content, fragments the message must contain)
MALFORMED = [
    ("", ["file: the file is empty"]),
    ('{"id": "D0", "labels": ["A01B 1/00"]}\n', ["2 test ids have no prediction ('D1', 'D2')"]),
    ("not json\n", ["line 1: not valid JSON"]),
    ('["D0", "A01B"]\n', ["line 1: a JSON list, not an object"]),
    ('{"labels": ["A01B"]}\n', ["line 1: no string 'id'"]),
    ('{"id": 7, "labels": ["A01B"]}\n', ["line 1: no string 'id'"]),
    ('{"id": "D9", "labels": ["A01B"]}\n', ["line 1: id 'D9' is not a test item"]),
    ('{"id": "D0", "labels": ["A01B"]}\n{"id": "D0", "labels": ["A01C"]}\n', ["line 2: id 'D0' repeats line 1"]),
    ('{"id": "D0", "labels": []}\n', ["line 1: 'labels' must be a non-empty list"]),
    ('{"id": "D0", "labels": "A01B 1/00"}\n', ["line 1: 'labels' must be a non-empty list"]),
    ('{"id": "D0", "labels": ["A01B 1/00", "Z99Q 1/00"]}\n', ["line 1: 'Z99Q 1/00' is not an IPC/CPC symbol"]),
    ('{"id": "D0", "labels": ["A01B 1/00", "A01B1/00"]}\n', ["line 1: a symbol is listed twice"]),
    ('{"id": "D0", "labels": ["A01B"], "scores": [NaN]}\n', ["line 1: not valid JSON (NaN is not allowed in JSON)"]),
    ('{"id": "D0", "labels": ["A01B"], "scores": [1e999]}\n', ["line 1: 'scores' holds NaN or an infinity"]),
    ('{"id": "D0", "labels": ["A01B", "A01C"], "scores": [0.5]}\n', ["'scores' must be a list of 2 numbers"]),
    ('{"id": "D0", "labels": ["A01B", "A01C"], "scores": [0.1, 0.5]}\n', ["scores increase along the labels"]),
    ('{"id": "D0", "labels": ["A01B"], "scores": ["high"]}\n', ["'scores' holds something other than numbers"]),
    ('{"id": "D0", "labels": ["A01B"], "title": "x"}\n', ["line 1: unexpected key 'title'"]),
    ('{"id": "D0", "label": ["A01B"]}\n', ["line 1: unexpected key 'label'", "Fix: rename 'label' to 'labels'"]),
    ('{"id": "D0", "labels": ["A01B"]}\n' + "x" * 300 + "\n", ["line 2: the line is longer than 200 bytes"]),
]


@pytest.mark.parametrize(("content", "fragments"), MALFORMED)
def test_malformed_predictions_get_a_message(
    gold_file: Path, tmp_path: Path, content: str, fragments: list[str]
) -> None:
    path = tmp_path / "pred.jsonl"
    path.write_text(content, encoding="utf-8")
    scorer = scorer_for("classification")
    problems = Problems(path)
    items = scorer.gold_items(scorer.read_gold(gold_file))
    scorer.read_predictions(path, items, problems, Limits(max_line_bytes=200), ScoringOptions())
    with pytest.raises(InvalidSubmission) as caught:
        problems.check()
    message = caught.value.render()
    for fragment in fragments:
        assert fragment in message
    assert "Fix:" in message and "uses none of your quota" in message


def test_bad_bytes_are_named_by_line(gold_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "pred.jsonl"
    path.write_bytes(b'{"id": "D0", "labels": ["A01B"]}\n{"id": "D1", "labels": ["\xff"]}\n')
    with pytest.raises(InvalidSubmission, match=r"line 2: byte 26 is not UTF-8 \(b'\\xff'\)"):
        score_files("classification", gold_file, path, resamples=0)


def test_csv_without_the_header_is_refused(gold_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "pred.csv"
    path.write_text("D0,A01B\n", encoding="utf-8")
    with pytest.raises(InvalidSubmission, match="start the file with the header id,labels"):
        score_files("classification", gold_file, path, resamples=0)


def test_at_most_twenty_problems_are_listed(gold_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "pred.jsonl"
    path.write_text("".join(f'{{"id": "X{i}", "labels": ["A01B"]}}\n' for i in range(30)), encoding="utf-8")
    with pytest.raises(InvalidSubmission) as caught:
        score_files("classification", gold_file, path, resamples=0)
    assert len(caught.value.problems) == 20
    assert caught.value.render().count("is not a test item") == 20 and "reading stopped there" in str(caught.value)


def test_one_problem_on_many_lines_is_listed_once_with_its_lines(gold_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "pred.jsonl"
    path.write_text("oops\n" * 30 + "[]\n" + "oops\n" * 2, encoding="utf-8")
    with pytest.raises(InvalidSubmission) as caught:
        score_files("classification", gold_file, path, resamples=0)
    assert [(p.where, p.count) for p in caught.value.problems] == [("lines 1-30, 32-33", 32), ("line 31", 1)]
    assert caught.value.total == 33 and "(33 problems)" in str(caught.value)


def test_an_unreadable_file_is_a_problem_not_a_traceback(gold_file: Path, tmp_path: Path) -> None:
    import os

    path = tmp_path / "locked.jsonl"
    path.write_text('{"id": "D0", "labels": ["A01B"]}\n')
    path.chmod(0)
    if os.access(path, os.R_OK):  # root reads anything: a folder stands in for an unreadable file
        path.chmod(0o600)
        path = tmp_path
    with pytest.raises(InvalidSubmission, match="file: "):
        score_files("classification", gold_file, path, resamples=0)


def test_a_single_main_group_is_scored_not_a_traceback(tmp_path: Path) -> None:
    """One class in all: scikit-learn refused the sparse one-column target (a TypeError that told of the gold)."""
    gold, pred = tmp_path / "gold.jsonl", tmp_path / "pred.jsonl"
    gold.write_text("".join(json.dumps({"id": f"D{i}", "labels": ["G06N 3/00"]}) + "\n" for i in range(3)))
    pred.write_text("".join(json.dumps({"id": f"D{i}", "labels": ["H01M"]}) + "\n" for i in range(3)))
    result = score_files("classification", gold, pred, resamples=0)
    assert result.metrics["f1_micro"].value == result.metrics["f1_macro"].value == 0.0
    pred.write_text("".join(json.dumps({"id": f"D{i}", "labels": ["G06N 3/00"]}) + "\n" for i in range(3)))
    result = score_files("classification", gold, pred, resamples=0)
    assert result.metrics["f1_micro"].value == result.metrics["f1_macro"].value == 1.0


# Gold labels that stop above main-group level (what the bigpatent loader gives): the measures of the levels they
# reach are computed, the others are reported as not computable, never as a traceback or a 0 no one could improve.

SECTION_GOLD = [["H"], ["G"], ["A"]]
SUBCLASS_GOLD = [["H04W"], ["G06F"], ["A01B"]]
SHALLOW_PRED = [["H04W 4/00", "G06F 3/00"], ["G06N 3/00", "G06F 16/00"], ["B60W"]]
GROUP_LEVEL = ["top_prediction@group", "three_guesses@group", "all_categories@group", "precision@1", "precision@3"]
NOT_REACHED = "not computable: the gold labels do not reach main-group level"


def _gold_and_predictions(tmp_path: Path, gold: list[list[str]], pred: list[list[str]]) -> tuple[Path, Path]:
    rows = lambda labels: [{"id": f"D{i}", "labels": g} for i, g in enumerate(labels)]  # noqa: E731
    return _write(tmp_path / "gold.jsonl", rows(gold)), _write(tmp_path / "pred.jsonl", rows(pred))


def test_section_only_gold_scores_the_section_and_says_the_rest_is_not_computable(tmp_path: Path) -> None:
    gold, pred = _gold_and_predictions(tmp_path, SECTION_GOLD, SHALLOW_PRED)
    result = score_files("classification", gold, pred, resamples=50)
    # first guesses H, G, B against H, G, A -> 2/3 at section level; B60W is not A either
    assert result.metrics["top_prediction@section"].value == pytest.approx(2 / 3)
    assert result.metrics["three_guesses@section"].value == pytest.approx(2 / 3)
    reasons = result.not_computable()
    assert set(reasons) == {name for name in result.metrics if not name.endswith("@section")}
    assert reasons["top_prediction@class"] == "not computable: the gold labels do not reach class level"
    assert reasons["f1_micro"] == NOT_REACHED
    out = json.loads(json.dumps(result.to_json()), parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert out["metrics"]["f1_macro"] == {"value": None, "ci_low": None, "ci_high": None, "reason": NOT_REACHED}
    assert set(out["metrics"]["top_prediction@section"]) == {"value", "ci_low", "ci_high"}


def test_subclass_only_gold_scores_down_to_the_subclass(tmp_path: Path) -> None:
    gold, pred = _gold_and_predictions(tmp_path, SUBCLASS_GOLD, SHALLOW_PRED)
    result = score_files("classification", gold, pred, resamples=50)
    # subclasses guessed: H04W, G06F (after G06N) and B60W, against H04W, G06F, A01B
    assert result.metrics["top_prediction@subclass"].value == pytest.approx(1 / 3)
    assert result.metrics["three_guesses@subclass"].value == pytest.approx(2 / 3)
    assert result.metrics["all_categories@subclass"].value == pytest.approx(1 / 3)
    reasons = result.not_computable()
    assert set(reasons) == {*GROUP_LEVEL, "f1_micro", "f1_macro"}
    assert all(reason == NOT_REACHED for reason in reasons.values())
    assert all(np.isnan(result.metrics[name].value) for name in reasons)


def test_main_symbols_above_main_group_with_deeper_further_symbols(tmp_path: Path) -> None:
    """Further symbols reach the main group, the main symbols do not: only the main-symbol measures are refused."""
    gold, pred = _gold_and_predictions(tmp_path, [["H04W", "H04L 9/00"]], [["H04L 9/02", "H04W 4/00"]])
    result = score_files("classification", gold, pred, resamples=0)
    assert result.not_computable() == {
        "top_prediction@group": "not computable: the gold main symbols do not reach main-group level",
        "three_guesses@group": "not computable: the gold main symbols do not reach main-group level",
    }
    assert result.metrics["all_categories@group"].value == 1.0  # H04L 9/02 -> H04L 9/00, a further symbol
    assert result.metrics["precision@3"].value == pytest.approx(1 / 3)  # H04L 9/00 of H04L 9/00, H04W 4/00


@pytest.mark.parametrize("gold_labels", [SECTION_GOLD, SUBCLASS_GOLD], ids=["sections", "subclasses"])
def test_the_score_command_says_what_is_not_computable(tmp_path: Path, gold_labels: list[list[str]]) -> None:
    from typer.testing import CliRunner

    from codefest.cli import app

    gold, pred = _gold_and_predictions(tmp_path, gold_labels, SHALLOW_PRED)
    args = ["score", "--task", "classification", "--gold", str(gold), "--predictions", str(pred), "--bootstrap", "20"]
    as_json = CliRunner().invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    metrics = json.loads(as_json.stdout)["metrics"]
    assert metrics["precision@1"]["value"] is None and metrics["precision@1"]["reason"] == NOT_REACHED
    assert metrics["top_prediction@section"]["value"] == pytest.approx(2 / 3)
    table = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "Traceback" not in table.output
    row = next(line for line in table.stdout.splitlines() if "f1_micro" in line)
    assert NOT_REACHED in row


def test_f1_of_a_single_main_group_is_scikit_learns(tmp_path: Path) -> None:
    """One main group in all: scikit-learn still computes F1, on the real class only (by hand: tp 2, fp 0, fn 1)."""
    gold = [["G06N 3/00"]] * 3
    chosen = [["G06N 3/04"], ["G06N 3/00"], ["G06F"]]
    micro, macro = f1_measures(gold, chosen)
    assert micro.value == macro.value == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    dense = lambda rows: np.array([[1 if any(s.startswith("G06N 3/") for s in r) else 0] for r in rows])  # noqa: E731
    assert micro.value == f1_score(dense(gold).ravel(), dense(chosen).ravel())
    for metric in (micro, macro):
        assert metric.value_of(np.asarray(metric.stats.sum(axis=0)).reshape(1, -1))[0] == pytest.approx(0.8)


# Three guesses and precision@k at a level take the first distinct categories of that level (Fall et al. 2003).


def test_three_guesses_at_subclass_skip_repeated_subclasses() -> None:
    """The issue's case: three H04L main groups, then H04W; the gold H04W is the second distinct subclass."""
    encoded = Encoded([["H04W"]], [["H04L 1/00", "H04L 5/00", "H04L 9/00", "H04W 4/00"]])
    values = {m.name: m.value for m in wipo_measures(encoded)}
    assert values["three_guesses@subclass"] == 1.0
    assert values["top_prediction@subclass"] == 0.0


def test_every_measure_at_every_level_with_repeats_by_hand() -> None:
    gold = [["H04W 4/00", "H04L 9/00"], ["A01C 5/00", "A01B 1/00"]]
    pred = [["H04L 1/00", "H04L 5/00", "H04L 9/00", "H04W 4/02"], ["A01B 1/02", "A01B 1/04", "A01B 1/06", "A01C 5/00"]]
    encoded = Encoded(gold, pred)
    values = {m.name: m.value for m in [*wipo_measures(encoded), precision_at(encoded, 1), precision_at(encoded, 3)]}
    # distinct guesses per level, item 1 | item 2:
    #   section  H            | A
    #   class    H04          | A01
    #   subclass H04L, H04W   | A01B, A01C
    #   group    H04L 1/00, H04L 5/00, H04L 9/00 | A01B 1/00, A01C 5/00
    expected = {
        "top_prediction@section": 1.0,
        "three_guesses@section": 1.0,
        "all_categories@section": 1.0,
        "top_prediction@class": 1.0,
        "three_guesses@class": 1.0,
        "all_categories@class": 1.0,
        "top_prediction@subclass": 0.0,  # H04L is not H04W; A01B is not A01C
        "three_guesses@subclass": 1.0,  # H04W and A01C are the second distinct subclasses
        "all_categories@subclass": 1.0,  # H04L and A01B are further symbols' subclasses
        "top_prediction@group": 0.0,
        "three_guesses@group": 0.5,  # item 2: A01C 5/00 is the second distinct group; item 1: H04W 4/00 is fourth
        "all_categories@group": 0.5,  # item 2: A01B 1/00 is a further symbol; item 1: H04L 1/00 is not gold
        "precision@1": 0.5,  # item 2's A01B 1/00
        "precision@3": (1 / 3 + 2 / 3) / 2,  # item 1: H04L 9/00 of three; item 2: both distinct groups, over 3
    }
    assert values == pytest.approx(expected, abs=1e-12)


def test_first_distinct_keeps_order_and_never_merges_too_shallow_guesses() -> None:
    from codefest.tasks.classification.metrics import PAD, first_distinct

    codes = np.array([[3, 3, -1, -1, 5], [4, PAD, PAD, PAD, PAD], [2, 1, 2, 1, 0]])
    assert first_distinct(codes, 3).tolist() == [[3, -1, -1], [4, PAD, PAD], [2, 1, 0]]
