"""Oversized files and overlong lines are refused within the size limits, without being read whole.

Big files are sparse (a hole reads as zeros and costs no disk), and tracemalloc measures what Python allocates while
the harness refuses them: the refusal of a 3 GiB file must read nothing, that of a 50 MB line must hold only a bounded
part of it.
"""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codefest.evaluation import reading
from codefest.evaluation.problems import InvalidSubmission, Problems
from codefest.evaluation.reading import Limits, PublicItems
from codefest.evaluation.scorers import ScoringOptions, scorer_for
from codefest.evaluation.scoring import score_files
from codefest.tasks.classification.symbols import normalise
from codefest.tasks.search.formats import read_run

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


# --- refusing while streaming: the work is bounded by the limits, not by the file ----------------------------------


class CountingFile(io.FileIO):
    """A file that counts the bytes read from it."""

    read_bytes = 0

    def readinto(self, buffer: Any) -> int | None:
        count = super().readinto(buffer)
        CountingFile.read_bytes += count or 0
        return count


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> type[CountingFile]:
    """Bytes that the harness reads from participants' files, through the reader's own buffer size."""
    CountingFile.read_bytes = 0
    monkeypatch.setattr(reading, "_open", lambda path: io.BufferedReader(CountingFile(path), reading._BUFFER))
    return CountingFile


def run_lines(topic: str, count: int, start: int = 0) -> str:
    return "".join(f"{topic} Q0 doc-{i:07d} {i + 1} {1e6 - i} tag\n" for i in range(start, start + count))


def search_refusal(path: Path, depth: int) -> InvalidSubmission:
    problems = Problems(path)
    read_run(path, PublicItems(("t1", "t2")), problems, Limits(), depth)
    with pytest.raises(InvalidSubmission) as refused:
        problems.check()
    return refused.value


def test_a_deep_one_topic_run_is_refused_at_the_line_past_the_depth(tmp_path: Path, counted: Any) -> None:
    """A 139 MB one-topic run was read whole (2.6 GB) before its depth was checked; now reading stops at the line."""
    path = tmp_path / "run.txt"
    path.write_text(run_lines("t1", 50_000) + "garbage\n" * 100)  # 2.4 MB, and lines that would each be a problem
    refused = search_refusal(path, depth=100)
    assert [p.render() for p in refused.problems] == [
        "line 101: this is document 101 of topic t1, more than the limit of 100 a ranking may hold. "
        "Fix: keep only the top 100 documents of each topic"
    ]
    assert counted.read_bytes <= 2 * reading._BUFFER  # 101 lines of 40 bytes, through the buffer


def test_lines_of_an_unknown_topic_stop_at_the_depth(tmp_path: Path, counted: Any) -> None:
    """An unknown topic gets one problem, not one per line; without a bound its lines were read to the end."""
    path = tmp_path / "run.txt"
    path.write_text(run_lines("t1", 5) + run_lines("t9", 50_000))
    refused = search_refusal(path, depth=100)
    assert [p.where for p in refused.problems] == ["line 6", "line 106"]
    assert "topic 't9' is not one of the test topics" in refused.problems[0].what
    assert "document 101 of topic t9" in refused.problems[1].what
    assert counted.read_bytes <= 2 * reading._BUFFER


def test_a_deep_jsonl_ranking_stops_the_reading(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    ranking = json.dumps({"id": "t1", "ranking": [f"d{i}" for i in range(101)]})
    path.write_text(ranking + "\n" + "garbage\n" * 30)
    refused = search_refusal(path, depth=100)
    assert [p.render() for p in refused.problems] == [
        "line 1: the ranking of topic t1 holds 101 documents, more than the limit of 100. "
        "Fix: keep only the top 100 documents of each topic"
    ]


BLANKS = ["", " ", "\t", "\r", " \r", "\x0b\x0c", "\x1c", "\u3000", "\u00a0\u2003", "\u0085", " " * 70]


@pytest.mark.parametrize("task", list(TASKS))
def test_blank_lines_are_passed_over_in_bulk(tmp_path: Path, task: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """200 MB of blank lines took 21 minutes of CPU, line by line; runs of them now cost no Python work per line.

    Counted: the lines decoded one by one, which are the file's text lines and at most one blank line per buffer
    read (cut by the buffer's end). 900,000 blank lines of every kind around a valid file whose last line is bad give
    the one message, with the right line number.
    """
    decoded: list[int] = []
    original = reading._decoded
    monkeypatch.setattr(reading, "_decoded", lambda number, *rest: decoded.append(number) or original(number, *rest))
    blank = "".join(f"{BLANKS[i % len(BLANKS)]}\n" for i in range(300_000))
    first, second = TASKS[task][1]
    path = tmp_path / TASKS[task][2]
    path.write_text(blank + first + "\n" + blank + second + "\n" + blank + "not one\n", encoding="utf-8")
    message, _ = refusal(task, tmp_path, path)
    assert "line 900003: " in message and message.count("\n  - ") == 1
    assert len(decoded) <= 10 + path.stat().st_size // reading._BUFFER, f"{len(decoded):,} lines decoded one by one"


def test_a_file_growing_past_the_limit_is_refused_while_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The size is checked before reading; a file that grows afterwards is cut off at the limit too."""
    small, big = tmp_path / "pred.jsonl", tmp_path / "grown.jsonl"
    small.write_text(TASKS["classification"][1][0] + "\n")
    big.write_text((TASKS["classification"][1][0] + "\n") * 100)
    opened = reading._open
    monkeypatch.setattr(reading, "_open", lambda path: opened(big if path == small else path))
    message, _ = refusal("classification", tmp_path, small, Limits(max_bytes=500))
    assert "file: the file grew past the limit of 500 bytes while it was read" in message
