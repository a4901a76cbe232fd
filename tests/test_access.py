"""Access control against a real `mlflow server --app-name basic-auth` started here, set up with `codefest access`.

An organiser account evaluates two real submissions; then each kind of account is checked with MLflow's own client
and with raw HTTP: a participant reads the public runs and nothing of the private ones, and writes nothing.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from typer.testing import CliRunner, Result

from codefest.challenges.discovery import load
from codefest.cli.access import app
from codefest.core.errors import CodefestError
from codefest.evaluation import roster
from codefest.evaluation.access import Experiments, server_command, server_files
from codefest.evaluation.evaluate import Evaluator
from codefest.evaluation.records import Status, Tag
from codefest.shared_datasets.heldout import build
from tests.helpers import bundled_spec, right_every, write_challenge
from tests.processes import stop_group

pytestmark = pytest.mark.slow  # starts a tracking server with access control

SLUG = "access-ipc"
TRAINING = "ipc-pilot"  # a baked pilot's experiment is named after its project
PRIMARY = "top_prediction_at_subclass"
ADMIN = "codefest-admin"
# Test values only, for a server that lives as long as this module: never real passwords.
PASSWORDS = {
    ADMIN: "test-only-admin-password",
    "organiser": "test-only-organiser-password",
    "participant": "test-only-participant-password",
    "stranger": "test-only-stranger-password",
    "former": "test-only-former-password",  # a participant whose challenge is taken back
}
SERVER_START_SECONDS = 120  # ~6-10 s on an idle machine, several times that on a busy one


@dataclass(frozen=True)
class Event:
    uri: str
    home: Path
    challenges: Path
    experiments: Experiments
    public_runs: dict[str, str]  # team -> run id
    public_ids: set[str]
    private_ids: set[str]
    training: str  # an experiment of the organisers' own: a pilot's training runs
    granted: str  # what `codefest access grant` printed for the participant


# -- helpers ----------------------------------------------------------------------------------------------------


def _cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(app, list(args), input=input)


def _ok(result: Result) -> str:
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    return result.output


def _refused(result: Result, *expected: str) -> None:
    assert isinstance(result.exception, CodefestError), f"{result.output}\n{result.exception!r}"
    for text in expected:
        assert text in result.exception.render()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _http(uri: str, path: str, user: str | None = None, password: str | None = None) -> tuple[int, bytes]:
    """A plain GET with basic-auth credentials, as a browser or curl would send it."""
    request = urllib.request.Request(uri + path)
    if user:
        token = base64.b64encode(f"{user}:{password or PASSWORDS[user]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read()


def _graphql(uri: str, user: str, query: str) -> dict[str, Any]:
    body = json.dumps({"query": query}).encode()
    request = urllib.request.Request(uri + "/graphql", data=body, headers={"Content-Type": "application/json"})
    token = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _status(error: Exception) -> int | None:
    if isinstance(error, MlflowException):
        return error.get_http_status_code()
    if isinstance(error, requests.HTTPError) and error.response is not None:
        return error.response.status_code
    return None


def _denied(call: Callable[[], object]) -> None:
    with pytest.raises((MlflowException, requests.HTTPError)) as raised:
        call()
    assert _status(raised.value) == 403, raised.value


def _login(monkeypatch: pytest.MonkeyPatch, uri: str, user: str) -> MlflowClient:
    """MlflowClient reads the credentials from the environment on every request."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORDS[user])
    return MlflowClient(tracking_uri=uri)


def _artifact(client: MlflowClient, run_id: str, name: str, folder: Path) -> str:
    return Path(client.download_artifacts(run_id, name, str(folder))).read_text(encoding="utf-8")


# -- the event: a challenge, a server, accounts, two evaluated submissions ---------------------------------------


def _challenge(base: Path) -> tuple[Path, Path]:
    spec = bundled_spec("ipc-classification") | {"slug": SLUG}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 200, "seed": 4}}
    ranked = {spec["primary_metric"], *spec["tie_breakers"]}
    spec["metrics"] = [m for m in spec["metrics"] if m["name"] in ranked]  # fewer bootstraps: a faster fixture
    write_challenge(base / "challenges", spec)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_CHALLENGES_PATH", str(base / "challenges"))
        build(load(SLUG), base / "home")
    return base / "challenges", base / "home"


