"""`codefest serve`'s application: the event as a service, under /api/v1.

Participants list the challenges and the public leaderboard, post a predictions file or a packed pilot, and follow
their team's submissions and quota. What a submission is decided in the request that brings it: an invalid
predictions file or an unsafe archive is answered at once with its problems (recorded as refused, no quota used);
a file over the upload limit is stopped where it passes the limit and nothing of it is kept; the rest is recorded in
the ledger, which decides atomically whether it is queued, a duplicate or over quota. Workers evaluate what is
queued (`codefest.evaluation.workers`), or, with CODEFEST_BROKER_URL set, Celery workers on the broker: each queued
submission is sent there once the ledger has it (`codefest.evaluation.broker`). Messages never carry a path of the
server nor another team's name.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
import secrets
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from codefest import __version__
from codefest.challenges.calendar import open_phase, schedule
from codefest.challenges.discovery import LoadedChallenge, discover, load
from codefest.challenges.spec import SLUG_PATTERN
from codefest.core.errors import CodefestError, printable
from codefest.core.workspace import Workspace
from codefest.evaluation import broker
from codefest.evaluation.intake import check_predictions, unpack_pilot
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.ledger import Submission as Row
from codefest.evaluation.problems import InvalidSubmission, counted
from codefest.evaluation.reading import Limits as ReadingLimits
from codefest.evaluation.records import Kind, Part, Role, Status
from codefest.evaluation.submissions import Quota
from codefest.evaluation.uploads import ArchiveLimits, UploadRefused, archive_kind
from codefest.service import schemas
from codefest.service.forms import FORM_OVERHEAD, read_form, too_large
from codefest.service.problems import ERRORS, Problem, install
from codefest.service.security import Buckets, Rate, address, bearer, limit, token_key, unauthorised
from codefest.shared_datasets.files import sha256_file
from codefest.shared_datasets.heldout import challenge_built

PREFIX = "/api/v1"
MAX_PAGE = 100
SUBMISSION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
SLUG = re.compile(SLUG_PATTERN)


@dataclass(frozen=True)
class Settings:
    max_upload_bytes: int = ReadingLimits().max_bytes  # one upload, either kind; the harness's predictions limit
    archive: ArchiveLimits = field(default_factory=ArchiveLimits)
    rate: Rate = field(default_factory=Rate)
    board_seconds: float = 30.0  # how long a built leaderboard is served before it is built again


@dataclass
class Service:
    root: Path
    ledger: Ledger
    settings: Settings
    buckets: Buckets
    boards: dict[str, tuple[float, tuple[Any, ...], schemas.Leaderboard]] = field(default_factory=dict)
    building: threading.Lock = field(default_factory=threading.Lock)
    enqueue: Callable[[Row], object] | None = None  # with a broker: sends a queued submission to the workers

    # -- challenges ---------------------------------------------------------------------------------------------

    def challenge(self, slug: str) -> LoadedChallenge:
        """A challenge built for this workspace (its record, `Workspace.built`: no vault needed), else 404."""
        missing = Problem(404, "not-found", "Not Found", f"no challenge {printable(slug)} is served here")
        if not SLUG.match(slug) or slug not in discover():
            raise missing
        try:
            loaded = load(slug)
        except CodefestError:
            raise missing from None
        if not challenge_built(slug, self.root):
            raise missing
        return loaded

    def served(self) -> list[str]:
        return sorted(s for s in discover() if SLUG.match(s) and challenge_built(s, self.root))

    def describe(self, loaded: LoadedChallenge) -> schemas.ChallengeOut:
        spec = loaded.spec
        windows = schedule(spec, self.root)
        phase = open_phase(spec, self.root)
        return schemas.ChallengeOut(
            slug=spec.slug,
            title=spec.title,
            task=spec.task,
            version=spec.version,
            description=spec.description,
            metrics=[schemas.Metric(name=m.name, higher_is_better=m.higher_is_better) for m in spec.metrics],
            primary_metric=spec.primary_metric,
            phases=[schemas.PhaseOut(name=w.name, start=w.start, end=w.end) for w in windows],
            open_phase=phase.name if phase else None,
            submission_limits=schemas.Limits(
                per_team_per_day=spec.submission_limits.per_team_per_day,
                total=spec.submission_limits.total,
                max_upload_bytes=self.settings.max_upload_bytes,
            ),
            kinds=[Kind.PREDICTIONS, Kind.CODE],
        )

    # -- the leaderboard ----------------------------------------------------------------------------------------

    def leaderboard(self, loaded: LoadedChallenge) -> schemas.Leaderboard:
        """The public board from the ledger, built again once a submission of the challenge was scored or selected
        since the last build (one indexed query tells), and at least every `board_seconds`; building reads every
        scored submission, under a second for 10,000."""
        slug = loaded.spec.slug
        with self.building:
            stamp = self.ledger.scored_stamp(slug)
            cached = self.boards.get(slug)
            if cached and cached[1] == stamp and time.monotonic() - cached[0] < self.settings.board_seconds:
                return cached[2]
            board = _public_board(loaded, self.root, self.ledger)
            self.boards[slug] = (time.monotonic(), stamp, board)
            return board

    # -- submissions --------------------------------------------------------------------------------------------

    def quota(self, loaded: LoadedChallenge, team: str) -> schemas.QuotaOut:
        return _quota(self.ledger.quota(loaded.spec.slug, team, loaded.spec.submission_limits))

    def submission(self, row: Row, loaded: LoadedChallenge, quota: Quota | None = None) -> schemas.SubmissionOut:
        return schemas.SubmissionOut(
            id=row.id,
            challenge=row.challenge,
            team=row.team,
            kind=row.kind,
            source=row.source,
            sha256=row.sha256,
            size=row.size,
            status=row.status,
            message=row.message,
            received_at=row.received_at,
            finished_at=row.finished_at,
            duplicate_of=row.duplicate_of,
            scores=self._scores(row, loaded) if row.status == Status.SCORED else None,
            quota=_quota(quota) if quota else None,
            url=f"{PREFIX}/submissions/{row.id}",
        )

    def _scores(self, row: Row, loaded: LoadedChallenge) -> dict[str, schemas.Interval]:
        metrics = [m.name for m in loaded.spec.metrics]
        board = self.ledger.board(row.challenge, Part.PUBLIC, metrics)
        found = next((r for r in board.rows if r.submission_id == row.id), None)
        if found is None:
            return {}
        return {
            metric: schemas.Interval(
                value=_number(found.values[metric]),
                ci_low=_number(found.intervals[metric][0]),
                ci_high=_number(found.intervals[metric][1]),
            )
            for metric in metrics
        }

    def intake(self, loaded: LoadedChallenge, team: str, kind: str, source: str, folder: Path, size: int) -> Row:
        """Check the stored upload and hand it to the ledger; the folder is removed unless the ledger queued it."""
        spec, upload = loaded.spec, folder / "upload"
        phase = open_phase(spec, self.root)
        phase_name = phase.name if phase else ""
        sha = sha256_file(upload)
        try:
            if kind == Kind.PREDICTIONS:
                check_predictions(spec, Workspace(self.root).bundle(spec.slug), upload)
                stored = upload
            else:
                packing = archive_kind(source)
                if packing is None:
                    raise UploadRefused(
                        "a pilot is sent packed, as a .tar.gz, .tgz or .zip file",
                        "codefest submit SLUG PILOT_FOLDER packs it for you",
                    )
                stored = folder / "pilot"
                sha = unpack_pilot(upload, packing, stored, self.settings.archive)
                upload.unlink()
        except InvalidSubmission as invalid:
            shutil.rmtree(folder, ignore_errors=True)
            problems = [
                {
                    "where": _scrub(p.where, folder, source, self.root),
                    "what": _scrub(p.what, folder, source, self.root),
                    "fix": _scrub(p.fix, folder, source, self.root),
                    "count": p.count,  # of lines: one entry stands for the same problem on many
                }
                for p in invalid.problems
            ]
            listing = "\n".join(f"{p['where']}: {p['what']}. Fix: {p['fix']}" for p in problems)
            row = self.ledger.refuse(spec.slug, team, kind, sha, size, source, listing, phase_name, Role.PARTICIPANT)
            detail = (
                f"{source} is not a valid submission ({counted(invalid.total, invalid.stopped)}); "
                "correct the file and submit it again: it is recorded as refused and uses none of your quota"
            )
            raise Problem(
                422,
                "invalid-predictions",
                "The predictions file is not valid",
                detail,
                problems=problems,
                total=invalid.total,
                total_exact=not invalid.stopped,  # false: reading stopped early, `total` is a lower bound
                submission=row.id,
            ) from None
        except CodefestError as refused:
            shutil.rmtree(folder, ignore_errors=True)
            detail = _scrub(refused.render(), folder, source, self.root)
            row = self.ledger.refuse(spec.slug, team, kind, sha, size, source, detail, phase_name, Role.PARTICIPANT)
            raise Problem(
                422,
                "unsafe-archive" if isinstance(refused, UploadRefused) else "invalid-pilot",
                "The pilot cannot be accepted",
                detail,
                submission=row.id,
            ) from None
        relative = str(stored.relative_to(self.root))
        row = self.ledger.receive(
            spec.slug, team, kind, sha, size, source, relative, spec.submission_limits, phase_name, Role.PARTICIPANT
        )
        if row.status != "queued":
            shutil.rmtree(folder, ignore_errors=True)
        elif self.enqueue is not None:
            self.enqueue(row)  # after the ledger's commit; a broker that is down leaves it queued for a sweep
        return row


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


def _quota(quota: Quota) -> schemas.QuotaOut:
    return schemas.QuotaOut(
        remaining=quota.remaining,
        used_today=quota.used_today,
        per_team_per_day=quota.limits.per_team_per_day,
        used_total=quota.used_total,
        total=quota.limits.total,
    )


def _scrub(text: str, folder: Path, source: str, root: Path) -> str:
    """A message as a participant may read it: the upload's server paths become its name, the workspace nothing."""
    for path in (folder / "pilot", folder / "upload", folder):
        text = text.replace(str(path), source)
    return text.replace(str(root), "(server)")


