"""The life of a submission in the ledger: the statuses it passes through, and which of them use quota.

The outcome names are those of `codefest.evaluation.records.Status`, so a ledger row and an MLflow run agree; the
ledger adds the two states before a worker takes a submission (`received`, `queued`).
"""

from __future__ import annotations

from typing import Final

from codefest.evaluation.records import Kind, Status

RECEIVED: Final = "received"  # recorded by a front end that has not yet stored the upload; holds its quota
QUEUED: Final = "queued"  # stored and waiting for a worker
RUNNING: Final = Status.RUNNING  # claimed by a worker, under a lease

ACTIVE: Final = (RECEIVED, QUEUED, RUNNING)  # not judged yet: holds a reservation of quota
OUTCOMES: Final = (*Status.EVALUATED, Status.ENVIRONMENT)  # how a worker may finish a submission
REFUSALS: Final = (Status.DUPLICATE, Status.OVER_QUOTA, Status.REFUSED)  # decided on arrival, never evaluated
TERMINAL: Final = (*OUTCOMES, *REFUSALS)
ALL: Final = (*ACTIVE, *TERMINAL)
UNIQUE: Final = (*ACTIVE, *Status.EVALUATED)  # one per team, challenge and sha256: the rest are duplicates of it

CRASHED: Final = "crashed"  # one of the sandbox's verdicts; also a submission whose evaluations kept dying
assert CRASHED in Status.CODE_FAILURES

MAX_ATTEMPTS: Final = 3  # claims of one submission; a lease that expires after the last one ends it `crashed`


def uses_quota(kind: str, status: str, failed_code_runs_count: bool) -> bool:
    """Whether a submission counts against its team's quota: while active (a reservation, so that simultaneous
    submissions cannot all pass), and after a scored outcome; a code run that ended without valid predictions counts
    too when the challenge says so (it held a worker). Invalid predictions files, refusals and code whose declared
    dependencies could not be installed (`environment`: it never ran) never count."""
    if status in ACTIVE or status == Status.SCORED:
        return True
    failed_code = kind == Kind.CODE and (status in Status.CODE_FAILURES or status == Status.INVALID)
    return failed_code and failed_code_runs_count
