"""The bundled classification and search generators produce patent-like data with the promised properties."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from codefest.shared_datasets.builders import BuildContext
from codefest.shared_datasets.generators.classification import ClassificationOptions, generate
from codefest.shared_datasets.generators.classification import build as build_classification
from codefest.shared_datasets.generators.search import SearchOptions, TopicWriter
from codefest.shared_datasets.generators.search import generate as generate_search
from codefest.shared_datasets.ipc_scheme import PARAPHRASES, load_scheme

SYMBOL = re.compile(r"^(?P<subclass>(?P<class>(?P<section>[A-H])\d\d)[A-Z]) (?P<group>\d{1,4})/(?P<sub>\d{2,6})$")
CONTEXT = BuildContext(base_dir=Path("."))


@pytest.fixture(scope="module")
def documents() -> dict[str, list]:
    return generate(ClassificationOptions(size=6000, seed=2026))


def test_every_label_is_a_valid_symbol_of_the_scheme(documents: dict[str, list]) -> None:
    groups = {g.symbol.split("/")[0] for s in load_scheme().subclasses for g in s.groups}
    for labels in documents["labels"]:
        for symbol in labels:
            match = SYMBOL.match(symbol)
            assert match, symbol
            assert f"{match['subclass']} {match['group']}" in groups


def test_default_size_covers_every_section_and_forty_subclasses(documents: dict[str, list]) -> None:
    mains = [labels[0] for labels in documents["labels"]]
    assert {m[0] for m in mains} == set("ABCDEFGH")
    assert len({m.split()[0] for m in mains}) >= 40


def test_class_frequencies_are_long_tailed(documents: dict[str, list]) -> None:
    counts = sorted(Counter(labels[0].split()[0] for labels in documents["labels"]).values(), reverse=True)
    assert counts[0] > 10 * counts[len(counts) // 2] / 2  # head over five times the median
    assert counts[-1] < counts[0] / 20


def test_documents_have_several_labels_main_first_and_unique(documents: dict[str, list]) -> None:
    sizes = Counter(len(labels) for labels in documents["labels"])
    assert sizes[1] < len(documents["labels"]) * 0.5
    assert sizes[2] > 0 and sizes[3] > 0
    assert all(len(set(labels)) == len(labels) for labels in documents["labels"])


def test_sibling_subclasses_share_vocabulary() -> None:
    scheme = load_scheme()
    a01b = next(s for s in scheme.subclasses if s.code == "A01B")
    assert [s.code for s in scheme.siblings(a01b)] == ["A01C", "A01D", "A01K"]
    assert scheme.class_terms["A01"]  # shared by the four of them


def test_text_is_patent_like(documents: dict[str, list]) -> None:
    abstracts = documents["abstract"]
    assert sum(a.count(".") for a in abstracts) / len(abstracts) > 2.5
    assert len(set(abstracts)) > 0.995 * len(abstracts)  # a few one-sentence abstracts may coincide
    assert all(t[0].isupper() for t in documents["title"])
    assert not any(re.search(r"\ba [aeiou]", a) for a in abstracts)


def test_same_seed_same_data_other_seed_other_data() -> None:
    one = generate(ClassificationOptions(size=200, seed=1))
    assert one == generate(ClassificationOptions(size=200, seed=1))
    assert one["abstract"] != generate(ClassificationOptions(size=200, seed=2))["abstract"]


BIG = 2**127 + 12345  # the size of the secret seeds a build draws


def test_a_128_bit_seed_is_used_whole() -> None:
    """Secret seeds are 128 bits: a generator that kept only the low bits would make them guessable."""
    one = build_classification(ClassificationOptions(size=100, seed=BIG), CONTEXT)
    assert (
        one["test"]["labels"]
        == build_classification(ClassificationOptions(size=100, seed=BIG), CONTEXT)["test"]["labels"]
    )
    high_bit_only = build_classification(ClassificationOptions(size=100, seed=BIG - 2**126), CONTEXT)
    assert one["train"]["abstract"] != high_bit_only["train"]["abstract"]
    assert one["test"]["id"] != high_bit_only["test"]["id"]  # the split's shuffle uses the whole seed too
    corpus, topics = generate_search(SearchOptions(size=160, topics=10, seed=BIG))
    assert (corpus, topics) == generate_search(SearchOptions(size=160, topics=10, seed=BIG))
    assert topics != generate_search(SearchOptions(size=160, topics=10, seed=BIG - 2**126))[1]


def test_build_splits_by_the_fractions() -> None:
    data = build_classification(ClassificationOptions(size=1000, seed=3), CONTEXT)
    assert {k: len(v) for k, v in data.items()} == {"train": 700, "dev": 100, "test": 200}
    ids = [i for split in data.values() for i in split["id"]]
    assert len(set(ids)) == 1000


@pytest.fixture(scope="module")
def collection() -> tuple[dict[str, list], dict[str, list]]:
    return generate_search(SearchOptions(size=2000, topics=100, seed=4))


def test_every_topic_has_graded_judgements_on_existing_documents(collection) -> None:
    corpus, topics = collection
    ids = set(corpus["id"])
    assert len(ids) == 2000 and len(topics["id"]) == 100
    for qrels in topics["qrels"]:
        grades = Counter(j["relevance"] for j in qrels)
        assert grades[2] >= 1 and grades[1] >= 1 and grades[0] >= 4  # near-misses are judged
        assert {j["doc_id"] for j in qrels} <= ids


def test_relevant_documents_share_features_and_near_misses_share_vocabulary(collection) -> None:
    corpus, topics = collection
    text = {d: f"{t} {a}".lower() for d, t, a in zip(corpus["id"], corpus["title"], corpus["abstract"], strict=True)}
    words = lambda s: set(re.findall(r"[a-z-]+", s))  # noqa: E731
    overlap = {0: [], 1: [], 2: []}
    for title, abstract, qrels in zip(topics["title"], topics["abstract"], topics["qrels"], strict=True):
        topic = words(f"{title} {abstract}".lower())
        for j in qrels:
            doc = words(text[j["doc_id"]])
            overlap[j["relevance"]].append(len(topic & doc) / len(doc))
    mean = {grade: sum(v) / len(v) for grade, v in overlap.items()}
    assert mean[2] > mean[1] > 0.2  # relevance follows shared features
    assert mean[0] > 0.25  # near-misses look alike: a lexical ranker is not enough


def test_prior_art_rewords_features() -> None:
    import random

    writer = TopicWriter(load_scheme(), random.Random(0), None, paraphrase=1.0)  # type: ignore[arg-type]
    assert writer.reword("rotary plough") == "rotating plough"
    assert all(writer.reword(f"{m} seal") == f"{PARAPHRASES[m]} seal" for m in PARAPHRASES)


def test_search_options_leave_room_for_background_art() -> None:
    with pytest.raises(ValueError, match="size 200 is too small for 100 topics; give size >= 1600"):
        SearchOptions(size=200, topics=100)
