"""What every loader shares: options, finding and reading files with clear errors, and choosing splits."""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from codefest.core.errors import CodefestError
from codefest.shared_datasets.builders import BuilderOptions
from codefest.shared_datasets.schema import SPLITS
from codefest.shared_datasets.splits import three_way

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict, Features

log = logging.getLogger("codefest.shared_datasets.loaders")

SPLIT_NAMES = {
    "train": "train",
    "dev": "dev",
    "val": "dev",
    "valid": "dev",
    "validation": "dev",
    "test": "test",
}
POOLED = "pooled"
"""The name of items that come without a split of their own ('all' is reserved by `datasets`)."""
HUB_NEEDS_NETWORK = "a Hugging Face hub dataset id instead of local files; needs network (unset HF_HUB_OFFLINE)"

Record = tuple[str, dict[str, Any]]
"""Where a record came from (file and line, or hub split and row), and the record itself."""

SplitFiles = str | list[str] | dict[str, str | list[str]]


class LoaderOptions(BuilderOptions):
    """Options every loader takes: one source (local files or the hub) and the seeded split."""

    LOCAL: ClassVar[tuple[str, ...]] = ("path",)

    hub_id: str | None = Field(default=None, description=HUB_NEEDS_NETWORK)
    hub_config: str | None = Field(default=None, description="the hub dataset's configuration (subset)")
    hub_revision: str | None = Field(default=None, description="a hub commit or tag, to pin the data")
    dev_fraction: float = Field(default=0.1, gt=0, lt=0.5)
    test_fraction: float = Field(default=0.2, gt=0, lt=0.5)
    seed: int = Field(
        default=0, ge=0, description="the same seed gives the same split; left out of challenge.yaml: a secret one"
    )

    @model_validator(mode="after")
    def _one_source(self) -> LoaderOptions:
        """Local files and the hub are alternatives; mixing them would leave it unclear what was loaded."""
        given = [name for name in self.LOCAL if getattr(self, name) is not None]
        local = " and ".join(f"'{name}'" for name in self.LOCAL)
        if self.hub_id is not None and given:
            raise PydanticCustomError("one_source", f"give either {local} or 'hub_id', not both")
        if self.hub_id is None and len(given) < len(self.LOCAL):
            raise PydanticCustomError("one_source", f"give {local} (local files) or 'hub_id'")
        return self


def check_split_files(value: SplitFiles | None) -> SplitFiles | None:
    """A split mapping must name all of train, dev and test; a partial one would silently lose a split."""
    if value is None or isinstance(value, str):
        return value
    if not value:
        raise PydanticCustomError("no_files", "name at least one file")
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(SPLITS))
        missing = [split for split in SPLITS if split not in value]
        if unknown or missing:
            raise PydanticCustomError(
                "split_keys",
                f"the splits given are {', '.join(map(repr, value))}; use exactly 'train', 'dev' and 'test' "
                "as keys, or give a plain list of files to have them split with the seed",
            )
    return value


def resolve(base_dir: Path, relative: str, what: str) -> Path:
    """An existing path, relative ones rooted where the challenge lives."""
    path = (base_dir / Path(relative).expanduser()).resolve()
    if not path.exists():
        raise CodefestError(
            f"{what} not found: {path}",
            fix=f"check the path; relative paths are resolved against {base_dir.resolve()}",
        )
    return path


def find_files(path: Path, patterns: tuple[str, ...], what: str) -> list[Path]:
    """The file itself, or the matching files anywhere under a folder, in a stable order."""
    if path.is_file():
        return [path]
    found = sorted({p for pattern in patterns for p in path.rglob(pattern) if p.is_file()})
    if not found:
        raise CodefestError(
            f"no {what} files ({', '.join(patterns)}) in folder: {path}",
            fix="point the option at a file or at a folder that holds such files",
        )
    return found


