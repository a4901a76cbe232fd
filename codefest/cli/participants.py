"""`codefest submit` and `codefest submissions`: the participants' side of the event as a service.

The server is `--server` or CODEFEST_SERVER, the team's token CODEFEST_TOKEN (never an option: it would be in the
shell's history and the process list). Exit codes: 0 once the submission is scored (or, with --no-wait, queued);
2 when it is invalid, refused, over quota, a code run failed, or the server said no; a duplicate is reported with
the outcome of the submission it repeats, and exits as that one did.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from codefest.cli.common import err, out
from codefest.console import records, step, tagged
from codefest.core.errors import CodefestError, printable

if TYPE_CHECKING:
    import httpx
    from rich.progress import Progress

API = "/api/v1"
WAITING = ("received", "queued", "running")
ARCHIVE_ENDINGS = (".tar.gz", ".tgz", ".zip")
POLL_SECONDS = (1.0, 2.0, 3.0, 5.0)  # the waits between status checks: quick at first, then gentler


def submit(
    slug: Annotated[str, typer.Argument(help="The challenge.")],
    path: Annotated[
        Path, typer.Argument(help="A predictions file, a pilot folder, or a packed pilot (.tar.gz, .zip).")
    ],
    server: Annotated[str | None, typer.Option(help="The event's server; default CODEFEST_SERVER.")] = None,
    kind: Annotated[
        str | None, typer.Option(help="predictions or code; default: code for a folder or an archive.")
    ] = None,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="Return once the server has queued it.")] = False,
) -> None:
    """Submit to the event's server (participants): validated here first, uploaded, then followed until scored."""
    client, base = connect(server)
    with client:
        challenge, submitted = send(client, base, slug, path, kind)
        err.print(tagged(submitted["status"], "green", f"submission {submitted['id']} of {submitted['team']}"))
        if no_wait or (submitted["status"] not in WAITING and submitted["status"] != "duplicate"):
            _report(client, base, challenge, submitted)
            return
        final = _wait(client, base, submitted)
        _report(client, base, challenge, final)


def submissions(
    slug: Annotated[str, typer.Argument(help="The challenge.")],
    server: Annotated[str | None, typer.Option(help="The event's server; default CODEFEST_SERVER.")] = None,
) -> None:
    """The team's submissions to a challenge on the event's server, newest first, and the quota left."""
    client, base = connect(server)
    with client:
        challenge = call(client, "GET", f"{base}/challenges/{slug}")
        primary = challenge["primary_metric"]
        headers = ["id", "received (UTC)", "kind", "file", "status", primary]
        rows: list[list[str]] = []
        url: str | None = f"{base}/challenges/{slug}/submissions?limit=100"
        page: dict[str, Any] = {}
        while url:
            page = call(client, "GET", url)
            for item in page["items"]:
                score = (item.get("scores") or {}).get(primary) or {}
                value = f"{score['value']:.4f}" if score.get("value") is not None else ""
                received = item["received_at"][:19].replace("T", " ")
                rows.append([item["id"], received, item["kind"], item["source"], item["status"], value])
            url = f"{_origin(base)}{page['next']}" if page.get("next") else None
    # the id is what `codefest select` takes: whole, or one block per submission where a table would cut it
    out.print(records(f"{slug}: your submissions", headers, rows, {"id", "file"}, out.width))
    out.print(quota_line(page["quota"]), highlight=False)


# -- the server --------------------------------------------------------------------------------------------------


def connect(server: str | None, token: str | None = None) -> tuple[httpx.Client, str]:
    """A client of the event's server and its API's base URL: `server` else CODEFEST_SERVER, `token` else
    CODEFEST_TOKEN (`codefest demo` gives each simulated team's token)."""
    import httpx

    # the address `codefest serve` prints ends with the API's prefix: taken as it is pasted
    address = (server or os.environ.get("CODEFEST_SERVER") or "").rstrip("/").removesuffix(API).rstrip("/")
    if not address:
        raise CodefestError("no server is given", "add --server URL, or set CODEFEST_SERVER=URL")
    if not address.startswith(("http://", "https://")):
        raise CodefestError(f"--server {printable(address)} is not an http(s) URL", "--server http://HOST:PORT")
    token = (token if token is not None else os.environ.get("CODEFEST_TOKEN", "")).strip()
    if not token:
        raise CodefestError("CODEFEST_TOKEN is not set", "set it to the token the organisers gave your team")
    headers = {"Authorization": f"Bearer {token}", "User-Agent": "codefest-submit"}
    timeout = httpx.Timeout(30.0, write=300.0)
    return httpx.Client(headers=headers, timeout=timeout, follow_redirects=False), address + API


