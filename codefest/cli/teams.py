"""`codefest teams`: the event's roster, which the organisers keep; only enrolled teams may submit."""

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


@app.command("add")
def add(names: Annotated[list[str], typer.Argument(help="Team names: letters, digits, '-', '_', '.'.")]) -> None:
    """Enrol teams (names are compared without regard to case)."""
    from codefest.evaluation.roster import add as enrol

    added = enrol(home(), names)
    for name in names:
        state = "enrolled" if name in added else "already enrolled"
        err.print(tagged(state, "green", name))


@app.command("list")
def list_teams() -> None:
    """The enrolled teams, one a line, as they were spelled when enrolled."""
    from codefest.evaluation.roster import teams

    enrolled = teams(home())
    if not enrolled:
        err.print("no team is enrolled yet: codefest teams add NAME ...", highlight=False)
    for name in enrolled:
        out.print(name, highlight=False, markup=False)
