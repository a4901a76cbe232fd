"""Translation scoring: sacrebleu's numbers through our statistics, and every way a submission can be malformed."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
from sacrebleu.metrics import BLEU

from codefest.core.errors import CodefestError
from codefest.evaluation.bootstrap import confidence_intervals
from codefest.evaluation.problems import MAX_LISTED, InvalidSubmission, Problems
from codefest.evaluation.reading import Limits
from codefest.evaluation.scorers import SCORERS, ScoringOptions, scorer_for
from codefest.evaluation.scoring import validated_items
from codefest.tasks.translation.formats import UNKNOWN_SOURCE_LIMIT, TranslationGold, gold_items, read_gold
from codefest.tasks.translation.metrics import metric_signatures, translation_metrics
from codefest.tasks.translation.scorer import TranslationScorer

# (French references, a system's translation); the English sources do not enter the scores.
PAIRS: list[tuple[list[str], str]] = [
    (["Le dispositif comprend un boîtier et un couvercle."], "Le dispositif comprend un boîtier et un couvercle."),
    (
        [
            "Le joint annulaire (14) est disposé entre la bride et le corps.",
            "Le joint annulaire (14) se trouve entre la bride et le corps.",
        ],
        "Le joint annulaire (14) est placé entre la bride et le corps.",
    ),
    (["Procédé de fabrication d'une pale de turbine."], "Procédé pour fabriquer une pale de turbine."),
    (["La température est comprise entre 20 et 80 °C."], "La température est entre 20 °C et 80 °C."),
    (
        [
            "Selon la revendication 1, le capteur mesure la pression.",
            "Le capteur selon la revendication 1 mesure la pression.",
        ],
        "Le capteur de la revendication 1 mesure la pression.",
    ),
    (["L'invention concerne un moteur électrique."], "L'invention se rapporte à un moteur électrique."),
    (["Le rotor tourne autour d'un axe central."], "Le rotor tourne autour d'un axe central."),
    (["Une couche isolante recouvre le conducteur."], "Le conducteur est recouvert par une couche d'isolation."),
    (
        [
            "Le ressort (22) sollicite le piston vers la position fermée.",
            "Le ressort (22) pousse le piston vers la position de fermeture.",
        ],
        "Le ressort (22) pousse le piston vers la position fermée.",
    ),
    (["Le boîtier est réalisé en aluminium."], "Le boîtier est fait d'aluminium."),
    (["Un signal est transmis à l'unité de commande."], "Un signal est envoyé à l'unité de commande."),
    (
        [
            "La vanne s'ouvre lorsque la pression dépasse un seuil.",
            "La vanne est ouverte quand la pression excède un seuil.",
        ],
        "La soupape s'ouvre lorsque la pression dépasse un seuil.",
    ),
    (["Le moyen de fixation comprend deux vis."], "Les moyens de fixation comprennent deux vis."),
    (["Figure 3 montre une vue en coupe du dispositif."], "La figure 3 montre une vue en coupe du dispositif."),
]
ZH_PAIRS: list[tuple[list[str], str]] = [
    (["该装置包括壳体和盖子。"], "该装置包括外壳和盖子。"),
    (["转子围绕中心轴旋转。", "转子绕中心轴转动。"], "转子围绕中心轴转动。"),
    (["绝缘层覆盖导体。"], "导体被绝缘层覆盖。"),
    (["当压力超过阈值时阀门打开。"], "当压力超过阈值时，阀门打开。"),  # noqa: RUF001 (Chinese punctuation)
    (["信号被传送到控制单元。"], "信号被发送到控制单元。"),
]
IDS = [f"T-{i:02d}" for i in range(1, len(PAIRS) + 1)]
NAMES = ("bleu", "chrf", "ter")


def streams(pairs: list[tuple[list[str], str]]) -> list[list[str | None]]:
    """Reference streams padded with None, the way sacrebleu's API takes a variable number of references."""
    width = max(len(refs) for refs, _ in pairs)
    return [[refs[j] if j < len(refs) else None for refs, _ in pairs] for j in range(width)]


