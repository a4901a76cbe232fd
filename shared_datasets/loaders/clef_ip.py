"""CLEF-IP prior-art search: a collection, TREC topics and graded qrels, as search topics plus a corpus.

TREC files are SGML, not XML: closing tags are often missing and fields carry prefixes like 'Number:', so
they are read with a tolerant tag scanner instead of an XML parser.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from codefest.core.errors import CodefestError
from codefest.shared_datasets.builders import BuildContext, builder
from codefest.shared_datasets.loaders.files import (
    LoaderOptions,
    SplitFiles,
    check_split_files,
    find_files,
    finish_search,
    id_field,
    json_records,
    log,
    read_lines,
    read_text,
    resolve,
    root_cause,
    rows_to_dataset,
    split_file_lists,
    text_field,
)
from codefest.shared_datasets.schema import FEATURES, corpus_features

if TYPE_CHECKING:
    from datasets import Dataset, DatasetDict

NAME = "clef-ip-trec"
COLLECTION_PATTERNS = ("*.jsonl", "*.json", "*.gz", "*.sgml", "*.sgm", "*.trec", "*.txt", "*.xml")
PREFIXES = {"num": r"number:", "title": r"(?:title|topic):", "desc": r"description:"}
Qrels = dict[str, list[dict[str, Any]]]


class ClefIpOptions(LoaderOptions):
    LOCAL = ()  # the three files are always named; with hub_id they are files in that hub repository

    collection: str = Field(description="JSON Lines (id, title, abstract) or TREC SGML <DOC>s; file or folder")
    topics: SplitFiles = Field(description="TREC topic file(s); a mapping train/dev/test keeps that split")
    qrels: str | list[str] = Field(description="qrels file(s): 'topic iteration doc relevance' per line")
    keep_unjudged: bool = Field(default=False, description="keep topics without qrels, with an empty list")

    @field_validator("topics")
    @classmethod
    def _split_keys(cls, value: SplitFiles) -> SplitFiles | None:
        return check_split_files(value)

    @model_validator(mode="after")
    def _no_config(self) -> ClefIpOptions:
        if self.hub_config is not None:
            raise PydanticCustomError("hub_config", "hub_config does not apply: the hub repository holds the files")
        return self


def clean(value: str) -> str:
    """Field text without inner markup or entities, on one line."""
    return " ".join(html.unescape(re.sub(r"<[^>]*>", " ", value)).split())


def blocks(text: str, tag: str) -> Iterator[tuple[int, str]]:
    """(line, content) of each <tag> element; one runs to its closing tag, else to the next opening one."""
    opening = list(re.finditer(rf"<\s*(?:{tag})\b[^>]*>", text, re.IGNORECASE))
    closing = re.compile(rf"<\s*/\s*(?:{tag})\s*>", re.IGNORECASE)
    line, counted = 1, 0
    for index, match in enumerate(opening):
        line, counted = line + text.count("\n", counted, match.start()), match.start()
        end = opening[index + 1].start() if index + 1 < len(opening) else len(text)
        content = text[match.end() : end]
        close = closing.search(content)
        yield line, content[: close.start()] if close else content


def fields(block: str, names: tuple[str, ...]) -> dict[str, str]:
    """Each named field's text up to the next named tag, opening or closing, so either may be missing."""
    tags = list(re.finditer(rf"<\s*(/?)\s*({'|'.join(names)})\b[^>]*>", block, re.IGNORECASE))
    found: dict[str, str] = {}
    for index, tag in enumerate(tags):
        if tag.group(1):
            continue
        end = tags[index + 1].start() if index + 1 < len(tags) else len(block)
        found.setdefault(tag.group(2).lower(), clean(block[tag.end() : end]))
    return found


def sgml_documents(path: Path) -> Iterator[dict[str, Any]]:
    for line, block in blocks(read_text(path), "doc"):
        doc = fields(block, ("docno", "title", "text"))
        if not doc.get("docno"):
            raise CodefestError(f"{path}, line {line}: a <DOC> without <DOCNO>", fix="give every document its number")
        yield {"id": doc["docno"], "title": doc.get("title", ""), "abstract": doc.get("text", "")}


def json_documents(path: Path) -> Iterator[dict[str, Any]]:
    for where, record in json_records(path):
        yield {
            "id": id_field(record, "id", where),
            "title": text_field(record, "title", where),
            "abstract": text_field(record, "abstract", where),
        }


def is_json(path: Path) -> bool:
    """Told by content, not name: TREC collections come as .txt, .gz or no extension at all."""
    first = next((line.strip() for _, line in read_lines(path) if line.strip()), "")
    return first.startswith(("{", "["))


def read_collection(path: Path) -> Dataset:
    files = find_files(path, COLLECTION_PATTERNS, "collection")
    docs = (doc for file in files for doc in (json_documents(file) if is_json(file) else sgml_documents(file)))
    return rows_to_dataset(docs, corpus_features(), f"CLEF-IP collection {path}", "")


def strip_prefix(name: str, value: str) -> str:
    prefix = PREFIXES.get(name)
    return re.sub(rf"^{prefix}\s*", "", value, flags=re.IGNORECASE) if prefix else value


