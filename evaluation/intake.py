"""What is checked of a submission when it arrives, before the ledger queues it: only public files are read.

A predictions file is validated against the public test inputs (the bundle's test.jsonl), never the labels, so an
invalid file is answered at once and no answer depends on a held-out label; a packed pilot is checked whole and
unpacked (`uploads`), then bounded like any pilot folder and fingerprinted as `codefest evaluate --code` does, so
the same pilot sent as a folder, a tar.gz or a zip is one submission.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from codefest.challenges.spec import Challenge
from codefest.evaluation.challenge import options_for
from codefest.evaluation.problems import Problems
from codefest.evaluation.reading import Limits
from codefest.evaluation.scorers import scorer_for
from codefest.evaluation.submissions import fingerprint
from codefest.evaluation.uploads import ArchiveLimits, unpack

TEST_INPUTS = "test.jsonl"  # in the bundle: the test items without their labels


def check_predictions(spec: Challenge, bundle: Path, path: Path, limits: Limits = Limits()) -> None:
    """Raises InvalidSubmission listing the file's problems (up to MAX_LISTED, and how many in all)."""
    scorer = scorer_for(spec.task)
    items = scorer.read_inputs(bundle / TEST_INPUTS)
    problems = Problems(path)
    scorer.read_predictions(path, items, problems, limits, options_for(spec))
    problems.check()


def unpack_pilot(archive: Path, kind: str, target: Path, limits: ArchiveLimits | None = None) -> str:
    """Unpack a packed pilot into the new folder `target` (refused whole when unsafe: UnsafeArchive) and return its
    fingerprint; a folder over the pilot limits raises CodefestError and is removed."""
    unpack(archive, kind, target, limits)
    try:
        return fingerprint(target)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
