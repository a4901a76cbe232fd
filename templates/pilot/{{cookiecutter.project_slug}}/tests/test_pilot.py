"""The pilot end to end on a small bundle from codefest's own generator: train, predict, validate and score.

The harness is the organisers' own: a file it refuses here would be refused at submission.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pilotpkg
from pilotpkg import TASK
from pilotpkg.data import Bundle, write_predictions
from pilotpkg.model import Model, trivial
from pilotpkg.predict import main as predict_main

SAMPLE = dict(
    classification=("synthetic-ipc", dict(size=600, seed=3), "top_prediction@subclass"),
    translation=("synthetic-patent-en-fr", dict(size=600, seed=3), "bleu"),
    search=("synthetic-prior-art", dict(size=1600, topics=60, seed=3), "map"),
)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A public bundle and its vault, written the way `codefest data build` writes them."""
    from codefest.shared_datasets.builders import BuildContext, all_builders
    from codefest.shared_datasets.heldout import write_splits

    name, options, _ = SAMPLE[TASK]
    builder = all_builders().get(name)
    root = tmp_path_factory.mktemp("sample")
    (root / "bundle").mkdir()
    (root / "vault").mkdir()
    data = builder.build(builder.validate_options(options), BuildContext(root))
    write_splits(data, TASK, root / "bundle", root / "vault")
    return root


def score(gold: Path, predictions: Path, metric: str) -> float:
    from codefest.evaluation.scoring import score_files

    return score_files(TASK, gold, predictions, resamples=0).metrics[metric].value


def test_the_baseline_beats_the_trivial_baseline_on_dev(sample: Path, tmp_path: Path) -> None:
    bundle = Bundle(sample / "bundle")
    _, _, metric = SAMPLE[TASK]
    gold = bundle.folder / ("dev.qrels" if TASK == "search" else "dev.jsonl")
    ours = score(gold, write_predictions(Model().fit(bundle).predict(bundle, "dev"), tmp_path / "a.jsonl"), metric)
    floor = score(gold, write_predictions(trivial(bundle, "dev"), tmp_path / "b.jsonl"), metric)
    assert ours > floor


def test_the_entry_point_writes_test_predictions_the_harness_accepts(sample: Path, tmp_path: Path) -> None:
    output = tmp_path / "predictions.jsonl"
    untrained = tmp_path / "no-model"
    predict_main(
        ["--input", str(sample / "bundle" / "test.jsonl"), "--output", str(output), "--model-dir", str(untrained)]
    )
    gold = sample / "vault" / ("test.qrels" if TASK == "search" else "test-labels.jsonl")
    assert score(gold, output, SAMPLE[TASK][2]) >= 0.0  # validated: an invalid file raises
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    test_ids = [json.loads(line)["id"] for line in (sample / "bundle" / "test.jsonl").read_text().splitlines()]
    assert [row["id"] for row in rows] == test_ids


TRAINING_ONLY = ("codefest", "mlflow", "datasets")  # in the train extra or beneath it, never in a code submission
WITHOUT_TRAINING = """
import runpy, sys

class WithoutTraining:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in sys.argv[1].split(","):
            raise ModuleNotFoundError(f"{name} is not in a code submission's environment", name=name)

sys.meta_path.insert(0, WithoutTraining())
sys.argv = [sys.argv[2], *sys.argv[3:]]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""


def test_the_prediction_step_runs_without_the_training_libraries(sample: Path, tmp_path: Path) -> None:
    """A code submission's environment holds the [project] dependencies only: predict may not import codefest,
    MLflow or datasets, here made unimportable, even when it trains first."""
    output = tmp_path / "predictions.jsonl"
    module = f"{pilotpkg.__name__}.predict"
    arguments = ["--input", str(sample / "bundle" / "test.jsonl"), "--output", str(output)]
    arguments += ["--model-dir", str(tmp_path / "no-model")]
    env = os.environ | {"PYTHONPATH": str(Path(pilotpkg.__file__).parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_TRAINING, ",".join(TRAINING_ONLY), module, *arguments],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    test_ids = [json.loads(line)["id"] for line in (sample / "bundle" / "test.jsonl").read_text().splitlines()]
    assert [json.loads(line)["id"] for line in output.read_text(encoding="utf-8").splitlines()] == test_ids
