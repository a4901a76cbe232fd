"""`codefest score` as participants and organisers run it: challenge dev labels, standalone files, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codefest.challenges.discovery import load
from tests.helpers import small_copy
from tests.test_cli import assert_clean_failure, codefest, codefest_many

pytestmark = pytest.mark.slow  # builds three challenges, then scores through the command line


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Small copies of the three challenges, built into a workspace of their own."""
    root = tmp_path_factory.mktemp("score")
    for slug in ("ipc-classification", "patent-translation-en-fr", "prior-art-search"):
        small_copy(root / "challenges", slug, f"tiny-{slug}")
    env = {"CODEFEST_CHALLENGES_PATH": str(root / "challenges"), "CODEFEST_HOME": str(root / "home")}
    result = codefest("data", "build", env=env)
    assert result.returncode == 0, result.stderr
    return env


def _bundle(env: dict[str, str], slug: str) -> Path:
    return Path(env["CODEFEST_HOME"]) / "bundles" / f"tiny-{slug}"


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_perfect_dev_predictions_score_one(built: dict[str, str], tmp_path: Path) -> None:
    dev = _jsonl(_bundle(built, "ipc-classification") / "dev.jsonl")
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"id": r["id"], "labels": r["labels"]}) + "\n" for r in dev))
    result = codefest("score", "tiny-ipc-classification", str(pred), "--split", "dev", "--json", env=built)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["task"] == "classification" and out["n_items"] == len(dev)
    assert next(iter(out["metrics"])) == "top_prediction@subclass"  # the challenge's metrics, in its order
    assert out["metrics"]["top_prediction@group"] == {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0}
    version = load("ipc-classification").spec.version  # the small copy keeps the bundled challenge's version
    assert f"challenge:tiny-ipc-classification:{version}|dataset:" in out["signature"]
    assert "split:dev|bootstrap:1000:12345|set:top:3" in out["signature"]


def test_copying_the_source_scores_low_bleu_with_an_interval(built: dict[str, str], tmp_path: Path) -> None:
    dev = _jsonl(_bundle(built, "patent-translation-en-fr") / "dev.jsonl")
    pred = tmp_path / "copy.jsonl"
    pred.write_text("".join(json.dumps({"id": r["id"], "translation": r["source"]}) + "\n" for r in dev))
    result = codefest(
        "score", "tiny-patent-translation-en-fr", str(pred), "--json", "--bootstrap", "200", "--seed", "3", env=built
    )
    assert result.returncode == 0, result.stderr
    bleu = json.loads(result.stdout)["metrics"]["bleu"]
    assert 0 < bleu["ci_low"] < bleu["value"] < bleu["ci_high"] < 40
    assert "|tok:13a|bleu:{" in json.loads(result.stdout)["signature"]


def test_search_run_in_the_terminal(built: dict[str, str], tmp_path: Path) -> None:
    qrels = (_bundle(built, "prior-art-search") / "dev.qrels").read_text().splitlines()
    relevant = [line.split() for line in qrels if line.split()[3] != "0"]
    run = tmp_path / "run.txt"
    run.write_text("".join(f"{t} Q0 {d} {i} {100 - i} me\n" for i, (t, _, d, _) in enumerate(relevant, start=1)))
    result = codefest("score", "tiny-prior-art-search", str(run), env=built)
    assert result.returncode == 0, result.stderr
    assert "pres@100" in result.stdout and "95% interval" in result.stdout
    assert "signature: scoring:" in result.stdout


