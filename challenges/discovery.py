"""Finding and reading challenges: the repository's own plus every folder in CODEFEST_CHALLENGES_PATH."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from codefest.challenges.spec import Challenge, fields_at
from codefest.core.errors import CodefestError
from codefest.core.registry import UnknownKeyError, unknown_key_message

BUNDLED = Path(__file__).parent
PATH_VARIABLE = "CODEFEST_CHALLENGES_PATH"
SPEC_FILE = "challenge.yaml"


@dataclass(frozen=True)
class LoadedChallenge:
    spec: Challenge
    folder: Path

    @property
    def readme(self) -> Path | None:
        path = self.folder / "README.md"
        return path if path.is_file() else None


def search_path() -> list[Path]:
    """The bundled folder first, then the organiser's own, in the order given."""
    folders = [BUNDLED]
    for entry in filter(None, os.environ.get(PATH_VARIABLE, "").split(os.pathsep)):
        folder = Path(entry).expanduser().resolve()
        if not folder.is_dir():
            raise CodefestError(
                f"{PATH_VARIABLE} names '{entry}', which is not a folder",
                f"create it, or remove it from {PATH_VARIABLE}",
            )
        folders.append(folder)
    return folders


def discover() -> dict[str, Path]:
    """slug -> challenge folder; a slug defined twice is an error rather than a silent override."""
    found: dict[str, Path] = {}
    for root in search_path():
        for spec in sorted(root.glob(f"*/{SPEC_FILE}")):
            slug = spec.parent.name
            if slug in found:
                raise CodefestError(
                    f"challenge '{slug}' is defined twice: {found[slug]} and {spec.parent}",
                    "rename one of the folders (the folder name is the slug)",
                )
            found[slug] = spec.parent
    return found


def load(slug: str) -> LoadedChallenge:
    folders = discover()
    if slug not in folders:
        raise UnknownKeyError("challenge", slug, list(folders))
    return LoadedChallenge(load_file(folders[slug] / SPEC_FILE), folders[slug])


def load_all() -> tuple[list[LoadedChallenge], list[CodefestError]]:
    """Every challenge that loads, and the problems of those that do not, so one bad file hides no other."""
    loaded, problems = [], []
    for folder in discover().values():
        try:
            loaded.append(LoadedChallenge(load_file(folder / SPEC_FILE), folder))
        except CodefestError as err:
            problems.append(err)
    return loaded, problems


def load_file(path: Path) -> Challenge:
    raw = _read_yaml(path)
    try:
        spec = Challenge.model_validate(raw)
    except ValidationError as err:
        raise CodefestError(
            f"{path} is not a valid challenge:\n" + "\n".join(f"  - {line}" for line in describe(err, Challenge)),
            "correct the keys named above (see challenges/README.md for the format)",
        ) from None
    if spec.slug != path.parent.name:
        raise CodefestError(
            f"{path}: key 'slug' is '{spec.slug}' but the folder is '{path.parent.name}'",
            "make the slug and the folder name the same",
        )
    return spec


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CodefestError(f"{path} not found", f"create {SPEC_FILE} in the challenge folder") from None
    except UnicodeDecodeError as err:
        raise CodefestError(f"{path} is not UTF-8 text ({err.reason})", "save it as UTF-8") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise CodefestError(f"{path} is not valid YAML{where}: {problem}", "fix the YAML syntax there") from None
    if not isinstance(raw, dict):
        raise CodefestError(f"{path} must hold a mapping of keys", "start from a bundled challenge.yaml")
    return raw


def describe(err: ValidationError, model: type[BaseModel]) -> list[str]:
    """One line per problem: the key's path, what is wrong and, for unknown keys, the allowed ones."""
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"]]
        key = ".".join(loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = fields_at(model, e["loc"][:-1])
            lines.append(f"key '{key}': " + unknown_key_message("key", loc[-1], allowed))
        elif e["type"] in ("unknown_key", "other_task"):  # the challenge's check of its task's keys
            lines.append(f"key '{key}': {e['msg']}")
        elif e["type"] == "missing":
            lines.append(f"key '{key}' is missing")
        else:
            message = e["msg"].removeprefix("Value error, ")
            lines.append(f"key '{key}': {message} (got {_short(e.get('input'))})")
    return lines


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
