"""A pilot's environment: what building it costs the first time, and finding it every time after.

    python benchmarks/environments.py [--repeat 5] [--requirements "numpy" "scikit-learn" ...]

For each set of requirements (one pilot declaring them in its pyproject.toml), builds the environment in a fresh
cache folder with `codefest.evaluation.environments.prepare` (uv, offline from uv's cache, as in an event), then
prepares it `--repeat` times more: each of those finds it. Wall time and CPU time (this process and the uv processes
it started) are measured separately, since wall time on a shared machine says little.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from codefest.core.offline import stay_offline
from codefest.evaluation import environments

stay_offline()


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _timed(pilot: Path, cache: Path) -> tuple[float, float, environments.Environment]:
    wall, cpu = time.perf_counter(), _cpu()
    found = environments.prepare(pilot, cache)
    return time.perf_counter() - wall, _cpu() - cpu, found


def _pilot(folder: Path, requirements: list[str]) -> Path:
    folder.mkdir(parents=True)
    listed = ", ".join(f'"{line}"' for line in requirements)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "bench"\nversion = "0"\ndependencies = [{listed}]\n')
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requirements", nargs="+", default=["numpy", "scikit-learn"])
    args = parser.parse_args()
    environments.Sources.current()  # uv's cache folder, asked once, outside the timings
    print(f"{'requirements':<24} {'build wall':>11} {'build CPU':>10} {'reuse wall':>11} {'reuse CPU':>10} {'MB':>7}")
    with tempfile.TemporaryDirectory(prefix="codefest-bench-env-") as scratch:
        for number, requirement in enumerate(args.requirements):
            pilot = _pilot(Path(scratch) / f"pilot-{number}", requirement.split())
            cache = Path(scratch) / f"cache-{number}"
            wall, cpu, built = _timed(pilot, cache)
            assert not built.reused
            found = [_timed(pilot, cache) for _ in range(args.repeat)]
            assert all(environment.reused for _, _, environment in found)
            reuse_wall = statistics.median(w for w, _, _ in found)
            reuse_cpu = statistics.median(c for _, c, _ in found)
            size = built.size_bytes / 1024**2
            print(f"{requirement:<24} {wall:>10.3f}s {cpu:>9.3f}s {reuse_wall:>10.4f}s {reuse_cpu:>9.4f}s {size:>7.1f}")


if __name__ == "__main__":
    main()
