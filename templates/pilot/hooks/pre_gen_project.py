"""Refuse answers that would make a broken pilot, with a message that says which answer and how to fix it."""

import keyword
import re
import sys

ANSWERS = {
    "project_slug": "{{ cookiecutter.project_slug }}",
    "package_name": "{{ cookiecutter.package_name }}",
    "challenge": "{{ cookiecutter.challenge }}",
    "team": "{{ cookiecutter.team }}",
}  # the task is a choice cookiecutter checks, and post_gen_project.py refuses a task without a baseline folder
# names a pilot package must not take: they would shadow the framework or its libraries
TAKEN = {"codefest", "challenges", "shared_datasets", "evaluation", "leaderboard", "datasets", "mlflow", "sklearn",
         "bm25s", "sacrebleu", "test", "tests"}  # fmt: skip


def problems(answers: dict) -> list:
    found = []
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,62}[a-z0-9]", answers["project_slug"]):
        found.append(
            f"project_slug {answers['project_slug']!r}: use lower-case letters, digits and dashes, e.g. ipo-ipc-pilot"
        )
    package = answers["package_name"]
    if not package.isidentifier() or keyword.iskeyword(package) or not package.islower():
        found.append(f"package_name {package!r}: use a lower-case Python identifier, e.g. ipo_ipc_pilot")
    elif package in TAKEN:
        found.append(f"package_name {package!r} would shadow a library of the same name; choose another")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}[a-z0-9]", answers["challenge"]):
        found.append(f"challenge {answers['challenge']!r}: give the challenge's slug, e.g. ipc-classification")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", answers["team"]):
        found.append(f"team {answers['team']!r}: use letters, digits, '-', '_' or '.'")
    return found


if __name__ == "__main__":
    refused = problems(ANSWERS)
    for problem in refused:
        print(f"codefest template: {problem}", file=sys.stderr)
    sys.exit(1 if refused else 0)
