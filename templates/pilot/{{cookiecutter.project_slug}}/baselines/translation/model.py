"""Translation-memory baseline: reuse the closest training translation and re-translate only what differs.

An office's terminology maps each English term to one French term, so the nearest training pair is a translation
that is right except where the sentences differ. Fit aligns words on train (IBM model 1 both ways, symmetrised)
and learns from the alignments a phrase table, how often each English word swaps places with the next one in
French, and a French trigram model. Predict shortlists memory sentences by TF-IDF, keeps those that differ from
the input by the fewest words, and rewrites each one's French by a dynamic programme: every differing stretch is
replaced, widened with matching context when that gives a known phrase ("to the motor" brings "au moteur" with its
contraction, where "motor" alone would leave "à la moteur"); unseen phrases are built from known ones in either
order ("adjustable wall" -> "paroi réglable"), and the trigram model prices every seam. The cheapest rewrite wins.
Numbers are slots, so a memory sentence that differs only in its reference numerals is an exact match.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from .data import Bundle

NAME = "translation-memory"

# numbers and numerals ("2.5", "18a") are one token; French elision (l', jusqu') stays on its word; "porte-outil" is one
TOKEN = re.compile(r"\d(?:[\w.,]*\w)?|\w+(?:-\w+)*'?|[^\w\s]")
NUMBER = re.compile(r"\d(?:[\w.,]*\w)?")
SLOT = "<num>"  # what every number becomes in phrase keys, phrase templates and the language model
PUNCTUATION = frozenset("()[],.;:")

Span = tuple[int, int]
Links = list[tuple[int, int]]
Replacement = tuple[Span, str]  # French token span of the memory translation -> new text
Step = Replacement | str  # how the edit search moved on: a replacement, "kept" or "untouched"


def french_number(word: str) -> str:
    """French writes the decimal point as a comma; numerals and integers are unchanged."""
    return re.sub(r"(?<=\d)\.(?=\d)", ",", word)


@dataclass(frozen=True)
class Sentence:
    """Lower-cased tokens with their character spans, so edits keep the original spacing and case elsewhere."""

    text: str
    words: tuple[str, ...]
    keys: tuple[str, ...]  # the words with every number folded into SLOT
    spans: tuple[Span, ...]

    @classmethod
    def of(cls, text: str) -> Sentence:
        found = list(TOKEN.finditer(text))
        words = tuple(m.group().lower() for m in found)
        keys = tuple(SLOT if NUMBER.fullmatch(w) else w for w in words)
        return cls(text, words, keys, tuple(m.span() for m in found))

    def numbers(self, start: int, end: int) -> tuple[str, ...]:
        """The numbers among tokens start..end-1, which fill a phrase template's slots."""
        return tuple(w for w, k in zip(self.words[start:end], self.keys[start:end], strict=True) if k == SLOT)

    def template(self, low: int, high: int) -> str:
        """Tokens low..high-1 as text with SLOT for each number, lower-cased at a sentence start to go anywhere."""
        pieces, position = [], self.spans[low][0]
        for k in range(low, high):
            if self.keys[k] == SLOT:
                pieces.append(self.text[position : self.spans[k][0]] + SLOT)
                position = self.spans[k][1]
        text = "".join(pieces) + self.text[position : self.spans[high - 1][1]]
        return text[:1].lower() + text[1:] if low == 0 else text


def fill(template: str, numbers: tuple[str, ...]) -> str:
    """A phrase template with the input's numbers, in order, in its slots."""
    pieces = template.split(SLOT)
    return pieces[0] + "".join(french_number(n) + piece for n, piece in zip(numbers, pieces[1:], strict=True))


# ---------------------------------------------------------------- word alignment


def _ids(sentences: list[tuple[str, ...]]) -> tuple[list[list[int]], int]:
    """Word ids from 1 and the vocabulary size with id 0, the NULL word that lets function words stay unaligned."""
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(w, len(vocab) + 1) for w in words] for words in sentences]
    return ids, len(vocab) + 1


