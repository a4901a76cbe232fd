"""The pilot template, tested by baking it for each task: the tree, the answers, and inside each pilot its lint,
tests, training on the bundled challenge, predictions the harness accepts, and a code submission. Its hook and filter
are tested as code in test_template_hooks."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from mlflow import MlflowClient

from codefest.challenges.discovery import load
from codefest.core.errors import CodefestError
from codefest.evaluation import roster
from codefest.evaluation.scoring import score_files
from codefest.scaffold import TEMPLATE, TEMPLATES, bake, parse_answers
from codefest.shared_datasets.heldout import build
from tests.test_cli import assert_clean_failure, codefest

pytestmark = pytest.mark.slow  # bakes pilots from the templates and trains them

CHALLENGE = {
    "classification": "ipc-classification",
    "translation": "patent-translation-en-fr",
    "search": "prior-art-search",
}
TREE = [
    ".cookiecutter.json",
    ".github/workflows/ci.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "MODEL_CARD.md",
    "README.md",
    "noxfile.py",
    "pyproject.toml",
    "src/{pkg}/__init__.py",
    "src/{pkg}/data.py",
    "src/{pkg}/model.py",
    "src/{pkg}/predict.py",
    "src/{pkg}/tracking.py",
    "src/{pkg}/train.py",
    "tests/conftest.py",
    "tests/test_model.py",
    "tests/test_pilot.py",
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three bundled challenges, built as organisers build them."""
    root = tmp_path_factory.mktemp("workspace")
    for slug in CHALLENGE.values():
        build(load(slug), root)
    return root


@pytest.fixture(scope="module", params=list(CHALLENGE))
def pilot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, workspace: Path) -> Path:
    task = request.param
    answers = {"project_name": f"Office A {task} pilot", "team": f"office-a-{task}", "codefest_home": str(workspace)}
    return bake(task, tmp_path_factory.mktemp("baked"), no_input=True, answers=answers)


def _run(pilot: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "CODEFEST_HOME")}
    env["PYTHONPATH"] = str(pilot / "src")  # as `pip install -e .` of the pilot would make it importable
    return subprocess.run(args, cwd=pilot, capture_output=True, text=True, env=env, timeout=900)


def _task(pilot: Path) -> str:
    return json.loads((pilot / ".cookiecutter.json").read_text())["task"]


def test_the_tree_is_exact_and_fully_rendered(pilot: Path) -> None:
    answers = json.loads((pilot / ".cookiecutter.json").read_text())
    package = answers["package_name"]
    assert package == f"office_a_{answers['task']}_pilot"
    files = sorted(str(p.relative_to(pilot)) for p in pilot.rglob("*") if p.is_file())
    assert files == sorted(t.format(pkg=package) for t in TREE)
    for path in pilot.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "{{" not in text and "{%" not in text, path
            assert "pilotpkg" not in text, path
    pyproject = (pilot / "pyproject.toml").read_text()
    assert f'"codefest @ {TEMPLATES.parent.resolve().as_uri()}"' in pyproject
    assert f'predict = "{package}.predict"' in pyproject
    assert ('    "bm25s>=0.2",\n]' in pyproject) == (answers["task"] == "search")  # the baseline's own dependency
    assert f"challenge `{CHALLENGE[answers['task']]}`" in (pilot / "README.md").read_text()
    assert "## Human oversight" in (pilot / "MODEL_CARD.md").read_text()


