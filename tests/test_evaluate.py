"""Organiser evaluations against a real SQLite MLflow store: tags, artifacts, private scores, quota, duplicates."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from codefest.challenges.discovery import load
from codefest.evaluation import roster
from codefest.evaluation.evaluate import Evaluator, evaluate_inbox
from codefest.evaluation.records import Artifact, Status, Tag, where
from codefest.evaluation.submissions import fingerprint
from codefest.evaluation.tracking import tracking_uri
from codefest.shared_datasets.heldout import build
from tests.helpers import (
    WRONG_SYMBOL,
    bundle_test_ids,
    bundled_spec,
    right_every,
    vault_test_labels,
    write_challenge,
)
from tests.test_cli import assert_clean_failure, codefest

pytestmark = pytest.mark.slow  # evaluations in MLflow, code submissions in the sandbox

TAGS = {"team", "challenge", "phase", "status", "submission_id", "signature", "harness_version", "dataset_sha256"}
ENROLLED = [
    "team-a",
    "team-p",
    "team-d",
    "team-i",
    "team-q",
    "team-x",
    "team-y",
    "team-c",
    "coders",
    "peekers",
    "team-z",
]
ENROLLED += ["sleepers", "hoarders", "callers", "crashers"]


@pytest.fixture(scope="module")
def event(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small classification challenge (2 submissions a day) built into its own workspace."""
    base = tmp_path_factory.mktemp("event")
    spec = bundled_spec("ipc-classification") | {"slug": "eval-ipc"}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 300, "seed": 8}}
    spec["submission_limits"] = {"per_team_per_day": 2, "total": 10}
    write_challenge(base / "challenges", spec)
    code_spec = spec | {"slug": "eval-code", "resources": {"wall_time_seconds": 4, "memory_mb": 600}}
    write_challenge(base / "challenges", code_spec)
    os.environ["CODEFEST_CHALLENGES_PATH"] = str(base / "challenges")
    try:
        build(load("eval-ipc"), base / "home")
        build(load("eval-code"), base / "home")
    finally:
        del os.environ["CODEFEST_CHALLENGES_PATH"]
    roster.add(base / "home", ENROLLED)
    return {"challenges": base / "challenges", "home": base / "home"}


@pytest.fixture
def evaluator(event: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Evaluator:
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(event["challenges"]))
    return Evaluator(load("eval-ipc"), event["home"])


def _test_ids(home: Path) -> list[str]:
    return bundle_test_ids(home, "eval-ipc")


def _gold(home: Path) -> dict[str, list[str]]:
    return vault_test_labels(home, "eval-ipc")


def _predictions(home: Path, path: Path, every: int) -> Path:
    return right_every(home, "eval-ipc", path, every)


def _client(home: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=tracking_uri(home))


def test_a_submission_is_scored_and_logged_with_every_tag_and_artifact(evaluator: Evaluator, tmp_path: Path) -> None:
    outcome = evaluator.predictions("team-a", _predictions(evaluator.root, tmp_path / "a.jsonl", 2))
    assert outcome.status == "scored" and outcome.run_id
    client = _client(evaluator.root)
    run = client.get_run(outcome.run_id)
    assert set(run.data.tags) >= TAGS
    assert "submission_sha256" not in run.data.tags  # public: it would tell who sent the same file as whom
    assert run.data.tags[Tag.STATUS] == Status.SCORED and run.data.tags[Tag.TEAM] == "team-a"
    assert run.data.tags[Tag.DATASET_SHA256] == evaluator.manifest["dataset"]["sha256"]
    assert run.data.tags[Tag.SIGNATURE].startswith("scoring:") and "split:test" in run.data.tags[Tag.SIGNATURE]
    assert run.info.experiment_id == client.get_experiment_by_name("eval-ipc").experiment_id
    primary = run.data.metrics["top_prediction_at_subclass"]
    assert primary == pytest.approx(outcome.public["top_prediction@subclass"].value)
    low, high = (
        run.data.metrics["top_prediction_at_subclass_ci_low"],
        run.data.metrics["top_prediction_at_subclass_ci_high"],
    )
    assert low <= primary <= high
    assert {a.path for a in client.list_artifacts(outcome.run_id)} == {"result.json"}  # per-item: private run
    private_run = run.data.tags[Tag.PRIVATE_RUN_ID]
    per_item = client.download_artifacts(private_run, Artifact.PUBLIC_PER_ITEM, str(tmp_path))
    rows = [json.loads(line) for line in Path(per_item).read_text().splitlines()]
    assert {r["id"] for r in rows} == evaluator.public_ids
    assert sum(r["top_prediction@subclass"] for r in rows) / len(rows) == pytest.approx(primary)


