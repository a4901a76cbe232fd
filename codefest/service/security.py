"""Who is asking, and how often: team tokens sent as bearer tokens, and a token bucket per caller.

A token is checked against the ledger, which keeps only its hash. A missing, malformed, wrong or revoked token gets
the same 401, so that an answer says nothing of which tokens exist. Every caller has a bucket of requests that
refills at a steady rate: a team by its token once it is known, anyone else by its address (wrong tokens included,
so guessing costs as much as asking).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass

from fastapi import Request
from fastapi.security import HTTPAuthorizationCredentials

from codefest.service.problems import Problem

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="codefest"'}


@dataclass(frozen=True)
class Rate:
    """`burst` requests at once, then `per_minute` a minute."""

    per_minute: float = 120.0
    burst: int = 30


class Buckets:
    """Token buckets by caller, in this process's memory (the embedded server runs one process)."""

    MAX_CALLERS = 100_000  # forgotten, fullest first, past this many: an address flood cannot fill the memory

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._levels: dict[str, tuple[float, float]] = {}  # caller -> (tokens left, when counted)

    def take(self, caller: str, now: float | None = None) -> float:
        """0 when the caller may go on (one token taken), else the seconds until it may."""
        now = time.monotonic() if now is None else now
        per_second = self.rate.per_minute / 60
        with self._lock:
            tokens, then = self._levels.get(caller, (float(self.rate.burst), now))
            tokens = min(float(self.rate.burst), tokens + (now - then) * per_second)
            if tokens >= 1:
                self._levels[caller] = (tokens - 1, now)
                self._forget(now)
                return 0.0
            self._levels[caller] = (tokens, now)
            return (1 - tokens) / per_second

    def _forget(self, now: float) -> None:
        if len(self._levels) > self.MAX_CALLERS:
            full = sorted(self._levels, key=lambda caller: self._levels[caller][0], reverse=True)
            for caller in full[: len(full) // 2]:
                del self._levels[caller]


def limit(buckets: Buckets, caller: str) -> None:
    wait = buckets.take(caller)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise Problem(
            429,
            "rate-limited",
            "Too Many Requests",
            f"too many requests; try again in {seconds} s",
            {"Retry-After": str(seconds)},
            retry_after=seconds,
        )


def address(request: Request) -> str:
    return f"address:{request.client.host if request.client else 'unknown'}"


def token_key(token: str) -> str:
    return "token:" + hashlib.sha256(token.encode()).hexdigest()


def unauthorised(detail: str = "a valid team token is needed: send it as 'Authorization: Bearer TOKEN'") -> Problem:
    return Problem(401, "unauthorised", "Unauthorized", detail, dict(CHALLENGE))


def bearer(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The token sent, or 401: only the Bearer scheme, and a token of printable characters."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials.isprintable():
        raise unauthorised()
    return credentials.credentials
