"""How long `codefest demo` takes: a first run in a fresh workspace, then a second run that reuses it.

    python benchmarks/demo.py [--runs 2] [--home DIR] [--challenge SLUG ...]

Runs the real command (`python -m codefest demo`, the bundled challenges unless `--challenge` is given) in a new
temporary workspace (or `--home`, kept), and prints per run its wall time, its CPU seconds (the demo and every
process it waited for: the trainings, the service with its workers and their sandbox runs) and the load average
before it. The machine may be shared: a busy one inflates wall times, while CPU seconds, divided by the cores, say
what the run would take alone. Each run's stderr lines, time-stamped, go to `demo-run-N.log` in the workspace, which
shows where the time goes. Exits 1 if a run fails.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from codefest.core.offline import stay_offline

stay_offline()


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(home: Path, challenges: list[str], number: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and the load average before it, of one `codefest demo`."""
    args = [arg for slug in challenges for arg in ("--challenge", slug)]
    env = {**os.environ, "CODEFEST_HOME": str(home), "COLUMNS": "120"}
    load = os.getloadavg()[0]
    log = home / f"demo-run-{number}.log"
    cpu, started = cpu_of_children(), time.monotonic()
    with subprocess.Popen(
        [sys.executable, "-m", "codefest", "demo", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stderr is not None
        home.mkdir(parents=True, exist_ok=True)
        with log.open("w", encoding="utf-8") as sink:
            for text in process.stderr:
                sink.write(f"{time.monotonic() - started:7.1f} {text}")
                sink.flush()
    wall = time.monotonic() - started
    if process.returncode != 0:
        sys.exit(f"run {number} failed with exit code {process.returncode}: see {log}")
    return wall, cpu_of_children() - cpu, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs in the same workspace (the first builds it)")
    parser.add_argument("--home", type=Path, help="the workspace (kept); default: a new temporary one")
    parser.add_argument("--challenge", action="append", default=[], help="a challenge (repeatable)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="codefest-bench-demo-") as scratch:
        home = args.home or Path(scratch) / "home"
        print(f"codefest demo in {home} on {cores} cores")
        print(f"{'run':>3} {'wall s':>8} {'CPU s':>8} {'CPU s / cores':>14} {'load before':>12}")
        for number in range(1, args.runs + 1):
            wall, cpu, load = one_run(home, args.challenge, number)
            print(f"{number:>3} {wall:>8.1f} {cpu:>8.1f} {cpu / cores:>14.1f} {load:>12.2f}", flush=True)


if __name__ == "__main__":
    main()