def open_text(path: Path) -> IO[str]:
    """UTF-8 text, gzipped or not: told by the gzip magic bytes, since corpora do not always name it."""
    with path.open("rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    if gzipped:
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Numbered lines, with undecodable bytes or a broken archive reported by line instead of a traceback."""
    number = 0
    try:
        with open_text(path) as handle:
            for number, line in enumerate(handle, start=1):
                yield number, line.rstrip("\r\n")
    except (UnicodeDecodeError, OSError, EOFError) as err:
        raise CodefestError(
            f"{path}, line {number + 1}: cannot be read ({err})",
            fix="the file must be UTF-8 text, plain or gzipped",
        ) from None


def read_text(path: Path) -> str:
    """A whole file, for formats (SGML, single JSON documents) that are not line-based."""
    return "\n".join(line for _, line in read_lines(path))


def json_records(path: Path) -> Iterator[Record]:
    """Records of a JSON Lines file, or of a file holding one JSON object or a list of them."""
    if path.name.endswith((".json", ".json.gz")):
        text = read_text(path)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            if err.msg != "Extra data":  # several objects, one per line: JSON Lines named .json
                raise invalid_json(f"{path}, line {err.lineno}", err) from None
        else:
            items = document if isinstance(document, list) else [document]
            for index, item in enumerate(items, start=1):
                where = f"{path}, record {index}" if isinstance(document, list) else str(path)
                yield where, as_object(item, where)
            return
    for number, line in read_lines(path):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            yield where, as_object(json.loads(line), where)
        except json.JSONDecodeError as err:
            raise invalid_json(where, err) from None


def invalid_json(where: str, err: json.JSONDecodeError) -> CodefestError:
    return CodefestError(f"{where}: invalid JSON ({err.msg})", fix="repair or remove the record")


def as_object(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise CodefestError(
            f"{where}: expected a JSON object, found {type(item).__name__}", fix="one record per object"
        )
    return item


def text_field(record: Mapping[str, Any], field: str, where: str) -> str:
    """A text value, absent or null read as empty, anything but a string refused."""
    value = record.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CodefestError(
            f"{where}: '{field}' should be a string, found {type(value).__name__}", fix="repair the record"
        )
    return value.strip()


def id_field(record: Mapping[str, Any], field: str, where: str) -> str:
    """Ids are compared as strings whatever type the source stores them as; a missing one is an error."""
    value = record.get(field)
    if value is None or not str(value).strip():
        raise CodefestError(f"{where}: no '{field}'", fix=f"every record needs a '{field}' to serve as its id")
    return str(value).strip()


def unique(values: Iterable[str]) -> list[str]:
    """Without repeats or blanks, first occurrence first: the main label keeps its place."""
    return [value for value in dict.fromkeys(values) if value]


def rows_to_dataset(
    rows: Iterable[dict[str, Any] | None], features: Features, source: str, skip_reason: str
) -> Dataset:
    """Typed rows in the schema's column order (None: skip the record); says how many were skipped."""
    from datasets import Dataset  # not at import: see schema

    kept: list[dict[str, Any]] = []
    skipped = 0
    for row in rows:
        if row is None:
            skipped += 1
        else:
            kept.append(row)
    if skipped:
        log.warning("%s: skipped %d of %d records (%s)", source, skipped, skipped + len(kept), skip_reason)
    if not kept:
        raise CodefestError(
            f"{source}: no usable records" + (f" ({skipped} skipped: {skip_reason})" if skipped else ""),
            fix="check that the source and the options match the corpus",
        )
    return Dataset.from_dict({name: [row[name] for row in kept] for name in features}, features=features)


def check_unique_ids(parts: Mapping[str, Dataset], source: str) -> None:
    """Ids key the held-out answers, so a repeated one would mix up two items."""
    seen: set[str] = set()
    for data in parts.values():
        for item_id in data["id"]:
            if item_id in seen:
                raise CodefestError(f"{source}: the id '{item_id}' occurs twice", fix="remove the duplicate record")
            seen.add(item_id)


def arrange(parts: Mapping[str, Dataset], options: LoaderOptions, source: str) -> DatasetDict:
    """Keep a source's own train/dev/test; otherwise pool what it gave and split that with the seed."""
    from datasets import DatasetDict, concatenate_datasets  # not at import: see schema

    named: dict[str, list[Dataset]] = {}
    for name, data in parts.items():
        named.setdefault(SPLIT_NAMES.get(name.lower(), name), []).append(data)
    if set(named) == set(SPLITS):
        splits = {split: concatenate_datasets(named[split]) for split in SPLITS}
        for split, data in splits.items():
            if len(data) == 0:
                raise CodefestError(f"{source}: the {split} split is empty", fix="give it items, or pool the files")
        return DatasetDict(splits)
    if len(parts) > 1:
        log.info("%s: splits %s pooled and split with seed %d", source, ", ".join(parts), options.seed)
    pooled = concatenate_datasets(list(parts.values()))
    return three_way(pooled, options.dev_fraction, options.test_fraction, options.seed)


def split_folders(folder: Path) -> dict[str, Path] | None:
    """Subfolders named train, dev (or val, validation) and test, when a corpus ships its split that way."""
    if not folder.is_dir():
        return None
    found = {SPLIT_NAMES[p.name.lower()]: p for p in folder.iterdir() if p.is_dir() and p.name.lower() in SPLIT_NAMES}
    return found if set(found) == set(SPLITS) else None


def load_hub(hub_id: str, config: str | None, revision: str | None) -> dict[str, Dataset]:
    """A hub dataset's splits as published. The one place a loader reaches the network."""
    from datasets import load_dataset

    try:
        loaded = load_dataset(hub_id, name=config, revision=revision)
    except Exception as err:  # network, auth and format failures each raise their own type
        raise CodefestError(
            f"could not load the hub dataset '{hub_id}': {root_cause(err)}",
            fix="check the id, configuration and revision; the hub needs network (unset HF_HUB_OFFLINE)",
        ) from None
    return dict(loaded.items())


def hub_records(parts: Mapping[str, Dataset], hub_id: str) -> dict[str, Iterator[Record]]:
    """Hub rows as records that name their split and row, for error messages."""

    def numbered(split: str, data: Dataset) -> Iterator[Record]:
        for index, record in enumerate(data, start=1):
            yield f"{hub_id} [{split}] row {index}", record

    return {split: numbered(split, data) for split, data in parts.items()}


def root_cause(err: BaseException) -> str:
    """The innermost error of a chain, which is where `datasets` keeps the informative message."""
    seen = {id(err)}
    while (inner := err.__cause__ or err.__context__) is not None and id(inner) not in seen:
        err = inner
        seen.add(id(err))
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    message = lines[0] if len(lines) < 2 else f"{lines[0]} ... {lines[-1]}"
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def finish_search(
    corpus: Dataset, topics: Mapping[str, Dataset], options: LoaderOptions, keep_unjudged: bool, source: str
) -> DatasetDict:
    """Drop (or keep) unjudged topics, split the rest, and put the collection alongside as 'corpus'."""
    from datasets import DatasetDict  # not at import: see schema

    kept: dict[str, Dataset] = {}
    for split, data in topics.items():
        judged = data if keep_unjudged else data.filter(lambda item: len(item["qrels"]) > 0)
        if len(judged) < len(data):
            log.warning(
                "%s: dropped %d of %d topics without qrels (set keep_unjudged to keep them)",
                source,
                len(data) - len(judged),
                len(data),
            )
        kept[split] = judged
    if sum(len(data) for data in kept.values()) == 0:
        raise CodefestError(f"{source}: no topic has qrels", fix="check that topic ids match the qrels' topic ids")
    no_relevant = sum(
        1 for data in kept.values() for qrels in data["qrels"] if qrels and all(q["relevance"] <= 0 for q in qrels)
    )
    if no_relevant:
        log.warning("%s: %d topics are judged but have no relevant document (every grade <= 0)", source, no_relevant)
    check_unique_ids({"corpus": corpus}, f"{source} collection")
    check_unique_ids(kept, f"{source} topics")
    splits = arrange(kept, options, source)
    return DatasetDict({"corpus": corpus, **splits})


def split_file_lists(value: SplitFiles) -> dict[str, list[str]]:
    """Files per split; a plain file or list becomes one pool for the seeded split."""
    if isinstance(value, str):
        return {POOLED: [value]}
    if isinstance(value, list):
        return {POOLED: value}
    return {split: [files] if isinstance(files, str) else files for split, files in value.items()}
