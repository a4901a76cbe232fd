"""Refuse answers that would make a broken pilot, with one line that says which answer and how to fix it.

The task must have a baseline folder; the challenge must be one of the task's challenges that codefest discovers
(when codefest is importable where cookiecutter runs; else only its shape is checked); codefest's source must be
an address that another machine can read too. Answers are checked in order and the first wrong one is reported
alone, since later defaults derive from earlier answers. The functions are tested as code in the codefest
repository (tests/test_template_hooks.py), and through real bakes (tests/test_templates.py).
"""

import keyword
import os
import re
import sys

ANSWERS = {
    "task": "{{ cookiecutter.task }}",
    "project_slug": "{{ cookiecutter.project_slug }}",
    "package_name": "{{ cookiecutter.package_name }}",
    "challenge": "{{ cookiecutter.challenge }}",
    "team": "{{ cookiecutter.team }}",
    "codefest_source": "{{ cookiecutter.codefest_source | codefest_source }}",
}
BASELINES = "{{ cookiecutter.task | known_tasks }}"  # comma-separated, rendered at bake time
# names a pilot package must not take: they would shadow the framework or its libraries
TAKEN = {"codefest", "challenges", "shared_datasets", "evaluation", "leaderboard", "datasets", "mlflow", "sklearn",
         "bm25s", "sacrebleu", "test", "tests"}  # fmt: skip
# what pip installs from on any machine: a git repository, or a wheel or archive over http(s)
PORTABLE = re.compile(r"(git\+(https|ssh|git|http)://\S+|https?://\S+\.(whl|tar\.gz|zip)(#\S*)?)")
LOCAL = re.compile(
    r"(git\+)?file://(localhost)?/\S+"
)  # this machine only, or a runner that has the same path (tests, CI)


def nearest(word: str, choices: list) -> str:
    """'; did you mean X?' for a near miss among choices, else nothing."""
    import difflib

    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def task_problem(task: str, known: list) -> str:
    if task not in known:
        return f"task {task!r} has no baseline in the template: give one of {', '.join(known)}{nearest(task, known)}"
    return ""


def discovered(task: str, challenge: str) -> dict | None:
    """Every challenge codefest discovers (its own and CODEFEST_CHALLENGES_PATH's) with its task; None when codefest
    is not importable here (cookiecutter run outside codefest's environment). `codefest new` checks the challenge
    itself before it bakes, and says so in CODEFEST_CHECKED_CHALLENGE: loading them again would cost seconds."""
    if os.environ.get("CODEFEST_CHECKED_CHALLENGE") == f"{task}:{challenge}":
        return {challenge: task}
    try:
        from codefest.challenges.discovery import load_all
    except ImportError:
        return None
    return {item.spec.slug: item.spec.task for item in load_all()[0]}


def challenge_problem(challenge: str, task: str, challenges: dict | None) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{1,62}[a-z0-9]", challenge):
        return f"challenge {challenge!r}: give the challenge's slug, e.g. ipc-classification"
    if challenges is None:
        return ""
    own = sorted(slug for slug, its in challenges.items() if its == task)
    offer = f"give one of {', '.join(own)}" if own else f"declare a {task} challenge first (codefest challenges list)"
    if challenge not in challenges:
        return f"challenge {challenge!r} is not a challenge codefest knows: {offer}{nearest(challenge, own)}"
    if challenges[challenge] != task:
        return f"challenge {challenge!r} is a {challenges[challenge]} challenge, not a {task} one: {offer}"
    return ""


def source_problem(source: str) -> str:
    if PORTABLE.fullmatch(source) or LOCAL.fullmatch(source):
        return ""
    return (
        f"codefest_source {source!r}: give a git URL (git+https://HOST/ORG/codefest@REF), a wheel's URL, "
        "or an absolute path to a codefest wheel or checkout"
    )


def problems(answers: dict, known: list, challenges: dict | None) -> list:
    """The problems of the answers, the task's alone when it is wrong (the rest derive from it)."""
    wrong_task = task_problem(answers["task"], known)
    if wrong_task:
        return [wrong_task]
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
    found.append(challenge_problem(answers["challenge"], answers["task"], challenges))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", answers["team"]):
        found.append(f"team {answers['team']!r}: use letters, digits, '-', '_' or '.'")
    found.append(source_problem(answers["codefest_source"]))
    return [problem for problem in found if problem]


if __name__ == "__main__":
    refused = problems(ANSWERS, BASELINES.split(","), discovered(ANSWERS["task"], ANSWERS["challenge"]))
    for problem in refused:
        print(f"codefest template: {problem}", file=sys.stderr)
    sys.exit(1 if refused else 0)
