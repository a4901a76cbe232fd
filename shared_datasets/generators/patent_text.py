"""Titles and abstracts in the register of patent documents, composed from weighted pools of technical terms.

Classification and search documents are both written here, so that a topic and the documents it should retrieve
read alike, and near-misses differ only in which technical features they carry.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

TITLES = (
    "{F} and method for manufacturing the same",
    "{F} with improved {P}",
    "Method for controlling a {F}",
    "System and method for {G} a {F}",
    "{F} comprising a {T}",
    "{F}",
    "Arrangement of a {F} and a {T}",
)
SENTENCES = (
    "A {F} is disclosed, comprising a {T} and a {T}.",
    "The {T} is arranged between the {T} and the {T}.",
    "The {F} includes a {T} configured to {V} the {T}.",
    "In one embodiment, the {T} is coupled to the {T} by means of a {T}.",
    "A method of {G} a {F} comprises providing a {T}, {G} the {T} and {G} the {T}.",
    "This arrangement improves the {P} of the {T} and reduces the {P}.",
    "The {T} may be formed from a {T}.",
    "According to the invention, the {F} further comprises a {T} that can {V} the {T}.",
    "A control unit determines the {P} of the {T} from the output of the {T}.",
    "The {T} and the {T} together define a {T}.",
)
VERBS = ("receive", "support", "control", "detect", "guide", "hold", "rotate", "heat", "cool", "seal", "drive",
         "measure", "store", "transmit", "adjust", "protect", "position")  # fmt: skip
GERUNDS = ("operating", "producing", "monitoring", "assembling", "cleaning", "treating", "calibrating",
           "installing", "testing", "regulating")  # fmt: skip
PROPERTIES = ("efficiency", "reliability", "durability", "accuracy", "cost", "weight", "energy consumption",
              "noise level", "safety", "throughput", "maintenance effort", "service life")  # fmt: skip


_INDEFINITE = re.compile(r"\b([Aa]) (?=[aeiouAEIOU])")


@dataclass(frozen=True)
class TermPools:
    """Where a document's words come from, with weights: the mix decides how separable its labels are."""

    features: Sequence[str]
    pools: Sequence[Sequence[str]]
    weights: Sequence[float]

    def term(self, rng: random.Random) -> str:
        pool = rng.choices(self.pools, weights=self.weights)[0]
        return rng.choice(pool)


def _fill(template: str, rng: random.Random, pools: TermPools) -> str:
    out = []
    for i, part in enumerate(template.split("{")):
        if i == 0:
            out.append(part)
            continue
        slot, rest = part[0], part[2:]
        if slot == "F":
            word = rng.choice(pools.features)
        elif slot == "T":
            word = pools.term(rng)
        elif slot == "V":
            word = rng.choice(VERBS)
        elif slot == "G":
            word = rng.choice(GERUNDS)
        else:
            word = rng.choice(PROPERTIES)
        out.append(word + rest)
    return _INDEFINITE.sub(r"\1n ", "".join(out))


def title(rng: random.Random, pools: TermPools) -> str:
    text = _fill(rng.choice(TITLES), rng, pools)
    return text[0].upper() + text[1:]


def abstract(rng: random.Random, pools: TermPools, sentences: int) -> str:
    chosen = [SENTENCES[0], *rng.sample(SENTENCES[1:], sentences - 1)]
    return " ".join(_fill(s, rng, pools) for s in chosen)


def typo(rng: random.Random, text: str) -> str:
    """One swapped pair of letters, as OCR and keying errors leave in real filings."""
    if len(text) < 4:
        return text
    i = rng.randrange(len(text) - 1)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
