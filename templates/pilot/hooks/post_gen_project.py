"""Keep the chosen task's baseline: its modules go into the package, its tests into tests/, its dependencies into
pyproject.toml; then every baseline folder goes, so the pilot holds one task's code and nothing to skip over.
The tests' placeholder package name becomes the answered one, and the template's own lint config goes.

Cookiecutter runs this in the generated project once it is rendered; `main` reads the answers from the project's
.cookiecutter.json. The functions are tested as code in the codefest repository (tests/test_template_hooks.py).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tomllib
from pathlib import Path

ABOUT = "task.toml"  # what a baseline folder says about its task (default answers, dependencies, paragraphs)
PLACEHOLDER = "pilotpkg"  # how the template's tests import the pilot's package (Jinja in an import is not Python)
TEMPLATE_ONLY = ("baselines", "ruff.toml")  # the baselines, and the config that lints the template in codefest


class RefusedBaseline(Exception):
    """The chosen task has no usable baseline: the bake stops with this message."""


def baseline_folder(project: Path, task: str) -> Path:
    """baselines/TASK/, which must say what it is with a task.toml."""
    folder = project / "baselines" / task
    if not (folder / ABOUT).is_file():
        known = ", ".join(sorted(p.parent.name for p in (project / "baselines").glob(f"*/{ABOUT}")))
        raise RefusedBaseline(
            f"task {task!r}: no baseline folder baselines/{task}/ with a {ABOUT} (there are: {known})"
        )
    return folder


def destination(item: Path, project: Path, package: str) -> Path:
    """A test module (test_*.py) goes to tests/; anything else (modules, subpackages, data) into the package."""
    if item.is_file() and item.name.startswith("test_") and item.suffix == ".py":
        return project / "tests" / item.name
    return project / "src" / package / item.name


def name_package(project: Path, package: str) -> None:
    """Replace the placeholder package name in every Python file of the project."""
    for module in sorted(project.rglob("*.py")):
        text = module.read_text(encoding="utf-8")
        if PLACEHOLDER in text:
            module.write_text(re.sub(rf"\b{PLACEHOLDER}\b", package, text), encoding="utf-8")


def install_baseline(baseline: Path, project: Path, package: str) -> list[Path]:
    """Move the baseline's files into the project, refusing to overwrite the shared ones; return where they went."""
    items = [item for item in sorted(baseline.iterdir()) if item.name not in (ABOUT, "__pycache__")]
    moves = [(item, destination(item, project, package)) for item in items]
    clashes = [str(target.relative_to(project)) for _, target in moves if target.exists()]
    if clashes:
        raise RefusedBaseline(f"the {baseline.name} baseline would overwrite {', '.join(clashes)}: rename its files")
    for item, target in moves:
        shutil.move(item, target)
    return [target for _, target in moves]


def add_dependencies(pyproject: str, extra: list[str]) -> str:
    """The project's dependency list with the baseline's requirements appended, one a line like the shared ones."""
    listed = re.search(r"^dependencies = \[\n(.*?\n)*?\]$", pyproject, re.MULTILINE)
    if listed is None:
        raise RefusedBaseline("pyproject.toml has no `dependencies = [` list, one requirement a line, to add to")
    end = listed.end() - 2  # before the "\n]" that closes the list
    return pyproject[:end] + "".join(f'\n    "{requirement}",' for requirement in extra) + pyproject[end:]


def remove_template_only(project: Path) -> None:
    """What serves the template, not the pilot: all the baselines, and the template's lint config."""
    for name in TEMPLATE_ONLY:
        path = project / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def keep_baseline(project: Path, task: str, package: str) -> None:
    """Install the task's baseline into the project, name the package, then remove what only the template needs."""
    baseline = baseline_folder(project, task)
    about = tomllib.loads((baseline / ABOUT).read_text(encoding="utf-8"))
    install_baseline(baseline, project, package)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(add_dependencies(pyproject.read_text(encoding="utf-8"), about["dependencies"]), "utf-8")
    remove_template_only(project)
    name_package(project, package)


def main(project: Path) -> int:
    answers = json.loads((project / ".cookiecutter.json").read_text(encoding="utf-8"))
    try:
        keep_baseline(project, answers["task"], answers["package_name"])
    except RefusedBaseline as err:
        print(f"codefest template: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(Path.cwd()))
