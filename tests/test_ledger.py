"""The submissions ledger on SQLite and on PostgreSQL: its schema, teams and tokens, the quota and duplicate rules,
claims and leases, and the rules under simultaneous submissions from separate processes."""

from __future__ import annotations

import datetime as dt
import math
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codefest.challenges.spec import SubmissionLimits
from codefest.core.errors import CodefestError
from codefest.core.workspace import Workspace
from codefest.evaluation.ledger import Cost, ItemScores, Ledger
from codefest.evaluation.ledger import models as m
from codefest.evaluation.ledger.engine import database_url
from codefest.evaluation.records import Kind, Part, Role, Status
from codefest.evaluation.scoring import MetricValue
from tests.postgres import new_database

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LIMITS = SubmissionLimits(per_team_per_day=3, total=5)
FORK = multiprocessing.get_context("fork")  # the children inherit the imported package: spawning 20 costs minutes


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return new_database(request.getfixturevalue("postgres_server"), f"t{uuid.uuid4().hex[:16]}")


@pytest.fixture
def ledger(url: str, tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger.open(url, tmp_path)
    opened.add_team("Team-A")
    yield opened
    opened.close()


def receive(ledger: Ledger, sha: str, *, team: str = "team-a", kind: str = Kind.PREDICTIONS, **kw: Any) -> Any:
    arguments: dict[str, Any] = {"limits": LIMITS, "now": T0} | kw
    return ledger.receive(
        "ch",
        team,
        kind,
        (sha * 64)[:64],
        10,
        f"{sha}.csv",
        f"/uploads/{sha}",
        phase="main",
        role=Role.PARTICIPANT,
        **arguments,
    )


def evaluate(ledger: Ledger, status: str, now: dt.datetime = T0, **kw: Any) -> str:
    """Claim the oldest waiting submission and end it with `status`; returns its id."""
    claimed = ledger.claim("w", 60, now=now)
    assert claimed is not None
    assert ledger.finish(claimed.id, "w", status, f"ended {status}", now=now, **kw)
    return claimed.id


# -- schema ---------------------------------------------------------------------------------------------------------


def test_the_migrations_make_exactly_the_models_schema(ledger: Ledger) -> None:
    with ledger.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, m.Base.metadata) == []
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == "0003"


def test_head_is_the_newest_migration_and_an_up_to_date_ledger_skips_alembic(ledger: Ledger, tmp_path: Path) -> None:
    """Opening a ledger at HEAD loads no Alembic (its ~0.4 s start-up is paid by every command); an older one is
    still migrated (test_a_first_ledger_is_migrated_and_keeps_its_rows)."""
    import subprocess
    import sys

    from alembic.script import ScriptDirectory

    from codefest.evaluation.ledger.migrate import HEAD, config

    assert ScriptDirectory.from_config(config()).get_current_head() == HEAD
    if ledger.engine.dialect.name != "sqlite":
        return
    probe = (
        "import sys; from codefest.evaluation.ledger import Ledger; "
        f"Ledger.open({ledger.engine.url.render_as_string(hide_password=False)!r}, {str(tmp_path)!r}); "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))"
    )
    opened = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == "[]"


def test_a_first_ledger_is_migrated_and_keeps_its_rows(url: str, tmp_path: Path) -> None:
    """A ledger made by 0001 gains the signature, the selections and the breakdowns; its submissions stay."""
    from alembic import command

    from codefest.evaluation.ledger.engine import connect
    from codefest.evaluation.ledger.migrate import config

    engine = connect(database_url(url, tmp_path))
    with engine.begin() as connection:
        command.upgrade(config(connection), "0001")
        connection.execute(text("INSERT INTO teams (id, name, key, created_at) VALUES (1, 'T', 't', '2026-03-02')"))
        connection.execute(
            text(
                "INSERT INTO submissions (id, challenge, team_id, kind, sha256, size, source, status, message, phase,"
                " role, forced, received_at, attempts, failed_code_runs_count, counts_for_quota) VALUES ('s1', 'ch',"
                " 1, 'predictions', 'a', 1, 'p.csv', 'scored', 'scored', 'main', 'participant', false, '2026-03-02',"
                " 1, false, true)"
            )
        )
    engine.dispose()
    ledger = Ledger.open(url, tmp_path)
    found = ledger.get("s1")
    assert found is not None and (found.signature, found.selected_at, found.selection_forced) == (None, None, False)
    assert [row.submission_id for row in ledger.board("ch", Part.PUBLIC, ["f1"]).rows] == ["s1"]
    with ledger.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), m.Base.metadata) == []


