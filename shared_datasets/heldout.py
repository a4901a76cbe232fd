"""The held-out split: a public bundle for participants and a private vault for the organiser's scorer.

Test labels are written only to the vault. Both folders are built beside the old ones and swapped in at the end,
so a failed build never leaves a half-written bundle or loses the previous one.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from datasets import DatasetDict

from challenges.discovery import LoadedChallenge
from codefest import __version__
from codefest.errors import CodefestError
from codefest.tasks import TASKS
from codefest.workspace import bundle_dir, vault_dir
from shared_datasets.builders import BuildContext, all_builders
from shared_datasets.files import rows, sha256_file, write_json, write_jsonl, write_qrels
from shared_datasets.schema import CORPUS, FEATURES, SPLITS

Progress = Callable[[str], None]
CARD_FILE = "DATASET_CARD.md"
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BuildResult:
    slug: str
    bundle: Path
    vault: Path
    dataset_sha256: str
    counts: dict[str, int]


def build(challenge: LoadedChallenge, root: Path, progress: Progress = lambda _: None) -> BuildResult:
    spec = challenge.spec
    builder = all_builders().get(spec.dataset.builder)
    options = builder.validate_options(spec.dataset.options)
    progress(f"building the {spec.slug} dataset with '{builder.name}'")
    data = builder.build(options, BuildContext(base_dir=challenge.folder))
    _check_schema(data, spec.task, builder.name)
    counts = {split: len(data[split]) for split in data}
    bundle, vault = bundle_dir(spec.slug, root), vault_dir(spec.slug, root)
    with _staging(bundle) as new_bundle, _staging(vault, private=True) as new_vault:
        progress("writing the public bundle and the private vault")
        content = _content_hash(write_splits(data, spec.task, new_bundle, new_vault))
        if spec.dataset.sha256 and spec.dataset.sha256 != content:
            raise CodefestError(
                f"{challenge.folder / 'challenge.yaml'}: the dataset built has sha256 {content}, "
                f"but key 'dataset.sha256' expects {spec.dataset.sha256}",
                "the builder or its options changed: if that is intended, set dataset.sha256 to the new hash "
                "and raise dataset.version",
            )
        _write_partition(new_vault, data["test"]["id"], spec.test_split.public_fraction, spec.test_split.seed)
        (new_bundle / CARD_FILE).write_text(builder.card_text(), encoding="utf-8")
        header = {
            "challenge": spec.slug,
            "challenge_version": spec.version,
            "task": spec.task,
            "dataset": {**spec.dataset.model_dump(exclude={"sha256"}), "sha256": content},
            "codefest_version": __version__,
            "rows": counts,
        }
        _write_manifest(new_bundle, header)
        _write_manifest(new_vault, header)
    return BuildResult(spec.slug, bundle, vault, content, counts)


def _check_schema(data: DatasetDict, task: str, builder: str) -> None:
    """A builder that returns other columns is a bug in that builder; say which one."""
    expected = {split: FEATURES[task] for split in SPLITS} | ({"corpus": CORPUS} if task == "search" else {})
    if set(data) != set(expected):
        raise CodefestError(f"builder '{builder}' returned splits {sorted(data)}, expected {sorted(expected)}")
    for split, features in expected.items():
        if data[split].features != features:
            raise CodefestError(f"builder '{builder}': split '{split}' has columns {data[split].features}")
        if len(data[split]) == 0:
            raise CodefestError(f"builder '{builder}': split '{split}' is empty", "give the builder more data")


def gold_file(folder: Path, task: str, split: str) -> Path:
    """Where a split's labels are: the bundle's dev and train files, the vault's test file."""
    if task == "search":
        return folder / f"{split}.qrels"
    return folder / ("test-labels.jsonl" if split == "test" else f"{split}.jsonl")


def write_splits(data: DatasetDict, task: str, bundle: Path, vault: Path) -> dict[str, Path]:
    """Public files in the bundle, test labels in the vault only; returns 'bundle/NAME' or 'vault/NAME' -> path."""
    info, search = TASKS.get(task), task == "search"
    files: dict[str, Path] = {}

    def record(folder: Path, name: str) -> None:
        files[f"{'vault' if folder == vault else 'bundle'}/{name}"] = folder / name

    def jsonl(folder: Path, name: str, split: str, columns: Iterable[str]) -> None:
        write_jsonl(folder / name, rows(data[split], columns))
        record(folder, name)

    def qrels(folder: Path, split: str) -> None:
        path = gold_file(folder, task, split)
        write_qrels(path, data[split])
        record(folder, path.name)

    if search:
        jsonl(bundle, "corpus.jsonl", "corpus", CORPUS)
    for split in ("train", "dev"):
        jsonl(bundle, f"{split}.jsonl", split, info.inputs if search else [*info.inputs, *info.labels])
        if search:
            qrels(bundle, split)
    jsonl(bundle, "test.jsonl", "test", info.inputs)
    if search:
        qrels(vault, "test")
    else:
        jsonl(vault, gold_file(vault, task, "test").name, "test", ["id", *info.labels])
    return files


def _content_hash(files: dict[str, Path]) -> str:
    """One hash over every data file, public and private: the dataset's identity in score signatures."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(f"{name} {sha256_file(files[name])}\n".encode())
    return digest.hexdigest()


def _write_partition(vault: Path, test_ids: list[str], public_fraction: float, seed: int) -> None:
    """Which test items count on the public board; the rest decide the private one."""
    ids = sorted(test_ids)
    random.Random(seed).shuffle(ids)
    cut = min(max(round(len(ids) * public_fraction), 1), len(ids) - 1)
    write_json(
        vault / "partition.json",
        {
            "seed": seed,
            "public_fraction": public_fraction,
            "public": sorted(ids[:cut]),
            "private": sorted(ids[cut:]),
        },
    )


def _write_manifest(folder: Path, header: dict[str, object]) -> None:
    files = {
        path.name: {"sha256": sha256_file(path), "bytes": path.stat().st_size}
        for path in sorted(folder.iterdir())
        if path.name != MANIFEST
    }
    write_json(folder / MANIFEST, {**header, "files": files})


class _staging:
    """A fresh folder beside `target` that replaces it on success and is removed on failure."""

    def __init__(self, target: Path, private: bool = False) -> None:
        self.target, self.private = target, private

    def __enter__(self) -> Path:
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", dir=self.target.parent))
        except OSError as err:
            raise CodefestError(
                f"cannot write to {self.target.parent}: {err.strerror}",
                "set CODEFEST_HOME to a writable folder",
            ) from None
        os.chmod(self.tmp, 0o700 if self.private else 0o755)
        return self.tmp

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        if error is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self.private:
            for path in self.tmp.iterdir():
                os.chmod(path, 0o600)
        old = self.target.with_name(f".{self.target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self.target.exists():
            self.target.rename(old)
        self.tmp.rename(self.target)
        shutil.rmtree(old, ignore_errors=True)
