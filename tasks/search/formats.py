"""Search files: TREC qrels (gold) and runs as TREC run lines or JSONL rankings, told apart by their content.

A run is kept as topic -> documents best first. The order is decided here, once, so that the metrics never
re-sort: by score, highest first; equal scores keep the rank column's order, then the file's order. trec_eval would
break ties by document id, which rewards or punishes an id naming scheme instead of the system.

Standalone scoring reads leniently, as trec_eval does: it skips `#` comment lines, the columns of a run after the sixth
and the run's topics that the qrels do not judge, with one warning per kind of line. A challenge's evaluation refuses
those lines, saying why: a submission is checked against the public test topics, where a stray line is a mistake.
"""

from __future__ import annotations

import json
import math
from collections.abc import Container, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from codefest.core.errors import CodefestError
from codefest.evaluation.problems import Problems, cut, keys_fix, shown
from codefest.evaluation.reading import Limits, PublicItems, first_text, jsonl_objects, read_test_items, text_lines

TREC_RUN = "topic Q0 doc rank score tag"
TREC_COLUMNS = 6
JSONL_EXAMPLE = '{"id": "PAC-00007", "ranking": ["EP-1234567-A1", "US-7654321-B2"]}'
JSONL_KEYS = ("id", "ranking")
IGNORED = {  # kind of line a lenient reading skips -> its warning, of {n} such lines
    "comment": "ignored {n} comment line{s} (starting with '#')",
    "columns": "ignored the columns after the sixth on {n} line{s}",
    "topic": "ignored {n} line{s} of topics that the qrels do not judge",
}


class Ignored:
    """What a lenient reading skipped, by kind of line: how many and the first, so that each kind warns once."""

    def __init__(self) -> None:
        self.kinds: dict[str, list[int]] = {}  # kind -> [lines, first line]

    def add(self, kind: str, number: int) -> None:
        self.kinds.setdefault(kind, [0, number])[0] += 1

    def warnings(self, path: Path) -> tuple[str, ...]:
        return tuple(
            f"{path}: {IGNORED[kind].format(n=f'{count:,}', s='s' * (count != 1))}, first on line {first}, "
            "as trec_eval does"
            for kind, (count, first) in self.kinds.items()
        )


class Qrels(dict[str, dict[str, int]]):
    """topic -> document -> grade; `warnings` name the lines that were skipped."""

    warnings: tuple[str, ...] = ()


class Run(dict[str, list[str]]):
    """topic -> documents best first; `warnings` name the lines a lenient reading skipped."""

    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------------------- qrels


def read_qrels(path: Path) -> Qrels:
    """topic -> document -> grade, topics in order of first appearance; any bad line stops the scoring.

    A line starting with '#' is a comment, skipped with a warning: trec_eval's qrels format allows them.
    """
    qrels, ignored = Qrels(), Ignored()
    seen: dict[tuple[str, str], int] = {}
    for number, text in _organiser_lines(path):
        if text.startswith("#"):  # trec_eval: only in the first column, so a document id may hold '#'
            ignored.add("comment", number)
            continue
        topic, doc, grade = _qrels_fields(path, number, text)
        if (topic, doc) in seen:
            again = f"document {doc} of topic {topic} is judged again (first on line {seen[topic, doc]})"
            raise _qrels_error(path, number, again)
        seen[topic, doc] = number
        qrels.setdefault(topic, {})[doc] = grade
    if not qrels:
        raise CodefestError(f"qrels file {path} holds no judgments", "the organisers must rebuild it")
    qrels.warnings = ignored.warnings(path)
    return qrels


