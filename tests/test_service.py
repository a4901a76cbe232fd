"""`codefest serve` as participants meet it: a real uvicorn server on a free port, spoken to over HTTP.

The server runs without workers here, so submissions stay queued: what is tested is everything the service decides
itself (tokens, limits, validation, archives, pagination, problem details). The scored end-to-end test needs the
evaluator behind `codefest.evaluation.workers.evaluate_submission`.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from codefest.challenges.discovery import load
from codefest.evaluation.ledger import Ledger
from codefest.shared_datasets.heldout import build
from tests import launcher
from tests.helpers import bundle_test_ids, bundled_spec, write_challenge
from tests.processes import children

pytestmark = pytest.mark.slow  # starts real servers and worker processes: seconds a test

SLUG = "api-ipc"
UPLOAD_LIMIT = 64 * 1024  # --max-upload-mb 0.0625
API = "/api/v1"


@dataclass(frozen=True)
class Server:
    url: str
    home: Path
    challenges: Path
    tokens: dict[str, str]
    process: launcher.Started

    def client(self, team: str | None = "office-a", token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.tokens[team]}"} if team or token else {}
        return httpx.Client(base_url=self.url + API, headers=headers, timeout=30)

    def uploads(self) -> list[Path]:
        """Every file kept under the workspace's uploads folder."""
        folder = self.home / "uploads"
        return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(home: Path, challenges: Path, *options: str) -> tuple[launcher.Started, str]:
    port = free_port()
    env = {**os.environ, "CODEFEST_HOME": str(home), "CODEFEST_CHALLENGES_PATH": str(challenges)}
    env.pop("CODEFEST_DATABASE_URL", None)
    command = ["serve", "--host", "127.0.0.1", "--port", str(port), *options]
    process = launcher.start(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}{API}/openapi.json", timeout=5).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError(f"the server did not answer within 120 s: {process.communicate()}")


def stop(process: launcher.Started) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    return stdout, stderr


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("service")
    home, challenges = base / "home", base / "challenges"
    spec = bundled_spec("ipc-classification") | {"slug": SLUG}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 300, "seed": 8}}
    spec["submission_limits"] = {"per_team_per_day": 2, "total": 10}
    write_challenge(challenges, spec)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_CHALLENGES_PATH", str(challenges))
        build(load(SLUG), home)
    ledger = Ledger.open(None, home)
    tokens = {team: ledger.add_team(team) for team in ("office-a", "office-b", "office-c")}
    ledger.close()
    process, url = start_server(home, challenges, "--workers", "0", "--max-upload-mb", "0.0625", "--rate-limit", "1e6")
    yield Server(url, home, challenges, tokens, process)
    stop(process)


