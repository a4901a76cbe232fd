"""`codefest new`: bake a pilot repository from the pilot template, for the task's baseline."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

from codefest.core.errors import CodefestError
from codefest.core.registry import unknown_key_message
from codefest.tasks import TASKS

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
TEMPLATE = TEMPLATES / "pilot"  # one cookiecutter template; its `task` answer chooses the baseline
BASELINES = TEMPLATE / "{{cookiecutter.project_slug}}" / "baselines"  # one folder per task, with its task.toml


def template_questions() -> dict:
    """The template's cookiecutter.json: its questions and their defaults."""
    if not (TEMPLATE / "cookiecutter.json").is_file():
        raise CodefestError(
            f"no pilot template in {TEMPLATES}",
            "install codefest from its checkout (pip install -e .), where templates/ lives",
        )
    return json.loads((TEMPLATE / "cookiecutter.json").read_text())


def template_for(task: str) -> Path:
    """The pilot template, once the task is known and has a baseline in it."""
    TASKS.get(task)  # an unknown task names the valid ones
    template_questions()  # the template is there
    if not (BASELINES / task / "task.toml").is_file():
        raise CodefestError(
            f"no baseline for {task} in {TEMPLATE}",
            f"add its folder, {BASELINES.relative_to(TEMPLATES)}/{task}/ with a task.toml, to the template",
        )
    return TEMPLATE


def baseline_tasks() -> list[str]:
    """The tasks the template has a baseline folder for: the answers its `task` question takes."""
    return sorted(p.parent.name for p in BASELINES.glob("*/task.toml"))


def parse_answers(task: str, items: list[str]) -> dict[str, str]:
    """KEY=VALUE pairs, each KEY one of the template's questions."""
    template_for(task)
    questions = [k for k in template_questions() if not k.startswith("_") and k != "task"]
    answers = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CodefestError(f"{item!r} is not KEY=VALUE", "write answers like team=office-a")
        if key == "task":
            raise CodefestError(f"{item!r}: the task is the argument of codefest new", f"run codefest new {value} ...")
        if key not in questions:
            raise CodefestError(unknown_key_message(f"question of the {task} template", key, questions))
        answers[key] = value
    if "challenge" in answers:
        check_challenge(task, answers["challenge"])
    return answers


def check_challenge(task: str, slug: str) -> None:
    """A pilot names a challenge of its own task that exists, or it would be baked for nothing, silently."""
    from codefest.challenges.discovery import load_all

    tasks = {item.spec.slug: item.spec.task for item in load_all()[0]}  # a malformed challenge is not offered
    same_task = sorted(name for name, its in tasks.items() if its == task)
    if slug not in tasks:
        raise CodefestError(unknown_key_message(f"{task} challenge", slug, same_task))
    if slug not in same_task:
        raise CodefestError(
            f"challenge '{slug}' is a {tasks[slug]} challenge, not a {task} one",
            f"give one of: {', '.join(same_task)}" if same_task else f"declare a {task} challenge first",
        )


CHECKED = "CODEFEST_CHECKED_CHALLENGE"  # TASK:SLUG that codefest checked, which the template's hook then trusts


def default_challenge(task: str) -> str:
    """The challenge a pilot of the task is baked for unless answered: its baseline folder's."""
    return str(tomllib.loads((BASELINES / task / "task.toml").read_text(encoding="utf-8"))["challenge"])


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set `values` in os.environ for the hooks that cookiecutter runs as processes, then restore it."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def bake(task: str, output_dir: Path, no_input: bool, answers: dict[str, str]) -> Path:
    from cookiecutter.exceptions import CookiecutterException, FailedHookException, OutputDirExistsException
    from cookiecutter.main import cookiecutter
    from jinja2 import TemplateError

    template = template_for(task)
    output_dir.mkdir(parents=True, exist_ok=True)
    checked: dict[str, str] = {}
    challenge = answers.get("challenge") or (default_challenge(task) if no_input else None)
    if challenge:  # checked here, where the challenges are loaded already: the hook need not load them again
        check_challenge(task, challenge)
        checked = {CHECKED: f"{task}:{challenge}"}
    quiet = logging.getLogger("cookiecutter")
    level, quiet.level = quiet.level, logging.CRITICAL  # its traceback of a refused answer; the hook said why
    try:
        with _environment(checked):
            baked = cookiecutter(
                str(template),
                no_input=no_input,
                output_dir=str(output_dir),
                extra_context={**answers, "task": task},
            )
        return Path(baked)
    except FailedHookException:
        raise CodefestError("the template refused the answers (see above)", "give the answers it asks for") from None
    except OutputDirExistsException as err:
        raise CodefestError(str(err), "choose another --output-dir or project_slug=...") from None
    except (CookiecutterException, TemplateError) as err:
        raise CodefestError(
            f"the {task} template could not be generated: {err}", "report this to the organisers"
        ) from None
    finally:
        quiet.setLevel(level)
