"""The EN-FR patent generator: deterministic, consistent in its terminology, right in its French, not trivial."""

from __future__ import annotations

import os

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import re
from pathlib import Path

import pytest
from datasets import DatasetDict

import codefest.shared_datasets.generators.translation as tr
from codefest.shared_datasets.builders import BUILDERS, BuildContext
from codefest.shared_datasets.generators.common import GeneratorOptions
from codefest.shared_datasets.generators.translation import Phrase

NAME = "synthetic-patent-en-fr"
LEX = tr.load_lexicon()
WORD = re.compile(r"\w+")


def build(size: int, seed: int) -> DatasetDict:
    return BUILDERS.get(NAME).build(GeneratorOptions(size=size, seed=seed), BuildContext(base_dir=Path(".")))


def rows(data: DatasetDict) -> list[dict[str, str]]:
    return [row for split in ("train", "dev", "test") for row in data[split]]


@pytest.fixture(scope="module")
def data() -> DatasetDict:
    return build(2000, 0)


# lexicon look-ups for hand-built phrases


def noun(en: str) -> tr.Noun:
    return next(n for n in LEX.nouns() if n.en == en)


def np(en: str, **kwargs: object) -> Phrase:
    return Phrase(noun(en), **kwargs)  # type: ignore[arg-type]


def adjective(en: str) -> tr.Inflected:
    return next(a for group in LEX.adjectives.values() for a in group if a.en == en)


def relation(en: str, prep: str) -> tr.Relation:
    return next(r for group in LEX.relations.values() for r in group if (r.en, r.en_prep) == (en, prep))


def verb(en: str) -> tr.Verb:
    return next(v for group in LEX.verbs.values() for v in group if v.en == en)


def quantity(en: str) -> tr.Quantity:
    groups = [LEX.dimensions, *LEX.quantities_of.values()]
    return next(q for group in groups for q in group if q.noun.en == en)


FIRST, SECOND = LEX.ordinals[0], LEX.ordinals[1]


# registration, determinism, sizes, ids


def test_builder_is_registered_with_its_card() -> None:
    entry = BUILDERS.get(NAME)
    assert (entry.task, entry.kind) == ("translation", "generator")
    assert entry.summary.startswith("Synthetic English patent claims")
    assert "# Dataset card: synthetic-patent-en-fr" in entry.card_text()


def test_same_seed_gives_identical_rows_and_another_seed_different_ones() -> None:
    first, again, other = build(300, 7), build(300, 7), build(300, 8)
    assert rows(first) == rows(again)
    sources = {row["source"] for row in rows(first)}
    assert len(sources & {row["source"] for row in rows(other)}) < 30


def test_a_128_bit_seed_is_used_whole() -> None:
    """A build draws 128-bit secret seeds; the generator and the split must use every bit of them."""
    big = 2**127 + 99
    first, again, high_bit_only = build(100, big), build(100, big), build(100, big - 2**126)
    assert rows(first) == rows(again)
    assert rows(first) != rows(high_bit_only)


@pytest.mark.parametrize("size", [30, 2000])
def test_split_sizes_sum_to_size(size: int) -> None:
    built = build(size, 3)
    assert sum(len(built[split]) for split in ("train", "dev", "test")) == size
    assert len(built["test"]) == round(size * 0.2)


def test_ids_are_unique_publication_and_sentence_numbers(data: DatasetDict) -> None:
    ids = [row["id"] for row in rows(data)]
    assert len(set(ids)) == len(ids) == 2000
    assert all(re.fullmatch(r"EP-\d{7}-[1-8]", i) for i in ids)


# terminology


def test_the_lexicon_gives_each_english_noun_one_french_term() -> None:
    terms: dict[str, str] = {}
    for n in LEX.nouns():
        assert terms.setdefault(n.en, n.fr) == n.fr, n.en
    assert len(terms) >= 120
    assert sum(len(group) for group in LEX.adjectives.values()) >= 30
    assert len({(r.en, r.en_prep) for group in LEX.relations.values() for r in group}) >= 20


