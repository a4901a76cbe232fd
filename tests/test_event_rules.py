"""The rules of an adversarial event: who may submit, when, what it costs, what is recorded and who may read it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
from pathlib import Path

import pytest
from mlflow import MlflowClient

from codefest.challenges.calendar import opening_day, record_opening, utc_today
from codefest.challenges.discovery import load
from codefest.core.errors import CodefestError
from codefest.evaluation import roster
from codefest.evaluation.evaluate import Evaluator, evaluate_inbox
from codefest.evaluation.records import Artifact, Part, Status, Tag, where
from codefest.evaluation.tracking import tracking_uri
from codefest.leaderboard.selection import select_submission
from codefest.shared_datasets.heldout import build
from tests.helpers import bundled_spec, right_every, with_empty_store, write_challenge
from tests.test_cli import assert_clean_failure, codefest, codefest_many

pytestmark = pytest.mark.slow  # builds two challenges and evaluates in MLflow

SLUG = "rules-ipc"
CODE_SLUG = "rules-code"
TEAMS = ["team-a", "team-b", "Office.C"]


def _spec(slug: str, **changes: object) -> dict:
    spec = bundled_spec("ipc-classification") | {"slug": slug}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 200, "seed": 3}}
    spec["test_split"] = {"public_fraction": 0.3, "seed": 4}
    spec["submission_limits"] = {"per_team_per_day": 3, "total": 10}
    return spec | changes


@pytest.fixture(scope="module")
def _built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small challenges built into a workspace, three teams enrolled, once for the module: `event` copies it."""
    base = tmp_path_factory.mktemp("rules")
    with pytest.MonkeyPatch.context() as patch:  # a module fixture has no monkeypatch of its own
        patch.setenv("CODEFEST_CHALLENGES_PATH", str(base / "challenges"))
        write_challenge(base / "challenges", _spec(SLUG))
        code = _spec(CODE_SLUG, resources={"wall_time_seconds": 3, "memory_mb": 600})
        write_challenge(base / "challenges", code)
        for slug in (SLUG, CODE_SLUG):
            build(load(slug), base / "home")
        roster.add(base / "home", TEAMS)
    return base


