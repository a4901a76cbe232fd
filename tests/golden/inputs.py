"""The golden test's input files, drawn from a fixed seed so that anyone can see how they were made.

They are committed under tests/golden/files/ and scored from there; `python -m tests.golden.inputs` rewrites them
(the same bytes, unless this module changes, and then the golden scores must be regenerated too).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

FILES = Path(__file__).parent / "files"
SEED = 20260101

SYMBOLS = [
    "A01B 1/00", "A01B 3/24", "A01C 7/08", "A61B 5/00", "A61B 5/12", "A61K 31/00", "B60L 53/10", "G06F 16/30",
    "G06F 16/33", "G06N 3/08", "H01M 10/02", "H01M 4/00", "H04L 9/32", "H04W 4/00", "Y02E 10/50",
]  # fmt: skip
WORDS = [
    "le", "dispositif", "comprend", "un", "boîtier", "et", "couvercle", "joint", "annulaire", "est", "disposé",
    "entre", "la", "bride", "corps", "capteur", "mesure", "pression", "rotor", "tourne", "autour", "axe", "central",
    "ressort", "piston", "vers", "position", "fermée", "signal", "transmis", "unité", "commande", "(14)", "80 °C",
]  # fmt: skip


def classification(rng: random.Random, n: int = 30) -> tuple[list[dict], list[dict]]:
    """Gold of 1 to 3 symbols; ranked guesses of 1 to 5 symbols, some gold, with decreasing scores."""
    gold, predictions = [], []
    for i in range(n):
        item = f"APP-{i:04d}"
        labels = rng.sample(SYMBOLS, rng.randint(1, 3))
        guesses = rng.sample(SYMBOLS, rng.randint(1, 5))
        if rng.random() < 0.6 and labels[0] not in guesses:
            guesses.insert(rng.randrange(len(guesses) + 1), labels[0])
        scores = sorted((round(rng.random(), 3) for _ in guesses), reverse=True)
        gold.append({"id": item, "labels": labels})
        predictions.append({"id": item, "labels": guesses, "scores": scores})
    return gold, predictions


def translation(rng: random.Random, n: int = 24) -> tuple[list[dict], list[dict]]:
    """French references (one or two per item) and translations that drop, swap and replace some words."""
    gold, predictions = [], []
    for i in range(n):
        item = f"SEG-{i:04d}"
        reference = rng.choices(WORDS, k=rng.randint(5, 14))
        second = [w if rng.random() < 0.8 else rng.choice(WORDS) for w in reference]
        hypothesis = [w if rng.random() < 0.7 else rng.choice(WORDS) for w in reference if rng.random() < 0.9]
        refs = {"reference": " ".join(reference)}
        if rng.random() < 0.4:
            refs = {"references": [" ".join(reference), " ".join(second)]}
        gold.append({"id": item, "source": f"source sentence {i}", **refs})
        predictions.append({"id": item, "translation": " ".join(hypothesis) + "."})
    return gold, predictions


def search(rng: random.Random, topics: int = 8, docs: int = 60, depth: int = 25) -> tuple[list[str], list[str]]:
    """Qrels with grades 0 to 2 and a TREC run per topic, some scores tied, relevant documents ranked high."""
    qrels, run = [], []
    for t in range(topics):
        topic = f"PAC-{t:03d}"
        judged = rng.sample(range(docs), 10)
        grades = {d: rng.choice([0, 0, 1, 1, 2]) for d in judged}
        qrels += [f"{topic} 0 DOC-{d:03d} {g}" for d, g in grades.items()]
        ranked = sorted(range(docs), key=lambda d: rng.random() - 0.3 * grades.get(d, 0))[:depth]
        for rank, d in enumerate(ranked, start=1):
            score = round(10 - rank * 0.35, 1) if rank % 7 else round(10 - (rank - 1) * 0.35, 1)
            run.append(f"{topic} Q0 DOC-{d:03d} {rank} {score} golden")
    return qrels, run


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def contents() -> dict[str, str]:
    """File name -> text, all drawn from one generator in a fixed order."""
    rng = random.Random(SEED)
    gold, predictions = classification(rng)
    references, translations = translation(rng)
    qrels, run = search(rng)
    return {
        "classification-gold.jsonl": _jsonl(gold),
        "classification-predictions.jsonl": _jsonl(predictions),
        "translation-gold.jsonl": _jsonl(references),
        "translation-predictions.jsonl": _jsonl(translations),
        "search.qrels": "\n".join(qrels) + "\n",
        "search-run.txt": "\n".join(run) + "\n",
    }


def write(folder: Path = FILES) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in contents().items():
        (folder / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write()
