"""The IPC scheme that the generators draw from: real sections, classes and subclasses, generated main groups.

The scheme is fixed (it does not depend on a dataset's seed), as the real IPC is for every corpus.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import yaml

VOCABULARY = Path(__file__).parent / "data" / "ipc_vocabulary.yaml"

# Group-specific qualifiers: a main group is a subclass term narrowed by one of these, as group titles narrow
# their subclass ("rotary plough", "hydraulic valve seat").
MODIFIERS = (
    "rotary", "hydraulic", "pneumatic", "modular", "flexible", "annular", "adjustable", "telescopic", "porous",
    "laminated", "magnetic", "thermal", "wireless", "disposable", "foldable", "compact", "self-cleaning",
    "reinforced", "multilayer", "transparent", "biodegradable", "cylindrical", "segmented", "resilient",
    "high-pressure", "low-temperature", "automated", "portable", "detachable", "coaxial", "vibration-damped",
    "sealed", "heated", "cooled", "electrically-driven", "spring-loaded", "sensor-equipped", "interchangeable",
)  # fmt: skip


# How another applicant words the same feature: relevant prior art rarely repeats a topic's words exactly.
PARAPHRASES = {
    "rotary": "rotating", "hydraulic": "fluid-operated", "pneumatic": "air-operated", "modular": "sectional",
    "flexible": "pliable", "annular": "ring-shaped", "adjustable": "variable", "telescopic": "extendable",
    "porous": "perforated", "laminated": "layered", "magnetic": "magnetised", "thermal": "heat-conducting",
    "wireless": "cordless", "disposable": "single-use", "foldable": "collapsible", "compact": "space-saving",
    "self-cleaning": "self-purging", "reinforced": "strengthened", "multilayer": "multi-ply",
    "transparent": "see-through", "biodegradable": "compostable", "cylindrical": "tubular",
    "segmented": "divided", "resilient": "elastic", "high-pressure": "pressurised", "low-temperature": "chilled",
    "automated": "automatic", "portable": "hand-held", "detachable": "removable", "coaxial": "concentric",
    "vibration-damped": "shock-absorbing", "sealed": "leak-tight", "heated": "warmed", "cooled": "refrigerated",
    "electrically-driven": "motor-driven", "spring-loaded": "spring-biased", "sensor-equipped": "instrumented",
    "interchangeable": "exchangeable",
}  # fmt: skip


@dataclass(frozen=True)
class MainGroup:
    symbol: str
    features: tuple[str, ...]
    subgroups: tuple[str, ...]


@dataclass(frozen=True)
class Subclass:
    code: str
    title: str
    terms: tuple[str, ...]
    groups: tuple[MainGroup, ...]

    @property
    def class_code(self) -> str:
        return self.code[:3]

    @property
    def section(self) -> str:
        return self.code[0]


@dataclass(frozen=True, eq=False)
class Scheme:
    section_terms: dict[str, tuple[str, ...]]
    class_terms: dict[str, tuple[str, ...]]
    subclasses: tuple[Subclass, ...]

    def siblings(self, sub: Subclass) -> list[Subclass]:
        """Subclasses of the same class: the confusable neighbours that share its class vocabulary."""
        return self._siblings[sub.code]

    @cached_property
    def _siblings(self) -> dict[str, list[Subclass]]:
        return {
            sub.code: [s for s in self.subclasses if s.class_code == sub.class_code and s.code != sub.code]
            for sub in self.subclasses
        }


def group_symbol(subclass: str, main_group: int, subgroup: int = 0) -> str:
    """The usual printed form, e.g. 'A01B 1/02'."""
    return f"{subclass} {main_group}/{subgroup:02d}"


def _main_groups(code: str, terms: tuple[str, ...]) -> tuple[MainGroup, ...]:
    rng = random.Random(f"ipc-scheme:{code}")  # fixed per subclass, never the dataset seed
    count = rng.randint(4, 7)
    numbers = sorted(rng.sample(range(1, 100, 2), count))
    groups = []
    for i, number in enumerate(numbers):
        picked = [terms[(i * 2 + j) % len(terms)] for j in range(3)]
        features = tuple(f"{rng.choice(MODIFIERS)} {term}" for term in picked)
        subgroups = tuple(group_symbol(code, number, 2 * k) for k in range(rng.randint(1, 5)))
        groups.append(MainGroup(group_symbol(code, number), features, subgroups))
    return tuple(groups)


@cache
def load_scheme(path: Path = VOCABULARY) -> Scheme:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    subclasses = tuple(
        Subclass(code, entry["title"], tuple(entry["terms"]), _main_groups(code, tuple(entry["terms"])))
        for code, entry in sorted(raw["subclasses"].items())
    )
    return Scheme(
        section_terms={k: tuple(v["terms"]) for k, v in raw["sections"].items()},
        class_terms={k: tuple(v["terms"]) for k, v in raw["classes"].items()},
        subclasses=subclasses,
    )