def _organiser_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of the non-blank lines; the file must exist and be UTF-8."""
    try:
        handle = path.open("rb")
    except OSError as err:
        raise CodefestError(f"cannot read qrels file {path}: {err.strerror}", "give the path of the qrels") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8").removeprefix("\ufeff")
            except UnicodeDecodeError:
                raise _qrels_error(path, number, "the line is not UTF-8") from None
            if "\x00" in text:  # pytrec_eval would cut an id at it
                raise _qrels_error(path, number, "the line holds a NUL byte")
            if text.strip():
                yield number, text


def _qrels_fields(path: Path, number: int, text: str) -> tuple[str, str, int]:
    fields = text.split()
    if len(fields) != 4:
        raise _qrels_error(path, number, f"{len(fields)} columns where qrels have 4 (topic iteration doc grade)")
    topic, _iteration, doc, grade = fields
    try:
        return topic, doc, int(grade)
    except ValueError:
        raise _qrels_error(path, number, f"the grade {grade!r} is not an integer") from None


def _qrels_error(path: Path, number: int, what: str) -> CodefestError:
    return CodefestError(f"qrels file {path}, line {number}: {what}", "the organisers must repair the qrels file")


# ------------------------------------------------------------------------------------------------------ test topics


def read_inputs(path: Path) -> PublicItems:
    """The public test topics, from the bundle's test inputs: runs are validated against these, never the qrels.

    A test topic without judgments is as valid in a run as any other: a message saying otherwise would tell which
    topics the held-out qrels leave out.
    """
    return read_test_items(path)


def gold_items(qrels: dict[str, dict[str, int]]) -> PublicItems:
    """The topics of qrels that are public (a dev split, or standalone scoring), to validate against."""
    return PublicItems(tuple(qrels))


# ------------------------------------------------------------------------------------------------------------ runs


class _Entry(NamedTuple):
    """One TREC run line that passed its own checks; a tuple, since a run can hold millions of them."""

    line: int
    doc: str
    rank: int
    score: float


def read_run(
    path: Path,
    topics: Container[str],
    problems: Problems,
    limits: Limits,
    depth: int,
    ignored: Ignored | None = None,
) -> Run:
    """topic -> documents best first, for the topics the run holds; problems are collected, not raised.

    `topics` are the public test topics. Those the run leaves out are not a problem: they score 0 in every metric.
    A topic's ranking over `depth` documents stops the reading there, so that memory and time stay bounded by the
    test topics and the depth, whatever the file's size. With `ignored` (standalone scoring) the lines trec_eval
    skips are counted there instead of being problems.
    """
    if _looks_like_jsonl(path, limits):
        run = _read_jsonl(path, topics, problems, limits, depth, ignored)
    else:
        run = _read_trec(path, topics, problems, limits, depth, ignored)
    if not run and not problems and not (ignored and ignored.kinds):  # only blank lines: surely not the file meant
        problems.add("file", "the run holds no ranking", f"write `{TREC_RUN}` lines or {JSONL_EXAMPLE} lines")
    run.warnings = ignored.warnings(path) if ignored else ()
    return run


def _looks_like_jsonl(path: Path, limits: Limits) -> bool:
    """Whether the first non-blank line starts with '{'; reads no further and records nothing.

    A file over the size limit is not read at all: text_lines refuses it.
    """
    try:
        if path.stat().st_size > limits.max_bytes:
            return False
    except OSError:
        return False  # text_lines reports the missing file
    return first_text(path, limits).startswith(b"{")


def _read_trec(
    path: Path, topics: Container[str], problems: Problems, limits: Limits, depth: int, ignored: Ignored | None
) -> Run:
    entries: dict[str, list[tuple[float, int, int, str]]] = {}  # topic -> (-score, rank, line, doc) of its documents
    first_line: dict[str, dict[str, int]] = {}  # topic -> document -> its line
    unknown: dict[str, int] = {}  # lines of each topic that is not a test topic; each adds a problem at first
    known = topics.index if isinstance(topics, PublicItems) else topics  # a dict: no Python call per line
    isfinite = math.isfinite
    current, ranking, seen = None, [], {}  # the topic of the line before, which the next line most likely shares
    for number, text in text_lines(path, problems, limits):
        fields = text.split()
        try:  # a well-formed line at once; any other goes to _trec_line, which says what is wrong with it
            topic, _q0, doc, rank_text, score_text, _tag = fields
            entry = (-float(score_text), int(rank_text), number, doc)
            well_formed = topic[0] != "#" and isfinite(entry[0])
        except ValueError:
            well_formed = False
        if not well_formed:
            parsed = _trec_line(number, text, problems, ignored)
            if parsed is None:
                continue
            topic, found = parsed
            doc, entry = found.doc, (-found.score, found.rank, number, found.doc)
        if topic != current:
            if topic not in known:
                unknown[topic] = _unknown_topic(number, topic, unknown.get(topic, 0), problems, ignored)
                if unknown[topic] > depth:
                    _too_deep(number, topic, depth, problems)
                    break
                continue
            current, ranking, seen = topic, entries.setdefault(topic, []), first_line.setdefault(topic, {})
        earlier = seen.get(doc)
        if earlier is not None:
            problems.add(
                f"line {number}",
                f"document {cut(doc)} of topic {topic} is repeated (lines {earlier} and {number})",
                "list each document at most once per topic",
            )
            continue
        seen[doc] = number
        ranking.append(entry)
        if len(ranking) > depth:
            _too_deep(number, topic, depth, problems)
            break
    return Run((topic, _ordered(found)) for topic, found in entries.items())


def _too_deep(number: int, topic: str, depth: int, problems: Problems) -> None:
    """The problem that ends the reading of a TREC run: a topic's ranking grows past the depth."""
    problems.add(
        f"line {number}",
        f"this is document {depth + 1:,} of topic {cut(topic)}, more than the limit of {depth:,} a ranking may hold",
        f"keep only the top {depth:,} documents of each topic",
    )