@contextmanager
def _server(home: Path, log: Path) -> Iterator[str]:
    """`mlflow server` as `codefest access server` would start it, in a process group of its own."""
    port = _free_port()
    command, env = server_command(home, port)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=home, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(uri, process, log)
        yield uri
    finally:
        stop_group(process, 20)


def _wait_until_healthy(uri: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"mlflow server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if _http(uri, "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"mlflow server did not answer within {SERVER_START_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def event(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Event]:
    base = tmp_path_factory.mktemp("access")
    challenges, home = _challenge(base)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_HOME", str(home))
        env.setenv("CODEFEST_CHALLENGES_PATH", str(challenges))
        _ok(_cli("config", "--admin", ADMIN, input=f"{PASSWORDS[ADMIN]}\n{PASSWORDS[ADMIN]}\n"))
        with _server(home, base / "server.log") as uri:
            _login(env, uri, ADMIN)
            for user in ("organiser", "participant", "stranger"):
                _ok(_cli("add-user", user, "--password", PASSWORDS[user]))
            _ok(_cli("grant", SLUG, "organiser", "--role", "organiser"))
            granted = _ok(_cli("grant", SLUG, "participant", "--role", "participant"))
            admin = MlflowClient(tracking_uri=uri)
            training = admin.create_experiment(TRAINING)  # the organisers train a baseline pilot on the server
            admin.log_metric(admin.create_run(training, run_name="baseline").info.run_id, "accuracy", 0.5)
            _login(env, uri, "organiser")
            roster.add(home, ["team-a", "team-b"])
            evaluator = Evaluator(load(SLUG), home)
            outcomes = {
                team: evaluator.predictions(team, right_every(home, SLUG, base / f"{team}.jsonl", every))
                for team, every in (("team-a", 2), ("team-b", 3))
            }
            assert all(o.status == "scored" and o.run_id for o in outcomes.values()), outcomes
            tracker = evaluator.tracker
            experiments = Experiments(tracker.public, tracker.private)
            runs = {team: str(o.run_id) for team, o in outcomes.items()}
            env.delenv("MLFLOW_TRACKING_USERNAME")
            env.delenv("MLFLOW_TRACKING_PASSWORD")
            yield Event(
                uri, home, challenges, experiments, runs, evaluator.public_ids, evaluator.private_ids, training, granted
            )


Login = Callable[[str], MlflowClient]


@pytest.fixture
def login(event: Event, monkeypatch: pytest.MonkeyPatch) -> Login:
    """Switches the account of every MLflow client: they read the credentials from the environment per request."""
    return lambda user: _login(monkeypatch, event.uri, user)


def _private_run_id(client: MlflowClient, event: Event) -> str:
    """The participant can see which private run belongs to a public one, but not its content."""
    return client.get_run(event.public_runs["team-a"]).data.tags[Tag.PRIVATE_RUN_ID]


# -- participants ---------------------------------------------------------------------------------------------


def test_participant_reads_the_public_runs_metrics_and_artifacts(login: Login, event: Event, tmp_path: Path) -> None:
    participant = login("participant")
    runs = participant.search_runs([event.experiments.public])
    assert {r.data.tags[Tag.TEAM] for r in runs} == {"team-a", "team-b"}
    assert all(r.data.tags[Tag.STATUS] == Status.SCORED and PRIMARY in r.data.metrics for r in runs)
    run_id = event.public_runs["team-a"]
    assert participant.get_metric_history(run_id, PRIMARY)[0].value == participant.get_run(run_id).data.metrics[PRIMARY]
    result = json.loads(_artifact(participant, run_id, "result.json", tmp_path))
    assert result["n_items"] == len(event.public_ids)
    assert [e.path for e in participant.list_artifacts(run_id)] == ["result.json"]  # per-item scores stay private
    assert [e.name for e in participant.search_experiments()] == [SLUG]


def test_participant_lists_only_the_public_experiment_of_the_challenge(login: Login, event: Event) -> None:
    """MLflow's basic-auth app filters experiment searches by read permission, the UI's own requests included."""
    participant = login("participant")
    assert [e.name for e in participant.search_experiments()] == [SLUG]
    status, body = _http(event.uri, "/ajax-api/2.0/mlflow/experiments/search?max_results=25", "participant")
    assert status == 200 and [e["name"] for e in json.loads(body)["experiments"]] == [SLUG]
    _denied(lambda: participant.get_experiment(event.training))
    assert participant.search_runs([event.training]) == []
    assert {e.name for e in login("organiser").search_experiments()} == {SLUG, f"{SLUG}/private"}


def test_participant_is_told_where_to_follow_the_scores(
    login: Login, event: Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The address opens the runs list laid out by the challenge: what the evaluation keeps (no tag rewritten)."""
    from codefest.evaluation.tracking import NOTE, VIEW_TAG, runs_address, runs_view

    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(event.challenges))

    address = runs_address(event.experiments.public, event.uri, workspace="default")
    assert f"participant follows the scores at {address}" in event.granted
    tags = login("participant").get_experiment(event.experiments.public).tags
    assert json.loads(tags[VIEW_TAG])["orderByKey"] == f"metrics.`{PRIMARY}`"
    assert tags[NOTE] == runs_view(load(SLUG)).description


def test_participant_in_the_browser_sees_the_runs_and_only_the_public_experiment(event: Event) -> None:
    """The address `grant` printed, opened in chromium (fresh profile) with the participant's credentials: the runs
    list sorted by the primary metric; MLflow's experiment list shows the challenge, not its private experiment nor
    the organisers' training one."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from tests.test_mlflow_view import ARTIFACTS, CHROMIUM, FLAGS, ROWS

    address = event.granted.split("follows the scores at ")[1].split()[0]
    credentials = {"username": "participant", "password": PASSWORDS["participant"]}
    column = f"metrics.`{PRIMARY}`"
    with sync_playwright() as driver, tempfile.TemporaryDirectory(prefix="codefest-chromium-") as profile:
        context = driver.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=FLAGS,
            viewport={"width": 1400, "height": 900},
            http_credentials=credentials,  # type: ignore[arg-type]
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.goto(address)
            page.locator(".ag-row .ag-cell").first.wait_for(timeout=60_000)
            page.wait_for_timeout(500)
            rows = page.evaluate(ROWS, column)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "mlflow-view-participant-1400.png"))
            page.goto(f"{event.uri}/#/experiments?workflowType=machine_learning&workspace=default")
            page.get_by_role("row").filter(has_text=SLUG).first.wait_for(timeout=60_000)  # the list's row
            page.wait_for_timeout(1000)  # every row of the first page
            listed = " | ".join(page.get_by_role("row").all_inner_texts())
            page.screenshot(path=str(ARTIFACTS / "mlflow-view-participant-experiments.png"))
        finally:
            context.close()
    values = [float(value) for _, value in rows if value not in ("", "-", None)]
    assert len(values) == 2 and values == sorted(values, reverse=True)
    assert {name.split(" #")[0] for name, _ in rows} == {"team-a", "team-b"}
    assert SLUG in listed and f"{SLUG}/private" not in listed and TRAINING not in listed, listed