@pytest.mark.parametrize(
    "en",
    ["heat exchanger", "valve", "housing", "pump", "sensor", "shaft", "control unit", "coolant", "oil", "inlet"],
)
def test_an_english_term_always_gets_its_french_term(data: DatasetDict, en: str) -> None:
    term = noun(en)
    pattern = re.compile(rf"\b{re.escape(en)}(s|es)?\b", re.IGNORECASE)
    hits = [row for row in data["train"] if pattern.search(row["source"])]
    assert len(hits) >= 3, en
    for row in hits:
        reference = row["reference"].lower()
        assert term.fr in reference or term.fr_pl in reference, (row["source"], row["reference"])


# French grammar, checked against translations worked out by hand


@pytest.mark.parametrize(
    ("phrase", "det", "prep", "expected"),
    [
        (np("shaft"), "the", "à", "à l'arbre"),
        (np("pump"), "the", "à", "à la pompe"),
        (np("housing"), "the", "à", "au boîtier"),
        (np("tube", plural=True), "the", "à", "aux tubes"),
        (np("oil"), "the", "de", "de l'huile"),
        (np("porthole"), "the", "", "le hublot"),  # h aspiré: no elision
        (np("propeller"), "the", "", "l'hélice"),  # h muet
        (np("housing"), "said", "de", "dudit boîtier"),
        (np("valve"), "said", "à", "à ladite soupape"),
        (np("inlet"), "a", "de", "d'une entrée"),
        (np("tube", plural=True), "a", "de", "de tubes"),
        (np("aperture", plural=True), "plurality", "", "une pluralité d'orifices"),
        (np("outlet"), "the", tr.UNTIL, "jusqu'à la sortie"),
        (np("manifold"), "the", tr.UNTIL, "jusqu'au collecteur"),
        (np("duct"), "the", tr.VIA, "par l'intermédiaire du conduit"),
        (np("valve", adjective=adjective("lateral"), numeral="12"), "a", "", "une soupape latérale (12)"),
        (np("channel", plural=True, adjective=adjective("lateral")), "the", "", "les canaux latéraux"),
        (np("electrode", ordinal=FIRST), "the", "", "la première électrode"),  # the ordinal blocks elision
        (np("pressure sensor", adjective=adjective("wireless")), "a", "", "un capteur de pression sans fil"),
        (np("channel", adjective=adjective("U-shaped")), "a", "", "un canal en forme de U"),
    ],
)
def test_french_noun_phrases(phrase: Phrase, det: str, prep: str, expected: str) -> None:
    assert tr.fr_np(phrase, det, prep) == expected


@pytest.mark.parametrize(
    ("phrase", "det", "expected"),
    [
        (np("valve", adjective=adjective("lateral"), numeral="12"), "a", "a lateral valve (12)"),
        (np("electrode"), "a", "an electrode"),
        (np("electrode", ordinal=FIRST), "a", "a first electrode"),
        (np("channel", adjective=adjective("U-shaped")), "a", "a U-shaped channel"),
        (np("channel", plural=True, adjective=adjective("lateral")), "the", "the lateral channels"),
        (np("pressure sensor", adjective=adjective("wireless")), "said", "said wireless pressure sensor"),
        (np("tube", plural=True, numeral="4"), "plurality", "a plurality of tubes (4)"),
    ],
)
def test_english_noun_phrases(phrase: Phrase, det: str, expected: str) -> None:
    assert tr.en_np(phrase, det) == expected


