"""The cyclic collector's pauses: at a process's start (full passes deferred until it has loaded its modules) and
while files are scored (none until the last scoring ends). Start-up checks run in fresh interpreters: they change
the collector of the process they run in."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from codefest.challenges.discovery import load
from codefest.core.collector import FULL_PASSES_DEFERRED, cycles_uncollected
from codefest.evaluation import roster
from codefest.shared_datasets.heldout import build
from tests.helpers import bundle_test_ids, small_copy


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, env=env or os.environ.copy()
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


CYCLES = """
import gc, json, weakref
from codefest.core import collector
before = gc.get_threshold()
collector.starting()
deferred = gc.get_threshold()

class Node:
    pass

freed = []
for n in range(20_000):  # short-lived pairs in a cycle, each noticed when the collector frees it
    a, b = Node(), Node()
    a.other, b.other = b, a
    weakref.finalize(a, freed.append, n)
    del a, b
kept = [[n] for n in range(50_000)]  # enough new objects for the young generations' passes to run
collector.started()
print(json.dumps({"before": before, "deferred": deferred, "after": gc.get_threshold(), "freed": len(freed),
                  "frozen": gc.get_freeze_count()}))
"""


def test_a_start_defers_only_the_full_passes_and_short_lived_cycles_are_still_freed() -> None:
    seen = _python(CYCLES)
    young, older, _ = seen["before"]
    assert seen["deferred"] == [young, older, FULL_PASSES_DEFERRED]
    assert seen["freed"] >= 19_000  # the young generations' passes freed the cycles: not a disabled collector
    assert seen["after"] == seen["before"] and seen["frozen"] > 10_000  # the loaded objects are never walked again


FORK = """
import gc, json, os
from codefest.core import collector
collector.starting()
read, write = os.pipe()
child = os.fork()
if child == 0:
    os.write(write, json.dumps([gc.get_threshold(), gc.get_freeze_count()]).encode())
    os._exit(0)
os.waitpid(child, 0)
in_child = json.loads(os.read(read, 1000))
print(json.dumps({"child": in_child, "parent": gc.get_threshold()}))
"""


def test_a_fork_resumes_the_full_passes_first_in_both_processes() -> None:
    seen = _python(FORK)
    usual = list(gc.get_threshold())
    assert seen["parent"] == usual and seen["child"][0] == usual
    assert seen["child"][1] > 0  # what the parent loaded is frozen: shared with the child, not walked by it


EVALUATE = """
import atexit, gc, json, sys
atexit.register(lambda: print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()})))
sys.argv = ["codefest", *sys.argv[1:]]
from codefest.cli import main
main()
"""


def test_codefest_evaluate_collects_as_usual_once_it_has_loaded(home: Path, challenges: Path) -> None:
    """A command that keeps working after its start (an inbox may hold hundreds of evaluations) ends the deferral."""
    small_copy(challenges, "ipc-classification")
    slug = "small-ipc-classification"
    build(load(slug), home)
    roster.add(home, ["office-a"])
    predictions = home / "predictions.jsonl"
    ids = bundle_test_ids(home, slug)
    predictions.write_text("".join(json.dumps({"id": i, "labels": ["H01M 10/00"]}) + "\n" for i in ids))
    env = os.environ | {"MLFLOW_DISABLE_TELEMETRY": "true"}
    seen = _python(EVALUATE, "evaluate", slug, "--team", "office-a", "--predictions", str(predictions), env=env)
    assert seen["threshold"] == list(gc.get_threshold()) and seen["frozen"] > 100_000


def test_scorings_in_threads_keep_the_collector_paused_until_the_last_ends() -> None:
    entered = threading.Barrier(3)
    releases = [threading.Event(), threading.Event()]

    def scoring(release: threading.Event) -> None:
        with cycles_uncollected():
            entered.wait()
            release.wait()

    assert gc.isenabled()
    threads = [threading.Thread(target=scoring, args=(release,), daemon=True) for release in releases]
    for thread in threads:
        thread.start()
    try:
        entered.wait()
        assert not gc.isenabled()
        releases[0].set()
        threads[0].join()
        assert not gc.isenabled()  # the other scoring is still reading
    finally:
        for release in releases:
            release.set()
        for thread in threads:
            thread.join()
    assert gc.isenabled()


def test_a_collector_disabled_before_a_scoring_stays_disabled_after() -> None:
    gc.disable()
    try:
        with cycles_uncollected():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