def _public_board(loaded: LoadedChallenge, root: Path, ledger: Ledger) -> schemas.Leaderboard:
    from codefest.leaderboard.board import build

    board = build(loaded, root, ledger=ledger)
    entries = [
        schemas.EntryOut(
            team=entry.team,
            rank=entry.rank,
            rank_range=entry.rank_range,
            score=entry.score.value,
            interval=(entry.score.ci_low, entry.score.ci_high),
            group=entry.group,
            baseline=entry.baseline,
            submissions=entry.submissions,
            **asdict(entry.efficiency),
        )
        for entry in board.entries
        if not math.isnan(entry.score.value)
    ]
    return schemas.Leaderboard(
        challenge=board.slug,
        part=board.view,
        primary_metric=board.primary_metric,
        higher_is_better=board.higher_is_better,
        generated=dt.datetime.fromtimestamp(board.generated_ms / 1000, dt.UTC),
        entries=entries,
        notes=board.notes,
        currency=None if board.prices is None else board.prices["currency"],
    )


def _page_links(request: Request, offset: int, limit: int, more: bool) -> dict[str, str | None]:
    path = request.url.path
    following = f"{path}?offset={offset + limit}&limit={limit}" if more else None
    earlier = f"{path}?offset={max(0, offset - limit)}&limit={limit}" if offset > 0 else None
    return {"next": following, "previous": earlier}


