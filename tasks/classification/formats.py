"""Classification files: gold `{"id", "labels"}` and ranked predictions, as JSONL or as CSV with `;` lists."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from codefest.core.errors import CodefestError
from codefest.evaluation.problems import Problems, keys_fix, listing, shown
from codefest.evaluation.reading import Limits, PublicItems, csv_rows, jsonl_objects, read_test_items
from codefest.tasks.classification.symbols import normalise

MAX_LABELS = 100
EXAMPLE = '{"id": "APP-0000042", "labels": ["H01M 10/02", "H01M 4/00"], "scores": [0.9, 0.4]}'


@dataclass(frozen=True)
class Prediction:
    labels: list[str]  # canonical symbols, best first
    scores: list[float] | None


def is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def _records(path: Path, problems: Problems, limits: Limits) -> Iterator[tuple[int, dict[str, Any]]]:
    """JSONL objects, or CSV rows with their `;`-separated lists split, under the same keys."""
    if not is_csv(path):
        yield from jsonl_objects(path, problems, limits)
        return
    for number, row in csv_rows(path, problems, ["id", "labels"], limits):
        record: dict[str, Any] = {"id": row.pop("id"), "labels": _split(row.pop("labels"))}
        if "scores" in row:
            scores = _split(row.pop("scores"))
            try:
                record["scores"] = [float(s) for s in scores]
            except ValueError:
                record["scores"] = scores
        record.update(row)
        yield number, record


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(";") if part.strip()]


def read_gold(path: Path) -> dict[str, list[str]]:
    """id -> canonical symbols, main first; the organiser's file, so any problem stops the scoring."""
    problems = Problems(path)
    gold: dict[str, list[str]] = {}
    for number, record in _records(path, problems, Limits()):
        item, labels = record.get("id"), record.get("labels")
        if type(item) is str and type(labels) is list and labels and item not in gold:  # the usual line, at once
            known = _symbols(labels)
            if known is not None:
                gold[item] = list(dict.fromkeys(known))
                continue
        if not isinstance(item, str) or not isinstance(labels, list) or not labels:
            problems.add(f"line {number}", "needs a string 'id' and a non-empty list 'labels'", "repair the gold file")
            continue
        symbols = [normalise(label) if isinstance(label, str) else None for label in labels]
        if None in symbols or item in gold:
            problems.add(f"line {number}", f"invalid symbol or repeated id {item!r}", "repair the gold file")
            continue
        gold[item] = list(dict.fromkeys(s for s in symbols if s))
    if problems or not gold:
        listed = listing(problems.listed, problems.total) or "  - no items"
        raise CodefestError(f"gold file {path} cannot be used:\n{listed}", "the organisers must rebuild it")
    return gold


def read_inputs(path: Path) -> PublicItems:
    """The public test ids, from the bundle's test inputs: what predictions are validated against."""
    return read_test_items(path)


def gold_items(gold: dict[str, list[str]]) -> PublicItems:
    """The ids of a gold file that is public (a dev split, or standalone scoring), to validate against."""
    return PublicItems(tuple(gold))


def read_predictions(
    path: Path, items: PublicItems, problems: Problems, limits: Limits, need_scores: bool = False
) -> dict[str, Prediction]:
    """Validated predictions for every test id; problems are collected, not raised.

    Every line is either a new test id's prediction or a problem, so a file is read no further than its test ids
    and MAX_LISTED problems, whatever its size.
    """
    predictions: dict[str, Prediction] = {}
    first_line: dict[str, int] = {}
    read_any = False
    known = items.index
    for number, record in _records(path, problems, limits):
        read_any = True
        item = record.get("id")
        if type(item) is str and item and item in known and item not in first_line:  # the usual line, at once
            first_line[item] = number
            prediction = _usual(record, need_scores) or _prediction(record, f"line {number}", problems, need_scores)
            if prediction:
                predictions[item] = prediction
            continue
        where = f"line {number}"
        if not isinstance(item, str) or not item:
            problems.add(where, "no string 'id'", f"write one object per line like {EXAMPLE}")
            continue
        if item not in items:
            problems.add(where, f"id {shown(item)} is not a test item", "predict only the ids of the test file")
            continue
        if item in first_line:
            problems.add(where, f"id {shown(item)} repeats line {first_line[item]}", "keep one prediction per id")
            continue
        first_line[item] = number
        prediction = _prediction(record, where, problems, need_scores)
        if prediction:
            predictions[item] = prediction
    if read_any or not problems:  # a file refused whole (too big, empty, not one record) has its problems already
        _missing(items, first_line, problems)
    return predictions


_KEYS = frozenset(("id", "labels", "scores"))
_SEEN: dict[str, str] = {}  # label -> its canonical symbol, for the labels met first (normalise's cache is slower)
_SEEN_MAX = 1 << 16


