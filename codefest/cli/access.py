"""`codefest access`: the organisers' commands for a tracking server where participants see only public scores."""

from __future__ import annotations

import os
import shlex
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from codefest.console import make, step, tagged
from codefest.core.workspace import home

if TYPE_CHECKING:
    from codefest.evaluation.auth_api import AuthApi
    from codefest.evaluation.tracking import RunsView

app = typer.Typer(
    rich_markup_mode=None,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Access control on an MLflow tracking server: participants read public scores, organisers all.",
)
out = make()
err = make(stderr=True)


class Role(StrEnum):
    participant = "participant"
    organiser = "organiser"


@app.command("config")
def config(
    admin: Annotated[str, typer.Option(help="Name of the admin account the server creates on its first start.")],
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Asked when not given.")
    ],
) -> None:
    """Write the server's basic_auth.ini into the workspace: closed by default, owner-only."""
    from codefest.evaluation.access import write_auth_config

    path = write_auth_config(home(), admin, password)
    err.print(tagged("wrote", "green", f"{path} (default permission: none; the password is used on the first start)"))


def _shell(command: list[str], env: dict[str, str], secret_file: str) -> str:
    """The command as a shell line; the secret key is read from its file, never printed."""
    values = {name: shlex.quote(value) for name, value in env.items()}
    values["MLFLOW_FLASK_SERVER_SECRET_KEY"] = f'"$(cat {shlex.quote(secret_file)})"'
    return " \\\n  ".join([*(f"{name}={value}" for name, value in values.items()), shlex.join(command)])


@app.command("server")
def server(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
    run: Annotated[bool, typer.Option("--run", help="Start the server instead of printing its command.")] = False,
) -> None:
    """Print (or, with --run, start) the `mlflow server` command with basic auth for this workspace."""
    from codefest.evaluation.access import require_auth_app, server_command, server_files

    require_auth_app()
    command, env = server_command(home(), port)
    if run:
        err.print(f"starting the tracking server on http://127.0.0.1:{port} (Ctrl+C stops it)")
        os.execvpe(command[0], command, {**os.environ, **env})
    print(_shell(command, env, str(server_files(home()).secret_key)))


def _admin() -> tuple[str, AuthApi]:
    """The server of the environment, reachable, with MLflow's auth client."""
    from codefest.evaluation.access import auth_client, check_server, server_uri

    uri = server_uri()
    check_server(uri)
    return uri, auth_client(uri)


@app.command("add-user")
def add_user(
    username: str,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Asked when not given.")
    ],
) -> None:
    """Create an account on the tracking server (as the admin of MLFLOW_TRACKING_USERNAME/PASSWORD)."""
    from codefest.evaluation import access

    uri, client = _admin()
    with access.server_errors(uri), step(err, f"creating the account {username} on {uri}"):
        created = access.add_user(client, username, password)
    err.print(tagged("created", "green", username) if created else f"{username} exists already; password unchanged")


def _challenge(slug: str) -> RunsView:
    """A typo in the slug would create experiments nobody evaluates into; the challenge says how the UI opens them."""
    from codefest.challenges.discovery import load
    from codefest.evaluation.tracking import runs_view

    return runs_view(load(slug))


@app.command("grant")
def grant(
    slug: str,
    username: str,
    role: Annotated[Role, typer.Option(help="participant: public scores only; organiser: public and private.")],
) -> None:
    """Give an account a role on a challenge, creating the challenge's experiments first if needed."""
    from codefest.evaluation import access
    from codefest.evaluation.tracking import runs_address

    with step(err, f"granting {username} the {role.value} role on {slug}") as say:
        say("loading the challenge and MLflow's client")
        view = _challenge(slug)
        uri, client = _admin()
        with access.server_errors(uri):
            say("the challenge's experiments")
            experiments = access.challenge_experiments(slug, uri, view=view)
            say("the permissions")
            public, private = access.grant(client, username, role.value, experiments)
    out.print(f"{username} is {role.value} of {slug}: {slug} {public}, {slug}/private {private}", highlight=False)
    if role is Role.participant:
        address = runs_address(experiments.public, uri, workspace=access.WORKSPACE)
        out.print(f"{username} follows the scores at {address}", highlight=False, soft_wrap=True)


@app.command("revoke")
def revoke(slug: str, username: str) -> None:
    """Take a challenge back from an account (a closed challenge): it no longer lists or reads its experiments."""
    from codefest.evaluation import access

    uri, client = _admin()
    with access.server_errors(uri), step(err, f"revoking {slug} from {username} (loading MLflow's client)"):
        public, private = access.revoke(client, username, access.challenge_experiments(slug, uri, create=False))
    out.print(f"{username}: {slug} {public}, {slug}/private {private}", highlight=False)


@app.command("show")
def show(slug: str, username: str) -> None:
    """What an account may do with a challenge's experiments, as the server decides it."""
    from codefest.evaluation.access import challenge_experiments, permissions, server_errors

    uri, client = _admin()
    with server_errors(uri), step(err, f"reading {username}'s permissions on {slug} (loading MLflow's client)"):
        public, private = permissions(client, username, challenge_experiments(slug, uri, create=False))
    out.print(f"{username}: {slug} {public}, {slug}/private {private}", highlight=False)
