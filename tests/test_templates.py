"""The pilot template, tested by baking it for each task: the tree, the answers, and inside each pilot its lint,
tests, training on a small copy of the bundled challenge, predictions the harness accepts, and a code submission.
Its hook and filter are tested as code in test_template_hooks."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
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
from tests.helpers import small_copy
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


SMALL_COPIES = "small-challenges"  # beside the workspace: the bundled challenges' small copies


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small copies of the three bundled challenges (same spec, a small dataset: training on the full ones took
    minutes), built as organisers build them."""
    root = tmp_path_factory.mktemp("templates") / "workspace"
    root.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CODEFEST_CHALLENGES_PATH", str(root.parent / SMALL_COPIES))
        for slug in CHALLENGE.values():
            small_copy(root.parent / SMALL_COPIES, slug)
            build(load(f"small-{slug}"), root)
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
    extensions = importlib.util.spec_from_file_location("pilot_extensions", TEMPLATE / "local_extensions.py")
    assert extensions and extensions.loader
    module = importlib.util.module_from_spec(extensions)
    extensions.loader.exec_module(module)
    assert f'"codefest @ {module.checkout_source()}",' in pyproject  # the checkout's remote, or here its folder
    assert f'predict = "{package}.predict"' in pyproject
    assert ('    "bm25s>=0.2",\n' in pyproject) == (answers["task"] == "search")  # the baseline's own dependency
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
    bundle = workspace / "bundles" / f"small-{CHALLENGE[task]}"
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
    vault = workspace / "vault" / f"small-{CHALLENGE[task]}"
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
    """The pilot's noxfile as a module, its sessions registered in nox's registry emptied first, as `nox` does for
    one noxfile: another pilot's sessions of the same names were registered before (an error in nox to come)."""
    import nox.registry

    nox.registry.reset()
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


def test_a_freshly_baked_pilot_is_a_valid_code_submission(
    tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tomllib

    from codefest.core.workspace import Workspace
    from codefest.evaluation.environments import RECORD
    from codefest.evaluation.evaluate import Evaluator

    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(workspace.parent / SMALL_COPIES))
    answers = {"codefest_home": str(workspace), "challenge": "small-prior-art-search"}
    pilot = bake("search", tmp_path, no_input=True, answers=answers)
    roster.add(workspace, ["fresh-pilot"])
    outcome = Evaluator(load("small-prior-art-search"), workspace).code("fresh-pilot", pilot)
    assert outcome.status == "scored", outcome.message
    assert outcome.public["map"].value > 0.05
    declared = tomllib.loads((pilot / "pyproject.toml").read_text())["project"]["dependencies"]
    built = [json.loads(p.read_text()) for p in Workspace(workspace).environments.glob(f"*{RECORD}")]
    assert sorted(declared) in [record["requirements"] for record in built]  # run in an environment of its own


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


