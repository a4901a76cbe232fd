"""The baseline on a tiny hand-written bundle whose words clearly separate its symbols, so every check is exact."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from pilotpkg.data import Bundle
from pilotpkg.model import NAME, Model, trivial

# three main groups with their own words; the battery group is the most frequent main symbol
TOPICS = {
    "H01M 10/00": "lithium battery electrode electrolyte cell anode cathode charging",
    "A61F 13/00": "absorbent diaper wound dressing bandage pad skin",
    "F16H 1/00": "planetary gear gearbox transmission shaft torque sprocket",
}
TRAIN = [
    ("H01M 10/02", ["A61F 13/15"]),
    ("H01M 10/04", []),
    ("H01M 10/02", []),
    ("H01M 10/06", ["F16H 1/28"]),
    ("H01M 10/02", []),
    ("A61F 13/15", []),
    ("A61F 13/20", ["H01M 10/02"]),
    ("A61F 13/15", []),
    ("F16H 1/28", []),
    ("F16H 1/30", ["A61F 13/15"]),
    ("F16H 1/28", []),
    ("F16H 1/28", []),
]
CLEAR = {
    "battery": ("Rechargeable lithium battery", "An electrode and an electrolyte for a lithium cell.", "H01M 10/00"),
    "diaper": ("Absorbent diaper", "An absorbent pad for a wound dressing on the skin.", "A61F 13/00"),
    "gear": ("Planetary gearbox", "A planetary gear transmission on a shaft transmits the torque.", "F16H 1/00"),
}


def _words(symbol: str, shift: int) -> str:
    """Six words of the symbol's main group, rotated so rows differ."""
    vocabulary = TOPICS[symbol.split("/")[0] + "/00"].split()
    return " ".join(vocabulary[(shift + k) % len(vocabulary)] for k in range(6))


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    folder = tmp_path_factory.mktemp("bundle")
    train = [
        {
            "id": f"TR-{i}",
            "title": _words(main, i),
            "abstract": " ".join(_words(s, i + 2) for s in [main, *further]),
            "labels": [main, *further],
        }
        for i, (main, further) in enumerate(TRAIN)
    ]
    test = [{"id": key, "title": title, "abstract": abstract} for key, (title, abstract, _) in CLEAR.items()]
    _write(folder / "train.jsonl", train)
    _write(folder / "dev.jsonl", [{**row, "labels": [CLEAR[row["id"]][2]]} for row in test])
    _write(folder / "test.jsonl", test)
    return Bundle(folder)


@pytest.fixture(scope="module")
def model(bundle: Bundle) -> Model:
    return Model(min_df=1).fit(bundle)


def _assert_valid(predictions: list[dict], ids: list[str]) -> None:
    assert [p["id"] for p in predictions] == ids
    for p in predictions:
        assert p["labels"], "every item needs at least one symbol"
        assert len(p["labels"]) == len(set(p["labels"])) == len(p["scores"])
        assert all(a >= b for a, b in itertools.pairwise(p["scores"]))
        assert all(isinstance(s, float) for s in p["scores"])


def test_clear_cases_get_their_main_group(model: Model, bundle: Bundle) -> None:
    predictions = model.predict(bundle, "test")
    assert [p["labels"][0] for p in predictions] == [gold for _, _, gold in CLEAR.values()]


def test_predictions_are_valid_and_in_order(model: Model, bundle: Bundle) -> None:
    for split in ("train", "dev", "test"):
        _assert_valid(model.predict(bundle, split), list(bundle.split(split)["id"]))


def test_labels_are_main_groups_seen_in_train(model: Model, bundle: Bundle) -> None:
    assert all(set(p["labels"]) <= set(TOPICS) for p in model.predict(bundle, "test"))


def test_top_k_limits_the_list(bundle: Bundle) -> None:
    predictions = Model(min_df=1, top_k=2).fit(bundle).predict(bundle, "test")
    assert all(len(p["labels"]) == 2 for p in predictions)


def test_fit_is_deterministic(model: Model, bundle: Bundle) -> None:
    assert Model(min_df=1).fit(bundle).predict(bundle, "test") == model.predict(bundle, "test")


def test_save_load_round_trip(model: Model, bundle: Bundle, tmp_path: Path) -> None:
    model.save(tmp_path / "model")
    loaded = Model.load(tmp_path / "model")
    assert loaded.predict(bundle, "test") == model.predict(bundle, "test")
    assert loaded.params == model.params


def test_params_are_loggable(model: Model) -> None:
    assert model.params["model"] == NAME
    assert all(isinstance(v, str | int | float) for v in model.params.values())


def test_trivial_ranks_the_most_frequent_main_group_first(bundle: Bundle) -> None:
    predictions = trivial(bundle, "test")
    _assert_valid(predictions, list(CLEAR))
    assert all(p["labels"] == ["H01M 10/00", "F16H 1/00", "A61F 13/00"] for p in predictions)
