"""What the service answers, as pydantic models: the OpenAPI document is generated from these."""

from __future__ import annotations

import datetime as dt
from typing import Generic, TypeVar

from pydantic import BaseModel

Item = TypeVar("Item")


class Page(BaseModel, Generic[Item]):
    """One page of a list: `next` is the URL of the following page, absent on the last one."""

    items: list[Item]
    offset: int
    limit: int
    next: str | None = None
    previous: str | None = None


class Metric(BaseModel):
    name: str
    higher_is_better: bool


class PhaseOut(BaseModel):
    name: str
    start: dt.date
    end: dt.date


class Limits(BaseModel):
    per_team_per_day: int
    total: int
    max_upload_bytes: int


class ChallengeOut(BaseModel):
    slug: str
    title: str
    task: str
    version: str
    description: str
    metrics: list[Metric]
    primary_metric: str
    phases: list[PhaseOut]
    open_phase: str | None  # the phase accepting submissions today (UTC), if any
    submission_limits: Limits
    kinds: list[str]  # predictions, and code when the server can run pilots


class Interval(BaseModel):
    value: float | None  # None: the gold labels cannot support this metric
    ci_low: float | None
    ci_high: float | None


class EntryOut(BaseModel):
    team: str
    rank: int | None  # None: the organisers' baseline, shown but not ranked
    rank_range: tuple[int, int] | None  # the ranks the entry could hold, given the uncertainty
    score: float
    interval: tuple[float, float]  # 95% bootstrap confidence interval of the score
    group: int | None  # entries of one group are statistically tied
    baseline: bool
    submissions: int
    # what its code run used, as the run's tags record it; None for a predictions file
    code_seconds: float | None = None
    code_peak_memory_mb: float | None = None
    code_cpu_seconds: float | None = None
    cost_per_1000_items: float | None = None  # in the board's currency, where the organisers set prices


class Leaderboard(BaseModel):
    challenge: str
    part: str
    primary_metric: str
    higher_is_better: bool
    generated: dt.datetime
    entries: list[EntryOut]
    notes: list[str]
    currency: str | None = None  # of the entries' cost, where the organisers set prices


class QuotaOut(BaseModel):
    remaining: int
    used_today: int
    per_team_per_day: int
    used_total: int
    total: int


class SubmissionOut(BaseModel):
    id: str
    challenge: str
    team: str  # the caller's own
    kind: str
    source: str  # the uploaded file's name
    sha256: str
    size: int
    status: str  # queued, running, scored, invalid, duplicate, over-quota, refused, or a code run's failure
    message: str
    received_at: dt.datetime
    finished_at: dt.datetime | None
    duplicate_of: str | None
    scores: dict[str, Interval] | None = None  # the public part's, once scored
    quota: QuotaOut | None = None
    url: str


class Submissions(Page[SubmissionOut]):
    quota: QuotaOut
