"""Time to score with 1,000 bootstrap resamples, against the bare library call on the same data.

    python benchmarks/scoring.py [classification|translation|search ...]

classification: 1,000,000 predictions (bare: reading the files and scikit-learn's micro and macro F1);
translation: 10,000 segments (bare: the sacrebleu command line, plain and with --confidence);
search: 1,348 topics x 1,000 documents (bare: the ir_measures command line).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from codefest.core.offline import stay_offline

stay_offline()

from codefest.evaluation.scorers import ScoringOptions  # noqa: E402
from codefest.evaluation.scoring import score_files  # noqa: E402
from codefest.shared_datasets.ipc_scheme import load_scheme  # noqa: E402

BIN = Path(sys.executable).parent
RESAMPLES = 1000


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def classification(folder: Path, n: int = 1_000_000) -> dict[str, object]:
    rng = random.Random(1)
    symbols = [s for sub in load_scheme().subclasses for g in sub.groups for s in g.subgroups]
    gold, pred = folder / "gold.jsonl", folder / "pred.jsonl"
    with gold.open("w") as g, pred.open("w") as p:
        for i in range(n):
            labels = rng.sample(symbols, rng.randint(1, 3))
            guess = [labels[0] if rng.random() < 0.6 else rng.choice(symbols), *rng.sample(symbols, 2)]
            g.write(json.dumps({"id": f"D{i}", "labels": labels}) + "\n")
            p.write(json.dumps({"id": f"D{i}", "labels": list(dict.fromkeys(guess))}) + "\n")

    def bare() -> None:
        from sklearn.metrics import f1_score
        from sklearn.preprocessing import MultiLabelBinarizer

        truth = [json.loads(line)["labels"] for line in gold.open()]
        guessed = [json.loads(line)["labels"][:3] for line in pred.open()]
        binarizer = MultiLabelBinarizer(sparse_output=True).fit(truth + guessed)
        y_true, y_pred = binarizer.transform(truth), binarizer.transform(guessed)
        f1_score(y_true, y_pred, average="micro")
        f1_score(y_true, y_pred, average="macro", zero_division=0)

    ours = timed(lambda: score_files("classification", gold, pred, ScoringOptions(top_k=3), resamples=RESAMPLES))
    return {"items": n, "codefest_seconds": ours, "bare": {"read + scikit-learn F1": timed(bare)}}


def translation(folder: Path, n: int = 10_000) -> dict[str, object]:
    from codefest.shared_datasets.generators.translation import generate_rows

    rows = generate_rows(n, seed=1)
    other = generate_rows(n, seed=2)["reference"]  # a weak system: fluent French, mostly the wrong sentence
    hypotheses = [ref if i % 3 else alt for i, (ref, alt) in enumerate(zip(rows["reference"], other, strict=True))]
    gold, pred = folder / "gold.jsonl", folder / "pred.jsonl"
    ref_txt, hyp_txt = folder / "ref.txt", folder / "hyp.txt"
    with gold.open("w") as g, pred.open("w") as p:
        for item, reference, hypothesis in zip(rows["id"], rows["reference"], hypotheses, strict=True):
            g.write(json.dumps({"id": item, "reference": reference}, ensure_ascii=False) + "\n")
            p.write(json.dumps({"id": item, "translation": hypothesis}, ensure_ascii=False) + "\n")
    ref_txt.write_text("\n".join(rows["reference"]) + "\n", encoding="utf-8")
    hyp_txt.write_text("\n".join(hypotheses) + "\n", encoding="utf-8")
    cli = [str(BIN / "sacrebleu"), str(ref_txt), "-i", str(hyp_txt), "-m", "bleu", "chrf", "ter", "-b"]
    options = ScoringOptions(target_language="fr")
    ours = timed(lambda: score_files("translation", gold, pred, options, resamples=RESAMPLES))
    return {
        "items": n,
        "codefest_seconds": ours,
        "bare": {
            "sacrebleu CLI": timed(lambda: subprocess.run(cli, check=True, capture_output=True)),
            "sacrebleu CLI --confidence": timed(
                lambda: subprocess.run(
                    [*cli, "--confidence", "--confidence-n", str(RESAMPLES)], check=True, capture_output=True
                )
            ),
        },
    }


def search(folder: Path, topics: int = 1348, depth: int = 1000) -> dict[str, object]:
    rng = random.Random(3)
    qrels, run = folder / "qrels.txt", folder / "run.txt"
    with qrels.open("w") as q, run.open("w") as r:
        for t in range(topics):
            relevant = rng.sample(range(5000), rng.randint(2, 30))
            for doc in relevant:
                q.write(f"T{t} 0 D{doc} {rng.choice((1, 2))}\n")
            ranking = list(
                dict.fromkeys([*(d for d in relevant if rng.random() < 0.5), *rng.sample(range(5000), depth)])
            )
            for rank, doc in enumerate(ranking[:depth], start=1):
                r.write(f"T{t} Q0 D{doc} {rank} {depth - rank + 1} bench\n")
    measures = "AP nDCG@10 R@100 P@10 RR"
    ours = timed(lambda: score_files("search", qrels, run, ScoringOptions(), resamples=RESAMPLES))
    cli = [str(BIN / "ir_measures"), str(qrels), str(run), measures]
    bare = timed(lambda: subprocess.run(cli, check=True, capture_output=True))
    return {"items": topics, "documents_per_topic": depth, "codefest_seconds": ours, "bare": {"ir_measures CLI": bare}}


def report(task: str, result: dict[str, object]) -> None:
    bare, ours = result["bare"], result["codefest_seconds"]
    assert isinstance(bare, dict) and isinstance(ours, float)
    ratios = {name: round(ours / seconds, 2) for name, seconds in bare.items()}
    print(json.dumps({"task": task, "resamples": RESAMPLES, **result, "ratio": ratios}, indent=2, default=round))


TASKS: dict[str, Callable[[Path], dict[str, object]]] = {
    "classification": classification,
    "translation": translation,
    "search": search,
}


def main() -> None:
    for task in sys.argv[1:] or list(TASKS):
        with tempfile.TemporaryDirectory() as tmp:
            report(task, TASKS[task](Path(tmp)))


if __name__ == "__main__":
    main()
