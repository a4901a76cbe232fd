"""`codefest score` as participants and organisers run it: challenge dev labels, standalone files, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import small_copy
from tests.test_cli import assert_clean_failure, codefest

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
    assert "challenge:tiny-ipc-classification:1.0|dataset:" in out["signature"]
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
    pred.write_text('{"id": "nope", "labels": ["A01B 1/00"]}\n{"id": 3}\n')
    result = codefest("score", "tiny-ipc-classification", str(pred), env=built)
    assert_clean_failure(
        result, "line 1: id 'nope' is not a test item", "line 2: no string 'id'", "test ids have no prediction"
    )


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
