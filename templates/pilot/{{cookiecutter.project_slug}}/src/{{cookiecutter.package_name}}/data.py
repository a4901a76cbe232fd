"""The challenge's public bundle, read with Hugging Face `datasets`; the same reader serves train, dev and test."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, disable_progress_bars, load_dataset

disable_progress_bars()  # bundles are small local files; progress bars would only clutter logs


@dataclass(frozen=True)
class Bundle:
    """A folder holding a public bundle (as `codefest data build` writes it), or the input folder of a sandbox run."""

    folder: Path

    def split(self, name: str) -> Dataset:
        """train and dev carry labels; test has inputs only."""
        path = self.folder / f"{name}.jsonl"
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: build the bundle with `codefest data build <challenge>`")
        # a private cache: the bundle folder may be read-only (a sandboxed code submission)
        return load_dataset("json", data_files=str(path), split="train", cache_dir=tempfile.mkdtemp(prefix="hf-"))

    def corpus(self) -> Dataset:
        """Search only: the document collection."""
        return self.split("corpus")

    def qrels(self, name: str) -> dict[str, dict[str, int]]:
        """Search only: topic -> document -> grade, from the split's TREC qrels."""
        judged: dict[str, dict[str, int]] = {}
        for line in (self.folder / f"{name}.qrels").read_text(encoding="utf-8").splitlines():
            if line.strip():
                topic, _, doc, grade = line.split()
                judged.setdefault(topic, {})[doc] = int(grade)
        return judged


def write_predictions(records: list[dict], path: Path) -> Path:
    """JSONL, one prediction per line, in the task's format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path
