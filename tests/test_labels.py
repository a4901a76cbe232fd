"""Symbols in the notations real exports use: normalised where they mean one symbol, refused at build otherwise."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from codefest.challenges.discovery import load
from codefest.core.errors import CodefestError
from codefest.evaluation.scoring import score_files
from codefest.shared_datasets.heldout import build
from codefest.tasks.classification.symbols import Reach, normalise, problem
from tests.helpers import bundled_spec, write_challenge


def full_width(text: str) -> str:
    """The full-width forms of ASCII text, as Japanese, Chinese and Korean exports may write symbols."""
    return "".join("\u3000" if c == " " else chr(ord(c) + 0xFEE0) for c in text)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("A61B512", "A61B 5/12"),  # compact: 5/12 is the one split (a subgroup has two digits at least)
        ("a61b512", "A61B 5/12"),
        ("H01L2100", "H01L 21/00"),  # 2/100 would be written 2/10 (ST.8 pads subgroups with zeros on the right)
        ("G06F300", "G06F 3/00"),
        ("A01B 100", "A01B 1/00"),
        ("A01B 1/00 (2006.01)", "A01B 1/00"),  # IPC version indicator
        ("A01B1/00(2010.01)", "A01B 1/00"),
        ("H04W (2009.01)", "H04W"),
        ("A01B-1/00", "A01B 1/00"),
        ("A01B - 1/00", "A01B 1/00"),
        (full_width("A01B 1/00"), "A01B 1/00"),  # NFKC
        (full_width("H04W"), "H04W"),
        ("A01B 0001000000", "A01B 1/00"),  # ST.8 with a space after the subclass
        ("F42B3127", None),  # F42B 3/127 or F42B 31/27
        ("G06F30482", None),  # 3/0482, 30/482 or 304/82
        ("A01B0001", None),  # a main group padded without its subgroup
        ("A01B01200", None),  # a main group with a leading zero is not compact notation
        ("A01B 1-00", None),
        ("A01B 1/00 (2006)", None),
        ("['A01B']", None),  # a list written as text is the build's to unpack, not a symbol
    ],
)
def test_notations_of_real_exports(text: str, canonical: str | None) -> None:
    assert normalise(text) == canonical


def test_an_ambiguous_compact_symbol_names_its_readings() -> None:
    reason, fix = problem("F42B3127")
    assert reason == "can be read as F42B 3/127 or F42B 31/27" and "slash" in fix
    assert problem("A01B 0/00")[0] == "has main group 0, which no scheme has"
    assert problem("Q01B")[0] == "is not an IPC/CPC symbol"


def test_reach_says_which_metrics_the_gold_supports() -> None:
    subclass_main = Reach.of([["H04W", "H04L 9/00"], ["G06F"]])
    assert subclass_main == Reach(main=2, any=3)
    assert subclass_main.unreached("three_guesses@subclass") is None
    assert subclass_main.unreached("all_categories@group") is None
    assert subclass_main.unreached("f1_macro") is None
    assert "main symbols do not reach main-group" in str(subclass_main.unreached("top_prediction@group"))
    sections = Reach.of([["H"], ["G"]])
    assert sections.unreached("top_prediction@class") == "not computable: the gold labels do not reach class level"
    assert sections.unreached("precision@3") == "not computable: the gold labels do not reach main-group level"


# Builds from files: the files-classification loader, through a challenge folder, as an organiser would.

SPLIT_FILES = {"train": "train.csv", "dev": "dev.csv", "test": "test.csv"}
SUBCLASS_METRICS = [
    {"name": "top_prediction@subclass", "higher_is_better": True},
    {"name": "three_guesses@subclass", "higher_is_better": True},
]


def _challenge(root: Path, slug: str, data_files: Any, metrics: list[dict] | None = None) -> None:
    spec = bundled_spec("ipc-classification")
    spec["slug"] = slug
    spec["dataset"] = {"builder": "files-classification", "version": "1.0", "options": {"data_files": data_files}}
    spec["test_split"] = {**spec["test_split"], "seed": 3}
    if metrics is not None:
        spec["metrics"] = metrics
        spec["primary_metric"], spec["tie_breakers"] = metrics[0]["name"], [m["name"] for m in metrics[1:]]
    write_challenge(root, spec)


def _csv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "abstract", "labels"])
        writer.writerows((item, "a title", "an abstract", labels) for item, labels in rows)


def _jsonl(path: Path) -> dict[str, list[str]]:
    return {row["id"]: row["labels"] for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def test_a_build_normalises_every_notation_in_every_split(challenges: Path, tmp_path: Path) -> None:
    folder = challenges / "exported"
    _csv(folder / "train.csv", [("T1", "['A01C', 'A01B 1/00']"), ("T2", "H01L2100;H01L 21/00 (2006.01)")])
    _csv(folder / "dev.csv", [("D1", full_width("A01B 1/00")), ("D2", "A61B512")])
    _csv(folder / "test.csv", [("X1", "A01B-1/00;A01C 5/00"), ("X2", "G06F0016000000 ; G06F 3/00 (2006.01)")])
    _challenge(challenges, "exported", SPLIT_FILES)
    result = build(load("exported"), tmp_path / "ws")
    assert _jsonl(result.bundle / "train.jsonl") == {"T1": ["A01C", "A01B 1/00"], "T2": ["H01L 21/00"]}
    assert _jsonl(result.bundle / "dev.jsonl") == {"D1": ["A01B 1/00"], "D2": ["A61B 5/12"]}
    assert _jsonl(result.vault / "test-labels.jsonl") == {
        "X1": ["A01B 1/00", "A01C 5/00"],
        "X2": ["G06F 16/00", "G06F 3/00"],
    }
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text('{"id": "D1", "labels": ["A01B 1/02"]}\n{"id": "D2", "labels": ["A61B 5/12"]}\n')
    scored = score_files("classification", result.bundle / "dev.jsonl", predictions, resamples=0)
    assert scored.metrics["top_prediction@group"].value == 1.0


def test_a_list_written_as_text_in_json_lines_is_unpacked(challenges: Path, tmp_path: Path) -> None:
    folder = challenges / "listed"
    folder.mkdir(parents=True)
    rows = [{"id": f"P{i}", "abstract": "x", "labels": "['H04W 4/00', \"H04L 9/00\"]"} for i in range(30)]
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _challenge(challenges, "listed", "items.jsonl")
    result = build(load("listed"), tmp_path / "ws")
    assert set(map(tuple, _jsonl(result.vault / "test-labels.jsonl").values())) == {("H04W 4/00", "H04L 9/00")}


@pytest.mark.parametrize(
    ("split", "labels", "says"),
    [
        ("test", "F42B3127", "'F42B3127' can be read as F42B 3/127 or F42B 31/27"),
        ("dev", "A01B 1/00;Z99Z", "'Z99Z' is not an IPC/CPC symbol"),
        ("train", "['A01C', 'A01B 0/00']", "'A01B 0/00' has main group 0"),
    ],
)
def test_a_build_with_a_symbol_it_cannot_read_is_refused_naming_split_item_and_value(
    challenges: Path, tmp_path: Path, split: str, labels: str, says: str
) -> None:
    folder = challenges / "unreadable"
    for name in SPLIT_FILES:
        _csv(folder / f"{name}.csv", [(f"{name}-1", "A01B 1/00"), (f"{name}-2", labels if name == split else "H04W")])
    _challenge(challenges, "unreadable", SPLIT_FILES, SUBCLASS_METRICS)
    with pytest.raises(CodefestError) as caught:
        build(load("unreadable"), tmp_path / "ws")
    message = str(caught.value)
    assert f"{split} split, item '{split}-2': {says}" in message
    assert caught.value.fix and "repair" in caught.value.fix
    assert not (tmp_path / "ws" / "vault" / "unreadable").exists()


def test_a_metric_the_labels_cannot_support_refuses_the_build(challenges: Path, tmp_path: Path) -> None:
    """bigpatent-like section labels: the bundled challenge's main-group metrics would score everyone 0."""
    folder = challenges / "sections"
    for name in SPLIT_FILES:
        _csv(folder / f"{name}.csv", [(f"{name}-{i}", "ABCDEFGHY"[i]) for i in range(9)])
    _challenge(challenges, "sections", SPLIT_FILES)
    with pytest.raises(CodefestError, match="declares the metric 'top_prediction@subclass', but on the train split it"):
        build(load("sections"), tmp_path / "ws")
    _challenge(challenges, "sections", SPLIT_FILES, [{"name": "top_prediction@section", "higher_is_better": True}])
    assert build(load("sections"), tmp_path / "ws").counts == {"train": 9, "dev": 9, "test": 9}


