"""Who holds a claim in the ledger: names of local processes, and whether the process behind a name is gone.

A worker (`worker@HOST#PID-NONCE`) or an organiser's `codefest evaluate` (`evaluate@HOST#PID`) claims a submission
under its name. Another process of the same host can tell that the holder no longer runs and take the submission
over at once; a holder on another host is left to its lease, since no process here can see it.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

WORKER = "worker@"
EVALUATE = "evaluate@"
LOCAL = (WORKER, EVALUATE)


def worker_name() -> str:
    """This process as an evaluation worker; the nonce keeps a reused pid from taking a dead worker's name."""
    return f"{WORKER}{socket.gethostname()}#{os.getpid()}-{secrets.token_hex(4)}"


def evaluate_name() -> str:
    """This process as an organiser's `codefest evaluate`."""
    return f"{EVALUATE}{socket.gethostname()}#{os.getpid()}"


def gone(holder: str | None) -> bool:
    """Whether `holder` names a process of this host (a worker, or `codefest evaluate`) that no longer runs."""
    prefix = next((p for p in LOCAL if holder and holder.startswith(p)), None)
    if holder is None or prefix is None:
        return False
    host, _, rest = holder.removeprefix(prefix).rpartition("#")
    pid = rest.partition("-")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """Whether the process has exited and waits to be reaped (Linux; elsewhere, False)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state == "Z"