def test_opening_again_migrates_nothing_and_keeps_the_rows(url: str, tmp_path: Path) -> None:
    first = Ledger.open(url, tmp_path)
    first.add_team("team-b")
    first.close()
    assert Ledger.open(url, tmp_path).teams() == ["team-b"]


def test_where_the_ledger_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEFEST_DATABASE_URL", raising=False)
    assert database_url(None, tmp_path).database == str(Workspace(tmp_path).ledger)
    monkeypatch.setenv("CODEFEST_DATABASE_URL", "postgresql://u@db.example/event")
    assert database_url(None, tmp_path).render_as_string() == "postgresql+psycopg://u@db.example/event"
    assert database_url(f"sqlite:///{tmp_path}/x.db", tmp_path).database == f"{tmp_path}/x.db"


def test_sqlite_uses_write_ahead_logging_and_waits_for_the_lock(tmp_path: Path) -> None:
    ledger = Ledger.open(None, tmp_path)
    with ledger.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert Workspace(tmp_path).ledger.is_file()


def test_the_database_refuses_a_second_active_submission_of_one_file(ledger: Ledger) -> None:
    """The unique index holds even for a writer that skips the ledger's checks."""
    first = receive(ledger, "a")
    with Session(ledger.engine) as session:
        row = session.get_one(m.Submission, first.id)
        session.expunge(row)
        from sqlalchemy.orm import make_transient

        make_transient(row)
        row.id = str(uuid.uuid4())
        session.add(row)
        with pytest.raises(IntegrityError):
            session.commit()


def test_a_status_outside_the_list_is_refused_by_the_database(ledger: Ledger) -> None:
    first = receive(ledger, "a")
    with Session(ledger.engine) as session, pytest.raises(IntegrityError):
        session.get_one(m.Submission, first.id).status = "lost"
        session.commit()


# -- teams and tokens -----------------------------------------------------------------------------------------------


def test_a_token_names_its_team_and_only_its_hash_is_stored(ledger: Ledger) -> None:
    token = ledger.add_team("Team-B")
    assert token.startswith("cf_") and len(token) > 40
    assert ledger.team_for_token(token) == "Team-B"
    assert ledger.team_for_token(token + "x") is None
    assert ledger.teams() == ["Team-A", "Team-B"]
    with Session(ledger.engine) as session:
        stored = list(session.scalars(select(m.Token.sha256)))
    assert len(stored) == 2 and token not in stored and all(len(value) == 64 for value in stored)


def test_a_team_is_enrolled_once_whatever_its_case(ledger: Ledger) -> None:
    with pytest.raises(CodefestError, match="team 'team-a' is already enrolled as 'Team-A'") as error:
        ledger.add_team("team-a")
    assert error.value.fix == "to replace its token: codefest teams token Team-A"
    with pytest.raises(CodefestError, match="not allowed"):
        ledger.add_team("team a")
    assert ledger.teams() == ["Team-A"]


def test_a_new_token_revokes_the_old_ones(ledger: Ledger) -> None:
    first = ledger.add_team("team-b")
    second = ledger.new_token("TEAM-B")
    assert ledger.team_for_token(first) is None
    assert ledger.team_for_token(second) == "team-b"
    with pytest.raises(CodefestError, match="team 'nobody' is not enrolled"):
        ledger.new_token("nobody")


