"""Each loader on a small file in its corpus's published format (tests/fixtures/SOURCES.md), end to end.

A challenge is declared on the fixture, built into a bundle and a vault, and a submission is scored against it: a
loader that reads its format wrong shows up here as a build error, a header read as an item, or a wrong score.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from codefest.challenges.discovery import load
from codefest.evaluation import roster
from codefest.evaluation.evaluate import Evaluator
from codefest.shared_datasets.heldout import build
from tests import launcher
from tests.helpers import bundled_spec, vault_test_labels, write_challenge

pytestmark = pytest.mark.slow  # builds real-format corpora and evaluates them

FIXTURES = Path(__file__).parent / "fixtures"
USPTO_DEBUG = FIXTURES / "uspto-debug"
PARAPAT_ABSTRACTS = FIXTURES / "parapat" / "el-en.tsv"
PARAPAT_SENTENCES = FIXTURES / "parapat" / "en_es.tsv"
HUPD = FIXTURES / "hupd"
SUBCLASS_METRICS = [
    {"name": "top_prediction@subclass", "higher_is_better": True},
    {"name": "three_guesses@subclass", "higher_is_better": True},
    {"name": "all_categories@subclass", "higher_is_better": True},
]


def classification(slug: str, builder: str, options: dict[str, Any]) -> dict[str, Any]:
    """The bundled IPC challenge, re-declared on a fixture with metrics its labels reach."""
    spec = bundled_spec("ipc-classification") | {"slug": slug}
    spec["dataset"] = {"builder": builder, "version": "fixture", "options": options}
    spec["metrics"] = SUBCLASS_METRICS
    spec["primary_metric"] = "top_prediction@subclass"
    spec["tie_breakers"] = ["three_guesses@subclass"]
    return spec


def translation(slug: str, path: Path, source: str, target: str) -> dict[str, Any]:
    spec = bundled_spec("patent-translation-en-fr") | {"slug": slug, "languages": {"source": source, "target": target}}
    spec["dataset"] = {"builder": "parapat-tsv", "version": "fixture", "options": {"path": str(path)}}
    return spec


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every real-format challenge declared and built once, in one workspace, with one enrolled team."""
    base = tmp_path_factory.mktemp("real-formats")
    uspto = {
        "data_files": {split: str(USPTO_DEBUG / f"{split}.tsv") for split in ("train", "dev", "test")},
        "columns": {"id": "patent_id"},
    }
    specs = [
        classification("uspto-debug", "files-classification", uspto),
        classification("hupd-cpc", "hupd-json", {"path": str(HUPD), "scheme": "cpc"}),
        translation("parapat-el-en", PARAPAT_ABSTRACTS, "el", "en"),
        translation("parapat-en-es", PARAPAT_SENTENCES, "en", "es"),
    ]
    for spec in specs:
        write_challenge(base / "challenges", spec)
    env = {"CODEFEST_CHALLENGES_PATH": str(base / "challenges"), "CODEFEST_HOME": str(base / "home")}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        for spec in specs:
            build(load(spec["slug"]), base / "home")
    roster.add(base / "home", ["office-a"])
    return {"challenges": base / "challenges", "home": base / "home"}


