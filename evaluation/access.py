"""Who reads what on a tracking server: participants the public scores, organisers the private ones too.

In tracking-server mode MLflow's basic-auth app enforces the split that `codefest.evaluation.tracking` sets up: the
experiment `SLUG` is readable by participants, `SLUG/private` only by organisers until the reveal. The server
reads `basic_auth.ini` with `default_permission = NO_PERMISSIONS`, so an experiment nobody was granted (a new
private one included) is closed by default; participants also get an explicit DENY on the private experiment,
which MLflow applies over any default, so a mistaken default cannot open it either. The server runs with
workspaces on, so that only accounts granted a workspace (the admin) create experiments: otherwise any participant
could create `NEXT-SLUG/private` before the organisers do, own it, and read the scores later logged there.
"""

from __future__ import annotations

import configparser
import io
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from codefest.core.errors import CodefestError
from codefest.core.offline import stay_offline
from codefest.core.workspace import Workspace
from codefest.evaluation.auth_api import Account, AuthApi, AuthRefused
from codefest.evaluation.records import EXPERIMENT_CHALLENGE, PRIVATE_SUFFIX

stay_offline()

if TYPE_CHECKING:
    from codefest.evaluation.tracking import RunsView

# MLflow is imported where it is needed, not here: users and permissions are plain REST calls (auth_api), and
# `codefest access add-user` would otherwise load the tracking library for nothing.

# Per role: the permission on the public experiment, then on the private one.
WORKSPACE = "default"  # MLflow's default workspace: where `grant` creates the experiments
GRANTS = {"participant": ("READ", "DENY"), "organiser": ("MANAGE", "MANAGE")}
ROLES = tuple(GRANTS)
MIN_PASSWORD = 12
# MLflow's server imports starlette.middleware.wsgi, which Starlette 1.x deprecates with a UserWarning at import: a
# notice for MLflow's developers, not for organisers. Silenced by its message only, in the server's processes.
STARLETTE_WSGI_NOTICE = "ignore:starlette.middleware.wsgi is deprecated:UserWarning"
EXPERIMENT = "experiment"


@dataclass(frozen=True)
class ServerFiles:
    """Everything the tracking server keeps, in one folder of the workspace (apart from the embedded store)."""

    folder: Path

    @property
    def config(self) -> Path:
        return self.folder / "basic_auth.ini"

    @property
    def users(self) -> Path:
        return self.folder / "basic_auth.db"

    @property
    def store(self) -> Path:
        return self.folder / "mlflow.db"

    @property
    def artifacts(self) -> Path:
        return self.folder / "mlartifacts"

    @property
    def secret_key(self) -> Path:
        return self.folder / "flask-secret-key"


def server_files(root: Path) -> ServerFiles:
    return ServerFiles(Workspace(root).server)


def _write_private(path: Path, text: str) -> None:
    """Owner-only from the first byte: the file holds a password or a key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def write_auth_config(root: Path, admin_username: str, admin_password: str) -> Path:
    """The basic_auth.ini the server reads through MLFLOW_AUTH_CONFIG_PATH; closed by default.

    The admin password only creates the admin on the server's first start; MLflow ignores it afterwards.
    """
    if not admin_username.strip():
        raise CodefestError("the admin username is empty", "give the name of the organisers' admin account")
    check_password(admin_password)
    files = server_files(root)
    config = configparser.ConfigParser(interpolation=None)
    config["mlflow"] = {
        "default_permission": "NO_PERMISSIONS",
        "database_uri": _ini_value(f"sqlite:///{files.users}"),
        "admin_username": _ini_value(admin_username),
        "admin_password": _ini_value(admin_password),
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        "grant_default_workspace_access": "false",
        # One worker, so a password or account change through the API reaches the cache at once; without it
        # every request pays a full PBKDF2 check (~0.5 s).
        "auth_cache_ttl_seconds": "60",
    }
    text = io.StringIO()
    config.write(text)
    _write_private(files.config, text.getvalue())
    return files.config


def check_password(password: str) -> None:
    """Long enough to resist guessing, and written to basic_auth.ini without being altered."""
    if len(password) < MIN_PASSWORD:
        raise CodefestError(f"the password has fewer than {MIN_PASSWORD} characters", "choose a longer password")
    if password != password.strip() or "\n" in password or "\r" in password:
        raise CodefestError("the password starts or ends with a space or holds a line break", "choose another")


def _ini_value(value: str) -> str:
    """MLflow reads the file with ConfigParser's default interpolation, where a lone % is an error."""
    return value.replace("%", "%%")