def test_participant_cannot_read_the_private_experiment_or_its_runs(login: Login, event: Event, tmp_path: Path) -> None:
    participant = login("participant")
    private = event.experiments.private
    private_run = _private_run_id(participant, event)
    _denied(lambda: participant.get_experiment(private))
    _denied(lambda: participant.get_experiment_by_name(f"{SLUG}/private"))
    _denied(lambda: participant.get_run(private_run))
    _denied(lambda: participant.get_metric_history(private_run, PRIMARY))
    _denied(lambda: participant.list_artifacts(private_run))
    _denied(lambda: participant.download_artifacts(private_run, "result.json", str(tmp_path)))
    # Searches answer with what the account may read: nothing of the private experiment (MLflow filters, no 403).
    assert participant.search_runs([private]) == []
    assert {r.info.experiment_id for r in participant.search_runs([event.experiments.public, private])} == {
        event.experiments.public
    }
    assert len(login("organiser").search_runs([private])) == 2  # they are there


def _private_paths(organiser: MlflowClient, event: Event) -> dict[str, str]:
    """Values for the endpoint templates, read by the organiser: a private run and a public one."""
    private = organiser.get_run(_private_run_id(organiser, event))
    public = organiser.get_run(event.public_runs["team-a"])
    for run in (private, public):
        assert run.info.artifact_uri.startswith("mlflow-artifacts:/")  # served, so checked, by the server
    return {
        "private_run": private.info.run_id,
        "private_experiment": private.info.experiment_id,
        "private_artifacts": private.info.artifact_uri.removeprefix("mlflow-artifacts:/"),
        "public_run": public.info.run_id,
        "public_experiment": public.info.experiment_id,
        "public_artifacts": public.info.artifact_uri.removeprefix("mlflow-artifacts:/"),
    }


