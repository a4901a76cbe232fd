"""Shared state of a multi-host event: the vault on the workers only, checked before any scoring; MLflow as a
tracking server on PostgreSQL that serves the artifacts, so that workers log over HTTP and keep nothing local."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from codefest.challenges.discovery import load
from codefest.core.errors import CodefestError, VaultUnavailable
from codefest.core.workspace import VAULT_ENV, Workspace
from codefest.shared_datasets.heldout import MANIFEST, build, check_vault
from tests.helpers import small_copy

SLUG = "small-ipc-classification"


@pytest.fixture
def built(challenges: Path, home: Path) -> Path:
    """A small classification challenge built in the test's workspace; returns its vault."""
    small_copy(challenges, "ipc-classification")
    return build(load(SLUG), home).vault


@pytest.fixture
def worker_vaults(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The vault moved out of the workspace to a worker's own folder, named by CODEFEST_VAULT."""
    vaults = tmp_path / "worker-vaults"
    vaults.mkdir()
    shutil.move(built, vaults / SLUG)
    monkeypatch.setenv(VAULT_ENV, str(vaults))
    return vaults


def _no_path(error: CodefestError, *folders: Path) -> None:
    """What a team may see names no folder of the organisers'."""
    for folder in folders:
        assert str(folder) not in str(error)
    assert "/" not in str(error)


# -- the vault on the workers only ----------------------------------------------------------------------------


def test_the_vault_is_found_where_codefest_vault_says(worker_vaults: Path, home: Path) -> None:
    assert Workspace(home).vault(SLUG) == worker_vaults / SLUG
    assert not (home / "vault" / SLUG).exists()
    manifest = check_vault(SLUG, home)
    assert manifest.slug == SLUG
    assert set(manifest.data["files"]) == {"test-labels.jsonl", "partition.json"}
    assert check_vault(SLUG, home) == manifest  # checked again (from the stat cache): still right


def test_the_default_vault_is_the_workspaces(built: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(VAULT_ENV, raising=False)
    assert built == home / "vault" / SLUG
    assert check_vault(SLUG, home).slug == SLUG


def test_a_worker_without_the_vault_says_which_challenge_and_what_to_do(
    worker_vaults: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "no-vaults"
    empty.mkdir()
    monkeypatch.setenv(VAULT_ENV, str(empty))
    with pytest.raises(VaultUnavailable) as raised:
        check_vault(SLUG, home)
    error = raised.value
    assert error.slug == SLUG
    assert error.problem == (
        f"challenge '{SLUG}' cannot be scored on this worker: its held-out data (the vault) is not installed here"
    )
    assert "nothing is wrong with the submission" in (error.fix or "")
    assert "CODEFEST_VAULT" in (error.fix or "")
    _no_path(error, empty, home, tmp_path)
    assert str(empty / SLUG / MANIFEST) in error.detail  # the organisers' log says where it looked


@pytest.mark.parametrize("name", ["test-labels.jsonl", "partition.json"])
def test_an_altered_vault_file_is_refused_even_after_a_good_check(worker_vaults: Path, home: Path, name: str) -> None:
    """One byte changed, size and modification time kept: the change time still tells the cache it was written."""
    check_vault(SLUG, home)  # the right vault passes, and is remembered
    path = worker_vaults / SLUG / name
    before = path.stat()
    data = bytearray(path.read_bytes())
    index = data.index(b'"') + 1
    data[index] = ord("X") if data[index] != ord("X") else ord("Y")
    path.chmod(0o600)
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_mtime_ns == before.st_mtime_ns
    with pytest.raises(VaultUnavailable) as raised:
        check_vault(SLUG, home)
    assert raised.value.problem.endswith("its held-out data (the vault) differs from the vault that was built")
    assert f"{path}: its sha256 differs from the manifest's" == raised.value.detail
    _no_path(raised.value, worker_vaults, home)


def test_a_missing_file_a_shorter_file_and_another_challenges_manifest_are_refused(
    worker_vaults: Path, home: Path
) -> None:
    vault = worker_vaults / SLUG
    labels = vault / "test-labels.jsonl"
    kept = labels.read_bytes()
    labels.unlink()
    with pytest.raises(VaultUnavailable, match="differs from the vault that was built") as raised:
        check_vault(SLUG, home)
    assert raised.value.detail.startswith(f"{labels}: cannot be read")

    labels.write_bytes(kept[:-10])
    with pytest.raises(VaultUnavailable) as raised:
        check_vault(SLUG, home)
    assert raised.value.detail == f"{labels}: {len(kept) - 10} bytes, the manifest says {len(kept)}"

    labels.write_bytes(kept)
    assert check_vault(SLUG, home).slug == SLUG  # put back as built: accepted again

    manifest = json.loads((vault / MANIFEST).read_text())
    (vault / MANIFEST).chmod(0o600)
    (vault / MANIFEST).write_text(json.dumps({**manifest, "challenge": "another-challenge"}))
    with pytest.raises(VaultUnavailable) as raised:
        check_vault(SLUG, home)
    assert "'another-challenge'" in raised.value.detail
    (vault / MANIFEST).write_text("{not json")
    with pytest.raises(VaultUnavailable, match="differs from the vault that was built"):
        check_vault(SLUG, home)
