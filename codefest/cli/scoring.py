"""`codefest score`: a participant's own scoring, against public labels or a gold file."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from codefest.cli.common import err, out
from codefest.core.errors import CodefestError
from codefest.tasks import task_folders

if TYPE_CHECKING:
    from codefest.evaluation.problems import Problem
    from codefest.evaluation.scorers import ScoringOptions


TASK_NAMES = ", ".join(sorted(task_folders()))  # the folders: no task's code is imported for --help


def score(
    slug: Annotated[str | None, typer.Argument(help="A challenge, to score against its public labels.")] = None,
    file: Annotated[Path | None, typer.Argument(help="Predictions to score against the challenge.")] = None,
    split: Annotated[str, typer.Option(help="The challenge's public split with labels: dev or train.")] = "dev",
    task: Annotated[str | None, typer.Option(help=f"Standalone: the task ({TASK_NAMES}).")] = None,
    gold: Annotated[Path | None, typer.Option(help="Standalone: the gold file.")] = None,
    predictions: Annotated[Path | None, typer.Option(help="Standalone: the predictions file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap.")] = 12345,
    top_k: Annotated[int | None, typer.Option(min=1, help="Classification: symbols counted by precision/F1.")] = None,
    threshold: Annotated[float | None, typer.Option(help="Classification: count symbols scored at least this.")] = None,
    target_lang: Annotated[str | None, typer.Option(help="Translation: target language (picks the tokenizer).")] = None,
    depth: Annotated[int | None, typer.Option(min=1, help="Search: most documents per topic.")] = None,
    level: Annotated[
        int | None, typer.Option(min=1, help="Search: the least grade counted relevant (trec_eval -l).")
    ] = None,
) -> None:
    """Score predictions against a challenge's dev labels (SLUG FILE) or a gold file (--task --gold --predictions)."""
    from codefest.evaluation.problems import InvalidSubmission, counted, listing
    from codefest.evaluation.scoring import score_files

    if task is not None:
        if gold is None or predictions is None or slug is not None:
            raise CodefestError(
                "standalone scoring needs --task, --gold and --predictions, and no challenge",
                "codefest score --task search --gold qrels.txt --predictions run.txt",
            )
        from codefest.evaluation.scorers import ScoringOptions, scorer_for

        scorer_for(task)  # an unknown task fails here, naming the valid ones
        base, provenance, only, target = ScoringOptions(lenient=True), {"gold": _short_hash(gold)}, None, predictions
    else:
        if slug is None or file is None:
            raise CodefestError(
                "give a challenge and a predictions file, or --task with --gold and --predictions",
                "codefest score ipc-classification predictions.jsonl --split dev",
            )
        from codefest.challenges.discovery import load
        from codefest.core.workspace import home
        from codefest.evaluation.challenge import options_for, public_gold

        spec = load(slug).spec
        task, base = spec.task, options_for(spec)
        gold, provenance = public_gold(spec, split, home())
        only, target = [m.name for m in spec.metrics], file
    options = _override(
        base, top_k=top_k, threshold=threshold, target_language=target_lang, ranking_depth=depth, relevance_level=level
    )
    try:
        result = score_files(
            task, gold, target, options, resamples=bootstrap, seed=seed, provenance=provenance, only=only
        )
    except InvalidSubmission as invalid:  # scoring one's own file: no quota to speak of
        if slug is not None:
            other_split(slug, split, target, invalid.total)
        scored = split if slug is not None else "gold"
        listed = listing([_against(p, scored) for p in invalid.problems], invalid.total, invalid.stopped)
        raise CodefestError(
            f"{target} cannot be scored ({counted(invalid.total, invalid.stopped)}):\n{listed}",
            "correct the file and score it again",
        ) from None
    for warning in result.warnings:  # paths and lines are the user's text: printed as they are
        err.print(f"warning: {warning}", markup=False, highlight=False, soft_wrap=True, emoji=False)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
        return
    table = Table("metric", "value", "95% interval", title=f"{task}: {result.n_items} items")
    reasons = result.not_computable()
    for name, value in result.metrics.items():
        if name in reasons:
            table.add_row(name, reasons[name], "")  # our own text, without markup
            continue
        table.add_row(name, f"{value.value:.4f}", f"[{value.ci_low:.4f}, {value.ci_high:.4f}]")
    out.print(table)
    out.print(f"signature: {result.signature}", highlight=False, soft_wrap=True, markup=False, emoji=False)


# "test" where the readers name the items a file is checked against, outside quoted values (the participant's own)
_TEST_ITEMS = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|\btest (?=(?:items?|item's|ids?|file|topics?)\b)""")


def _against(problem: Problem, scored: str) -> Problem:
    """The problem with the split it was checked against named: the readers say "test", as evaluations need, but
    `codefest score` checks a file against dev (or train, or a gold file), and "not a test item" would mislead."""

    def name(text: str) -> str:
        return _TEST_ITEMS.sub(lambda found: found[1] or f"{scored} ", text)

    return replace(problem, what=name(problem.what), fix=name(problem.fix))


def other_split(slug: str, split: str, file: Path, problems: int) -> None:
    """Say once that a file predicts another split's items (test predictions scored against dev, dev predictions
    submitted, say), rather than calling each of its ids "not a test item"; returns if no other split fits better.

    `split` is what the file was checked against: dev or train for `codefest score`, test for `codefest submit`."""
    from codefest.challenges.discovery import load
    from codefest.core.workspace import Workspace, home
    from codefest.evaluation.challenge import PUBLIC_SPLITS, options_for
    from codefest.evaluation.intake import TEST_INPUTS
    from codefest.evaluation.problems import Problems
    from codefest.evaluation.reading import Limits
    from codefest.evaluation.scorers import scorer_for
    from codefest.shared_datasets.heldout import gold_file

    spec = load(slug).spec
    scorer, bundle = scorer_for(spec.task), Workspace(home()).bundle(slug)
    for other in ("test", *PUBLIC_SPLITS):
        source = bundle / TEST_INPUTS if other == "test" else gold_file(bundle, spec.task, other)
        if other == split or not source.is_file():
            continue
        items = scorer.read_inputs(source) if other == "test" else scorer.gold_items(scorer.read_gold(source))
        found = Problems(file)
        scorer.read_predictions(file, items, found, Limits(), options_for(spec))
        if found.total * 4 >= problems:  # no better a fit: the file's own problems are the news
            continue
        if split == "test":
            raise CodefestError(
                f"{file} predicts the {other} items, and a submission predicts the test items ({bundle / TEST_INPUTS})",
                f"submit predictions of the test items; score {other} predictions here: "
                f"codefest score {slug} {file} --split {other}",
            )
        if other == "test":
            raise CodefestError(
                f"{file} predicts the test items, and codefest score scores against the {split} split's labels "
                "(the test labels stay in the organisers' vault)",
                f"score predictions of the {split} items here; send test predictions to be evaluated: "
                f"codefest submit {slug} {file}",
            )
        raise CodefestError(
            f"{file} predicts the {other} items, and this scores against the {split} split",
            f"add --split {other}: codefest score {slug} {file} --split {other}",
        )


def _override(base: ScoringOptions, **changes: Any) -> ScoringOptions:
    """The challenge's (or default) options, with what was given on the command line."""
    return replace(base, **{key: value for key, value in changes.items() if value is not None})


def _short_hash(path: Path) -> str:
    from codefest.shared_datasets.files import sha256_file

    if not path.is_file():
        raise CodefestError(f"gold file {path} not found", "give the path of the reference file")
    return sha256_file(path)[:12]
