"""A submission's fingerprint never follows links: a link to the vault must not be read, hashed or scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from codefest.errors import CodefestError
from evaluation.submissions import fingerprint


def test_a_linked_predictions_file_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "test-labels.jsonl"
    secret.write_text('{"id": "t1", "labels": ["A01B 1/00"]}\n')
    (tmp_path / "predictions.jsonl").symlink_to(secret)
    with pytest.raises(CodefestError, match="is a link") as refused:
        fingerprint(tmp_path / "predictions.jsonl")
    assert "the predictions file or the pilot folder itself" in refused.value.render()


def test_links_inside_a_pilot_count_by_where_they_point_not_by_what_they_hold(tmp_path: Path) -> None:
    pilot, secret = tmp_path / "pilot", tmp_path / "secret.txt"
    (pilot / "src").mkdir(parents=True)
    (pilot / "src" / "main.py").write_text("print('hi')\n")
    secret.write_text("labels v1\n")
    (pilot / "labels").symlink_to(secret)
    (pilot / "vault").symlink_to(tmp_path, target_is_directory=True)
    before = fingerprint(pilot)
    secret.write_text("labels v2, a different content\n")
    assert fingerprint(pilot) == before  # the target was not read
    (pilot / "labels").unlink()
    (pilot / "labels").symlink_to(tmp_path / "elsewhere.txt")
    assert fingerprint(pilot) != before  # where it points is part of the submission


def test_a_pilot_s_files_and_names_decide_its_fingerprint(tmp_path: Path) -> None:
    pilot = tmp_path / "pilot"
    (pilot / ".git").mkdir(parents=True)
    (pilot / "model.py").write_text("A = 1\n")
    (pilot / ".git" / "HEAD").write_text("ref\n")
    first = fingerprint(pilot)
    (pilot / ".git" / "HEAD").write_text("another ref\n")
    assert fingerprint(pilot) == first  # ignored folders do not count
    (pilot / "model.py").write_text("A = 2\n")
    second = fingerprint(pilot)
    assert second != first
    (pilot / "model.py").rename(pilot / "other.py")
    assert fingerprint(pilot) != second
