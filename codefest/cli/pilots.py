"""`codefest new`: an office developer's pilot repository, baked from the task's template."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codefest.cli.common import out
from codefest.console import tagged
from codefest.tasks import task_folders

TASK_NAMES = ", ".join(sorted(task_folders()))  # the folders: no task's code is imported for --help


def new(
    task: Annotated[str, typer.Argument(help=f"The task: {TASK_NAMES}.")],
    answers: Annotated[list[str] | None, typer.Argument(help="Answers as KEY=VALUE, e.g. team=office-a.")] = None,
    output_dir: Annotated[Path, typer.Option(help="Where the pilot's folder is created.")] = Path("."),
    no_input: Annotated[bool, typer.Option("--no-input", help="Take the defaults for what is not answered.")] = False,
) -> None:
    """Generate a pilot repository from the task's template (office developers)."""
    from codefest.scaffold import bake, parse_answers

    path = bake(task, output_dir, no_input, parse_answers(task, answers or []))
    out.print(tagged("created", "green", str(path)))
    out.print(f"next: cd {path} && nox -s train predict score", highlight=False, markup=False)