def _symbols(labels: list[Any]) -> list[str] | None:
    """The canonical symbols of `labels` if every one is a symbol; None otherwise (the full checks say why)."""
    try:
        symbols = [_SEEN.get(label) for label in labels]
    except TypeError:  # an unhashable label: a list or an object
        return None
    if None not in symbols:
        return symbols  # type: ignore[return-value]  # no None in it
    for position, label in enumerate(labels):
        symbol = normalise(label) if isinstance(label, str) else None
        if symbol is None:
            return None
        if len(_SEEN) < _SEEN_MAX:
            _SEEN[label] = symbol
        symbols[position] = symbol
    return symbols  # type: ignore[return-value]  # every None replaced


def _usual(record: dict[str, Any], need_scores: bool) -> Prediction | None:
    """The prediction of a record that passes every check of _prediction, found with fewer steps; None for any other
    record (valid or not), which _prediction then reads, saying what is wrong."""
    labels, scores = record.get("labels"), record.get("scores")
    if not record.keys() <= _KEYS or type(labels) is not list or not 0 < len(labels) <= MAX_LABELS:
        return None
    symbols = _symbols(labels)
    if symbols is None or len(set(symbols)) != len(symbols):
        return None
    if scores is None:
        return None if need_scores else Prediction(symbols, None)
    if type(scores) is not list or len(scores) != len(symbols) or set(map(type, scores)) != {float}:
        return None  # integers among the scores are valid too: _prediction reads those
    if not all(map(math.isfinite, scores)) or not all(map(operator.ge, scores, scores[1:])):
        return None  # finite, and never increasing along the labels
    return Prediction(symbols, scores)


def _prediction(record: dict[str, Any], where: str, problems: Problems, need_scores: bool) -> Prediction | None:
    unknown = sorted(set(record) - {"id", "labels", "scores"})
    if unknown:
        fix = keys_fix(unknown, ["id", "labels", "scores"], "keep only id, labels and scores")
        problems.add(where, f"unexpected key {', '.join(map(shown, unknown))}", fix)
        return None
    labels = record.get("labels")
    if not isinstance(labels, list) or not labels:
        problems.add(where, "'labels' must be a non-empty list of symbols", f"write e.g. {EXAMPLE}")
        return None
    if len(labels) > MAX_LABELS:
        problems.add(where, f"{len(labels)} labels; at most {MAX_LABELS}", "keep your best symbols only")
        return None
    symbols = []
    for label in labels:
        symbol = normalise(label) if isinstance(label, str) else None
        if symbol is None:
            problems.add(where, f"{shown(label)} is not an IPC/CPC symbol", "write symbols like 'H01M 10/02' or 'H01M'")
            return None
        symbols.append(symbol)
    if len(set(symbols)) != len(symbols):
        problems.add(where, "a symbol is listed twice", "list each symbol once, best first")
        return None
    scores = _scores(record.get("scores"), len(symbols), where, problems, need_scores)
    return Prediction(symbols, scores) if scores is not False else None


def _scores(
    value: Any, count: int, where: str, problems: Problems, needed: bool
) -> list[float] | Literal[False] | None:
    """The scores, None when absent, False when invalid (the problem is recorded)."""
    if value is None:
        if needed:
            problems.add(where, "no 'scores'; this challenge selects symbols by score", "give one score per label")
            return False
        return None
    if not isinstance(value, list) or len(value) != count:
        problems.add(where, f"'scores' must be a list of {count} numbers, one per label", "give one score per label")
        return False
    if not all(isinstance(s, int | float) and not isinstance(s, bool) for s in value):
        problems.add(where, "'scores' holds something other than numbers", "write scores as numbers")
        return False
    scores = [_as_float(s) for s in value]
    if not all(math.isfinite(s) for s in scores):
        problems.add(where, "'scores' holds NaN or an infinity", "write finite numbers")
        return False
    if any(b > a for a, b in itertools.pairwise(scores)):
        problems.add(where, "scores increase along the labels", "order labels best first, with their scores")
        return False
    return scores


def _as_float(number: float) -> float:
    """An integer beyond the float range (JSON allows 1000 digits) is the infinity it rounds to, as 1e999 is."""
    try:
        return float(number)
    except OverflowError:
        return math.inf


def _missing(items: PublicItems, seen: dict[str, int], problems: Problems) -> None:
    missing = [item for item in items.ids if item not in seen]
    if missing:
        shown = ", ".join(repr(i) for i in missing[:5])
        problems.add(
            "file",
            f"{len(missing)} test ids have no prediction ({shown}{', ...' if len(missing) > 5 else ''})",
            "predict every id of the test file",
        )