def test_lint_and_the_pilots_own_tests_pass(pilot: Path) -> None:
    for command in (["ruff", "check", "."], ["ruff", "format", "--check", "."]):
        result = _run(pilot, sys.executable, "-m", *command)
        assert result.returncode == 0, result.stdout + result.stderr
    result = _run(pilot, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_the_baseline_trains_on_the_bundled_challenge_and_predicts_valid_files(pilot: Path, workspace: Path) -> None:
    task = _task(pilot)
    package = json.loads((pilot / ".cookiecutter.json").read_text())["package_name"]
    bundle = workspace / "bundles" / CHALLENGE[task]
    result = _run(pilot, sys.executable, "-m", f"{package}.train", "--bundle", str(bundle))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("trained ")
    assert any((pilot / "models").iterdir())
    client = MlflowClient(tracking_uri=f"sqlite:///{pilot / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name(pilot.name).experiment_id])[0]
    assert run.data.params["model"] and "train_seconds" in run.data.metrics
    assert any(key.startswith(("top_prediction", "bleu", "map")) for key in run.data.metrics)
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["model"]
    output = pilot / "predictions" / "test.jsonl"
    result = _run(
        pilot,
        sys.executable,
        "-m",
        f"{package}.predict",
        "--input",
        str(bundle / "test.jsonl"),
        "--output",
        str(output),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    vault = workspace / "vault" / CHALLENGE[task]
    gold = vault / ("test.qrels" if task == "search" else "test-labels.jsonl")
    assert score_files(task, gold, output, resamples=0).n_items > 0  # validated, or it raises


class SessionError(Exception):
    pass


class Recorded:
    """A nox session that records what the pilot's noxfile asks of it instead of doing it."""

    def __init__(self, *posargs: str) -> None:
        self.posargs, self.installed, self.ran = list(posargs), [], []

    def install(self, *args: str) -> None:
        self.installed.append(args)

    def run(self, *args: str, **_: object) -> None:
        self.ran.append(args)

    def error(self, message: str) -> None:
        raise SessionError(message)


def _noxfile(pilot: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"noxfile_{pilot.name.replace('-', '_')}", pilot / "noxfile.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nox_submit_runs_codefest_submit_with_the_server_and_token_of_the_environment(
    pilot: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    submit = _noxfile(pilot).submit
    challenge = CHALLENGE[_task(pilot)]
    monkeypatch.setenv("CODEFEST_SERVER", "http://127.0.0.1:8000")
    monkeypatch.setenv("CODEFEST_TOKEN", "cf_team")
    for posargs, expected in (
        ((), ("codefest", "submit", challenge, "predictions/test.jsonl")),
        (("--code",), ("codefest", "submit", challenge, ".")),
        (("--code", "--no-wait"), ("codefest", "submit", challenge, ".", "--no-wait")),
    ):
        session = Recorded(*posargs)
        submit(session)
        assert session.ran == [expected]
    monkeypatch.delenv("CODEFEST_TOKEN")
    session = Recorded()
    with pytest.raises(SessionError, match=r"^CODEFEST_TOKEN not set: export CODEFEST_SERVER=.* and CODEFEST_TOKEN="):
        submit(session)
    assert session.ran == [] and session.installed == []
    monkeypatch.delenv("CODEFEST_SERVER")
    with pytest.raises(SessionError, match=r"^CODEFEST_SERVER and CODEFEST_TOKEN not set"):
        submit(Recorded())


def test_a_freshly_baked_pilot_is_a_valid_code_submission(tmp_path: Path, workspace: Path) -> None:
    from codefest.evaluation.evaluate import Evaluator

    pilot = bake("search", tmp_path, no_input=True, answers={"codefest_home": str(workspace)})
    roster.add(workspace, ["fresh-pilot"])
    outcome = Evaluator(load("prior-art-search"), workspace).code("fresh-pilot", pilot)
    assert outcome.status == "scored", outcome.message
    assert outcome.public["map"].value > 0.05


def test_the_hook_refuses_bad_answers(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(CodefestError, match="refused the answers"):
        bake("classification", tmp_path, no_input=True, answers={"package_name": "mlflow"})
    assert "package_name 'mlflow' would shadow a library" in capfd.readouterr().err
    assert not any(tmp_path.iterdir())


def test_answers_must_be_questions_of_the_template() -> None:
    with pytest.raises(CodefestError, match="Did you mean 'team'"):
        parse_answers("search", ["teams=x"])
    with pytest.raises(CodefestError, match="is not KEY=VALUE"):
        parse_answers("search", ["team"])


def test_codefest_new_on_the_command_line(tmp_path: Path) -> None:
    result = codefest(
        "new", "translation", "team=office-b", "project_name=Office B MT", "--no-input", "--output-dir", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "office-b-mt" / "src" / "office_b_mt" / "model.py").is_file()
    assert json.loads((tmp_path / "office-b-mt" / ".cookiecutter.json").read_text())["team"] == "office-b"
    assert_clean_failure(codefest("new", "ranking", "--no-input"), "Unknown task 'ranking'")


def test_a_refused_answer_is_one_message_without_traceback(tmp_path: Path) -> None:
    result = codefest("new", "classification", "--no-input", "team=bad name!", "--output-dir", str(tmp_path))
    assert_clean_failure(result, "team 'bad name!'", "error: the template refused the answers")
    assert "Traceback" not in result.stderr and "FailedHookException" not in result.stderr


def test_the_task_is_the_argument_not_an_answer() -> None:
    with pytest.raises(CodefestError, match="the task is the argument of codefest new"):
        parse_answers("search", ["task=translation"])


def test_cookiecutter_alone_bakes_the_template_with_the_tasks_defaults(tmp_path: Path) -> None:
    from cookiecutter.main import cookiecutter

    baked = Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(tmp_path), extra_context={"task": "search"}))
    answers = json.loads((baked / ".cookiecutter.json").read_text())
    assert (baked.name, answers["challenge"], answers["task"]) == (
        "prior-art-search-pilot",
        "prior-art-search",
        "search",
    )
    assert (
        (baked / "src" / "prior_art_search_pilot" / "model.py")
        .read_text()
        .startswith('"""Baseline for prior-art search')
    )
    assert not (baked / "baselines").exists() and not (baked / "ruff.toml").exists()
    assert cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(tmp_path)).endswith("ipc-classification-pilot")


def test_the_challenge_answer_must_be_a_challenge_of_the_task() -> None:
    with pytest.raises(CodefestError, match="Did you mean 'ipc-classification'"):
        parse_answers("classification", ["challenge=ipc-classificaton"])
    with pytest.raises(CodefestError, match="'prior-art-search' is a search challenge, not a classification one"):
        parse_answers("classification", ["challenge=prior-art-search"])
    assert parse_answers("search", ["challenge=prior-art-search"]) == {"challenge": "prior-art-search"}