def test_private_scores_are_only_in_the_private_experiment(evaluator: Evaluator, tmp_path: Path) -> None:
    """Right on every public item, wrong on every private one: any private value in public view would show."""
    gold = _gold(evaluator.root)
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": i, "labels": gold[i] if i in evaluator.public_ids else WRONG_SYMBOL}) + "\n"
            for i in _test_ids(evaluator.root)
        )
    )
    outcome = evaluator.predictions("team-p", path)
    client = _client(evaluator.root)
    public = client.get_run(outcome.run_id)
    private = client.get_run(public.data.tags[Tag.PRIVATE_RUN_ID])
    assert private.info.experiment_id == client.get_experiment_by_name("eval-ipc/private").experiment_id
    assert private.data.tags[Tag.PART] == "private" and public.data.tags[Tag.PART] == "public"
    assert public.data.metrics["precision_at_1"] == 1.0 and private.data.metrics["precision_at_1"] == 0.0
    public_runs = client.search_runs([public.info.experiment_id], where({Tag.TEAM: "team-p"}))
    assert [r.info.run_id for r in public_runs] == [outcome.run_id]
    assert all(v >= 0.99 for k, v in public.data.metrics.items() if k.startswith("precision_at_1"))
    assert [a.path for a in client.list_artifacts(outcome.run_id)] == ["result.json"]
    text = Path(client.download_artifacts(outcome.run_id, "result.json", str(tmp_path / "public"))).read_text()
    assert not any(item in text for item in evaluator.private_ids)
    per_item = Path(client.download_artifacts(private.info.run_id, Artifact.PER_ITEM, str(tmp_path / "private")))
    assert {json.loads(line)["id"] for line in per_item.read_text().splitlines()} == evaluator.private_ids


def test_the_same_file_twice_is_not_scored_twice(evaluator: Evaluator, tmp_path: Path) -> None:
    path = _predictions(evaluator.root, tmp_path / "twice.jsonl", 4)
    first = evaluator.predictions("team-d", path)
    second = evaluator.predictions("team-d", path)
    assert second.status == "duplicate" and second.run_id == first.run_id
    assert "not scored twice" in second.message
    assert len(evaluator.tracker.runs(where({Tag.TEAM: "team-d"}))) == 1


def test_an_invalid_file_is_recorded_and_uses_no_quota(evaluator: Evaluator, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "nope", "labels": ["A01B"]}\n')
    outcome = evaluator.predictions("team-i", bad)
    assert outcome.status == "invalid" and "id 'nope' is not a test item" in outcome.message
    run = _client(evaluator.root).get_run(outcome.run_id)
    assert run.data.tags[Tag.STATUS] == "invalid" and run.data.metrics == {}
    assert outcome.quota is not None and outcome.quota.used_total == 0 and outcome.quota.remaining == 2


