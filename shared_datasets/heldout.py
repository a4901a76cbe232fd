"""The held-out split: a public bundle for participants and a private vault for the organiser's scorer.

Test labels are written only to the vault, and so is everything that would regenerate or verify them: the builder's
options, its seeds and the hash over every file. A seed that challenge.yaml does not pin is drawn at the first build
(128 bits from `secrets`), kept in the vault, and reused by later builds, so a rebuild reproduces the same bytes and
never silently changes the labels of a running event. Both folders are built beside the old ones and swapped in at
the end, so a failed build never leaves a half-written bundle or loses the previous one.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import random
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from codefest import __version__
from codefest.challenges.calendar import record_opening, utc_today
from codefest.challenges.discovery import LoadedChallenge
from codefest.challenges.spec import Challenge
from codefest.core.errors import CodefestError, VaultUnavailable
from codefest.core.workspace import Workspace
from codefest.shared_datasets.builders import BuildContext, Builder, all_builders
from codefest.shared_datasets.files import rows, sha256_file, write_json, write_jsonl, write_qrels
from codefest.shared_datasets.schema import FEATURES, SPLITS, corpus_features
from codefest.tasks import TASKS

if TYPE_CHECKING:
    from datasets import DatasetDict

Progress = Callable[[str], None]
CARD_FILE = "DATASET_CARD.md"
MANIFEST = "manifest.json"
SEED_BITS = 128
DATASET_SEED, SPLIT_SEED = "dataset.options.seed", "test_split.seed"
PUBLIC_LABELS_WARNING = "test labels are public: anyone can regenerate them, so this is a demo, not an event"


@dataclass(frozen=True)
class Seed:
    """A seed and where it comes from: pinned in challenge.yaml (public), drawn by this build, or kept in the vault."""

    value: int
    origin: Literal["pinned", "drawn", "vault"]

    @property
    def pinned(self) -> bool:
        return self.origin == "pinned"

    def record(self) -> dict[str, Any]:
        return {"seed": self.value, "seed_pinned": self.pinned}

    def describe(self) -> str:
        return {
            "pinned": "pinned in challenge.yaml (public)",
            "drawn": "newly drawn (secret, kept in the vault)",
            "vault": "reused from the vault (secret)",
        }[self.origin]


@dataclass(frozen=True)
class VaultManifest:
    """A vault's record of its build: the organisers' only copy of the seeds and of the hash over the test labels."""

    slug: str
    dataset_sha256: str  # the dataset's name in score signatures: keyed with the secret seeds, verifies no label
    content_sha256: str  # over every data file, test labels included: verifies a guess of them, so never published
    bundle_sha256: str  # over the bundle's data files: what dev scores are signed with
    dataset_seed: int | None  # None: the builder takes no seed
    split_seed: int | None
    public_seeds: tuple[str, ...]  # the challenge.yaml keys that pinned a seed
    legacy: bool  # written before seeds were kept secret: its bundle's manifest published them
    data: dict[str, Any] = field(repr=False)

    @property
    def labels_public(self) -> bool:
        return self.legacy or bool(self.public_seeds)

    @property
    def warning(self) -> str | None:
        """The sentence every build, evaluation and leaderboard of a challenge with public test labels shows."""
        return labels_warning(self.slug, self.legacy, self.public_seeds)


def labels_warning(slug: str, legacy: bool, public_seeds: tuple[str, ...]) -> str | None:
    """Why anyone can regenerate the challenge's test labels, as one sentence; None when nobody can."""
    if legacy:
        reason = f"built by an older codefest, whose bundle gave the seed; rebuild: codefest data build {slug}"
    elif public_seeds:
        keys = " and ".join(public_seeds)
        reason = f"challenge.yaml pins {keys}; remove them and rebuild to have secret seeds drawn"
    else:
        return None
    return f"{slug}: {PUBLIC_LABELS_WARNING} ({reason})"


@dataclass(frozen=True)
class BuildResult:
    slug: str
    bundle: Path
    vault: Path
    dataset_sha256: str
    counts: dict[str, int]
    manifest: VaultManifest
    seeds: dict[str, Seed]

    def seed_summary(self) -> str:
        return "; ".join(f"{key} {seed.describe()}" for key, seed in self.seeds.items())


