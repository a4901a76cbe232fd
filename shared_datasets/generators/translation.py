"""English patent sentences with French references: the code holds the grammar, a YAML lexicon the terms.

Every English term maps to one French term, as terminology does in real patent translation, so a
translation memory aligned on the training pairs gets the words right. What it must still work out is
the grammar computed here: articles and elision (l'arbre), contractions (au, du, dudit), adjectives moving
after the noun, gender and number agreement of adjectives and participles, claim phrasing and decimals.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from codefest.shared_datasets.builders import BuildContext, builder
from codefest.shared_datasets.generators.common import GeneratorOptions, split_rows

if TYPE_CHECKING:
    from datasets import DatasetDict

LEXICON_PATH = Path(__file__).resolve().parent.parent / "data" / "lexicon_en_fr.yaml"
Pair = tuple[str, str]
Forms = tuple[str, str, str, str]  # French m, f, m pl, f pl; index with Phrase.form
FR_VOWELS = frozenset("aàâäeéèêëiîïoôöuùûüœ")
NICE_NUMBERS = (
    0.1, 0.2, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 80, 90, 100, 120,
    150, 200, 250, 300, 360, 400, 500, 800, 1000, 1500, 2000, 3000, 5000, 10000, 20000,
)  # fmt: skip
# (device numeral, first part numeral, step): the numbering habits of patent drawings
NUMBERING = (("1", 2, 1), ("1", 10, 2), ("10", 12, 2), ("100", 102, 2), ("1", 11, 1), ("1", 10, 10))
CLASSES = ("part", "flow", "rotating", "electric", "sensor", "controller")  # of components
OWNERS = ("substance", "part", "flow", "rotating", "electric")  # what a quantity can be "of"
EN_BE = ("is", "is", "are", "are")
FR_BE = ("est", "est", "sont", "sont")


# --- word forms -------------------------------------------------------------------------------------


def fr_plural(word: str) -> str:
    """The regular French plural of one word (tube -> tubes, canal -> canaux, tuyau -> tuyaux)."""
    if word.endswith(("s", "x", "z")):
        return word
    if word.endswith("al"):
        return word[:-2] + "aux"
    if word.endswith(("au", "eu")):
        return word + "x"
    return word + "s"


def en_plural(term: str) -> str:
    """The regular English plural of a term, on its last word (valve -> valves, switch -> switches)."""
    if term.endswith(("s", "x", "z", "ch", "sh")):
        return term + "es"
    if term.endswith("y") and term[-2:-1] not in "aeiou":
        return term[:-1] + "ies"
    return term + "s"


def fr_head_plural(term: str) -> str:
    """French compounds take the plural on their head noun (échangeurs de chaleur)."""
    head, _, rest = term.partition(" ")
    return f"{fr_plural(head)} {rest}" if rest else fr_plural(head)


def agreeing(masculine: str, feminine: str | None = None, mp: str | None = None, fp: str | None = None) -> Forms:
    """The four French forms; the regular ones follow from the masculine, inflected on the last word."""
    feminine = feminine or (masculine if masculine.endswith("e") else masculine + "e")
    return (masculine, feminine, mp or _last_word_plural(masculine), fp or _last_word_plural(feminine))


def participle(term: str) -> Forms:
    """A participle agrees on its first word, the rest stays (située en aval, connectées électriquement)."""
    head, _, rest = term.partition(" ")
    tail = f" {rest}" if rest else ""
    m, f, mp, fp = agreeing(head)
    return m + tail, f + tail, mp + tail, fp + tail


def _last_word_plural(term: str) -> str:
    stem, _, last = term.rpartition(" ")
    return f"{stem} {fr_plural(last)}" if stem else fr_plural(last)


def starts_with_vowel(word: str, aspirated: bool = False) -> bool:
    """Whether French elides before the word: vowels and h muet (l'huile), not h aspiré (le hublot)."""
    first = word[:1].lower()
    return first in FR_VOWELS or (first == "h" and not aspirated)


@cache
def takes_an(word: str) -> bool:
    """'an' before a vowel sound: an inlet, an L-shaped..., but a U-shaped, a unit."""
    lower = word.lower()
    if word[1:2] == "-":
        return word[0] in "AEFHILMNORSX"
    if lower.startswith(("uni", "use", "usu", "ut", "eu", "one")):
        return False
    return lower[:1] in "aeiou"


def cap(text: str) -> str:
    """Capitalise the first letter only (str.capitalize would lower the rest)."""
    return text[:1].upper() + text[1:]


# --- the lexicon ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Noun:
    """A term in both languages; vowel says whether French elides before it (l'arbre, d'une, de l'huile)."""

    en: str
    en_pl: str
    fr: str
    fr_pl: str
    feminine: bool
    vowel: bool
    cls: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class Inflected:
    """An adjective or ordinal: one English form, four French ones (m, f, m pl, f pl)."""

    en: str
    fr: Forms
    vowel: bool = False
    predicative: bool = True


@dataclass(frozen=True, slots=True, eq=False)
class Relation:
    """A participle with its preposition (connected to / relié à); ing/inf for method steps."""

    en: str
    en_prep: str
    fr: Forms
    fr_prep: str
    ing: str = ""
    inf: str = ""


@dataclass(frozen=True, slots=True, eq=False)
class Verb:
    """A verb in the forms the templates need, and the French noun that names a method (refroidissement)."""

    en: str
    en_3s: str
    ing: str
    pp: str
    fr: str
    fr_3s: str
    fr_pp: Forms
    noun: str
    objects: frozenset[str]
    sense: bool
    suits: frozenset[str]


@dataclass(frozen=True, slots=True, eq=False)
class Quantity:
    """A measurable property with its unit and the round values a patent would quote."""

    noun: Noun
    unit_en: str
    unit_fr: str
    values: tuple[Pair, ...]


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The YAML vocabulary indexed for drawing: by component class, by what a verb acts on, and so on."""

    devices: list[Noun]
    components: list[Noun]
    by_class: dict[str, list[Noun]]
    sensors: dict[Noun, list[Noun]]  # quantity noun -> sensors able to measure it
    controllers: list[Noun]
    quantities_of: dict[str, list[Quantity]]
    dimensions: list[Quantity]
    substances: list[Noun]
    materials: list[Noun]
    applications: list[Noun]
    views: list[Noun]
    adjectives: dict[str, list[Inflected]]
    predicatives: dict[str, list[Inflected]]
    ordinals: list[Inflected]
    relations: dict[str, list[Relation]]
    step_relations: dict[str, list[Relation]]
    between: list[Relation]
    verbs: dict[str, list[Verb]]
    sense_verbs: list[Verb]
    act_verbs: dict[str, list[Verb]]  # component class -> verbs that act on such a part
    openers: list[Pair]

    def nouns(self) -> list[Noun]:
        """Every noun once, whatever its role: the terminology a translation must keep consistent."""
        groups = [self.devices, self.components, self.controllers, self.substances, self.materials]
        groups += [self.applications, self.views, *self.sensors.values()]
        groups += [[q.noun for q in self.dimensions], *([q.noun for q in qs] for qs in self.quantities_of.values())]
        return list({id(n): n for group in groups for n in group}.values())


def _noun(entry: dict[str, Any], cls: str = "") -> Noun:
    fr = entry["fr"]
    return Noun(
        en=entry["en"],
        en_pl=entry.get("en_pl") or en_plural(entry["en"]),
        fr=fr,
        fr_pl=entry.get("fr_pl") or fr_head_plural(fr),
        feminine=entry["g"] == "f",
        vowel=starts_with_vowel(fr, entry.get("aspirated", False)),
        cls=entry.get("cls", cls),
    )


def _values(low: float, high: float) -> tuple[Pair, ...]:
    """Round numbers in range, as (English, French) strings: 2.5 and 2,5."""
    picked = [x for x in NICE_NUMBERS if low <= x <= high]
    return tuple((f"{x:g}", f"{x:g}".replace(".", ",")) for x in picked)


def _quantity(entry: dict[str, Any], units: dict[str, str]) -> Quantity:
    unit = entry["unit"]
    return Quantity(_noun(entry), unit, units.get(unit, unit), _values(*entry["range"]))


def _adjective(entry: dict[str, Any]) -> Inflected:
    forms = agreeing(entry["m"], entry["f"], entry.get("mp"), entry.get("fp"))
    return Inflected(entry["en"], forms, starts_with_vowel(entry["m"]), entry.get("pred", True))


def _relation(entry: dict[str, Any]) -> Relation:
    return Relation(
        entry["en"],
        entry["en_prep"],
        participle(entry["fr"]),
        entry["fr_prep"],
        entry.get("ing", ""),
        entry.get("inf", ""),
    )


def _verb(entry: dict[str, Any]) -> Verb:
    return Verb(
        en=entry["en"],
        en_3s=entry["en_3s"],
        ing=entry["ing"],
        pp=entry["pp"],
        fr=entry["fr"],
        fr_3s=entry["fr_3s"],
        fr_pp=participle(entry["fr_pp"]),
        noun=entry["noun"],
        objects=frozenset(entry["obj"]),
        sense=entry.get("sense", False),
        suits=frozenset(entry.get("for", CLASSES)),
    )


@cache
def load_lexicon(path: Path = LEXICON_PATH) -> Lexicon:
    """Read the YAML once per process and index it by class, so drawing a slot is one lookup."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    units = raw["units"]
    components = [_noun(e) for e in raw["components"]]
    quantities = [(_quantity(e, units), e["of"]) for e in raw["quantities"]]
    sensors = [(_noun(e, "sensor"), e.get("measures")) for e in raw["sensors"]]
    adjectives = [(_adjective(e), e["for"]) for e in raw["adjectives"]]
    relations = [(_relation(e), e.get("for", CLASSES), e.get("between", False)) for e in raw["relations"]]
    verbs = [_verb(e) for e in raw["verbs"]]
    return Lexicon(
        devices=[_noun(e) for e in raw["devices"]],
        components=components,
        by_class={c: [n for n in components if n.cls == c] for c in CLASSES},
        sensors={q.noun: [s for s, only in sensors if not only or q.noun.en in only] for q, _ in quantities},
        controllers=[_noun(e, "controller") for e in raw["controllers"]],
        quantities_of={c: [q for q, of in quantities if c in of] for c in OWNERS},
        dimensions=[_quantity(e, units) for e in raw["dimensions"]],
        substances=[_noun(e, "substance") for e in raw["substances"]],
        materials=[_noun(e) for e in raw["materials"]],
        applications=[_noun(e) for e in raw["applications"]],
        views=[_noun(e) for e in raw["views"]],
        adjectives={c: [a for a, suits in adjectives if c in suits] for c in CLASSES},
        predicatives={c: [a for a, suits in adjectives if c in suits and a.predicative] for c in CLASSES},
        ordinals=[_adjective(e) for e in raw["ordinals"]],
        relations={c: [r for r, suits, _ in relations if c in suits] for c in CLASSES},
        step_relations={c: [r for r, suits, _ in relations if c in suits and r.ing] for c in CLASSES},
        between=[r for r, _, between in relations if between],
        verbs={o: [v for v in verbs if o in v.objects] for o in ("quantity", "component", "device", "assembly")},
        sense_verbs=[v for v in verbs if v.sense],
        act_verbs={c: [v for v in verbs if "component" in v.objects and c in v.suits] for c in CLASSES},
        openers=[(e["en"], e["fr"]) for e in raw["openers"]],
    )


# --- noun phrases -----------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)  # not frozen: frozen __init__ costs a third more, and one is made per mention
class Phrase:
    """A noun phrase without its determiner; the determiner is chosen where the phrase is used. Never mutated."""

    noun: Noun
    plural: bool = False
    adjective: Inflected | None = None
    ordinal: Inflected | None = None
    numeral: str = ""

    @property
    def form(self) -> int:
        """Index into Forms: 0 m, 1 f, 2 m pl, 3 f pl."""
        return self.noun.feminine + 2 * self.plural


Measured = tuple[Quantity, Phrase]  # the pressure of the fluid: a quantity and what it belongs to
EN_DETERMINERS = {"the": "the ", "said": "said ", "bare": "", "plurality": "a plurality of "}
_TO = {"le ": "au ", "les ": "aux ", "ledit ": "audit ", "lesdits ": "auxdits ", "lesdites ": "auxdites "}
_OF = {"le ": "du ", "les ": "des ", "ledit ": "dudit ", "lesdits ": "desdits ", "lesdites ": "desdites "}


def en_np(p: Phrase, det: str = "the") -> str:
    """English: determiner, ordinal, adjective, noun, reference numeral (a first annular seal (14))."""
    words = p.noun.en_pl if p.plural else p.noun.en
    if p.adjective:
        words = f"{p.adjective.en} {words}"
    if p.ordinal:
        words = f"{p.ordinal.en} {words}"
    if p.numeral:
        words = f"{words} ({p.numeral})"
    if det == "a":
        return words if p.plural else ("an " if takes_an(words.partition(" ")[0]) else "a ") + words
    return EN_DETERMINERS[det] + words


def fr_np(p: Phrase, det: str = "the", prep: str = "") -> str:
    """French: (preposition+)article, ordinal, noun, then adjective and numeral (au premier joint plat)."""
    form = p.noun.feminine + 2 * p.plural
    words = p.noun.fr_pl if p.plural else p.noun.fr
    vowel = p.noun.vowel
    if p.adjective:
        words = f"{words} {p.adjective.fr[form]}"
    if p.ordinal:
        words = f"{p.ordinal.fr[form]} {words}"
        vowel = p.ordinal.vowel
    if p.numeral:
        words = f"{words} ({p.numeral})"
    return fr_determiner(det, prep, form, vowel) + words


def _fr_article(det: str, form: int, vowel: bool) -> str:
    plural, feminine = form >= 2, form % 2 == 1
    if det == "the":
        return "les " if plural else "l'" if vowel else "la " if feminine else "le "
    if det == "a":
        return "des " if plural else "une " if feminine else "un "
    if det == "said":
        return ("lesdites " if feminine else "lesdits ") if plural else "ladite " if feminine else "ledit "
    if det == "plurality":
        return "une pluralité d'" if vowel else "une pluralité de "
    return ""


@cache
def fr_determiner(det: str, prep: str, form: int, vowel: bool) -> str:
    """Preposition and article as French contracts them: au, du, d'une, dudit, jusqu'à l', de (des -> de)."""
    article = _fr_article(det, form, vowel)
    if prep == "à" or prep.endswith((" à", "'à")):
        return prep[:-1] + _TO.get(article, "à " + article)
    if prep == "de" or prep.endswith(" de"):
        stem = prep[:-2]
        if article in ("", "des "):
            return stem + ("d'" if vowel else "de ")
        if article.startswith("un"):
            return f"{stem}d'{article}"
        return stem + _OF.get(article, "de " + article)
    return f"{prep} {article}" if prep else article


def en_rel(rel: Relation, target: Phrase, det: str = "the") -> str:
    return f"{rel.en} {rel.en_prep} {en_np(target, det)}"


def fr_rel(rel: Relation, form: int, target: Phrase, det: str = "the") -> str:
    """The participle agrees with the subject (form), the preposition contracts with the target's article."""
    return f"{rel.fr[form]} {fr_np(target, det, rel.fr_prep)}"


def en_of(quantity: Phrase, owner: Phrase, det: str = "the") -> str:
    return f"{en_np(quantity)} of {en_np(owner, det)}"


def fr_of(quantity: Phrase, owner: Phrase, det: str = "the", prep: str = "") -> str:
    return f"{fr_np(quantity, 'the', prep)} {fr_np(owner, det, 'de')}"


def de(word: str) -> str:
    """'de' before a bare word, elided before a vowel (procédé d'assemblage)."""
    return f"d'{word}" if starts_with_vowel(word) else f"de {word}"


# --- values and references ----------------------------------------------------------------------------

COMPRIS = agreeing("compris")
INFERIEUR = agreeing("inférieur")
SUPERIEUR = agreeing("supérieur")
EGAL = agreeing("égal")
CONFIGURE = agreeing("configuré")
COUTEUX = agreeing("coûteux", "coûteuse")
CARACTERISE = agreeing("caractérisé")
REALISE = agreeing("réalisé")
PEUT = ("peut", "peut", "peuvent", "peuvent")
IMPROVED = Inflected("improved", agreeing("amélioré"))
DANS_LEQUEL = ("dans lequel", "dans laquelle")
UNTIL = "jusqu'à"
VIA = "par l'intermédiaire de"


def amount(value: Pair, quantity: Quantity) -> Pair:
    """A value with its unit: 80% / 80 %, 2.5 mm / 2,5 mm, 90° in both."""
    unit_en, unit_fr = quantity.unit_en, quantity.unit_fr
    en = f"{value[0]}{unit_en}" if unit_en in ("%", "°") else f"{value[0]} {unit_en}"
    fr = f"{value[1]}{unit_fr}" if unit_fr == "°" else f"{value[1]} {unit_fr}"
    return en, fr


def bound(kind: int, form: int, low: Pair, high: Pair, quantity: Quantity, attributive: bool) -> Pair:
    """A range or limit; French agrees it with the quantity (comprise entre, inférieur à, d'au moins)."""
    low_en, low_fr = amount(low, quantity)
    high_en, high_fr = amount(high, quantity)
    if kind == 0:
        en, fr = f"between {low[0]} and {high_en}", f"{COMPRIS[form]} entre {low[1]} et {high_fr}"
    elif kind == 1:
        en, fr = f"less than {high_en}", f"{INFERIEUR[form]} à {high_fr}"
    elif kind == 2:
        en, fr = f"more than {low_en}", f"{SUPERIEUR[form]} à {low_fr}"
    elif kind == 3:
        en = f"at least {low_en}"
        fr = f"d'au moins {low_fr}" if attributive else f"au moins {EGAL[form]} à {low_fr}"
    else:
        en, fr = f"approximately {low_en}", f"d'environ {low_fr}"
    return (f"of {en}" if attributive else en), fr


def claim_ref(kind: int, n: int) -> Pair:
    """How a dependent claim cites its parents (kind 1 needs n >= 3, kind 2 n >= 2)."""
    if kind == 1:
        return f"any one of claims 1 to {n}", f"l'une quelconque des revendications 1 à {n}"
    if kind == 2:
        return f"claim {n - 1} or {n}", f"la revendication {n - 1} ou {n}"
    if kind == 3:
        return "any one of the preceding claims", "l'une quelconque des revendications précédentes"
    return f"claim {n}", f"la revendication {n}"


# --- sentences: each renderer is pure, so tests can check exact French -------------------------------

Link = tuple[Phrase, Relation, Phrase]  # subject, relation, target: "the valve is connected to the pump"


def en_clause(link: Link) -> str:
    subject, rel, target = link
    return f"{en_np(subject)} {EN_BE[subject.form]} {en_rel(rel, target)}"


def fr_clause(link: Link) -> str:
    subject, rel, target = link
    return f"{fr_np(subject)} {FR_BE[subject.form]} {fr_rel(rel, subject.form, target)}"


def render_independent_claim(device: Phrase, first: Phrase, second: Phrase, many: Phrase, rel: Relation) -> Pair:
    """Claim 1 style: French claims open on the bare noun (Échangeur de chaleur comprenant...)."""
    en = (
        f"{cap(en_np(device, 'a'))} comprising {en_np(first, 'a')}, {en_np(second, 'a')} and "
        f"{en_np(many, 'plurality')} {en_rel(rel, second)}."
    )
    fr = (
        f"{cap(fr_np(device, 'bare'))} comprenant {fr_np(first, 'a')}, {fr_np(second, 'a')} et "
        f"{fr_np(many, 'plurality')} {fr_rel(rel, many.form, second)}."
    )
    return en, fr


def render_characterised_claim(device: Phrase, first: Phrase, second: Phrase, rel: Relation) -> Pair:
    """Two-part (European) claim form: the novelty follows 'characterised in that'."""
    link = (first, rel, second)
    en = (
        f"{cap(en_np(device, 'a'))} comprising {en_np(first, 'a')} and {en_np(second, 'a')}, "
        f"characterised in that {en_clause(link)}."
    )
    feminine = device.noun.feminine
    fr = (
        f"{cap(fr_np(device, 'bare'))} comprenant {fr_np(first, 'a')} et {fr_np(second, 'a')}, "
        f"{CARACTERISE[feminine]} en ce que {fr_clause(link)}."
    )
    return en, fr


def render_dependent_claim(device: Phrase, ref: Pair, links: Sequence[Link]) -> Pair:
    """'wherein' becomes 'dans lequel/laquelle', agreeing with the device; clauses join with and/et."""
    en = " and ".join(en_clause(link) for link in links)
    fr = " et ".join(fr_clause(link) for link in links)
    head_en = f"{cap(en_np(device))} according to {ref[0]}"
    head_fr = f"{cap(fr_np(device, 'bare'))} selon {ref[1]}"
    return f"{head_en}, wherein {en}.", f"{head_fr}, {DANS_LEQUEL[device.noun.feminine]} {fr}."


def render_adjective_claim(device: Phrase, ref: Pair, subject: Phrase, adjective: Inflected) -> Pair:
    en = f"{cap(en_np(device))} according to {ref[0]}, wherein {en_np(subject)} {EN_BE[subject.form]} {adjective.en}."
    fr = (
        f"{cap(fr_np(device, 'bare'))} selon {ref[1]}, {DANS_LEQUEL[device.noun.feminine]} "
        f"{fr_np(subject)} {FR_BE[subject.form]} {adjective.fr[subject.form]}."
    )
    return en, fr


def render_characterised_dependent(device: Phrase, ref: Pair, subject: Phrase, first: Phrase, second: Phrase) -> Pair:
    en = (
        f"{cap(en_np(device))} according to {ref[0]}, characterised in that {en_np(subject)} comprises "
        f"{en_np(first, 'a')} and {en_np(second, 'a')}."
    )
    fr = (
        f"{cap(fr_np(device, 'bare'))} selon {ref[1]}, {CARACTERISE[device.noun.feminine]} en ce que "
        f"{fr_np(subject)} comprend {fr_np(first, 'a')} et {fr_np(second, 'a')}."
    )
    return en, fr


def render_range_claim(device: Phrase, ref: Pair, quantity: Quantity, owner: Phrase, limit: Pair) -> Pair:
    """limit: bound(..., attributive=False) agreed with the quantity."""
    q = Phrase(quantity.noun)
    en = f"{cap(en_np(device))} according to {ref[0]}, wherein {en_of(q, owner)} is {limit[0]}."
    fr = (
        f"{cap(fr_np(device, 'bare'))} selon {ref[1]}, {DANS_LEQUEL[device.noun.feminine]} "
        f"{fr_of(q, owner)} est {limit[1]}."
    )
    return en, fr


def render_control_method(
    goal: Verb,
    target: Phrase | Measured,
    sense: Verb,
    measured: Measured,
    sensor: Phrase,
    act: Verb,
    part: Phrase,
) -> Pair:
    """Method claim: the French names the method by a noun (Procédé de régulation de la température...)."""
    goal_en, goal_fr = _method_object(target)
    quantity, owner = measured
    q = Phrase(quantity.noun)
    en = (
        f"A method for {goal.ing} {goal_en}, comprising the steps of: "
        f"{sense.ing} {en_of(q, owner)} by means of {en_np(sensor, 'a')}; "
        f"comparing the {sense.pp} {quantity.noun.en} with a predetermined threshold value; and "
        f"{act.ing} {en_np(part)} as a function of the result of the comparison."
    )
    fr = (
        f"Procédé {de(goal.noun)} {goal_fr}, comprenant les étapes consistant à : "
        f"{sense.fr} {fr_of(q, owner)} {fr_np(sensor, 'a', 'au moyen de')} ; "
        f"comparer {fr_np(q)} {sense.fr_pp[q.form]} à une valeur seuil prédéterminée ; et "
        f"{act.fr} {fr_np(part)} en fonction du résultat de la comparaison."
    )
    return en, fr


def _method_object(target: Phrase | Measured) -> Pair:
    if isinstance(target, Phrase):
        return en_np(target, "a"), fr_np(target, "a", "de")
    quantity, owner = target
    q = Phrase(quantity.noun)
    return en_of(q, owner, "a"), fr_of(q, owner, "a", "de")


def render_assembly_method(goal: Verb, device: Phrase, base: Phrase, steps: Sequence[tuple[Relation, Phrase]]) -> Pair:
    """Steps attach each new part to the previous one (monter une soupape sur le boîtier)."""
    en_steps, fr_steps = [f"providing {en_np(base, 'a')}"], [f"fournir {fr_np(base, 'a')}"]
    previous = base
    for rel, part in steps:
        en_steps.append(f"{rel.ing} {en_np(part, 'a')} {rel.en_prep} {en_np(previous)}")
        fr_steps.append(f"{rel.inf} {fr_np(part, 'a')} {fr_np(previous, 'the', rel.fr_prep)}")
        previous = part
    en = f"A method for {goal.ing} {en_np(device, 'a')}, comprising the steps of: "
    fr = f"Procédé {de(goal.noun)} {fr_np(device, 'a', 'de')}, comprenant les étapes consistant à : "
    en += "; ".join(en_steps[:-1]) + f"; and {en_steps[-1]}."
    fr += " ; ".join(fr_steps[:-1]) + f" ; et {fr_steps[-1]}."
    return en, fr


def render_relates(device: Phrase, application: Phrase, present: bool) -> Pair:
    """The first sentence of an abstract."""
    device_en, device_fr = en_np(device, "a"), fr_np(device, "a")
    use_en, use_fr = en_np(application, "a"), fr_np(application, "a")
    if present:
        return (
            f"The present invention relates to {device_en}, in particular for {use_en}.",
            f"La présente invention concerne {device_fr}, notamment pour {use_fr}.",
        )
    return (
        f"The invention relates to {device_en} for {use_en}.",
        f"L'invention concerne {device_fr} pour {use_fr}.",
    )


def render_relates_method(goal: Verb, device: Phrase) -> Pair:
    return (
        f"The invention further relates to a method for {goal.ing} {en_np(device, 'a')}.",
        f"L'invention concerne également un procédé {de(goal.noun)} {fr_np(device, 'a', 'de')}.",
    )


def render_object(device: Phrase, simple: bool) -> Pair:
    """'amélioré' and 'peu coûteux' agree with the device; the adjective moves behind the whole compound."""
    improved = Phrase(device.noun, adjective=IMPROVED)
    en = f"It is an object of the present invention to provide {en_np(improved, 'a')}"
    fr = f"Un but de la présente invention est de proposer {fr_np(improved, 'a')}"
    if simple:
        en += ", which is simple and inexpensive to manufacture"
        fr += f", qui soit simple et peu {COUTEUX[improved.form]} à fabriquer"
    return en + ".", fr + "."


def render_configured(subject: Phrase, said: bool, verb: Verb, measured: Measured) -> Pair:
    quantity, owner = measured
    q = Phrase(quantity.noun)
    det = "said" if said else "the"
    en = f"{cap(en_np(subject, det))} is configured to {verb.en} {en_of(q, owner)}."
    fr = f"{cap(fr_np(subject, det))} est {CONFIGURE[subject.form]} pour {verb.fr} {fr_of(q, owner)}."
    return en, fr


def render_controller(controller: Phrase, verb: Verb, part: Phrase, measured: Measured) -> Pair:
    quantity, owner = measured
    q = Phrase(quantity.noun)
    en = f"{cap(en_np(controller))} is configured to {verb.en} {en_np(part)} as a function of {en_of(q, owner)}."
    fr = (
        f"{cap(fr_np(controller))} est {CONFIGURE[controller.form]} pour {verb.fr} {fr_np(part)} "
        f"{fr_of(q, owner, prep='en fonction de')}."
    )
    return en, fr


def render_opened(opener: Pair, en: str, fr: str) -> Pair:
    """A description sentence, optionally opened by an adverbial (Avantageusement, ...)."""
    if not opener[0]:
        return cap(en) + ".", cap(fr) + "."
    return f"{opener[0]}, {en}.", f"{opener[1]}, {fr}."


def render_between(subject: Phrase, rel: Relation, first: Phrase, second: Phrase) -> Pair:
    form = subject.form
    return (
        f"{cap(en_np(subject))} {EN_BE[form]} {rel.en} between {en_np(first)} and {en_np(second)}.",
        f"{cap(fr_np(subject))} {FR_BE[form]} {rel.fr[form]} entre {fr_np(first)} et {fr_np(second)}.",
    )


def render_dimension(subject: Phrase, dimension: Quantity, limit: Pair) -> Pair:
    """'has a thickness of' becomes 'présente une épaisseur'; limit is bound(..., attributive=True)."""
    d = Phrase(dimension.noun)
    verb_en, verb_fr = ("have", "présentent") if subject.plural else ("has", "présente")
    return (
        f"{cap(en_np(subject))} {verb_en} {en_np(d, 'a')} {limit[0]}.",
        f"{cap(fr_np(subject))} {verb_fr} {fr_np(d, 'a')} {limit[1]}.",
    )


def render_material(opener: Pair, subject: Phrase, materials: Sequence[Noun]) -> Pair:
    """'made of A or B' repeats the preposition in French: 'réalisé en A ou en B'."""
    form = subject.form
    made_en = " or ".join(m.en for m in materials)
    made_fr = " ou ".join(f"en {m.fr}" for m in materials)
    return render_opened(
        opener,
        f"{en_np(subject)} {EN_BE[form]} made of {made_en}",
        f"{fr_np(subject)} {FR_BE[form]} {REALISE[form]} {made_fr}",
    )


def render_pair(subject: Phrase, first: Phrase, second: Phrase, link: tuple[Relation, Phrase] | None) -> Pair:
    """A first and a second part; the relative clause agrees with both (qui sont reliées à...)."""
    en = f"{cap(en_np(subject))} comprises {en_np(first, 'a')} and {en_np(second, 'a')}"
    fr = f"{cap(fr_np(subject))} comprend {fr_np(first, 'a')} et {fr_np(second, 'a')}"
    if link:
        rel, target = link
        en += f", which are {en_rel(rel, target)}"
        fr += f", qui sont {fr_rel(rel, first.noun.feminine + 2, target)}"
    return en + ".", fr + "."


def render_further(opener: Pair, device: Phrase, added: Phrase, rel: Relation, target: Phrase) -> Pair:
    return render_opened(
        opener,
        f"{en_np(device)} further comprises {en_np(added, 'a')} {en_rel(rel, target)}",
        f"{fr_np(device)} comprend en outre {fr_np(added, 'a')} {fr_rel(rel, added.form, target)}",
    )


def render_measured(measured: Measured, verb: Verb, sensor: Phrase) -> Pair:
    quantity, owner = measured
    q = Phrase(quantity.noun)
    return (
        f"{cap(en_of(q, owner))} is {verb.pp} by {en_np(sensor)}.",
        f"{cap(fr_of(q, owner))} est {verb.fr_pp[q.form]} par {fr_np(sensor)}.",
    )


def render_threshold(measured: Measured, rising: bool, controller: Phrase, act: Verb, part: Phrase) -> Pair:
    quantity, owner = measured
    q = Phrase(quantity.noun)
    crossing_en = "exceeds" if rising else "falls below"
    crossing_fr = "dépasse" if rising else f"devient {INFERIEUR[q.form]} à"
    en = f"When {en_of(q, owner)} {crossing_en} a predetermined threshold, "
    fr = f"Lorsque {fr_of(q, owner)} {crossing_fr} un seuil prédéterminé, "
    return (
        en + f"{en_np(controller)} {act.en_3s} {en_np(part)}.",
        fr + f"{fr_np(controller)} {act.fr_3s} {fr_np(part)}.",
    )


def render_figure(number: int, view: Phrase, device: Phrase, embodiment: Inflected | None) -> Pair:
    """One figure or two (FIGS. 2 and 3 show ... views / Les figures 2 et 3 représentent des vues)."""
    shown_en = f"{en_np(view, 'a')} of {en_np(device)}"
    shown_fr = f"{fr_np(view, 'a')} {fr_np(device, 'the', 'de')}"
    if view.plural:
        en = f"FIGS. {number} and {number + 1} show {shown_en}"
        fr = f"Les figures {number} et {number + 1} représentent {shown_fr}"
    else:
        en, fr = f"FIG. {number} shows {shown_en}", f"La figure {number} représente {shown_fr}"
    if embodiment:
        en += f" according to a {embodiment.en} embodiment of the invention."
        fr += f" selon un {embodiment.fr[0]} mode de réalisation de l'invention."
    else:
        en += " according to the invention."
        fr += " selon l'invention."
    return en, fr


def render_communication(subject: Phrase, other: Phrase, via: Phrase) -> Pair:
    form = subject.form
    return (
        f"{cap(en_np(subject))} {EN_BE[form]} in fluid communication with {en_np(other)} via {en_np(via)}.",
        f"{cap(fr_np(subject))} {FR_BE[form]} en communication fluidique avec {fr_np(other)} {fr_np(via, 'the', VIA)}.",
    )


def render_flow(substance: Phrase, through: Phrase, source: Phrase, sink: Phrase) -> Pair:
    return (
        f"{cap(en_np(substance))} flows through {en_np(through)} from {en_np(source)} to {en_np(sink)}.",
        f"{cap(fr_np(substance))} s'écoule à travers {fr_np(through)} depuis {fr_np(source)} "
        f"{fr_np(sink, 'the', UNTIL)}.",
    )


def render_can_be(subject: Phrase, rel: Relation, target: Phrase, means: Phrase) -> Pair:
    form = subject.form
    return (
        f"{cap(en_np(subject))} can be {en_rel(rel, target)} by means of {en_np(means, 'a')}.",
        f"{cap(fr_np(subject))} {PEUT[form]} être {fr_rel(rel, form, target)} {fr_np(means, 'a', 'au moyen de')}.",
    )


def render_absolute(first: Link, second: Link) -> Pair:
    """An absolute clause: 'the Z being connected to W' / 'le Z étant relié au W'."""
    subject, rel, target = second
    return (
        f"{cap(en_clause(first))}, {en_np(subject)} being {en_rel(rel, target)}.",
        f"{cap(fr_clause(first))}, {fr_np(subject)} étant {fr_rel(rel, subject.form, target)}.",
    )


def render_so_that(link: Link, measured: Measured, verb: Verb) -> Pair:
    """'so that ... can be measured' takes the subjunctive: 'de sorte que ... puisse être mesurée'."""
    quantity, owner = measured
    q = Phrase(quantity.noun)
    return (
        f"{cap(en_clause(link))} so that {en_of(q, owner)} can be {verb.pp}.",
        f"{cap(fr_clause(link))} de sorte que {fr_of(q, owner)} puisse être {verb.fr_pp[q.form]}.",
    )


# --- drawing the slots ----------------------------------------------------------------------------------

NO_OPENER: Pair = ("", "")
PARTS_PER_DOCUMENT = 8
T = TypeVar("T")


class Writer:
    """Draws the slots of one document's sentences; a part keeps its numeral and adjective throughout.

    Draws index sequences with random() rather than Random.choice/sample: same determinism, a third the cost.
    """

    def __init__(self, lexicon: Lexicon, rng: random.Random) -> None:
        self.lex = lexicon
        self.rng = rng
        self.random = rng.random
        table: list[tuple[Callable[[], Pair], int]] = [
            (self.independent_claim, 6), (self.characterised_claim, 3), (self.dependent_claim, 8),
            (self.compound_claim, 4), (self.adjective_claim, 4), (self.characterised_dependent, 4),
            (self.range_claim, 4), (self.control_method, 3), (self.assembly_method, 2), (self.relates, 3),
            (self.object, 2), (self.configured, 3), (self.controller, 3), (self.embodiment, 6),
            (self.between, 3), (self.dimension, 4), (self.material, 3), (self.pair, 3), (self.further, 3),
            (self.measured_by, 3), (self.threshold, 3), (self.figure, 3), (self.communication, 2),
            (self.flow, 2), (self.can_be, 2), (self.absolute, 3), (self.so_that, 2),
        ]  # fmt: skip
        self.templates = [template for template, _ in table]
        self.cum_weights = list(accumulate(weight for _, weight in table))
        self.start_document()

    def start_document(self) -> None:
        """A new patent: its device, its eight parts (in drawn order), its numbering habit."""
        lex, pick = self.lex, self.pick
        device_numeral, self.next_numeral, self.step = pick(NUMBERING)
        self.numbered = self.random() < 0.6
        self.phrases: dict[Noun, Phrase] = {}
        self.device = Phrase(pick(lex.devices), numeral=device_numeral if self.numbered else "")
        parts = self.rng.sample(lex.components, PARTS_PER_DOCUMENT)
        self.ring = parts + parts
        self.substance = Phrase(pick(lex.substances))
        self.controller_noun = pick(lex.controllers)
        self.application = Phrase(pick(lex.applications))
        self.claim = 1

    def sentence(self) -> Pair:
        template = self.templates[bisect(self.cum_weights, self.random() * self.cum_weights[-1])]
        pair = template()
        self.claim += 1
        return pair

    # slots

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.random() * len(items))]

    def integer(self, low: int, high: int) -> int:
        """Uniform in [low, high], like Random.randint."""
        return low + int(self.random() * (high - low + 1))

    def phrase(self, noun: Noun) -> Phrase:
        """The document's phrase for a noun: drawn once, then reused (the annular seal (14) stays so)."""
        found = self.phrases.get(noun)
        if found is None:
            options = self.lex.adjectives.get(noun.cls)
            adjective = self.pick(options) if options and self.random() < 0.3 else None
            found = self.phrases[noun] = Phrase(noun, adjective=adjective, numeral=self.numeral())
        return found

    def numeral(self) -> str:
        if not self.numbered:
            return ""
        number = self.next_numeral
        self.next_numeral += self.step
        return str(number)

    def parts_of(self, count: int, cls: str | None = None) -> list[Phrase]:
        """count distinct parts: a window of the document's shuffled parts, or of the class's if it has few."""
        if cls is None:
            start = int(self.random() * PARTS_PER_DOCUMENT)
            return [self.phrase(noun) for noun in self.ring[start : start + count]]
        pool = [n for n in self.ring[:PARTS_PER_DOCUMENT] if n.cls == cls]
        if len(pool) < count:
            pool = self.lex.by_class[cls]
        return [self.phrase(noun) for noun in self.rng.sample(pool, count)]

    def maybe_plural(self, p: Phrase, chance: float = 0.2) -> Phrase:
        return self.plural(p) if self.random() < chance else p

    def plural(self, p: Phrase) -> Phrase:
        return Phrase(p.noun, True, p.adjective, None, p.numeral)

    def relation(self, subject: Phrase) -> Relation:
        return self.pick(self.lex.relations[subject.noun.cls])

    def links(self, count: int) -> list[Link]:
        """count clauses over distinct parts, so 'the X ... and the Y ...' never repeats a subject."""
        parts = self.parts_of(2 * count)
        links = []
        for subject, target in zip(parts[::2], parts[1::2], strict=True):
            subject = self.maybe_plural(subject)
            links.append((subject, self.relation(subject), target))
        return links

    def action(self) -> tuple[Verb, Phrase]:
        """A part and something a controller can do to it (open suits a valve, not a heating element)."""
        part = self.parts_of(1)[0]
        return self.pick(self.lex.act_verbs[part.noun.cls]), part

    def measured(self) -> Measured:
        owner = self.substance if self.random() < 0.5 else self.parts_of(1)[0]
        return self.pick(self.lex.quantities_of[owner.noun.cls]), owner

    def sensor(self, quantity: Quantity) -> Phrase:
        return self.phrase(self.pick(self.lex.sensors[quantity.noun]))

    def reference(self) -> Pair:
        n = self.integer(1, max(1, self.claim - 1))
        draw = self.random()
        kind = 0 if draw < 0.65 else 1 if draw < 0.8 else 2 if draw < 0.9 else 3
        return claim_ref(kind, max(n, 4 - kind) if kind in (1, 2) else n)

    def opener(self, chance: float = 0.7) -> Pair:
        if self.random() >= chance:
            return NO_OPENER
        en, fr = self.pick(self.lex.openers)
        if "{fig}" in en:
            figure = str(self.integer(1, 12))
            return en.replace("{fig}", figure), fr.replace("{fig}", figure)
        return en, fr

    def limit(self, quantity: Quantity, form: int, attributive: bool) -> Pair:
        values = quantity.values
        low = int(self.random() * (len(values) - 1))
        high = self.integer(low + 1, len(values) - 1)
        kind = 0 if self.random() < 0.5 else self.integer(1, 4)
        return bound(kind, form, values[low], values[high], quantity, attributive)

    # templates

    def independent_claim(self) -> Pair:
        first, second, many = self.parts_of(3)
        return render_independent_claim(self.device, first, second, self.plural(many), self.relation(many))

    def characterised_claim(self) -> Pair:
        first, second = self.parts_of(2)
        return render_characterised_claim(self.device, first, second, self.relation(first))

    def dependent_claim(self) -> Pair:
        return render_dependent_claim(self.device, self.reference(), self.links(1))

    def compound_claim(self) -> Pair:
        return render_dependent_claim(self.device, self.reference(), self.links(2))

    def adjective_claim(self) -> Pair:
        part = self.parts_of(1)[0]
        options = self.lex.predicatives[part.noun.cls]
        subject = Phrase(part.noun, numeral=part.numeral)
        return render_adjective_claim(self.device, self.reference(), subject, self.pick(options))

    def characterised_dependent(self) -> Pair:
        subject, first, second = self.parts_of(3)
        return render_characterised_dependent(self.device, self.reference(), subject, first, second)

    def range_claim(self) -> Pair:
        quantity, owner = self.measured()
        limit = self.limit(quantity, quantity.noun.feminine, attributive=False)
        return render_range_claim(self.device, self.reference(), quantity, owner, limit)

    def control_method(self) -> Pair:
        verbs = self.lex.verbs
        target: Phrase | Measured
        if self.random() < 0.5:
            goal, target = self.pick(verbs["quantity"]), self.measured()
        else:
            goal, target = self.pick(verbs["device"]), self.device
        measured = self.measured()
        sensor = self.sensor(measured[0])
        act, part = self.action()
        return render_control_method(goal, target, self.pick(self.lex.sense_verbs), measured, sensor, act, part)

    def assembly_method(self) -> Pair:
        base, *parts = self.parts_of(self.integer(2, 3))
        steps = [(self.pick(self.lex.step_relations[p.noun.cls]), p) for p in parts]
        return render_assembly_method(self.pick(self.lex.verbs["assembly"]), self.device, base, steps)

    def relates(self) -> Pair:
        if self.random() < 0.2:
            return render_relates_method(self.pick(self.lex.verbs["device"]), self.device)
        return render_relates(self.device, self.application, self.random() < 0.5)

    def object(self) -> Pair:
        return render_object(self.device, self.random() < 0.5)

    def configured(self) -> Pair:
        quantity, owner = self.measured()
        verb = self.pick(self.lex.sense_verbs)
        return render_configured(self.sensor(quantity), self.random() < 0.5, verb, (quantity, owner))

    def controller(self) -> Pair:
        if self.random() < 0.5:
            return render_configured(
                self.phrase(self.controller_noun),
                False,
                self.pick(self.lex.verbs["quantity"]),
                self.measured(),
            )
        verb, part = self.action()
        return render_controller(self.phrase(self.controller_noun), verb, part, self.measured())

    def embodiment(self) -> Pair:
        link = self.links(1)[0]
        return render_opened(self.opener(0.9), en_clause(link), fr_clause(link))

    def between(self) -> Pair:
        subject, first, second = self.parts_of(3)
        return render_between(self.maybe_plural(subject), self.pick(self.lex.between), first, second)

    def dimension(self) -> Pair:
        subject = self.maybe_plural(self.parts_of(1)[0])
        dimension = self.pick(self.lex.dimensions)
        return render_dimension(subject, dimension, self.limit(dimension, dimension.noun.feminine, True))

    def material(self) -> Pair:
        subject = self.maybe_plural(self.parts_of(1)[0])
        materials = self.rng.sample(self.lex.materials, 1 if self.random() < 0.7 else 2)
        return render_material(self.opener(0.5), subject, materials)

    def pair(self) -> Pair:
        subject, other, target = self.parts_of(3)
        first_ord, second_ord = self.lex.ordinals[0], self.lex.ordinals[1]
        base = other.numeral
        first = Phrase(other.noun, ordinal=first_ord, numeral=base and base + "a")
        second = Phrase(other.noun, ordinal=second_ord, numeral=base and base + "b")
        link = (self.relation(other), target) if self.random() < 0.5 else None
        return render_pair(subject, first, second, link)

    def further(self) -> Pair:
        added, target = self.parts_of(2)
        return render_further(self.opener(0.9), self.device, added, self.relation(added), target)

    def measured_by(self) -> Pair:
        measured = self.measured()
        return render_measured(measured, self.pick(self.lex.sense_verbs), self.sensor(measured[0]))

    def threshold(self) -> Pair:
        act, part = self.action()
        controller = self.phrase(self.controller_noun)
        return render_threshold(self.measured(), self.random() < 0.6, controller, act, part)

    def figure(self) -> Pair:
        view = Phrase(self.pick(self.lex.views), plural=self.random() < 0.2)
        embodiment = self.pick(self.lex.ordinals) if self.random() < 0.4 else None
        return render_figure(self.integer(1, 9), view, self.device, embodiment)

    def communication(self) -> Pair:
        subject, other, via = self.parts_of(3, "flow")
        return render_communication(subject, other, via)

    def flow(self) -> Pair:
        through, source, sink = self.parts_of(3, "flow")
        return render_flow(self.substance, through, source, sink)

    def can_be(self) -> Pair:
        subject, target, means = self.parts_of(3)
        subject = self.maybe_plural(subject)
        rel = self.pick(self.lex.step_relations[subject.noun.cls])  # attachments: fixed, welded...
        return render_can_be(subject, rel, target, Phrase(means.noun))

    def absolute(self) -> Pair:
        return render_absolute(*self.links(2))

    def so_that(self) -> Pair:
        return render_so_that(self.links(1)[0], self.measured(), self.pick(self.lex.sense_verbs))


def generate_rows(size: int, seed: int) -> dict[str, list[str]]:
    """size sentences in documents of 2 to 8; ids EP-<7 digits>-<sentence>, increasing and unique."""
    rng = random.Random(seed)
    writer = Writer(load_lexicon(), rng)
    ids: list[str] = []
    sources: list[str] = []
    references: list[str] = []
    number = rng.randrange(1_000_000, 3_000_000)
    while len(ids) < size:
        number += writer.integer(1, 7)
        writer.start_document()
        for index in range(1, min(writer.integer(2, 8), size - len(ids)) + 1):
            source, reference = writer.sentence()
            ids.append(f"EP-{number:07d}-{index}")
            sources.append(source)
            references.append(reference)
    return {"id": ids, "source": sources, "reference": references}


@builder(
    "synthetic-patent-en-fr",
    task="translation",
    kind="generator",
    options=GeneratorOptions,
    card="synthetic-patent-en-fr.md",
)
def build(options: GeneratorOptions, context: BuildContext) -> DatasetDict:
    """Synthetic English patent claims and abstracts with French references; consistent terminology."""
    return split_rows(generate_rows(options.size, options.seed), "translation", options)