def ibm1(source: list[list[int]], target: list[list[int]], n_source: int, n_target: int, iterations: int) -> np.ndarray:
    """p(target word | source word) by IBM model 1 EM, vectorised over every (target word, source word) pair."""
    rows, cols, groups = [], [], []
    group = 0
    for src, tgt in zip(source, target, strict=True):
        candidates = [0, *src]
        for word in tgt:
            rows += candidates
            cols += [word] * len(candidates)
            groups += [group] * len(candidates)
            group += 1
    rows_a, cols_a, groups_a = np.asarray(rows), np.asarray(cols), np.asarray(groups)
    cells = rows_a * n_target + cols_a
    table = np.full((n_source, n_target), 1.0 / n_target)
    for _ in range(iterations):
        weight = table[rows_a, cols_a]
        posterior = weight / np.bincount(groups_a, weights=weight)[groups_a]
        counts = np.bincount(cells, weights=posterior, minlength=n_source * n_target).reshape(n_source, n_target)
        table = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
    return table


def viterbi(table: np.ndarray, src: list[int], tgt: list[int], diagonal: float) -> Links:
    """Each target word's best source word, or none when NULL wins; a diagonal prior tells repeated words apart."""
    if not src:
        return []
    src_a = np.asarray(src)
    where = (np.arange(len(src)) + 0.5) / len(src)
    links = []
    for j, word in enumerate(tgt):
        score = table[src_a, word] * np.exp(-diagonal * np.abs(where - (j + 0.5) / len(tgt)))
        best = int(np.argmax(score))
        if score[best] > table[0, word]:
            links.append((best, j))
    return links


def symmetrise(forward: Links, backward: Links) -> Links:
    """grow-diag-final-and: the reliable intersection, grown into the union next to it, then union links between
    two words that are both still unaligned."""
    union = set(forward) | set(backward)
    links = set(forward) & set(backward)

    def unaligned(i: int, j: int) -> tuple[bool, bool]:
        return all(a != i for a, _ in links), all(b != j for _, b in links)

    grown = True
    while grown:
        grown = False
        for i, j in sorted(links):
            for di, dj in ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)):
                link = (i + di, j + dj)
                if link in union and link not in links and any(unaligned(*link)):
                    links.add(link)
                    grown = True
    links |= {link for link in sorted(union) if all(unaligned(*link))}
    return sorted(links)


def align(pairs: list[tuple[Sentence, Sentence]], iterations: int, diagonal: float) -> list[Links]:
    """English-French word links for every training pair, from IBM model 1 run in both directions."""
    en_ids, n_en = _ids([en.keys for en, _ in pairs])
    fr_ids, n_fr = _ids([fr.keys for _, fr in pairs])
    fr_given_en = ibm1(en_ids, fr_ids, n_en, n_fr, iterations)
    en_given_fr = ibm1(fr_ids, en_ids, n_fr, n_en, iterations)
    links = []
    for en, fr in zip(en_ids, fr_ids, strict=True):
        forward = viterbi(fr_given_en, en, fr, diagonal)
        backward = [(i, j) for j, i in viterbi(en_given_fr, fr, en, diagonal)]
        links.append(symmetrise(forward, backward))
    return links


# ---------------------------------------------------------------- what the aligned pairs teach


def consistent_spans(n_source: int, links: Links, max_length: int) -> dict[Span, Span]:
    """English span -> French span whose words align only with each other: the units that can be swapped out.
    The English span must start and end on aligned words, or a phrase could drop an article or a preposition."""
    by_source: dict[int, list[int]] = {}
    by_target: dict[int, list[int]] = {}
    for i, j in links:
        by_source.setdefault(i, []).append(j)
        by_target.setdefault(j, []).append(i)
    spans = {}
    for start in range(n_source):
        if start not in by_source:
            continue
        targets: list[int] = []
        for end in range(start + 1, min(n_source, start + max_length) + 1):
            targets += by_source.get(end - 1, [])
            if end - 1 not in by_source:
                continue
            low, high = min(targets), max(targets) + 1
            if all(start <= i < end for j in range(low, high) for i in by_target.get(j, [])):
                spans[(start, end)] = (low, high)
    return spans


