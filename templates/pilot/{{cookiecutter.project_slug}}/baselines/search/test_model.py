"""The baseline on a hand-written bundle: small enough to know the right answer, fast enough for every commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pilotpkg.data import Bundle
from pilotpkg.model import NAME, Model, trivial

CORPUS = [
    ("D1", "Rotary lawn mower", "A mower blade spins beneath a deck to cut grass."),
    ("D2", "Espresso machine boiler", "A boiler heats water for brewing espresso under pressure."),
    ("D3", "Bicycle derailleur", "A derailleur moves the chain between sprockets of a bicycle."),
    ("D4", "Solar panel mounting", "A bracket holds a photovoltaic panel on a roof."),
    ("D5", "Hearing aid", "A microphone and amplifier in an ear housing assist hearing."),
    ("D6", "Umbrella frame", "Ribs and a runner open a canopy against rain."),
    ("D7", "Kettle lid", "A hinged lid closes a kettle for boiling water."),
    ("D8", "Door hinge", "A hinge with a pin lets a door swing open and closed."),
]
TOPICS = [
    ("T1", "Coffee brewing device", "An espresso boiler keeps water hot for brewing coffee."),
    ("T2", "Chain shifting", "A derailleur shifts a bicycle chain across sprockets."),
    ("T3", "Photovoltaic roof installation", "A bracket fixes a photovoltaic module to a roof."),
]
EXPECTED_FIRST = {"T1": "D2", "T2": "D3", "T3": "D4"}
CORPUS_IDS = [doc for doc, _, _ in CORPUS]


def write_jsonl(path: Path, rows: list[tuple[str, str, str]]) -> None:
    lines = [json.dumps({"id": i, "title": t, "abstract": a}) for i, t, a in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    folder = tmp_path_factory.mktemp("bundle")
    write_jsonl(folder / "corpus.jsonl", CORPUS)
    write_jsonl(folder / "dev.jsonl", TOPICS)
    qrels = "".join(f"{topic} 0 {doc} 2\n" for topic, doc in EXPECTED_FIRST.items())
    (folder / "dev.qrels").write_text(qrels, encoding="utf-8")
    return Bundle(folder)


@pytest.fixture(scope="module")
def model(bundle: Bundle) -> Model:
    return Model().fit(bundle)


def test_name_and_params() -> None:
    assert NAME
    assert Model(k1=0.9, depth=5).params["depth"] == 5
    with pytest.raises(ValueError):
        Model(not_a_param=1)


def test_rare_shared_words_rank_first(bundle: Bundle, model: Model) -> None:
    first = {p["id"]: p["ranking"][0] for p in model.predict(bundle, "dev")}
    assert first == EXPECTED_FIRST
    assert set(bundle.qrels("dev")) == set(first)


def test_one_prediction_per_topic_in_order(bundle: Bundle, model: Model) -> None:
    assert [p["id"] for p in model.predict(bundle, "dev")] == [t for t, _, _ in TOPICS]


@pytest.mark.parametrize("depth", [1, 3, 1000])
def test_rankings_are_unique_and_within_depth(bundle: Bundle, depth: int) -> None:
    for pred in Model(depth=depth).fit(bundle).predict(bundle, "dev"):
        ranking = pred["ranking"]
        assert len(ranking) == min(depth, len(CORPUS))
        assert len(set(ranking)) == len(ranking)
        assert set(ranking) <= set(CORPUS_IDS)


def test_empty_query_keeps_corpus_order(model: Model) -> None:
    assert model.rank([]) == CORPUS_IDS


def test_save_load_round_trip(bundle: Bundle, model: Model, tmp_path: Path) -> None:
    model.save(tmp_path / "model")
    loaded = Model.load(tmp_path / "model")
    assert loaded.params == model.params
    assert loaded.predict(bundle, "dev") == model.predict(bundle, "dev")


def test_predict_is_deterministic(bundle: Bundle, model: Model) -> None:
    assert Model().fit(bundle).predict(bundle, "dev") == model.predict(bundle, "dev")


@pytest.mark.parametrize("depth", [3, 1000])
def test_trivial_is_deterministic_permutation_prefix(bundle: Bundle, depth: int) -> None:
    preds = trivial(bundle, "dev", depth=depth)
    assert preds == trivial(bundle, "dev", depth=depth)
    assert [p["id"] for p in preds] == [t for t, _, _ in TOPICS]
    for pred in preds:
        ranking = pred["ranking"]
        assert len(ranking) == min(depth, len(CORPUS)) == len(set(ranking))
        assert set(ranking) <= set(CORPUS_IDS)
