"""Fault-injection points for the crash-safety tests: where an evaluation can be made to wait, to be killed there.

Production never sets PAUSE_AT, and then `point` does nothing. tests/test_faults.py sets it to a point's name, waits
for the evaluation to say it paused, and kills it, to check that what was recorded stays consistent.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Final

PAUSE_AT: Final = "CODEFEST_TEST_PAUSE_AT"  # environment variable: the name of the point to wait at
SCORING: Final = "scoring"  # the public run started, nothing scored yet
LOGGING: Final = "logging"  # the private run finished, the public run not yet marked scored
WAIT_SECONDS: Final = 3600  # long enough for any test to kill the process


def point(name: str) -> None:
    """Wait here, saying so on stderr, when PAUSE_AT names this point; otherwise return at once."""
    if os.environ.get(PAUSE_AT) == name:
        print(f"codefest: paused at {name}", file=sys.stderr, flush=True)
        time.sleep(WAIT_SECONDS)