def test_the_daily_quota_is_enforced(evaluator: Evaluator, tmp_path: Path) -> None:
    for n in (2, 3):
        assert (
            evaluator.predictions("team-q", _predictions(evaluator.root, tmp_path / f"{n}.jsonl", n)).status == "scored"
        )
    third = evaluator.predictions("team-q", _predictions(evaluator.root, tmp_path / "4.jsonl", 4))
    assert third.status == "over-quota"
    assert "used its 2 submissions of today (UTC)" in third.message and "submit again from" in third.message
    assert third.quota is not None and third.quota.remaining == 0
    statuses = sorted(s.status for s in evaluator.ledger.submissions("eval-ipc", "team-q"))  # the ledger's record
    assert statuses == ["over-quota", "scored", "scored"]
    assert [r.tags[Tag.STATUS] for r in evaluator.tracker.runs(where({Tag.TEAM: "team-q"}))] == ["scored"] * 2


def test_inbox_evaluates_new_files_once_in_order_of_arrival(evaluator: Evaluator, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / "team-x").mkdir(parents=True)
    (inbox / "team-y").mkdir()
    late = _predictions(evaluator.root, inbox / "team-x" / "a-late.jsonl", 2)
    early = _predictions(evaluator.root, inbox / "team-y" / "z-early.jsonl", 3)
    os.utime(early, (1_000_000, 1_000_000))
    os.utime(late, (2_000_000, 2_000_000))
    first = evaluate_inbox(evaluator, inbox)
    assert [(o.team, o.status) for o in first] == [("team-y", "scored"), ("team-x", "scored")]
    again = evaluate_inbox(evaluator, inbox)
    assert [o.status for o in again] == ["duplicate", "duplicate"]


def test_cli_evaluate_rejects_an_invalid_file_with_exit_2(event: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    env = {"CODEFEST_CHALLENGES_PATH": str(event["challenges"]), "CODEFEST_HOME": str(event["home"])}
    result = codefest("evaluate", "eval-ipc", "--team", "team-c", "--predictions", str(bad), env=env)
    assert_clean_failure(result, "line 1: not valid JSON", "uses none of your quota")
    good = _predictions(event["home"], tmp_path / "good.jsonl", 2)
    result = codefest("evaluate", "eval-ipc", "--team", "team-c", "--predictions", str(good), env=env)
    assert result.returncode == 0, result.stderr
    assert "top_prediction@subclass (primary)" in result.stdout
    assert "1 submission(s) left (1/2 today, 1/10 in all)" in result.stdout


def test_cli_evaluate_needs_one_kind_of_submission(event: dict[str, Path]) -> None:
    env = {"CODEFEST_CHALLENGES_PATH": str(event["challenges"]), "CODEFEST_HOME": str(event["home"])}
    assert_clean_failure(codefest("evaluate", "eval-ipc", "--team", "t", env=env), "give --team with --predictions")
    assert_clean_failure(
        codefest("evaluate", "eval-ipc", "--team", "bad name!", "--predictions", "x", env=env), "is not allowed"
    )


# -- code submissions: a pilot of our own, run through the sandbox ------------------------------------------

PILOT = """\
import argparse, json, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--input", type=pathlib.Path)
parser.add_argument("--output", type=pathlib.Path)
args = parser.parse_args()
ids = [json.loads(line)["id"] for line in args.input.read_text().splitlines()]
labels = {{}}
{body}
args.output.write_text("".join(json.dumps({{"id": i, "labels": labels.get(i, ["Y02E 10/50"])}}) + "\\n" for i in ids))
"""


def _pilot(root: Path, body: str) -> Path:
    (root / "src" / "office_pilot").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "office-pilot"\nversion = "0.1"\n\n[tool.codefest]\npredict = "office_pilot.predict"\n'
    )
    (root / "src" / "office_pilot" / "predict.py").write_text(PILOT.format(body=body))
    return root


@pytest.fixture
def code_evaluator(event: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Evaluator:
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(event["challenges"]))
    return Evaluator(load("eval-code"), event["home"])


