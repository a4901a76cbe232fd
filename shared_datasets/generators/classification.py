"""Patent-like documents with IPC labels: long-tailed, multi-label, confusable siblings, and some noise."""

from __future__ import annotations

import itertools
import random
from typing import TYPE_CHECKING, Any

from pydantic import Field

from codefest.shared_datasets.builders import BuildContext, builder
from codefest.shared_datasets.generators import patent_text
from codefest.shared_datasets.generators.common import GeneratorOptions, split_rows
from codefest.shared_datasets.ipc_scheme import MainGroup, Scheme, Subclass, load_scheme

if TYPE_CHECKING:
    from datasets import DatasetDict

FURTHER_COUNTS = (0, 1, 2, 3)
FURTHER_WEIGHTS = (0.35, 0.35, 0.2, 0.1)
# Where a document's content words come from: its main group's features, its subclass, class and section, its
# further symbols, a sibling subclass (shared wording between neighbours), and an unrelated subclass (noise).
WEIGHTS = (0.08, 0.17, 0.2, 0.1, 0.2, 0.13, 0.12)
WEIGHTS_SINGLE = (0.1, 0.22, 0.22, 0.1, 0.0, 0.18, 0.18)


class ClassificationOptions(GeneratorOptions):
    zipf_exponent: float = Field(default=0.9, ge=0, le=3, description="how long-tailed subclass frequencies are")
    label_noise: float = Field(default=0.12, ge=0, le=0.5, description="share of documents with a disputed main symbol")
    text_noise: float = Field(default=0.03, ge=0, le=0.5, description="share of abstracts with a keying error")


class DocumentSampler:
    """Draws (subclass, group) pairs with long-tailed frequencies and writes the document for a label set."""

    def __init__(self, scheme: Scheme, rng: random.Random, zipf_exponent: float) -> None:
        self.scheme, self.rng = scheme, rng
        order = list(scheme.subclasses)
        random.Random("ipc-popularity").shuffle(order)  # which subclasses are popular is fixed, as in real data
        self.subclasses = order
        self.cum = list(itertools.accumulate(1 / (rank + 1) ** zipf_exponent for rank in range(len(order))))

    def subclass(self) -> Subclass:
        return self.rng.choices(self.subclasses, cum_weights=self.cum)[0]

    def group(self, sub: Subclass) -> MainGroup:
        return self.rng.choices(sub.groups, weights=[1 / (i + 1) for i in range(len(sub.groups))])[0]

    def further(self, sub: Subclass, main: MainGroup) -> list[tuple[Subclass, MainGroup]]:
        """Further symbols: mostly neighbours of the main one, as co-classification is in practice."""
        out = []
        for _ in range(self.rng.choices(FURTHER_COUNTS, weights=FURTHER_WEIGHTS)[0]):
            draw, siblings = self.rng.random(), self.scheme.siblings(sub)
            if draw < 0.45 and siblings:
                other = self.rng.choice(siblings)
            elif draw < 0.7 and len(sub.groups) > 1:
                other = sub
            else:
                other = self.subclass()
            group = self.group(other)
            if group is not main:
                out.append((other, group))
        return out

    def pools(
        self, sub: Subclass, group: MainGroup, further: list[tuple[Subclass, MainGroup]]
    ) -> patent_text.TermPools:
        further_terms = [t for s, g in further for t in (*g.features, *s.terms)] or list(sub.terms)
        siblings = self.scheme.siblings(sub)
        sibling = self.rng.choice(siblings) if siblings else sub
        noise = self.rng.choice(self.scheme.subclasses).terms
        # The feature named in the title and first sentence is usually the main group's, not always.
        headline = [
            *group.features,
            *group.features,
            *(g.features[0] for _, g in further),
            sibling.groups[0].features[0],
        ]
        return patent_text.TermPools(
            features=headline,
            pools=(
                group.features,
                sub.terms,
                self.scheme.class_terms[sub.class_code],
                self.scheme.section_terms[sub.section],
                further_terms,
                sibling.terms,
                noise,
            ),
            weights=WEIGHTS if further else WEIGHTS_SINGLE,
        )


def _labels(rng: random.Random, main: MainGroup, further: list[tuple[Subclass, MainGroup]], noise: float) -> list[str]:
    symbols = [rng.choice(main.subgroups), *(rng.choice(g.subgroups) for _, g in further)]
    if len(symbols) > 1 and rng.random() < noise:  # examiners disagree on which symbol is the main one
        symbols[0], symbols[1] = symbols[1], symbols[0]
    return list(dict.fromkeys(symbols))


def generate(options: ClassificationOptions) -> dict[str, list[Any]]:
    """Columns of `options.size` documents; deterministic in the seed."""
    rng = random.Random(options.seed)
    sampler = DocumentSampler(load_scheme(), rng, options.zipf_exponent)
    rows: dict[str, list[Any]] = {"id": [], "title": [], "abstract": [], "labels": []}
    for i in range(options.size):
        sub = sampler.subclass()
        group = sampler.group(sub)
        further = sampler.further(sub, group)
        pools = sampler.pools(sub, group, further)
        sentences = 1 if rng.random() < 0.05 else rng.randint(2, 5)
        text = patent_text.abstract(rng, pools, sentences)
        if rng.random() < options.text_noise:
            text = patent_text.typo(rng, text)
        rows["id"].append(f"APP-{i + 1:07d}")
        rows["title"].append(patent_text.title(rng, pools))
        rows["abstract"].append(text)
        rows["labels"].append(_labels(rng, group, further, options.label_noise))
    return rows


@builder(
    "synthetic-ipc",
    task="classification",
    kind="generator",
    options=ClassificationOptions,
    card="synthetic-ipc.md",
)
def build(options: ClassificationOptions, context: BuildContext) -> DatasetDict:
    """Patent-like titles and abstracts with IPC main and further symbols, long-tailed over 76 subclasses."""
    return split_rows(generate(options), "classification", options)