def _secret_key(files: ServerFiles) -> str:
    """The CSRF key of the server's forms: made once, kept so that restarts keep sessions valid."""
    if not files.secret_key.is_file():
        _write_private(files.secret_key, secrets.token_hex(32))
    return files.secret_key.read_text(encoding="utf-8").strip()


def server_command(root: Path, port: int = 5000, host: str = "127.0.0.1") -> tuple[list[str], dict[str, str]]:
    """The `mlflow server` command line and the environment it needs, for the workspace `root`.

    One worker and no job runner (2 processes instead of ~15); artifacts are served by the server, so that
    their reads pass through the same permission checks as the runs; workspaces keep experiment creation
    for the admin.
    """
    files = server_files(root)
    if not files.config.is_file():
        raise CodefestError(
            f"no access configuration in {files.folder}",
            "run: codefest access config --admin ADMIN_NAME (it asks for the admin password)",
        )
    from codefest.evaluation.mlflow_server import LEAN, mlflow_server

    files.artifacts.mkdir(parents=True, exist_ok=True)
    auth = ("--app-name", "basic-auth", "--enable-workspaces")
    command = mlflow_server(f"sqlite:///{files.store}", files.artifacts, host, port, *auth)
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(files.config),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": _secret_key(files),
        **LEAN,
        "PYTHONWARNINGS": ",".join(filter(None, (os.environ.get("PYTHONWARNINGS"), STARLETTE_WSGI_NOTICE))),
    }
    return command, env


def require_auth_app() -> None:
    """MLflow's basic-auth app needs Flask-WTF, which only the `mlflow[auth]` extra installs."""
    try:
        import flask_wtf  # noqa: F401
    except ImportError:
        raise CodefestError(
            "MLflow's basic-auth app needs the Flask-WTF package, which is not installed",
            "pip install 'mlflow[auth]'",
        ) from None


# -- talking to a running server ----------------------------------------------------------------------------


def server_uri() -> str:
    """The tracking server of the organiser's environment, with admin credentials beside it."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if not uri.startswith(("http://", "https://")):
        raise CodefestError(
            "MLFLOW_TRACKING_URI does not name a tracking server",
            "export MLFLOW_TRACKING_URI=http://127.0.0.1:PORT (the server started by `codefest access server`)",
        )
    if not (os.environ.get("MLFLOW_TRACKING_USERNAME") and os.environ.get("MLFLOW_TRACKING_PASSWORD")):
        raise CodefestError(
            "no credentials for the tracking server",
            "export MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (the admin account)",
        )
    return uri.rstrip("/")


def check_server(uri: str, timeout: float = 5.0) -> None:
    """Fail fast and clearly instead of through MLflow's minutes of retries."""
    try:
        with urllib.request.urlopen(f"{uri}/health", timeout=timeout) as answer:
            if answer.status == 200:
                return
    except (urllib.error.URLError, OSError):
        pass
    raise CodefestError(f"no MLflow server answers at {uri}", "start it: codefest access server --run")


@contextmanager
def server_errors(uri: str) -> Iterator[None]:
    """MLflow's refusals as messages that say what to change."""
    try:
        yield
    except httpx.TransportError as lost:
        raise CodefestError(
            f"the tracking server at {uri} stopped answering ({type(lost).__name__})", "check that it is running"
        ) from None
    except Exception as refused:
        status = _http_status(refused)
        if status is None:
            raise
        if status == 401:
            raise CodefestError(
                f"the tracking server at {uri} refused the credentials",
                "check MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD",
            ) from None
        if status == 403:
            raise CodefestError(
                f"the account {os.environ.get('MLFLOW_TRACKING_USERNAME')} may not manage users or permissions",
                "use the admin account named in basic_auth.ini",
            ) from None
        raise CodefestError(f"the tracking server answered: {refused.message}") from None  # type: ignore[attr-defined]


def _http_status(error: Exception) -> int | None:
    """The HTTP status of a refusal by the server: the auth app's, or MlflowClient's when MLflow is loaded (if it is
    not, no MlflowException can have been raised); None for anything else."""
    if isinstance(error, AuthRefused):
        return error.status
    loaded = sys.modules.get("mlflow.exceptions")
    if loaded is not None and isinstance(error, loaded.MlflowException):
        return int(error.get_http_status_code())
    return None