def hypotheses(pairs: list[tuple[list[str], str]]) -> list[str]:
    return [hyp for _, hyp in pairs]


def by_name(pairs: list[tuple[list[str], str]], language: str = "fr") -> dict[str, object]:
    return {m.name: m for m in translation_metrics(hypotheses(pairs), streams(pairs), language)}


# --- sacrebleu's numbers ------------------------------------------------------------------------------------------


def test_values_equal_sacrebleu_corpus_functions_with_variable_references() -> None:
    hyps, refs = hypotheses(PAIRS), streams(PAIRS)
    assert any(ref is None for ref in refs[1]) and any(ref is not None for ref in refs[1])
    metrics = by_name(PAIRS)
    assert metrics["bleu"].value == sacrebleu.corpus_bleu(hyps, refs).score
    assert metrics["chrf"].value == sacrebleu.corpus_chrf(hyps, refs).score
    assert metrics["ter"].value == sacrebleu.corpus_ter(hyps, refs).score


@pytest.mark.parametrize("pairs", [PAIRS, ZH_PAIRS], ids=["fr", "zh"])
def test_summed_statistics_give_the_corpus_score_exactly(pairs: list[tuple[list[str], str]]) -> None:
    language = "zh" if pairs is ZH_PAIRS else "fr"
    for metric in translation_metrics(hypotheses(pairs), streams(pairs), language):
        assert metric.stats.shape[0] == len(pairs)
        assert metric.value_of(metric.stats.sum(axis=0)) == metric.value
        batch = np.vstack([metric.stats.sum(axis=0), metric.stats[:3].sum(axis=0)])
        assert metric.value_of(batch).shape == (2,)
        assert metric.value_of(batch)[0] == metric.value


def test_per_item_scores_are_sacrebleu_sentence_scores() -> None:
    metrics = by_name(PAIRS)
    for i, (refs, hyp) in enumerate(PAIRS):
        assert metrics["bleu"].per_item[i] == sacrebleu.sentence_bleu(hyp, refs).score
        assert metrics["chrf"].per_item[i] == sacrebleu.sentence_chrf(hyp, refs).score
        assert metrics["ter"].per_item[i] == sacrebleu.sentence_ter(hyp, refs).score


def test_missing_references_are_none_not_empty_strings() -> None:
    """sacrebleu drops None but scores '' as an empty reference: padding with '' would change TER."""
    hyps = hypotheses(PAIRS)
    padded_empty = [[ref or "" for ref in stream] for stream in streams(PAIRS)]
    assert by_name(PAIRS)["ter"].value != sacrebleu.corpus_ter(hyps, padded_empty).score
    gold = TranslationGold(IDS, [tuple(refs) for refs, _ in PAIRS])
    assert gold.streams() == streams(PAIRS)


def test_chinese_target_uses_the_zh_tokenizer() -> None:
    hyps, refs = hypotheses(ZH_PAIRS), streams(ZH_PAIRS)
    metrics = by_name(ZH_PAIRS, "zh")
    assert metrics["bleu"].value == BLEU(tokenize="zh").corpus_score(hyps, refs).score
    assert metrics["bleu"].value != BLEU(tokenize="13a").corpus_score(hyps, refs).score
    signature = TranslationScorer().signature(ScoringOptions(target_language="zh-CN"))
    assert signature["tok"] == "zh"
    assert "tok:zh" in signature["bleu"]
    assert "tok:13a" in TranslationScorer().signature(ScoringOptions(target_language="fr"))["bleu"]


def test_japanese_without_mecab_says_what_to_install() -> None:
    try:
        import MeCab  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("MeCab is installed")
    with pytest.raises(CodefestError) as err:
        translation_metrics(["猫です。"], [["猫です。"]], "ja")
    assert 'pip install "sacrebleu[ja]"' in err.value.render()