# -- arrival: quota and duplicates ----------------------------------------------------------------------------------


def test_a_new_file_is_queued_and_holds_quota(ledger: Ledger) -> None:
    received = receive(ledger, "a")
    assert (received.status, received.message, received.team, received.counts_for_quota) == (
        "queued",
        "queued",
        "Team-A",
        True,
    )
    assert (received.quota.used_today, received.quota.used_total, received.quota.remaining) == (1, 1, 2)
    assert ledger.get(received.id) == received.__class__(**{**vars(received), "quota": None})


def test_the_same_file_while_queued_is_a_duplicate_that_uses_no_quota(ledger: Ledger) -> None:
    first = receive(ledger, "a")
    again = receive(ledger, "a", team="TEAM-A")
    assert again.status == Status.DUPLICATE
    assert again.message == f"already received as submission {first.id} (status queued); not evaluated twice"
    assert (again.duplicate_of, again.counts_for_quota, again.quota.used_total) == (first.id, False, 1)
    assert again.finished_at == T0


@pytest.mark.parametrize("outcome", [Status.SCORED, Status.INVALID, "timeout"])
def test_the_same_file_after_its_evaluation_is_a_duplicate(ledger: Ledger, outcome: str) -> None:
    first = receive(ledger, "a", kind=Kind.CODE)
    evaluate(ledger, outcome)
    again = receive(ledger, "a", kind=Kind.CODE)
    assert again.message == f"already evaluated as submission {first.id} (status {outcome}); not evaluated twice"
    assert again.status == Status.DUPLICATE and again.quota.used_total == 1


def test_another_team_or_challenge_may_send_the_same_file(ledger: Ledger) -> None:
    ledger.add_team("team-b")
    receive(ledger, "a")
    assert receive(ledger, "a", team="team-b").status == "queued"
    other = ledger.receive("other", "team-a", Kind.PREDICTIONS, "a" * 64, 1, "a", None, LIMITS, "main", "participant")
    assert other.status == "queued"


def test_over_the_daily_quota_a_submission_is_recorded_over_quota(ledger: Ledger) -> None:
    for sha in "abc":
        assert receive(ledger, sha).status == "queued"
    refused = receive(ledger, "d")
    assert refused.status == Status.OVER_QUOTA and not refused.counts_for_quota
    assert refused.message.startswith("the team has used its 3 submissions of today (UTC)\n  fix: submit again from")
    assert (refused.quota.used_today, refused.quota.used_total, refused.quota.remaining) == (3, 3, 0)
    assert receive(ledger, "d").status == Status.OVER_QUOTA  # an over-quota file is no duplicate's original
    tomorrow = receive(ledger, "d", now=T0 + dt.timedelta(days=1))
    assert (tomorrow.status, tomorrow.quota.used_today, tomorrow.quota.used_total) == ("queued", 1, 4)


def test_over_the_total_quota(ledger: Ledger) -> None:
    for day, sha in enumerate("abcde"):
        assert receive(ledger, sha, now=T0 + dt.timedelta(days=day)).status == "queued"
    refused = receive(ledger, "f", now=T0 + dt.timedelta(days=9))
    assert refused.status == Status.OVER_QUOTA
    assert refused.message.startswith("the team has used all 5 submissions of this challenge")
    assert (refused.quota.used_today, refused.quota.used_total) == (0, 5)


def test_a_refused_submission_is_recorded_and_uses_nothing(ledger: Ledger) -> None:
    refused = ledger.refuse(
        "ch", "team-a", Kind.CODE, "a" * 64, 5, "pilot", "the pilot has no run.sh", "main", "participant"
    )
    assert (refused.status, refused.message, refused.counts_for_quota) == ("refused", "the pilot has no run.sh", False)
    assert ledger.quota("ch", "team-a", LIMITS, T0).used_total == 0
    assert receive(ledger, "a", kind=Kind.CODE).status == "queued"