def bundle_rows(home: Path, slug: str, split: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (home / f"bundles/{slug}/{split}.jsonl").read_text().splitlines()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def labelled(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Predictions that give every item its gold labels."""
    return [{"id": row["id"], "labels": row["labels"]} for row in rows]


def score(workspace: dict[str, Path], slug: str, predictions: Path) -> dict[str, float]:
    """`codefest score SLUG FILE --split dev`, as a participant runs it; the metric values."""
    env = {
        **os.environ,
        "CODEFEST_CHALLENGES_PATH": str(workspace["challenges"]),
        "CODEFEST_HOME": str(workspace["home"]),
    }
    args = ["score", slug, str(predictions), "--split", "dev", "--json", "--bootstrap", "0"]
    result = launcher.run(args, env=env)
    assert result.returncode == 0, result.stderr
    return {name: value["value"] for name, value in json.loads(result.stdout)["metrics"].items()}


def test_uspto_debug_tsv_keeps_its_split_and_reads_list_labels(workspace: dict[str, Path]) -> None:
    home = workspace["home"]
    train = bundle_rows(home, "uspto-debug", "train")
    assert [row["id"] for row in train][:2] == ["6981340", "6981343"]
    assert train[1]["labels"] == ["G09F", "Y10T"] and train[1]["title"] == "Extended liner shelf talker"
    assert len(bundle_rows(home, "uspto-debug", "dev")) == 6
    assert vault_test_labels(home, "uspto-debug")["10165723"] == ["A01C"]


def test_uspto_debug_dev_predictions_scored(workspace: dict[str, Path], tmp_path: Path) -> None:
    dev = bundle_rows(workspace["home"], "uspto-debug", "dev")
    right = score(workspace, "uspto-debug", write_jsonl(tmp_path / "right.jsonl", labelled(dev)))
    assert right["top_prediction@subclass"] == pytest.approx(1.0)
    half = [{"id": row["id"], "labels": row["labels"] if n % 2 else ["H99Z"]} for n, row in enumerate(dev)]
    assert score(workspace, "uspto-debug", write_jsonl(tmp_path / "half.jsonl", half))["top_prediction@subclass"] == 0.5


def test_uspto_debug_test_submission_evaluated_by_the_organiser(workspace: dict[str, Path], tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CODEFEST_CHALLENGES_PATH", str(workspace["challenges"]))
        evaluator = Evaluator(load("uspto-debug"), workspace["home"])
        gold = vault_test_labels(workspace["home"], "uspto-debug")
        path = write_jsonl(tmp_path / "test.jsonl", labelled([{"id": k, "labels": v} for k, v in gold.items()]))
        outcome = evaluator.predictions("office-a", path)
    assert outcome.status == "scored", outcome.message
    assert outcome.public["top_prediction@subclass"].value == pytest.approx(1.0)


def test_hupd_application_files_with_cpc_labels(workspace: dict[str, Path], tmp_path: Path) -> None:
    home = workspace["home"]
    rows = [row for split in ("train", "dev") for row in bundle_rows(home, "hupd-cpc", split)]
    every = rows + [{"id": key, "labels": labels} for key, labels in vault_test_labels(home, "hupd-cpc").items()]
    assert len(every) == 10 and "15000205" not in {row["id"] for row in every}  # no main symbol: skipped
    labels = {row["id"]: row["labels"] for row in every}["15000138"]
    assert [symbol.replace(" ", "") for symbol in labels] == ["F03D1/0633", "Y02E10/72"]  # main first; any spacing
    dev = bundle_rows(home, "hupd-cpc", "dev")
    assert score(workspace, "hupd-cpc", write_jsonl(tmp_path / "p.jsonl", labelled(dev)))["three_guesses@subclass"] == 1


def test_parapat_abstract_file_header_is_not_an_item(workspace: dict[str, Path], tmp_path: Path) -> None:
    home = workspace["home"]
    public = [row for split in ("train", "dev", "test") for row in bundle_rows(home, "parapat-el-en", split)]
    assert len(public) == 12
    assert not {"src_abs", "tgt_abs", "index", "844"} & {row.get("source") for row in public}
    held_out = (home / "vault/parapat-el-en/test-labels.jsonl").read_text().splitlines()
    labelled = [row for row in public if "reference" in row] + [json.loads(line) for line in held_out]
    by_id = {row["id"]: row for row in labelled}  # the item lands in any split: the split's seed is secret
    assert by_id["10950112-2"]["reference"] == "The olive oil obtained has a low acidity and a high polyphenol content."
    dev = bundle_rows(home, "parapat-el-en", "dev")
    perfect = write_jsonl(tmp_path / "p.jsonl", [{"id": row["id"], "translation": row["reference"]} for row in dev])
    assert score(workspace, "parapat-el-en", perfect)["bleu"] == pytest.approx(100.0)


def test_parapat_sentence_file_scored(workspace: dict[str, Path], tmp_path: Path) -> None:
    dev = bundle_rows(workspace["home"], "parapat-en-es", "dev")
    assert all(row["id"].startswith("line-") for row in dev)
    perfect = write_jsonl(tmp_path / "p.jsonl", [{"id": row["id"], "translation": row["reference"]} for row in dev])
    assert score(workspace, "parapat-en-es", perfect)["chrf"] == pytest.approx(100.0)