class Phrase(NamedTuple):
    """One French rendering (a template with number slots) of an English phrase, and its share of renderings."""

    template: str
    keys: tuple[str, ...]  # its tokens, for the trigram model
    probability: float


def phrase_table(
    pairs: list[tuple[Sentence, Sentence]], spans: list[dict[Span, Span]], renderings: int
) -> dict[tuple[str, ...], list[Phrase]]:
    """English phrase -> its most frequent French renderings; pairs whose numbers do not carry over are left out."""
    counts: dict[tuple[str, ...], Counter[str]] = {}
    for (en, fr), sentence_spans in zip(pairs, spans, strict=True):
        for (start, end), (low, high) in sentence_spans.items():
            if tuple(map(french_number, en.numbers(start, end))) == fr.numbers(low, high):
                counts.setdefault(en.keys[start:end], Counter())[fr.template(low, high)] += 1
    table = {}
    for phrase, found in counts.items():
        total = sum(found.values())
        ranked = sorted(found.items(), key=lambda item: (-item[1], item[0]))[:renderings]
        table[phrase] = [Phrase(t, Sentence.of(t.replace(SLOT, "0")).keys, c / total) for t, c in ranked]
    return table


def swap_rates(pairs: list[tuple[Sentence, Sentence]], links: list[Links]) -> dict[str, float]:
    """English word -> how often its French follows the next word's French (smoothed): adjectives swap, articles not."""
    swaps: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for (en, _), sentence_links in zip(pairs, links, strict=True):
        french: dict[int, list[int]] = {}
        for i, j in sentence_links:
            french.setdefault(i, []).append(j)
        for i in range(len(en.keys) - 1):
            if i in french and i + 1 in french:
                seen[en.keys[i]] += 1
                swaps[en.keys[i]] += min(french[i]) > max(french[i + 1])
    return {word: (swaps[word] + 0.5) / (count + 1) for word, count in seen.items()}


class TrigramModel:
    """French word trigrams with stupid backoff: judges the seams where new words meet others."""

    def __init__(self, sentences: Iterable[tuple[str, ...]], backoff: float = 0.4) -> None:
        self.backoff = backoff
        self.counts: Counter[tuple[str, ...]] = Counter()
        self.histories: Counter[tuple[str, ...]] = Counter()
        for words in sentences:
            padded = ("<s>", "<s>", *words, "</s>")
            for k in range(2, len(padded)):
                for n in (1, 2, 3):
                    self.counts[padded[k - n + 1 : k + 1]] += 1
                    self.histories[padded[k - n + 1 : k]] += 1
        self.size = sum(len(gram) == 1 for gram in self.counts)
        self._costs: dict[tuple[str, ...], float] = {}  # the same seams recur across spans and sentences
        self._seams: dict[tuple[tuple[str, ...], ...], float] = {}

    def cost(self, history: tuple[str, ...], word: str) -> float:
        """-log p(word | up to two previous words), backing off by a constant factor for unseen sequences."""
        key = (*history, word)
        if key not in self._costs:
            self._costs[key] = self._cost(history, word)
        return self._costs[key]

    def _cost(self, history: tuple[str, ...], word: str) -> float:
        factor = 1.0
        for start in range(len(history)):
            count = self.counts[(*history[start:], word)]
            if count:
                return -math.log(factor * count / self.histories[history[start:]])
            factor *= self.backoff
        return -math.log(factor * (self.counts[(word,)] + 1) / (self.histories[()] + self.size))

    def seam(self, left: tuple[str, ...], new: tuple[str, ...], right: tuple[str, ...]) -> float:
        """The cost of the trigrams that straddle `new` and its neighbours, where agreement and contractions break."""
        key = (left[-2:], new if len(new) < 4 else new[:2] + new[-2:], right)  # the rest is not scored
        if key not in self._seams:
            words = (*key[0], *key[1], *right)
            start, end = len(key[0]), len(key[0]) + len(key[1])
            positions = [p for p in range(start, min(len(words), end + 2)) if p < start + 2 or p >= end]
            self._seams[key] = sum(self.cost(words[max(0, p - 2) : p], words[p]) for p in positions)
        return self._seams[key]


