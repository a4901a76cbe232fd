"""A submission's fingerprint never follows links, covers exactly what the sandbox copies, and is bounded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codefest.core.errors import CodefestError
from codefest.evaluation.pilot_tree import IGNORED, MAX_PILOT_DEPTH, TreeLimits, copy, walk
from codefest.evaluation.submissions import fingerprint


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


def test_the_walk_is_bounded_before_anything_is_read(tmp_path: Path) -> None:
    pilot = tmp_path / "pilot"
    (pilot / "data").mkdir(parents=True)
    for n in range(11):
        (pilot / "data" / f"{n}.txt").write_text("x")
    with pytest.raises(CodefestError, match="more than 10 files, links and folders") as raised:
        walk(pilot, TreeLimits(max_entries=10))
    assert "keep fewer files" in raised.value.fix and ".pytest_cache" in raised.value.fix
    with (pilot / "model.bin").open("wb") as out:
        out.truncate(3 * 1024**3)  # sparse: no disk used, 3 GiB apparent
    with pytest.raises(CodefestError, match=r"more than 2 GiB of files \(apparent size"):
        fingerprint(pilot)


def test_a_deep_folder_is_refused_without_recursion(tmp_path: Path) -> None:
    pilot = tmp_path / "pilot"
    deep = pilot.joinpath(*["d"] * (MAX_PILOT_DEPTH + 1))
    deep.mkdir(parents=True)
    with pytest.raises(CodefestError, match=f"nested more than {MAX_PILOT_DEPTH} levels"):
        fingerprint(pilot)
    (deep.parent / "d").rmdir()
    assert fingerprint(pilot)  # exactly at the limit: accepted


def test_one_ignore_list_wherever_the_name_appears(tmp_path: Path) -> None:
    pilot = tmp_path / "pilot"
    pilot.mkdir()
    (pilot / "model.py").write_text("A = 1\n")
    first = fingerprint(pilot)
    for name in sorted(IGNORED):
        (pilot / name).mkdir()
        (pilot / name / "payload.py").write_text("code that must not run unfingerprinted\n")
        (pilot / "sub").mkdir(exist_ok=True)
        (pilot / "sub" / name).write_text("a file with an ignored name\n")
    assert [entry.relative for entry in walk(pilot)] == ["model.py", "sub"]
    assert fingerprint(pilot) != first  # the folder sub/ holds nothing counted, but it is copied ...
    copy(pilot, walk(pilot), tmp_path / "copy")
    assert fingerprint(tmp_path / "copy") == fingerprint(pilot)  # ... and the copy is exactly what was fingerprinted
    assert sorted(path.name for path in (tmp_path / "copy").rglob("*")) == ["model.py", "sub"]


def test_names_that_are_not_utf8_are_fingerprinted(tmp_path: Path) -> None:
    pilot = tmp_path / "pilot"
    pilot.mkdir()
    (pilot / os.fsdecode(b"model-\xff.py")).write_text("A = 1\n")
    assert len(fingerprint(pilot)) == 64
