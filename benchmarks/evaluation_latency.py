"""Submission-to-leaderboard latency: from a predictions file to its scored MLflow runs (public and private).

    python benchmarks/evaluation_latency.py [--submissions 10]

Builds the bundled ipc-classification challenge in a temporary workspace, then evaluates distinct predictions
files one after another through the SQLite store, as `codefest evaluate` does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from codefest.core.offline import stay_offline

stay_offline()

from codefest.challenges.discovery import load  # noqa: E402
from codefest.evaluation.evaluate import Evaluator  # noqa: E402
from codefest.evaluation.records import Status  # noqa: E402
from codefest.shared_datasets.heldout import build  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        challenge = load("ipc-classification")
        build(challenge, root)
        ids = [json.loads(line)["id"] for line in (root / "bundles/ipc-classification/test.jsonl").open()]
        start = time.perf_counter()
        evaluator = Evaluator(challenge, root)
        setup = time.perf_counter() - start
        latencies = []
        for n in range(args.submissions):
            path = root / f"submission-{n}.jsonl"
            path.write_text("".join(json.dumps({"id": i, "labels": [f"H01M {n + 1}/00"]}) + "\n" for i in ids))
            start = time.perf_counter()
            outcome = evaluator.predictions(f"team-{n % 3}", path)
            latencies.append(time.perf_counter() - start)
            assert outcome.status in (Status.SCORED, Status.OVER_QUOTA), outcome.message
    report = {
        "challenge": "ipc-classification",
        "test_items": len(ids),
        "bootstrap_resamples": 1000,
        "store": "sqlite (embedded default)",
        "store_setup_seconds": round(setup, 2),
        "latency_seconds": {
            "median": round(statistics.median(latencies), 3),
            "min": round(min(latencies), 3),
            "max": round(max(latencies), 3),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