@pytest.fixture
def event(_built: Path, _empty_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The two small challenges built into a workspace of the test's own, three teams enrolled, an empty MLflow
    store; returns the workspace. A copy of `_built`: tests add challenges, runs and teams."""
    home = tmp_path / "home"
    shutil.copytree(_built / "challenges", tmp_path / "challenges")
    shutil.copytree(_built / "home", home)
    with_empty_store(home, _empty_store)
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(tmp_path / "challenges"))
    monkeypatch.setenv("CODEFEST_HOME", str(home))
    return home


def _evaluator(home: Path, slug: str = SLUG) -> Evaluator:
    return Evaluator(load(slug), home)


def _file(home: Path, path: Path, every: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return right_every(home, SLUG, path, every)


def _env(home: Path) -> dict[str, str]:
    return {"CODEFEST_HOME": str(home), "CODEFEST_CHALLENGES_PATH": os.environ["CODEFEST_CHALLENGES_PATH"]}


# -- the roster (item 7) -------------------------------------------------------------------------------------


def test_a_trailing_line_feed_is_not_a_second_team(event: Path, tmp_path: Path) -> None:
    with pytest.raises(CodefestError, match=r"team name 'team-a\\n' is not allowed"):
        _evaluator(event).predictions("team-a\n", _file(event, tmp_path / "a.jsonl"))
    with pytest.raises(CodefestError, match="is not allowed"):
        roster.add(event, ["team-z\n"])
    assert roster.teams(event) == TEAMS


def test_names_are_compared_without_regard_to_case(event: Path, tmp_path: Path) -> None:
    evaluator = _evaluator(event)
    first = evaluator.predictions("Team-A", _file(event, tmp_path / "a.jsonl", 2))
    second = evaluator.predictions("TEAM-A", _file(event, tmp_path / "b.jsonl", 3))
    assert (first.team, second.team) == ("team-a", "team-a")
    assert second.quota is not None and second.quota.used_total == 2  # one quota, not two
    assert {r.tags[Tag.TEAM] for r in evaluator.tracker.runs()} == {"team-a"}
    with pytest.raises(CodefestError, match="already enrolled as 'team-a'"):
        roster.add(event, ["TEAM-A"])


def test_an_unknown_team_is_refused_with_the_fix(event: Path, tmp_path: Path) -> None:
    with pytest.raises(CodefestError, match="team 'intruders' is not on the event's roster") as refused:
        _evaluator(event).predictions("intruders", _file(event, tmp_path / "a.jsonl"))
    assert "codefest teams add intruders" in str(refused.value)
    assert _evaluator(event).tracker.runs() == []


def test_the_teams_commands_enrol_and_list(event: Path) -> None:
    added, listed, bad, one, renewed, nobody = codefest_many(  # one after the other
        ["teams", "add", "office-d", "office-e", "team-a"],
        ["teams", "list"],
        ["teams", "add", "bad name!"],
        ["teams", "add", "office-f"],
        ["teams", "token", "OFFICE-F"],
        ["teams", "token", "nobody"],
        env=_env(event),
    )
    assert added.returncode == 0, added.stderr
    assert "enrolled office-d" in added.stderr and "already enrolled team-a" in added.stderr
    assert listed.stdout.split() == [*TEAMS, "office-d", "office-e"]
    assert_clean_failure(bad, "is not allowed")
    tokens = dict(line.split() for line in added.stdout.splitlines())
    assert set(tokens) == {"office-d", "office-e"} and "shown once" in added.stderr
    token, new_token = one.stdout.splitlines()[-1], renewed.stdout.splitlines()[-1]
    ledger = roster.open_ledger(event)
    assert ledger.team_for_token(tokens["office-d"]) == "office-d" and ledger.team_for_token(new_token) == "office-f"
    assert token.startswith("cf_") and ledger.team_for_token(token) is None  # revoked by the new one
    ledger.close()
    assert_clean_failure(nobody, "not on the event's roster")


def test_an_old_roster_file_is_enrolled_once_in_an_empty_ledger(tmp_path: Path) -> None:
    home = tmp_path / "old"
    home.mkdir()
    (home / "teams.json").write_text(json.dumps({"teams": ["Office-A", "office-b"]}))
    assert roster.resolve(home, "office-a") == "Office-A"
    (home / "teams.json").write_text(json.dumps({"teams": ["office-z"]}))  # read no more: the ledger has teams
    assert roster.teams(home) == ["Office-A", "office-b"]
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / "teams.json").write_text("{")
    with pytest.raises(CodefestError, match=r"the old roster .* is damaged"):
        roster.teams(tmp_path / "damaged")


# -- phases (item 8) -----------------------------------------------------------------------------------------


def _open_days_ago(home: Path, slug: str, days: int) -> None:
    (home / "opened" / slug).unlink()
    record_opening(slug, home, utc_today() - dt.timedelta(days=days))


def test_relative_phases_open_on_the_first_build_and_stay_put(event: Path) -> None:
    assert opening_day(SLUG, event) == utc_today()
    build(load(SLUG), event)  # a rebuild does not move the calendar
    assert opening_day(SLUG, event) == utc_today()
    windows = load(SLUG).spec.schedule(utc_today())
    assert [(w.name, (w.end - w.start).days + 1) for w in windows] == [("development", 14), ("final", 4)]
    assert windows[1].start == windows[0].end + dt.timedelta(days=1)


def test_a_submission_after_the_final_phase_is_refused_unless_forced(event: Path, tmp_path: Path) -> None:
    _open_days_ago(event, SLUG, 18)  # 14 + 4 days: the final phase ended yesterday
    evaluator = _evaluator(event)
    with pytest.raises(CodefestError, match=f"challenge '{SLUG}' is over") as refused:
        evaluator.predictions("team-a", _file(event, tmp_path / "late.jsonl"))
    assert "--force" in str(refused.value)
    assert evaluator.tracker.runs() == []
    forced = evaluator.predictions("team-a", _file(event, tmp_path / "late.jsonl"), force=True)
    run = evaluator.tracker.runs()[0]
    assert forced.status == "scored" and run.tags[Tag.FORCED] == "true" and run.tags[Tag.PHASE] == "outside-phases"


def test_the_phase_is_tagged_on_each_run(event: Path, tmp_path: Path) -> None:
    _open_days_ago(event, SLUG, 15)  # day 16 of 18: the final phase
    outcome = _evaluator(event).predictions("team-b", _file(event, tmp_path / "b.jsonl"))
    assert _evaluator(event).tracker.runs()[0].tags[Tag.PHASE] == "final" and outcome.status == "scored"


def test_selection_closes_with_the_last_phase(event: Path, tmp_path: Path) -> None:
    spec = load(SLUG).spec.model_copy(update={"final_submission": "selected"})
    outcome = _evaluator(event).predictions("team-a", _file(event, tmp_path / "a.jsonl"))
    _open_days_ago(event, SLUG, 30)
    with pytest.raises(CodefestError, match="final submissions are selected during its phases only"):
        select_submission(spec, event, "team-a", str(outcome.run_id))
    assert "is now the final submission" in select_submission(spec, event, "team-a", str(outcome.run_id), force=True)
    run = MlflowClient(tracking_uri=tracking_uri(event)).get_run(str(outcome.run_id))
    assert run.data.tags[Tag.SELECTION_FORCED] == "true"


def test_reveal_before_the_end_needs_force(event: Path, tmp_path: Path) -> None:
    _evaluator(event).predictions("team-a", _file(event, tmp_path / "a.jsonl"))
    reveal = ["leaderboard", SLUG, "--private", "--reveal"]
    early, forced = codefest_many(reveal, [*reveal, "--force"], env=_env(event))  # one after the other
    assert_clean_failure(early, "has not ended, so its private leaderboard stays private", "--reveal --force")
    assert forced.returncode == 0, forced.stderr
    client = MlflowClient(tracking_uri=tracking_uri(event))
    public = client.get_experiment_by_name(SLUG).experiment_id
    [revealed] = client.search_runs([public], where({Tag.VIEW: Part.PRIVATE}))
    assert revealed.data.tags[Tag.FORCED] == "true"
    _open_days_ago(event, SLUG, 18)
    after = codefest("leaderboard", SLUG, "--private", "--reveal", env=_env(event))
    assert after.returncode == 0, after.stderr


# -- the inbox (item 9) --------------------------------------------------------------------------------------


def test_bad_inbox_entries_are_recorded_and_the_others_go_on(event: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    bad_name = os.fsdecode(b"team-a\xff")
    for team in (bad_name, "team-b", "strangers"):
        (inbox / team).mkdir(parents=True)
    _file(event, inbox / bad_name / "p.jsonl")
    (inbox / "team-b" / os.fsdecode(b"p\xfe.jsonl")).write_bytes(_file(event, tmp_path / "b.jsonl", 3).read_bytes())
    (inbox / "team-b" / "dangling.jsonl").symlink_to(tmp_path / "nowhere")
    _file(event, inbox / "strangers" / "s.jsonl")
    outcomes = {(o.team, o.status) for o in evaluate_inbox(_evaluator(event), inbox)}
    assert outcomes == {
        ("'team-a\\udcff'", "refused"),
        ("team-b", "scored"),
        ("team-b", "refused"),
        ("strangers", "refused"),
    }
    refusals = _evaluator(event).tracker.runs(where({Tag.STATUS: Status.REFUSED}), private=True)
    assert len(refusals) == 3
    messages = " | ".join(r.tags[Tag.MESSAGE] for r in refusals)
    assert "is not allowed" in messages and "not on the event's roster" in messages and "is a link" in messages
    again = evaluate_inbox(_evaluator(event), inbox)  # run after run: recorded once, never a crash
    assert sorted(o.status for o in again) == ["duplicate", "refused", "refused", "refused"]
    assert len(_evaluator(event).tracker.runs(where({Tag.STATUS: Status.REFUSED}), private=True)) == 3


def test_the_cli_prints_an_undecodable_name_escaped(event: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    (inbox / os.fsdecode(b"t\xffeam")).mkdir(parents=True)
    (inbox / os.fsdecode(b"t\xffeam") / "p.jsonl").write_text("{}\n")
    result = codefest("evaluate", SLUG, "--inbox", str(inbox), env=_env(event))
    assert result.returncode == 0, result.stderr
    assert "refused 't\\udcffeam'" in result.stderr and "Traceback" not in result.stderr


# -- failed code runs use quota (item 10) ----------------------------------------------------------------------

CRASHING_PILOT = 'raise SystemExit("the model file is missing")\n'


def _pilot(folder: Path, body: str) -> Path:
    (folder / "src" / "crash_pilot").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "crash-pilot"\nversion = "0"\n')
    (folder / "src" / "crash_pilot" / "predict.py").write_text(body)
    return folder


def test_a_crashed_code_run_uses_quota_unless_the_challenge_says_not(event: Path, tmp_path: Path) -> None:
    outcome = _evaluator(event, CODE_SLUG).code("team-a", _pilot(tmp_path / "p", CRASHING_PILOT))
    assert outcome.status == "crashed" and outcome.quota is not None and outcome.quota.used_total == 1
    spec = _spec("rules-free", submission_limits={"per_team_per_day": 3, "total": 10, "failed_code_runs_count": False})
    write_challenge(Path(os.environ["CODEFEST_CHALLENGES_PATH"]), spec)
    build(load("rules-free"), event)
    free = _evaluator(event, "rules-free").code("team-a", _pilot(tmp_path / "q", CRASHING_PILOT))
    assert free.status == "crashed" and free.quota is not None and free.quota.used_total == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    invalid = _evaluator(event, CODE_SLUG).predictions("team-a", bad)
    assert invalid.status == "invalid" and invalid.quota is not None and invalid.quota.used_total == 1


# -- the workspace is its owner's (item 11) --------------------------------------------------------------------


def test_workspace_files_are_owner_only(event: Path, tmp_path: Path) -> None:
    home = tmp_path / "fresh"
    env = {**_env(event), "CODEFEST_HOME": str(home)}
    predictions = str(_file(event, tmp_path / "a.jsonl"))
    built, enrolled, result = codefest_many(  # one after the other
        ["data", "build", SLUG],
        ["teams", "add", "team-a"],
        ["evaluate", SLUG, "--team", "team-a", "--predictions", predictions],
        env=env,
    )
    assert built.returncode == 0 and enrolled.returncode == 0, built.stderr + enrolled.stderr
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    loose = [
        str(path.relative_to(home))
        for path in [home, *home.rglob("*")]
        if stat.S_IMODE(path.lstat().st_mode) & 0o077 and not path.is_symlink()
    ]
    assert loose == []
    assert (home / "mlflow.db").is_file() and any(home.rglob(Artifact.PUBLIC_PER_ITEM))


# -- the same file from two teams (item 13) and per-item scores (item 6) ---------------------------------------


def test_the_same_file_from_two_teams_is_flagged_to_the_organisers(event: Path, tmp_path: Path) -> None:
    evaluator = _evaluator(event)
    path = _file(event, tmp_path / "shared.jsonl", 2)
    first = evaluator.predictions("team-a", path)
    second = evaluator.predictions("team-b", path)
    assert first.flags == [] and second.status == "scored"
    assert second.flags == [
        f"the same submission (sha256 {second_sha(evaluator, second.run_id)}) was also sent by: "
        f"team-a (run {first.run_id})"
    ]
    assert "team-a" not in second.message  # what the team itself reads says nothing of the other
    [private] = evaluator.tracker.runs(where({Tag.PUBLIC_RUN_ID: second.run_id}), private=True)
    assert private.tags[Tag.SAME_SUBMISSION_AS] == f"team-a (run {first.run_id})"
    public = evaluator.tracker.runs()
    assert not any({"same_submission_as", "submission_sha256"} & set(run.tags) for run in public)
    names = [evaluator.tracker.client.get_run(str(o.run_id)).info.run_name for o in (first, second)]
    assert names[0].split(" · ")[1] != names[1].split(" · ")[1]  # the same file: nothing in the names says so


def second_sha(evaluator: Evaluator, run_id: str | None) -> str:
    private = evaluator.tracker.runs(where({Tag.PUBLIC_RUN_ID: str(run_id)}), private=True)
    return next(r.tags[Tag.SUBMISSION_SHA256] for r in private)


def test_per_item_scores_are_not_where_participants_read(event: Path, tmp_path: Path) -> None:
    """Per-item scores tell a team, item by item, whether a guess was right: they stay in the private run."""
    evaluator = _evaluator(event)
    outcome = evaluator.predictions("team-a", _file(event, tmp_path / "a.jsonl"))
    client = MlflowClient(tracking_uri=tracking_uri(event))
    assert {a.path for a in client.list_artifacts(str(outcome.run_id))} == {"result.json"}
    result = json.loads(Path(client.download_artifacts(str(outcome.run_id), "result.json", str(tmp_path))).read_text())
    assert not any(item in json.dumps(result) for item in evaluator.public_ids | evaluator.private_ids)
    [private] = evaluator.tracker.runs(where({Tag.PUBLIC_RUN_ID: outcome.run_id}), private=True)
    text = Path(client.download_artifacts(private.run_id, Artifact.PUBLIC_PER_ITEM, str(tmp_path / "p"))).read_text()
    assert {json.loads(line)["id"] for line in text.splitlines()} == evaluator.public_ids


def test_an_evaluation_s_refusal_says_nothing_of_the_held_out_references(event: Path, tmp_path: Path) -> None:
    """The same invalid file gets the same message whatever the vault's references: they are never consulted."""
    spec = bundled_spec("patent-translation-en-fr") | {"slug": "rules-mt"}
    spec["dataset"] = {"builder": "synthetic-patent-en-fr", "version": "1", "options": {"size": 300, "seed": 5}}
    spec["test_split"] = {"public_fraction": 0.3, "seed": 4}
    write_challenge(Path(os.environ["CODEFEST_CHALLENGES_PATH"]), spec)
    build(load("rules-mt"), event)
    ids = [json.loads(line)["id"] for line in (event / "bundles/rules-mt/test.jsonl").read_text().splitlines()]

    def refusal(name: str) -> str:
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"id": i, "translation": f"{name} " * 4000}) + "\n" for i in ids))
        outcome = Evaluator(load("rules-mt"), event).predictions("team-a", path)
        assert outcome.status == "invalid"
        return outcome.message.replace(name, "NAME")

    before = refusal("alpha")
    labels = event / "vault/rules-mt/test-labels.jsonl"
    rows = [json.loads(line) for line in labels.read_text().splitlines()]
    labels.write_text("".join(json.dumps({**r, "reference": r["reference"] * 30}) + "\n" for r in rows))
    assert refusal("omega") == before
    assert "source" in before and "reference" not in before


