"""Loaders for real corpora, run on small invented files in each corpus's own format, offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gzip
import json
import logging
import re
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, DatasetDict

from codefest.core.errors import CodefestError
from codefest.shared_datasets.builders import BuildContext, all_builders
from codefest.shared_datasets.schema import FEATURES, SPLITS, corpus_features

BUILDERS = all_builders()
FIXTURES = Path(__file__).parent / "fixtures" / "corpora"
CLEF = {
    "collection": "clef_ip/collection.jsonl",
    "topics": "clef_ip/topics.txt",
    "qrels": "clef_ip/qrels.txt",
}
GENERIC_CLASSIFICATION = {
    "data_files": "generic/classification.csv",
    "columns": {"id": "doc_id", "abstract": "text", "labels": "ipc"},
}
GENERIC_SEARCH = {"data_files": "generic/search_topics.jsonl", "corpus_files": "generic/search_corpus.csv"}

# one working configuration per loader: (builder, options, task, number of items over train/dev/test)
CASES = [
    ("hupd-json", {"path": "hupd"}, "classification", 7),
    ("bigpatent", {"path": "bigpatent/sample.jsonl"}, "classification", 6),
    ("parapat-tsv", {"path": "parapat/en-de.tsv"}, "translation", 8),
    ("clef-ip-trec", CLEF, "search", 6),
    ("files-classification", GENERIC_CLASSIFICATION, "classification", 7),
    (
        "files-translation",
        {"data_files": "generic/translation.jsonl", "columns": {"source": "ja", "reference": "en"}},
        "translation",
        6,
    ),
    ("files-search", GENERIC_SEARCH, "search", 4),
]
CASE_IDS = [case[0] for case in CASES]


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network, and a throwaway cache: `datasets` reads its settings from `config` at call time."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")


def build(name: str, base: Path = FIXTURES, **options: Any) -> DatasetDict:
    loader = BUILDERS.get(name)
    return loader.build(loader.validate_options(options), BuildContext(base_dir=base))


def items(data: DatasetDict) -> dict[str, dict[str, Any]]:
    """Every train/dev/test item by id."""
    return {row["id"]: row for split in SPLITS for row in data[split]}


def split_ids(data: DatasetDict) -> dict[str, list[str]]:
    return {split: list(data[split]["id"]) for split in SPLITS}


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps(record) + "\n" for record in records)
    return path


# every loader


@pytest.mark.parametrize(("name", "options", "task", "total"), CASES, ids=CASE_IDS)
def test_splits_and_columns_follow_the_schema(name: str, options: dict, task: str, total: int) -> None:
    data = build(name, **options)
    assert BUILDERS.get(name).task == task
    assert BUILDERS.get(name).kind == "loader"
    assert set(data) == set(SPLITS) | ({"corpus"} if task == "search" else set())
    for split in SPLITS:
        assert len(data[split]) > 0
        assert list(data[split].column_names) == list(FEATURES[task])
        assert data[split].features == FEATURES[task]
    if task == "search":
        assert data["corpus"].features == corpus_features()
    assert sum(len(data[split]) for split in SPLITS) == total
    assert len(items(data)) == total


@pytest.mark.parametrize("name", CASE_IDS)
def test_card_and_summary(name: str) -> None:
    loader = BUILDERS.get(name)
    assert "icence" in loader.card_text()
    assert loader.summary and loader.summary != name


@pytest.mark.parametrize(("name", "options", "task", "total"), CASES, ids=CASE_IDS)
def test_same_seed_same_split(name: str, options: dict, task: str, total: int) -> None:
    assert split_ids(build(name, **options, seed=7)) == split_ids(build(name, **options, seed=7))


def test_another_seed_another_split() -> None:
    assert split_ids(build("hupd-json", path="hupd", seed=0)) != split_ids(build("hupd-json", path="hupd", seed=1))


@pytest.mark.parametrize(
    ("name", "options", "missing"),
    [
        ("hupd-json", {"path": "hupd/2099"}, "hupd/2099"),
        ("bigpatent", {"path": "bigpatent/nope.jsonl.gz"}, "bigpatent/nope.jsonl.gz"),
        ("parapat-tsv", {"path": "parapat/xx-yy.tsv"}, "parapat/xx-yy.tsv"),
        ("clef-ip-trec", {**CLEF, "qrels": "clef_ip/qrels-2011.txt"}, "clef_ip/qrels-2011.txt"),
        ("files-classification", {"data_files": "generic/missing.csv"}, "generic/missing.csv"),
        (
            "files-translation",
            {"data_files": ["generic/translation.jsonl", "generic/x.jsonl"]},
            "generic/x.jsonl",
        ),
        (
            "files-search",
            {**GENERIC_SEARCH, "corpus_files": "generic/corpus.parquet"},
            "generic/corpus.parquet",
        ),
    ],
    ids=CASE_IDS,
)
def test_missing_file_names_the_resolved_path(name: str, options: dict, missing: str) -> None:
    with pytest.raises(CodefestError, match="not found: ") as err:
        build(name, **options)
    assert err.value.problem.endswith(str((FIXTURES / missing).resolve()))
    assert err.value.fix


@pytest.mark.parametrize(("name", "options", "task", "total"), CASES, ids=CASE_IDS)
def test_unknown_option_names_the_nearest(name: str, options: dict, task: str, total: int) -> None:
    with pytest.raises(ValueError, match=r"Unknown option of builder .* 'sed'\. Did you mean 'seed'\?"):
        BUILDERS.get(name).validate_options({**options, "sed": 3})


@pytest.mark.parametrize(("name", "local"), [("hupd-json", "path"), ("files-classification", "data_files")])
def test_local_files_and_hub_exclude_each_other(name: str, local: str) -> None:
    loader = BUILDERS.get(name)
    with pytest.raises(ValueError, match=f"give either '{local}' or 'hub_id', not both"):
        loader.validate_options({local: "x", "hub_id": "org/corpus"})
    with pytest.raises(ValueError, match=re.escape(f"give '{local}' (local files) or 'hub_id'")):
        loader.validate_options({})


# HUPD


def test_hupd_application_files_main_symbol_first(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="codefest.shared_datasets.loaders"):
        found = items(build("hupd-json", path="hupd/2016"))
    assert sorted(found) == ["14000101", "14000102", "14000103", "14000105"]
    assert found["14000101"]["labels"] == ["G06F0016000000", "G06F0016220000"]
    assert found["14000102"]["labels"] == ["F03D 1/06", "F03D 80/00"]
    assert found["14000103"]["labels"] == ["A61K0009280000"]
    assert found["14000105"]["labels"] == ["H04W0072120000", "H04W0072040000"]
    assert found["14000101"]["title"] == "Indexing time-series sensor data for range queries"
    assert found["14000103"]["abstract"].startswith("A tablet comprises a core")
    assert "skipped 1 of 5 records (no main_ipcr_label)" in caplog.text


def test_hupd_json_lines_and_cpc_scheme() -> None:
    ipc = items(build("hupd-json", path="hupd/hupd_2017.jsonl"))
    assert sorted(ipc) == ["15100201", "15100202", "15100204"]
    assert ipc["15100202"]["labels"] == ["E05D 3/02", "B60J 5/04"]
    cpc = items(build("hupd-json", path="hupd/2016", scheme="cpc"))
    assert len(cpc) == 5
    assert cpc["14000104"]["labels"] == ["H01M10/6556", "H01M50/20"]


def test_hupd_without_any_main_symbol_is_an_error(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "apps.jsonl", [{"application_number": "1", "main_ipcr_label": None}] * 3)
    with pytest.raises(CodefestError, match=r"no usable records \(3 skipped: no main_ipcr_label\)"):
        build("hupd-json", base=tmp_path, path="apps.jsonl")


def test_hupd_invalid_record_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "apps.jsonl"
    path.write_text('{"application_number": "1", "main_ipcr_label": "A01B"}\n{"application_number": "2",\n')
    with pytest.raises(CodefestError, match=re.escape(f"{path}, line 2: invalid JSON")):
        build("hupd-json", base=tmp_path, path="apps.jsonl")
    write_jsonl(path, [{"application_number": "1", "main_ipcr_label": "A01B", "ipcr_labels": 7}])
    with pytest.raises(CodefestError, match="line 1: 'ipcr_labels' should be a list of symbols, found int"):
        build("hupd-json", base=tmp_path, path="apps.jsonl")


# BIGPATENT


def test_bigpatent_category_field_upper_cased() -> None:
    found = items(build("bigpatent", path="bigpatent/sample.jsonl"))
    assert {key: row["labels"] for key, row in found.items()} == {
        "US-9000001-B2": ["A"],
        "US-9000002-B2": ["B"],
        "US-9000003-B1": ["G"],
        "US-9000004-B2": ["H"],
        "US-9000005-B2": ["Y"],
        "US-9000006-B1": ["G"],
    }
    assert found["US-9000003-B1"]["title"] == ""
    assert found["US-9000003-B1"]["abstract"].startswith("An optical encoder determines")


def bigpatent_record(number: int) -> dict[str, Any]:
    return {"publication_number": f"US-{number}-B2", "abstract": f"Abstract {number}.", "description": "..."}


def test_bigpatent_own_layout_keeps_split_and_reads_letters_off_folders(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "big" / "train" / "a" / "data0.gz", [bigpatent_record(n) for n in (1, 2, 3)])
    write_jsonl(tmp_path / "big" / "train" / "g" / "data0.gz", [bigpatent_record(n) for n in (4, 5)])
    write_jsonl(tmp_path / "big" / "val" / "g" / "data0.gz", [bigpatent_record(6)])
    write_jsonl(tmp_path / "big" / "test" / "y" / "data0.gz", [bigpatent_record(7)])
    data = build("bigpatent", base=tmp_path, path="big")
    assert split_ids(data) == {
        "train": ["US-1-B2", "US-2-B2", "US-3-B2", "US-4-B2", "US-5-B2"],
        "dev": ["US-6-B2"],
        "test": ["US-7-B2"],
    }
    assert data["train"]["labels"] == [["A"], ["A"], ["A"], ["G"], ["G"]]
    assert data["test"][0] == {"id": "US-7-B2", "title": "", "abstract": "Abstract 7.", "labels": ["Y"]}


def test_bigpatent_category_option(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "d.jsonl", [bigpatent_record(n) for n in range(1, 6)])
    data = build("bigpatent", base=tmp_path, path="d.jsonl", category="f")
    assert {label for row in items(data).values() for label in row["labels"]} == {"F"}
    with pytest.raises(CodefestError, match=re.escape("d.jsonl, line 1: no CPC category")):
        build("bigpatent", base=tmp_path, path="d.jsonl")
    write_jsonl(tmp_path / "z.jsonl", [{**bigpatent_record(1), "cpc_code": "z"}])
    with pytest.raises(CodefestError, match="'z' is not a BIGPATENT category"):
        build("bigpatent", base=tmp_path, path="z.jsonl")
    with pytest.raises(ValueError, match="option 'category'"):
        BUILDERS.get("bigpatent").validate_options({"path": "d.jsonl", "category": "k"})


# ParaPat


def test_parapat_two_columns_ids_by_line() -> None:
    found = items(build("parapat-tsv", path="parapat/en-de.tsv"))
    assert sorted(found) == [f"line-{n}" for n in (1, 2, 3, 5, 6, 7, 8, 9)]
    assert found["line-3"]["source"] == '"Flexible" as used herein means that the film can be bent without cracking.'
    assert found["line-3"]["reference"].startswith("„Flexibel“ bedeutet hier")
    assert found["line-8"] == {
        "id": "line-8",
        "source": "The valve is a solenoid valve.",
        "reference": "Das Ventil ist ein Magnetventil.",
    }


def test_parapat_id_column_numbers_each_family() -> None:
    found = items(build("parapat-tsv", path="parapat/fr-en.tsv", id_column=2))
    assert sorted(found) == [
        "EP1234567-1",
        "EP1234567-2",
        "EP1234567-3",
        "EP2345678-1",
        "EP2345678-2",
        "EP3456789-1",
    ]
    assert found["EP1234567-2"]["source"] == "Les plaquettes sont pressées contre le disque par un piston."
    assert found["EP1234567-2"]["reference"] == "The pads are pressed against the disc by a piston."


def test_parapat_swapped_columns() -> None:
    found = items(build("parapat-tsv", path="parapat/fr-en.tsv", source_column=1, target_column=0))
    assert found["line-6"]["source"] == "A friction stir welding method is described."


def test_parapat_short_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.tsv"
    path.write_text("One.\tEins.\n\nTwo without a tab\nThree.\tDrei.\n", encoding="utf-8")
    with pytest.raises(CodefestError, match=re.escape(f"{path}, line 3: 1 tab-separated column(s), 2 needed")):
        build("parapat-tsv", base=tmp_path, path="bad.tsv")
    with pytest.raises(CodefestError, match=re.escape("en-de.tsv, line 1: 2 tab-separated column(s), 3 needed")):
        build("parapat-tsv", path="parapat/en-de.tsv", id_column=2)


def test_parapat_columns_must_differ() -> None:
    with pytest.raises(ValueError, match="source_column, target_column and id_column must differ"):
        BUILDERS.get("parapat-tsv").validate_options({"path": "x.tsv", "id_column": 1})


# CLEF-IP


def test_clef_ip_collection_in_either_format() -> None:
    from_jsonl = build("clef-ip-trec", **CLEF)["corpus"]
    from_sgml = build("clef-ip-trec", **{**CLEF, "collection": "clef_ip/collection.sgml"})["corpus"]
    assert from_sgml.to_list() == from_jsonl.to_list()
    assert from_jsonl["id"] == [
        f"EP-100000{n}-{kind}" for n, kind in enumerate(["A1", "B1", "A2", "A1", "B1", "A1", "A1", "B1"], 1)
    ]
    assert from_sgml[5]["abstract"].endswith("to reduce pressure pulsation & noise.")
    assert from_sgml[0]["abstract"] == (
        "A plate heat exchanger has corrugated fins brazed between flat tubes; "
        "the fin pitch varies along the air path to balance pressure drop and heat transfer."
    )


def test_clef_ip_topics_and_graded_qrels(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="codefest.shared_datasets.loaders"):
        found = items(build("clef-ip-trec", **CLEF))
    assert sorted(found) == ["PAC-1", "PAC-2", "PAC-3", "PAC-4", "PAC-5", "PAC-6"]
    assert found["PAC-1"]["qrels"] == [
        {"doc_id": "EP-1000001-A1", "relevance": 2},
        {"doc_id": "EP-1000002-B1", "relevance": 1},
        {"doc_id": "EP-1000003-A2", "relevance": 1},
        {"doc_id": "EP-1000006-A1", "relevance": 0},
    ]
    assert found["PAC-6"]["qrels"] == [{"doc_id": "EP-1000008-B1", "relevance": 0}]
    assert found["PAC-1"]["title"] == "Brazed heat exchanger for vehicles"
    assert found["PAC-1"]["abstract"] == (
        "A heat exchanger for a motor vehicle in which fins are brazed to flat tubes without flux."
    )
    # no closing tags, a narrative to leave out
    assert found["PAC-2"]["title"] == "Separator for lithium batteries"
    assert found["PAC-2"]["abstract"] == "A battery separator that withstands high temperatures."
    assert found["PAC-3"]["abstract"] == "An electrolyte additive that protects the cathode at high voltage."
    assert found["PAC-4"]["abstract"] == "A gear pump with helical teeth & a shaped outlet."
    assert "dropped 1 of 7 topics without qrels" in caplog.text
    assert "1 topics are judged but have no relevant document" in caplog.text
    assert "ignored 1 qrels lines for topics that are not loaded" in caplog.text


def test_clef_ip_keep_unjudged() -> None:
    found = items(build("clef-ip-trec", **CLEF, keep_unjudged=True))
    assert len(found) == 7
    assert found["PAC-7"]["qrels"] == []
    assert found["PAC-7"]["title"] == "Soil sampling probe"


def test_clef_ip_topic_files_per_split(tmp_path: Path) -> None:
    topics = (FIXTURES / "clef_ip" / "topics.txt").read_text(encoding="utf-8").split("\n\n")
    files = {}
    for split, chunk in zip(SPLITS, (topics[:4], topics[4:5], topics[5:]), strict=True):
        files[split] = str(tmp_path / f"{split}.txt")
        Path(files[split]).write_text("\n\n".join(chunk), encoding="utf-8")
    data = build("clef-ip-trec", **{**CLEF, "topics": files})
    assert split_ids(data) == {
        "train": ["PAC-1", "PAC-2", "PAC-3", "PAC-4"],
        "dev": ["PAC-5"],
        "test": ["PAC-6"],
    }


def test_clef_ip_qrels_document_missing_from_collection(tmp_path: Path) -> None:
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("PAC-1 0 EP-1000001-A1 2\n\nPAC-1 0 EP-9999999-A1 1\n", encoding="utf-8")
    with pytest.raises(
        CodefestError,
        match=re.escape(f"{qrels}, line 3: the document 'EP-9999999-A1' is not in the collection"),
    ):
        build("clef-ip-trec", **{**CLEF, "qrels": str(qrels)})


def test_clef_ip_bad_qrels_and_topics(tmp_path: Path) -> None:
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("PAC-1 0 EP-1000001-A1 high\n", encoding="utf-8")
    with pytest.raises(CodefestError, match="line 1: relevance 'high' is not a whole number"):
        build("clef-ip-trec", **{**CLEF, "qrels": str(qrels)})
    topics = tmp_path / "topics.txt"
    topics.write_text("<top>\n<num> PAC-1 </num>\n</top>\n<top>\n<title> no number </title>\n</top>\n")
    with pytest.raises(CodefestError, match=re.escape(f"{topics}, line 4: a topic without <num>")):
        build("clef-ip-trec", **{**CLEF, "topics": str(topics)})


# generic files


def test_files_classification_from_csv(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="codefest.shared_datasets.loaders"):
        found = items(build("files-classification", **GENERIC_CLASSIFICATION))
    assert sorted(found) == [f"WO-2020-00000{n}" for n in (1, 2, 3, 4, 6, 7, 8)]
    assert found["WO-2020-000003"]["labels"] == ["C04B 28/04", "C04B 18/16"]
    assert found["WO-2020-000006"]["labels"] == ["F01L 1/344", "F01L 1/047"]
    assert found["WO-2020-000002"]["abstract"].endswith('the "holding force" is set by the applied voltage.')
    assert "skipped 1 of 8 records (no labels)" in caplog.text


def test_files_classification_from_parquet_with_label_lists(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": [f"P{n}" for n in range(6)],
            "abstract": [f"Text {n}." for n in range(6)],
            "labels": [
                ["B65D 81/38", "B65D 5/00"],
                ["A47G 19/22"],
                ["G06N 20/00"],
                ["H04L 9/40"],
                ["C12N 9/00"],
                ["F16B 2/00"],
            ],
        }
    )
    pq.write_table(table, tmp_path / "items.parquet")
    found = items(build("files-classification", base=tmp_path, data_files="items.parquet"))
    assert found["P0"] == {
        "id": "P0",
        "title": "",
        "abstract": "Text 0.",
        "labels": ["B65D 81/38", "B65D 5/00"],
    }
    assert len(found) == 6


def test_files_keep_a_given_split(tmp_path: Path) -> None:
    rows = {
        split: [{"id": f"{split}-{n}", "en": f"Sentence {n}.", "fr": f"Phrase {n}."} for n in range(2)]
        for split in SPLITS
    }
    files = {split: str(write_jsonl(tmp_path / f"{split}.jsonl", rows[split])) for split in SPLITS}
    data = build("files-translation", data_files=files, columns={"source": "en", "reference": "fr"})
    assert split_ids(data) == {split: [f"{split}-0", f"{split}-1"] for split in SPLITS}
    assert data["dev"][1] == {"id": "dev-1", "source": "Sentence 1.", "reference": "Phrase 1."}


def test_files_split_mapping_needs_all_three() -> None:
    with pytest.raises(ValueError, match="option 'data_files': the splits given are 'train', 'test'"):
        BUILDERS.get("files-translation").validate_options({"data_files": {"train": "a.csv", "test": "b.csv"}})


def test_files_columns_keys_are_schema_names() -> None:
    with pytest.raises(ValueError, match=re.escape("Unknown schema column 'abstrakt'. Did you mean 'abstract'?")):
        BUILDERS.get("files-classification").validate_options({"data_files": "a.csv", "columns": {"abstrakt": "x"}})


def test_files_missing_column_names_the_nearest() -> None:
    options = {**GENERIC_CLASSIFICATION, "columns": {"id": "doc_id", "abstract": "txt", "labels": "ipc"}}
    with pytest.raises(
        CodefestError, match=re.escape("no column 'txt' for the schema's 'abstract'; did you mean 'text'?")
    ):
        build("files-classification", **options)


def test_files_invalid_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"id": "1", "source": "a", "reference": "b"}\n{"id": "2", "source": \n', encoding="utf-8")
    with pytest.raises(CodefestError, match=re.escape(f"{path}, line 2: invalid JSON")):
        build("files-translation", base=tmp_path, data_files="pairs.jsonl")


def test_files_search_corpus_and_qrels() -> None:
    data = build("files-search", **GENERIC_SEARCH)
    assert data["corpus"]["id"] == ["D1", "D2", "D3", "D4", "D5"]
    found = items(data)
    assert sorted(found) == ["T1", "T2", "T3", "T4"]
    assert found["T3"]["qrels"] == [{"doc_id": "D4", "relevance": 2}, {"doc_id": "D5", "relevance": 0}]
    assert "T5" in items(build("files-search", **GENERIC_SEARCH, keep_unjudged=True))


def test_files_search_qrels_as_strings_and_unknown_documents(tmp_path: Path) -> None:
    topics = tmp_path / "topics.csv"
    topics.write_text("id,title,qrels\nT1,Mower,D2:2;D1\nT2,Blade,D1:2\nT3,Hose,D4\nT4,Water,D5:1\n", encoding="utf-8")
    corpus = str(FIXTURES / "generic" / "search_corpus.csv")
    found = items(build("files-search", base=tmp_path, data_files="topics.csv", corpus_files=corpus))
    assert found["T1"]["qrels"] == [{"doc_id": "D2", "relevance": 2}, {"doc_id": "D1", "relevance": 1}]
    assert found["T1"]["abstract"] == ""
    topics.write_text("id,qrels\nT1,D1:2\nT2,D9:1\nT3,D2\n", encoding="utf-8")
    with pytest.raises(CodefestError, match="row 2: the document 'D9' is not in the collection"):
        build("files-search", base=tmp_path, data_files="topics.csv", corpus_files=corpus)


# the hub, with `load_dataset` replaced: what reaches the hub is the id, the configuration and the revision


def fake_hub(monkeypatch: pytest.MonkeyPatch, splits: dict[str, list[dict[str, Any]]]) -> list[tuple]:
    calls: list[tuple] = []

    def load_dataset(path: str, name: str | None = None, revision: str | None = None) -> DatasetDict:
        calls.append((path, name, revision))
        return DatasetDict({split: Dataset.from_list(rows) for split, rows in splits.items()})

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_bigpatent_from_the_hub_keeps_its_split(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = {
        split: [{"abstract": f"{split} {n}.", "description": "..."} for n in range(2)]
        for split in ("train", "validation", "test")
    }
    calls = fake_hub(monkeypatch, rows)
    data = build("bigpatent", hub_id="NortheasternUniversity/big_patent", hub_config="g", hub_revision="v1")
    assert calls == [("NortheasternUniversity/big_patent", "g", "v1")]
    assert split_ids(data) == {
        "train": ["train-1", "train-2"],
        "dev": ["validation-1", "validation-2"],
        "test": ["test-1", "test-2"],
    }
    assert data["dev"][0]["labels"] == ["G"]


def test_parapat_from_the_hub_translation_column(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        {"family_id": 10 + n // 2, "index": n, "translation": {"de": f"Satz {n}.", "en": f"Sentence {n}."}}
        for n in range(6)
    ]
    fake_hub(monkeypatch, {"train": rows})
    found = items(build("parapat-tsv", hub_id="ParaPat/para_pat", hub_config="de-en"))
    assert sorted(found) == ["10-1", "10-2", "11-1", "11-2", "12-1", "12-2"]
    assert found["11-2"] == {"id": "11-2", "source": "Satz 3.", "reference": "Sentence 3."}
    with pytest.raises(CodefestError, match="no 'translation' with the languages 'de' and 'fr'"):
        build("parapat-tsv", hub_id="ParaPat/para_pat", hub_config="de-en", target_lang="fr")


def test_hub_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: Any, **kwargs: Any) -> DatasetDict:
        raise ConnectionError("Offline mode is enabled.")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(CodefestError, match="could not load the hub dataset 'HUPD/hupd': ConnectionError: Offline"):
        build("hupd-json", hub_id="HUPD/hupd")


# real formats (tests/fixtures/SOURCES.md): TSV and ParaPat's abstract-level layout

REAL = FIXTURES.parent
USPTO_SPLITS = {split: f"uspto-debug/{split}.tsv" for split in SPLITS}


def test_files_tsv_told_by_extension_with_labels_written_as_a_list() -> None:
    data = build("files-classification", base=REAL, data_files=USPTO_SPLITS, columns={"id": "patent_id"})
    assert split_ids(data)["dev"][:2] == ["9854760", "9854778"]
    assert items(data)["6981391"]["labels"] == ["Y10S", "A44C", "A44D", "Y10T"]
    assert items(data)["6981340"]["title"] == "Footwear protector"


def test_files_delimiter_option(tmp_path: Path) -> None:
    (tmp_path / "export.txt").write_text("id;labels\n1;A01B|H04L\n2;G06F\n3;C07D\n", encoding="utf-8")
    options = {"format": "csv", "delimiter": ";", "label_separator": "|", "dev_fraction": 0.3, "test_fraction": 0.3}
    found = items(build("files-classification", base=tmp_path, data_files="export.txt", **options))
    assert found["1"]["labels"] == ["A01B", "H04L"]


def test_files_tsv_line_with_too_many_fields_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "export.tsv"
    path.write_text("id\ttitle\tlabels\n1\ta\tA01B\n2\tb\tA01B\textra\n", encoding="utf-8")
    with pytest.raises(CodefestError, match=re.escape(f"{path}, line 3: 4 fields, but the header has 3")) as caught:
        build("files-classification", base=tmp_path, data_files="export.tsv")
    assert "separated by a tab (option 'delimiter')" in str(caught.value.fix)


def test_files_tab_separated_csv_gets_a_delimiter_hint(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_text("id\tlabels\n1\tA01B\n2\tH04L\n", encoding="utf-8")
    with pytest.raises(CodefestError, match="no column 'id'") as caught:
        build("files-classification", base=tmp_path, data_files="export.csv")
    assert "set the option 'delimiter' (or format: tsv)" in str(caught.value.fix)


def test_files_delimiter_only_for_delimited_text(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'delimiter' applies to csv and tsv files, not json"):
        BUILDERS.get("files-classification").validate_options({"data_files": "a", "format": "json", "delimiter": ";"})
    (tmp_path / "a.jsonl").write_text('{"id": "1", "labels": ["A01B"]}\n', encoding="utf-8")
    with pytest.raises(CodefestError, match=re.escape("a.jsonl is read as json")):
        build("files-classification", base=tmp_path, data_files="a.jsonl", delimiter=";")


def test_files_labels_that_look_like_a_list_but_are_not(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("id\tlabels\n1\t['A01B', H04L]\n", encoding="utf-8")
    with pytest.raises(CodefestError, match=re.escape("row 1: the labels \"['A01B', H04L]\" look like a list")):
        build("files-classification", base=tmp_path, data_files="a.tsv")


def test_parapat_abstract_level_header_is_not_an_item() -> None:
    found = items(build("parapat-tsv", base=REAL, path="parapat/el-en.tsv"))
    assert len(found) == 12
    assert not {"src_abs", "index", "844"} & {item["source"] for item in found.values()}
    assert found["10944407-1"]["reference"].startswith("offee prepared using the mix for Greek coffee")
    assert found["10950112-2"]["reference"] == "The olive oil obtained has a low acidity and a high polyphenol content."


def test_parapat_sentence_level_file_as_published() -> None:
    found = items(build("parapat-tsv", base=REAL, path="parapat/en_es.tsv"))
    assert len(found) == 12
    assert found["line-7"]["source"].startswith('"Substantially" means')  # an opening quote is text, not quoting


def abstract_file(tmp_path: Path, *rows: str) -> str:
    header = "index\tfamily_id\tsrc_lang\tsrc_abs\ttgt_lang\ttgt_abs"
    (tmp_path / "pairs.tsv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return "pairs.tsv"


def test_parapat_abstract_level_direction(tmp_path: Path) -> None:
    rows = [f"{n}\t{n}\ten\tsource {n}\tfr\tcible {n}" for n in range(1, 5)] + ["5\t5\tfr\tcible 5\ten\tsource 5"]
    path = abstract_file(tmp_path, *rows)
    found = items(build("parapat-tsv", base=tmp_path, path=path, dev_fraction=0.2, test_fraction=0.2))
    assert found["5-1"] == {"id": "5-1", "source": "source 5", "reference": "cible 5"}  # written the other way round
    turned = items(
        build("parapat-tsv", base=tmp_path, path=path, source_lang="fr", target_lang="en", test_fraction=0.2)
    )
    assert turned["1-1"]["source"] == "cible 1"


def test_parapat_abstract_level_errors(tmp_path: Path) -> None:
    path = abstract_file(tmp_path, "1\t1\ten\ta\tfr\tb", "2\t2\ten\ta\tde\tb")
    with pytest.raises(
        CodefestError, match=re.escape("pairs.tsv, line 3: the pair en-de, but the file is read as en-fr")
    ):
        build("parapat-tsv", base=tmp_path, path=path)
    path = abstract_file(tmp_path, "1\t1\ten\ta\tfr")
    with pytest.raises(CodefestError, match=re.escape("pairs.tsv, line 2: 5 tab-separated column(s), 6 needed")):
        build("parapat-tsv", base=tmp_path, path=path)
    with pytest.raises(CodefestError, match=r"abstract-level header .* the option\(s\) source_column do not apply"):
        build("parapat-tsv", base=tmp_path, path=path, source_column=3)
