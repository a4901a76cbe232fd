"""Simulated teams' own models for `codefest demo`: the pilot's model with other settings, fitted in one process.

Run with the pilot's `src` on PYTHONPATH, as a team runs its code:
`python -m codefest.demo_variant --package PKG JOB [JOB ...]`, each JOB a JSON object
`{"bundle": FOLDER, "output": FILE, "params": {...}, "trivial": false}`. One process fits them all, so the
libraries are imported once. It imports the pilot's `model` and `data` modules by name: any task's template works.
"""

from __future__ import annotations

import argparse
import json
from importlib import import_module
from pathlib import Path


def predictions(package: str, job: dict) -> list[dict]:
    """Test predictions of the pilot's Model fitted with the job's params on its bundle, or of the trivial floor."""
    data = import_module(f"{package}.data")
    model = import_module(f"{package}.model")
    bundle = data.Bundle(Path(job["bundle"]))
    if job.get("trivial"):
        return model.trivial(bundle, "test")
    return model.Model(**job.get("params", {})).fit(bundle).predict(bundle, "test")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True, help="the pilot's package, importable from PYTHONPATH")
    parser.add_argument("jobs", nargs="+", type=json.loads, help='{"bundle", "output", "params", "trivial"}, as JSON')
    args = parser.parse_args(argv)
    data = import_module(f"{args.package}.data")
    for job in args.jobs:
        data.write_predictions(predictions(args.package, job), Path(job["output"]))


if __name__ == "__main__":
    main()
