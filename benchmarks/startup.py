"""CPU time of a `codefest evaluate` process, with its start deferring the collector's full passes and without.

    python benchmarks/startup.py [--runs 8]

Builds the bundled ipc-classification challenge in a temporary workspace, then evaluates one predictions file per
team, alternating the two kinds of process: `codefest` as installed, and the same command with
`collector.starting` made to do nothing. Each process's user and system CPU comes from wait4; the median of each
kind is reported, and the collector's share of a start-up, measured inside a process that loads what an evaluation
loads.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from codefest.core.offline import stay_offline

stay_offline()

from codefest.challenges.discovery import load  # noqa: E402
from codefest.evaluation import roster  # noqa: E402
from codefest.shared_datasets.heldout import build  # noqa: E402

SLUG = "ipc-classification"
WITHOUT = (
    "from codefest.core import collector; collector.starting = lambda: None; from codefest.cli import main; main()"
)
LOADS = """
import gc, json, time
from codefest.core import collector
spent = [0.0, 0.0]
def timed(phase, info):
    spent[phase == "stop"] += time.perf_counter() * (1 if phase == "stop" else -1)
gc.callbacks.append(timed)
if DEFER:
    collector.starting()
import codefest.evaluation.evaluate, codefest.evaluation.tracking, sklearn.metrics
import mlflow.store.tracking.sqlalchemy_store
print(json.dumps(sum(spent)))
"""


def cpu_seconds(command: list[str], env: dict[str, str]) -> float:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{command} failed: {stderr.decode(errors='replace')[-2000:]}")
    return usage.ru_utime + usage.ru_stime


def collector_seconds(defer: bool) -> float:
    code = f"DEFER = {defer}\n{LOADS}"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="processes of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(load(SLUG), root)
        teams = [f"team-{n}" for n in range(2 * args.runs)]
        roster.add(root, teams)
        ids = [json.loads(line)["id"] for line in (root / "bundles" / SLUG / "test.jsonl").open()]
        env = {**os.environ, "CODEFEST_HOME": str(root), "MLFLOW_DISABLE_TELEMETRY": "true"}
        kinds: dict[str, list[float]] = {"deferred": [], "not deferred": []}
        for n, team in enumerate(teams):
            path = root / f"{team}.jsonl"
            path.write_text("".join(json.dumps({"id": i, "labels": [f"H01M {n + 1}/00"]}) + "\n" for i in ids))
            options = ["evaluate", SLUG, "--team", team, "--predictions", str(path)]
            if n % 2:
                kinds["not deferred"].append(cpu_seconds([sys.executable, "-c", WITHOUT, *options], env))
            else:
                kinds["deferred"].append(cpu_seconds([sys.executable, "-m", "codefest", *options], env))
    report = {
        "command": f"codefest evaluate {SLUG} --team T --predictions FILE",
        "processes_each": args.runs,
        "cpu_seconds_median": {kind: round(statistics.median(seconds), 3) for kind, seconds in kinds.items()},
        "cpu_seconds_min": {kind: round(min(seconds), 3) for kind, seconds in kinds.items()},
        "collector_seconds_while_loading": {
            "deferred": round(collector_seconds(True), 3),
            "not deferred": round(collector_seconds(False), 3),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