def test_a_code_submission_is_run_and_scored(code_evaluator: Evaluator, tmp_path: Path) -> None:
    outcome = code_evaluator.code("coders", _pilot(tmp_path / "pilot", "labels = {i: ['H01M 10/00'] for i in ids}"))
    assert outcome.status == "scored", outcome.message
    run = _client(code_evaluator.root).get_run(outcome.run_id)
    assert run.data.tags[Tag.KIND] == "code" and run.data.tags[Tag.ISOLATED] == "true"
    assert float(run.data.tags[Tag.CODE_PEAK_MEMORY_MB]) > 5  # an interpreter at least, the whole run's cgroup
    assert 0 < float(run.data.tags[Tag.CODE_CPU_SECONDS]) < 4 * float(run.data.tags[Tag.CODE_SECONDS]) + 1
    artifacts = {a.path for a in _client(code_evaluator.root).list_artifacts(outcome.run_id)}
    assert {"result.json", "logs"} <= artifacts and Artifact.PER_ITEM not in artifacts
    again = code_evaluator.code("coders", tmp_path / "pilot")
    assert again.status == "duplicate"


def test_a_pilot_cannot_reach_the_labels(code_evaluator: Evaluator, tmp_path: Path) -> None:
    vault_file = code_evaluator.vault / "test-labels.jsonl"
    body = f"""
try:
    for line in open({str(vault_file)!r}):
        row = json.loads(line)
        labels[row["id"]] = row["labels"]
except OSError:
    pass
"""
    outcome = code_evaluator.code("peekers", _pilot(tmp_path / "pilot", body))
    assert outcome.status == "scored", outcome.message
    assert outcome.public["top_prediction@subclass"].value == 0.0  # it found nothing to copy


@pytest.mark.parametrize(
    ("team", "body", "status", "fragment"),
    [
        ("sleepers", "import time; time.sleep(30)", "timeout", "4"),
        ("hoarders", "block = bytearray(2 * 1024**3)", "memory", "600 MB"),
        ("callers", "import socket; socket.create_connection(('192.0.2.1', 80), timeout=2)", "network", "network"),
        ("crashers", "raise ValueError('model file missing')", "crashed", "model file missing"),
    ],
)
def test_failing_code_is_recorded_and_leaves_the_leaderboard_alone(
    code_evaluator: Evaluator, tmp_path: Path, team: str, body: str, status: str, fragment: str
) -> None:
    outcome = code_evaluator.code(team, _pilot(tmp_path / "pilot", body))
    assert outcome.status == status and fragment in outcome.message
    runs = code_evaluator.tracker.runs(where({Tag.TEAM: team}))
    assert [r.tags[Tag.STATUS] for r in runs] == [status]
    assert runs[0].metrics == {}
    assert outcome.quota is not None and outcome.quota.used_total == 1  # it held the worker: quota used


# -- the ledger: what an evaluation records, and the evaluation by submission id ------------------------------


def test_the_ledger_records_the_verdict_with_scores_per_item_and_signature(
    evaluator: Evaluator, tmp_path: Path
) -> None:
    outcome = evaluator.predictions("team-a", _predictions(evaluator.root, tmp_path / "ledger.jsonl", 3))
    assert outcome.status == "scored" and outcome.submission_id
    row = evaluator.ledger.get(outcome.submission_id)
    assert row is not None and (row.status, row.team, row.public_run_id) == ("scored", "team-a", outcome.run_id)
    run = _client(evaluator.root).get_run(outcome.run_id)
    assert row.signature == run.data.tags[Tag.SIGNATURE] and row.private_run_id == run.data.tags[Tag.PRIVATE_RUN_ID]
    assert run.data.tags[Tag.SUBMISSION_ID] == row.id and row.stored and (evaluator.root / row.stored).is_file()
    primary = "top_prediction@subclass"
    board = evaluator.ledger.board("eval-ipc", "private", [primary], signature=row.signature)
    [mine] = [r for r in board.rows if r.submission_id == row.id]
    private = _client(evaluator.root).get_run(row.private_run_id)
    assert mine.values[primary] == pytest.approx(private.data.metrics["top_prediction_at_subclass"])
    assert mine.breakdown is not None and mine.breakdown["metric"] == primary
    matrix = board.per_item[primary][[r.submission_id for r in board.rows].index(row.id)]
    assert matrix.shape == (len(evaluator.private_ids),) and float(matrix.mean()) == pytest.approx(mine.values[primary])