def read_topics(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, topic) per <top> (or CLEF-IP's <topic>); the description is the topic's text."""
    topics = []
    for line, block in blocks(read_text(path), "top|topic"):
        topic = {
            name: strip_prefix(name, text) for name, text in fields(block, ("num", "title", "desc", "narr")).items()
        }
        if not topic.get("num"):
            raise CodefestError(f"{path}, line {line}: a topic without <num>", fix="give every topic its number")
        topics.append((f"{path}, line {line}", topic))
    if not topics:
        raise CodefestError(f"no <top> topics in {path}", fix="topics look like <top> <num> ... </num> ... </top>")
    return topics


def read_qrels(path: Path, doc_ids: set[str], topic_ids: set[str], qrels: Qrels) -> int:
    """Add one file's judgments to qrels; returns how many name a topic that is not loaded."""
    seen: dict[tuple[str, str], int] = {}
    elsewhere = 0
    for number, line in read_lines(path):
        cells = line.split()
        if not cells or cells[0].startswith("#"):
            continue
        where = f"{path}, line {number}"
        topic, doc, grade = qrel_cells(cells, where)
        if doc not in doc_ids:
            raise CodefestError(
                f"{where}: the document '{doc}' is not in the collection",
                fix="load the collection the qrels were made for, or remove the line",
            )
        if (topic, doc) in seen:
            raise CodefestError(
                f"{where}: '{topic} {doc}' is judged again (first on line {seen[topic, doc]})", "keep one"
            )
        seen[topic, doc] = number
        if topic in topic_ids:
            qrels.setdefault(topic, []).append({"doc_id": doc, "relevance": grade})
        else:
            elsewhere += 1
    return elsewhere


def qrel_cells(cells: list[str], where: str) -> tuple[str, str, int]:
    """TREC's 'topic iteration doc grade'; 'topic doc grade' as some CLEF-IP releases write it; and 'topic iteration
    doc grade language', the copies of the CLEF-IP 2010 PAC qrels that tag each document with its language."""
    if len(cells) == 5:
        return _language_tagged(cells, where)
    if len(cells) not in (3, 4):
        raise CodefestError(
            f"{where}: {len(cells)} fields; a qrels line is 'topic iteration doc relevance', optionally followed by "
            "the document's language (EN, DE or FR)",
            fix="repair the line",
        )
    return cells[0], cells[-2], _grade(cells[-1], where)


def _language_tagged(cells: list[str], where: str) -> tuple[str, str, int]:
    """The five-field line; the language only says which part of the collection the document is in."""
    topic, _iteration, doc, grade, language = cells
    if not language.isalpha():
        raise CodefestError(
            f"{where}: the fifth field '{language}' is not a language code; a five-field qrels line is "
            "'topic iteration doc relevance language', e.g. 'PAC-1 0 EP-1234567-A1 1 EN'",
            fix="repair the line",
        )
    return topic, doc, _grade(grade, where)


def _grade(grade: str, where: str) -> int:
    try:
        return int(grade)
    except ValueError:
        raise CodefestError(f"{where}: relevance '{grade}' is not a whole number", fix="use 2, 1 or 0") from None


def topic_rows(topics: list[tuple[str, dict[str, Any]]], qrels: Qrels) -> list[dict[str, Any]]:
    return [
        {
            "id": t["num"],
            "title": t.get("title", ""),
            "abstract": t.get("desc", ""),
            "qrels": qrels.get(t["num"], []),
        }
        for _, t in topics
    ]


def fetch(options: ClefIpOptions, context: BuildContext, relative: str, what: str) -> Path:
    """A local path, or with hub_id the file of that name in the hub repository (needs network)."""
    if options.hub_id is None:
        return resolve(context.base_dir, relative, what)
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(options.hub_id, relative, repo_type="dataset", revision=options.hub_revision))
    except Exception as err:  # network, auth and missing-file failures each raise their own type
        raise CodefestError(
            f"{what} '{relative}' not fetched from the hub dataset '{options.hub_id}': {root_cause(err)}",
            fix="check the repository and file names; the hub needs network (unset HF_HUB_OFFLINE)",
        ) from None


@builder(NAME, task="search", kind="loader", options=ClefIpOptions, card="clef-ip-trec.md")
def build(options: ClefIpOptions, context: BuildContext) -> DatasetDict:
    """CLEF-IP prior-art search: collection (JSON Lines or TREC SGML), TREC topics and graded qrels."""
    from datasets import Dataset  # not at import: see schema

    corpus = read_collection(fetch(options, context, options.collection, "CLEF-IP collection"))
    topic_files = {
        split: [fetch(options, context, name, "CLEF-IP topic file") for name in names]
        for split, names in split_file_lists(options.topics).items()
    }
    topics = {split: [t for file in files for t in read_topics(file)] for split, files in topic_files.items()}
    topic_ids = {t["num"] for listed in topics.values() for _, t in listed}
    qrels: Qrels = {}
    doc_ids = set(corpus["id"])
    qrel_files = [options.qrels] if isinstance(options.qrels, str) else options.qrels
    elsewhere = sum(
        read_qrels(fetch(options, context, name, "CLEF-IP qrels file"), doc_ids, topic_ids, qrels)
        for name in qrel_files
    )
    if elsewhere:
        log.info("CLEF-IP: ignored %d qrels lines for topics that are not loaded", elsewhere)
    parts = {
        split: Dataset.from_list(topic_rows(listed, qrels), features=FEATURES["search"])
        for split, listed in topics.items()
    }
    return finish_search(corpus, parts, options, options.keep_unjudged, "CLEF-IP")