def auth_client(uri: str) -> AuthApi:
    """A client of the server's basic-auth app: users and permissions."""
    return AuthApi(uri)


@dataclass(frozen=True)
class Experiments:
    public: str
    private: str


def challenge_experiments(slug: str, uri: str, create: bool = True, view: RunsView | None = None) -> Experiments:
    """Both experiments of a challenge, created now if missing, before any participant is let in; with `view`,
    laid out for the MLflow UI as the evaluator lays them out (the README, the runs list by the primary metric).

    The one MLflow client outside Tracker: it speaks to the event's server as its administrator, by the address given,
    before any workspace store or evaluation exists; the names and the tags are the records' own.
    """
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    shown = view.tags() if view else {}

    def get_or_create(name: str) -> str:
        found = client.get_experiment_by_name(name)
        if found is not None:
            for key, value in shown.items():
                if found.tags.get(key) != value:
                    client.set_experiment_tag(found.experiment_id, key, value)
            return found.experiment_id
        if not create:
            raise CodefestError(
                f"the tracking server has no experiment '{name}'", f"run: codefest access grant {slug} ..."
            )
        return client.create_experiment(name, tags={EXPERIMENT_CHALLENGE: slug, **shown})

    return Experiments(get_or_create(slug), get_or_create(slug + PRIVATE_SUFFIX))


def add_user(client: AuthApi, username: str, password: str) -> bool:
    """A new account; False when it exists already (its password is left as it is)."""
    check_password(password)
    try:
        client.create_user(username, password)
    except AuthRefused as refused:
        if refused.error_code == "RESOURCE_ALREADY_EXISTS":
            return False
        raise
    return True


def _set_permission(client: AuthApi, username: str, experiment_id: str, permission: str) -> None:
    """Grant, replacing an earlier grant (MLflow refuses a second grant on the same experiment)."""
    try:
        client.revoke_user_permission(username, EXPERIMENT, experiment_id)
    except AuthRefused as missing:
        if missing.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    client.grant_user_permission(username, EXPERIMENT, experiment_id, permission)


def permissions(client: AuthApi, username: str, experiments: Experiments) -> tuple[str, str]:
    """The effective permissions of a user on the public and the private experiment, as the server decides."""
    public = client.get_user_permission(username, EXPERIMENT, experiments.public)
    private = client.get_user_permission(username, EXPERIMENT, experiments.private)
    return public, private


def _account(client: AuthApi, username: str) -> Account:
    try:
        return client.get_user(username)
    except AuthRefused as missing:
        if missing.error_code == "RESOURCE_DOES_NOT_EXIST":
            raise CodefestError(
                f"no account '{username}' on the server", f"run: codefest access add-user {username}"
            ) from None
        raise


def grant(client: AuthApi, username: str, role: str, experiments: Experiments) -> tuple[str, str]:
    """Give a user a role on a challenge; returns the effective permissions, checked to be the role's exactly."""
    if role not in GRANTS:
        raise CodefestError(f"unknown role '{role}'", f"use one of: {', '.join(ROLES)}")
    user = _account(client, username)
    if role == "participant" and user.is_admin:
        raise CodefestError(
            f"'{username}' is an MLflow admin, and admins read every experiment",
            "give participants accounts of their own, without admin rights",
        )
    public, private = GRANTS[role]
    _set_permission(client, username, experiments.public, public)
    _set_permission(client, username, experiments.private, private)
    effective = permissions(client, username, experiments)
    if effective != GRANTS[role]:  # a default_permission above NO_PERMISSIONS lifts READ, e.g. to EDIT
        raise CodefestError(
            f"the server gives '{username}' {effective[0]} on {experiments.public} and {effective[1]} on "
            f"{experiments.private}, not {public} and {private}",
            "set default_permission = NO_PERMISSIONS in basic_auth.ini (codefest access config) and restart",
        )
    return effective


def revoke(client: AuthApi, username: str, experiments: Experiments) -> tuple[str, str]:
    """Take a challenge back from an account (a closed challenge): its public experiment falls back to the default,
    NO_PERMISSIONS; a DENY on the private one stays, so nothing opens it either. Returns the effective permissions."""
    _account(client, username)
    try:
        client.revoke_user_permission(username, EXPERIMENT, experiments.public)
    except AuthRefused as missing:
        if missing.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    return permissions(client, username, experiments)
