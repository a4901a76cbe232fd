"""The submissions ledger: the source of truth for teams, tokens, submissions, their status, quota and duplicates.

Each method is one transaction. Rules that compare a submission with others (quota, duplicates) are decided while
the team's row is locked: on PostgreSQL by `SELECT ... FOR UPDATE`, on SQLite by the database's write lock, which
`BEGIN IMMEDIATE` takes before the first read (see `engine`). Behind the locks, a partial unique index refuses a
second active or judged submission of one file by one team, whatever the code above it does.

Workers claim submissions under a lease. A worker that dies leaves its submission `running`; once the lease has
expired another worker takes it over (attempts + 1), and after `MAX_ATTEMPTS` claims it ends `crashed`. Only the
worker that holds the claim can finish a submission, and only once, so a redelivered or late result changes
nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import secrets
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
from sqlalchemy import Engine, case, func, select, update
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from codefest.challenges.spec import SubmissionLimits
from codefest.core.errors import CodefestError, printable
from codefest.evaluation.ledger import engine as engines
from codefest.evaluation.ledger import models as m
from codefest.evaluation.ledger import statuses
from codefest.evaluation.ledger.migrate import upgrade
from codefest.evaluation.ledger.names import check_name, shown
from codefest.evaluation.ledger.rows import Board, BoardRow, Cost, ItemScores, Submission
from codefest.evaluation.records import Status
from codefest.evaluation.scoring import MetricValue
from codefest.evaluation.submissions import Quota

TOKEN_BYTES: Final = 32
FLOAT32: Final = np.dtype("<f4")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Ledger:
    """One database's ledger. Methods take `now` (UTC) so that tests and replays choose the clock."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reads = engine.execution_options(**{engines.READ: True})

    @classmethod
    def open(cls, url: str | None, root: Path) -> Ledger:
        """The ledger at `url`, else at CODEFEST_DATABASE_URL, else `<root>/ledger.db` (root: the workspace); its
        schema brought to the newest version first."""
        engine = engines.connect(engines.database_url(url, root))
        upgrade(engine)
        return cls(engine)

    @property
    def url(self) -> URL:
        return self.engine.url

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextlib.contextmanager
    def _read(self) -> Iterator[Session]:
        with Session(self._reads) as session, session.begin():
            yield session

    # -- teams and tokens ---------------------------------------------------------------------------------------

    def add_team(self, name: str, now: dt.datetime | None = None) -> str:
        """Enrol a team and return its first token, to be shown once: only its hash is kept.

        A team already enrolled (in any case) is refused rather than given a new token: running the same command
        twice must not lock a team out by revoking the token it was handed. `new_token` replaces a lost token.
        """
        check_name(name)
        now = now or utc_now()
        with self._write() as session:
            known = session.scalar(select(m.Team).where(m.Team.key == name.casefold()))
            if known is not None:
                raise CodefestError(
                    f"team {shown(name)} is already enrolled as {shown(known.name)}",
                    f"to replace its token: codefest teams token {known.name}",
                )
            team = m.Team(name=name, key=name.casefold(), created_at=now)
            session.add(team)
            session.flush()
            return self._issue(session, team, now)

    def new_token(self, name: str, now: dt.datetime | None = None) -> str:
        """A new token for an enrolled team; its earlier tokens are revoked."""
        now = now or utc_now()
        with self._write() as session:
            team = self._team(session, name, lock=True)
            session.execute(
                update(m.Token).where(m.Token.team_id == team.id, m.Token.revoked_at.is_(None)).values(revoked_at=now)
            )
            return self._issue(session, team, now)

    def team_for_token(self, token: str) -> str | None:
        """The team a valid token belongs to, else None.

        The look-up is by the token's sha256 in an index, not a comparison with the secret: what its timing could
        leak is where a hash differs, and a hash says nothing of a 256-bit random token that would produce it.
        """
        with self._read() as session:
            return session.scalar(
                select(m.Team.name)
                .join(m.Token, m.Token.team_id == m.Team.id)
                .where(m.Token.sha256 == token_hash(token), m.Token.revoked_at.is_(None))
            )

    def teams(self) -> list[str]:
        """The enrolled teams, as spelled when enrolled, in order of enrolment."""
        with self._read() as session:
            return list(session.scalars(select(m.Team.name).order_by(m.Team.id)))

    @staticmethod
    def _issue(session: Session, team: m.Team, now: dt.datetime) -> str:
        token = "cf_" + secrets.token_urlsafe(TOKEN_BYTES)
        session.add(m.Token(team_id=team.id, sha256=token_hash(token), created_at=now))
        return token

    @staticmethod
    def _team(session: Session, name: str, lock: bool = False) -> m.Team:
        """The enrolled team named `name` in any case; with `lock`, its row is held until the transaction ends, which
        serialises the team's quota and duplicate decisions across processes and hosts."""
        query = select(m.Team).where(m.Team.key == check_name(name).casefold())
        team = session.scalar(query.with_for_update() if lock else query)
        if team is None:
            raise CodefestError(
                f"team {shown(name)} is not enrolled", f"organisers enrol a team with: codefest teams add {name}"
            )
        return team

    # -- arrival ------------------------------------------------------------------------------------------------

    def receive(
        self,
        challenge: str,
        team: str,
        kind: str,
        sha256: str,
        size: int,
        source: str,
        stored: str | None,
        limits: SubmissionLimits,
        phase: str,
        role: str,
        forced: bool = False,
        now: dt.datetime | None = None,
        *,
        worker: str | None = None,
        lease_seconds: float = 0.0,
    ) -> Submission:
        """Record a submission and decide, in one transaction, what happens to it:

        - `duplicate` when the team already has this file (same sha256) in the challenge, queued, running or judged
          (scored, invalid, a code failure): it is not evaluated again and uses no quota; `duplicate_of` names it;
        - `over-quota` when the team has no submission left today or in all (queued and running ones hold theirs);
        - else `queued`, holding one submission of quota until its outcome says whether it counts; with `worker`,
          claimed by it at once (`running`, under a lease of `lease_seconds`): an evaluation in the receiving
          process, which no other worker can take in between.

        Returns the recorded submission with the team's quota after the decision.
        """
        now = now or utc_now()
        with self._write() as session:
            owner = self._team(session, team, lock=True)
            row = self._new_row(challenge, owner, kind, sha256, size, source, stored, phase, role, forced, now)
            row.failed_code_runs_count = limits.failed_code_runs_count
            original = session.scalar(
                select(m.Submission)
                .where(
                    m.Submission.challenge == challenge,
                    m.Submission.team_id == owner.id,
                    m.Submission.sha256 == sha256,
                    m.Submission.status.in_(statuses.UNIQUE),
                )
                .limit(1)
            )
            quota = self._quota(session, challenge, owner.id, limits, now)
            if original is not None:
                row.status, row.duplicate_of = Status.DUPLICATE, original.id
                judged = "received" if original.status in statuses.ACTIVE else "evaluated"
                row.message = (
                    f"already {judged} as submission {original.id} (status {original.status}); not evaluated twice"
                )
            elif quota.remaining == 0:
                row.status, row.message = Status.OVER_QUOTA, quota.refusal().render()
            else:
                row.status, row.counts_for_quota, row.message = statuses.QUEUED, True, "queued"
                quota = Quota(quota.used_today + 1, quota.used_total + 1, limits)
                if worker is not None:
                    row.status, row.worker, row.attempts = statuses.RUNNING, worker, 1
                    row.started_at, row.lease_until = now, now + dt.timedelta(seconds=lease_seconds)
            if row.status in statuses.TERMINAL:
                row.finished_at = now
            session.add(row)
            session.flush()
            return _frozen(row, owner.name, quota)

    def refuse(
        self,
        challenge: str,
        team: str,
        kind: str,
        sha256: str,
        size: int,
        source: str,
        message: str,
        phase: str,
        role: str,
        forced: bool = False,
        now: dt.datetime | None = None,
    ) -> Submission:
        """Record a submission refused before any rule was applied (its file unreadable, the challenge closed...),
        with the message the team was given. It uses no quota and is never a duplicate's original."""
        now = now or utc_now()
        with self._write() as session:
            owner = self._team(session, team)
            row = self._new_row(challenge, owner, kind, sha256, size, source, None, phase, role, forced, now)
            row.status, row.message, row.finished_at, row.failed_code_runs_count = Status.REFUSED, message, now, False
            session.add(row)
            session.flush()
            return _frozen(row, owner.name)

    @staticmethod
    def _new_row(
        challenge: str,
        team: m.Team,
        kind: str,
        sha256: str,
        size: int,
        source: str,
        stored: str | None,
        phase: str,
        role: str,
        forced: bool,
        now: dt.datetime,
    ) -> m.Submission:
        return m.Submission(
            id=str(uuid.uuid4()),
            challenge=challenge,
            team_id=team.id,
            kind=kind,
            sha256=sha256,
            size=size,
            source=source,
            stored=stored,
            message="",
            phase=phase,
            role=role,
            forced=forced,
            received_at=now,
            attempts=0,
            counts_for_quota=False,
        )

    # -- quota --------------------------------------------------------------------------------------------------

    def quota(self, challenge: str, team: str, limits: SubmissionLimits, now: dt.datetime | None = None) -> Quota:
        """What the team has used of the challenge's quota: today (UTC) and in all, reservations included."""
        with self._read() as session:
            return self._quota(session, challenge, self._team(session, team).id, limits, now or utc_now())

    @staticmethod
    def _quota(session: Session, challenge: str, team_id: int, limits: SubmissionLimits, now: dt.datetime) -> Quota:
        today = dt.datetime.combine(now.astimezone(dt.UTC).date(), dt.time(), dt.UTC)
        today_count = func.coalesce(func.sum(case((m.Submission.received_at >= today, 1), else_=0)), 0)
        used_today, used_total = session.execute(
            select(today_count, func.count()).where(
                m.Submission.challenge == challenge,
                m.Submission.team_id == team_id,
                m.Submission.counts_for_quota.is_(True),
            )
        ).one()
        return Quota(int(used_today), int(used_total), limits)

    # -- workers ------------------------------------------------------------------------------------------------

    def claim(
        self,
        worker: str,
        lease_seconds: float,
        kinds: Sequence[str] | None = None,
        now: dt.datetime | None = None,
        *,
        submission_id: str | None = None,
        dead: Collection[str] = (),
        skip: Collection[str] = (),
    ) -> Submission | None:
        """The oldest submission waiting for a worker, now `running` for `worker` until the lease ends; None when
        there is none. A `running` one whose lease has expired (its worker died) waits too: it is taken over, one
        attempt more; one that has had its `MAX_ATTEMPTS` claims ends `crashed` instead. Several workers, on any
        hosts, never get the same submission: on PostgreSQL each skips the rows another is claiming (`FOR UPDATE
        SKIP LOCKED`), on SQLite they take turns.

        `submission_id` claims that submission only, if it waits. `dead` names workers known to be dead (their
        process is gone): what they hold waits at once, without waiting for their leases to expire. `skip` names
        submissions the worker gave back and leaves to others (it lacks the GPUs they need)."""
        now = now or utc_now()
        abandoned = m.Submission.lease_until < now
        if dead:
            abandoned = abandoned | m.Submission.worker.in_(list(dead))
        waiting = (m.Submission.status == statuses.QUEUED) | ((m.Submission.status == statuses.RUNNING) & abandoned)
        query = select(m.Submission).where(waiting).order_by(m.Submission.received_at, m.Submission.id).limit(1)
        if kinds is not None:
            query = query.where(m.Submission.kind.in_(list(kinds)))
        if submission_id is not None:
            query = query.where(m.Submission.id == submission_id)
        if skip:
            query = query.where(m.Submission.id.not_in(list(skip)))
        query = query.with_for_update(skip_locked=True)
        with self._write() as session:
            while (row := session.scalar(query)) is not None:
                if row.status == statuses.RUNNING and row.attempts >= statuses.MAX_ATTEMPTS:
                    self._end(session, row, statuses.CRASHED, _abandoned(row), now)
                    continue
                row.status, row.worker, row.attempts = statuses.RUNNING, worker, row.attempts + 1
                row.started_at, row.lease_until = now, now + dt.timedelta(seconds=lease_seconds)
                session.flush()
                return _frozen(row, self._team_name(session, row.team_id))
            return None

    def renew(self, id: str, worker: str, lease_seconds: float, now: dt.datetime | None = None) -> bool:
        """Extend the lease of a submission `worker` holds; False when it holds it no more (taken over, or ended)."""
        now = now or utc_now()
        with self._write() as session:
            done = session.execute(
                update(m.Submission)
                .where(m.Submission.id == id, m.Submission.worker == worker, m.Submission.status == statuses.RUNNING)
                .values(lease_until=now + dt.timedelta(seconds=lease_seconds))
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    # -- a broker's queue (codefest.evaluation.broker) ------------------------------------------------------------
    # A queued submission's `lease_until` says until when a message for it is trusted to be in the broker (NULL:
    # none was sent, or sending failed); claims ignore it for queued rows. It lets any number of processes agree,
    # in one conditional UPDATE, on which one sends a submission to the broker, and lets a sweep find the queued
    # submissions whose message was never sent or was lost.

    def mark_sent(
        self, id: str, trust_seconds: float, now: dt.datetime | None = None, *, message: str | None = None
    ) -> bool:
        """Take the turn to send the queued submission `id` to the broker: True (and trusted for `trust_seconds`)
        unless it is not queued or another process's message is still trusted. `message` replaces its message."""
        now = now or utc_now()
        values: dict[str, Any] = {"lease_until": now + dt.timedelta(seconds=trust_seconds)}
        if message is not None:
            values["message"] = message
        with self._write() as session:
            done = session.execute(
                update(m.Submission)
                .where(
                    m.Submission.id == id,
                    m.Submission.status == statuses.QUEUED,
                    m.Submission.lease_until.is_(None) | (m.Submission.lease_until < now),
                )
                .values(**values)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def unsent(self, id: str) -> None:
        """Sending the queued submission `id` failed: the next sweep sends it."""
        with self._write() as session:
            session.execute(
                update(m.Submission)
                .where(m.Submission.id == id, m.Submission.status == statuses.QUEUED)
                .values(lease_until=None)
            )

    def to_send(self, now: dt.datetime | None = None, limit: int = 1000) -> list[tuple[str, str]]:
        """(id, kind) of the queued submissions, oldest first, with no message trusted to be in the broker."""
        now = now or utc_now()
        row = m.Submission
        unsent = (row.status == statuses.QUEUED) & (row.lease_until.is_(None) | (row.lease_until < now))
        query = select(row.id, row.kind).where(unsent).order_by(row.received_at, row.id).limit(limit)
        with self._read() as session:
            return [(id, kind) for id, kind in session.execute(query)]

    def note(
        self,
        id: str,
        message: str,
        worker: str | None = None,
        trust_seconds: float | None = None,
        now: dt.datetime | None = None,
    ) -> bool:
        """Replace the message of an active submission (queued; or running, held by `worker`), for its team. With
        `trust_seconds`, a queued one's message in the broker is trusted that much longer (it is being retried)."""
        row = m.Submission
        which = (row.status == statuses.QUEUED) if worker is None else (row.status == statuses.RUNNING)
        if worker is not None:
            which = which & (row.worker == worker)
        values: dict[str, Any] = {"message": message}
        if trust_seconds is not None and worker is None:
            values["lease_until"] = (now or utc_now()) + dt.timedelta(seconds=trust_seconds)
        with self._write() as session:
            done = session.execute(update(row).where(row.id == id, which).values(**values))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def release(self, id: str, worker: str, message: str) -> bool:
        """Give back a submission `worker` holds but cannot evaluate (this host lacks the challenge's vault): queued
        again, the attempt not counted, `message` telling its team why it waits; False when it holds it no more."""
        row = m.Submission
        held = (row.id == id) & (row.status == statuses.RUNNING) & (row.worker == worker)
        values: dict[str, Any] = {"status": statuses.QUEUED, "worker": None, "lease_until": None, "message": message}
        with self._write() as session:
            done = session.execute(update(row).where(held).values(attempts=row.attempts - 1, **values))
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def finish(
        self,
        id: str,
        worker: str,
        status: str,
        message: str,
        *,
        scores: Mapping[str, Mapping[str, MetricValue]] | None = None,
        per_item: Sequence[ItemScores] = (),
        public_run_id: str | None = None,
        private_run_id: str | None = None,
        cost: Cost | None = None,
        signature: str | None = None,
        breakdowns: Mapping[str, Mapping[str, Any] | None] | None = None,
        now: dt.datetime | None = None,
    ) -> bool:
        """Record a submission's outcome (scored, invalid, or a code failure), with its scores ({part: {metric:
        value}}), per-item scores, MLflow runs and cost, the evaluation signature the scores were computed under, the
        scores per group of items ({part: breakdown or None}), and whether it counts for quota. True when recorded.

        Only the worker holding the claim can finish it, and only while it is `running`: even after its lease
        expired, as long as no other worker took it over. Anything else changes nothing and returns False: a
        result delivered twice, a late worker whose submission was taken over, a submission already ended.
        """
        if status not in statuses.OUTCOMES:
            raise ValueError(f"a submission ends {' or '.join(statuses.OUTCOMES)}, not {status!r}")
        if (scores or per_item or any((breakdowns or {}).values())) and status != Status.SCORED:
            raise ValueError(f"only a scored submission has scores, not one that ended {status!r}")
        now = now or utc_now()
        with self._write() as session:
            row = session.scalar(select(m.Submission).where(m.Submission.id == id).with_for_update())
            if row is None or row.status != statuses.RUNNING or row.worker != worker:
                return False
            self._end(session, row, status, message, now)
            row.public_run_id, row.private_run_id = public_run_id, private_run_id
            cost = cost or Cost()
            row.code_seconds, row.peak_memory_mb, row.cpu_seconds = (
                cost.code_seconds,
                cost.peak_memory_mb,
                cost.cpu_seconds,
            )
            for part, values in (scores or {}).items():
                session.add_all(_score(id, part, metric, value) for metric, value in values.items())
            for items in per_item:
                session.add_all(_per_item(id, items, metric, array) for metric, array in items.values.items())
            row.signature = signature
            session.add_all(
                m.Breakdown(submission_id=id, part=part, data=json.dumps(found))
                for part, found in (breakdowns or {}).items()
                if found is not None
            )
            return True

    # -- final selections ---------------------------------------------------------------------------------------

    def select(
        self,
        challenge: str,
        team: str,
        submission_id: str,
        forced: bool = False,
        now: dt.datetime | None = None,
        *,
        signature: str | None = None,
    ) -> Submission:
        """Choose a scored submission as the team's final one (challenges with `final_submission: selected`): its
        `selected_at` is set to now, so the team's latest choice is the one ranked; `forced` records that the
        organisers chose outside the phases. Refused (CodefestError) for another team's submission, one not scored,
        or, when `signature` (the current evaluation signature) is given, one scored under another."""
        now = now or utc_now()
        listing = f"codefest leaderboard {challenge} --format json   (each entry's submission), or codefest status"
        with self._write() as session:
            owner = self._team(session, team, lock=True)
            row = session.scalar(
                select(m.Submission)
                .where(
                    m.Submission.id == submission_id,
                    m.Submission.challenge == challenge,
                    m.Submission.team_id == owner.id,
                )
                .with_for_update()
            )
            if row is None:
                raise CodefestError(
                    f"submission {printable(submission_id)} is not a submission of team '{owner.name}' to "
                    f"'{challenge}'",
                    listing,
                )
            if row.status != Status.SCORED:
                raise CodefestError(f"submission {row.id} has status '{row.status}', not scored", listing)
            if signature is not None and row.signature != signature:
                raise CodefestError(
                    f"submission {row.id} was scored under an older evaluation signature and cannot be ranked",
                    "select a submission scored under the current signature",
                )
            row.selected_at, row.selection_forced = now, forced
            session.flush()
            return _frozen(row, owner.name)

    @staticmethod
    def _end(session: Session, row: m.Submission, status: str, message: str, now: dt.datetime) -> None:
        """A terminal status, and the verdict on quota that replaces the reservation."""
        row.status, row.message, row.finished_at, row.lease_until = status, message, now, None
        row.counts_for_quota = statuses.uses_quota(row.kind, status, row.failed_code_runs_count)
        session.flush()

    # -- reading ------------------------------------------------------------------------------------------------

    def get(self, id: str) -> Submission | None:
        with self._read() as session:
            found = session.execute(
                select(m.Submission, m.Team.name).join(m.Team).where(m.Submission.id == id)
            ).one_or_none()
            return None if found is None else _frozen(*found)

    def scored_stamp(self, challenge: str) -> tuple[Any, ...]:
        """What changes whenever the challenge's board may: how many submissions are scored, the last to finish, the
        last selection. One indexed read (`status, received_at`), not a build of the board."""
        row = m.Submission
        query = select(func.count(), func.max(row.finished_at), func.max(row.selected_at)).where(
            row.status == Status.SCORED, row.challenge == challenge
        )
        with self._read() as session:
            return tuple(session.execute(query).one())

    def submissions(
        self, challenge: str | None = None, team: str | None = None, offset: int = 0, limit: int = 100
    ) -> list[Submission]:
        """Submissions, newest first, of one challenge and/or team (in any case) when given."""
        query = select(m.Submission, m.Team.name).join(m.Team)
        if challenge is not None:
            query = query.where(m.Submission.challenge == challenge)
        if team is not None:
            query = query.where(m.Team.key == team.casefold())
        query = query.order_by(m.Submission.received_at.desc(), m.Submission.id).offset(offset).limit(limit)
        with self._read() as session:
            return [_frozen(row, name) for row, name in session.execute(query)]

    def board(
        self,
        challenge: str,
        part: str,
        metrics: Sequence[str],
        signature: str | None = None,
        items_sha256: str | None = None,
    ) -> Board:
        """The scored submissions of a challenge with their `metrics` on `part`, oldest first, and each metric's
        per-item scores as one float32 matrix (one query for the rows, one per metric for the arrays). With
        `signature`, only those scored under it: scores computed another way are not comparable. Each row carries
        its signature, when it was selected as final, and its breakdown on `part`.

        Per-item arrays of another order of items than `items_sha256` are left out (NaN rows); without it, all
        arrays must share one order, else ValueError: a matrix of unrelated columns would rank nonsense.
        """
        metrics = tuple(metrics)
        scored = (m.Submission.challenge == challenge) & (m.Submission.status == Status.SCORED)
        if signature is not None:
            scored = scored & (m.Submission.signature == signature)
        order = (m.Submission.received_at, m.Submission.id)
        with self._read() as session:
            found = session.execute(
                select(*BOARD_COLUMNS, m.Score.metric, m.Score.value, m.Score.ci_low, m.Score.ci_high)
                .join(m.Team)
                .outerjoin(
                    m.Score,
                    (m.Score.submission_id == m.Submission.id) & (m.Score.part == part) & m.Score.metric.in_(metrics),
                )
                .where(scored)
                .order_by(*order)
            ).all()
            breakdowns = {
                id: data
                for id, data in session.execute(
                    select(m.Breakdown.submission_id, m.Breakdown.data)
                    .join(m.Submission)
                    .where(scored, m.Breakdown.part == part)
                )
            }
            rows = _board_rows(found, metrics, breakdowns)
            index = {row.submission_id: i for i, row in enumerate(rows)}
            matrices: dict[str, np.ndarray] = {}
            orders: set[str] = set()
            for metric in metrics:
                query = (
                    select(m.PerItem.submission_id, m.PerItem.items_sha256, m.PerItem.n_items, m.PerItem.data)
                    .join(m.Submission)
                    .where(scored, m.PerItem.part == part, m.PerItem.metric == metric)
                    .order_by(*order)
                )
                if items_sha256 is not None:
                    query = query.where(m.PerItem.items_sha256 == items_sha256)
                arrays = session.execute(query).all()
                orders |= {sha for _, sha, _, _ in arrays}
                if len(orders) > 1:
                    raise ValueError(
                        f"per-item scores of {challenge} come in {len(orders)} orders of items: choose one"
                    )
                matrices[metric] = _matrix(arrays, index, len(rows))
        return Board(part, metrics, tuple(rows), matrices, next(iter(orders), None))

    @staticmethod
    def _team_name(session: Session, team_id: int) -> str:
        return session.get_one(m.Team, team_id).name


def _abandoned(row: m.Submission) -> str:
    return (
        f"the evaluation stopped {row.attempts} times without a result (last worker: {row.worker}); "
        "it is not tried again: ask the organisers"
    )


def _score(id: str, part: str, metric: str, value: MetricValue) -> m.Score:
    """SQLite stores NaN as NULL: NULL is NaN on both databases."""
    numbers = [None if math.isnan(x) else float(x) for x in (value.value, value.ci_low, value.ci_high)]
    return m.Score(submission_id=id, part=part, metric=metric, value=numbers[0], ci_low=numbers[1], ci_high=numbers[2])


def _per_item(id: str, items: ItemScores, metric: str, values: np.ndarray) -> m.PerItem:
    array = np.ascontiguousarray(values, dtype=FLOAT32)
    if array.shape != (len(items.ids),):
        raise ValueError(f"{metric}: {array.shape} per-item scores for {len(items.ids)} items")
    return m.PerItem(
        submission_id=id,
        part=items.part,
        metric=metric,
        items_sha256=items.items_sha256,
        n_items=len(items.ids),
        data=array.tobytes(),
    )


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


BOARD_COLUMNS: Final = (
    m.Submission.id,
    m.Team.name,
    m.Submission.received_at,
    m.Submission.role,
    m.Submission.phase,
    m.Submission.forced,
    m.Submission.signature,
    m.Submission.selected_at,
    m.Submission.selection_forced,
)


def _board_rows(
    found: Iterable[Sequence[Any]], metrics: tuple[str, ...], breakdowns: Mapping[str, str]
) -> list[BoardRow]:
    """One row per submission from the join's one line per (submission, score); NaN for a metric it lacks."""
    rows: dict[str, BoardRow] = {}
    for id, team, received_at, role, phase, forced, sign, selected_at, selection_forced, *score in found:
        metric, value, low, high = score
        row = rows.get(id)
        if row is None:
            nan = {name: math.nan for name in metrics}
            intervals = {name: (math.nan, math.nan) for name in metrics}
            kept = breakdowns.get(id)
            row = rows[id] = BoardRow(
                id,
                team,
                received_at,
                role,
                phase,
                forced,
                nan,
                intervals,
                sign,
                selected_at,
                bool(selection_forced),
                None if kept is None else json.loads(kept),
            )
        if metric is not None:
            row.values[metric] = _nan(value)
            row.intervals[metric] = (_nan(low), _nan(high))
    return list(rows.values())


def _matrix(arrays: Sequence[tuple[str, str, int, bytes]], index: dict[str, int], n_rows: int) -> np.ndarray:
    """The arrays as rows of one float32 matrix in board order; NaN rows for submissions without one."""
    n_items = arrays[0][2] if arrays else 0
    where = np.fromiter((index[id] for id, _, _, _ in arrays), dtype=np.intp, count=len(arrays))
    stacked = np.frombuffer(b"".join(data for _, _, _, data in arrays), dtype=FLOAT32).reshape(len(arrays), n_items)
    if len(arrays) == n_rows and np.array_equal(where, np.arange(n_rows)):
        return stacked.astype(np.float32)  # every submission has its array, in board order: a writable copy
    matrix = np.full((n_rows, n_items), np.nan, dtype=np.float32)
    matrix[where] = stacked
    return matrix


def _frozen(row: m.Submission, team: str, quota: Quota | None = None) -> Submission:
    return Submission(
        id=row.id,
        challenge=row.challenge,
        team=team,
        kind=row.kind,
        sha256=row.sha256,
        size=row.size,
        source=row.source,
        stored=row.stored,
        status=row.status,
        message=row.message,
        phase=row.phase,
        role=row.role,
        forced=row.forced,
        received_at=row.received_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        attempts=row.attempts,
        worker=row.worker,
        lease_until=row.lease_until,
        duplicate_of=row.duplicate_of,
        counts_for_quota=row.counts_for_quota,
        public_run_id=row.public_run_id,
        private_run_id=row.private_run_id,
        cost=Cost(row.code_seconds, row.peak_memory_mb, row.cpu_seconds),
        signature=row.signature,
        selected_at=row.selected_at,
        selection_forced=row.selection_forced,
        quota=quota,
    )
