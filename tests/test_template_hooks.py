"""The pilot template's code, tested as code: its post-generation hook on small trees, its Jinja filter, and the
template's shape (one tree, a baseline folder per task, nothing linked or included). Baking is in test_templates."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType

import jinja2
import pytest

from codefest.challenges.discovery import load
from codefest.scaffold import TEMPLATE, TEMPLATES, baseline_tasks
from codefest.tasks import TASKS

TREE = TEMPLATE / "{{cookiecutter.project_slug}}"
BASELINES = TREE / "baselines"


def _module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _module(TEMPLATE / "hooks" / "post_gen_project.py")
answers = _module(TEMPLATE / "hooks" / "pre_gen_project.py")  # its Jinja sits in strings: it imports as it is
extensions = _module(TEMPLATE / "local_extensions.py")
PYPROJECT = 'dependencies = [\n    "datasets>=3.0",\n    "joblib>=1.3",\n]\n\n[tool.x]\ny = []\n'


def _project(root: Path, package: str = "office_pilot", task: str = "ranking") -> Path:
    """A rendered project as cookiecutter leaves it for the hook: shared files, answers and baseline folders."""
    project = root / "office-pilot"
    (project / "src" / package).mkdir(parents=True)
    (project / "tests").mkdir()
    (project / "src" / package / "data.py").write_text("BUNDLE = 1\n")
    (project / "tests" / "test_pilot.py").write_text("from pilotpkg.data import BUNDLE\nfrom pilotpkgs import x\n")
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "ruff.toml").write_text('extend = "pyproject.toml"\n')
    (project / ".cookiecutter.json").write_text(json.dumps({"task": task, "package_name": package}))
    ranking = project / "baselines" / "ranking"
    (ranking / "features").mkdir(parents=True)
    (ranking / "task.toml").write_text('project_name = "Ranking pilot"\ndependencies = ["bm25s>=0.2", "rank-x"]\n')
    (ranking / "model.py").write_text("from .scoring import score\n")
    (ranking / "scoring.py").write_text("def score() -> int:\n    return 1\n")
    (ranking / "features" / "__init__.py").write_text("from pilotpkg.scoring import score\n")
    (ranking / "test_model.py").write_text("from pilotpkg.model import score\n")
    (ranking / "test_scoring.py").write_text("import pilotpkg.scoring\n")
    (project / "baselines" / "other").mkdir()
    (project / "baselines" / "other" / "task.toml").write_text("dependencies = []\n")
    (project / "baselines" / "other" / "model.py").write_text("OTHER = 1\n")
    return project


def test_the_hook_keeps_the_chosen_baseline_over_several_modules_and_removes_the_rest(tmp_path: Path) -> None:
    project = _project(tmp_path)
    assert hook.main(project) == 0
    files = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert files == [
        ".cookiecutter.json",
        "pyproject.toml",
        "src/office_pilot/data.py",
        "src/office_pilot/features/__init__.py",
        "src/office_pilot/model.py",
        "src/office_pilot/scoring.py",
        "tests/test_model.py",
        "tests/test_pilot.py",
        "tests/test_scoring.py",
    ]
    assert (project / "tests" / "test_model.py").read_text() == "from office_pilot.model import score\n"
    assert (project / "tests" / "test_scoring.py").read_text() == "import office_pilot.scoring\n"
    assert (project / "src/office_pilot/features/__init__.py").read_text() == "from office_pilot.scoring import score\n"
    assert (project / "src/office_pilot/model.py").read_text() == "from .scoring import score\n"
    shared = (project / "tests" / "test_pilot.py").read_text()
    assert shared == "from office_pilot.data import BUNDLE\nfrom pilotpkgs import x\n"  # whole names only
    pyproject = (project / "pyproject.toml").read_text()
    assert pyproject == PYPROJECT.replace('"joblib>=1.3",\n', '"joblib>=1.3",\n    "bm25s>=0.2",\n    "rank-x",\n')


def test_the_hook_refuses_a_task_without_a_baseline_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = _project(tmp_path, task="translation")
    assert hook.main(project) == 1
    err = capsys.readouterr().err
    assert "codefest template: task 'translation': no baseline folder baselines/translation/" in err
    assert "(there are: other, ranking)" in err
    assert (project / "baselines" / "ranking" / "model.py").is_file()  # nothing moved


def test_the_hook_refuses_a_baseline_that_would_overwrite_a_shared_file(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "baselines" / "ranking" / "data.py").write_text("CLASH = 1\n")
    (project / "baselines" / "ranking" / "test_pilot.py").write_text("CLASH = 1\n")
    with pytest.raises(hook.RefusedBaseline, match=r"would overwrite src/office_pilot/data.py, tests/test_pilot.py"):
        hook.install_baseline(project / "baselines" / "ranking", project, "office_pilot")
    assert (project / "src" / "office_pilot" / "data.py").read_text() == "BUNDLE = 1\n"
    assert not (project / "src" / "office_pilot" / "model.py").exists()


def test_a_test_module_goes_to_tests_and_anything_else_into_the_package(tmp_path: Path) -> None:
    (tmp_path / "test_data").mkdir()
    (tmp_path / "test_model.py").write_text("")
    (tmp_path / "testing.py").write_text("")
    where = {name: hook.destination(tmp_path / name, Path("p"), "pkg") for name in ("test_data", "test_model.py")}
    assert where == {"test_data": Path("p/src/pkg/test_data"), "test_model.py": Path("p/tests/test_model.py")}
    assert hook.destination(tmp_path / "testing.py", Path("p"), "pkg") == Path("p/src/pkg/testing.py")


def test_dependencies_are_appended_to_the_project_list_only() -> None:
    assert hook.add_dependencies(PYPROJECT, []) == PYPROJECT
    assert hook.add_dependencies(PYPROJECT, ["a>=1"]).count('"a>=1"') == 1
    assert hook.add_dependencies(PYPROJECT, ["a>=1"]).endswith('    "a>=1",\n]\n\n[tool.x]\ny = []\n')


def test_the_filter_reads_a_value_of_the_tasks_baseline_folder() -> None:
    env = jinja2.Environment(extensions=[extensions.from_baseline, extensions.known_tasks])
    assert env.from_string("{{ 'search' | from_baseline('challenge') }}").render() == "prior-art-search"
    readme = env.from_string("{{ 'classification' | from_baseline('readme') }}").render()
    assert readme.startswith("**Task**: assign IPC symbols") and readme.endswith("ranking symbols by score.")
    # a task without a baseline renders, so that the pre_gen_project hook refuses it in one line
    assert env.from_string("{{ 'Rank ing!' | from_baseline('project_name') }}").render() == "rank-ing pilot"
    assert env.from_string("{{ '../search' | from_baseline('challenge') }}").render() == ""
    assert env.from_string("{{ '' | known_tasks }}").render() == "classification,search,translation"


def test_one_template_whose_task_answers_are_its_baseline_folders() -> None:
    questions = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    assert sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir()) == ["pilot"]
    tasks = sorted(p.parent.name for p in BASELINES.glob("*/task.toml"))
    assert baseline_tasks() == extensions.baseline_tasks() == tasks
    assert next(iter(questions)) == "task"  # asked first: the defaults after it depend on it
    assert questions["task"] in tasks  # a text answer, which the hook checks (a choice fails in cookiecutter)
    assert all(task in questions["__prompts__"]["task"] for task in tasks)  # the question names every answer
    for task in tasks:
        about = tomllib.loads((BASELINES / task / "task.toml").read_text())
        TASKS.get(task)
        assert load(about["challenge"]).spec.task == task  # the default challenge is one of the task's own
        assert {"project_name", "challenge", "dependencies", "readme", "metrics", "oversight"} <= set(about)


def test_no_link_no_include_and_no_jinja_in_the_baselines() -> None:
    paths = list(TEMPLATES.rglob("*"))
    assert not [p for p in paths if p.is_symlink()]
    caches = {"__pycache__", ".ruff_cache"}  # written by Python and ruff here, never baked (the tree test says so)
    texts = {p: p.read_text(encoding="utf-8") for p in paths if p.is_file() and not caches & set(p.parts)}
    assert not [p for p, text in texts.items() if "{% include" in text or "{%- include" in text]
    assert not [p for p, text in texts.items() if BASELINES in p.parents and ("{{" in text or "{%" in text)]


GOOD = {
    "task": "classification",
    "project_slug": "office-a-ipc",
    "package_name": "office_a_ipc",
    "challenge": "ipc-classification",
    "team": "office-a",
    "codefest_source": "git+https://git.example.org/wipo/codefest@v0.1.0",
}
TASK_NAMES = ["classification", "search", "translation"]


def test_the_answers_hook_checks_the_challenge_against_the_discovered_ones_of_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    challenges = answers.discovered("classification", "ipc-classification")
    assert challenges is not None and challenges["prior-art-search"] == "search"
    assert answers.problems(GOOD, TASK_NAMES, challenges) == []
    for challenge, message in (
        ("no-such", "challenge 'no-such' is not a challenge codefest knows: give one of ipc-classification"),
        ("ipc-clasification", "knows: give one of ipc-classification; did you mean 'ipc-classification'?"),
        ("prior-art-search", "'prior-art-search' is a search challenge, not a classification one: give one of ipc"),
        ("Bad Slug", "challenge 'Bad Slug': give the challenge's slug"),
    ):
        (problem,) = answers.problems(GOOD | {"challenge": challenge}, TASK_NAMES, challenges)
        assert message in problem
    # what `codefest new` checked before baking is not loaded again; anything else is
    monkeypatch.setenv("CODEFEST_CHECKED_CHALLENGE", "classification:ipc-classification")
    assert answers.discovered("classification", "ipc-classification") == {"ipc-classification": "classification"}
    assert len(answers.discovered("classification", "no-such") or {}) > 1
    # without codefest where cookiecutter runs, the shape alone is checked
    assert answers.problems(GOOD | {"challenge": "no-such"}, TASK_NAMES, None) == []


def test_a_task_without_a_baseline_is_the_one_problem_reported() -> None:
    wrong = GOOD | {"task": "Search", "project_slug": "search-pilot", "challenge": ""}
    assert answers.problems(wrong, TASK_NAMES, {}) == [
        "task 'Search' has no baseline in the template: give one of classification, search, translation; "
        "did you mean 'search'?"
    ]


def test_codefest_source_must_be_readable_from_another_machine_or_an_absolute_local_one() -> None:
    for source in (
        "git+https://github.com/wipo/codefest@3fb5fc95",
        "git+ssh://git@github.com/wipo/codefest@main",
        "https://example.org/dist/codefest-0.1.0-py3-none-any.whl",
        "file:///srv/wheels/codefest-0.1.0-py3-none-any.whl",
        "git+file://localhost/srv/git/codefest.git@v1",
    ):
        assert answers.source_problem(source) == "", source
    for source in ("../codefest", "codefest", "codefest>=0.1", "https://example.org/codefest"):
        assert "give a git URL" in answers.source_problem(source), source


def test_codefest_source_auto_is_the_checkouts_remote_at_its_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = jinja2.Environment(extensions=[extensions.codefest_source, extensions.codefest_home])
    source = lambda answer: env.from_string("{{ answer | codefest_source }}").render(answer=answer)  # noqa: E731
    checkout = tmp_path / "codefest"
    git = ["git", "-C", str(checkout), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    monkeypatch.setattr(extensions, "FRAMEWORK", tmp_path)
    assert source("auto") == tmp_path.as_uri()  # not a repository: its folder, on this machine only
    monkeypatch.setattr(extensions, "FRAMEWORK", checkout)
    assert source("auto") == f"git+file://localhost{checkout}@{commit}"  # no remote: itself, on this machine only
    for remote, url in (
        ("https://github.com/wipo/codefest.git", "git+https://github.com/wipo/codefest.git"),
        ("git@github.com:wipo/codefest.git", "git+ssh://git@github.com/wipo/codefest.git"),
        ("/srv/git/codefest.git", "git+file://localhost/srv/git/codefest.git"),
    ):
        subprocess.run([*git, "remote", "remove", "origin"], capture_output=True)
        subprocess.run([*git, "remote", "add", "origin", remote], check=True)
        assert source("auto") == f"{url}@{commit}"
    assert source("/srv/wheels/codefest-0.1.0-py3-none-any.whl") == "file:///srv/wheels/codefest-0.1.0-py3-none-any.whl"
    assert source("git+https://h/o/codefest@v1") == "git+https://h/o/codefest@v1"
    home = lambda answer: env.from_string("{{ answer | codefest_home }}").render(answer=answer)  # noqa: E731
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODEFEST_HOME", raising=False)
    assert home("auto") == str(tmp_path / ".codefest")  # where codefest's own commands put the workspace
    monkeypatch.setenv("CODEFEST_HOME", str(tmp_path / "event"))
    assert home("auto") == str(tmp_path / "event")
