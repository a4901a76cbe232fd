"""A prior-art collection with topics and graded qrels, in the manner of CLEF-IP.

Each topic (a new application) claims a handful of technical features. Highly relevant documents disclose most of
them, relevant ones a few, and near-misses share the topic's vocabulary but disclose other features; the rest of
the collection is background art. Prior art often words a feature differently (PARAPHRASES), which leaves exact-match
retrieval room to improve.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from codefest.shared_datasets.builders import BuildContext, builder
from codefest.shared_datasets.generators import patent_text
from codefest.shared_datasets.generators.classification import DocumentSampler
from codefest.shared_datasets.generators.common import GeneratorOptions
from codefest.shared_datasets.ipc_scheme import MODIFIERS, PARAPHRASES, Scheme, Subclass, load_scheme
from codefest.shared_datasets.schema import FEATURES, corpus_features
from codefest.shared_datasets.splits import three_way

if TYPE_CHECKING:
    from datasets import DatasetDict

HIGHLY_RELEVANT, RELEVANT, JUDGED_NOT_RELEVANT = 2, 1, 0
DOCS_PER_TOPIC = 16  # the collection needs room for background art beyond each topic's judged documents


class SearchOptions(GeneratorOptions):
    size: int = Field(default=5000, ge=160, le=1_000_000, description="documents in the collection")
    topics: int = Field(default=300, ge=10, le=100_000, description="topics (new applications) to judge")
    paraphrase: float = Field(default=0.4, ge=0, le=1, description="chance that prior art rewords a feature")

    @model_validator(mode="after")
    def _room_for_background(self) -> SearchOptions:
        if self.size < self.topics * DOCS_PER_TOPIC:
            raise ValueError(
                f"size {self.size} is too small for {self.topics} topics; "
                f"give size >= {self.topics * DOCS_PER_TOPIC} or fewer topics"
            )
        return self


class TopicWriter:
    """Writes one topic and the documents judged for it."""

    def __init__(self, scheme: Scheme, rng: random.Random, sampler: DocumentSampler, paraphrase: float) -> None:
        self.scheme, self.rng, self.sampler, self.paraphrase = scheme, rng, sampler, paraphrase

    def features(self, sub: Subclass, count: int) -> list[str]:
        return [f"{self.rng.choice(MODIFIERS)} {term}" for term in self.rng.sample(sub.terms, count)]

    def reword(self, feature: str) -> str:
        modifier, _, term = feature.partition(" ")
        return f"{PARAPHRASES[modifier]} {term}" if self.rng.random() < self.paraphrase else feature

    def document(self, sub: Subclass, features: list[str]) -> tuple[str, str]:
        pools = patent_text.TermPools(
            features=features,
            pools=(
                features,
                sub.terms,
                self.scheme.class_terms[sub.class_code],
                self.scheme.section_terms[sub.section],
            ),
            weights=(0.4, 0.32, 0.18, 0.1),
        )
        return patent_text.title(self.rng, pools), patent_text.abstract(self.rng, pools, self.rng.randint(3, 6))

    def judged(self, sub: Subclass, claimed: list[str]) -> list[tuple[int, tuple[str, str]]]:
        """(grade, document) for the topic's highly relevant, relevant and near-miss documents."""
        docs = []
        for _ in range(self.rng.randint(1, 3)):
            disclosed = [self.reword(f) for f in self.rng.sample(claimed, 3)]
            docs.append((HIGHLY_RELEVANT, self.document(sub, disclosed)))
        for _ in range(self.rng.randint(1, 4)):
            neighbour = self.rng.choice([sub, *self.scheme.siblings(sub)])
            disclosed = [self.reword(f) for f in self.rng.sample(claimed, self.rng.randint(1, 2))]
            docs.append((RELEVANT, self.document(neighbour, disclosed + self.features(neighbour, 2))))
        for _ in range(self.rng.randint(4, 8)):
            docs.append((JUDGED_NOT_RELEVANT, self.document(sub, self.features(sub, 3))))
        return docs


def generate(options: SearchOptions) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """(collection columns, topic columns); deterministic in the seed."""
    rng = random.Random(options.seed)
    scheme = load_scheme()
    sampler = DocumentSampler(scheme, rng, zipf_exponent=0.9)
    writer = TopicWriter(scheme, rng, sampler, options.paraphrase)
    documents: list[tuple[str, str]] = []
    topics: dict[str, list[Any]] = {"id": [], "title": [], "abstract": [], "qrels": []}
    judgements: list[list[tuple[int, int]]] = []  # per topic: (grade, index into documents)
    for t in range(options.topics):
        sub = sampler.subclass()
        claimed = writer.features(sub, 4)
        title, abstract = writer.document(sub, claimed)
        topics["id"].append(f"PAC-{t + 1:05d}")
        topics["title"].append(title)
        topics["abstract"].append(abstract)
        judged = writer.judged(sub, claimed)
        judgements.append([(grade, len(documents) + i) for i, (grade, _) in enumerate(judged)])
        documents.extend(doc for _, doc in judged)
    while len(documents) < options.size:
        sub = sampler.subclass()
        group = sampler.group(sub)
        documents.append(writer.document(sub, list(group.features)))
    order = list(range(len(documents)))
    rng.shuffle(order)  # document ids must not reveal which topic a document was written for
    doc_id = {index: f"DOC-{position + 1:07d}" for position, index in enumerate(order)}
    for graded in judgements:
        topics["qrels"].append([{"doc_id": doc_id[i], "relevance": grade} for grade, i in graded])
    corpus: dict[str, list[Any]] = {"id": [], "title": [], "abstract": []}
    for position, index in enumerate(order):
        corpus["id"].append(f"DOC-{position + 1:07d}")
        corpus["title"].append(documents[index][0])
        corpus["abstract"].append(documents[index][1])
    return corpus, topics


@builder(
    "synthetic-prior-art",
    task="search",
    kind="generator",
    options=SearchOptions,
    card="synthetic-prior-art.md",
)
def build(options: SearchOptions, context: BuildContext) -> DatasetDict:
    """A patent collection with topics and graded qrels (2 highly relevant, 1 relevant, 0 near-miss)."""
    from datasets import Dataset, DatasetDict  # not at import: see schema

    corpus, topics = generate(options)
    splits = three_way(
        Dataset.from_dict(topics, features=FEATURES["search"]),
        options.dev_fraction,
        options.test_fraction,
        options.seed,
    )
    return DatasetDict(corpus=Dataset.from_dict(corpus, features=corpus_features()), **splits)