def read_manifest(folder: Path) -> dict[str, Any]:
    """A bundle's or a vault's manifest as written (OSError or ValueError if it cannot be read): its one reader."""
    data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{folder / MANIFEST} does not hold a JSON object")
    return data


def vault_built(slug: str, root: Path) -> bool:
    """Whether the challenge's vault is built in the workspace `root`: what its scorer would read exists."""
    return (Workspace(root).vault(slug) / MANIFEST).is_file()


@dataclass(frozen=True)
class BuiltRecord:
    """A built challenge as `codefest serve` and the leaderboard know it (`Workspace.built`), written by the build
    beside the vault's manifest: the vault's public facts, so that the API host of a multi-host event needs no vault.

    `dataset_sha256` is the dataset's name in score signatures, keyed with the secret seeds: it verifies no label
    (the content hash, which would, stays in the vault), the public MLflow runs carry it, and the board prints its
    first 12 characters in every signature. It stays out of the bundle all the same, which teams are sent whole."""

    slug: str
    dataset_sha256: str
    public_seeds: tuple[str, ...]
    legacy: bool

    @classmethod
    def of(cls, manifest: VaultManifest) -> BuiltRecord:
        return cls(manifest.slug, manifest.dataset_sha256, manifest.public_seeds, manifest.legacy)

    @property
    def warning(self) -> str | None:
        """The vault manifest's warning (`VaultManifest.warning`), without the vault."""
        return labels_warning(self.slug, self.legacy, self.public_seeds)

    def to_json(self) -> dict[str, Any]:
        return {
            "challenge": self.slug,
            "dataset_sha256": self.dataset_sha256,
            "public_seeds": list(self.public_seeds),
            "legacy": self.legacy,
        }


def write_built_record(record: BuiltRecord, root: Path) -> Path:
    """Write the record where `Workspace.built` says, whole or not at all (OSError if it cannot be written)."""
    path = Workspace(root).built(record.slug)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(record.to_json(), file, indent=2)
            file.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def challenge_built(slug: str, root: Path) -> bool:
    """Whether the challenge is built for the workspace `root`: its record is there, or a vault to write it from."""
    return Workspace(root).built(slug).is_file() or vault_built(slug, root)


def built_record(slug: str, root: Path) -> BuiltRecord:
    """The challenge's record (`BuiltRecord`), what the service and the leaderboard read instead of the vault. A
    workspace built before records were written has none: it is written here once from the vault's manifest, when
    this host has the vault; without either, a CodefestError says to build, or to copy the record."""
    path = Workspace(root).built(slug)
    fix = f"rebuild it where the vault is (codefest data build {slug}) and copy built/{slug}.json to this host"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data["challenge"] != slug:
            raise ValueError(f"it is the record of {data['challenge']!r}")
        return BuiltRecord(slug, str(data["dataset_sha256"]), tuple(data["public_seeds"]), bool(data["legacy"]))
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CodefestError(f"{path} cannot be read: {err}", fix) from None
    if not vault_built(slug, root):
        raise CodefestError(
            f"challenge '{slug}' is not built in {root}: it has no {path.relative_to(root)} and no vault here",
            f"run: codefest data build {slug}   (the API host of a multi-host event gets built/{slug}.json, "
            "copied from the machine that built the challenge, and no vault)",
        )
    record = BuiltRecord.of(read_vault_manifest(Workspace(root).vault(slug)))
    with contextlib.suppress(OSError):  # a read-only workspace: read from the vault again next time
        write_built_record(record, root)
    return record


VAULT_FIX = (
    "nothing is wrong with the submission: the organisers must copy the challenge's vault, as it was built, to this "
    "worker (into the folder that CODEFEST_VAULT names), then evaluate the submission again"
)
_checked: dict[tuple[Path, str], tuple[int, ...]] = {}  # (file, its sha256 in the manifest) -> its stat when it matched