READ_ENDPOINTS = {
    "get run": "/api/2.0/mlflow/runs/get?run_id={run}",
    "get run (UI)": "/ajax-api/2.0/mlflow/runs/get?run_id={run}",
    "get experiment": "/api/2.0/mlflow/experiments/get?experiment_id={experiment}",
    "metric history": f"/api/2.0/mlflow/metrics/get-history?run_id={{run}}&metric_key={PRIMARY}",
    "metric history (UI)": "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval?run_ids={run}&metric_key=" + PRIMARY,
    "list artifacts": "/api/2.0/mlflow/artifacts/list?run_id={run}",
    "get-artifact": "/get-artifact?path=result.json&run_uuid={run}",
    "proxied artifact": "/api/2.0/mlflow-artifacts/artifacts/{artifacts}/result.json",
    "proxied artifact (UI)": "/ajax-api/2.0/mlflow-artifacts/artifacts/{artifacts}/result.json",
    "proxied listing": "/api/2.0/mlflow-artifacts/artifacts?path={artifacts}",
    "proxied experiment listing": "/api/2.0/mlflow-artifacts/artifacts?path={artifacts_root}",
}


def _fill(template: str, paths: dict[str, str], part: str) -> str:
    artifacts = paths[f"{part}_artifacts"]
    return template.format(
        run=paths[f"{part}_run"],
        experiment=paths[f"{part}_experiment"],
        artifacts=artifacts,
        artifacts_root=artifacts.split(f"/{paths[f'{part}_run']}")[0],
    )


@pytest.mark.parametrize("endpoint", sorted(READ_ENDPOINTS))
def test_every_read_endpoint_closes_the_private_run_to_participants(endpoint: str, login: Login, event: Event) -> None:
    paths = _private_paths(login("organiser"), event)
    private, public = (_fill(READ_ENDPOINTS[endpoint], paths, part) for part in ("private", "public"))
    assert _http(event.uri, private, "participant")[0] == 403
    assert _http(event.uri, private, "stranger")[0] == 403
    assert _http(event.uri, private)[0] == 401
    assert _http(event.uri, private, "participant", "a-wrong-password")[0] == 401
    organiser_status, body = _http(event.uri, private, "organiser")
    assert organiser_status == 200 and body  # the same address does hold the private data
    assert _http(event.uri, public, "participant")[0] == 200


def test_graphql_gives_participants_public_runs_only(login: Login, event: Event) -> None:
    organiser = login("organiser")
    query = 'query {{ mlflowGetRun(input: {{runId: "{}"}}) {{ run {{ data {{ metrics {{ key value }} }} }} }} }}'
    private_run, public_run = _private_run_id(organiser, event), event.public_runs["team-a"]
    assert _graphql(event.uri, "participant", query.format(private_run))["data"]["mlflowGetRun"] is None
    assert _graphql(event.uri, "organiser", query.format(private_run))["data"]["mlflowGetRun"]["run"]
    assert _graphql(event.uri, "participant", query.format(public_run))["data"]["mlflowGetRun"]["run"]


def test_participant_writes_nothing(login: Login, event: Event) -> None:
    public, private = event.experiments.public, event.experiments.private
    run_id = event.public_runs["team-b"]
    before = login("organiser").get_run(run_id)
    participant = login("participant")
    _denied(lambda: participant.create_run(public))
    _denied(lambda: participant.create_run(private))
    _denied(lambda: participant.set_tag(run_id, "status", "scored"))
    _denied(lambda: participant.log_metric(run_id, PRIMARY, 1.0))
    _denied(lambda: participant.log_text(run_id, '{"n_items": 0}', "result.json"))
    _denied(lambda: participant.set_terminated(run_id, "FAILED"))
    _denied(lambda: participant.delete_run(run_id))
    _denied(lambda: participant.log_metric(_private_run_id(participant, event), PRIMARY, 1.0))
    _denied(lambda: participant.delete_experiment(public))
    # Workspaces keep experiment creation for the admin: no one can take the name of a future private experiment.
    _denied(lambda: participant.create_experiment("next-challenge/private"))
    organiser = login("organiser")
    after = organiser.get_run(run_id)
    assert (after.data.tags, after.data.metrics) == (before.data.tags, before.data.metrics)
    assert after.info.lifecycle_stage == "active" and after.info.status == "FINISHED"
    assert [e.path for e in organiser.list_artifacts(run_id)] == ["result.json"]
    assert [len(organiser.search_runs([e])) for e in (public, private)] == [2, 2]