def _origin(base: str) -> str:
    return base.removesuffix(API)


def call(client: httpx.Client, method: str, url: str, **arguments: Any) -> dict[str, Any]:
    """The JSON of a successful answer; a problem answer, or no answer, becomes a CodefestError that says why."""
    import httpx

    for _ in range(5):
        try:
            answer = client.request(method, url, **arguments)
        except httpx.TransportError as error:
            raise CodefestError(
                f"cannot reach the server at {_origin(str(url)).split('/api/')[0]} ({type(error).__name__})",
                "check --server or CODEFEST_SERVER, and that the server is running",
            ) from None
        if answer.status_code == 429 and method == "GET":
            time.sleep(min(30, int(answer.headers.get("Retry-After", "2") or 2)))
            continue
        if answer.is_success:
            return dict(answer.json())
        raise _refusal(answer)
    raise _refusal(answer)


FIXES = {
    401: "check CODEFEST_TOKEN: it must be the token the organisers gave your team",
    403: "submit while the challenge is open",
    404: "check the challenge's slug: codefest challenges list, or the server's /api/v1/challenges",
    413: "submit a smaller file: only the predictions, or the pilot without data and models",
    429: "wait a little and try again",
}


def _refusal(answer: httpx.Response) -> CodefestError:
    from codefest.evaluation.problems import counted

    try:
        body = answer.json()
    except ValueError:
        body = {}
    detail = body.get("detail") if isinstance(body, dict) else None
    lines = [str(detail or f"the server answered {answer.status_code} {answer.reason_phrase}")]
    listed = (body.get("problems") or [])[:20] if isinstance(body, dict) else []
    for problem in listed:
        where, what, fix = problem.get("where", ""), problem.get("what", ""), problem.get("fix")
        lines.append(f"  - {where}: {what}" + (f". Fix: {fix}" if fix else ""))
    if isinstance(body, dict) and isinstance(total := body.get("total"), int):
        unlisted = total - sum(problem.get("count", 1) for problem in listed)  # an entry may stand for many lines
        if unlisted > 0:
            lines.append(f"  ... and {counted(unlisted, body.get('total_exact') is False, 'more problem')}")
    return CodefestError("\n".join(lines), FIXES.get(answer.status_code))


# -- before the upload -------------------------------------------------------------------------------------------


