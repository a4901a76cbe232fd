"""`codefest score` end to end against the bare tools on the same files, in one run (issue 20).

    python benchmarks/scoring_vs_bare.py [--tasks search translation classification] [--repeat 3] [--data DIR]
                                         [--codefest COMMAND ...]

Builds three workloads in the formats codefest reads (kept in --data, and reused when already there):
- search: CLEF-IP-2010-PAC-like qrels, 1,348 topics of 1 to 20 relevant EP documents (generated: the published
  qrels are not shipped), and a TREC run of 1,000 documents per topic, about half the relevant ones among them;
- translation: 10,000 English->French segments (the bundled generator), a third of them mistranslated;
- classification: 1,000,000 items, 2 gold and 3 scored predicted IPC symbols each.

Each is timed as a participant runs it, `codefest score --task ... --json` in a subprocess, so reading, validation,
every metric (PRES included), 1,000 bootstrap resamples and the JSON output all count. Against: the `ir_measures`
command line (AP nDCG@10 R@100 P@10 RR), the `sacrebleu` command line (bleu chrf ter) and, for classification,
the JSON parse floor: both files parsed line by line with json, orjson and msgspec, in a subprocess too. The machine is
shared, so every command runs --repeat times and the minimum wall time is kept, with the CPU seconds (user + system)
of that run, which the load moves less, and the load average when each task started; peak memory is the child's
ru_maxrss. codefest's JSON output of the last run is kept in --data as codefest-<task>.json, to compare scores
across versions of the code.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
RESAMPLES = 1000
MEASURES = "AP nDCG@10 R@100 P@10 RR"
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}


@dataclass(frozen=True)
class Timing:
    seconds: float  # the least wall time of the repeats
    cpu: float  # the child's CPU seconds (user + system) in that run: less sensitive to the machine's load
    peak_mb: float  # the child's peak resident memory (ru_maxrss) in that run


def timed(command: list[str], repeat: int, output: Path | None = None) -> Timing:
    """The fastest of `repeat` runs of `command`, with its peak memory; its stdout goes to `output` if given."""
    best: Timing | None = None
    for _ in range(repeat):
        with open(output or os.devnull, "wb") as sink:
            start = time.perf_counter()
            child = subprocess.Popen(command, stdout=sink, stderr=subprocess.PIPE, env=ENV)
            _pid, status, usage = os.wait4(child.pid, 0)
            seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        assert child.stderr is not None
        errors = child.stderr.read().decode(errors="replace")
        child.stderr.close()
        if child.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed ({child.returncode}):\n{errors}")
        if best is None or seconds < best.seconds:
            best = Timing(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
    assert best is not None
    return best


COMMAND = [str(BIN / "codefest")]  # --codefest: another checkout's, to compare versions of the code


def codefest(task: str, gold: Path, predictions: Path, *options: str) -> list[str]:
    return [
        *COMMAND,
        "score",
        "--task",
        task,
        "--gold",
        str(gold),
        "--predictions",
        str(predictions),
        "--bootstrap",
        str(RESAMPLES),
        "--json",
        *options,
    ]


# ---------------------------------------------------------------------------------------------------- workloads


def build_search(folder: Path, topics: int = 1348, depth: int = 1000) -> tuple[Path, Path]:
    """CLEF-IP 2010 PAC-like: topics PAC-1..PAC-1348, binary judgments of EP documents, a 1,000-document run."""
    qrels, run = folder / "search.qrels", folder / "search.run"
    if qrels.is_file() and run.is_file():
        return qrels, run
    rng = random.Random(2010)

    def doc() -> str:
        return f"EP-{rng.randrange(1_000_000, 2_200_000)}"

    with qrels.open("w") as q, run.open("w") as r:
        for t in range(1, topics + 1):
            relevant = list(dict.fromkeys(doc() for _ in range(rng.randint(1, 20))))
            for d in relevant:
                q.write(f"PAC-{t} 0 {d} 1\n")
            found = [d for d in relevant if rng.random() < 0.5]
            ranking = list(dict.fromkeys([*found, *(doc() for _ in range(depth + 10))]))[:depth]
            rng.shuffle(ranking)
            for rank, d in enumerate(ranking, start=1):
                r.write(f"PAC-{t} Q0 {d} {rank} {depth - rank + 1:.4f} bench\n")
    return qrels, run


def build_translation(folder: Path, n: int = 10_000) -> tuple[Path, Path, Path, Path]:
    """JSONL for codefest, and the same references and hypotheses as plain text for sacrebleu."""
    gold, pred = folder / "translation-gold.jsonl", folder / "translation-pred.jsonl"
    ref_txt, hyp_txt = folder / "translation-ref.txt", folder / "translation-hyp.txt"
    if all(p.is_file() for p in (gold, pred, ref_txt, hyp_txt)):
        return gold, pred, ref_txt, hyp_txt
    from codefest.shared_datasets.generators.translation import generate_rows

    rows = generate_rows(n, seed=1)
    other = generate_rows(n, seed=2)["reference"]  # fluent French, mostly the wrong sentence
    hypotheses = [ref if i % 3 else alt for i, (ref, alt) in enumerate(zip(rows["reference"], other, strict=True))]
    with gold.open("w", encoding="utf-8") as g, pred.open("w", encoding="utf-8") as p:
        for item, source, reference, hypothesis in zip(
            rows["id"], rows["source"], rows["reference"], hypotheses, strict=True
        ):
            g.write(json.dumps({"id": item, "source": source, "reference": reference}, ensure_ascii=False) + "\n")
            p.write(json.dumps({"id": item, "translation": hypothesis}, ensure_ascii=False) + "\n")
    ref_txt.write_text("\n".join(rows["reference"]) + "\n", encoding="utf-8")
    hyp_txt.write_text("\n".join(hypotheses) + "\n", encoding="utf-8")
    return gold, pred, ref_txt, hyp_txt


def build_classification(folder: Path, n: int = 1_000_000) -> tuple[Path, Path]:
    """Gold: a main and a further symbol; predictions: three scored symbols, the main one first 60% of the time."""
    gold, pred = folder / "classification-gold.jsonl", folder / "classification-pred.jsonl"
    if gold.is_file() and pred.is_file():
        return gold, pred
    from codefest.shared_datasets.ipc_scheme import load_scheme

    rng = random.Random(1)
    symbols = [s for sub in load_scheme().subclasses for g in sub.groups for s in g.subgroups]
    with gold.open("w") as g, pred.open("w") as p:
        for i in range(n):
            labels = rng.sample(symbols, 2)
            first = labels[0] if rng.random() < 0.6 else rng.choice(symbols)
            guess = list(dict.fromkeys([first, *rng.sample(symbols, 3)]))[:3]
            scores = sorted((round(rng.random(), 3) for _ in guess), reverse=True)
            g.write(json.dumps({"id": f"APP-{i:07d}", "labels": labels}) + "\n")
            p.write(json.dumps({"id": f"APP-{i:07d}", "labels": guess, "scores": scores}) + "\n")
    return gold, pred


# -------------------------------------------------------------------------------------------------------- runs

PARSE_FLOOR = """
import sys
{module}
for path in sys.argv[1:]:
    with open(path, "rb") as handle:
        for line in handle:
            loads(line)