# -- found by playing the hostile participant ----------------------------------------------------------------------

INVALID_OUTPUT_PILOT = """\
import argparse, pathlib
parser = argparse.ArgumentParser()
parser.add_argument("--input", type=pathlib.Path)
parser.add_argument("--output", type=pathlib.Path)
args = parser.parse_args()
args.output.write_text('{"id": "nope", "labels": ["H01M"]}\\n')
"""


def test_a_code_run_with_invalid_output_uses_quota(event: Path, tmp_path: Path) -> None:
    """Otherwise a team could hold a worker for the whole wall time, again and again, for free."""
    outcome = _evaluator(event, CODE_SLUG).code("team-b", _pilot(tmp_path / "p", INVALID_OUTPUT_PILOT))
    assert outcome.status == "invalid" and outcome.quota is not None and outcome.quota.used_total == 1
    assert "uses none of your quota" not in outcome.message and "uses quota" in outcome.message
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    file = _evaluator(event, CODE_SLUG).predictions("team-b", bad)  # a predictions file stays free
    assert file.status == "invalid" and file.quota is not None and file.quota.used_total == 1


def test_an_oversized_predictions_file_is_refused_before_it_is_read(event: Path, tmp_path: Path) -> None:
    sparse = tmp_path / "sparse.jsonl"
    with sparse.open("wb") as handle:
        handle.truncate(5 * 1024**4)  # 5 TiB apparent, nothing on disk: hashing it whole would take hours
    with pytest.raises(CodefestError, match="over the limit of 2,147,483,648 for a predictions file"):
        _evaluator(event).predictions("team-a", sparse)


def test_a_pilot_with_a_deeply_nested_pyproject_is_refused_cleanly(event: Path, tmp_path: Path) -> None:
    pilot = _pilot(tmp_path / "deep", CRASHING_PILOT)
    (pilot / "pyproject.toml").write_text("a = " + "[" * 200_000 + "]" * 200_000 + "\n")
    result = codefest("evaluate", CODE_SLUG, "--team", "team-a", "--code", str(pilot), env=_env(event))
    assert_clean_failure(result, "nests values too deeply to be read")