# ---------------------------------------------------------------- rewriting a memory translation


@dataclass(frozen=True)
class Costs:
    """Weights of the edit search; kept memory words are free, so the closest match wins."""

    phrase: float = 1.0  # per replaced span: fewer, longer spans keep agreement and contractions intact
    uncertainty: float = 0.5  # per unit of -log p(French | English phrase)
    length_bonus: float = 0.05  # per input word a phrase covers, so a span widens to take in its context
    unknown: float = 3.0  # per input word copied untranslated
    untouched: float = 10.0  # per differing word left as the memory has it
    seam: float = 0.3  # per unit of French trigram cost where new words meet others
    compose: float = 0.5  # per join of two renderings into an unseen phrase
    order: float = 1.0  # per unit of -log p(swap or not | English word before the join)
    settled: float = 0.9  # a swap rate beyond which the other order is not tried (nor below 1 - settled)


class Option(NamedTuple):
    """A French rendering of an input span: its text, its tokens for the trigram model, and its cost."""

    text: str
    keys: tuple[str, ...]
    cost: float


def join(first: str, second: str) -> str:
    """Two French phrases as one, with no space after an elision or an opening bracket."""
    if not first or not second or first.endswith(("'", "(")) or second.startswith((")", ",", ".")):
        return first + second
    return f"{first} {second}"


@dataclass
class Knowledge:
    """What fit learns from the aligned memory, for rendering input spans in French."""

    table: dict[tuple[str, ...], list[Phrase]]
    swaps: dict[str, float]
    language_model: TrigramModel


class Renderer:
    """French options for the spans of one input sentence: known phrases, or two shorter options joined in either
    order (CKY over the span); built on demand and memoised, as only spans near a difference are asked for."""

    def __init__(self, sentence: Sentence, knowledge: Knowledge, costs: Costs, renderings: int) -> None:
        self.sentence = sentence
        self.knowledge = knowledge
        self.costs = costs
        self.renderings = renderings
        self.memo: dict[Span, list[Option]] = {}

    def __call__(self, start: int, end: int) -> list[Option]:
        if (start, end) not in self.memo:
            options = self._phrases(start, end)
            swappable = PUNCTUATION.isdisjoint(self.sentence.keys[start:end])
            for middle in range(start + 1, end):
                joins = self._joins(self(start, middle), self(middle, end), self.sentence.keys[middle - 1], swappable)
                options += joins
            self.memo[(start, end)] = self._best(options)
        return self.memo[(start, end)]

    def _best(self, options: list[Option]) -> list[Option]:
        """The cheapest options with distinct texts, ties broken by text for determinism."""
        kept: dict[str, Option] = {}
        for option in sorted(options, key=lambda o: (o.cost, o.text)):
            kept.setdefault(option.text, option)
        return list(kept.values())[: self.renderings]

    def _phrases(self, start: int, end: int) -> list[Option]:
        """The phrase table's renderings; a single unseen word is copied, as names and numerals are."""
        numbers = self.sentence.numbers(start, end)
        phrases = self.knowledge.table.get(self.sentence.keys[start:end], [])
        options = []
        for template, keys, probability in phrases:
            cost = self.costs.phrase - self.costs.uncertainty * math.log(probability)
            options.append(Option(fill(template, numbers), keys, cost - self.costs.length_bonus * (end - start)))
        if not options and end - start == 1:
            word = self.sentence.words[start]
            cost = self.costs.phrase if numbers else self.costs.unknown
            options.append(Option(french_number(word), (self.sentence.keys[start],), cost))
        return options

    def _joins(self, lefts: list[Option], rights: list[Option], last_word: str, swappable: bool) -> list[Option]:
        """The best joins of a left and a right option, straight or swapped, priced by the seam and the swap rate.
        A swap never crosses punctuation ("wall (20)" keeps its numeral), and an order the training pairs (nearly)
        never show is not tried, so "adjustable wall (20)" can only be "paroi réglable" + "(20)"."""
        swap = min(max(self.knowledge.swaps.get(last_word, 0.5), 0.01), 0.99)
        orders = [(False, -math.log(1 - swap))] if swap < self.costs.settled else []
        if swappable and swap > 1 - self.costs.settled:
            orders.append((True, -math.log(swap)))
        priced = []
        for left in lefts:
            for right in rights:
                for swapped, order in orders:
                    first, second = (right, left) if swapped else (left, right)
                    seam = self.knowledge.language_model.seam(first.keys[-2:], second.keys, ())
                    cost = first.cost + second.cost + self.costs.compose + self.costs.seam * seam
                    priced.append((cost + self.costs.order * order, first, second))
        priced.sort(key=lambda item: item[0])
        return [
            Option(join(first.text, second.text), first.keys + second.keys, cost)
            for cost, first, second in priced[: self.renderings]
        ]


