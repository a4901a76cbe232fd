"""The submissions ledger: teams, tokens, submissions, their status, quota, duplicates and scores, in SQLite or
PostgreSQL, with the rules kept by constraints and transactions rather than file locks.

    ledger = Ledger.open(None, workspace.root)      # CODEFEST_DATABASE_URL, else <workspace>/ledger.db
    submission = ledger.receive(...)                # queued, duplicate or over-quota, decided atomically
    claimed = ledger.claim("worker-1", lease_seconds=600)
    ledger.finish(claimed.id, "worker-1", "scored", "scored", scores=...)
"""

from __future__ import annotations

from codefest.evaluation.ledger.rows import Board, BoardRow, Cost, ItemScores, Submission
from codefest.evaluation.ledger.store import Ledger

__all__ = ["Board", "BoardRow", "Cost", "ItemScores", "Ledger", "Submission"]