def sacrebleu_cli(tmp_path: Path, hyps: list[str], refs: list[list[str]], *extra: str) -> list[dict[str, object]]:
    """The sacrebleu command line on files, one per reference stream, as a participant would run it."""
    hyp_file = tmp_path / "hyp.txt"
    hyp_file.write_text("\n".join(hyps) + "\n", encoding="utf-8")
    ref_files = []
    for j, stream in enumerate(refs):
        ref_files.append(tmp_path / f"ref{j}.txt")
        ref_files[-1].write_text("\n".join(stream) + "\n", encoding="utf-8")
    command = [str(Path(sys.executable).with_name("sacrebleu")), *map(str, ref_files), "-i", str(hyp_file)]
    command += ["-m", *NAMES, "--format", "json", "-w", "10", *extra]
    done = subprocess.run(command, capture_output=True, text=True, check=True, encoding="utf-8")
    return json.loads(done.stdout)


@pytest.mark.parametrize("nrefs", [1, 2])
def test_values_equal_the_sacrebleu_command_line(tmp_path: Path, nrefs: int) -> None:
    pairs = [(refs[:nrefs], hyp) for refs, hyp in PAIRS if len(refs) >= nrefs]
    cli = sacrebleu_cli(tmp_path, hypotheses(pairs), streams(pairs))
    ours = by_name(pairs)
    signatures = metric_signatures("fr", num_refs=nrefs)
    for name, reported in zip(NAMES, cli, strict=True):
        assert ours[name].value == pytest.approx(reported["score"], abs=1e-9)
        assert signatures[name] == reported["signature"]


def test_chinese_values_equal_the_sacrebleu_command_line(tmp_path: Path) -> None:
    pairs = [(refs[:1], hyp) for refs, hyp in ZH_PAIRS]
    cli = sacrebleu_cli(tmp_path, hypotheses(pairs), streams(pairs), "--tokenize", "zh")
    ours = by_name(pairs, "zh")
    for name, reported in zip(NAMES, cli, strict=True):
        assert ours[name].value == pytest.approx(reported["score"], abs=1e-9)


def test_bootstrap_intervals_hold_the_value_and_repeat_with_the_seed() -> None:
    metrics = translation_metrics(hypotheses(PAIRS), streams(PAIRS), "fr")
    first = confidence_intervals(metrics, len(PAIRS), 200, seed=11)
    assert first == confidence_intervals(metrics, len(PAIRS), 200, seed=11)
    for metric in metrics:
        low, high = first[metric.name]
        assert low <= metric.value <= high
        assert low < high


# --- the scorer end to end ----------------------------------------------------------------------------------------