def check_vault(slug: str, root: Path) -> VaultManifest:
    """The challenge's vault on this host (`Workspace.vault`: under CODEFEST_VAULT, else in the workspace `root`),
    every file checked against the sha256 its manifest recorded at the build: call it before scoring anything.

    Raises `codefest.core.errors.VaultUnavailable` when the vault is missing, unreadable, another challenge's, or
    any of its files is missing or differs: an evaluation worker calls this before it scores a submission and
    gives the submission the error's message (for teams: the challenge and the fix, no path; the organisers' log
    gets `.detail`). A file that matched is not hashed again while its inode, size and change time stay the same
    (any write moves the change time, and no program can set it back), so a long-running worker hashes once."""
    vault = Workspace(root).vault(slug)
    lead = f"challenge '{slug}' cannot be scored on this worker: its held-out data (the vault)"
    if not (vault / MANIFEST).is_file():
        raise VaultUnavailable(slug, f"{lead} is not installed here", VAULT_FIX, f"no {vault / MANIFEST}")

    def altered(detail: str) -> VaultUnavailable:
        return VaultUnavailable(slug, f"{lead} differs from the vault that was built", VAULT_FIX, detail)

    try:
        manifest = read_vault_manifest(vault)
    except CodefestError as error:
        raise altered(str(error)) from None
    if manifest.data.get("challenge") != slug:
        raise altered(f"{vault / MANIFEST} is the manifest of {manifest.data.get('challenge')!r}")
    files = manifest.data.get("files")
    if not isinstance(files, dict) or not files:
        raise altered(f"{vault / MANIFEST} lists no files")
    for name, recorded in files.items():
        problem = _file_problem(vault, name, recorded)
        if problem:
            raise altered(f"{vault / name}: {problem}")
    return manifest


