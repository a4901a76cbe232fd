"""Time and peak memory of refusing (or scoring) hostile prediction files, each in a fresh process.

    python benchmarks/hostile_files.py [--scale 1.0] [--tree PATH] [WORKLOAD ...]

Workloads (sizes at --scale 1; the issue's attacks were the first two at full size):
  deep-topic      a one-topic TREC run of ~139 MB, refused for its ranking depth (limit 1,000)
  blank-lines     200 MB of blank lines as a search run (a file of blank lines only is refused)
  blank-mixed     200 MB of blank lines of every kind: CRLF, spaces, tabs, Unicode spaces, 70 spaces
  blank-classif   200 MB of blank lines, then one valid classification prediction per test id
  unknown-topic   ~139 MB of TREC lines all naming one topic that is not a test topic
  deep-jsonl      one 3.9 MB JSONL search line holding a 350,000-document ranking
  padded-classif  a 200 MB classification file: one prediction per test id, each line padded with spaces to
                  ~200 kB of JSON, and one bad line (a repeated id) at the end
  padded-transl   the same for translation

Each workload is written once into a temporary folder, then a child process (the harness imported from --tree,
by default this checkout) validates it with score_files in the standalone form (gold file and predictions) that
every version of the harness has, and reports its wall time and peak resident memory; the harness's imports
alone are measured too, so that the growth is visible. Run it against an older tree to compare:

    git worktree add --detach /tmp/before <commit>
    python benchmarks/hostile_files.py --tree /tmp/before
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000
IDS = 1000  # test items of the classification and translation workloads
SYMBOLS = ["H01M 10/02", "A01B 1/02", "G06F 16/00"]

CHILD = """
import json, resource, sys, time
from pathlib import Path
from codefest.core.offline import stay_offline
stay_offline()
from codefest.evaluation.problems import InvalidSubmission
from codefest.evaluation.scorers import ScoringOptions, scorer_for
from codefest.evaluation.scoring import score_files
task, gold, predictions = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
scorer_for(task)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    result = score_files(task, gold, predictions, ScoringOptions(), resamples=0)
    outcome = f"scored {result.n_items} items"
except InvalidSubmission as refused:
    outcome = refused.problems[0].render()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "base_mb": base / 1024, "peak_mb": peak / 1024, "outcome": outcome}))
