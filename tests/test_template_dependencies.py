"""Each task's baked pilot declares in `[project] dependencies` what its prediction step imports, and nothing of
training: the list installs offline from uv's cache into an empty environment (wheels only, as codefest builds a
code submission's), and the prediction step runs there alone on a small bundle, fitting the model itself or loading
one trained in codefest's environment. One bake, one bundle and one environment per task, shared by its tests."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from codefest.evaluation.scoring import score_files
from codefest.scaffold import bake, baseline_tasks
from codefest.shared_datasets.builders import BuildContext, all_builders
from codefest.shared_datasets.heldout import write_splits

pytestmark = pytest.mark.slow  # bakes pilots, builds environments with uv and runs the pilots in them

PREDICTS = {  # what each baseline's predict step imports (model.py, data.py, predict.py), by distribution
    "classification": {"joblib", "numpy", "scikit-learn", "scipy"},
    "search": {"bm25s", "numpy"},
    "translation": {"numpy", "scikit-learn"},
}
SAMPLE = {  # a small bundle of each task, from codefest's own generators
    "classification": ("synthetic-ipc", {"size": 400, "seed": 5}),
    "search": ("synthetic-prior-art", {"size": 480, "topics": 30, "seed": 5}),
    "translation": ("synthetic-patent-en-fr", {"size": 300, "seed": 5}),
}
TRAINING = {"codefest", "mlflow", "datasets"}  # training's libraries: the train extra, never the prediction step
OFFLINE = {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}


@dataclass(frozen=True)
class Pilot:
    """A baked pilot, a small bundle of its task with the vault, and an environment of its dependencies alone."""

    task: str
    root: Path
    package: str
    bundle: Path
    vault: Path
    python: Path

    @property
    def project(self) -> dict:
        return tomllib.loads((self.root / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _uv() -> str:
    """The uv beside this interpreter (installed with codefest by ./run), else the one on PATH."""
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.is_file() else shutil.which("uv")
    assert found, "uv is needed: ./run installs it into .venv"
    return found


def _sample(task: str, root: Path) -> tuple[Path, Path]:
    """The public bundle and the vault, written the way `codefest data build` writes them."""
    name, options = SAMPLE[task]
    builder = all_builders().get(name)
    (root / "bundle").mkdir(parents=True)
    (root / "vault").mkdir()
    write_splits(
        builder.build(builder.validate_options(options), BuildContext(root)), task, root / "bundle", root / "vault"
    )
    return root / "bundle", root / "vault"


def _environment(requirements: list[str], folder: Path) -> Path:
    """An empty virtual environment on the base interpreter, then the requirements from uv's cache: offline, wheels
    only, as codefest builds a code submission's environment; returns its interpreter."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([_uv(), "venv", "-q", "--python", base, str(folder)], check=True, capture_output=True, timeout=300)
    python = folder / "bin" / "python"
    install = [_uv(), "pip", "install", "--offline", "--no-build", "--python", str(python), *requirements]
    done = subprocess.run(install, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{requirements} do not install offline from uv's cache:\n{done.stderr[-3000:]}"
    return python


@pytest.fixture(scope="module", params=sorted(PREDICTS))
def pilot(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pilot:
    task = request.param
    root = tmp_path_factory.mktemp(task)
    baked = bake(task, root / "baked", no_input=True, answers={"codefest_home": str(root / "home")})
    package = json.loads((baked / ".cookiecutter.json").read_text())["package_name"]
    bundle, vault = _sample(task, root / "sample")
    requirements = tomllib.loads((baked / "pyproject.toml").read_text())["project"]["dependencies"]
    return Pilot(task, baked, package, bundle, vault, _environment(requirements, root / "env"))


def _in_own_environment(pilot: Pilot, *args: str) -> subprocess.CompletedProcess[str]:
    """The pilot's environment and nothing else, as the sandbox runs a code submission: from the pilot's root, with
    its `src` and root on PYTHONPATH, and no variable of this process."""
    env = {
        "PATH": os.pathsep.join([str(pilot.python.parent), "/usr/bin", "/bin"]),
        "HOME": str(pilot.root),
        "LANG": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join(["src", "."]),
        "PYTHONHASHSEED": "0",
        **OFFLINE,
    }
    return subprocess.run(
        [str(pilot.python), *args], cwd=pilot.root, env=env, capture_output=True, text=True, timeout=900
    )


def _predict(pilot: Pilot, model_dir: Path, output: Path) -> list[dict]:
    test = pilot.bundle / "test.jsonl"
    arguments = ["--input", str(test), "--output", str(output), "--model-dir", str(model_dir)]
    done = _in_own_environment(pilot, "-m", f"{pilot.package}.predict", *arguments)
    assert done.returncode == 0, done.stderr[-3000:]
    gold = pilot.vault / ("test.qrels" if pilot.task == "search" else "test-labels.jsonl")
    assert score_files(pilot.task, gold, output, resamples=0).n_items > 0  # validated by the harness, or it raises
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == [json.loads(line)["id"] for line in test.read_text().splitlines()]
    return rows


def test_every_baseline_is_covered_here() -> None:
    assert sorted(PREDICTS) == sorted(SAMPLE) == baseline_tasks()  # a new task's list is checked once it is listed


def test_the_dependencies_are_what_the_prediction_step_imports_within_the_installed_versions(pilot: Pilot) -> None:
    required = [Requirement(line) for line in pilot.project["dependencies"]]
    assert {canonicalize_name(r.name) for r in required} == PREDICTS[pilot.task]
    for requirement in required:
        assert requirement.url is None, requirement  # codefest refuses a direct reference in a code submission
        installed = importlib.metadata.version(requirement.name)  # what ./run put in uv's cache
        assert requirement.specifier.contains(installed), f"{requirement} excludes the cached {installed}"
    train = [Requirement(line) for line in pilot.project["optional-dependencies"]["train"]]
    assert {canonicalize_name(r.name) for r in train} == {"codefest", "mlflow"}
    assert next(r for r in train if r.name == "codefest").url  # from where the pilot was baked, never the registry


def test_the_environment_holds_the_dependencies_and_none_of_training(pilot: Pilot) -> None:
    listing = "import importlib.metadata as m, json; print(json.dumps([d.metadata['Name'] for d in m.distributions()]))"
    done = _in_own_environment(pilot, "-c", listing)
    assert done.returncode == 0, done.stderr
    installed = {canonicalize_name(name) for name in json.loads(done.stdout)}
    assert PREDICTS[pilot.task] <= installed
    assert not installed & (TRAINING | {"pyarrow", "pandas"}), installed  # nor what `datasets` would pull in


def test_the_prediction_step_runs_there_alone_fitted_there_or_trained_with_codefest(
    pilot: Pilot, tmp_path: Path
) -> None:
    fitted_there = _predict(pilot, tmp_path / "no-model", tmp_path / "fitted-there.jsonl")
    models = tmp_path / "models"  # trained in codefest's environment, as `nox -s train` would, then loaded there
    fit = (
        f"from pathlib import Path; from {pilot.package}.data import Bundle; from {pilot.package}.model import Model; "
    )
    fit += f"Model().fit(Bundle(Path({str(pilot.bundle)!r}))).save(Path({str(models)!r}))"
    env = os.environ | OFFLINE | {"PYTHONPATH": str(pilot.root / "src")}
    subprocess.run([sys.executable, "-c", fit], cwd=pilot.root, env=env, check=True, capture_output=True, timeout=900)
    assert any(models.iterdir())
    loaded = _predict(pilot, models, tmp_path / "loaded.jsonl")
    without_scores = lambda rows: [{k: v for k, v in row.items() if k != "scores"} for row in rows]  # noqa: E731
    assert without_scores(loaded) == without_scores(fitted_there)  # the same versions here and there
