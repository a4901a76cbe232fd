"""Translation files: the organiser's references and a participant's translations, both JSON Lines keyed by id.

Gold: {"id": ..., "reference": "..."} or {"id": ..., "references": ["...", ...]}; other keys are ignored but for
the source, whose length gives a public gold file (a dev split) its length limits. Predictions: {"id": ...,
"translation": "..."} and nothing else, validated against the public test inputs (ids and sources) only: a limit
derived from a reference would tell a team every reference's length.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codefest.core.errors import CodefestError
from codefest.evaluation.problems import Problems, cut, keys_fix, listing
from codefest.evaluation.reading import Limits, PublicItems, jsonl_objects, read_test_items

PREDICTION_KEYS = ("id", "translation")
MIN_LENGTH_LIMIT = 1000  # characters a translation may always have ...
LENGTH_FACTOR = 20  # ... or this many times its source's, if that is more ...
UNKNOWN_SOURCE_LIMIT = 100_000  # ... or this many, when the source is unknown (standalone scoring)
MISSING_SHOWN = 5
_SHOWN_CHARS = 40


@dataclass(frozen=True)
class TranslationGold:
    """References in the gold file's order; items may have different numbers of references."""

    ids: list[str]
    references: list[tuple[str, ...]]
    source_lengths: tuple[int, ...] | None = None  # when every item's source is in the file
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {item_id: i for i, item_id in enumerate(self.ids)})

    def __len__(self) -> int:
        return len(self.ids)

    def streams(self) -> list[list[str | None]]:
        """sacrebleu's reference streams; None marks a missing reference.

        sacrebleu drops None references per segment (`Metric._cache_references`), but keeps '' as a real, empty
        reference that changes BLEU's closest length and TER's average length, so padding must be None.
        """
        width = max(len(refs) for refs in self.references)
        return [[refs[j] if j < len(refs) else None for refs in self.references] for j in range(width)]


def length_limit(items: PublicItems, item_id: str) -> int:
    """The most characters a translation of this item may have: generous, yet stops runaway output.

    Derived from the public source only, so that a refusal says nothing of the reference.
    """
    if items.lengths is None:
        return UNKNOWN_SOURCE_LIMIT
    return max(MIN_LENGTH_LIMIT, LENGTH_FACTOR * items.lengths[items.index[item_id]])


def limit_rule(items: PublicItems) -> str:
    """How the limit was set, for the message."""
    if items.lengths is None:
        return f"the limit for items whose source is unknown is {UNKNOWN_SOURCE_LIMIT:,}"
    return f"the larger of {MIN_LENGTH_LIMIT:,} and {LENGTH_FACTOR} times its source's length"


def read_inputs(path: Path) -> PublicItems:
    """The public test ids and their sources' lengths, from the bundle's test inputs."""
    return read_test_items(path, length_of="source")


def gold_items(gold: TranslationGold) -> PublicItems:
    """The items of a gold file that is public (a dev split, or standalone scoring), to validate against."""
    return PublicItems(tuple(gold.ids), gold.source_lengths)


# --- gold ---------------------------------------------------------------------------------------------------------


def read_gold(path: Path) -> TranslationGold:
    """The organiser's file; any problem raises CodefestError listing the lines, since nothing can be scored."""
    problems = Problems(path)
    ids: list[str] = []
    references: list[tuple[str, ...]] = []
    sources: list[int | None] = []
    first_line: dict[str, int] = {}
    for number, row in jsonl_objects(path, problems):
        where = f"line {number}"
        item_id = _gold_id(row, where, number, first_line, problems)
        refs = _gold_references(row, where, problems)
        if item_id is None or refs is None:
            continue
        ids.append(item_id)
        references.append(refs)
        sources.append(len(row["source"]) if isinstance(row.get("source"), str) else None)
    if not ids and not problems:
        problems.add("file", "the file holds no items", 'write one {"id": ..., "reference": ...} line per item')
    if problems:
        raise _gold_error(problems)
    known = None if None in sources else tuple(s for s in sources if s is not None)
    return TranslationGold(ids, references, known)


def _gold_id(
    row: dict[str, Any], where: str, number: int, first_line: dict[str, int], problems: Problems
) -> str | None:
    if "id" not in row:
        problems.add(where, 'no "id"', 'give every item a string "id"')
        return None
    item_id = row["id"]
    if not isinstance(item_id, str) or not item_id.strip():
        problems.add(where, f'"id" is {_describe(item_id)}, not a non-empty string', 'give every item a string "id"')
        return None
    if item_id in first_line:
        problems.add(
            where,
            f"id {_show(item_id)} is on line {first_line[item_id]} and again on line {number}",
            "give every item its own id",
        )
        return None
    first_line[item_id] = number
    return item_id


def _gold_references(row: dict[str, Any], where: str, problems: Problems) -> tuple[str, ...] | None:
    if ("reference" in row) == ("references" in row):
        problems.add(
            where,
            'the item needs exactly one of "reference" and "references"',
            'write "reference": "..." or "references": ["...", ...], not both',
        )
        return None
    refs = [row["reference"]] if "reference" in row else row["references"]
    if not isinstance(refs, list) or not refs:
        problems.add(where, f'"references" is {_describe(refs)}, not a non-empty list', 'write ["...", ...]')
        return None
    bad = [ref for ref in refs if not isinstance(ref, str) or not ref.strip()]
    if bad:
        what = "a reference is empty" if isinstance(bad[0], str) else f"a reference is {_describe(bad[0])}, not text"
        problems.add(
            where,
            what,
            "write each reference as text; leave out references the item does not have (no null, no empty string)",
        )
        return None
    return tuple(refs)