"""


def search(folder: Path, repeat: int) -> list[tuple[str, Timing]]:
    qrels, run = build_search(folder)
    return [
        ("codefest score", timed(codefest("search", qrels, run), repeat, folder / "codefest-search.json")),
        (f"ir_measures CLI ({MEASURES})", timed([str(BIN / "ir_measures"), str(qrels), str(run), MEASURES], repeat)),
    ]


def translation(folder: Path, repeat: int) -> list[tuple[str, Timing]]:
    gold, pred, ref_txt, hyp_txt = build_translation(folder)
    ours = codefest("translation", gold, pred, "--target-lang", "fr")
    cli = [str(BIN / "sacrebleu"), str(ref_txt), "-i", str(hyp_txt), "-m", "bleu", "chrf", "ter", "-b"]
    return [
        ("codefest score", timed(ours, repeat, folder / "codefest-translation.json")),
        ("sacrebleu CLI (bleu chrf ter)", timed(cli, repeat)),
    ]


def classification(folder: Path, repeat: int) -> list[tuple[str, Timing]]:
    gold, pred = build_classification(folder)
    floor = [sys.executable, "-c"]
    with_json = PARSE_FLOOR.format(module="from json import loads")
    with_orjson = PARSE_FLOOR.format(module="from orjson import loads")
    with_msgspec = PARSE_FLOOR.format(module="from msgspec.json import decode as loads")
    return [
        ("codefest score", timed(codefest("classification", gold, pred), repeat, folder / "codefest-cls.json")),
        ("json.loads of both files", timed([*floor, with_json, str(gold), str(pred)], repeat)),
        ("orjson.loads of both files", timed([*floor, with_orjson, str(gold), str(pred)], repeat)),
        ("msgspec decode of both files", timed([*floor, with_msgspec, str(gold), str(pred)], repeat)),
    ]


TASKS: dict[str, Callable[[Path, int], list[tuple[str, Timing]]]] = {
    "search": search,
    "translation": translation,
    "classification": classification,
}


def table(results: dict[str, list[tuple[str, Timing]]], repeat: int) -> str:
    lines = [
        f"least of {repeat} run(s) each; CPU = the child's user + system seconds in that run; peak = its ru_maxrss; "
        f"{RESAMPLES} bootstrap resamples",
        "| task | command | seconds | CPU s | peak MB | codefest / this (wall) | (CPU) |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for task, rows in results.items():
        ours = rows[0][1]
        for name, timing in rows:
            wall = "" if name == "codefest score" else f"{ours.seconds / timing.seconds:.2f}x"
            cpu = "" if name == "codefest score" else f"{ours.cpu / timing.cpu:.2f}x"
            measured = f"{timing.seconds:.2f} | {timing.cpu:.2f} | {timing.peak_mb:,.0f}"
            lines.append(f"| {task} | {name} | {measured} | {wall} | {cpu} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the least time is kept")
    parser.add_argument("--data", type=Path, help="where the workloads are built, and reused (default: a temp dir)")
    parser.add_argument("--codefest", nargs="+", help="the command that runs codefest (default: this venv's)")
    args = parser.parse_args()
    if args.codefest:
        COMMAND[:] = args.codefest
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        results = {}
        for task in args.tasks:
            print(f"{task}: load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
            results[task] = TASKS[task](folder, args.repeat)
            print(table({task: results[task]}, args.repeat), flush=True)
        print()
        print(table(results, args.repeat))


if __name__ == "__main__":
    main()