def send(
    client: httpx.Client, base: str, slug: str, path: Path, kind: str | None = None, *, show_upload: bool = True
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate `path` here (a predictions file, against the bundle when the workspace has it), pack a pilot folder,
    upload it: the challenge as the server describes it, and the submission as the server recorded it.
    `show_upload` draws a progress bar of the upload (not under another live display, as in `codefest demo`)."""
    kind = kind or ("code" if path.is_dir() or path.name.lower().endswith(ARCHIVE_ENDINGS) else "predictions")
    if kind not in ("predictions", "code"):
        raise CodefestError(f"--kind {printable(kind)} is neither predictions nor code", "--kind predictions")
    if path.is_symlink() or not path.exists():
        raise CodefestError(f"{printable(str(path))} not found", "give the predictions file or the pilot folder")
    _name_within_limit(_sent_name(path))
    challenge = call(client, "GET", f"{base}/challenges/{slug}")
    if kind == "predictions":
        _check_locally(slug, path, show_upload)
    with _packed(path) as upload:
        _within_limit(upload, challenge["submission_limits"]["max_upload_bytes"])
        url = f"{base}/challenges/{slug}/submissions"
        submitted = _upload(client, url, upload, path.name, kind, show_upload)
    return challenge, submitted


def _check_locally(slug: str, path: Path, show: bool = True) -> None:
    """Validate the file against the public bundle when this workspace has it: problems are found without a round
    trip, and without using the server's patience. `show`: a spinner while it loads and checks (seconds), when no
    other live display is drawing."""
    from codefest.core.workspace import Workspace

    checking = f"checking {path.name} against the public test inputs of {slug}"
    with step(err, checking) if show else nullcontext():
        from codefest.evaluation.intake import TEST_INPUTS

        bundle = Workspace.current().bundle(slug)
        if not (bundle / TEST_INPUTS).is_file():
            err.print(f"no bundle of {slug} here ({bundle}): the server validates the file", highlight=False)
            return
        if not _valid_here(slug, bundle, path):
            return
    err.print(tagged("valid", "green", f"{path.name} against the public test inputs of {slug}"))


def _valid_here(slug: str, bundle: Path, path: Path) -> bool:
    """True when the file is valid; InvalidSubmission (exit 2, nothing uploaded) when not; False when this checkout
    does not declare the challenge (the server checks)."""
    from codefest.challenges.discovery import load
    from codefest.evaluation.intake import check_predictions
    from codefest.evaluation.problems import InvalidSubmission

    try:
        spec = load(slug).spec
    except CodefestError:
        return False
    try:
        check_predictions(spec, bundle, path)
    except InvalidSubmission as invalid:
        from codefest.cli.scoring import other_split

        other_split(slug, "test", path, invalid.total)  # dev predictions sent by mistake: said once
        raise
    return True


@contextmanager
def _packed(path: Path) -> Iterator[Path]:
    """The file to upload: the path itself, or a pilot folder packed as tar.gz with the entries the sandbox copies."""
    if not path.is_dir():
        yield path
        return
    from codefest.evaluation.pilot_tree import walk

    entries = walk(path)
    links = [entry.relative for entry in entries if entry.kind == "link"]
    if links:
        raise CodefestError(
            f"the pilot holds a link, {printable(links[0])}; the server accepts files and folders only",
            "replace the link by the file it points to",
        )
    with tempfile.TemporaryDirectory(prefix="codefest-submit-") as scratch:
        packed = Path(scratch) / _sent_name(path)
        with tarfile.open(packed, "w:gz") as tar:
            for entry in entries:
                tar.add(path / entry.relative, arcname=entry.relative, recursive=False)
        yield packed


def _sent_name(path: Path) -> str:
    """The file name the upload carries: the file's own, or the packed pilot's."""
    return f"{path.resolve().name or 'pilot'}.tar.gz" if path.is_dir() else path.name


def _name_within_limit(name: str) -> None:
    """The server's limit on a file name, said before anything is validated or sent."""
    from codefest.evaluation.uploads import MAX_NAME_BYTES, long_name

    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES:
        raise long_name(size)


def _within_limit(upload: Path, limit: int) -> None:
    size = upload.stat().st_size
    if size > limit:
        raise CodefestError(
            f"{printable(upload.name)} has {size:,} bytes, over the server's limit of {limit:,}",
            FIXES[413],
        )


class _Counted:
    """A file whose reads move a progress bar: httpx streams the upload from it."""

    def __init__(self, handle: IO[bytes], progress: Progress, task: Any) -> None:
        self._handle, self._progress, self._task = handle, progress, task

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._progress.advance(self._task, len(data))
        return data

    def fileno(self) -> int:
        return self._handle.fileno()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

    def tell(self) -> int:
        return self._handle.tell()


def _upload(client: httpx.Client, url: str, upload: Path, name: str, kind: str, show: bool) -> dict[str, Any]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    filename = upload.name if upload.name.endswith(ARCHIVE_ENDINGS) else name
    if not show:
        with upload.open("rb") as handle:
            return call(
                client, "POST", url, files={"file": (filename, handle, "application/octet-stream")}, data={"kind": kind}
            )
    with (
        upload.open("rb") as handle,
        Progress(
            "uploading", BarColumn(), DownloadColumn(), TransferSpeedColumn(), console=err, transient=True
        ) as progress,
    ):
        task = progress.add_task("upload", total=upload.stat().st_size)
        files = {"file": (filename, _Counted(handle, progress, task), "application/octet-stream")}
        return call(client, "POST", url, files=files, data={"kind": kind})


# -- after it ----------------------------------------------------------------------------------------------------


def _wait(client: httpx.Client, base: str, submitted: dict[str, Any]) -> dict[str, Any]:
    """Poll the submission (the original, for a duplicate) until it is decided, showing its status meanwhile."""
    current = submitted
    if current["status"] == "duplicate" and current.get("duplicate_of"):
        err.print(current["message"], highlight=False, markup=False)
        current = call(client, "GET", f"{base}/submissions/{current['duplicate_of']}")
    pauses = iter(POLL_SECONDS)
    said = _waiting(current)
    if not err.is_terminal:  # a pipe or a log gets a line each time what the service says changes
        err.print(said, highlight=False, markup=False)
    with err.status(said) as status:
        while current["status"] in WAITING:
            time.sleep(next(pauses, POLL_SECONDS[-1]))
            current = call(client, "GET", f"{base}/submissions/{current['id']}")
            if (now := _waiting(current)) != said and current["status"] in WAITING:
                said = now
                status.update(said)
                if not err.is_terminal:
                    err.print(said, highlight=False, markup=False)
    return current


def _waiting(submission: dict[str, Any]) -> str:
    """The status and, when it says more, the service's message: why a submission waits ("waiting for a worker that
    holds the held-out data ...") is worth reading while one waits."""
    status, message = submission["status"], submission.get("message") or ""
    said = f"{submission['id']}: {status}"
    return f"{said}: {message}" if message and message != status else said


def _report(client: httpx.Client, base: str, challenge: dict[str, Any], final: dict[str, Any]) -> None:
    status, primary = final["status"], challenge["primary_metric"]
    scored = status == "scored"
    fine = scored or status in (*WAITING, "duplicate")  # with --no-wait: taken, or taken before
    err.print(tagged(status, "green" if fine else "red", f"submission {final['id']}"))
    if final.get("scores"):
        table = Table("metric (public part)", "value", "95% interval")
        for metric, value in final["scores"].items():
            label = f"{metric} (primary)" if metric == primary else metric
            if value["value"] is None:
                table.add_row(label, "n/a", "")
            else:
                table.add_row(label, f"{value['value']:.4f}", f"[{value['ci_low']:.4f}, {value['ci_high']:.4f}]")
        out.print(table)
    target = out if fine else err
    if final.get("message") and not scored:
        target.print(final["message"], highlight=False, markup=False)
    if scored:
        out.print(place(client, base, challenge["slug"], final["team"]), highlight=False)
    quota = (
        final.get("quota") or call(client, "GET", f"{base}/challenges/{challenge['slug']}/submissions?limit=1")["quota"]
    )
    target.print(quota_line(quota), highlight=False)
    if not fine:
        raise typer.Exit(2)


def place(client: httpx.Client, base: str, slug: str, team: str) -> str:
    return place_on(call(client, "GET", f"{base}/challenges/{slug}/leaderboard"), team)


def place_on(board: dict[str, Any], team: str) -> str:
    """The team's place on a public leaderboard as the server sent it."""
    entry = next((e for e in board["entries"] if e["team"].casefold() == team.casefold()), None)
    if entry is None or entry["rank"] is None:
        return "the public leaderboard does not rank your team yet"
    ranked = sum(1 for e in board["entries"] if e["rank"] is not None)
    low, high = entry["rank_range"] or (entry["rank"], entry["rank"])
    spread = f" (ranks {low}-{high} within the uncertainty)" if low != high else ""
    return (
        f"public leaderboard: rank {entry['rank']} of {ranked}{spread}, {board['primary_metric']} {entry['score']:.4f}"
    )


def quota_line(quota: dict[str, Any]) -> str:
    return (
        f"{quota['remaining']} submission(s) left ({quota['used_today']}/{quota['per_team_per_day']} today, "
        f"{quota['used_total']}/{quota['total']} in all)"
    )
