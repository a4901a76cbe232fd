"""`codefest demo`: the whole code fest on the bundled data, offline."""

from __future__ import annotations

from typing import Annotated

import typer

from codefest.cli.common import err, out


def demo(
    challenge: Annotated[
        list[str] | None,
        typer.Option("--challenge", help="A challenge to run it on (repeatable); default: the three bundled ones."),
    ] = None,
) -> None:
    """The whole code fest offline: build, bake and train pilots, simulated teams submit, evaluate, leaderboards."""
    from codefest.demo import run

    run(challenge or [], out, err)