def _link_header(response: Response, links: dict[str, str | None]) -> None:
    parts = [f'<{url}>; rel="{rel}"' for rel, url in links.items() if url]
    if parts:
        response.headers["Link"] = ", ".join(parts)


Offset = Annotated[int, Query(ge=0, le=10_000_000, description="How many items to skip.")]
PageSize = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"How many items to return (at most {MAX_PAGE}).")]


SCHEME = HTTPBearer(auto_error=False, description="The team's token, as the organisers issued it.")


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def public(request: Request) -> Service:
    """Anyone may read what is public, at the rate of their address."""
    service = _service(request)
    limit(service.buckets, address(request))
    return service


def team_of(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(SCHEME)]) -> str:
    """The team whose token was sent, at the rate of its token; 401 for anything else."""
    service = _service(request)
    try:
        token = bearer(credentials)
        team = service.ledger.team_for_token(token)
    except Problem:
        team = None
    if team is None:
        limit(service.buckets, address(request))  # wrong tokens cost the address: no guessing at speed
        raise unauthorised()
    limit(service.buckets, token_key(token))
    return team


Public = Annotated[Service, Depends(public)]
Team = Annotated[str, Depends(team_of)]


def create_app(root: Path, ledger_url: str | None, settings: Settings | None = None) -> FastAPI:
    """The service over the workspace `root` and the ledger at `ledger_url` (None: the workspace's own)."""
    settings = settings or Settings()
    ledger = Ledger.open(ledger_url, root)
    service = Service(root, ledger, settings, Buckets(settings.rate))
    sender = broker.Sender(ledger) if broker.configured() else None
    service.enqueue = sender

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if sender is not None:
            sender.close()
        ledger.close()

    app = FastAPI(
        title="codefest",
        version=__version__,
        summary="The event as a service: challenges, leaderboards and submissions of a code fest of AI pilots.",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,  # Swagger UI loads its scripts from a CDN: offline, a blank page; the document is served
        redoc_url=None,
        lifespan=lifespan,
        responses=ERRORS,
    )
    install(app)
    app.state.service = service
    api = APIRouter(prefix=PREFIX)

    @api.get("/challenges", response_model=schemas.Page[schemas.ChallengeOut], tags=["challenges"])
    def challenges(
        request: Request, response: Response, _: Public, offset: Offset = 0, limit: PageSize = 20
    ) -> dict[str, Any]:
        """The challenges served here, by slug; paginated by `offset` and `limit`, `next` names the following page
        (also in the `Link` header)."""
        slugs = service.served()
        page = [service.describe(service.challenge(slug)) for slug in slugs[offset : offset + limit]]
        links = _page_links(request, offset, limit, offset + limit < len(slugs))
        _link_header(response, links)
        return {"items": page, "offset": offset, "limit": limit, **links}

    @api.get("/challenges/{slug}", response_model=schemas.ChallengeOut, tags=["challenges"])
    def challenge(slug: str, _: Public) -> schemas.ChallengeOut:
        """A challenge: its task, metrics, phases (UTC days) and limits."""
        return service.describe(service.challenge(slug))

    @api.get("/challenges/{slug}/leaderboard", response_model=schemas.Leaderboard, tags=["challenges"])
    def leaderboard(slug: str, _: Public) -> schemas.Leaderboard:
        """The public leaderboard: one entry per team, its rank, the range of ranks its uncertainty allows, and its
        primary score with a 95% interval. Rebuilt at most every few seconds."""
        return service.leaderboard(service.challenge(slug))

    @api.post(
        "/challenges/{slug}/submissions",
        status_code=202,
        response_model=schemas.SubmissionOut,
        tags=["submissions"],
        responses={
            200: {"model": schemas.SubmissionOut, "description": "Recorded, not queued: a duplicate or over quota"},
            403: ERRORS[401] | {"description": "The challenge accepts no submission today"},
            413: ERRORS[401] | {"description": "The upload is over the limit; nothing of it was kept"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {
                                "file": {"type": "string", "format": "binary", "description": "predictions or pilot"},
                                "kind": {"type": "string", "enum": [Kind.PREDICTIONS, Kind.CODE]},
                            },
                        }
                    }
                },
            }
        },
    )
    async def submit(slug: str, request: Request, response: Response, team: Team) -> schemas.SubmissionOut:
        """Submit a predictions file (`kind=predictions`, the default) or a pilot packed as .tar.gz, .tgz or .zip
        (`kind=code`). 202 with the queued submission and its `Location`; 200 when recorded but not queued (a
        duplicate, over quota); 422 with the `problems` of an invalid file or an unsafe archive (no quota used)."""
        loaded = await run_in_threadpool(service.challenge, slug)
        if open_phase(loaded.spec, service.root) is None:
            detail = f"challenge {slug} accepts no submission today (UTC); its phases: " + ", ".join(
                str(w) for w in schedule(loaded.spec, service.root)
            )
            raise Problem(403, "closed", "The challenge is closed", detail)
        cap = service.settings.max_upload_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap + FORM_OVERHEAD:
            raise too_large(cap)  # refused before one byte of it is read
        folder = Workspace(service.root).uploads(slug) / secrets.token_hex(16)
        folder.mkdir(parents=True, mode=0o700)
        try:
            form = await read_form(request.headers.get("content-type", ""), request.stream(), folder / "upload", cap)
            kind = form.fields.get("kind", Kind.PREDICTIONS)
            if kind not in (Kind.PREDICTIONS, Kind.CODE):
                raise Problem(
                    422,
                    "invalid-form",
                    "The form is not valid",
                    f"kind {printable(kind)} is neither predictions nor code",
                    problems=[{"where": "kind", "what": "must be predictions or code"}],
                )
            source = printable(Path(form.filename or "upload").name)[:200]
            row = await run_in_threadpool(service.intake, loaded, team, kind, source, folder, form.size)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        out = service.submission(row, loaded, row.quota)
        if row.status == "queued":
            response.headers["Location"] = out.url
        else:
            response.status_code = 200
        return out

    @api.get("/challenges/{slug}/submissions", response_model=schemas.Submissions, tags=["submissions"])
    def submissions(
        slug: str, request: Request, response: Response, team: Team, offset: Offset = 0, limit: PageSize = 20
    ) -> dict[str, Any]:
        """The team's submissions to the challenge, newest first, and its remaining quota; paginated."""
        loaded = service.challenge(slug)
        rows = service.ledger.submissions(slug, team, offset, limit + 1)
        links = _page_links(request, offset, limit, len(rows) > limit)
        _link_header(response, links)
        items = [service.submission(row, loaded) for row in rows[:limit]]
        return {"items": items, "offset": offset, "limit": limit, **links, "quota": service.quota(loaded, team)}

    @api.get("/submissions/{submission_id}", response_model=schemas.SubmissionOut, tags=["submissions"])
    def submission(submission_id: str, team: Team) -> schemas.SubmissionOut:
        """One of the team's submissions: its status, message and, once scored, its public scores; another team's
        is not found."""
        row = service.ledger.get(submission_id) if SUBMISSION_ID.match(submission_id) else None
        if row is None or row.team.casefold() != team.casefold():
            raise Problem(404, "not-found", "Not Found", f"your team has no submission {printable(submission_id)}")
        loaded = service.challenge(row.challenge)
        return service.submission(row, loaded, service.ledger.quota(row.challenge, team, loaded.spec.submission_limits))

    app.include_router(api)
    return app