def _file_problem(vault: Path, name: object, recorded: object) -> str | None:
    """Why the vault's file `name` is not the one its manifest recorded; None when it is."""
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        return "not a file name"
    entry = recorded if isinstance(recorded, dict) else {}
    expected, size = entry.get("sha256"), entry.get("bytes")
    if not isinstance(expected, str):
        return "the manifest records no sha256 for it"
    path = vault / name
    try:
        info = path.stat()
        if not path.is_file():
            return "not a file"
        key, seen = (path, expected), (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        if _checked.get(key) == seen:
            return None
        if size is not None and info.st_size != size:
            return f"{info.st_size} bytes, the manifest says {size}"
        if sha256_file(path) != expected:
            return "its sha256 differs from the manifest's"
    except OSError as error:
        return f"cannot be read ({error.strerror or error})"
    _checked[key] = seen
    return None


def read_vault_manifest(vault: Path) -> VaultManifest:
    """The vault's manifest, typed: one reader for the scorer, the leaderboard and the build, so all say the same."""
    path, slug = vault / MANIFEST, vault.name
    try:
        return _vault_manifest(slug, read_manifest(vault))
    except FileNotFoundError:
        raise CodefestError(
            f"challenge '{slug}' is not built here: no vault in {vault.parent}",
            f"run: codefest data build {slug} on a new event; for an event under way, copy the vault folder "
            f"'{slug}' from the machine that built it there, or set CODEFEST_VAULT or CODEFEST_HOME to where it is "
            "(a new build draws new held-out data, which the bundles teams hold no longer match)",
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CodefestError(f"{path} cannot be read: {err!r}", f"rebuild it: codefest data build {slug}") from None


def _vault_manifest(slug: str, data: dict[str, Any]) -> VaultManifest:
    dataset, split = data["dataset"], data.get("test_split") or {}
    return VaultManifest(
        slug=slug,
        dataset_sha256=dataset["sha256"],
        content_sha256=dataset.get("content_sha256", dataset["sha256"]),
        bundle_sha256=data.get("bundle_sha256", ""),
        dataset_seed=dataset.get("seed"),
        split_seed=split.get("seed"),
        public_seeds=tuple(data.get("public_seeds", ())),
        legacy="labels_public" not in data,
        data=data,
    )


def build(
    challenge: LoadedChallenge, root: Path, progress: Progress = lambda _: None, *, new_seed: bool = False
) -> BuildResult:
    """Build the bundle and the vault; `new_seed` draws new secret seeds instead of reusing the vault's."""
    spec = challenge.spec
    builder = all_builders().get(spec.dataset.builder)
    bundle, vault = Workspace(root).bundle(spec.slug), Workspace(root).vault(spec.slug)
    seeds = _seeds(challenge, builder, {} if new_seed else _kept_seeds(vault))
    raw_options = spec.dataset.options | ({"seed": seeds[DATASET_SEED].value} if DATASET_SEED in seeds else {})
    options = builder.validate_options(raw_options)
    progress(f"building the {spec.slug} dataset with '{builder.name}'")
    data = builder.build(options, BuildContext(base_dir=challenge.folder))
    _check_schema(data, spec.task, builder.name)
    data = _checked_labels(data, spec)  # e.g. symbols normalised, or the build refused, before anything is written
    counts = {split: len(data[split]) for split in data}
    with _staging(bundle) as new_bundle, _staging(vault, private=True) as new_vault:
        progress("writing the public bundle and the private vault")
        files = write_splits(data, spec.task, new_bundle, new_vault)
        content = _content_hash(files)
        _check_pinned_hash(challenge, content)
        _write_partition(new_vault, data["test"]["id"], spec.test_split.public_fraction, seeds[SPLIT_SEED].value)
        (new_bundle / CARD_FILE).write_text(builder.card_text(), encoding="utf-8")
        public = {
            "challenge": spec.slug,
            "challenge_version": spec.version,
            "task": spec.task,
            "bundle_sha256": _content_hash({k: v for k, v in files.items() if k.startswith("bundle/")}),
        }
        _write_manifest(new_bundle, public)
        _write_manifest(new_vault, public | _private_header(challenge, content, counts, seeds))
    manifest = read_vault_manifest(vault)
    try:
        write_built_record(BuiltRecord.of(manifest), root)
    except OSError as err:
        raise CodefestError(
            f"the bundle and vault of '{spec.slug}' are built, but its record cannot be written: {err}",
            f"make {Workspace(root).built(spec.slug).parent} writable and build again (the vault's seeds are reused)",
        ) from None
    record_opening(spec.slug, root, utc_today())  # relative phases count from the first build, never a rebuild
    return BuildResult(spec.slug, bundle, vault, manifest.dataset_sha256, counts, manifest, seeds)


def pinned_seeds(spec: Challenge) -> list[str]:
    """The challenge.yaml keys that pin a seed: each lets anyone regenerate the test labels or the partition."""
    pinned = [DATASET_SEED] if spec.dataset.options.get("seed") is not None else []
    return pinned + ([SPLIT_SEED] if spec.test_split.seed is not None else [])


def _seeds(challenge: LoadedChallenge, builder: Builder, kept: dict[str, int]) -> dict[str, Seed]:
    """The build's seeds: pinned ones as declared, the others kept from the vault's last build or drawn now."""
    spec = challenge.spec
    declared = {SPLIT_SEED: spec.test_split.seed}
    if "seed" in builder.options.model_fields:
        declared[DATASET_SEED] = spec.dataset.options.get("seed")
    return {key: _seed(pinned, kept.get(key)) for key, pinned in sorted(declared.items())}


def _seed(pinned: int | None, kept: int | None) -> Seed:
    if pinned is not None:
        return Seed(pinned, "pinned")
    if kept is not None:
        return Seed(kept, "vault")
    return Seed(secrets.randbits(SEED_BITS), "drawn")


def _kept_seeds(vault: Path) -> dict[str, int]:
    """The secret seeds of the vault's last build: reusing them keeps a running event's labels as they are."""
    try:
        kept = read_vault_manifest(vault)
    except CodefestError:
        return {}
    if kept.legacy:
        return {}
    found = {DATASET_SEED: kept.dataset_seed, SPLIT_SEED: kept.split_seed}
    return {key: seed for key, seed in found.items() if seed is not None and key not in kept.public_seeds}


def _check_pinned_hash(challenge: LoadedChallenge, content: str) -> None:
    pinned = challenge.spec.dataset.sha256
    if pinned and pinned != content:
        raise CodefestError(
            f"{challenge.folder / 'challenge.yaml'}: the dataset built has sha256 {content}, "
            f"but key 'dataset.sha256' expects {pinned}",
            "the builder or its options changed: if that is intended, set dataset.sha256 to the new hash "
            "and raise dataset.version",
        )


def _private_header(
    challenge: LoadedChallenge, content: str, counts: dict[str, int], seeds: dict[str, Seed]
) -> dict[str, Any]:
    """What only the vault says: the options and seeds that rebuild the labels, and the hashes that verify them."""
    spec = challenge.spec
    public_seeds = [key for key, seed in seeds.items() if seed.pinned]
    secret = [seed.value for seed in seeds.values() if not seed.pinned]
    no_seed = {"seed": None, "seed_pinned": False}
    return {
        "codefest_version": __version__,
        "rows": counts,
        "dataset": {
            **spec.dataset.model_dump(exclude={"sha256"}),
            **(seeds[DATASET_SEED].record() if DATASET_SEED in seeds else no_seed),
            "sha256": _signed_name(content, secret),
            "content_sha256": content,
        },
        "test_split": {"public_fraction": spec.test_split.public_fraction, **seeds[SPLIT_SEED].record()},
        "public_seeds": public_seeds,
        "labels_public": bool(public_seeds),
    }


def _signed_name(content: str, secret: list[int]) -> str:
    """The dataset's name in published score signatures: keyed with the secret seeds, so it verifies no guess."""
    if not secret:
        return content
    key = " ".join(map(str, secret)).encode()
    return hmac.new(key, content.encode(), hashlib.sha256).hexdigest()


def _checked_labels(data: DatasetDict, spec: Challenge) -> DatasetDict:
    """The data as the task's label checker (its definition's `label_checker`) returns it, if the task has one."""
    check = TASKS.get(spec.task).load("label_checker")
    return data if check is None else check(data, spec)


def _check_schema(data: DatasetDict, task: str, builder: str) -> None:
    """A builder that returns other columns is a bug in that builder; say which one."""
    expected = {split: FEATURES[task] for split in SPLITS} | (
        {"corpus": corpus_features()} if TASKS.get(task).corpus else {}
    )
    if set(data) != set(expected):
        raise CodefestError(f"builder '{builder}' returned splits {sorted(data)}, expected {sorted(expected)}")
    for split, features in expected.items():
        if data[split].features != features:
            raise CodefestError(f"builder '{builder}': split '{split}' has columns {data[split].features}")
        if len(data[split]) == 0:
            raise CodefestError(f"builder '{builder}': split '{split}' is empty", "give the builder more data")


def gold_file(folder: Path, task: str, split: str) -> Path:
    """Where a split's labels are: the bundle's dev and train files, the vault's test file."""
    if TASKS.get(task).gold_format == "qrels":
        return folder / f"{split}.qrels"
    return folder / ("test-labels.jsonl" if split == "test" else f"{split}.jsonl")


def write_splits(data: DatasetDict, task: str, bundle: Path, vault: Path) -> dict[str, Path]:
    """Public files in the bundle, test labels in the vault only; returns 'bundle/NAME' or 'vault/NAME' -> path."""
    info = TASKS.get(task)
    qrels_gold = info.gold_format == "qrels"
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

    if info.corpus:
        jsonl(bundle, "corpus.jsonl", "corpus", corpus_features())
    for split in ("train", "dev"):
        jsonl(bundle, f"{split}.jsonl", split, info.inputs if qrels_gold else [*info.inputs, *info.labels])
        if qrels_gold:
            qrels(bundle, split)
    jsonl(bundle, "test.jsonl", "test", info.inputs)
    if qrels_gold:
        qrels(vault, "test")
    else:
        jsonl(vault, gold_file(vault, task, "test").name, "test", ["id", *info.labels])
    return files


def _content_hash(files: dict[str, Path]) -> str:
    """One hash over data files; over the vault's too, it verifies the test labels, so it stays in the vault."""
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


def _write_manifest(folder: Path, header: Mapping[str, object]) -> None:
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
        os.chmod(self.tmp, 0o700)  # the workspace is its owner's; participants get the bundle as a copy
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