@dataclass
class Diff:
    """Where a memory sentence and the input differ, as the edit search needs it."""

    points: list[Span]  # (memory position, input position) pairs where a replaced span may start or end
    stretches: list[tuple[Span, Span]]  # (first point, last point) of each differing stretch
    memory: set[int]  # differing memory positions
    input: set[int]  # differing input positions

    @classmethod
    def of(cls, memory: tuple[str, ...], words: tuple[str, ...]) -> Diff:
        diff = cls([], [], set(), set())
        points: set[Span] = set()
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, memory, words, autojunk=False).get_opcodes():
            points.update({(i1, j1), (i2, j2)})
            if tag == "equal":
                points.update((i1 + k, j1 + k) for k in range(i2 - i1))
            else:
                diff.stretches.append(((i1, j1), (i2, j2)))
                diff.memory.update(range(i1, i2))
                diff.input.update(range(j1, j2))
        diff.points = sorted(points)
        return diff

    def touches(self, i: int, i2: int, j: int, j2: int) -> bool:
        """Whether memory span i..i2 or input span j..j2 holds a difference: only those are worth replacing."""
        return not (self.memory.isdisjoint(range(i, i2)) and self.input.isdisjoint(range(j, j2)))


class Editor:
    """Rewrites one memory translation for one input by the cheapest set of span replacements (dynamic programming
    over the points where memory and input agree)."""

    def __init__(self, language_model: TrigramModel, costs: Costs, max_length: int) -> None:
        self.language_model = language_model
        self.costs = costs
        self.max_length = max_length

    def edit(
        self, render: Renderer, memory: Sentence, french: Sentence, spans: dict[Span, Span]
    ) -> tuple[float, list[Replacement]]:
        """(cost, French replacements) of the cheapest cover of the input by kept memory words and replaced spans."""
        diff = Diff.of(memory.keys, render.sentence.keys)
        points = diff.points
        index = {point: k for k, point in enumerate(points)}
        untouched = {  # leaving a differing stretch as it is: always possible, so every input has a path
            index[a]: (index[b], self.costs.untouched * (b[0] - a[0] + b[1] - a[1])) for a, b in diff.stretches
        }
        best: list[tuple[float, int, Step]] = [(math.inf, -1, "untouched")] * len(points)
        best[0] = (0.0, -1, "untouched")
        for k, (i, j) in enumerate(points):
            steps: list[tuple[int, float, Step]] = []
            if (i + 1, j + 1) in index and i not in diff.memory and j not in diff.input:
                steps.append((index[(i + 1, j + 1)], 0.0, "kept"))
            if k in untouched:
                steps.append((*untouched[k], "untouched"))
            for m in range(k + 1, len(points)):
                i2, j2 = points[m]
                if i2 - i > self.max_length or j2 - j > self.max_length:
                    break
                if (i, i2) in spans and diff.touches(i, i2, j, j2):
                    options = render(j, j2) if j2 > j else [Option("", (), self.costs.phrase)]  # or a deletion
                    steps += self._replacements(m, french, spans[(i, i2)], options)
            for target, price, step in steps:
                if best[k][0] + price < best[target][0]:
                    best[target] = (best[k][0] + price, k, step)
        return best[-1][0], self._path(best, points, memory, render.sentence, french)

    def _replacements(self, target: int, french: Sentence, span: Span, options: list[Option]) -> list:
        """Steps replacing the memory's French span by each option (by nothing for a deletion), seams included."""
        low, high = span
        left = ("<s>", "<s>", *french.keys[:low])[-2:]
        right = (*french.keys[high : high + 2], "</s>")[:2]
        return [
            (target, o.cost + self.costs.seam * self.language_model.seam(left, o.keys, right), (span, o.text))
            for o in options
        ]

    @staticmethod
    def _path(best: list, points: list[Span], memory: Sentence, words: Sentence, french: Sentence) -> list:
        """The replacements on the cheapest path, plus new numbers wherever a kept memory number differs."""
        replacements, kept = [], []
        k = len(best) - 1
        while k > 0:
            _, previous, step = best[k]
            if step == "kept":
                kept.append(points[previous])
            elif step != "untouched":
                replacements.append(step)
            k = previous
        replaced = {j for (low, high), _ in replacements for j in range(low, high)}
        for i, j in kept:
            if memory.words[i] != words.words[j]:
                position = _french_position(memory, french, i)
                if position is not None and position not in replaced:
                    replacements.append(((position, position + 1), french_number(words.words[j])))
        return replacements