def _git(cwd: Path, *args: str) -> str:
    who = ["-c", "user.name=codefest tests", "-c", "user.email=tests@example.org", "-c", "init.defaultBranch=main"]
    done = subprocess.run(["git", *who, *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=300)
    return done.stdout.strip()


def _codefest_repository(root: Path) -> tuple[Path, Path]:
    """The checkout's tracked files as they are now, committed in a repository of their own whose `origin` is a bare
    copy: a codefest checkout as an office developer has it, with a remote that a fresh runner can also reach."""
    framework = TEMPLATES.parent
    source = root / "codefest-checkout"
    for name in _git(framework, "ls-files", "-z").split("\0"):
        if name and (framework / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((framework / name).read_bytes())
            (source / name).chmod((framework / name).stat().st_mode)
    _git(source, "init", "-q")
    _git(source, "add", "-A")
    _git(source, "commit", "-q", "-m", "codefest as tested")
    remote = root / "codefest-remote.git"
    _git(root, "clone", "-q", "--bare", str(source), str(remote))
    _git(source, "remote", "add", "origin", str(remote))
    return source, remote


def _fresh_runner(root: Path) -> dict[str, str]:
    """A new virtual environment standing in for a fresh CI runner's Python, offline: pip may not reach an index, and
    the registry's packages are this environment's site-packages, read through a .pth file (no codefest: the editable
    install's finder is in a .pth file there, which a path line does not run)."""
    import sysconfig

    venv = root / "runner"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    # the pilot's build needs setuptools>=69, which a runner's isolated build fetches: here this environment's
    uninstall = [str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-q", "-y", "setuptools"]
    subprocess.run(uninstall, check=True, capture_output=True, timeout=300)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "registry.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "CODEFEST_HOME", "PYTHONPATH")}
    env.pop("VIRTUAL_ENV", None)
    env |= {
        "PATH": os.pathsep.join([str(venv / "bin"), str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "PIP_NO_INDEX": "1",  # offline: every requirement must be satisfied already, or come from a local URL
        "PIP_NO_BUILD_ISOLATION": "0",  # pip reads the negative flag inverted: 0 builds without isolation (offline)
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    return env


def test_a_baked_pilot_installs_codefest_from_its_remote_and_its_ci_workflow_runs_on_a_fresh_clone(
    tmp_path: Path,
) -> None:
    """`codefest_source=auto` records the checkout's git remote at the commit baked from, never the baker's folder; the
    pilot, committed and cloned, runs its CI workflow's `run:` steps on a fresh runner against that remote."""
    import yaml

    checkout, remote = _codefest_repository(tmp_path)
    commit = _git(checkout, "rev-parse", "HEAD")
    baked = tmp_path / "baked"
    bake_command = [sys.executable, "-m", "cookiecutter", str(checkout / "templates" / "pilot"), "--no-input"]
    result = subprocess.run(
        [*bake_command, "-o", str(baked), "task=search", "project_name=Office P search"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pilot = baked / "office-p-search"
    url = f"git+file://localhost{remote}@{commit}"
    requirement = f'"codefest @ {url}",'
    pyproject = (pilot / "pyproject.toml").read_text()
    assert requirement in pyproject and str(checkout) not in pyproject and "/work/" not in pyproject
    _git(pilot, "init", "-q")
    _git(pilot, "add", "-A")
    _git(pilot, "commit", "-q", "-m", "baked")
    clone = tmp_path / "runner-checkout"
    _git(tmp_path, "clone", "-q", str(pilot), str(clone))
    shutil.rmtree(checkout)  # the baker's folder is gone: only the remote serves codefest now
    workflow = yaml.safe_load((clone / ".github" / "workflows" / "ci.yml").read_text())
    (job,) = workflow["jobs"].values()
    steps = [step["run"] for step in job["steps"] if "run" in step]
    assert len(steps) >= 3 and any("pip install" in s for s in steps) and any("pytest" in s for s in steps)
    env = _fresh_runner(tmp_path) | {k: str(v) for k, v in job.get("env", {}).items()}
    for step in steps:
        ran = subprocess.run(["bash", "-ec", step], cwd=clone, env=env, capture_output=True, text=True, timeout=1200)
        assert ran.returncode == 0, f"$ {step}\n{ran.stdout[-4000:]}\n{ran.stderr[-4000:]}"
        if "pytest" in step:
            assert " passed" in ran.stdout and "failed" not in ran.stdout, ran.stdout[-2000:]
    where = subprocess.run(
        ["python", "-c", "import codefest, importlib.metadata as m; print(codefest.__file__); "
         "print(m.distribution('codefest').read_text('direct_url.json'))"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(tmp_path / "runner" / "lib") in where.splitlines()[0]  # installed on the runner, from the remote
    assert f"file://localhost{remote}" in where and commit in where


def _codefest_wheel(root: Path) -> Path:
    """codefest as a wheel built from a copy of the checkout (pip builds in the tree it is given), for offline use."""
    framework = TEMPLATES.parent
    source = root / "codefest-source"
    for name in _git(framework, "ls-files", "-z").split("\0"):
        if name and (framework / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(framework / name, source / name)
    build = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-q"]
    subprocess.run([*build, "-w", str(root / "wheels")], check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = (root / "wheels").glob("codefest-*.whl")
    return wheel


def test_the_next_line_of_codefest_new_works_as_written_on_a_fresh_workspace(tmp_path: Path) -> None:
    """`codefest new` ends with what to type next; on a fresh workspace that builds the bundle first, then nox trains,
    predicts and scores. Offline: nox's environments (uv's, as uv is installed here) install codefest from a local
    wheel and the registry's packages from uv's cache, so nothing is downloaded; uv itself, which ./run installs with
    pip and so is not in that cache, is left out (no session runs it). Without uv, nox falls back to venv and pip,
    which find the registry's packages in this environment (PYTHONPATH). The challenge is a small copy of
    ipc-classification, for speed."""
    import sysconfig

    wheel = _codefest_wheel(tmp_path)
    small_copy(tmp_path / "challenges", "ipc-classification")
    here = tmp_path / "developer"
    here.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "PYTHONPATH", "VIRTUAL_ENV")}
    env |= {
        "CODEFEST_HOME": str(tmp_path / "workspace"),
        "CODEFEST_CHALLENGES_PATH": str(tmp_path / "challenges"),
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "COLUMNS": "300",
    }
    new = ["codefest", "new", "classification", "--no-input", "project_name=Office N", f"codefest_source={wheel}"]
    new.append("challenge=small-ipc-classification")
    result = subprocess.run(new, cwd=here, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    pilot = here / "office-n"
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("next: ")]
    assert line == f"next: codefest data build small-ipc-classification && cd {pilot} && nox -s train predict score"
    assert "note:" not in result.stderr  # a path given at bake time: no warning that it is local
    offline = env | {
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        "PIP_NO_INDEX": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip reads the negative flag inverted: 0 builds without isolation (offline)
        "UV_OFFLINE": "1",
        "UV_EXCLUDE": str(tmp_path / "not-from-the-cache.txt"),
    }
    (tmp_path / "not-from-the-cache.txt").write_text("uv\n")
    ran = subprocess.run(
        ["bash", "-ec", line.removeprefix("next: ")],
        cwd=here,
        env=offline,
        capture_output=True,
        text=True,
        timeout=2400,
    )
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-6000:]
    for session in ("check_bundle", "train", "predict", "score"):
        assert f"Session {session} was successful" in ran.stderr, ran.stderr[-4000:]
    assert "Creating virtual environment (uv)" in ran.stderr  # uv, being there
    assert "top_prediction@subclass" in ran.stdout and "Traceback" not in ran.stdout + ran.stderr
    assert (pilot / "predictions" / "test.jsonl").is_file()
    again = subprocess.run(new, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    (line,) = [line for line in again.stdout.splitlines() if line.startswith("next: ")]
    assert line == f"next: cd {tmp_path / 'office-n'} && nox -s train predict score"  # the bundle is there now


def test_nox_refuses_at_once_without_the_bundle_and_says_how_to_build_it(tmp_path: Path) -> None:
    """No environment is created (minutes of installs) before the missing bundle is reported, with the command."""
    home = tmp_path / "empty-workspace"
    pilot = bake("search", tmp_path, no_input=True, answers={"codefest_home": str(home)})
    env = {k: v for k, v in os.environ.items() if k not in ("CODEFEST_HOME", "CODEFEST_BUNDLE")}
    nox = [sys.executable, "-m", "nox", "-s", "train", "predict", "score"]
    result = subprocess.run(nox, cwd=pilot, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert (
        f"no bundle of prior-art-search in {home}: build it with `CODEFEST_HOME={home} codefest data build "
        "prior-art-search`, or set CODEFEST_BUNDLE to the folder the organisers sent"
    ) in result.stderr
    for session in ("train", "predict", "score"):
        assert f"Session {session} aborted: Prerequisite session check_bundle was not successful" in result.stderr
    assert not (pilot / ".nox").exists() and "Traceback" not in result.stderr
    result = subprocess.run(
        nox[:-2], cwd=pilot, env=env | {"CODEFEST_BUNDLE": str(tmp_path)}, capture_output=True, text=True, timeout=120
    )
    assert f"CODEFEST_BUNDLE={tmp_path} holds no train.jsonl: point it at the prior-art-search bundle" in result.stderr