def _trec_line(number: int, text: str, problems: Problems, ignored: Ignored | None) -> tuple[str, _Entry] | None:
    """(topic, entry) of a well-formed line; a malformed one becomes a problem, a skipped one a count."""
    fields = text.split()
    if fields[0].startswith("#"):
        _comment(number, problems, ignored)
        return None
    if len(fields) > TREC_COLUMNS and ignored is not None:
        ignored.add("columns", number)
        fields = fields[:TREC_COLUMNS]
    if len(fields) != TREC_COLUMNS:
        problems.add(f"line {number}", _column_count(len(fields)), f"write `{TREC_RUN}` on each line")
        return None
    topic, _q0, doc, rank_text, score_text, _tag = fields
    try:
        rank = int(rank_text)
    except ValueError:
        problems.add(
            f"line {number}",
            f"the rank {shown(rank_text)} is not an integer",
            "write the rank as a whole number, 1 first",
        )
        return None
    try:
        score = float(score_text)
    except ValueError:
        problems.add(
            f"line {number}", f"the score {shown(score_text)} is not a number", "write the score as a number, e.g. 12.5"
        )
        return None
    if not math.isfinite(score):
        problems.add(
            f"line {number}", f"the score {shown(score_text)} is not finite", "write a finite number, higher for better"
        )
        return None
    return topic, _Entry(number, doc, rank, score)


def _comment(number: int, problems: Problems, ignored: Ignored | None) -> None:
    """A '#' line: trec_eval skips it; a submission must not hold one, since it may hide a commented-out ranking."""
    if ignored is not None:
        ignored.add("comment", number)
        return
    problems.add(
        f"line {number}",
        "a comment line (starting with '#'): trec_eval skips these, but a submitted run holds only run lines",
        "delete the comment lines",
    )


def _column_count(found: int) -> str:
    """Why a line with the wrong number of columns is refused; extra columns get their own reason."""
    what = f"{found} columns where a TREC run line has {TREC_COLUMNS} ({TREC_RUN})"
    if found > TREC_COLUMNS:
        what += ": trec_eval ignores the columns after the sixth, but a submission must not carry them"
    return what


def _ordered(entries: list[tuple[float, int, int, str]]) -> list[str]:
    """Score descending, then rank ascending, then file order (the line, unique: ids are never compared), from
    (-score, rank, line, doc) entries; never document id order."""
    return [entry[3] for entry in sorted(entries)]


