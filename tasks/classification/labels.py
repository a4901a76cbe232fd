"""Classification labels checked once, when a challenge is built, rather than at every scoring.

A symbol the scorer cannot read, written into the vault, would make every later scoring of the challenge fail.
So after the builder returned, every label of every split is normalised (`symbols`: one reading of the notations
real exports use) or the build is refused, naming the split, the item, the value and the fix. A challenge
that declares a metric at a level its labels never reach (top_prediction@group on subclass labels) is refused too:
every submission would score 0 on it.
"""

from __future__ import annotations

from collections.abc import Iterator

from datasets import Dataset, DatasetDict

from codefest.challenges.spec import Challenge
from codefest.core.errors import CodefestError
from codefest.shared_datasets.schema import SPLITS
from codefest.tasks.classification.symbols import Reach, normalise, problem

MAX_LISTED = 10
QUOTES = ("'", '"')


def checked_labels(data: DatasetDict, spec: Challenge) -> DatasetDict:
    """`data` with canonical symbols, main first and without repeats; a CodefestError for what cannot be read."""
    if spec.task != "classification":
        return data
    problems: list[str] = []
    fixed = DatasetDict({split: _normalised(data[split], split, problems) for split in SPLITS})
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems[:MAX_LISTED])
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise CodefestError(
            f"{len(problems)} classification label(s) of '{spec.slug}' are not IPC/CPC symbols:\n{listed}{more}",
            "repair them in the source data: one symbol per label, e.g. 'H01M 10/02' or 'H01M', then build again",
        )
    for split in SPLITS:
        _check_metrics(fixed[split], split, spec)
    return DatasetDict({**data, **fixed})


def _normalised(data: Dataset, split: str, problems: list[str]) -> Dataset:
    """The split with each item's labels normalised; what cannot be read is added to `problems`."""
    labels = [_item_labels(item, raw, split, problems) for item, raw in zip(data["id"], data["labels"], strict=True)]
    if labels == data["labels"]:
        return data
    columns = {name: data[name] for name in data.column_names} | {"labels": labels}
    return Dataset.from_dict(columns, features=data.features)


def _item_labels(item: str, raw: list[str], split: str, problems: list[str]) -> list[str]:
    symbols: list[str] = []
    known = len(problems)
    for part in (part for label in raw for part in _unlisted(label)):
        symbol = normalise(part)
        if symbol is None:
            reason, fix = problem(part)
            problems.append(f"{split} split, item {item!r}: {part!r} {reason}; {fix}")
        else:
            symbols.append(symbol)
    if not symbols and len(problems) == known:
        problems.append(f"{split} split, item {item!r}: no labels; give each item its main symbol first")
    return list(dict.fromkeys(symbols))


def _unlisted(label: str) -> Iterator[str]:
    """A label, or the symbols of a list written as text in one cell ("['A01C', 'A01B 1/00']", a TSV habit)."""
    text = label.strip()
    if not (text.startswith("[") and text.endswith("]")):
        yield text
        return
    for part in filter(None, (p.strip() for p in text[1:-1].split(","))):
        quoted = len(part) >= 2 and part[0] in QUOTES and part[-1] == part[0]
        yield part[1:-1].strip() if quoted else part


def _check_metrics(data: Dataset, split: str, spec: Challenge) -> None:
    """Every declared metric must be computable on each split's labels (see symbols.Reach)."""
    reach = Reach.of(data["labels"])
    for metric in spec.metrics:
        reason = reach.unreached(metric.name)
        if reason is not None:
            raise CodefestError(
                f"challenge '{spec.slug}' declares the metric '{metric.name}', but on the {split} split it is {reason}",
                "remove it from the challenge's metrics (and tie_breakers), or build from labels that reach that level",
            )