def predictions(server: Server, path: Path, broken: int = 0) -> Path:
    """A valid predictions file for every test item; the first `broken` lines name unknown ids instead."""
    ids = bundle_test_ids(server.home, SLUG)
    lines = [
        json.dumps({"id": f"NOT-{n}" if n < broken else item, "labels": ["A01B 1/00"]}) for n, item in enumerate(ids)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def post(client: httpx.Client, content: bytes, name: str, kind: str = "predictions") -> httpx.Response:
    return client.post(f"/challenges/{SLUG}/submissions", files={"file": (name, content)}, data={"kind": kind})


def assert_problem(answer: httpx.Response, status: int, *phrases: str) -> dict[str, object]:
    """An RFC 9457 problem: its media type, its members, and the phrases its detail must hold."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    body = answer.json()
    assert {"type", "title", "status", "detail", "instance"} <= set(body)
    assert body["status"] == status and body["instance"] == answer.request.url.path
    assert body["type"].startswith(f"{API}/problems/")
    for phrase in phrases:
        assert phrase in body["detail"], body["detail"]
    return body


def quota_used(server: Server, team: str = "office-a") -> int:
    with server.client(team) as client:
        return client.get(f"/challenges/{SLUG}/submissions").json()["quota"]["used_total"]


# -- reading ---------------------------------------------------------------------------------------------------


def test_the_openapi_document_lists_every_route(server: Server) -> None:
    document = httpx.get(f"{server.url}{API}/openapi.json").json()
    assert set(document["paths"]) == {
        f"{API}/challenges",
        f"{API}/challenges/{{slug}}",
        f"{API}/challenges/{{slug}}/leaderboard",
        f"{API}/challenges/{{slug}}/submissions",
        f"{API}/submissions/{{submission_id}}",
    }
    post_body = document["paths"][f"{API}/challenges/{{slug}}/submissions"]["post"]["requestBody"]
    assert "multipart/form-data" in post_body["content"]
    # no page that would fetch Swagger UI's scripts from the internet: offline it is blank
    docs = httpx.get(f"{server.url}{API}/docs")
    assert docs.status_code == 404 and docs.headers["content-type"] == "application/problem+json"


def test_challenges_are_listed_and_described(server: Server) -> None:
    with server.client(None) as client:
        page = client.get("/challenges").json()
        assert [c["slug"] for c in page["items"]] == [SLUG] and page["next"] is None
        challenge = client.get(f"/challenges/{SLUG}").json()
    assert challenge["primary_metric"] == page["items"][0]["primary_metric"]
    assert challenge["submission_limits"] == {"per_team_per_day": 2, "total": 10, "max_upload_bytes": UPLOAD_LIMIT}
    assert challenge["open_phase"] is not None


def test_an_unknown_challenge_route_or_method_is_a_problem(server: Server) -> None:
    with server.client(None) as client:
        assert_problem(client.get("/challenges/no-such-thing"), 404, "no challenge no-such-thing is served here")
        assert_problem(client.get("/challenges/..%2F..%2Fetc"), 404)
        assert_problem(client.get("/nowhere"), 404, "nothing is served at /api/v1/nowhere")
        assert_problem(client.delete(f"/challenges/{SLUG}"), 405)
        body = assert_problem(client.get("/challenges?limit=0"), 422, "limit")
        assert body["problems"][0]["where"] == "query.limit"


def test_the_leaderboard_has_entries(server: Server) -> None:
    board = httpx.get(f"{server.url}{API}/challenges/{SLUG}/leaderboard", timeout=120).json()
    assert board["challenge"] == SLUG and board["part"] == "public"
    assert board["entries"] == []  # nothing is scored on this server: its workers are off


# -- tokens ----------------------------------------------------------------------------------------------------


def test_a_missing_or_wrong_token_is_401(server: Server) -> None:
    for client in (server.client(None), server.client(token="cf_not-a-token"), server.client(token="cf_two words")):
        with client:
            for answer in (client.get(f"/challenges/{SLUG}/submissions"), post(client, b"x", "p.jsonl")):
                body = assert_problem(answer, 401, "a valid team token is needed")
                assert answer.headers["www-authenticate"].startswith("Bearer")
                assert "office" not in json.dumps(body)
    basic = httpx.get(f"{server.url}{API}/challenges/{SLUG}/submissions", headers={"Authorization": "Basic eDp5"})
    assert_problem(basic, 401)
    assert server.uploads() == []


def test_another_teams_submission_is_not_found(server: Server, tmp_path: Path) -> None:
    with server.client("office-b") as client:
        created = post(client, predictions(server, tmp_path / "b.jsonl").read_bytes(), "b.jsonl").json()
    with server.client("office-a") as client:
        answer = client.get(f"/submissions/{created['id']}")
        body = assert_problem(answer, 404, f"your team has no submission {created['id']}")
        assert "office-b" not in json.dumps(body)
        assert_problem(client.get("/submissions/not-an-id"), 404)
    with server.client("office-b") as client:
        assert client.get(f"/submissions/{created['id']}").json()["status"] == "queued"


# -- submitting ------------------------------------------------------------------------------------------------


def test_a_valid_file_is_queued_with_its_location_and_a_copy_is_a_duplicate(server: Server, tmp_path: Path) -> None:
    content, kept = predictions(server, tmp_path / "p.jsonl").read_bytes(), server.uploads()
    with server.client("office-c") as client:
        answer = post(client, content, "mine.jsonl")
        assert answer.status_code == 202, answer.text
        created = answer.json()
        assert answer.headers["location"] == f"{API}/submissions/{created['id']}"
        assert created["status"] == "queued" and created["source"] == "mine.jsonl" and created["team"] == "office-c"
        assert created["quota"]["used_total"] == 1
        again = post(client, content, "again.jsonl")
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        assert again.json()["duplicate_of"] == created["id"]
        assert client.get(created["url"].removeprefix(API)).json()["id"] == created["id"]
    added = [p for p in server.uploads() if p not in kept]
    assert len(added) == 1 and added[0].read_bytes() == content  # the queued one, for the worker; not the duplicate


def test_an_invalid_file_is_answered_at_once_with_its_problems_and_no_quota(server: Server, tmp_path: Path) -> None:
    before, kept = quota_used(server), server.uploads()
    content = predictions(server, tmp_path / "bad.jsonl", broken=3).read_bytes()
    with server.client() as client:
        body = assert_problem(post(client, content, "bad.jsonl"), 422, "bad.jsonl is not a valid submission")
    assert body["total"] >= 3
    assert any("NOT-0" in problem["what"] for problem in body["problems"])
    assert {"where", "what", "fix"} <= set(body["problems"][0])
    assert str(server.home) not in json.dumps(body)
    assert quota_used(server) == before
    assert server.uploads() == kept


def test_an_oversized_upload_is_413_and_nothing_is_kept(server: Server) -> None:
    kept = server.uploads()
    with server.client() as client:
        body = assert_problem(post(client, b"x" * (UPLOAD_LIMIT + 1), "big.jsonl"), 413, f"{UPLOAD_LIMIT:,} bytes")
        assert body["limit_bytes"] == UPLOAD_LIMIT
        far = post(client, b"x" * (UPLOAD_LIMIT * 4), "huge.jsonl")  # refused on its Content-Length
        assert_problem(far, 413)

        def chunks() -> Iterator[bytes]:  # no Content-Length: stopped at the limit while it streams
            boundary = b"--b0undary"
            yield boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="s.jsonl"\r\n\r\n'
            for _ in range(8):
                yield b"y" * (UPLOAD_LIMIT // 4)
            yield b"\r\n" + boundary + b"--\r\n"

        streamed = client.post(
            f"/challenges/{SLUG}/submissions",
            content=chunks(),
            headers={"Content-Type": "multipart/form-data; boundary=b0undary"},
        )
        assert_problem(streamed, 413)
    assert server.uploads() == kept
    assert not [p for p in (server.home / "uploads").rglob("*") if p.is_dir() and not any(p.iterdir())][2:]


def test_a_form_that_is_not_a_submission_is_a_problem(server: Server) -> None:
    with server.client() as client:
        url = f"/challenges/{SLUG}/submissions"
        assert_problem(client.post(url, content=b"{}", headers={"Content-Type": "application/json"}), 422)
        assert_problem(client.post(url, data={"kind": "predictions"}, files={"other": ("x", b"1")}), 422, "'other'")
        assert_problem(post(client, b"1", "x.jsonl", kind="weights"), 422, "neither predictions nor code")


def test_an_overlong_file_name_is_refused_with_the_limit(server: Server) -> None:
    """A name no file system holds gets a 422 that says the limit, whether or not the parser reads it whole."""
    kept = server.uploads()
    with server.client() as client:
        for name, phrase in (("a" * 300 + ".jsonl", "is 306 bytes long (UTF-8), over"), ("b" * 5000, "is longer than")):
            body = assert_problem(post(client, b"{}\n", name), 422, phrase, "the limit of 255 bytes")
            assert body["limit_bytes"] == 255 and "malformed" not in body["detail"]
    assert server.uploads() == kept


def test_a_count_is_a_lower_bound_only_where_reading_stopped(server: Server, tmp_path: Path) -> None:
    """Past the listing's limit the rest of a file is not read: "at least" and `total_exact` false say so."""
    with server.client() as client:
        few = predictions(server, tmp_path / "few.jsonl", broken=3).read_bytes()
        exact = assert_problem(post(client, few, "few.jsonl"), 422, "(4 problems)")  # 3 lines, 3 ids missing
        many = predictions(server, tmp_path / "many.jsonl", broken=25).read_bytes()
        cut = assert_problem(post(client, many, "many.jsonl"), 422, "(at least 20 problems)")
    assert exact["total"] == 4 and exact["total_exact"] is True
    assert "recorded as refused" in str(exact["detail"])  # the word `codefest submissions` then shows
    with server.client() as client:
        assert client.get(f"/submissions/{exact['submission']}").json()["status"] == "refused"
    assert cut["total"] == 20 and cut["total_exact"] is False
    assert sum(problem["count"] for problem in cut["problems"]) == 20  # type: ignore[union-attr]


def _tar_bytes(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


def test_hostile_archives_are_refused_with_a_message_and_no_quota(server: Server) -> None:
    before, kept = quota_used(server), server.uploads()
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as packed:
        packed.writestr("zeros.bin", bytes(64 * 1024**2))
    cases = {
        "traversal.tar.gz": (_tar_bytes((_member("../../evil.py"), b"x")), "outside its folder: ../../evil.py"),
        "absolute.tar.gz": (_tar_bytes((_member("/etc/evil"), b"x")), "by an absolute path: /etc/evil"),
        "link.tar.gz": (_tar_bytes((_member("etc", tarfile.SYMTYPE, "/etc"), b"")), "holds a symbolic link, etc"),
        "hard.tgz": (_tar_bytes((_member("p", tarfile.LNKTYPE, "/etc/passwd"), b"")), "holds a hard link, p"),
        "bomb.zip": (bomb.getvalue(), "as an archive bomb does"),
        "plain.txt": (b"print(1)", "a pilot is sent packed"),
    }
    with server.client() as client:
        for name, (content, phrase) in cases.items():
            body = assert_problem(post(client, content, name, kind="code"), 422, phrase)
            assert str(server.home) not in json.dumps(body)
    assert quota_used(server) == before
    assert server.uploads() == kept


def test_a_good_pilot_is_unpacked_and_queued(server: Server) -> None:
    content = _tar_bytes((_member("pyproject.toml"), b"[project]\nname='p'\n"), (_member("src/p.py"), b"x = 1\n"))
    with server.client("office-b") as client:
        answer = post(client, content, "pilot.tar.gz", kind="code")
    assert answer.status_code == 202, answer.text
    stored = [p for p in server.uploads() if p.name == "p.py"]
    assert len(stored) == 1 and stored[0].parent.parent.name == "pilot"


# -- listing -----------------------------------------------------------------------------------------------------


def test_the_teams_submissions_are_paginated_with_its_quota(server: Server, tmp_path: Path) -> None:
    with server.client("office-b") as client:
        for n in range(5):  # three pages of two, whatever the other tests sent before
            post(client, predictions(server, tmp_path / f"{n}.jsonl", broken=n + 1).read_bytes(), f"{n}.jsonl")
        first = client.get(f"/challenges/{SLUG}/submissions?limit=2")
        page = first.json()
        assert len(page["items"]) == 2 and page["next"] == f"{API}/challenges/{SLUG}/submissions?offset=2&limit=2"
        assert 'rel="next"' in first.headers["link"]
        rest = client.get(page["next"].removeprefix(API)).json()
        assert rest["previous"] == f"{API}/challenges/{SLUG}/submissions?offset=0&limit=2"
        seen = [item["id"] for item in page["items"] + rest["items"]]
        while rest["next"]:
            rest = client.get(rest["next"].removeprefix(API)).json()
            seen += [item["id"] for item in rest["items"]]
        assert len(seen) == len(set(seen)) >= 5
        assert {item["status"] for item in page["items"]} == {"refused"}  # the newest: invalid files
        assert page["quota"]["remaining"] == page["quota"]["per_team_per_day"] - page["quota"]["used_today"]
    with server.client("office-c") as client:
        theirs = client.get(f"/challenges/{SLUG}/submissions").json()
    assert not set(seen) & {item["id"] for item in theirs["items"]}


# -- the rate limit and stopping -----------------------------------------------------------------------------------


def test_too_many_requests_are_429_and_sigterm_stops_the_workers(server: Server, tmp_path: Path) -> None:
    """On a workspace of its own: its workers find nothing to claim."""
    process, url = start_server(tmp_path / "home", server.challenges, "--workers", "2", "--rate-limit", "3")
    workers = children(process.pid)
    try:
        assert len(workers) == 2
        answers = [httpx.get(f"{url}{API}/challenges") for _ in range(5)]
        assert [a.status_code for a in answers[:3]] == [200, 200, 200]
        limited = answers[-1]
        body = assert_problem(limited, 429, "too many requests")
        assert int(limited.headers["retry-after"]) >= 1 and body["retry_after"] == int(limited.headers["retry-after"])
    finally:
        _, stderr = stop(process)
    assert "Traceback" not in stderr
    assert "stopping 2 worker(s): each has up to 30 s to finish" in stderr  # a wait of up to 30 s is said
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_a_busy_port_is_refused(server: Server) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    env = {**os.environ, "CODEFEST_HOME": str(server.home)}
    result = subprocess.run(
        [sys.executable, "-m", "codefest", "serve", "--port", str(port)], env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr and "Traceback" not in result.stderr


# -- the participants' commands --------------------------------------------------------------------------------------


def codefest_as(
    server: Server, token: str, *args: str, home: Path | None = None, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CODEFEST_HOME": str(home or server.home),
        "CODEFEST_CHALLENGES_PATH": str(server.challenges),
        "CODEFEST_TOKEN": token,
        "COLUMNS": str(columns),
    }
    env.pop("CODEFEST_SERVER", None)
    return launcher.run(args, env=env)


def test_submit_validates_locally_first_and_uploads_nothing_invalid(server: Server, tmp_path: Path) -> None:
    before = quota_used(server)
    with server.client() as client:
        listed = len(client.get(f"/challenges/{SLUG}/submissions").json()["items"])
    bad = predictions(server, tmp_path / "bad.jsonl", broken=2)
    result = codefest_as(server, server.tokens["office-a"], "submit", SLUG, str(bad), "--server", server.url)
    assert result.returncode == 2, result.stderr
    assert "NOT-0" in result.stderr and "Traceback" not in result.stderr
    assert f"checking bad.jsonl against the public test inputs of {SLUG} ..." in result.stderr  # seconds: said
    with server.client() as client:
        assert len(client.get(f"/challenges/{SLUG}/submissions").json()["items"]) == listed
    assert quota_used(server) == before


def test_submitting_dev_predictions_is_said_once(server: Server, tmp_path: Path) -> None:
    """Dev predictions sent as a submission: one message naming the split and the fix, not one line per id."""
    before = quota_used(server)
    dev = [json.loads(line)["id"] for line in (server.home / "bundles" / SLUG / "dev.jsonl").read_text().splitlines()]
    wrong = tmp_path / "dev.jsonl"
    wrong.write_text("".join(json.dumps({"id": item, "labels": ["A01B 1/00"]}) + "\n" for item in dev))
    result = codefest_as(server, server.tokens["office-a"], "submit", SLUG, str(wrong), "--server", server.url)
    assert result.returncode == 2, result.stderr
    assert f"{wrong} predicts the dev items, and a submission predicts the test items" in result.stderr
    assert f"codefest score {SLUG} {wrong} --split dev" in result.stderr
    assert "is not a test item" not in result.stderr and "Traceback" not in result.stderr
    assert quota_used(server) == before


def test_submit_without_a_bundle_shows_the_servers_problems(server: Server, tmp_path: Path) -> None:
    bad = predictions(server, tmp_path / "bad.jsonl", broken=2)
    args = ("submit", SLUG, str(bad), "--server", server.url)
    result = codefest_as(server, server.tokens["office-a"], *args, home=tmp_path / "elsewhere")
    assert result.returncode == 2, result.stderr
    assert "bad.jsonl is not a valid submission" in result.stderr and "NOT-1" in result.stderr
    assert str(server.home) not in result.stderr


def test_submit_counts_the_servers_problems_by_line(server: Server, tmp_path: Path) -> None:
    """One listed problem may stand for many lines: none is said to be left over when all were listed."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "oops\n" * 30 + "".join(json.dumps({"id": f"NOT-{n}", "labels": ["A01B"]}) + "\n" for n in range(25))
    )
    args = ("submit", SLUG, str(bad), "--server", server.url)
    result = codefest_as(server, server.tokens["office-a"], *args, home=tmp_path / "elsewhere")
    assert result.returncode == 2, result.stderr
    assert "(at least 49 problems)" in result.stderr and "lines 1-30" in result.stderr
    assert "more problem" not in result.stderr


def test_submit_refuses_an_overlong_file_name_before_sending(server: Server, tmp_path: Path) -> None:
    """A pilot folder whose packed name would pass the server's limit: said here, the server never asked."""
    pilot = tmp_path / ("p" * 250)
    pilot.mkdir()
    (pilot / "main.py").write_text("x = 1\n")
    offline = f"http://127.0.0.1:{free_port()}"
    result = codefest_as(server, server.tokens["office-a"], "submit", SLUG, str(pilot), "--server", offline)
    assert result.returncode == 2, result.stderr
    assert "the file name is 257 bytes long (UTF-8), over the limit of 255 bytes" in result.stderr
    assert "cannot reach" not in result.stderr and "Traceback" not in result.stderr


def test_submit_no_wait_queues_and_tells_the_quota(server: Server, tmp_path: Path) -> None:
    good = predictions(server, tmp_path / "good.jsonl")
    args = ("submit", SLUG, str(good), "--server", server.url, "--no-wait")
    result = codefest_as(server, server.tokens["office-a"], *args)
    assert result.returncode == 0, result.stderr
    assert "queued" in result.stderr and "submission(s) left (1/2 today, 1/10 in all)" in result.stdout
    listing = codefest_as(server, server.tokens["office-a"], "submissions", SLUG, "--server", server.url)
    assert listing.returncode == 0, listing.stderr
    assert "good.jsonl" in listing.stdout and "queued" in listing.stdout
    submission = re.search(r"submission (\S+)", result.stderr)
    assert submission is not None, result.stderr
    for columns in (60, 80):  # the id `codefest select` takes, whole in a narrow terminal too
        narrow = codefest_as(
            server, server.tokens["office-a"], "submissions", SLUG, "--server", server.url, columns=columns
        )
        assert submission[1] in narrow.stdout and "…" not in narrow.stdout, narrow.stdout


def test_submit_packs_a_pilot_folder(server: Server, tmp_path: Path) -> None:
    pilot = tmp_path / "my-pilot"
    (pilot / "src").mkdir(parents=True)
    (pilot / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (pilot / "src" / "p.py").write_text("x = 2\n")
    (pilot / ".git").mkdir()
    (pilot / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    args = ("submit", SLUG, str(pilot), "--server", server.url, "--no-wait")
    result = codefest_as(server, server.tokens["office-a"], *args)
    assert result.returncode == 0, result.stderr
    assert any(p.as_posix().endswith("/pilot/src/p.py") for p in server.uploads())
    assert not [p for p in server.uploads() if ".git" in p.parts]


def test_submit_says_what_is_wrong_with_the_token_or_the_server(server: Server, tmp_path: Path) -> None:
    good = predictions(server, tmp_path / "good.jsonl")
    wrong = codefest_as(server, "cf_wrong", "submit", SLUG, str(good), "--server", server.url)
    assert wrong.returncode == 2 and "check CODEFEST_TOKEN" in wrong.stderr
    gone = codefest_as(server, "cf_x", "submit", SLUG, str(good), "--server", f"http://127.0.0.1:{free_port()}")
    assert gone.returncode == 2 and "cannot reach the server" in gone.stderr
    unknown = codefest_as(server, server.tokens["office-a"], "submit", "no-such", str(good), "--server", server.url)
    assert unknown.returncode == 2 and "no challenge no-such is served here" in unknown.stderr
    for result in (wrong, gone, unknown):
        assert "Traceback" not in result.stderr


def test_the_address_serve_prints_is_taken_as_pasted() -> None:
    """`codefest serve` prints its address with the API's prefix; pasted into CODEFEST_SERVER, it is the server."""
    from codefest.cli.participants import connect

    for pasted in ("http://127.0.0.1:8000", "http://127.0.0.1:8000/", "http://127.0.0.1:8000/api/v1/"):
        client, base = connect(pasted, "cf_x")
        client.close()
        assert base == "http://127.0.0.1:8000/api/v1"


def test_a_waiting_submission_shows_why_it_waits() -> None:
    from codefest.cli.participants import _waiting

    why = "waiting for a worker that holds the held-out data of ipc"
    assert _waiting({"id": "s1", "status": "queued", "message": why}) == f"s1: queued: {why}"
    assert _waiting({"id": "s1", "status": "queued", "message": "queued"}) == "s1: queued"
    assert _waiting({"id": "s1", "status": "running", "message": None}) == "s1: running"