def _unknown_topic(number: int, topic: str, lines: int, problems: Problems, ignored: Ignored | None) -> int:
    """One problem per unknown topic, at its first line, rather than one per document; returns its lines so far.

    Standalone, the topic is one the qrels do not judge: trec_eval skips its lines, and so does the lenient reading.
    """
    if ignored is not None:
        ignored.add("topic", number)
    elif not lines:
        problems.add(
            f"line {number}",
            f"topic {shown(topic)} is not one of the test topics (trec_eval would skip its lines; an evaluation "
            "refuses them, since a mistyped topic id would otherwise score 0 unnoticed)",
            "use only the topic ids of the test topics file",
        )
    return lines + 1


def _read_jsonl(
    path: Path, topics: Container[str], problems: Problems, limits: Limits, depth: int, ignored: Ignored | None
) -> Run:
    run = Run()
    first_line: dict[str, int] = {}
    unknown: dict[str, int] = {}
    for number, record in jsonl_objects(path, problems, limits):
        parsed = _jsonl_record(number, record, problems)
        if parsed is None:
            continue
        topic, ranking = parsed
        if topic not in topics:
            unknown[topic] = _unknown_topic(number, topic, unknown.get(topic, 0), problems, ignored)
            continue
        if topic in first_line:
            problems.add(
                f"line {number}",
                f"topic {topic} appears again (first on line {first_line[topic]})",
                "write one line per topic, holding its whole ranking",
            )
            continue
        first_line[topic] = number
        if len(ranking) > depth:  # the line is within the line limit: its length is bounded already
            problems.add(
                f"line {number}",
                f"the ranking of topic {topic} holds {len(ranking):,} documents, more than the limit of {depth:,}",
                f"keep only the top {depth:,} documents of each topic",
            )
            break
        if _no_repeats(number, topic, ranking, problems):
            run[topic] = ranking
    return run


def _jsonl_record(number: int, record: dict[str, Any], problems: Problems) -> tuple[str, list[str]] | None:
    """(topic, ranking) of a well-formed object; a malformed one becomes a problem."""
    where = f"line {number}"
    extra = [key for key in record if key not in JSONL_KEYS]
    missing = [key for key in JSONL_KEYS if key not in record]
    if extra or missing:
        wrong = [f"lacks {', '.join(map(shown, missing))}"] * bool(missing)
        wrong += [f"has unexpected keys {', '.join(map(shown, extra))}"] * bool(extra)
        fix = keys_fix(extra, list(JSONL_KEYS), f"write the keys id and ranking, and only those: {JSONL_EXAMPLE}")
        problems.add(where, f"the object {' and '.join(wrong)}", fix)
        return None
    topic, ranking = record["id"], record["ranking"]
    if not isinstance(topic, str):
        problems.add(where, f"the id {shown(topic)} is not a string", f'quote the topic id: "id": "{cut(str(topic))}"')
        return None
    if not isinstance(ranking, list) or not all(isinstance(doc, str) for doc in ranking):
        problems.add(where, _not_strings(ranking), f"write the ranking as a list of document ids: {JSONL_EXAMPLE}")
        return None
    if not ranking:
        problems.add(
            where,
            f"the ranking of topic {cut(topic)} is empty",
            "list at least one document, or leave the topic out (it then scores 0)",
        )
        return None
    nul = next((i for i, doc in enumerate(ranking, start=1) if "\x00" in doc), None)
    if nul is not None:  # pytrec_eval would cut the id there: 'd1\x00x' would count as 'd1'
        problems.add(where, f"the ranking's item {nul} holds a NUL character (\\u0000)", "write document ids as text")
        return None
    return topic, ranking


def _not_strings(ranking: Any) -> str:
    if not isinstance(ranking, list):
        return f"the ranking is a JSON {type(ranking).__name__}, not a list of strings"
    position, value = next((i, v) for i, v in enumerate(ranking, start=1) if not isinstance(v, str))
    return f"the ranking's item {position} is {json.dumps(value)[:80]}, not a string"


def _no_repeats(number: int, topic: str, ranking: list[str], problems: Problems) -> bool:
    positions: dict[str, int] = {}
    for position, doc in enumerate(ranking, start=1):
        if doc in positions:
            problems.add(
                f"line {number}",
                f"document {cut(doc)} of topic {topic} is repeated (positions {positions[doc]} and {position})",
                "list each document at most once per topic",
            )
            return False
        positions[doc] = position
    return True