def test_a_submission_is_evaluated_by_its_id_with_a_message_for_the_team(evaluator: Evaluator, tmp_path: Path) -> None:
    """As the service's workers do: the upload stored in the workspace, received, claimed, evaluated by id."""
    from codefest.core.workspace import Workspace
    from codefest.evaluation.evaluate import evaluate_submission

    ledger, limits = evaluator.ledger, evaluator.spec.submission_limits
    ids = []
    for name, text in (("good.jsonl", None), ("bad.jsonl", '{"id": "nope", "labels": ["A01B"]}\n')):
        folder = Workspace(evaluator.root).uploads("eval-ipc") / name
        folder.mkdir(parents=True)
        stored = folder / "upload"
        if text is None:
            _predictions(evaluator.root, stored, 5)
        else:
            stored.write_text(text)
        sha = f"{len(ids)}" * 64
        row = ledger.receive(
            "eval-ipc",
            "team-z",  # a team of its own: the day quota of 2 holds both
            "predictions",
            sha,
            1,
            name,
            str(stored.relative_to(evaluator.root)),
            limits,
            "",
            "participant",
        )
        assert row.status == "queued"
        ids.append(row.id)
    good = evaluate_submission(evaluator.root, ledger, ids[0])
    assert good.status == "scored" and good.signature and good.scores is not None
    assert set(good.scores) == {"public", "private"} and {items.part for items in good.per_item} == {
        "public",
        "private",
    }
    assert good.public_run_id and good.private_run_id and good.breakdowns is not None
    bad = evaluate_submission(evaluator.root, ledger, ids[1])
    assert bad.status == "invalid" and "bad.jsonl" in bad.message and "id 'nope' is not a test item" in bad.message
    assert str(evaluator.root) not in bad.message and "upload" not in bad.message
    assert [ledger.get(id).status for id in ids] == ["queued", "queued"]  # the caller records the verdict


def test_a_claim_of_a_dead_process_is_taken_over_by_the_same_file_sent_again(
    evaluator: Evaluator, tmp_path: Path
) -> None:
    """At once when the process that held it ran on this host and is gone; not while another host's lease runs."""
    import shutil
    import socket
    import subprocess
    import sys

    from codefest.core.workspace import Workspace

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    limits = evaluator.spec.submission_limits
    found = {}
    for team, worker in (("team-x", f"evaluate@{socket.gethostname()}#{dead.stdout.strip()}"), ("team-i", None)):
        path = _predictions(evaluator.root, tmp_path / f"{team}.jsonl", 7)
        stored = Workspace(evaluator.root).uploads("eval-ipc") / f"held-{team}" / "upload"
        stored.parent.mkdir(parents=True)
        shutil.copyfile(path, stored)
        sha = fingerprint(path)
        held = evaluator.ledger.receive(
            "eval-ipc", team, "predictions", sha, 1, str(path), str(stored.relative_to(evaluator.root)), limits,
            "", "participant", worker=worker or "evaluate@another-host#1", lease_seconds=600,
        )  # fmt: skip
        assert held.status == "running"
        found[team] = (held, evaluator.predictions(team, path))
    held, outcome = found["team-x"]
    assert (outcome.status, outcome.submission_id) == ("scored", held.id)
    row = evaluator.ledger.get(held.id)
    assert row is not None and (row.status, row.attempts, row.worker) == ("scored", 2, evaluator.worker)
    held, outcome = found["team-i"]
    assert outcome.status == "duplicate" and f"already received as submission {held.id}" in outcome.message
    assert evaluator.ledger.get(held.id).status == "running"  # another host's: its lease is waited for
