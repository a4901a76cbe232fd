"""The held-out split: bundles for participants, vaults for the scorer, and no test label in a bundle."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from challenges.discovery import load
from codefest.errors import CodefestError
from codefest.tasks import TASKS
from shared_datasets.files import sha256_file
from shared_datasets.heldout import build
from tests.helpers import bundled_spec, small_copy, write_challenge

SLUGS = ["ipc-classification", "patent-translation-en-fr", "prior-art-search"]


@pytest.fixture
def organiser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A challenges folder of small copies of the bundled challenges, on the discovery path."""
    root = tmp_path / "challenges"
    for slug in SLUGS:
        small_copy(root, slug)
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(root))
    return root


def _build(slug: str, workspace: Path):
    return build(load(slug), workspace)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _vault_gold(vault: Path, task: str) -> dict[str, object]:
    """test id -> its labels, as the vault holds them."""
    if task == "search":
        gold: dict[str, list] = {}
        for line in (vault / "test.qrels").read_text(encoding="utf-8").splitlines():
            topic, _, doc, grade = line.split()
            gold.setdefault(topic, []).append((doc, int(grade)))
        return gold
    label = TASKS.get(task).labels[0]
    return {row["id"]: row[label] for row in _jsonl(vault / "test-labels.jsonl")}


@pytest.mark.parametrize("slug", SLUGS)
def test_no_test_label_is_reachable_from_the_bundle(organiser: Path, tmp_path: Path, slug: str) -> None:
    task = load(f"small-{slug}").spec.task
    result = _build(f"small-{slug}", tmp_path / "ws")
    gold = _vault_gold(result.vault, task)
    inputs = set(TASKS.get(task).inputs)
    test_rows = _jsonl(result.bundle / "test.jsonl")
    assert {row["id"] for row in test_rows} == set(gold)
    vault_hashes = {sha256_file(p) for p in result.vault.iterdir() if p.name != "manifest.json"}
    for path in result.bundle.rglob("*"):
        assert not path.is_symlink(), f"{path} is a link"
        assert sha256_file(path) not in vault_hashes, f"{path} is a copy of a vault file"
        if path.suffix == ".jsonl":
            for row in _jsonl(path):
                if row["id"] in gold:
                    assert set(row) == inputs, f"{path.name}: test item {row['id']} carries {set(row) - inputs}"
        if path.suffix == ".qrels":
            topics = {line.split()[0] for line in path.read_text(encoding="utf-8").splitlines()}
            assert not topics & set(gold), f"{path.name} judges test topics"
    assert not (result.bundle / "test-labels.jsonl").exists() and not (result.bundle / "test.qrels").exists()
    assert not str(result.vault).startswith(str(result.bundle))


@pytest.mark.parametrize("slug", SLUGS)
def test_manifest_lists_every_file_with_its_hash(organiser: Path, tmp_path: Path, slug: str) -> None:
    result = _build(f"small-{slug}", tmp_path / "ws")
    for folder in (result.bundle, result.vault):
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        present = {p.name for p in folder.iterdir()} - {"manifest.json"}
        assert set(manifest["files"]) == present
        for name, entry in manifest["files"].items():
            assert entry["sha256"] == sha256_file(folder / name)
            assert entry["bytes"] == (folder / name).stat().st_size
        assert manifest["dataset"]["sha256"] == result.dataset_sha256
        assert manifest["challenge"] == f"small-{slug}"
    assert "DATASET_CARD.md" in json.loads((result.bundle / "manifest.json").read_text())["files"]


def test_bundle_files_per_task(organiser: Path, tmp_path: Path) -> None:
    names = {slug: sorted(p.name for p in _build(f"small-{slug}", tmp_path / slug).bundle.iterdir()) for slug in SLUGS}
    common = ["DATASET_CARD.md", "dev.jsonl", "manifest.json", "test.jsonl", "train.jsonl"]
    assert names["ipc-classification"] == common
    assert names["patent-translation-en-fr"] == common
    assert names["prior-art-search"] == sorted([*common, "corpus.jsonl", "train.qrels", "dev.qrels"])


def test_split_sizes_and_partition(organiser: Path, tmp_path: Path) -> None:
    result = _build("small-ipc-classification", tmp_path / "ws")
    assert result.counts == {"train": 280, "dev": 40, "test": 80}
    assert len(_jsonl(result.bundle / "train.jsonl")) == 280
    partition = json.loads((result.vault / "partition.json").read_text(encoding="utf-8"))
    test_ids = {row["id"] for row in _jsonl(result.bundle / "test.jsonl")}
    assert set(partition["public"]).isdisjoint(partition["private"])
    assert set(partition["public"]) | set(partition["private"]) == test_ids
    assert len(partition["public"]) == round(80 * 0.3)


def test_vault_is_private_to_the_organiser(organiser: Path, tmp_path: Path) -> None:
    result = _build("small-patent-translation-en-fr", tmp_path / "ws")
    assert stat.S_IMODE(result.vault.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in result.vault.iterdir()} == {0o600}


def test_same_seed_same_hash_other_seed_other_hash(organiser: Path, tmp_path: Path) -> None:
    first = _build("small-prior-art-search", tmp_path / "one")
    second = _build("small-prior-art-search", tmp_path / "two")
    assert first.dataset_sha256 == second.dataset_sha256
    assert sha256_file(first.bundle / "corpus.jsonl") == sha256_file(second.bundle / "corpus.jsonl")
    spec = bundled_spec("prior-art-search") | {"slug": "other-seed"}
    spec["dataset"]["options"] = {"size": 480, "topics": 30, "seed": 6}
    del spec["dataset"]["sha256"]
    write_challenge(organiser, spec)
    assert _build("other-seed", tmp_path / "three").dataset_sha256 != first.dataset_sha256


def test_a_pinned_hash_that_does_not_match_is_refused_and_keeps_the_old_bundle(organiser: Path, tmp_path: Path) -> None:
    good = _build("small-ipc-classification", tmp_path / "ws")
    before = sha256_file(good.bundle / "train.jsonl")
    spec = bundled_spec("ipc-classification") | {"slug": "small-ipc-classification"}
    spec["dataset"]["options"] = {"size": 400, "seed": 99}
    spec["dataset"]["sha256"] = good.dataset_sha256
    write_challenge(organiser, spec)
    with pytest.raises(CodefestError, match=r"key 'dataset\.sha256' expects") as caught:
        _build("small-ipc-classification", tmp_path / "ws")
    assert "raise dataset.version" in caught.value.render()
    assert sha256_file(good.bundle / "train.jsonl") == before
    assert sorted(p.name for p in (tmp_path / "ws" / "bundles").iterdir()) == ["small-ipc-classification"]


@pytest.mark.parametrize("slug", SLUGS)
def test_bundled_challenges_reproduce_their_pinned_hash(tmp_path: Path, slug: str) -> None:
    item = load(slug)
    assert item.spec.dataset.sha256, "bundled challenges pin their dataset hash"
    assert build(item, tmp_path).dataset_sha256 == item.spec.dataset.sha256