def _french_position(memory: Sentence, french: Sentence, i: int) -> int | None:
    """Where the memory's i-th English token, a number, sits in its French: the same occurrence of the same number."""
    occurrence = memory.words[:i].count(memory.words[i])
    found = [j for j, word in enumerate(french.words) if word == french_number(memory.words[i])]
    return found[occurrence] if occurrence < len(found) else None


def apply(french: Sentence, replacements: list[Replacement]) -> str:
    """Splice replacements into the memory translation right to left, keeping its spacing and punctuation."""
    text = french.text
    for (low, high), new in sorted(replacements, reverse=True):
        start, end = french.spans[low][0], french.spans[high - 1][1]
        if not new:  # a deletion takes one of its spaces with it
            if start > 0:
                start = len(text[:start].rstrip())
            else:
                end = len(text) - len(text[end:].lstrip())
        text = text[:start] + new + text[end:]
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------- the model


class Model:
    """Translation memory with phrase-level repair of the retrieved translation."""

    def __init__(
        self,
        candidates: int = 8,
        shortlist: int = 40,
        max_phrase: int = 6,
        renderings: int = 3,
        iterations: int = 6,
        diagonal: float = 2.0,
        **costs: float,
    ) -> None:
        self.candidates = candidates
        self.shortlist = shortlist
        self.max_phrase = max_phrase
        self.renderings = renderings
        self.iterations = iterations
        self.diagonal = diagonal
        self.costs = Costs(**costs)
        self.pairs: list[tuple[Sentence, Sentence]] = []
        self.links: list[Links] = []

    @property
    def params(self) -> dict[str, object]:
        return {
            "candidates": self.candidates,
            "shortlist": self.shortlist,
            "max_phrase": self.max_phrase,
            "renderings": self.renderings,
            "iterations": self.iterations,
            "diagonal": self.diagonal,
            **vars(self.costs),
        }

    def fit(self, bundle: Bundle) -> Model:
        """Align the training pairs; they are the memory."""
        train = bundle.split("train")
        self.pairs = [
            (Sentence.of(s), Sentence.of(r)) for s, r in zip(train["source"], train["reference"], strict=True)
        ]
        self.links = align(self.pairs, self.iterations, self.diagonal)
        self._index()
        return self

    def _index(self) -> None:
        """Everything derived from the aligned pairs, rebuilt on load rather than stored."""
        self.spans = [
            consistent_spans(len(en.keys), links, self.max_phrase)
            for (en, _), links in zip(self.pairs, self.links, strict=True)
        ]
        self.knowledge = Knowledge(
            phrase_table(self.pairs, self.spans, self.renderings),
            swap_rates(self.pairs, self.links),
            TrigramModel(fr.keys for _, fr in self.pairs),
        )
        self.editor = Editor(self.knowledge.language_model, self.costs, self.max_phrase)
        self.vectorizer = TfidfVectorizer(analyzer=_retrieval_terms, sublinear_tf=True)
        self.tfidf = self.vectorizer.fit_transform([en.keys for en, _ in self.pairs])

    def translate(self, sources: list[str]) -> list[str]:
        """Each source's best edited memory translation; the source itself while the memory is empty."""
        if not self.pairs:
            return list(sources)
        sentences = [Sentence.of(s) for s in sources]
        similarity = (self.vectorizer.transform([s.keys for s in sentences]) @ self.tfidf.T).toarray()
        nearest = np.argsort(-similarity, axis=1, kind="stable")[:, : self.shortlist]
        return [self._translate_one(s, [int(k) for k in row]) for s, row in zip(sentences, nearest, strict=True)]

    def _translate_one(self, sentence: Sentence, shortlist: list[int]) -> str:
        """Edit the memory sentences that differ from the input by the fewest words, keep the cheapest edit."""
        if not sentence.words:
            return sentence.text
        differing = [_differing(self.pairs[k][0].keys, sentence.keys) for k in shortlist]
        ranked = sorted(range(len(shortlist)), key=lambda n: (differing[n], n))
        render = Renderer(sentence, self.knowledge, self.costs, self.renderings)
        best = (math.inf, sentence.text)
        for k in [shortlist[n] for n in ranked[: self.candidates]]:
            en, fr = self.pairs[k]
            cost, replacements = self.editor.edit(render, en, fr, self.spans[k])
            if cost < best[0]:
                best = (cost, apply(fr, replacements))
        return best[1]

    def predict(self, bundle: Bundle, split: str) -> list[dict]:
        """One {"id", "translation"} per row of the split, in order."""
        rows = bundle.split(split)
        return [{"id": i, "translation": t} for i, t in zip(rows["id"], self.translate(rows["source"]), strict=True)]

    def save(self, folder: Path) -> None:
        """The aligned memory and the parameters; tables and indexes are rebuilt from them, deterministically."""
        folder.mkdir(parents=True, exist_ok=True)
        state = {"params": self.params, "pairs": [[en.text, fr.text] for en, fr in self.pairs], "links": self.links}
        (folder / "memory.json").write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Model:
        state = json.loads((folder / "memory.json").read_text(encoding="utf-8"))
        model = cls(**state["params"])
        model.pairs = [(Sentence.of(en), Sentence.of(fr)) for en, fr in state["pairs"]]
        model.links = [[(i, j) for i, j in links] for links in state["links"]]
        if model.pairs:
            model._index()
        return model


def _differing(memory: tuple[str, ...], words: tuple[str, ...]) -> int:
    """How many words an edit must touch: a better guide than TF-IDF to the memory sentence easiest to repair."""
    matcher = SequenceMatcher(None, memory, words, autojunk=False)
    return len(memory) + len(words) - 2 * sum(block.size for block in matcher.get_matching_blocks())


def _retrieval_terms(keys: tuple[str, ...]) -> list[str]:
    """Words and word pairs: the pairs favour memory sentences built on the same pattern."""
    return [*keys, *(f"{a} {b}" for a, b in pairwise(keys))]


def trivial(bundle: Bundle, split: str) -> list[dict]:
    """The floor any model must beat: copy the English source, which still matches numbers and numerals."""
    rows = bundle.split(split)
    return [{"id": i, "translation": s} for i, s in zip(rows["id"], rows["source"], strict=True)]
