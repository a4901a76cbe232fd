"""`codefest new`: an office developer's pilot repository, baked from the task's template."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from codefest.cli.common import err, out
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
    source = local_source(path)
    if source:
        err.print(
            tagged(
                "note:",
                "yellow",
                f"the pilot installs codefest from {source}, which is on this machine only; for its CI elsewhere, "
                "bake it with codefest_source=git+https://HOST/ORG/codefest@REF (or a wheel's URL)",
            ),
            highlight=False,
        )
    out.print(f"next: {next_steps(path)}", highlight=False, markup=False, soft_wrap=True)


def local_source(pilot: Path) -> str:
    """The pilot's codefest requirement when `auto` made it a file on this machine (a checkout without a git remote),
    else '' (a path given at bake time is the developer's choice)."""
    if json.loads((pilot / ".cookiecutter.json").read_text(encoding="utf-8"))["codefest_source"] != "auto":
        return ""
    for line in (pilot / "pyproject.toml").read_text(encoding="utf-8").splitlines():
        requirement = line.strip().strip('",')
        if requirement.startswith("codefest @ "):
            source = requirement.removeprefix("codefest @ ")
            return source if source.startswith(("file:", "git+file:")) else ""
    return ""


def next_steps(pilot: Path) -> str:
    """What to type next, in this shell, on this workspace: build the pilot's bundle first if it is not there yet."""
    from codefest.core.workspace import home

    answers = json.loads((pilot / ".cookiecutter.json").read_text(encoding="utf-8"))
    baked_home = home() if answers["codefest_home"] == "auto" else Path(answers["codefest_home"]).resolve()
    where = Path(os.environ.get("CODEFEST_HOME") or baked_home)
    bundle = Path(os.environ.get("CODEFEST_BUNDLE") or where / "bundles" / answers["challenge"])
    steps = [f"cd {shlex.quote(str(pilot))}", f"{command('nox')} -s train predict score"]
    if not (bundle / "train.jsonl").is_file():
        build = f"{command('codefest')} data build {answers['challenge']}"
        steps.insert(0, build if where == home() else f"CODEFEST_HOME={shlex.quote(str(where))} {build}")
    return " && ".join(steps)


def command(name: str) -> str:
    """`name` when the shell finds it, else its path beside this interpreter (a virtual environment not activated)."""
    beside = Path(sys.executable).parent / name
    if shutil.which(name) or not beside.is_file():
        return name
    return shlex.quote(str(beside))