def test_standalone_scoring_with_any_gold_file(tmp_path: Path) -> None:
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 2\nq1 0 d2 1\nq2 0 d3 1\n")
    run = tmp_path / "run.jsonl"
    run.write_text('{"id": "q1", "ranking": ["d2", "d9", "d1"]}\n')
    result = codefest("score", "--task", "search", "--gold", str(qrels), "--predictions", str(run), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # q1: AP = (1/1 + 2/3) / 2 = 5/6; q2 is missing from the run and scores 0 -> MAP = 5/12
    assert out["metrics"]["map"]["value"] == pytest.approx(5 / 12)
    assert out["n_items"] == 2 and out["signature"].startswith("scoring:")


def test_an_invalid_file_exits_2_with_the_messages(built: dict[str, str], tmp_path: Path) -> None:
    pred = tmp_path / "bad.jsonl"
    pred.write_text('{"id": "nope", "labels": ["A01B 1/00"]}\n{"id": 3}\n{"id": "test item", "labels": []}\n')
    result = codefest("score", "tiny-ipc-classification", str(pred), env=built)
    assert_clean_failure(
        result,
        f"{pred} cannot be scored (4 problems)",
        "line 1: id 'nope' is not a dev item. Fix: predict only the ids of the dev file",
        "line 2: no string 'id'",
        "line 3: id 'test item' is not a dev item",  # the participant's own text stays as written
        "dev ids have no prediction",
    )
    said = result.stderr.replace(str(pred), "PATH").replace("'test item'", "")
    assert "test" not in said and "submission" not in said


def test_test_split_is_not_public(built: dict[str, str], tmp_path: Path) -> None:
    pred = tmp_path / "p.jsonl"
    pred.write_text("{}\n")
    assert_clean_failure(
        codefest("score", "tiny-ipc-classification", str(pred), "--split", "test", env=built),
        "split 'test' has no public labels",
    )


def test_unbuilt_challenge_says_how_to_build_it(tmp_path: Path) -> None:
    pred = tmp_path / "p.jsonl"
    pred.write_text("{}\n")
    result = codefest("score", "ipc-classification", str(pred), env={"CODEFEST_HOME": str(tmp_path / "empty")})
    assert_clean_failure(result, "run: codefest data build ipc-classification")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "ranking", "--gold", "g", "--predictions", "p"], "Unknown task 'ranking'"),
        (["--task", "search", "--gold", "missing.txt", "--predictions", "p"], "gold file missing.txt not found"),
        (["--task", "search"], "standalone scoring needs --task, --gold and --predictions"),
        (["ipc-classification"], "give a challenge and a predictions file"),
    ],
)
def test_bad_arguments_get_a_message(args: list[str], message: str) -> None:
    assert_clean_failure(codefest("score", *args), message)


PREDICTION = {  # one prediction of each task, and the key a newcomer misspells
    "ipc-classification": ({"labels": ["A01B 1/00"]}, "labels", "label"),
    "patent-translation-en-fr": ({"translation": "x"}, "translation", "translaton"),
    "prior-art-search": ({"ranking": ["EP-0000001-A1"]}, "ranking", "rankings"),
}


def _ids(env: dict[str, str], slug: str, split: str) -> list[str]:
    return [row["id"] for row in _jsonl(_bundle(env, slug) / f"{split}.jsonl")]


def _predictions(path: Path, ids: list[str], fields: dict) -> Path:
    path.write_text("".join(json.dumps({"id": item, **fields}) + "\n" for item in ids))
    return path


@pytest.mark.parametrize("slug", sorted(PREDICTION))
def test_predictions_of_another_split_are_named_once(built: dict[str, str], tmp_path: Path, slug: str) -> None:
    """Test predictions scored against dev: one message naming the split, not "not a test item" for every id."""
    fields, _, _ = PREDICTION[slug]
    test = _predictions(tmp_path / "test.jsonl", _ids(built, slug, "test"), fields)
    dev = _predictions(tmp_path / "dev.jsonl", _ids(built, slug, "dev"), fields)
    result, train = codefest_many(  # one after the other
        ["score", f"tiny-{slug}", str(test)], ["score", f"tiny-{slug}", str(dev), "--split", "train"], env=built
    )
    assert_clean_failure(result, f"{test} predicts the test items", "against the dev split's labels")
    assert f"codefest submit tiny-{slug} {test}" in result.stderr
    assert "not a test" not in result.stderr and "quota" not in result.stderr
    assert result.stderr.count("error:") == 1 and "Error" not in result.stderr
    assert_clean_failure(train, f"{dev} predicts the dev items", f"add --split dev: codefest score tiny-{slug}")


@pytest.mark.parametrize("slug", sorted(PREDICTION))
def test_one_misspelt_key_on_every_line_is_one_problem(built: dict[str, str], tmp_path: Path, slug: str) -> None:
    """'label' for 'labels' on every line: one problem naming the lines, counted in full, with the fix."""
    fields, key, misspelt = PREDICTION[slug]
    ids = _ids(built, slug, "dev") * (10 if slug == "prior-art-search" else 1)  # 3 topics; keys are read first
    assert len(ids) > 25  # more than MAX_LISTED lines, so the count shows that reading went on
    misspelt_file = _predictions(tmp_path / "p.jsonl", ids, {misspelt: fields[key]})
    misspelt_file.write_text(misspelt_file.read_text() + "not json\n")
    result = codefest("score", f"tiny-{slug}", str(misspelt_file), "--split", "dev", env=built)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert lines[0].startswith(f"  - lines 1-{len(ids)}: ") and f"rename '{misspelt}' to '{key}'" in lines[0]
    assert f"  - line {len(ids) + 1}: not valid JSON" in [
        line[: len(f"  - line {len(ids) + 1}: not valid JSON")] for line in lines
    ]
    per_line = 2 if slug == "patent-translation-en-fr" else 1  # and 'no "translation"', collapsed likewise
    assert f"({len(ids) * per_line + 1} problems)" in result.stderr and len(lines) == per_line + 1
    assert "quota" not in result.stderr and "Traceback" not in result.stderr
