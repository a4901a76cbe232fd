"""`codefest new`: bake a pilot repository from the task's cookiecutter template."""

from __future__ import annotations

import json
from pathlib import Path

from codefest.errors import CodefestError
from codefest.registry import unknown_key_message
from codefest.tasks import TASKS

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def template_for(task: str) -> Path:
    TASKS.get(task)  # an unknown task names the valid ones
    template = TEMPLATES / task
    if not (template / "cookiecutter.json").is_file():
        raise CodefestError(
            f"no template for {task} in {TEMPLATES}",
            "install codefest from its checkout (pip install -e .), where templates/ lives",
        )
    return template


def parse_answers(task: str, items: list[str]) -> dict[str, str]:
    """KEY=VALUE pairs, each KEY one of the template's questions."""
    questions = [k for k in json.loads((template_for(task) / "cookiecutter.json").read_text()) if not k.startswith("_")]
    answers = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CodefestError(f"{item!r} is not KEY=VALUE", "write answers like team=office-a")
        if key not in questions:
            raise CodefestError(unknown_key_message(f"question of the {task} template", key, questions))
        answers[key] = value
    return answers


def bake(task: str, output_dir: Path, no_input: bool, answers: dict[str, str]) -> Path:
    from cookiecutter.exceptions import CookiecutterException, FailedHookException, OutputDirExistsException
    from cookiecutter.main import cookiecutter
    from jinja2 import TemplateError

    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        return Path(
            cookiecutter(str(template_for(task)), no_input=no_input, output_dir=str(output_dir), extra_context=answers)
        )
    except FailedHookException:
        raise CodefestError("the template refused the answers (see above)", "give the answers it asks for") from None
    except OutputDirExistsException as err:
        raise CodefestError(str(err), "choose another --output-dir or project_slug=...") from None
    except (CookiecutterException, TemplateError) as err:
        raise CodefestError(
            f"the {task} template could not be generated: {err}", "report this to the organisers"
        ) from None
