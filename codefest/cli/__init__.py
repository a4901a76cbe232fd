"""The `codefest` command: one entry point for organisers, office developers and participants.

Each command group lives in its own module; this one only assembles them, and turns a CodefestError into a
message instead of a traceback.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Annotated

import typer

from codefest.cli import (
    access,
    boards,
    challenges,
    data,
    demo,
    participants,
    pilots,
    scoring,
    serve,
    submissions,
    teams,
    ui,
    worker,
)
from codefest.cli.common import err, out
from codefest.console import tagged
from codefest.core import collector
from codefest.core.errors import CodefestError
from codefest.core.offline import stay_offline
from codefest.core.workspace import home

stay_offline()

app = typer.Typer(
    rich_markup_mode=None,  # plain help: the rich panels show a <bool> placeholder after every flag
    context_settings={"max_content_width": 100},
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help=__doc__.split("\n")[0],
)


def _version(asked: bool) -> None:
    if asked:
        from codefest import __version__

        out.print(f"codefest {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print codefest's version and exit.")
    ] = False,
) -> None:
    """Run a code fest of AI pilot projects for IP offices."""


app.add_typer(challenges.app, name="challenges")
app.add_typer(data.app, name="data")
app.add_typer(access.app, name="access")
app.add_typer(teams.app, name="teams")
for command in (
    scoring.score,
    submissions.evaluate,
    pilots.new,
    boards.leaderboard,
    submissions.select,
    ui.ui,
    demo.demo,
    serve.serve,
    participants.submit,
    participants.submissions,
    worker.worker,
):
    app.command()(command)


def _private_and_printable() -> None:
    """What codefest creates is its user's alone (the store holds private scores, the auth database password hashes);
    a name that is not valid UTF-8 (a file in an inbox) is printed escaped rather than crashing the output."""
    os.umask(0o077)
    workspace = home()
    if workspace.is_dir() and workspace.stat().st_mode & 0o077:
        with contextlib.suppress(OSError):  # read-only: each command that writes says so itself
            workspace.chmod(0o700)  # made by an earlier version or by hand: nobody else may look in
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def main() -> None:
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # typer's own click

    collector.starting()  # a command that keeps working after it has loaded its modules says `started()`
    _private_and_printable()
    try:
        code = app(standalone_mode=False)  # its usage errors come here, to be said with codefest's one prefix
    except CodefestError as problem:
        err.print(tagged("error:", "red", problem.render()))
        sys.exit(2)
    except NoArgsIsHelpError as bare:
        bare.show()  # the help, as for --help
        sys.exit(bare.exit_code)
    except ClickException as wrong:
        if isinstance(wrong, UsageError) and wrong.ctx is not None:
            err.print(f"{wrong.ctx.get_usage()}\nTry '{wrong.ctx.command_path} --help' for help.\n")
        err.print(tagged("error:", "red", wrong.format_message()))
        sys.exit(wrong.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