def write_gold(tmp_path: Path) -> Path:
    path = tmp_path / "gold.jsonl"
    lines = []
    for item_id, (refs, _) in zip(IDS, PAIRS, strict=True):
        row = {"id": item_id, "source": "..."}
        row.update({"reference": refs[0]} if len(refs) == 1 else {"references": refs})
        lines.append(json.dumps(row, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def prediction_lines() -> list[str]:
    return [
        json.dumps({"id": i, "translation": hyp}, ensure_ascii=False) for i, (_, hyp) in zip(IDS, PAIRS, strict=True)
    ]


def test_scorer_reads_files_and_scores_in_gold_order(tmp_path: Path) -> None:
    scorer = scorer_for("translation")
    assert "translation" in SCORERS and scorer.task == "translation"
    gold = scorer.read_gold(write_gold(tmp_path))
    assert scorer.item_ids(gold) == IDS
    path = tmp_path / "predictions.jsonl"
    path.write_text("\n".join(reversed(prediction_lines())) + "\n", encoding="utf-8")
    problems = Problems(path)
    predictions = scorer.read_predictions(path, scorer.gold_items(gold), problems, Limits(), ScoringOptions())
    problems.check()
    metrics = scorer.metrics(gold, predictions, ScoringOptions(target_language="fr"))
    assert [m.value for m in metrics] == [m.value for m in translation_metrics(hypotheses(PAIRS), streams(PAIRS), "fr")]


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ('{"id": "A", "reference": "x"}\n{"id": "A", "reference": "y"}\n', ["line 2", "'A' is on line 1 and again"]),
        ('{"id": "A", "reference": "x"}\n{"id": "B"}\n', ["line 2", 'exactly one of "reference" and "references"']),
        ('{"id": "A", "reference": "x", "references": ["y"]}\n', ["line 1", "exactly one of"]),
        ('{"id": "A", "references": []}\n', ["line 1", "not a non-empty list"]),
        (
            '{"id": "A", "references": ["x", null]}\n',
            ["line 1", "a reference is null, not text", "no null, no empty string"],
        ),
        ('{"id": "A", "reference": ""}\n', ["line 1", "a reference is empty"]),
        ('{"id": 7, "reference": "x"}\n', ["line 1", '"id" is a number (7)']),
        ('{"reference": "x"}\n', ["line 1", 'no "id"']),
        ('{"id": "A", "reference": "x"}\n{"id": "B", "reference": "y"\n', ["line 2", "not valid JSON"]),
        ("\n\n", ["the file holds no items"]),
    ],
)
def test_gold_problems_raise_naming_the_file_and_line(tmp_path: Path, content: str, fragments: list[str]) -> None:
    path = tmp_path / "gold.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CodefestError) as err:
        read_gold(path)
    message = err.value.render()
    assert str(path) in message and "organiser's reference file" in message
    for fragment in fragments:
        assert fragment in message


def test_gold_keeps_order_and_reference_counts(tmp_path: Path) -> None:
    gold = read_gold(write_gold(tmp_path))
    assert gold.ids == IDS
    assert [len(refs) for refs in gold.references] == [len(refs) for refs, _ in PAIRS]


# --- malformed submissions ----------------------------------------------------------------------------------------

Build = Callable[[list[str]], str | bytes]


def replace(number: int, line: str) -> Build:
    """The valid file with line `number` (1-based) replaced."""
    return lambda lines: "\n".join([*lines[: number - 1], line, *lines[number:]]) + "\n"


def with_reference(tmp_path: Path, reference: str, source: str | None = "...") -> Path:
    """The gold file with the first item's reference (and source, None for none) replaced."""
    path = write_gold(tmp_path)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[0] = {"id": IDS[0], "reference": reference} | ({"source": source} if source is not None else {})
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n", encoding="utf-8")
    return path


def write_inputs(tmp_path: Path, first_source: str = "...") -> Path:
    """The public test inputs of the bundle: ids and sources, no reference."""
    path = tmp_path / "test.jsonl"
    sources = [first_source] + ["..."] * (len(IDS) - 1)
    path.write_text("".join(json.dumps({"id": i, "source": s}) + "\n" for i, s in zip(IDS, sources, strict=True)))
    return path