def test_an_unknown_team_cannot_submit(ledger: Ledger) -> None:
    with pytest.raises(CodefestError, match="team 'nobody' is not enrolled"):
        receive(ledger, "a", team="nobody")


@pytest.mark.parametrize(
    ("kind", "outcome", "failed_runs_count", "counts"),
    [
        (Kind.PREDICTIONS, Status.SCORED, True, 1),
        (Kind.PREDICTIONS, Status.INVALID, True, 0),
        (Kind.CODE, Status.SCORED, False, 1),
        (Kind.CODE, Status.INVALID, True, 1),
        (Kind.CODE, Status.INVALID, False, 0),
        (Kind.CODE, "timeout", True, 1),
        (Kind.CODE, "memory", False, 0),
        (Kind.CODE, "no-output", True, 1),
    ],
)
def test_which_outcomes_use_quota(
    ledger: Ledger, kind: str, outcome: str, failed_runs_count: bool, counts: int
) -> None:
    limits = SubmissionLimits(per_team_per_day=3, total=5, failed_code_runs_count=failed_runs_count)
    receive(ledger, "a", kind=kind, limits=limits)
    assert ledger.quota("ch", "team-a", limits, T0).used_total == 1  # reserved while it waits
    evaluate(ledger, outcome)
    quota = ledger.quota("ch", "Team-A", limits, T0)
    assert (quota.used_today, quota.used_total) == (counts, counts)


# -- workers --------------------------------------------------------------------------------------------------------


def test_workers_claim_the_oldest_of_their_kinds(ledger: Ledger) -> None:
    code = receive(ledger, "a", kind=Kind.CODE, now=T0)
    predictions = receive(ledger, "b", now=T0 + dt.timedelta(seconds=1))
    claimed = ledger.claim("w1", 60, kinds=[Kind.PREDICTIONS], now=T0)
    assert claimed is not None and claimed.id == predictions.id
    claimed = ledger.claim("w2", 60, now=T0)
    assert claimed is not None and claimed.id == code.id
    assert (claimed.status, claimed.worker, claimed.attempts) == ("running", "w2", 1)
    assert claimed.lease_until == T0 + dt.timedelta(seconds=60)
    assert ledger.claim("w3", 60, now=T0) is None


def test_finishing_is_idempotent_and_for_the_claim_holder_only(ledger: Ledger) -> None:
    received = receive(ledger, "a")
    assert not ledger.finish(received.id, "w1", Status.SCORED, "scored")  # queued: nobody holds it
    ledger.claim("w1", 60, now=T0)
    assert not ledger.finish(received.id, "w2", Status.SCORED, "scored")
    cost = Cost(code_seconds=1.5, peak_memory_mb=20.0, cpu_seconds=1.2)
    scores = {Part.PUBLIC: {"f1": MetricValue(0.5, 0.4, 0.6)}}
    assert ledger.finish(received.id, "w1", Status.SCORED, "scored", scores=scores, public_run_id="r1", cost=cost)
    assert not ledger.finish(received.id, "w1", Status.INVALID, "again")  # a redelivered result
    done = ledger.get(received.id)
    assert done is not None
    assert (done.status, done.message, done.public_run_id, done.cost, done.lease_until) == (
        "scored",
        "scored",
        "r1",
        cost,
        None,
    )
    with pytest.raises(ValueError, match="not 'duplicate'"):
        ledger.finish(received.id, "w1", Status.DUPLICATE, "no")
    with pytest.raises(ValueError, match="only a scored submission has scores"):
        ledger.finish(received.id, "w1", Status.INVALID, "no", scores=scores)


