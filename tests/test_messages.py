"""What users wrote comes back as they wrote it: no markup eaten, no line cut inside a word when piped."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from codefest import __version__
from codefest.challenges.discovery import BUNDLED
from tests.helpers import bundled_spec, write_challenge
from tests.test_cli import codefest


def _score(folder: Path, predictions: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Standalone scoring against a one-item gold file."""
    gold = folder / "g.jsonl"
    gold.write_text(json.dumps({"id": "a", "labels": ["A01B 1/00"]}) + "\n")
    return codefest(
        "score", "--task", "classification", "--gold", str(gold), "--predictions", str(predictions), env=env
    )


def test_bracketed_text_in_a_message_is_printed_literally(tmp_path: Path) -> None:
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(json.dumps({"id": "x[b]", "labels": ["A01B 1/00"]}) + "\n")
    result = _score(tmp_path, predictions)
    assert result.returncode == 2, result.stderr
    assert "'x[b]'" in result.stderr


def test_a_message_to_a_pipe_keeps_each_word_whole(tmp_path: Path) -> None:
    """At 80 columns, as when piped, a long path in a message stays on one line, where it can be copied."""
    folder = tmp_path / ("a-rather-long-folder-name-that-a-user-might-really-have-" * 2)
    folder.mkdir()
    missing = folder / "predictions-of-the-office-for-the-final-phase.jsonl"
    result = _score(tmp_path, missing, env={"COLUMNS": "80"})
    assert result.returncode == 2
    assert str(missing) in result.stderr.replace("\n", " ") and str(missing) in result.stderr


def test_a_title_with_brackets_shows_whole_in_tables(tmp_path: Path, home: Path) -> None:
    spec = bundled_spec("ipc-classification") | {"slug": "bracket-ipc", "title": "IPC [beta] for x[b]"}
    write_challenge(tmp_path, spec)
    env = {"CODEFEST_CHALLENGES_PATH": str(tmp_path), "COLUMNS": "300"}
    result = codefest("challenges", "list", env=env)
    assert result.returncode == 0, result.stderr
    assert "IPC [beta] for x[b]" in result.stdout
    shown = codefest("challenges", "show", "bracket-ipc", env={**env, "CODEFEST_HOME": str(home)})
    assert "IPC [beta] for x[b]" in shown.stdout


@pytest.mark.parametrize("columns", ["60", "80", "120", "250"])
def test_identifiers_one_must_type_are_never_cut_in_tables(columns: str) -> None:
    """Slugs, builder names, option names and folders whole at any width, as when piped (80): other columns wrap
    between words, and a list takes the table's place where that cannot fit."""
    from codefest.shared_datasets.builders import all_builders

    listed = codefest("challenges", "list", env={"COLUMNS": columns})
    builders = codefest("data", "builders", env={"COLUMNS": columns})
    shown = codefest("challenges", "show", "patent-translation-en-fr", env={"COLUMNS": columns})
    assert listed.returncode == builders.returncode == shown.returncode == 0, listed.stderr + builders.stderr
    for slug in ("ipc-classification", "patent-translation-en-fr", "prior-art-search"):
        assert slug in listed.stdout and str(BUNDLED / slug) in listed.stdout
    assert str(BUNDLED / "patent-translation-en-fr") in shown.stdout
    words = set(builders.stdout.replace(",", " ").split())
    registry = all_builders()
    for name in registry:
        assert name in words and set(registry.get(name).options.model_fields) <= words, name
    assert "…" not in listed.stdout + builders.stdout + shown.stdout


