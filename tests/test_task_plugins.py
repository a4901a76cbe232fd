"""A task is one folder: a fourth task, written as a folder, is found, validates its challenges' options with its
own model and is scored through the harness; and every registered task's definition is complete."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ConfigDict

import codefest.tasks
from codefest.challenges.discovery import load
from codefest.core.errors import CodefestError
from codefest.evaluation.challenge import options_for
from codefest.evaluation.scorers import SCORERS, scorer_for, scoring_options
from codefest.evaluation.scoring import score_files
from codefest.shared_datasets.builders import BUILDERS, Builder, BuilderOptions
from codefest.shared_datasets.schema import FEATURES
from codefest.tasks import TASKS, Task, TaskOptions
from tests.helpers import bundled_spec, write_challenge

TASK_PY = '''
"""Trademark image similarity: is a new mark confusingly similar to an earlier one?"""

from pydantic import Field, model_validator

from codefest.tasks.base import Metric, Task, TaskOptions


class TrademarkOptions(TaskOptions):
    min_similarity: float = Field(default=0.5, gt=0, lt=1)

    @model_validator(mode="after")
    def _strict_enough(self):
        if self.min_similarity < 0.2:
            raise ValueError("a trademark challenge needs min_similarity of 0.2 at least")
        return self

    def scoring(self):
        return {"min_similarity": self.min_similarity}


TASK = Task(
    name="trademark",
    description="tell whether two trademark images are confusingly similar",
    columns={"id": "string", "mark": "string", "earlier": "string", "similar": "strings"},
    inputs=("id", "mark", "earlier"),
    labels=("similar",),
    metrics=(Metric(name="accuracy", higher_is_better=True, description="share of pairs judged right"),),
    options=TrademarkOptions,
    scorer="codefest.tasks.trademark.scorer:SCORER",
)
'''

SCORER_PY = '''
"""The trademark scorer: gold {"id", "similar"}, predictions {"id", "score"}; a pair is similar at min_similarity."""

import json

import numpy as np

from codefest.evaluation.metrics.base import mean_metric
from codefest.evaluation.reading import PublicItems


def _rows(path):
    return {row["id"]: row for row in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


class TrademarkScorer:
    task = "trademark"

    def read_gold(self, path):
        return {item: row["similar"] for item, row in _rows(path).items()}

    def read_inputs(self, path):
        return PublicItems(tuple(_rows(path)))

    def gold_items(self, gold):
        return PublicItems(tuple(gold))

    def read_predictions(self, path, items, problems, limits, options):
        return {item: row["score"] for item, row in _rows(path).items()}

    def item_ids(self, gold):
        return list(gold)

    def metrics(self, gold, predictions, options):
        cut = options.task_options.get("min_similarity", 0.5)
        right = [(predictions[item] >= cut) == gold[item] for item in gold]
        return [mean_metric("accuracy", np.array(right, dtype=np.float64))]

    def signature(self, options):
        return {"cut": str(options.task_options.get("min_similarity", 0.5))}


SCORER = TrademarkScorer()
'''


class ToyOptions(BuilderOptions):
    model_config = ConfigDict(extra="forbid", frozen=True)


@pytest.fixture
def fourth_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tasks/trademark/ (task.py, scorer.py) in a folder added to codefest.tasks' path, with a dataset builder."""
    folder = tmp_path / "plugins" / "trademark"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("", encoding="utf-8")
    (folder / "task.py").write_text(TASK_PY, encoding="utf-8")
    (folder / "scorer.py").write_text(SCORER_PY, encoding="utf-8")
    monkeypatch.setattr(codefest.tasks, "__path__", [*codefest.tasks.__path__, str(folder.parent)])
    builder = Builder("toy-trademark", "trademark", "generator", ToyOptions, lambda *_: None, "", "pairs")  # type: ignore[arg-type,return-value]
    monkeypatch.setitem(BUILDERS._entries, "toy-trademark", builder)
    yield folder
    SCORERS._entries.pop("trademark", None)
    for name in [n for n in sys.modules if n.startswith("codefest.tasks.trademark")]:
        del sys.modules[name]


def trademark_challenge(root: Path, **options: object) -> Path:
    spec = {
        **{k: v for k, v in bundled_spec("ipc-classification").items() if k != "predicted_set"},
        "slug": "mark-similarity",
        "task": "trademark",
        "dataset": {"builder": "toy-trademark", "version": "1"},
        "metrics": [{"name": "accuracy", "higher_is_better": True}],
        "primary_metric": "accuracy",
        "tie_breakers": [],
        **options,
    }
    return write_challenge(root, spec)


def test_a_task_folder_is_discovered_and_listed(fourth_task: Path) -> None:
    assert TASKS.names() == ["classification", "search", "trademark", "translation"]
    assert not TASKS.is_loaded("trademark")  # listed without importing it
    task = TASKS.get("trademark")
    assert task.metric_names == ["accuracy"] and task.options.__name__ == "TrademarkOptions"
    assert list(FEATURES["trademark"]) == ["id", "mark", "earlier", "similar"]