def _gold_error(problems: Problems) -> CodefestError:
    return CodefestError(
        f"{problems.path} is not a valid translation reference file ({problems.total} problem(s)):\n"
        + listing(problems.listed, problems.total),
        "correct the organiser's reference file; no submission can be scored against it until then",
    )


# --- predictions --------------------------------------------------------------------------------------------------


def read_predictions(path: Path, items: PublicItems, problems: Problems, limits: Limits) -> dict[str, str]:
    """id -> translation; every problem goes to `problems`, with the line and how to fix it.

    Every line is either a new test id's translation or a problem, so a file is read no further than its test ids
    and MAX_LISTED problems, whatever its size.
    """
    predictions: dict[str, str] = {}
    first_line: dict[str, int] = {}  # every known id met, even on a line with a bad translation
    for number, row in jsonl_objects(path, problems, limits):
        pair = _prediction(row, f"line {number}", number, items, first_line, problems)
        if pair is not None:
            predictions[pair[0]] = pair[1]
    if predictions or not problems:  # a file with no usable line already has its problems
        _check_complete(items, first_line, problems)
    return predictions


def _prediction(
    row: dict[str, Any], where: str, number: int, items: PublicItems, first_line: dict[str, int], problems: Problems
) -> tuple[str, str] | None:
    extra = [key for key in row if key not in PREDICTION_KEYS]
    if extra:
        keys = ", ".join(_show(key) for key in extra)
        fix = keys_fix(extra, sorted(PREDICTION_KEYS), 'keep only "id" and "translation"')
        problems.add(where, f"unexpected key{'s' if len(extra) > 1 else ''} {keys}", fix)
    item_id = _prediction_id(row, where, number, items, first_line, problems)
    translation = _translation(row, where, items, item_id, problems)
    if item_id is None or translation is None:
        return None
    return item_id, translation


def _prediction_id(
    row: dict[str, Any], where: str, number: int, items: PublicItems, first_line: dict[str, int], problems: Problems
) -> str | None:
    """The id if it is a test id met for the first time; a duplicate keeps the first line's translation."""
    if "id" not in row:
        problems.add(
            where, 'no "id"', f'add the test item\'s id, e.g. {{"id": "{items.ids[0]}", "translation": "..."}}'
        )
        return None
    item_id = row["id"]
    if not isinstance(item_id, str):
        example = str(item_id) if isinstance(item_id, int) and str(item_id) in items else items.ids[0]
        problems.add(
            where,
            f'"id" is {_describe(item_id)}, not a string',
            f'quote the id exactly as in the test file, e.g. "id": "{example}"',
        )
        return None
    if item_id not in items:
        problems.add(where, f"id {_show(item_id)} is not a test id", _unknown_id_fix(item_id, items))
        return None
    if item_id in first_line:
        problems.add(
            where,
            f"id {_show(item_id)} is on line {first_line[item_id]} and again on line {number}",
            "keep one line per id",
        )
        return None
    first_line[item_id] = number
    return item_id


def _unknown_id_fix(item_id: str, items: PublicItems) -> str:
    """Points at the test id it was probably meant to be (spaces or case changed), else the rule."""
    wanted = item_id.strip().casefold()
    for known in items.ids:
        if known.casefold() == wanted:
            return f"write it exactly as the test file does: {_show(known)}"
    return "use only ids from the test file, unchanged (same case, no added spaces)"


def _translation(
    row: dict[str, Any], where: str, items: PublicItems, item_id: str | None, problems: Problems
) -> str | None:
    if "translation" not in row:
        problems.add(where, 'no "translation"', 'add "translation": "<your translation>" (an empty string is allowed)')
        return None
    translation = row["translation"]
    if not isinstance(translation, str):
        fix = "join the parts into one string" if isinstance(translation, list) else "write the translation as text"
        problems.add(where, f'"translation" is {_describe(translation)}, not a string', fix)
        return None
    if item_id is not None:
        limit = length_limit(items, item_id)
        if len(translation) > limit:
            problems.add(
                where,
                f"the translation has {len(translation):,} characters, over this item's limit of {limit:,} "
                f"({limit_rule(items)})",
                "submit one translation of the source text, without repetitions, alternatives or notes",
            )
            return None
    return translation


def _check_complete(items: PublicItems, first_line: dict[str, int], problems: Problems) -> None:
    missing = [item_id for item_id in items.ids if item_id not in first_line]
    if not missing:
        return
    shown = ", ".join(_show(item_id) for item_id in missing[:MISSING_SHOWN])
    more = f" and {len(missing) - MISSING_SHOWN} more" if len(missing) > MISSING_SHOWN else ""
    problems.add(
        "file",
        f"{len(missing)} of the {len(items)} test ids have no translation: {shown}{more}",
        'write one line per test id; "translation": "" counts as an answer',
    )


# --- messages -----------------------------------------------------------------------------------------------------

_JSON_TYPES = {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}


def _describe(value: Any) -> str:
    """A JSON value as a participant wrote it: 'missing', 'null', 'a number (42)', 'an empty string'."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return "an empty string" if not value.strip() else f"the string {_show(value)}"
    kind = _JSON_TYPES.get(type(value), type(value).__name__)
    return f"{kind} ({cut(json.dumps(value))})" if isinstance(value, bool | int | float) else kind


def _show(value: Any) -> str:
    """repr, cut short: ids and keys come from the participant and may be huge."""
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."