def test_version_and_no_quota_talk_outside_evaluations(tmp_path: Path) -> None:
    version = codefest("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"codefest {__version__}"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    result = _score(tmp_path, bad)
    assert result.returncode == 2 and "not valid JSON" in result.stderr
    assert "of your quota" not in result.stderr and "score it again" in result.stderr


@pytest.mark.parametrize("width", [40, 60, 80, 200])
def test_a_submissions_table_keeps_ids_and_files_whole(width: int) -> None:
    """`codefest submissions` lists ids that `codefest select` takes: whole at any width, wrapped text elsewhere."""
    from io import StringIO

    from rich.console import Console

    from codefest.console import records

    ids = ["5f0c2a4e-9d7b-4c1e-8a3f-2b6d1e0c9a87", "0b9e7d6c-5a4f-4e3d-9c2b-1a0f9e8d7c6b"]
    row = ["2026-12-01 13:32:05", "predictions", "predictions/test-final.jsonl", "scored", "0.4123"]
    rows = [[item, *row] for item in ids]
    headers = ["id", "received (UTC)", "kind", "file", "status", "top_prediction@subclass"]
    terminal = Console(file=StringIO(), width=width, markup=False, soft_wrap=True, record=True)
    terminal.print(records("your submissions", headers, rows, {"id", "file"}, width))
    shown = terminal.export_text()
    for item in ids:
        assert item in shown
    assert "predictions/test-final.jsonl" in shown and "top_prediction@subclass" in shown and "…" not in shown


def _not_test_items(path: Path, count: int, then: str = "") -> Path:
    """`count` lines, each a different problem (an id that is not a test item), and `then` after them."""
    path.write_text("".join(json.dumps({"id": f"X{i}", "labels": ["A01B"]}) + "\n" for i in range(count)) + then)
    return path


def test_a_count_is_exact_when_the_whole_file_was_read(tmp_path: Path) -> None:
    """Twenty different problems fill the listing on the last line: the file was read to its end, so the missing
    prediction is found too, and the count is exact."""
    result = _score(tmp_path, _not_test_items(tmp_path / "p.jsonl", 20, then="\n"))
    assert result.returncode == 2, result.stderr
    assert "(21 problems)" in result.stderr and "... and 1 more problem\n" in result.stderr
    assert "at least" not in result.stderr and "reading stopped" not in result.stderr


def test_a_count_where_reading_stopped_is_a_lower_bound(tmp_path: Path) -> None:
    """Past the listing's limit the rest of the file is not read: the count says "at least", and nothing is said
    about the unread lines (the gold's item may be predicted there)."""
    result = _score(tmp_path, _not_test_items(tmp_path / "p.jsonl", 25))
    assert result.returncode == 2, result.stderr
    assert "(at least 20 problems)" in result.stderr and "reading stopped there" in result.stderr
    assert "have no prediction" not in result.stderr


def test_a_count_stopped_by_the_counting_limit_is_a_lower_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same problem on every line is counted up to MAX_COUNTED, then reading stops: "at least", not exact."""
    from codefest.evaluation import problems
    from codefest.evaluation.problems import InvalidSubmission
    from codefest.evaluation.scoring import score_files

    monkeypatch.setattr(problems, "MAX_COUNTED", 50)
    gold = tmp_path / "g.jsonl"
    gold.write_text(json.dumps({"id": "a", "labels": ["A01B 1/00"]}) + "\n")
    (tmp_path / "p.jsonl").write_text("oops\n" * 80)
    with pytest.raises(InvalidSubmission) as caught:
        score_files("classification", gold, tmp_path / "p.jsonl", resamples=0)
    assert "(at least 50 problems)" in str(caught.value) and caught.value.stopped
    assert caught.value.problems[0].where == "lines 1-50"


def test_the_participant_guide_names_every_status_a_submission_takes() -> None:
    """`codefest submissions` shows the ledger's words: each is explained where participants read, and a refusal on
    arrival is told apart from an invalid output judged by a worker."""
    from codefest.evaluation.ledger import statuses

    guide = (Path(__file__).resolve().parents[1] / "docs" / "guide-participant.md").read_text(encoding="utf-8")
    for status in statuses.ALL:
        assert f"`{status}`" in guide, status
    assert "- `refused`: the service turned it away on arrival" in guide
    assert "- `invalid`: the predictions your code wrote were not valid" in guide
