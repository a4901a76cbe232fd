"""Python's cyclic garbage collector, kept from work where it finds nothing to free.

Two moments make many objects without reference cycles, which the collector would walk again and again:
- a process's start, when it imports MLflow, SQLAlchemy and scikit-learn: hundreds of thousands of long-lived
  objects, each full pass over them costing more than the last (0.4 of the 3 CPU-seconds of those imports);
- reading and scoring files, where a million lines are millions of small lists and dicts.

Reference counting still frees everything that is not in a cycle, so what these pauses cost is at most the memory of
a few cycles until the collector runs again.
"""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FULL_PASSES_DEFERRED = 1_000_000  # the third threshold while starting: passes of the younger generations per full one


class _Pause:
    """Pauses under way, in any thread (the service scores in threads): the collector resumes when the last ends."""

    def __init__(self) -> None:
        self.lock, self.under_way, self.resume = threading.Lock(), 0, False

    def enter(self) -> None:
        with self.lock:
            if self.under_way == 0:
                self.resume = gc.isenabled()
                gc.disable()
            self.under_way += 1

    def leave(self) -> None:
        with self.lock:
            self.under_way -= 1
            if self.under_way == 0 and self.resume:
                gc.enable()


_PAUSE = _Pause()


@contextmanager
def cycles_uncollected() -> Iterator[None]:
    """The collector paused while bulk data is read and kept (what is read holds no reference cycle): decoding a
    million JSON lines spent four fifths of its time in the collector."""
    _PAUSE.enter()
    try:
        yield
    finally:
        _PAUSE.leave()


_thresholds: tuple[int, int, int] | None = None  # the collector's own, while a start defers its full passes


def starting() -> None:
    """Defer the collector's full passes while the process loads its modules; the young generations are still
    collected, so short-lived cycles are freed as usual. A fork resumes them first (the frozen modules are then
    shared with the child, not copied by its collections)."""
    global _thresholds
    if _thresholds is None:
        _thresholds = gc.get_threshold()
        young, older, _ = _thresholds
        gc.set_threshold(young, older, FULL_PASSES_DEFERRED)


def started() -> None:
    """The modules are loaded: they are frozen (never walked again) and full passes resume over what comes after.
    Called where a long-running command begins its work; a short one may end before."""
    global _thresholds
    if _thresholds is not None:
        gc.freeze()
        gc.set_threshold(*_thresholds)
        _thresholds = None


os.register_at_fork(before=started)
