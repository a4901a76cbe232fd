"""Jinja filters for the pilot template: where the framework comes from, where its workspace is, and what a task's
baseline folder says about it. All are resolved at bake time; none raises, so that a bad answer reaches the
pre_gen_project hook, which refuses it in one line (a filter's exception would be cookiecutter's traceback).
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tomllib
from pathlib import Path

from cookiecutter.utils import simple_filter

HERE = Path(__file__).resolve().parent
FRAMEWORK = HERE.parents[1]  # templates/pilot/local_extensions.py -> the codefest checkout
BASELINES = HERE / "{{cookiecutter.project_slug}}" / "baselines"
ABOUT = "task.toml"


class _RefusalWithoutTraceback(logging.Filter):
    """Cookiecutter logs a hook's refusal with the traceback of its own FailedHookException, under the hook's one-line
    reasons: keep its message, drop the traceback (any other exception keeps its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if type(error).__name__ == "FailedHookException":
            record.exc_info, record.exc_text = None, None
        return True


_HOOKS_LOG = logging.getLogger("cookiecutter.hooks")
if not any(isinstance(f, _RefusalWithoutTraceback) for f in _HOOKS_LOG.filters):
    _HOOKS_LOG.addFilter(_RefusalWithoutTraceback())


def _git(*args: str) -> str:
    """A git query on the checkout; empty when git, the repository or the answer is missing."""
    try:
        done = subprocess.run(["git", "-C", str(FRAMEWORK), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def checkout_source() -> str:
    """Where a pilot baked from this checkout installs codefest when the answer is 'auto': the checkout's remote
    `origin` as a pip git URL pinned to the commit baked from, which any runner that reaches the remote installs. A
    checkout without a remote gives itself at that commit (pip then builds a clone, not the checkout's own tree), a
    folder that is not a repository its file URL: both work on this machine only, and `codefest new` says so."""
    remote, commit = _git("remote", "get-url", "origin"), _git("rev-parse", "HEAD")
    if not commit:
        return FRAMEWORK.as_uri()
    if not remote:
        return f"git+file://localhost{FRAMEWORK.as_posix()}@{commit}"
    if remote.startswith("git@") and ":" in remote:  # scp-like syntax, which pip does not read
        host, _, path = remote[len("git@") :].partition(":")
        remote = f"ssh://git@{host}/{path}"
    elif remote.startswith("/"):  # a remote on this host; a URL with a host part, which older pips require
        remote = f"file://localhost{Path(remote).as_posix()}"
    elif remote.startswith("file:///"):
        remote = "file://localhost/" + remote.removeprefix("file:///")
    return f"git+{remote}@{commit}"


@simple_filter
def codefest_source(answer: str) -> str:
    """The requirement's URL: 'auto' is checkout_source(); an absolute path becomes its file URL; a URL is kept."""
    answer = answer.strip()
    if answer == "auto":
        return checkout_source()
    if answer.startswith("/"):
        return Path(answer).as_uri()
    return answer


@simple_filter
def codefest_home(answer: str) -> str:
    """'auto' is the workspace codefest itself uses from here: CODEFEST_HOME if set, else ./.codefest."""
    if answer != "auto":
        return str(Path(answer).expanduser().resolve())
    return str(Path(os.environ.get("CODEFEST_HOME") or ".codefest").resolve())


def baseline_tasks() -> list[str]:
    """The tasks the template has a baseline for: the folders of baselines/ holding a task.toml."""
    return sorted(p.name for p in BASELINES.iterdir() if (p / ABOUT).is_file())


@simple_filter
def known_tasks(_: str) -> str:
    """The baseline tasks, comma-separated, for the hook that checks the task answer."""
    return ",".join(baseline_tasks())


@simple_filter
def from_baseline(task: str, key: str) -> str:
    """A value of baselines/TASK/task.toml (a default answer, a paragraph): a new task is its folder, nothing else.
    For a task without a baseline, a name from the task and nothing else, which the hook then refuses."""
    about = BASELINES / task / ABOUT
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", task) or not about.is_file():
        return f"{re.sub(r'[^a-z0-9]+', '-', task.lower()).strip('-')} pilot" if key == "project_name" else ""
    return str(tomllib.loads(about.read_text(encoding="utf-8"))[key]).strip()
