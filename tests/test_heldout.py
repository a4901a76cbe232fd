"""The held-out split: bundles for participants, vaults for the scorer, and no test label in a bundle."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from codefest.challenges.discovery import load
from codefest.cli import app
from codefest.core.errors import CodefestError
from codefest.evaluation.challenge import evaluation_signature, public_gold
from codefest.leaderboard.board import build as leaderboard
from codefest.leaderboard.board import current_signature
from codefest.shared_datasets.builders import BuildContext, all_builders
from codefest.shared_datasets.files import sha256_file
from codefest.shared_datasets.heldout import (
    DATASET_SEED,
    PUBLIC_LABELS_WARNING,
    SPLIT_SEED,
    BuildResult,
    build,
    pinned_seeds,
    read_vault_manifest,
)
from codefest.tasks import TASKS
from tests.helpers import bundled_spec, small_copy, write_challenge

SLUGS = ["ipc-classification", "patent-translation-en-fr", "prior-art-search"]
CONTEXT = BuildContext(base_dir=Path("."))


@pytest.fixture
def organiser(challenges: Path) -> Path:
    """A challenges folder of small copies of the bundled challenges, on the discovery path."""
    for slug in SLUGS:
        small_copy(challenges, slug)
    return challenges


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
        assert manifest["bundle_sha256"] == result.manifest.bundle_sha256
        assert manifest["challenge"] == f"small-{slug}"
    vault = json.loads((result.vault / "manifest.json").read_text(encoding="utf-8"))
    assert vault["dataset"]["sha256"] == result.dataset_sha256
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
    spec["test_split"]["seed"] = 13  # the bundled challenges pin no seed any more: only the dataset's may differ
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


@pytest.mark.slow  # builds each bundled challenge at full size
@pytest.mark.parametrize("slug", SLUGS)
def test_bundled_challenges_are_events_with_secret_seeds(tmp_path: Path, slug: str) -> None:
    """They used to pin seed 2026 and the full hash: anyone with codefest rebuilt their test labels."""
    item = load(slug)
    assert pinned_seeds(item.spec) == [] and item.spec.dataset.sha256 is None
    result = build(item, tmp_path)
    assert {seed.origin for seed in result.seeds.values()} == {"drawn"}
    assert not result.manifest.labels_public and result.manifest.warning is None
    assert build(item, tmp_path).dataset_sha256 == result.dataset_sha256  # a rebuild reuses the vault's seeds


# -- nothing public determines or verifies a held-out label ---------------------------------------------------


def _secret_copy(root: Path, slug: str) -> str:
    """A small copy of a bundled challenge that pins no seed, as a real event declares it."""
    spec = yaml.safe_load(small_copy(root, slug, f"secret-{slug}").read_text(encoding="utf-8"))
    del spec["dataset"]["options"]["seed"], spec["test_split"]["seed"]
    write_challenge(root, spec)
    return spec["slug"]


def _files(result: BuildResult) -> dict[str, str]:
    return {f"{p.parent.name}/{p.name}": sha256_file(p) for d in (result.bundle, result.vault) for p in d.iterdir()}


@pytest.mark.parametrize("slug", SLUGS)
def test_the_bundle_holds_no_seed_no_option_and_no_full_hash(organiser: Path, tmp_path: Path, slug: str) -> None:
    result = _build(_secret_copy(organiser, slug), tmp_path / "ws")
    manifest = json.loads((result.bundle / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest) == {"challenge", "challenge_version", "task", "bundle_sha256", "files"}
    assert {key for entry in manifest["files"].values() for key in entry} == {"sha256", "bytes"}
    vault = result.manifest
    assert vault.dataset_seed is not None and vault.split_seed is not None
    private = [str(vault.dataset_seed), str(vault.split_seed), vault.content_sha256[:12], vault.dataset_sha256[:12]]
    for path in result.bundle.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not [secret for secret in private if secret in text], f"{path.name} gives away the vault's secrets"
    assert vault.content_sha256 != vault.bundle_sha256


def _attack(bundle: Path, slug: str, held_out: dict[str, object], seeds: Iterable[int]) -> int | None:
    """A participant's try: the public options, each seed to try (and any the manifest gives); the seed that hits."""
    revealed = json.loads((bundle / "manifest.json").read_text()).get("dataset", {}).get("options", {}).get("seed")
    spec = load(slug).spec  # challenge.yaml is public too
    builder = all_builders().get(spec.dataset.builder)
    for seed in [*([revealed] if revealed is not None else []), *seeds]:
        data = builder.build(builder.validate_options({**spec.dataset.options, "seed": seed}), CONTEXT)
        if dict(zip(data["test"]["id"], data["test"]["labels"], strict=True)) == held_out:
            return seed
    return None