def test_checked_labels_unpacks_lists_written_as_text_from_any_builder() -> None:
    """Whatever builder returned them (a hub dataset, HUPD), labels are unpacked, normalised and kept main first."""
    from datasets import Dataset, DatasetDict

    from codefest.challenges.spec import Challenge
    from codefest.shared_datasets.schema import FEATURES
    from codefest.tasks.classification.labels import checked_labels

    def split(labels: list[list[str]]) -> Dataset:
        rows = {"id": [f"I{i}" for i in range(len(labels))], "title": [""] * len(labels)}
        return Dataset.from_dict(
            {**rows, "abstract": rows["title"], "labels": labels}, features=FEATURES["classification"]
        )

    spec = bundled_spec("ipc-classification")
    spec["metrics"] = [{"name": "all_categories@group", "higher_is_better": True}]
    spec["primary_metric"], spec["tie_breakers"] = "all_categories@group", []
    data = DatasetDict(
        {
            "train": split([["['A01C', \"A01B 1/00\"]", "A01B1/00"]]),
            "dev": split([["H04W", "H04L 9/00 (2006.01)"]]),
            "test": split([["[ 'G06F 16/00' ]"]]),
        }
    )
    fixed = checked_labels(data, Challenge.model_validate(spec))
    assert [fixed[s]["labels"] for s in ("train", "dev", "test")] == [
        [["A01C", "A01B 1/00"]],
        [["H04W", "H04L 9/00"]],
        [["G06F 16/00"]],
    ]
    assert fixed["train"].features == FEATURES["classification"]