"""


def _write_lines(path: Path, line: Callable[[int], str], size: int) -> int:
    """Lines line(0), line(1), ... up to about `size` bytes, written in large blocks; returns the line count."""
    written = count = 0
    with path.open("w", encoding="utf-8") as handle:
        while written < size:
            block = "".join(line(count + i) for i in range(10_000))
            handle.write(block)
            written += len(block)
            count += 10_000
    return count


def _blank(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        for _ in range(size // MB):
            handle.write(b"\n" * MB)


def _classification_gold(folder: Path) -> Path:
    gold = folder / "gold-classification.jsonl"
    rows = ({"id": f"D{i}", "labels": [SYMBOLS[i % 3]]} for i in range(IDS))
    gold.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return gold


def _translation_gold(folder: Path) -> Path:
    gold = folder / "gold-translation.jsonl"
    rows = ({"id": f"T{i}", "source": "eine Pumpe", "reference": "a pump " * 40} for i in range(IDS))
    gold.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return gold


def _qrels(folder: Path) -> Path:
    qrels = folder / "qrels.txt"
    qrels.write_text("T1 0 doc-1 1\nT2 0 doc-2 1\n")
    return qrels


def deep_topic(folder: Path, scale: float) -> tuple[str, Path, Path]:
    run = folder / "run.txt"
    _write_lines(run, lambda i: f"T1 Q0 doc-{i:09d} {i + 1} {1e6 - i:.3f} tag\n", int(139 * MB * scale))
    return "search", _qrels(folder), run


def unknown_topic(folder: Path, scale: float) -> tuple[str, Path, Path]:
    run = folder / "run.txt"
    _write_lines(run, lambda i: f"T9 Q0 doc-{i:09d} {i + 1} {1e6 - i:.3f} tag\n", int(139 * MB * scale))
    return "search", _qrels(folder), run


def blank_lines(folder: Path, scale: float) -> tuple[str, Path, Path]:
    run = folder / "run.txt"
    _blank(run, int(200 * MB * scale))
    return "search", _qrels(folder), run


def blank_mixed(folder: Path, scale: float) -> tuple[str, Path, Path]:
    run, block = folder / "run.txt", ("\n \r\n\u3000\u2003\n\t \x0c\n" + " " * 70 + "\n\u00a0\n").encode() * 10_000
    with run.open("wb") as handle:
        for _ in range(int(200 * MB * scale) // len(block)):
            handle.write(block)
    return "search", _qrels(folder), run


def blank_classification(folder: Path, scale: float) -> tuple[str, Path, Path]:
    predictions = folder / "pred.jsonl"
    _blank(predictions, int(200 * MB * scale))
    with predictions.open("a") as handle:
        handle.writelines(json.dumps({"id": f"D{i}", "labels": [SYMBOLS[i % 2]]}) + "\n" for i in range(IDS))
    return "classification", _classification_gold(folder), predictions


def deep_jsonl(folder: Path, scale: float) -> tuple[str, Path, Path]:
    run = folder / "run.jsonl"
    docs = [f"d{i}" for i in range(int(350_000 * min(scale, 1.0)))]
    run.write_text(json.dumps({"id": "T1", "ranking": docs}) + "\n")
    return "search", _qrels(folder), run


def padded_classification(folder: Path, scale: float) -> tuple[str, Path, Path]:
    predictions, pad = folder / "pred.jsonl", " " * int(200 * MB * scale / IDS)
    with predictions.open("w") as handle:
        for i in range(IDS):
            handle.write(f'{{"id": "D{i}",{pad}"labels": ["H01M"]}}\n')
        handle.write('{"id": "D0", "labels": ["H01M"]}\n')  # a repeat: the one bad line
    return "classification", _classification_gold(folder), predictions


def padded_translations(folder: Path, scale: float) -> tuple[str, Path, Path]:
    predictions, pad = folder / "pred.jsonl", " " * int(200 * MB * scale / IDS)
    with predictions.open("w") as handle:
        for i in range(IDS):
            handle.write(f'{{"id": "T{i}",{pad}"translation": "a pump"}}\n')
        handle.write('{"id": "T0", "translation": "again"}\n')  # a repeat: the one bad line
    return "translation", _translation_gold(folder), predictions


WORKLOADS: dict[str, Callable[[Path, float], tuple[str, Path, Path]]] = {
    "deep-topic": deep_topic,
    "blank-lines": blank_lines,
    "blank-mixed": blank_mixed,
    "blank-classif": blank_classification,
    "unknown-topic": unknown_topic,
    "deep-jsonl": deep_jsonl,
    "padded-classif": padded_classification,
    "padded-transl": padded_translations,
}


def measure(tree: Path, task: str, gold: Path, predictions: Path) -> dict[str, object]:
    """The child's report: seconds, resident MB after imports and at the end, the first problem or 'scored'."""
    env = {"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin", "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, task, str(gold), str(predictions)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tree,
        check=False,
    )
    if done.returncode != 0:
        return {"seconds": 0.0, "base_mb": 0.0, "peak_mb": 0.0, "outcome": f"failed: {done.stderr.strip()[-300:]}"}
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workloads", nargs="*", default=list(WORKLOADS), help=", ".join(WORKLOADS))
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every workload's size")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose harness is measured")
    args = parser.parse_args()
    unknown = [name for name in args.workloads if name not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    print(f"harness: {args.tree}   scale: {args.scale}")
    print(f"{'workload':<15} {'file MB':>8} {'seconds':>8} {'peak MB':>8} {'growth MB':>9}  outcome")
    for name in args.workloads:
        with tempfile.TemporaryDirectory(prefix="codefest-hostile-") as tmp:
            task, gold, predictions = WORKLOADS[name](Path(tmp), args.scale)
            size = predictions.stat().st_size / MB
            report = measure(args.tree.resolve(), task, gold, predictions)
        growth = float(report["peak_mb"]) - float(report["base_mb"])  # type: ignore[arg-type]
        outcome = str(report["outcome"])[:110]
        print(f"{name:<15} {size:>8.1f} {report['seconds']:>8.2f} {report['peak_mb']:>8.0f} {growth:>9.0f}  {outcome}")


if __name__ == "__main__":
    main()