def test_an_account_without_a_grant_reads_nothing(login: Login, event: Event) -> None:
    """default_permission = NO_PERMISSIONS: even the public experiment needs a grant."""
    stranger = login("stranger")
    _denied(lambda: stranger.get_experiment(event.experiments.public))
    _denied(lambda: stranger.get_run(event.public_runs["team-a"]))
    assert stranger.search_runs([event.experiments.public]) == []
    assert stranger.search_experiments() == []


def test_a_revoked_challenge_is_no_longer_listed(login: Login, event: Event, monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed challenge leaves the participant's experiment list; its private experiment stays denied."""
    _as_admin(monkeypatch, event)
    _ok(_cli("add-user", "former", "--password", PASSWORDS["former"]))
    _ok(_cli("grant", SLUG, "former", "--role", "participant"))
    assert [e.name for e in login("former").search_experiments()] == [SLUG]
    _as_admin(monkeypatch, event)
    assert f"former: {SLUG} NO_PERMISSIONS, {SLUG}/private DENY" in _ok(_cli("revoke", SLUG, "former"))
    assert f"former: {SLUG} NO_PERMISSIONS" in _ok(_cli("revoke", SLUG, "former"))  # again: nothing to take back
    former = login("former")
    assert former.search_experiments() == []
    _denied(lambda: former.get_run(event.public_runs["team-a"]))
    _denied(lambda: former.get_experiment(event.experiments.public))


# -- organisers -----------------------------------------------------------------------------------------------


def test_organiser_reads_the_private_scores_and_writes_both_experiments(
    login: Login, event: Event, tmp_path: Path
) -> None:
    organiser = login("organiser")
    private_run = _private_run_id(organiser, event)
    assert PRIMARY in organiser.get_run(private_run).data.metrics
    assert json.loads(_artifact(organiser, private_run, "result.json", tmp_path))["n_items"] == len(event.private_ids)
    organiser.set_tag(event.public_runs["team-a"], "reviewed", "yes")
    for experiment in (event.experiments.public, event.experiments.private):
        scratch = organiser.create_run(experiment).info.run_id
        organiser.set_tag(scratch, "purpose", "access test")
        organiser.log_metric(scratch, PRIMARY, 0.5)
        organiser.log_text(scratch, "{}", "result.json")
        organiser.delete_run(scratch)
        assert organiser.get_run(scratch).info.lifecycle_stage == "deleted"
    _denied(lambda: organiser.create_experiment("another-challenge"))  # the admin's `grant` creates experiments


# -- the commands -----------------------------------------------------------------------------------------------


def _as_admin(monkeypatch: pytest.MonkeyPatch, event: Event, user: str = ADMIN, password: str | None = None) -> None:
    _login(monkeypatch, event.uri, ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password or PASSWORDS[user])
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(event.challenges))


def test_show_reports_what_the_server_decides(event: Event, monkeypatch: pytest.MonkeyPatch) -> None:
    _as_admin(monkeypatch, event)
    assert f"participant: {SLUG} READ, {SLUG}/private DENY" in _ok(_cli("show", SLUG, "participant"))
    assert f"organiser: {SLUG} MANAGE, {SLUG}/private MANAGE" in _ok(_cli("show", SLUG, "organiser"))
    assert f"stranger: {SLUG} NO_PERMISSIONS, {SLUG}/private NO_PERMISSIONS" in _ok(_cli("show", SLUG, "stranger"))


def test_grant_is_repeatable_and_an_existing_account_keeps_its_password(
    event: Event, monkeypatch: pytest.MonkeyPatch
) -> None:
    _as_admin(monkeypatch, event)
    again = _ok(_cli("grant", SLUG, "participant", "--role", "participant"))
    assert f"participant is participant of {SLUG}: {SLUG} READ, {SLUG}/private DENY" in again
    assert "exists already" in _ok(_cli("add-user", "participant", "--password", "another-long-password"))
    assert _http(event.uri, "/api/2.0/mlflow/experiments/search?max_results=5", "participant")[0] == 200


def test_grant_refuses_to_make_an_admin_a_participant(event: Event, monkeypatch: pytest.MonkeyPatch) -> None:
    _as_admin(monkeypatch, event)
    _refused(_cli("grant", SLUG, ADMIN, "--role", "participant"), "is an MLflow admin")