def test_an_expired_lease_is_taken_over_and_completed_once(ledger: Ledger) -> None:
    received = receive(ledger, "a")
    ledger.claim("w1", 60, now=T0)
    assert ledger.claim("w2", 60, now=T0 + dt.timedelta(seconds=30)) is None
    assert ledger.renew(received.id, "w1", 60, now=T0 + dt.timedelta(seconds=50))  # until T0 + 110 s
    assert ledger.claim("w2", 60, now=T0 + dt.timedelta(seconds=100)) is None
    later = T0 + dt.timedelta(seconds=111)
    taken = ledger.claim("w2", 60, now=later)
    assert taken is not None and (taken.id, taken.worker, taken.attempts) == (received.id, "w2", 2)
    assert not ledger.renew(received.id, "w1", 60, now=later)
    assert not ledger.finish(received.id, "w1", Status.SCORED, "late worker")
    assert ledger.finish(received.id, "w2", Status.SCORED, "scored")
    done = ledger.get(received.id)
    assert done is not None and (done.status, done.message, done.attempts) == ("scored", "scored", 2)


def test_a_holder_may_finish_after_its_lease_expired_if_nobody_took_over(ledger: Ledger) -> None:
    received = receive(ledger, "a")
    ledger.claim("w1", 1, now=T0)
    assert ledger.finish(received.id, "w1", Status.SCORED, "scored", now=T0 + dt.timedelta(hours=1))


@pytest.mark.parametrize(("failed_runs_count", "counts"), [(True, 1), (False, 0)])
def test_after_three_lost_claims_a_submission_ends_crashed(
    ledger: Ledger, failed_runs_count: bool, counts: int
) -> None:
    limits = SubmissionLimits(per_team_per_day=3, total=5, failed_code_runs_count=failed_runs_count)
    received = receive(ledger, "a", kind=Kind.CODE, limits=limits)
    for attempt in range(3):
        claimed = ledger.claim(f"w{attempt}", 60, now=T0 + dt.timedelta(minutes=2 * attempt))
        assert claimed is not None and claimed.attempts == attempt + 1
    assert ledger.claim("w3", 60, now=T0 + dt.timedelta(minutes=7)) is None
    done = ledger.get(received.id)
    assert done is not None and done.status == "crashed"
    assert done.message == (
        "the evaluation stopped 3 times without a result (last worker: w2); it is not tried again: ask the organisers"
    )
    assert ledger.quota("ch", "team-a", limits, T0).used_total == counts
    assert not ledger.finish(received.id, "w2", Status.SCORED, "too late")


# -- reading --------------------------------------------------------------------------------------------------------


def test_submissions_are_listed_newest_first(ledger: Ledger) -> None:
    ledger.add_team("team-b")
    ids = [receive(ledger, sha, now=T0 + dt.timedelta(seconds=i)).id for i, sha in enumerate("abc")]
    receive(ledger, "a", team="team-b")
    assert [s.id for s in ledger.submissions("ch", "TEAM-A")] == ids[::-1]
    assert [s.id for s in ledger.submissions("ch", "team-a", offset=1, limit=1)] == [ids[1]]
    assert len(ledger.submissions()) == 4 and ledger.submissions("other") == []
    assert ledger.get("no-such-id") is None


def test_the_board_reads_scores_and_per_item_matrices(ledger: Ledger) -> None:
    ids = ["i1", "i2", "i3"]
    submitted = [receive(ledger, sha, now=T0 + dt.timedelta(seconds=i)).id for i, sha in enumerate("abc")]
    receive(ledger, "d")  # queued: not on the board
    for n in range(2):
        per_item = [ItemScores(Part.PRIVATE, ids, {"f1": np.array([n, 1, 0.5]), "acc": np.array([1, n, 0])})]
        scores = {Part.PRIVATE: {"f1": MetricValue(0.1 * n, 0.0, 0.2), "acc": MetricValue(math.nan, math.nan, 1.0)}}
        evaluate(ledger, Status.SCORED, scores=scores | {Part.PUBLIC: {"f1": MetricValue(9, 9, 9)}}, per_item=per_item)
    evaluate(ledger, Status.SCORED, scores={Part.PRIVATE: {"f1": MetricValue(0.7, 0.6, 0.8)}})  # no per-item scores
    board = ledger.board("ch", Part.PRIVATE, ["f1", "acc"])
    assert [row.submission_id for row in board.rows] == submitted
    assert [row.team for row in board.rows] == ["Team-A"] * 3
    assert [row.values["f1"] for row in board.rows] == pytest.approx([0.0, 0.1, 0.7])
    assert board.rows[0].intervals["f1"] == (0.0, 0.2)
    assert math.isnan(board.rows[1].values["acc"]) and board.rows[1].intervals["acc"][1] == 1.0
    assert math.isnan(board.rows[2].values["acc"])
    assert board.per_item["f1"].dtype == np.float32
    np.testing.assert_array_equal(board.per_item["f1"], [[0, 1, 0.5], [1, 1, 0.5], [np.nan] * 3])
    np.testing.assert_array_equal(board.per_item["acc"], [[1, 0, 0], [1, 1, 0], [np.nan] * 3])
    assert board.items_sha256 == ItemScores(Part.PRIVATE, ids, {}).items_sha256
    assert ledger.board("ch", Part.PUBLIC, ["f1"]).per_item["f1"].shape == (3, 0)