@pytest.mark.slow  # builds twice and tries 42 seeds
def test_an_attacker_with_the_bundle_cannot_rebuild_the_test_labels(organiser: Path, tmp_path: Path) -> None:
    secret = _build(_secret_copy(organiser, "ipc-classification"), tmp_path / "secret")
    held_out = _vault_gold(secret.vault, "classification")
    assert _attack(secret.bundle, "secret-ipc-classification", held_out, [*range(40), 2026, 5]) is None
    # the same attack on a challenge that pins its seed (a demo) does find it: the attack itself works
    pinned = _build("small-ipc-classification", tmp_path / "pinned")
    assert _attack(pinned.bundle, "small-ipc-classification", _vault_gold(pinned.vault, "classification"), [5]) == 5


def test_builds_draw_their_own_128_bit_seeds_and_a_rebuild_from_the_vault_is_identical(
    organiser: Path, tmp_path: Path
) -> None:
    slug = _secret_copy(organiser, "ipc-classification")
    one, two = _build(slug, tmp_path / "one"), _build(slug, tmp_path / "two")
    for key in (DATASET_SEED, SPLIT_SEED):
        assert one.seeds[key].origin == two.seeds[key].origin == "drawn"
        assert one.seeds[key].value != two.seeds[key].value
        assert 2**96 < one.seeds[key].value < 2**128  # 128 random bits: below 2**96 once in 2**32 builds
    assert _vault_gold(one.vault, "classification") != _vault_gold(two.vault, "classification")
    partitions = [json.loads((r.vault / "partition.json").read_text())["public"] for r in (one, two)]
    assert partitions[0] != partitions[1]
    first = _files(one)
    again = _build(slug, tmp_path / "one")
    assert {key: (s.origin, s.value) for key, s in again.seeds.items()} == {
        key: ("vault", s.value) for key, s in one.seeds.items()
    }
    assert _files(again) == first
    elsewhere = tmp_path / "elsewhere"  # the organisers rebuild on another machine from a copy of the vault
    shutil.copytree(one.vault, elsewhere / "vault" / slug)
    assert _files(_build(slug, elsewhere)) == first
    redrawn = build(load(slug), tmp_path / "one", new_seed=True)
    assert redrawn.seeds[DATASET_SEED].origin == "drawn" and _files(redrawn) != first


@pytest.mark.slow  # builds two challenges through the command line
def test_a_pinned_seed_says_the_labels_are_public_in_the_build_show_and_leaderboard(
    organiser: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEFEST_HOME", str(tmp_path / "ws"))
    outputs = {}
    for slug in ("small-ipc-classification", _secret_copy(organiser, "ipc-classification")):
        built = CliRunner().invoke(app, ["data", "build", slug])
        shown = CliRunner().invoke(app, ["challenges", "show", slug])
        assert built.exit_code == shown.exit_code == 0, built.output + shown.output
        board = leaderboard(load(slug), tmp_path / "ws")
        outputs[slug] = (_plain(built.output), _plain(shown.output), board.notes)
    manifest = read_vault_manifest(tmp_path / "ws" / "vault" / "small-ipc-classification")
    assert manifest.labels_public and manifest.public_seeds == (DATASET_SEED, SPLIT_SEED)
    assert PUBLIC_LABELS_WARNING in manifest.warning and "dataset.options.seed" in manifest.warning
    built, shown, notes = outputs["small-ipc-classification"]
    assert _plain(manifest.warning) in built and _plain(PUBLIC_LABELS_WARNING) in shown
    assert notes[0] == manifest.warning
    built, shown, notes = outputs["secret-ipc-classification"]
    assert _plain(PUBLIC_LABELS_WARNING) not in built + shown and notes == []
    assert _plain("secret: drawn at the first build, kept in the vault") in shown


def _plain(text: str) -> str:
    """Terminal output without its table borders and line wrapping, to look for a sentence in it."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│┃")


def test_dev_scores_and_the_leaderboard_are_signed_with_nothing_that_verifies_labels(
    organiser: Path, tmp_path: Path
) -> None:
    slug = _secret_copy(organiser, "prior-art-search")
    result = _build(slug, tmp_path / "ws")
    spec = load(slug).spec
    _, provenance = public_gold(spec, "dev", tmp_path / "ws")
    assert provenance["dataset"] == result.manifest.bundle_sha256[:12]
    shutil.rmtree(result.bundle)  # the leaderboard reads the vault, not what participants also have
    signature = current_signature(spec, tmp_path / "ws")
    assert signature == evaluation_signature(spec, result.manifest.dataset_sha256)
    assert result.manifest.content_sha256[:12] not in signature + provenance["dataset"]


def test_a_dataset_hash_is_refused_without_a_pinned_seed(organiser: Path) -> None:
    spec = bundled_spec("ipc-classification") | {"slug": "hashed"}
    spec["dataset"]["sha256"] = "0" * 64
    write_challenge(organiser, spec)
    with pytest.raises(CodefestError, match=r"'dataset\.sha256' hashes the test labels too") as caught:
        load("hashed")
    assert "remove dataset.sha256" in caught.value.render()
