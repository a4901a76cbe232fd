"""What a pilot declares it needs, read from its own files and checked before anything is installed.

The first of these a pilot holds is read, the others ignored: `uv.lock` (exported to requirement lines by
`codefest.evaluation.environments`), `requirements.txt` at the pilot's root, else `[project] dependencies` of its
pyproject.toml. Only plain PEP 508 requirements pass (`name[extras] specifiers ; marker`): a direct reference (a URL,
a VCS checkout, a path) or an option line (`-e`, `--index-url`, `-r` ...) would install from somewhere other than the
organisers' sources, or run a participant's build code, so each is refused with its line and the fix.

The files are read as plain files of bounded size, never through a link: the stored pilot is read as root, and a
link could point at the vault.
"""

from __future__ import annotations

import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from codefest.core.errors import CodefestError

LOCK, REQUIREMENTS, PYPROJECT = "uv.lock", "requirements.txt", "pyproject.toml"
MAX_FILE_BYTES = 4 * 1024**2  # a lock file of a large project is a few hundred KiB
MAX_REQUIREMENTS = 1000
SHOWN_CHARS = 120  # of a refused line, in the message
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")  # a project name (PEP 508)
_COMMENT = re.compile(r"(^|\s)#.*$")
_LEADING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
_ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")
DOCS = "docs/code-submissions.md"


class EnvironmentFailure(CodefestError):
    """The pilot's environment cannot be built from what it declares: the submission ends `environment`.

    Its message reaches the team: it names the pilot's own file and line, or what the resolver said, never a path
    of the organisers' machine.
    """


@dataclass(frozen=True)
class Declared:
    """Where the requirements come from, and their lines as (line number, text) in that file."""

    source: str  # LOCK, REQUIREMENTS or PYPROJECT
    lines: list[tuple[int, str]]
    project: str | None = None  # [project] name: a lock file is exported for it
    lock: str = ""  # the lock file's text, for the export


def plain_text(path: Path, limit: int = MAX_FILE_BYTES) -> str | None:
    """A pilot's file as text: None when absent; refused when a link, a special file, too large or not UTF-8."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise EnvironmentFailure(f"the pilot's {path.name} is a link or a special file", f"make {path.name} a file")
    if info.st_size > limit:
        raise EnvironmentFailure(f"the pilot's {path.name} is over {limit // 1024**2} MiB", "keep it small")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise EnvironmentFailure(f"the pilot's {path.name} is not UTF-8 text", "save it as UTF-8") from None


def _project(pilot: Path) -> dict:
    text = plain_text(pilot / PYPROJECT, MAX_FILE_BYTES) or ""
    try:
        project = tomllib.loads(text).get("project", {})
    except (tomllib.TOMLDecodeError, RecursionError) as err:
        raise EnvironmentFailure(f"the pilot's {PYPROJECT} is not valid TOML ({err})", "fix its syntax") from None
    return project if isinstance(project, dict) else {}


def _dependencies(project: dict) -> list[tuple[int, str]]:
    found = project.get("dependencies", [])
    if not isinstance(found, list) or not all(isinstance(item, str) for item in found):
        raise EnvironmentFailure(
            f"[project] dependencies in the pilot's {PYPROJECT} is not a list of strings",
            'write them as dependencies = ["numpy>=1.26", "scikit-learn"]',
        )
    return [(number, item) for number, item in enumerate(found, start=1)]


def _project_name(project: dict) -> str:
    name = project.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise EnvironmentFailure(
            f"the pilot has a {LOCK} but its {PYPROJECT} has no valid [project] name",
            f"give the project the name it was locked with, or remove {LOCK}",
        )
    return name


def declared(pilot: Path) -> Declared:
    """The pilot's declaration, from the first of uv.lock, requirements.txt and pyproject.toml that it holds."""
    project = _project(pilot)
    lock = plain_text(pilot / LOCK)
    if lock is not None:
        return Declared(LOCK, [], _project_name(project), lock)
    listed = plain_text(pilot / REQUIREMENTS)
    if listed is not None:
        return Declared(REQUIREMENTS, logical_lines(listed))
    return Declared(PYPROJECT, _dependencies(project))


