"""Oversized files and overlong lines are refused within the size limits, without being read whole.

Big files are sparse (a hole reads as zeros and costs no disk), and tracemalloc measures what Python allocates while
the harness refuses them: the refusal of a 3 GiB file must read nothing, that of a 50 MB line must hold only a bounded
part of it.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.problems import InvalidSubmission
from evaluation.reading import Limits
from evaluation.scorers import ScoringOptions, scorer_for
from evaluation.scoring import score_files
from evaluation.symbols import normalise

MB = 1_000_000
GIB = 2**30

# task -> (gold file lines, prediction lines for every gold item, predictions file name)
TASKS = {
    "classification": (
        [json.dumps({"id": "D0", "labels": ["A01B 1/02"]}), json.dumps({"id": "D1", "labels": ["H01M 10/02"]})],
        [json.dumps({"id": "D0", "labels": ["A01B 1/00"]}), json.dumps({"id": "D1", "labels": ["H01M"]})],
        "pred.jsonl",
    ),
    "translation": (
        [json.dumps({"id": "T-01", "reference": "a pump"}), json.dumps({"id": "T-02", "reference": "a valve"})],
        [json.dumps({"id": "T-01", "translation": "a pump"}), json.dumps({"id": "T-02", "translation": "valve"})],
        "pred.jsonl",
    ),
    "search": (["t1 0 d1 1", "t2 0 d2 1"], ["t1 Q0 d1 1 2.5 run", "t2 Q0 d3 1 2.5 run"], "run.txt"),
}


def write_gold(folder: Path, task: str) -> Path:
    path = folder / f"gold-{task}.txt"
    path.write_text("\n".join(TASKS[task][0]) + "\n", encoding="utf-8")
    return path


def attempt(task: str, folder: Path, predictions: Path, limits: Limits = Limits()) -> tuple[str | None, int]:
    """(the rendered message, or None if the file was scored; peak bytes Python allocated meanwhile).

    The scorer's libraries are imported and the gold read before measuring, so the peak is the submission's alone.
    """
    gold = write_gold(folder, task)
    scorer_for(task).read_gold(gold)
    message = None
    tracemalloc.start()
    try:
        score_files(task, gold, predictions, ScoringOptions(), resamples=0, limits=limits)
    except InvalidSubmission as refused:
        message = refused.render()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return message, peak


def refusal(task: str, folder: Path, predictions: Path, limits: Limits = Limits()) -> tuple[str, int]:
    message, peak = attempt(task, folder, predictions, limits)
    assert message is not None, f"{predictions.name} was scored, not refused"
    return message, peak


def sparse_file(path: Path, head: str, size: int) -> Path:
    """`head` and then zeros up to `size` bytes, without writing the zeros."""
    with path.open("wb") as handle:
        handle.write(head.encode("utf-8"))
        handle.truncate(size)
    return path


def padded(task: str, line: str, length: int) -> str:
    """A valid prediction line padded with spaces to `length` characters, still valid."""
    padding = " " * (length - len(line))
    return line[:-1] + padding + line[-1] if line.endswith("}") else line + padding


# --- oversized files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("valid_head", [True, False])
def test_a_file_over_the_default_limit_is_refused_before_reading(tmp_path: Path, task: str, valid_head: bool) -> None:
    """Refused from its size alone: nothing of it is read, not even a first line (all zeros when no valid head)."""
    head = TASKS[task][1][0] + "\n" if valid_head else ""
    path = sparse_file(tmp_path / TASKS[task][2], head, 3 * GIB)
    message, peak = refusal(task, tmp_path, path)
    assert f"file: the file has {3 * GIB:,} bytes, over the limit of {2 * GIB:,}" in message
    assert "test ids have no prediction" not in message  # the only problem is the one the file has
    assert peak < 100_000  # far less than one line of the file


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("size", [400, 401])
def test_small_limit_on_file_size_is_exact(tmp_path: Path, task: str, size: int) -> None:
    """A file of exactly max_bytes is scored; one byte more is refused, naming both sizes."""
    first, second = TASKS[task][1]
    path = tmp_path / TASKS[task][2]
    path.write_text(first + "\n" + padded(task, second, size - len(first) - 2) + "\n", encoding="utf-8")
    assert path.stat().st_size == size
    message, _ = attempt(task, tmp_path, path, Limits(max_bytes=400, max_line_bytes=1000))
    if size == 400:
        assert message is None
    else:
        assert message is not None and "file: the file has 401 bytes, over the limit of 400." in message
        assert message.count("\n  - ") == 1


# --- overlong lines -----------------------------------------------------------------------------------------------


def long_line_file(path: Path, head: str, length: int, tail: str) -> Path:
    """`head`, a line of `length` zero bytes (a hole, so nothing is written), then `tail`."""
    with path.open("wb") as handle:
        handle.write(head.encode("utf-8"))
        handle.seek(len(head.encode("utf-8")) + length)
        handle.write(("\n" + tail).encode("utf-8"))
    return path


@pytest.mark.parametrize("task", list(TASKS))
def test_a_50_mb_line_is_refused_by_number_without_being_held(tmp_path: Path, task: str) -> None:
    _, (valid, _), name = TASKS[task]
    unknown = valid.replace("D0", "D7").replace("T-01", "T-07").replace("t1", "t7")
    path = long_line_file(tmp_path / name, valid + "\n", 50 * MB, unknown + "\n")
    message, peak = refusal(task, tmp_path, path)
    assert f"line 2: the line is longer than {Limits().max_line_bytes:,} bytes" in message
    assert "line 3: " in message and ("'D7'" in message or "'T-07'" in message or "'t7'" in message)
    assert peak < 12 * MB, f"{peak:,} bytes held to refuse a {50 * MB:,}-byte line"


LIMIT = 80


@pytest.mark.parametrize("task", list(TASKS))
@settings(max_examples=30, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(extra=st.integers(-3, 3), ending=st.sampled_from(["\n", "\r\n", ""]), first=st.booleans())
def test_line_limit_counts_the_line_not_its_ending(
    tmp_path: Path, task: str, extra: int, ending: str, first: bool
) -> None:
    """A line of max_line_bytes is read and one byte more is refused, whether it ends in LF, CRLF or the file.

    On line 1 a byte order mark counts as part of the line.
    """
    valid, other = TASKS[task][1]
    bom = "\ufeff" if first else ""
    line = bom + padded(task, valid, LIMIT + extra - len(bom.encode("utf-8")))
    assert len(line.encode("utf-8")) == LIMIT + extra
    text = line + (ending or "\n") + other if first else other + "\n" + line + ending
    path = tmp_path / TASKS[task][2]
    path.write_bytes(text.encode("utf-8"))
    message, _ = attempt(task, tmp_path, path, Limits(max_line_bytes=LIMIT))
    if extra <= 0:
        assert message is None
    else:
        assert message is not None and f"line {1 if first else 2}: the line is longer than {LIMIT} bytes" in message


@pytest.mark.parametrize("task", list(TASKS))
def test_small_line_limit_holds_little_of_a_long_line(tmp_path: Path, task: str) -> None:
    path = long_line_file(tmp_path / TASKS[task][2], "", 5 * MB, TASKS[task][1][0] + "\n")
    message, peak = refusal(task, tmp_path, path, Limits(max_line_bytes=1000))
    assert "line 1: the line is longer than 1,000 bytes" in message and "line 2:" not in message
    assert peak < 500_000  # passed over in small chunks


def test_a_symbol_padded_beyond_any_real_one_is_not_a_symbol() -> None:
    """Symbols are cached: a payload dressed as a symbol ('A01B', a megabyte of spaces, '1/00') must not be kept."""
    assert normalise("A01B" + " " * 10 + "1/00") == "A01B 1/00"
    assert normalise("A01B" + " " * 1000 + "1/00") is None
