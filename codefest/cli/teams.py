"""`codefest teams`: the teams enrolled in the event's ledger, and their tokens; only enrolled teams may submit."""

from __future__ import annotations

from typing import Annotated

import typer

from codefest.console import make, tagged
from codefest.core.workspace import home

app = typer.Typer(
    rich_markup_mode=None, no_args_is_help=True, pretty_exceptions_enable=False, help="The teams enrolled in the event."
)
out = make()
err = make(stderr=True)
SHOWN_ONCE = "a token is shown once: only its hash is kept; a lost one is replaced with: codefest teams token TEAM"


@app.command("add")
def add(names: Annotated[list[str], typer.Argument(help="Team names: letters, digits, '-', '_', '.'.")]) -> None:
    """Enrol teams (names are compared without regard to case) and print each new team's token.

    With one team, its token alone is the last line of the output: TOKEN=$(codefest teams add NAME | tail -1)
    """
    from codefest.evaluation.roster import add as enrol

    tokens = enrol(home(), names)
    for name in names:
        state = "enrolled" if name in tokens else "already enrolled"
        err.print(tagged(state, "green", name))
    if tokens:
        err.print(SHOWN_ONCE, highlight=False)
    if len(names) == 1:
        for token in tokens.values():
            out.print(token, highlight=False, markup=False, soft_wrap=True)
        return
    for name, token in tokens.items():
        out.print(f"{name} {token}", highlight=False, markup=False, soft_wrap=True)


@app.command("list")
def list_teams() -> None:
    """The enrolled teams, one a line, as they were spelled when enrolled."""
    from codefest.evaluation.roster import teams

    enrolled = teams(home())
    if not enrolled:
        err.print("no team is enrolled yet: codefest teams add NAME ...", highlight=False)
    for name in enrolled:
        out.print(name, highlight=False, markup=False)


@app.command("token")
def token(name: Annotated[str, typer.Argument(help="An enrolled team.")]) -> None:
    """Issue a new token for a team (a lost one, or one that leaked); its earlier tokens stop working at once."""
    from codefest.evaluation.roster import new_token

    issued = new_token(home(), name)
    err.print(tagged("new token", "green", f"{name} (its earlier tokens are revoked)"))
    err.print(SHOWN_ONCE, highlight=False)
    out.print(issued, highlight=False, markup=False, soft_wrap=True)