def logical_lines(text: str) -> list[tuple[int, str]]:
    """A requirements file's lines as pip reads them: comments dropped, `\\` continuations joined, blanks skipped;
    each numbered by the line it starts on."""
    found: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT.sub("", raw)
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        joined, pending = (pending + line).strip(), ""
        if joined:
            found.append((start, joined))
    if pending.strip():
        found.append((start, pending.strip()))
    return found


def _shown(line: str) -> str:
    return line if len(line) <= SHOWN_CHARS else line[:SHOWN_CHARS] + "..."


def _refusal(source: str, number: int, line: str, reason: str, fix: str) -> EnvironmentFailure:
    if source == LOCK:  # the line is one of uv's export, not of the lock file: the package names it
        named = _LEADING_NAME.match(line)
        where = f"the entry {named.group(0)!r}" if named and not _looks_like_path(line) else "an entry"
    else:
        where = f"dependency {number} of [project] dependencies" if source == PYPROJECT else f"line {number}"
    return EnvironmentFailure(f"{where} of the pilot's {source} ({_shown(line)!r}) {reason}", fix)


def _looks_like_path(line: str) -> bool:
    """A local file or folder given for a requirement: `./libs/x`, `/abs/x.whl`, `x-1.0.tar.gz`, `-e ./x`."""
    first = line.removeprefix("-e").removeprefix("--editable").strip().split(";")[0].split()[0] if line else ""
    return first.startswith((".", "/", "~", "file:")) or "/" in first or first.endswith(_ARCHIVES)


def _direct_reference(source: str, number: int, line: str, name: str | None) -> EnvironmentFailure:
    package = f'"{name}"' if name else "the package"
    fix = (
        f"depend on {package} by name and versions; if it is not on the package registry, ask the organisers to add "
        "its wheel"
    )
    return _refusal(source, number, line, "is a direct reference (a URL, a VCS checkout or a path)", fix)


def checked_line(source: str, number: int, line: str) -> str:
    """One requirement as a plain PEP 508 string in its canonical spelling, or the refusal naming the line."""
    if _looks_like_path(line):
        raise _direct_reference(source, number, line, None)
    if line.startswith("-"):
        fix = f"remove it: codefest installs only named packages, from the organisers' sources (see {DOCS})"
        raise _refusal(source, number, line, "is an option line, which codefest does not follow", fix)
    if "$" in line:  # an installer would expand ${VARIABLE} from its own environment
        raise _refusal(source, number, line, "holds a '$'", "write the requirement without variables")
    try:
        requirement = Requirement(line)
    except InvalidRequirement as err:
        reason = f"is not a requirement ({_shown(str(err).splitlines()[0])})"
        raise _refusal(source, number, line, reason, 'write it as a name and versions, e.g. "numpy>=1.26"') from None
    if requirement.url is not None:
        raise _direct_reference(source, number, line, requirement.name)
    return canonical(requirement)


def canonical(requirement: Requirement) -> str:
    """One spelling for one requirement (`CF_Widget == 1.0` is `cf-widget==1.0`): the same needs, the same key."""
    extras = ",".join(sorted(canonicalize_name(extra) for extra in requirement.extras))
    marker = f"; {requirement.marker}" if requirement.marker else ""
    return f"{canonicalize_name(requirement.name)}{f'[{extras}]' if extras else ''}{requirement.specifier}{marker}"


def checked(source: str, lines: list[tuple[int, str]]) -> list[str]:
    """Every line checked; the requirements sorted and without repeats, so that the same needs give the same key."""
    if len(lines) > MAX_REQUIREMENTS:
        raise EnvironmentFailure(
            f"the pilot's {source} lists {len(lines)} requirements, over the limit of {MAX_REQUIREMENTS}",
            "depend on fewer packages",
        )
    return sorted({checked_line(source, number, line) for number, line in lines})