def test_the_board_ranks_one_signature_and_carries_breakdowns(ledger: Ledger) -> None:
    groups = {"by": "section", "metric": "f1", "groups": {"A": {"n": 2, "value": math.nan}}}
    old, new = (receive(ledger, sha, now=T0 + dt.timedelta(seconds=i)).id for i, sha in enumerate("ab"))
    scores = {Part.PUBLIC: {"f1": MetricValue(0.5, 0, 1)}, Part.PRIVATE: {"f1": MetricValue(0.4, 0, 1)}}
    evaluate(ledger, Status.SCORED, scores=scores, signature="s:1", breakdowns={Part.PRIVATE: groups})
    evaluate(ledger, Status.SCORED, scores=scores, signature="s:2", breakdowns={Part.PUBLIC: None})
    assert [row.submission_id for row in ledger.board("ch", Part.PRIVATE, ["f1"]).rows] == [old, new]
    (row,) = ledger.board("ch", Part.PRIVATE, ["f1"], signature="s:1").rows
    assert (row.submission_id, row.signature, row.selected_at, row.selection_forced) == (old, "s:1", None, False)
    assert row.breakdown is not None and row.breakdown["by"] == "section"
    assert math.isnan(row.breakdown["groups"]["A"]["value"])  # NaN stays NaN
    (row,) = ledger.board("ch", Part.PUBLIC, ["f1"], signature="s:2").rows
    assert (row.submission_id, row.breakdown) == (new, None)
    assert ledger.board("ch", Part.PUBLIC, ["f1"], signature="s:0").rows == ()
    done = ledger.get(old)
    assert done is not None and done.signature == "s:1"


def test_only_a_scored_submission_has_a_breakdown(ledger: Ledger) -> None:
    received = receive(ledger, "a")
    ledger.claim("w", 60, now=T0)
    with pytest.raises(ValueError, match="only a scored submission has scores"):
        ledger.finish(received.id, "w", Status.INVALID, "no", breakdowns={Part.PUBLIC: {"by": "x"}})
    assert ledger.finish(received.id, "w", Status.INVALID, "line 1", signature="s:1", breakdowns={Part.PUBLIC: None})