def test_a_task_folder_removed_is_forgotten(fourth_task: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    TASKS.get("trademark")
    monkeypatch.setattr(codefest.tasks, "__path__", codefest.tasks.__path__[:-1])
    assert "trademark" not in TASKS and TASKS.names() == ["classification", "search", "translation"]


def test_the_challenge_validates_its_options_with_the_tasks_model(
    fourth_task: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(tmp_path / "challenges"))
    trademark_challenge(tmp_path / "challenges", min_similarity=0.7)
    spec = load("mark-similarity").spec
    assert type(spec.options).__name__ == "TrademarkOptions" and spec.options.min_similarity == 0.7
    assert options_for(spec).task_options == {"min_similarity": 0.7}
    assert json.loads(spec.model_dump_json())["min_similarity"] == 0.7  # the task's keys stay flat, as in the YAML


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"min_similarty": 0.7}, "key 'min_similarty': Unknown key 'min_similarty'. Did you mean 'min_similarity'?"),
        ({"min_similarity": 0.1}, "a trademark challenge needs min_similarity of 0.2 at least"),
        ({"min_similarity": 1.5}, "key 'min_similarity': Input should be less than 1"),
        (
            {"predicted_set": {"top_k": 3}},
            "key 'predicted_set': 'predicted_set' is for classification challenges; "
            "a trademark challenge uses 'min_similarity'",
        ),
    ],
)
def test_a_bad_task_option_gets_the_tasks_message(
    fourth_task: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict, expected: str
) -> None:
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(tmp_path / "challenges"))
    trademark_challenge(tmp_path / "challenges", **options)
    with pytest.raises(CodefestError) as caught:
        load("mark-similarity")
    assert expected in caught.value.render()


def test_the_fourth_task_is_scored_by_the_harness(fourth_task: Path, tmp_path: Path) -> None:
    gold, predictions = tmp_path / "gold.jsonl", tmp_path / "predictions.jsonl"
    truth = {"p1": True, "p2": False, "p3": True, "p4": False}
    scores = {"p1": 0.9, "p2": 0.6, "p3": 0.65, "p4": 0.1}
    gold.write_text("".join(json.dumps({"id": i, "similar": s}) + "\n" for i, s in truth.items()), encoding="utf-8")
    predictions.write_text("".join(json.dumps({"id": i, "score": s}) + "\n" for i, s in scores.items()))
    # at 0.5: p1 right, p2 wrong (0.6 is not similar), p3 right, p4 right -> 3/4
    result = score_files("trademark", gold, predictions, resamples=50)
    assert result.n_items == 4 and result.metrics["accuracy"].value == 0.75
    assert "cut:0.5" in result.signature
    # at 0.7 (the challenge's option): p1 right, p2 right, p3 wrong, p4 right -> 3/4 again; at 0.95: p1 wrong -> 2/4
    strict = options_for_value(0.95)
    assert score_files("trademark", gold, predictions, strict, resamples=50).metrics["accuracy"].value == 0.5


def options_for_value(cut: float):

    return scoring_options({"min_similarity": cut})


# every registered task's definition is complete (mteb's one test over every task)

SCORER_METHODS = ("read_gold", "read_inputs", "gold_items", "read_predictions", "item_ids", "metrics", "signature")


@pytest.mark.parametrize("name", TASKS.names())
def test_each_task_definition_is_complete(name: str) -> None:
    task = TASKS.get(name)
    assert isinstance(task, Task) and task.name == name
    assert len(set(task.metric_names)) == len(task.metric_names) > 0
    assert all(isinstance(m.higher_is_better, bool) and m.description for m in task.metrics)
    assert issubclass(task.options, TaskOptions) and task.options.model_config.get("extra") == "forbid"
    scorer = task.load("scorer")
    assert scorer.task == name and all(callable(getattr(scorer, method, None)) for method in SCORER_METHODS)
    assert scorer_for(name) is scorer
    for part in ("breakdown", "label_checker"):
        assert getattr(task, part) is None or callable(task.load(part))
    assert set(task.inputs) | set(task.labels) <= set(task.columns)


@pytest.mark.parametrize("name", TASKS.names())
def test_a_task_definition_loads_no_scoring_code(name: str) -> None:
    """The definition is data: importing it loads neither the harness nor a scoring or data library."""
    code = f"import sys, codefest.tasks.{name}.task; print('\\n'.join(sys.modules))"
    loaded = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    heavy = {
        "codefest.evaluation",
        "codefest.challenges",
        "codefest.shared_datasets",
        "datasets",
        "sklearn",
        "sacrebleu",
    }
    assert not {m for m in loaded if m.split(".")[0] in heavy or ".".join(m.split(".")[:2]) in heavy}
