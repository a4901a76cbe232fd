"""The translation-memory baseline on a hand-written bundle small enough to reason about."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotpkg.data import Bundle
from pilotpkg.model import NAME, Model, trivial

TRAIN = [
    ("The pump is connected to the valve.", "La pompe est reliée à la soupape."),
    ("The motor is connected to the frame.", "Le moteur est relié au châssis."),
    ("The motor drives the pump.", "Le moteur entraîne la pompe."),
    ("The valve is fixed to the frame.", "La soupape est fixée au châssis."),
    ("The housing surrounds the motor.", "Le boîtier entoure le moteur."),
    ("The pump comprises a valve.", "La pompe comprend une soupape."),
    ("The frame supports the housing.", "Le châssis supporte le boîtier."),
    ("The motor comprises a housing.", "Le moteur comprend un boîtier."),
    ("The valve closes the pump.", "La soupape ferme la pompe."),
    ("The housing comprises a valve (12).", "Le boîtier comprend une soupape (12)."),
    ("The frame comprises a motor.", "Le châssis comprend un moteur."),
    ("The pump drives the valve.", "La pompe entraîne la soupape."),
]
SEEN = "The motor drives the pump."  # a training source
ONE_WORD_OFF = "The motor is connected to the valve."  # training pair 1 with "pump" -> "motor"
NEW_NUMERAL = "The housing comprises a valve (14)."  # training pair 10 with another reference numeral


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    folder = tmp_path_factory.mktemp("bundle")
    _write(folder / "train.jsonl", [{"id": f"T{n}", "source": s, "reference": r} for n, (s, r) in enumerate(TRAIN)])
    dev = [SEEN, ONE_WORD_OFF, NEW_NUMERAL]
    _write(folder / "dev.jsonl", [{"id": f"D{n}", "source": s, "reference": ""} for n, s in enumerate(dev)])
    _write(folder / "test.jsonl", [{"id": f"X{n}", "source": s} for n, s in enumerate(reversed(dev))])
    return Bundle(folder)


@pytest.fixture(scope="module")
def model(bundle: Bundle) -> Model:
    return Model().fit(bundle)


def _translations(model: Model, bundle: Bundle, split: str) -> dict[str, str]:
    return {p["id"]: p["translation"] for p in model.predict(bundle, split)}


def test_a_training_source_gets_its_reference_back(model: Model, bundle: Bundle) -> None:
    assert _translations(model, bundle, "dev")["D0"] == "Le moteur entraîne la pompe."


def test_a_differing_word_is_replaced_by_its_learnt_translation(model: Model, bundle: Bundle) -> None:
    translation = _translations(model, bundle, "dev")["D1"]
    assert "moteur" in translation
    assert "pompe" not in translation
    assert "soupape" in translation


def test_numbers_are_carried_over_from_the_input(model: Model, bundle: Bundle) -> None:
    assert _translations(model, bundle, "dev")["D2"] == "Le boîtier comprend une soupape (14)."


def test_one_prediction_per_row_in_order(model: Model, bundle: Bundle) -> None:
    predictions = model.predict(bundle, "test")
    assert [p["id"] for p in predictions] == ["X0", "X1", "X2"]
    assert all(set(p) == {"id", "translation"} and p["translation"] for p in predictions)


def test_save_and_load_give_the_same_predictions(model: Model, bundle: Bundle, tmp_path: Path) -> None:
    model.save(tmp_path / "model")
    loaded = Model.load(tmp_path / "model")
    assert loaded.params == model.params
    assert loaded.predict(bundle, "test") == model.predict(bundle, "test")


def test_params_can_be_logged(model: Model) -> None:
    assert NAME
    assert json.loads(json.dumps(model.params)) == model.params
    assert Model(candidates=3).params["candidates"] == 3


def test_trivial_copies_the_source(bundle: Bundle) -> None:
    predictions = trivial(bundle, "test")
    assert predictions == [{"id": row["id"], "translation": row["source"]} for row in bundle.split("test")]