def test_a_team_selects_its_own_scored_submission_under_the_signature(ledger: Ledger) -> None:
    ledger.add_team("team-b")
    first, second, waiting = (receive(ledger, sha, now=T0 + dt.timedelta(seconds=i)).id for i, sha in enumerate("abc"))
    evaluate(ledger, Status.SCORED, scores={Part.PUBLIC: {"f1": MetricValue(0.5, 0, 1)}}, signature="s:1")
    evaluate(ledger, Status.SCORED, scores={Part.PUBLIC: {"f1": MetricValue(0.6, 0, 1)}}, signature="s:2")
    theirs = receive(ledger, "a", team="team-b").id
    chosen = ledger.select("ch", "TEAM-A", second, now=T0 + dt.timedelta(hours=1), signature="s:2")
    assert (chosen.id, chosen.selected_at, chosen.selection_forced) == (second, T0 + dt.timedelta(hours=1), False)
    forced = ledger.select("ch", "team-a", first, forced=True, now=T0 + dt.timedelta(hours=2))
    assert (forced.selected_at, forced.selection_forced) == (T0 + dt.timedelta(hours=2), True)
    rows = {row.submission_id: row for row in ledger.board("ch", Part.PUBLIC, ["f1"]).rows}
    assert rows[second].selected_at == T0 + dt.timedelta(hours=1) and rows[first].selection_forced
    with pytest.raises(CodefestError, match="scored under an older evaluation signature") as old:
        ledger.select("ch", "team-a", first, signature="s:2")
    assert old.value.fix == "select a submission scored under the current signature"
    with pytest.raises(CodefestError, match=f"submission {waiting} has status 'queued', not scored"):
        ledger.select("ch", "team-a", waiting)
    for other in (theirs, "no-such-id"):
        with pytest.raises(CodefestError, match=f"submission {other} is not a submission of team 'Team-A' to 'ch'"):
            ledger.select("ch", "team-a", other)
    with pytest.raises(CodefestError, match="is not a submission of team 'Team-A' to 'other'"):
        ledger.select("other", "team-a", second)
    with pytest.raises(CodefestError, match="team 'nobody' is not enrolled"):
        ledger.select("ch", "nobody", second)


def test_the_board_refuses_to_stack_arrays_of_different_items(ledger: Ledger) -> None:
    for n, (sha, ids) in enumerate((("a", ["i1", "i2"]), ("b", ["i2", "i1"]))):
        receive(ledger, sha, now=T0 + dt.timedelta(seconds=n))
        per_item = [ItemScores(Part.PRIVATE, ids, {"f1": np.array([1.0, 0.0])})]
        evaluate(ledger, Status.SCORED, scores={Part.PRIVATE: {"f1": MetricValue(0.5, 0, 1)}}, per_item=per_item)
    with pytest.raises(ValueError, match="come in 2 orders of items"):
        ledger.board("ch", Part.PRIVATE, ["f1"])
    chosen = ItemScores(Part.PRIVATE, ["i2", "i1"], {}).items_sha256
    board = ledger.board("ch", Part.PRIVATE, ["f1"], items_sha256=chosen)
    np.testing.assert_array_equal(board.per_item["f1"], [[np.nan, np.nan], [1.0, 0.0]])


# -- several processes ----------------------------------------------------------------------------------------------


def _submit(url: str, root: str, sha: str, start: Any, results: Any) -> None:
    ledger = Ledger.open(url, Path(root))
    limits = SubmissionLimits(per_team_per_day=5, total=8)
    start.wait()
    received = ledger.receive("ch", "team-a", Kind.PREDICTIONS, sha, 1, "p.csv", None, limits, "main", "participant")
    results.put((received.id, received.sha256, received.status))


def test_twenty_simultaneous_submissions_of_one_team(ledger: Ledger, url: str, tmp_path: Path) -> None:
    """From 20 processes at once, 12 files (8 of them sent twice): exactly the 5 of today's quota are queued, each
    once; a repeat of a queued file is a duplicate; the others are over quota; none is lost."""
    ledger.engine.dispose()  # the children open their own connections
    start, results = FORK.Barrier(20), FORK.Queue()
    shas = [f"{i % 12:064x}" for i in range(20)]
    processes = [FORK.Process(target=_submit, args=(url, str(tmp_path), sha, start, results)) for sha in shas]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    queued = [sha for _, sha, status in outcomes if status == "queued"]
    assert len(queued) == 5 and len(set(queued)) == 5
    assert {status for _, _, status in outcomes} <= {"queued", "duplicate", "over-quota"}
    rows = ledger.submissions("ch", limit=100)
    assert sorted((s.id, s.sha256, s.status) for s in rows) == sorted(outcomes)
    by_id = {s.id: s for s in rows}
    for row in rows:
        if row.status == "duplicate":
            assert row.duplicate_of is not None and by_id[row.duplicate_of].sha256 == row.sha256
            assert by_id[row.duplicate_of].status == "queued"
        if row.status == "over-quota":
            assert row.sha256 not in queued
    assert ledger.quota("ch", "team-a", LIMITS).used_total == 5