MALFORMED: dict[str, tuple[Build, list[str]]] = {
    "not json": (
        replace(3, '{"id": "T-03", "translation": "x"'),
        ["line 3", "not valid JSON", "one JSON object per line"],
    ),
    "json array": (replace(2, '["T-02", "x"]'), ["line 2", "not an object", 'write {"id": ..., ...}']),
    "missing id": (replace(4, '{"translation": "x"}'), ["line 4", 'no "id"', "add the test item's id", '"T-01"']),
    "numeric id": (replace(5, '{"id": 5, "translation": "x"}'), ["line 5", '"id" is a number (5)', "quote the id"]),
    "null id": (replace(5, '{"id": null, "translation": "x"}'), ["line 5", '"id" is null']),
    "unknown id": (
        replace(6, '{"id": "T-99", "translation": "x"}'),
        ["line 6", "'T-99' is not a test id", "use only ids"],
    ),
    "near id": (replace(6, '{"id": " t-06", "translation": "x"}'), ["line 6", "exactly as the test file does: 'T-06'"]),
    "duplicate id": (
        lambda lines: "\n".join([*lines, lines[1]]) + "\n",
        ["line 15", "'T-02' is on line 2 and again on line 15", "keep one line per id"],
    ),
    "missing translation": (replace(7, '{"id": "T-07"}'), ["line 7", 'no "translation"', 'add "translation"']),
    "translation list": (
        replace(8, '{"id": "T-08", "translation": ["a", "b"]}'),
        ["line 8", '"translation" is an array, not a string', "join the parts into one string"],
    ),
    "translation number": (replace(8, '{"id": "T-08", "translation": 3.5}'), ["line 8", "a number (3.5)"]),
    "extra key": (
        replace(1, '{"id": "T-01", "translation": "x", "score": 0.9, "src": "y"}'),
        ["line 1", "unexpected keys 'score', 'src'", 'keep only "id" and "translation"'],
    ),
    "misspelt key": (
        replace(1, '{"id": "T-01", "translaton": "x"}'),
        ["line 1", "unexpected key 'translaton'", "Fix: rename 'translaton' to 'translation'"],
    ),
    "missing ids": (
        lambda lines: "\n".join(lines[:7]) + "\n",
        ["file: 7 of the 14 test ids have no translation", "'T-08', 'T-09', 'T-10', 'T-11', 'T-12' and 2 more"],
    ),
    "overlong": (
        replace(7, json.dumps({"id": "T-07", "translation": "y" * 1001})),  # its reference: 40 characters
        ["line 7", "1,001 characters, over this item's limit of 1,000", "without repetitions"],
    ),
    "bad utf-8": (
        lambda lines: "\n".join(lines[:2]).encode() + b'\n{"id": "T-03", "translation": "caf\xe9"}\n',
        ["line 3", "is not UTF-8", "save the file as UTF-8"],
    ),
    "empty file": (lambda lines: b"", ["file: the file is empty", "write one prediction per test item"]),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_predictions_are_reported_with_line_and_fix(tmp_path: Path, case: str) -> None:
    build, fragments = MALFORMED[case]
    message = check_predictions(tmp_path, build(prediction_lines()))
    for fragment in fragments:
        assert fragment in message


def check_predictions(tmp_path: Path, content: str | bytes, gold_path: Path | None = None) -> str:
    """The rendered InvalidSubmission for a predictions file, validated against a public gold file's items."""
    items = gold_items(read_gold(gold_path or write_gold(tmp_path)))
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    problems = Problems(path)
    TranslationScorer().read_predictions(path, items, problems, Limits(), ScoringOptions())
    with pytest.raises(InvalidSubmission) as err:
        problems.check()
    message = err.value.render()
    assert str(path) in message and "an invalid file uses none of your quota" in message
    return message


def test_length_limit_grows_with_the_source(tmp_path: Path) -> None:
    lines = prediction_lines()
    gold = read_gold(with_reference(tmp_path, "r", source="s" * 80))  # limit 20 * 80 = 1,600 characters
    path = tmp_path / "predictions.jsonl"
    path.write_text(replace(1, json.dumps({"id": "T-01", "translation": "z" * 1600}))(lines), encoding="utf-8")
    problems = Problems(path)
    assert len(TranslationScorer().read_predictions(path, gold_items(gold), problems, Limits(), ScoringOptions())) == 14
    assert not problems
    too_long = replace(1, json.dumps({"id": "T-01", "translation": "z" * 1601}))(lines)
    message = check_predictions(tmp_path, too_long, with_reference(tmp_path, "r", source="s" * 80))
    assert "limit of 1,600 (the larger of 1,000 and 20 times its source's length)" in message


def test_a_gold_file_without_sources_gets_a_fixed_limit(tmp_path: Path) -> None:
    too_long = replace(1, json.dumps({"id": "T-01", "translation": "z" * (UNKNOWN_SOURCE_LIMIT + 1)}))
    message = check_predictions(tmp_path, too_long(prediction_lines()), with_reference(tmp_path, "r", source=None))
    assert f"over this item's limit of {UNKNOWN_SOURCE_LIMIT:,}" in message


@pytest.mark.parametrize("reference", ["r", "r" * 80, "r" * 5000])
def test_refusals_say_nothing_of_the_held_out_reference(tmp_path: Path, reference: str) -> None:
    """Validated against the public test inputs, a file gets the same message whatever the references are.

    A limit of 20 times the reference's length let a team read every reference length from its refusals.
    """
    gold, inputs = with_reference(tmp_path, reference, source=None), write_inputs(tmp_path, "s" * 50)
    predictions = tmp_path / "predictions.jsonl"
    lines = prediction_lines()
    predictions.write_text(replace(1, json.dumps({"id": "T-01", "translation": "z" * 1000}))(lines))
    ids, _ = validated_items("translation", gold, predictions, ScoringOptions(), inputs=inputs)
    assert ids == IDS
    for length, expected in EXPECTED_REFUSAL.items():
        predictions.write_text(replace(1, json.dumps({"id": "T-01", "translation": "z" * length}))(lines))
        with pytest.raises(InvalidSubmission) as refused:
            validated_items("translation", gold, predictions, ScoringOptions(), inputs=inputs)
        assert refused.value.render().replace(str(predictions), "") == expected


EXPECTED_REFUSAL = {
    length: " is not a valid submission (1 problem):\n  - line 1: the translation has "
    f"{length:,} characters, over this item's limit of 1,000 (the larger of 1,000 and 20 times its source's length)."
    " Fix: submit one translation of the source text, without repetitions, alternatives or notes\n"
    "  fix: correct the file and submit it again; an invalid file uses none of your quota"
    for length in (1001, 1601, 100_001)
}


def test_many_bad_lines_stop_at_the_listing_limit(tmp_path: Path) -> None:
    """The reader stops once MAX_LISTED problems are found: 25 bad lines give 20, and nothing after line 20."""
    bad = [json.dumps({"id": f"X-{i}", "translation": "x"}) for i in range(25)]
    message = check_predictions(tmp_path, "\n".join(bad) + "\n")
    listed = [line for line in message.splitlines() if line.startswith("  - ")]
    assert len(listed) == MAX_LISTED
    assert listed[-1].startswith("  - line 20:") and "line 21" not in message
    assert f"(at least {MAX_LISTED} problems)" in message  # lines 21-25 were not read


def test_problems_past_the_listing_limit_are_counted(tmp_path: Path) -> None:
    """A line with several problems can take the total past the limit; the rest are counted, not listed."""
    bad = [json.dumps({"id": f"X-{i}", "translation": "x"}) for i in range(MAX_LISTED - 1)]
    bad.append(json.dumps({"score": 1}))  # unexpected key, no id, no translation
    bad += [json.dumps({"id": "X", "translation": "x"})] * 5
    message = check_predictions(tmp_path, "\n".join(bad) + "\n")
    assert len([line for line in message.splitlines() if line.startswith("  - ")]) == MAX_LISTED
    assert "(at least 22 problems)" in message and "... and at least 2 more problems" in message


def test_a_numeric_id_gets_its_quoted_form_as_the_fix(tmp_path: Path) -> None:
    gold_path = tmp_path / "gold.jsonl"
    gold_path.write_text('{"id": "1", "reference": "Un."}\n{"id": "2", "reference": "Deux."}\n', encoding="utf-8")
    content = '{"id": "1", "translation": "Un."}\n{"id": 2, "translation": "Deux."}\n'
    message = check_predictions(tmp_path, content, gold_path)
    assert (
        'line 2: "id" is a number (2), not a string. Fix: quote the id exactly as in the test file, e.g. "id": "2"'
        in message
    )