def test_grant_needs_the_admin_account(event: Event, monkeypatch: pytest.MonkeyPatch) -> None:
    _as_admin(monkeypatch, event, "organiser")
    _refused(_cli("grant", SLUG, "stranger", "--role", "participant"), "may not manage users or permissions")
    _as_admin(monkeypatch, event, ADMIN, "not-the-admin-password")
    _refused(_cli("add-user", "someone", "--password", "long-enough-password"), "refused the credentials")
    _as_admin(monkeypatch, event)
    _refused(_cli("grant", "access-ipcc", "participant", "--role", "participant"), "Did you mean 'access-ipc'?")
    _refused(_cli("add-user", "someone", "--password", "short"), "fewer than 12 characters")
    _refused(_cli("grant", SLUG, "nobody", "--role", "participant"), "no account 'nobody'", "add-user nobody")


ADD_USER_ALONE = """
import sys
from codefest.cli import app
sys.argv = ["codefest", "access", "add-user", "quick", "--password", "test-only-quick-password"]
try:
    app()
except SystemExit as done:
    print("exit", done.code)
print("mlflow loaded:", any(name == "mlflow" or name.startswith("mlflow.") for name in sys.modules))
"""


def test_add_user_says_what_it_does_and_loads_no_mlflow(event: Event, monkeypatch: pytest.MonkeyPatch) -> None:
    """Users and permissions are REST calls: MLflow, whose server package alone took ~4 s of CPU to import (10-17 s
    on a busy machine), is not loaded, so none of its import-time notices reach the organiser either."""
    _as_admin(monkeypatch, event)
    done = subprocess.run([sys.executable, "-c", ADD_USER_ALONE], capture_output=True, text=True, timeout=300)
    assert "exit 0" in done.stdout and "mlflow loaded: False" in done.stdout, done.stdout + done.stderr
    assert "creating the account quick on" in done.stderr and "created quick" in done.stderr
    assert "Warning" not in done.stderr, done.stderr


def test_the_servers_log_holds_no_starlette_deprecation_notice(event: Event) -> None:
    """MLflow's server imports starlette.middleware.wsgi, deprecated in Starlette 1.x: a notice for MLflow's
    developers, filtered by its message in the server's processes (any other warning still shows)."""
    log = (event.home.parent / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "StarletteDeprecationWarning" not in log and "starlette.middleware.wsgi" not in log


def test_commands_without_a_reachable_server_say_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    _refused(_cli("add-user", "someone", "--password", "long-enough-password"), "does not name a tracking server")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    _refused(_cli("add-user", "someone", "--password", "long-enough-password"), "no credentials")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", ADMIN)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORDS[ADMIN])
    _refused(_cli("add-user", "someone", "--password", "long-enough-password"), "no MLflow server answers")


def test_config_writes_a_closed_owner_only_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEFEST_HOME", str(tmp_path))
    _refused(_cli("server"), "no access configuration", "codefest access config")
    _refused(_cli("config", "--admin", ADMIN, "--password", "short"), "fewer than 12 characters")
    _refused(_cli("config", "--admin", ADMIN, "--password", " test-only-spaced "), "starts or ends with a space")
    password = "test-only-100%-password"
    _ok(_cli("config", "--admin", ADMIN, input=f"{password}\n{password}\n"))
    files = server_files(tmp_path)
    assert stat.S_IMODE(files.config.stat().st_mode) == 0o600
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(files.config))
    from mlflow.server.auth.config import read_auth_config  # here: importing MLflow's server takes seconds

    read = read_auth_config()  # as the server reads it
    assert read.default_permission == "NO_PERMISSIONS"
    assert read.database_uri == f"sqlite:///{files.users}"
    assert (read.admin_username, read.admin_password) == (ADMIN, password)


def test_server_prints_the_command_that_the_tests_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEFEST_HOME", str(tmp_path))
    _ok(_cli("config", "--admin", ADMIN, "--password", "test-only-config-password"))
    printed = _ok(_cli("server", "--port", "5099"))
    command, env = server_command(tmp_path, 5099)
    assert printed.rstrip().endswith(" ".join(command))
    for flag in ("--app-name basic-auth", "--host 127.0.0.1", "--workers 1", "--enable-workspaces"):
        assert flag in printed
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in printed and "MLFLOW_DISABLE_TELEMETRY=true" in printed
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] not in printed  # read from its owner-only file
    assert stat.S_IMODE(server_files(tmp_path).secret_key.stat().st_mode) == 0o600
    assert server_command(tmp_path, 5099)[1] == env  # the key survives restarts
