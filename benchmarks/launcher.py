"""CPU time of the tests' commands: forked from the launcher's preloaded zygote, and started fresh.

    python benchmarks/test_launcher.py [--runs 5]

Builds the bundled ipc-classification challenge in a temporary workspace, then runs, alternating the two ways:
`codefest evaluate` of a new predictions file (one per team), and `codefest leaderboard --publish`. A fresh
process's user and system CPU comes from wait4 here; a launched one's from wait4 in the zygote, which reaps it.
Reported: the median CPU and wall seconds of each command each way, and the zygote's own start (once per pytest
process).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from codefest.core.offline import stay_offline

stay_offline()

from startup import cpu_seconds  # noqa: E402  # beside this script

from codefest.challenges.discovery import load  # noqa: E402
from codefest.evaluation import roster  # noqa: E402
from codefest.shared_datasets.heldout import build  # noqa: E402
from tests import launcher  # noqa: E402

SLUG = "ipc-classification"


def fresh(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(CPU, wall) seconds of `python -m codefest ARGS` in a new interpreter."""
    started = time.perf_counter()
    return cpu_seconds([sys.executable, "-m", "codefest", *args], env), time.perf_counter() - started


def launched(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    started = time.perf_counter()
    process = launcher.start(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert isinstance(process, launcher.Launched), f"unset {launcher.FRESH} to benchmark the launcher"
    if process.wait() != 0:
        raise SystemExit(f"{args} failed")
    assert process.cpu_seconds is not None
    return process.cpu_seconds, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="commands of each kind, each way")
    runs = parser.parse_args().runs
    home = Path(tempfile.mkdtemp(prefix="codefest-bench-launcher-"))
    env = {**os.environ, "CODEFEST_HOME": str(home), "MLFLOW_DISABLE_TELEMETRY": "true", "COLUMNS": "200"}
    os.environ["CODEFEST_HOME"] = str(home)
    build(load(SLUG), home)
    teams = [f"team-{n}" for n in range(2 * runs)]
    roster.add(home, teams)
    ids = [json.loads(line)["id"] for line in (home / f"bundles/{SLUG}/test.jsonl").read_text().splitlines()]
    started = time.perf_counter()
    launcher.start(["--version"], env=env, stdout=subprocess.DEVNULL).wait()
    print(f"the zygote started (and ran one command) in {time.perf_counter() - started:.1f} s")
    seen: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for run in range(runs):
        for how, way in (("fresh", fresh), ("launched", launched)):
            team = teams[2 * run + (how == "launched")]
            path = home / f"{team}.jsonl"
            labels = ["H04L 9/00"] if run % 2 else ["G06F 17/00"]
            path.write_text("".join(json.dumps({"id": i, "labels": labels}) + "\n" for i in ids))
            evaluate = ["evaluate", SLUG, "--team", team, "--predictions", str(path)]
            seen.setdefault(("evaluate", how), []).append(way(evaluate, env))
            seen.setdefault(("leaderboard --publish", how), []).append(way(["leaderboard", SLUG, "--publish"], env))
    for (command, how), values in seen.items():
        cpu = statistics.median(v[0] for v in values)
        wall = statistics.median(v[1] for v in values)
        print(f"{command:22} {how:8}  median {cpu:5.2f} CPU-s  {wall:5.2f} s wall  ({len(values)} runs)")


if __name__ == "__main__":
    main()