def _sentences() -> list[tuple[str, tuple[str, str], str, str]]:
    temperature, thickness, diameter = quantity("temperature"), quantity("thickness"), quantity("diameter")
    return [
        (
            "independent claim: bare French opening, plural participle",
            tr.render_independent_claim(
                np("heat exchanger", numeral="1"),
                np("housing", numeral="2"),
                np("manifold", numeral="3"),
                np("tube", plural=True, numeral="4"),
                relation("connected", "to"),
            ),
            "A heat exchanger (1) comprising a housing (2), a manifold (3) and a plurality of tubes (4) "
            "connected to the manifold (3).",
            "Échangeur de chaleur (1) comprenant un boîtier (2), un collecteur (3) et une pluralité de tubes (4) "
            "reliés au collecteur (3).",
        ),
        (
            "dependent claim: dans lequel, feminine participle, à la",
            tr.render_dependent_claim(
                np("heat exchanger"), tr.claim_ref(0, 3), [(np("valve"), relation("connected", "to"), np("outlet"))]
            ),
            "The heat exchanger according to claim 3, wherein the valve is connected to the outlet.",
            "Échangeur de chaleur selon la revendication 3, dans lequel la soupape est reliée à la sortie.",
        ),
        (
            "predicative adjective: dans laquelle, feminine plural",
            tr.render_adjective_claim(np("fuel cell"), tr.claim_ref(1, 4), np("fin", plural=True), adjective("hollow")),
            "The fuel cell according to any one of claims 1 to 4, wherein the fins are hollow.",
            "Pile à combustible selon l'une quelconque des revendications 1 à 4, "
            "dans laquelle les ailettes sont creuses.",
        ),
        (
            "characterised in that: agrees with a feminine device",
            tr.render_characterised_claim(np("wind turbine"), np("shaft"), np("bearing"), relation("received", "in")),
            "A wind turbine comprising a shaft and a bearing, "
            "characterised in that the shaft is received in the bearing.",
            "Éolienne comprenant un arbre et un palier, caractérisée en ce que l'arbre est reçu dans le palier.",
        ),
        (
            "range: comprise agrees with température, du liquide",
            tr.render_range_claim(
                np("battery module"),
                tr.claim_ref(0, 1),
                temperature,
                np("coolant"),
                tr.bound(0, 1, ("20", "20"), ("45", "45"), temperature, attributive=False),
            ),
            "The battery module according to claim 1, wherein the temperature of the coolant is between 20 and 45 °C.",
            "Module de batterie selon la revendication 1, dans lequel la température du liquide de refroidissement "
            "est comprise entre 20 et 45 °C.",
        ),
        (
            "dimension: decimal commas",
            tr.render_dimension(
                np("plate"), thickness, tr.bound(0, 1, ("0.5", "0,5"), ("2.5", "2,5"), thickness, attributive=True)
            ),
            "The plate has a thickness of between 0.5 and 2.5 mm.",
            "La plaque présente une épaisseur comprise entre 0,5 et 2,5 mm.",
        ),
        (
            "dimension: plural subject, masculine limit",
            tr.render_dimension(
                np("tube", plural=True), diameter, tr.bound(1, 0, ("10", "10"), ("20", "20"), diameter, True)
            ),
            "The tubes have a diameter of less than 20 mm.",
            "Les tubes présentent un diamètre inférieur à 20 mm.",
        ),
        (
            "so that: subjunctive, feminine participle, de l'",
            tr.render_so_that(
                (np("sensor"), relation("mounted", "on"), np("housing")),
                (quantity("pressure"), np("oil")),
                verb("measure"),
            ),
            "The sensor is mounted on the housing so that the pressure of the oil can be measured.",
            "Le capteur est monté sur le boîtier de sorte que la pression de l'huile puisse être mesurée.",
        ),
        (
            "object: améliorée and coûteuse agree with éolienne",
            tr.render_object(np("wind turbine"), simple=True),
            "It is an object of the present invention to provide an improved wind turbine, "
            "which is simple and inexpensive to manufacture.",
            "Un but de la présente invention est de proposer une éolienne améliorée, "
            "qui soit simple et peu coûteuse à fabriquer.",
        ),
        (
            "method named by a noun",
            tr.render_relates_method(verb("cool"), np("battery module")),
            "The invention further relates to a method for cooling a battery module.",
            "L'invention concerne également un procédé de refroidissement d'un module de batterie.",
        ),
        (
            "assembly method: d'assemblage, infinitives, contractions",
            tr.render_assembly_method(
                verb("assemble"),
                np("infusion pump"),
                np("housing"),
                [(relation("inserted", "into"), np("filter")), (relation("welded", "to"), np("flange"))],
            ),
            "A method for assembling an infusion pump, comprising the steps of: providing a housing; "
            "inserting a filter into the housing; and welding a flange to the filter.",
            "Procédé d'assemblage d'une pompe à perfusion, comprenant les étapes consistant à : fournir un boîtier ; "
            "insérer un filtre dans le boîtier ; et souder une bride au filtre.",
        ),
        (
            "threshold: inférieure agrees with humidité",
            tr.render_threshold(
                (quantity("humidity"), np("air")), False, np("control unit"), verb("close"), np("valve")
            ),
            "When the humidity of the air falls below a predetermined threshold, the control unit closes the valve.",
            "Lorsque l'humidité de l'air devient inférieure à un seuil prédéterminé, "
            "l'unité de commande ferme la soupape.",
        ),
        (
            "said: ladite, configurée",
            tr.render_configured(np("probe"), True, verb("detect"), (quantity("level"), np("coolant"))),
            "Said probe is configured to detect the level of the coolant.",
            "Ladite sonde est configurée pour détecter le niveau du liquide de refroidissement.",
        ),
        (
            "flow: jusqu'à la",
            tr.render_flow(np("water"), np("duct"), np("inlet"), np("outlet")),
            "The water flows through the duct from the inlet to the outlet.",
            "L'eau s'écoule à travers le conduit depuis l'entrée jusqu'à la sortie.",
        ),
        (
            "first and second: ordinals and relative clause agree",
            tr.render_pair(
                np("housing"),
                np("valve", ordinal=FIRST, numeral="5a"),
                np("valve", ordinal=SECOND, numeral="5b"),
                (relation("connected", "to"), np("pump", numeral="7")),
            ),
            "The housing comprises a first valve (5a) and a second valve (5b), which are connected to the pump (7).",
            "Le boîtier comprend une première soupape (5a) et une seconde soupape (5b), "
            "qui sont reliées à la pompe (7).",
        ),
        (
            "figures: plural views, de l'",
            tr.render_figure(2, np("cross-sectional view", plural=True), np("heat exchanger", numeral="1"), FIRST),
            "FIGS. 2 and 3 show cross-sectional views of the heat exchanger (1) according to a first embodiment "
            "of the invention.",
            "Les figures 2 et 3 représentent des vues en coupe de l'échangeur de chaleur (1) selon un premier mode "
            "de réalisation de l'invention.",
        ),
    ]


SENTENCES = _sentences()


@pytest.mark.parametrize(("case", "pair", "en", "fr"), SENTENCES, ids=[case for case, *_ in SENTENCES])
def test_sentences_match_hand_translations(case: str, pair: tuple[str, str], en: str, fr: str) -> None:
    assert pair == (en, fr)


def test_a_percentage_keeps_its_french_space_and_au_moins_agrees() -> None:
    limit = tr.bound(3, 1, ("80", "80"), ("95", "95"), quantity("humidity"), attributive=False)
    assert limit == ("at least 80%", "au moins égale à 80 %")


# difficulty


def test_copying_the_source_shares_few_words_with_the_reference(data: DatasetDict) -> None:
    shares = []
    for row in data["train"]:
        source = set(WORD.findall(row["source"].lower()))
        reference = WORD.findall(row["reference"].lower())
        shares.append(sum(word in source for word in reference) / len(reference))
    assert sum(shares) / len(shares) < 0.5


def test_sentences_are_varied(data: DatasetDict) -> None:
    sources = [row["source"] for row in rows(data)]
    assert len(set(sources)) > 0.9 * len(sources)
    openings = {" ".join(s.split()[:2]) for s in sources}
    assert len(openings) > 50
