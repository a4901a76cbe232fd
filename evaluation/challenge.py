"""Scoring against a challenge: its options, its metrics, and its public labels from the built bundle."""

from __future__ import annotations

from pathlib import Path

from codefest.challenges.spec import Challenge
from codefest.core.errors import CodefestError
from codefest.core.workspace import Workspace
from codefest.evaluation.scorers import ScoringOptions, scoring_options
from codefest.evaluation.scoring import DEFAULT_RESAMPLES, DEFAULT_SEED, make_signature
from codefest.shared_datasets.heldout import MANIFEST, gold_file, read_manifest

PUBLIC_SPLITS = ("train", "dev")


def options_for(spec: Challenge) -> ScoringOptions:
    """The scoring options a challenge declares (its task's options say which); the rest keep the harness's
    defaults."""
    return scoring_options(spec.options.scoring())


def public_gold(spec: Challenge, split: str, root: Path) -> tuple[Path, dict[str, str]]:
    """(gold file of a public split, provenance for the signature); the bundle must have been built."""
    if split not in PUBLIC_SPLITS:
        raise CodefestError(
            f"split '{split}' has no public labels; choose one of {', '.join(PUBLIC_SPLITS)}",
            "test labels stay in the organisers' vault: submit test predictions to the organisers",
        )
    bundle = Workspace(root).bundle(spec.slug)
    if not (bundle / MANIFEST).is_file():
        raise CodefestError(
            f"the bundle of '{spec.slug}' is not built in {bundle.parent}",
            f"run: codefest data build {spec.slug}   (or set CODEFEST_HOME to where it was built)",
        )
    gold = gold_file(bundle, spec.task, split)
    provenance = {
        "challenge": f"{spec.slug}:{spec.version}",
        "dataset": _bundle_sha256(spec, bundle)[:12],
        "split": split,
    }
    return gold, provenance


def _bundle_sha256(spec: Challenge, bundle: Path) -> str:
    """The hash over the bundle's data: dev scores use public files only, so they are signed with nothing private."""
    manifest = read_manifest(bundle)
    if "bundle_sha256" not in manifest:
        raise CodefestError(
            f"the bundle of '{spec.slug}' in {bundle} was built by an older codefest",
            f"organisers: run codefest data build {spec.slug}; teams: download the organisers' new bundle",
        )
    return manifest["bundle_sha256"]


def evaluation_signature(spec: Challenge, dataset_sha256: str) -> str:
    """The signature of test-set evaluations as the challenge declares them now; the leaderboard ranks only these."""
    provenance = {"challenge": f"{spec.slug}:{spec.version}", "dataset": dataset_sha256[:12], "split": "test"}
    return make_signature(spec.task, options_for(spec), DEFAULT_RESAMPLES, DEFAULT_SEED, provenance)