def _claim_all(url: str, root: str, worker: str, start: Any, results: Any) -> None:
    ledger = Ledger.open(url, Path(root))
    start.wait()
    while (claimed := ledger.claim(worker, 60)) is not None:
        assert ledger.finish(claimed.id, worker, Status.SCORED, "scored")
        results.put(claimed.id)
    results.put(None)


def test_workers_in_several_processes_evaluate_each_submission_once(ledger: Ledger, url: str, tmp_path: Path) -> None:
    limits = SubmissionLimits(per_team_per_day=30, total=30)
    expected = {receive(ledger, f"{i:02x}", limits=limits, now=None).id for i in range(24)}
    ledger.engine.dispose()
    start, results = FORK.Barrier(4), FORK.Queue()
    workers = [FORK.Process(target=_claim_all, args=(url, str(tmp_path), f"w{i}", start, results)) for i in range(4)]
    for worker in workers:
        worker.start()
    claimed: list[str] = []
    while len([x for x in claimed if x is None]) < 4:
        claimed.append(results.get(timeout=120))
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    done = [x for x in claimed if x is not None]
    assert sorted(done) == sorted(expected)
    assert {s.status for s in ledger.submissions("ch", limit=100)} == {"scored"}


def _claim_and_hang(url: str, root: str, results: Any) -> None:
    ledger = Ledger.open(url, Path(root))
    claimed = ledger.claim("doomed", 2)
    results.put(None if claimed is None else claimed.id)
    time.sleep(600)


def test_a_killed_worker_s_submission_is_completed_exactly_once(ledger: Ledger, url: str, tmp_path: Path) -> None:
    received = receive(ledger, "a", now=None)
    ledger.engine.dispose()
    results = FORK.Queue()
    worker = FORK.Process(target=_claim_and_hang, args=(url, str(tmp_path), results))
    worker.start()
    assert results.get(timeout=60) == received.id
    os.kill(worker.pid or 0, signal.SIGKILL)
    worker.join()
    assert ledger.claim("w2", 60) is None  # the dead worker's lease still runs
    time.sleep(2.2)
    taken = ledger.claim("w2", 60)
    assert taken is not None and (taken.id, taken.attempts) == (received.id, 2)
    assert ledger.finish(received.id, "w2", Status.SCORED, "scored")
    assert not ledger.finish(received.id, "doomed", Status.SCORED, "scored")
    assert ledger.claim("w3", 60) is None
    with Session(ledger.engine) as session:
        assert session.scalar(select(func.count()).select_from(m.Submission)) == 1
    done = ledger.get(received.id)
    assert done is not None and (done.status, done.worker, done.counts_for_quota) == ("scored", "w2", True)


def test_the_board_stacks_the_arrays_when_every_submission_has_one(ledger: Ledger) -> None:
    for n in range(2):
        receive(ledger, f"{n}", now=T0 + dt.timedelta(seconds=n))
        per_item = [ItemScores(Part.PRIVATE, ["i1", "i2"], {"f1": np.array([n, 0.25])})]
        evaluate(ledger, Status.SCORED, scores={Part.PRIVATE: {"f1": MetricValue(0.5, 0, 1)}}, per_item=per_item)
    matrix = ledger.board("ch", Part.PRIVATE, ["f1"]).per_item["f1"]
    np.testing.assert_array_equal(matrix, [[0, 0.25], [1, 0.25]])
    assert matrix.dtype == np.float32 and matrix.flags.writeable
    assert ledger.board("empty", Part.PRIVATE, ["f1"]).per_item["f1"].shape == (0, 0)
