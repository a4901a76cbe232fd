"""`codefest demo`: a whole code fest on the embedded default, offline, as organisers and teams would run it.

For each challenge: build its public bundle and private vault; bake the organisers' pilot from the task's template
and train it with its own training (logged to the workspace's MLflow store); enrol the simulated teams in the ledger
(each gets its token); have them submit to the event's service, `codefest serve` started on a free localhost port
(teams with a baseline and a variant of it, and a code submission run in the sandbox by the service's worker), through
the client `codefest submit` uses, and wait for their scores; the organisers evaluate their baseline and a file a team
handed them with `codefest evaluate`'s code; build, print, write and publish the leaderboard. Everything lands under
<workspace>/demo/ (the service's log too) and in the store. A second run reuses all of it: the same files are
duplicates, so nothing is scored twice and the leaderboards stay the same.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from rich.console import Console

from codefest.console import Steps, tagged
from codefest.core.errors import CodefestError
from codefest.core.workspace import Workspace

if TYPE_CHECKING:
    from codefest.challenges.discovery import LoadedChallenge
    from codefest.evaluation.evaluate import Outcome
    from codefest.leaderboard.board import Board

ORGANISERS = "organisers"
CODE_TEAM = "office-d"
TAIL_LINES = 15  # of a failed pilot command's stderr
SERVICE_START_SECONDS = 120.0  # how long `codefest serve` may take to answer before the demo gives up
SERVICE_STOP_SECONDS = 45.0  # how long it may take to stop (it lets its worker finish) before it is killed
POLL_SECONDS = 1.0  # between two looks at the submissions the service's workers are evaluating
ANSWER_SECONDS = 600.0  # an answer of the service while the machine also trains and evaluates (a client's: 30 s)
SERVICE_WORKERS = 2  # evaluations at once: one per core of a small machine


@dataclass(frozen=True)
class Variant:
    """A simulated team's model: the pilot's Model with other settings or more data, or the template's floor."""

    label: str
    params: dict[str, object] = field(default_factory=dict)
    with_dev: bool = False  # fit on train and dev together
    trivial: bool = False


TRIVIAL = Variant("trivial floor", trivial=True)


def team_variants(task: str) -> list[tuple[str, Variant]]:
    """Each team's second model, as the task defines it (`demo_variants`): more training data where the model learns
    from it, other settings otherwise."""
    from codefest.tasks import TASKS

    variants = TASKS.get(task).demo_variants
    return [(team, Variant(v.label, dict(v.params), with_dev=v.with_dev)) for team, v in variants.items()]


@dataclass(frozen=True)
class Planned:
    """One submission of the demo: a predictions file, or a pilot folder for a code submission."""

    team: str
    label: str
    path: Path
    code: bool = False
    baseline: bool = False
    by_hand: bool = False  # handed to the organisers, who evaluate it with `codefest evaluate`, not via the service


@dataclass(frozen=True)
class Layout:
    """Where the demo writes: <workspace>/demo/, beside the bundles, vaults and store it shares with codefest."""

    root: Path

    @property
    def base(self) -> Path:
        return Workspace(self.root).demo

    @property
    def pilots(self) -> Path:
        return self.base / "pilots"

    @property
    def leaderboards(self) -> Path:
        return self.base / "leaderboards"

    def submissions(self, slug: str) -> Path:
        return self.base / "submissions" / slug

    @property
    def service_log(self) -> Path:
        """What the demo's `codefest serve` printed: its requests and its worker's log."""
        return self.base / "serve.log"


@dataclass(frozen=True)
class Published:
    """A challenge's leaderboard: the board, its page on disk, and where MLflow shows it."""

    board: Board
    page: Path
    experiment_id: str
    run_id: str | None


# -- the whole demo -------------------------------------------------------------------------------------------


def bundled_slugs() -> list[str]:
    from codefest.challenges.discovery import BUNDLED, SPEC_FILE

    return sorted(path.parent.name for path in BUNDLED.glob(f"*/{SPEC_FILE}"))


@dataclass
class Round:
    """One challenge's submissions: planned, as the service first answered, and the organisers' own outcomes."""

    item: LoadedChallenge
    planned: list[Planned]
    by_hand: list[Outcome] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)  # the online ones, as the service first answered
    evaluated: Future[list[Outcome]] | None = None  # the by-hand ones, evaluating

    @property
    def online(self) -> list[Planned]:
        return [s for s in self.planned if not s.by_hand]


def run(slugs: list[str], out: Console, err: Console) -> None:
    """The demo on the given challenges (the bundled ones if none), in the workspace (CODEFEST_HOME).

    The challenges are prepared at once (built, their pilots trained, the teams' files made: mostly subprocesses,
    so they share the cores), the service starting meanwhile; each challenge's files are submitted as soon as they
    are ready, so the service's workers evaluate while the other challenges still train.
    """
    from codefest.challenges.discovery import load
    from codefest.core import collector
    from codefest.core.workspace import home

    collector.started()  # a long run, in threads: the collector as usual
    started = time.monotonic()
    _STOPPING.clear()
    layout = Layout(home().resolve())  # absolute: cookiecutter changes the working directory while it bakes
    challenges = [load(slug) for slug in dict.fromkeys(slugs or bundled_slugs())]  # unknown slugs fail first
    tokens: dict[str, str] = {}  # each team's token, issued once a run
    with stopped_by_sigterm(), Steps(err) as steps, Service.started(layout, steps) as service:
        pilots = {item.spec.slug: bake_pilots(item, layout, steps) for item in challenges}  # one at a time: chdir
        rounds: list[Round] = []
        by_hand = ThreadPoolExecutor(max_workers=1, thread_name_prefix="organisers")  # one evaluation at a time
        opened = by_hand.submit(open_store, challenges, layout.root, steps)  # while the challenges build
        serving = by_hand.submit(service.start_after, opened)  # it answers a few seconds later
        enrolled = by_hand.submit(enrol_teams, layout.root, TEAMS, tokens, steps)

        def send(item: LoadedChallenge, planned: list[Planned], what: str) -> list[dict[str, Any]]:
            serving.result()
            enrolled.result()  # the teams have their tokens
            return submit_online(item, planned, what, service, tokens, steps)

        with by_hand, ThreadPoolExecutor(max_workers=len(challenges), thread_name_prefix="demo") as pool:
            prepared = {
                pool.submit(prepare, item, pilots[item.spec.slug], layout, steps, send, opened): item
                for item in challenges
            }
            try:
                for future in as_completed(prepared):  # the first ready is the first submitted
                    planned, code_sent = future.result()
                    rounds.append(Round(prepared[future], planned))
                    submit_round(rounds[-1], code_sent, layout.root, service, tokens, steps, by_hand)
                for one in rounds:
                    one.by_hand = one.evaluated.result() if one.evaluated else []
            except BaseException:
                stop_children()
                pool.shutdown(cancel_futures=True)
                by_hand.shutdown(cancel_futures=True)
                raise
        rounds.sort(key=lambda one: challenges.index(one.item))
        decided = follow(rounds, service, tokens, steps)
        service.request_stop()  # every score is in: it stops while the leaderboards are built from the ledger
        published = [show_round(one, decided, layout, out, steps) for one in rounds]
    show_where(published, layout, out)
    err.print(f"demo done in {time.monotonic() - started:.0f} s", highlight=False)


def bake_pilots(item: LoadedChallenge, layout: Layout, steps: Steps) -> Path:
    """The organisers' pilot and the code team's, baked once; cookiecutter works in the template's folder, so
    nothing else runs meanwhile. The organisers' pilot is returned."""
    pilot = ensure_pilot(item, ORGANISERS, layout, steps)
    ensure_pilot(item, CODE_TEAM, layout, steps)
    return pilot


def open_store(challenges: list[LoadedChallenge], root: Path, steps: Steps) -> None:
    """The workspace's MLflow store and the challenges' experiments, made here before the trainings and the
    service's workers write to it at once (a new store is made by one process)."""
    from codefest.evaluation.tracking import Tracker

    with steps.step("opening the workspace's MLflow store"):
        for item in challenges:
            Tracker(item.spec.slug, root)


Send: TypeAlias = "Callable[[LoadedChallenge, list[Planned], str], list[dict[str, Any]]]"  # submit_online, bound


def prepare(
    item: LoadedChallenge, pilot: Path, layout: Layout, steps: Steps, send: Send, opened: Future[None]
) -> tuple[list[Planned], list[dict[str, Any]]]:
    """A challenge up to its teams' files: built; office-d's pilot sent to the service at once, so that a worker
    runs it in the sandbox while the organisers' pilot trains (once the store is `opened`: it logs there) and the
    teams fit their variants (two subprocesses at once); then the baseline's predictions and the files made from
    them. The planned submissions, the code one last, and the service's first answer to the code one."""
    ensure_built(item, layout.root, steps)
    code = code_submission(item, layout)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix=f"{item.spec.slug}-teams") as pool:
        code_sent = pool.submit(send, item, [code], f"{item.spec.slug}: {code.team} submits its pilot to the service")
        variants = pool.submit(variant_submissions, item, pilot, layout, steps)
        opened.result()
        ensure_trained(pilot, item, layout.root, steps)
        baseline, as_baked, broken = baseline_submissions(item, pilot, layout, steps)
        trivial, *improved = variants.result()
        return [baseline, as_baked, trivial, broken, *improved, code], code_sent.result()


def submit_round(
    one: Round,
    code_sent: list[dict[str, Any]],
    root: Path,
    service: Service,
    tokens: dict[str, str],
    steps: Steps,
    by_hand: ThreadPoolExecutor,
) -> None:
    """The teams' files go to the service (their pilot went earlier: `code_sent`); the organisers evaluate theirs by
    hand in `by_hand`'s thread, so that the next challenge ready is submitted meanwhile (an evaluation waits its
    turn at the store while the service's workers write to it).

    The organisers evaluate on their own machine with `codefest evaluate`'s code, recorded in the same ledger: their
    baseline (the service takes only participants' submissions), and the file office-c handed them, which is
    invalid: the service refuses an invalid file at the door (`codefest submit` does, before uploading), so it is
    never recorded as evaluated; `codefest evaluate` records it as `invalid`, problems and all, in MLflow."""
    files = [s for s in one.online if not s.code]
    one.sent = submit_online(
        one.item, files, f"{one.item.spec.slug}: the teams submit to the service", service, tokens, steps
    )
    one.sent += code_sent  # the code submission is planned last
    handed = [s for s in one.planned if s.by_hand]
    one.evaluated = by_hand.submit(lambda: [evaluate(one.item, root, s, steps) for s in handed])


def show_round(one: Round, decided: Decided, layout: Layout, out: Console, steps: Steps) -> Published:
    """A challenge's outcomes, then its leaderboard: built, printed, written and published."""
    from codefest.leaderboard.terminal import table

    item, primary = one.item, one.item.spec.primary_metric
    out.rule(f"{item.spec.title} ({item.spec.slug})")
    for outcome, submission in zip(one.by_hand, (s for s in one.planned if s.by_hand), strict=True):
        show_outcome(outcome, submission, primary, out)
    board = decided.boards[item.spec.slug]
    for submission, first in zip(one.online, one.sent, strict=True):
        said = line(item, first, decided.submissions[first["id"]], board)
        out.print(tagged(f"{said.status:>9}", said.colour, f"{submission.team} ({submission.label}): {said.detail}"))
    published = publish_leaderboard(item, layout, steps)
    out.print(table(published.board, out.width))
    return published


def _rel(path: Path) -> str:
    """`path` relative to the folder the demo was started in, where it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- challenges -----------------------------------------------------------------------------------------------


def _manifest(folder: Path) -> dict | None:
    from codefest.shared_datasets.heldout import read_manifest

    try:
        return read_manifest(folder)
    except (OSError, ValueError):
        return None


def _intact(folder: Path, manifest: dict) -> bool:
    """Every file the manifest lists is there with its recorded hash."""
    from codefest.shared_datasets.files import sha256_file

    files = manifest.get("files", {})
    return all(
        (folder / name).is_file() and sha256_file(folder / name) == meta["sha256"] for name, meta in files.items()
    )


def is_built(item: LoadedChallenge, root: Path) -> bool:
    """The bundle and the vault hold, intact, the dataset the challenge declares (and its pinned hash, if any).

    What was declared is read from the vault: the bundle says nothing of the builder's options or seeds.
    """

    spec = item.spec
    bundle, vault = Workspace(root).bundle(spec.slug), Workspace(root).vault(spec.slug)
    public, private = _manifest(bundle), _manifest(vault)
    if (
        public is None
        or private is None
        or {public.get("challenge_version"), private.get("challenge_version")} != {spec.version}
    ):
        return False
    dataset = private.get("dataset", {})
    drawn = {} if "seed" in spec.dataset.options else {"seed"}  # a secret seed drawn at build time, kept in the vault
    options = {key: value for key, value in dataset.get("options", {}).items() if key not in drawn}
    declared = (spec.dataset.builder, spec.dataset.version, spec.dataset.options)
    if (dataset.get("builder"), dataset.get("version"), options) != declared:
        return False
    if public.get("bundle_sha256") != private.get("bundle_sha256") or not (
        _intact(bundle, public) and _intact(vault, private)
    ):
        return False
    return spec.dataset.sha256 is None or dataset.get("content_sha256") == spec.dataset.sha256


def ensure_built(item: LoadedChallenge, root: Path, steps: Steps) -> None:
    """Build the bundle and the vault, unless they already hold the declared dataset."""
    from codefest.shared_datasets.heldout import build

    slug = item.spec.slug
    if is_built(item, root):
        steps.say(f"{slug}: bundle and vault already built with the declared dataset; reused")
        return
    forget_derived(slug, Layout(root))
    with steps.step(f"{slug}: building its bundle and vault") as progress:
        result = build(item, root, progress)
    steps.console.print(tagged("built", "green", f"{slug} (dataset id {result.dataset_sha256})"))


def forget_derived(slug: str, layout: Layout) -> None:
    """The demo's files made from an earlier build of the challenge (another version, or a damaged bundle): the
    teams' files would name test ids the new build lacks, and the trained models learnt from other data."""
    shutil.rmtree(layout.submissions(slug), ignore_errors=True)
    for team in (ORGANISERS, CODE_TEAM):
        shutil.rmtree(layout.pilots / f"{team}-{slug}" / "models", ignore_errors=True)


# -- pilots ---------------------------------------------------------------------------------------------------


def ensure_pilot(item: LoadedChallenge, team: str, layout: Layout, steps: Steps) -> Path:
    """The team's pilot for the challenge, baked once from the task's template; later runs reuse it unchanged."""
    from codefest.scaffold import bake

    spec = item.spec
    pilot = layout.pilots / f"{team}-{spec.slug}"
    if (pilot / ".cookiecutter.json").is_file():
        return pilot
    if pilot.exists():
        raise CodefestError(
            f"{pilot} exists but is not a baked pilot", f"remove it, then run the demo again: rm -r {pilot}"
        )
    answers = {"project_name": f"{team} {spec.slug}", "team": team, "challenge": spec.slug}
    try:
        with steps.step(f"{spec.slug}: baking {pilot.name} from the {spec.task} template"):
            baked = bake(spec.task, layout.pilots, True, {**answers, "codefest_home": str(layout.root)})
    except BaseException:
        shutil.rmtree(pilot, ignore_errors=True)  # half-baked: the next run bakes it again
        raise
    steps.console.print(tagged("baked", "green", f"{_rel(baked)} from the {spec.task} template (team {team})"))
    return baked


def package_of(pilot: Path) -> str:
    return json.loads((pilot / ".cookiecutter.json").read_text(encoding="utf-8"))["package_name"]


def run_in_pilot(pilot: Path, args: list[str], what: str, env: dict[str, str] | None = None) -> str:
    """codefest's interpreter in the pilot's folder with its src importable, as the team runs it; its stdout."""
    paths = [str(pilot / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(paths)}
    command = [sys.executable, *args]
    pipe = subprocess.PIPE
    with subprocess.Popen(command, cwd=pilot, env=environment, stdout=pipe, stderr=pipe, text=True) as process:
        with _CHILDREN_LOCK:
            _CHILDREN.add(process)
            if _STOPPING.is_set():  # the demo is ending: start nothing more
                process.terminate()
        try:
            stdout, stderr = process.communicate()
        finally:
            with _CHILDREN_LOCK:
                _CHILDREN.discard(process)
    if process.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-TAIL_LINES:])
        raise CodefestError(
            f"{what} failed with exit code {process.returncode}:\n{tail}",
            f"run it yourself to see all of its output: cd {pilot} && PYTHONPATH=src {shlex.join(command)}",
        )
    return stdout


_CHILDREN: set[subprocess.Popen[str]] = set()  # the pilots' processes running now, from any thread
_CHILDREN_LOCK = threading.Lock()
_STOPPING = threading.Event()


def stop_children() -> None:
    """End the pilots' processes still running (the demo was interrupted, or another step failed), so the threads
    waiting for them return at once."""
    with _CHILDREN_LOCK:
        _STOPPING.set()
        for process in _CHILDREN:
            process.terminate()


@contextlib.contextmanager
def stopped_by_sigterm() -> Iterator[None]:
    """SIGTERM ends the demo as Ctrl+C does, through its cleanup (the service stopped, the pilots' processes ended),
    with exit code 143."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def is_trained(pilot: Path, root: Path) -> bool:
    """A saved model and a finished training run in the pilot's MLflow experiment."""
    from codefest.evaluation.tracking import has_finished_run

    models = pilot / "models"
    return models.is_dir() and any(models.iterdir()) and has_finished_run(root, pilot.name)


def ensure_trained(pilot: Path, item: LoadedChallenge, root: Path, steps: Steps) -> None:
    """The pilot's own training on the public bundle, logged to the workspace's store so `codefest ui` shows it."""
    from codefest.evaluation.tracking import tracking_uri

    if is_trained(pilot, root):
        steps.say(f"{pilot.name}: already trained; reused")
        return
    args = ["-m", f"{package_of(pilot)}.train", "--bundle", str(Workspace(root).bundle(item.spec.slug))]
    with steps.step(f"{item.spec.slug}: training the baseline of {pilot.name} (logged to MLflow)"):
        said = run_in_pilot(pilot, args, f"training {pilot.name}", {"MLFLOW_TRACKING_URI": tracking_uri(root)})
    summary = said.strip().split(", ")[0] or "trained"  # the pilot's line, up to its first dev metric
    steps.console.print(tagged(summary, "green", f"({pilot.name})"))


# -- the teams' submissions -----------------------------------------------------------------------------------


def _partial(path: Path) -> Path:
    """Where `path` is written before it is renamed, so an interrupted run never leaves half a file."""
    return path.with_name(f".{path.name}.partial")


def _fresh_partial(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    _partial(path).unlink(missing_ok=True)
    return _partial(path)


def ensure_file(path: Path, make: Callable[[Path], object]) -> Path:
    """`path`, made once by `make`; later runs reuse it, so the same file is submitted again."""
    if not path.is_file():
        partial = _fresh_partial(path)
        make(partial)
        partial.rename(path)
    return path


def pilot_predictions(pilot: Path, bundle: Path, target: Path) -> None:
    """Test predictions from the pilot's entry point (the code-submission contract) with its trained model."""
    args = ["-m", f"{package_of(pilot)}.predict", "--input", str(bundle / "test.jsonl"), "--output", str(target)]
    run_in_pilot(pilot, args, f"predicting with {pilot.name}")


def merged_bundle(bundle: Path, target: Path) -> Path:
    """A copy of the bundle whose training split is train and dev together: more data for a team's variant."""
    target.mkdir(parents=True, exist_ok=True)
    for path in bundle.iterdir():
        if path.is_file() and path.name not in ("train.jsonl", "train.qrels"):
            shutil.copyfile(path, target / path.name)
    for suffix in (".jsonl", ".qrels"):
        parts = [bundle / f"{split}{suffix}" for split in ("train", "dev") if (bundle / f"{split}{suffix}").is_file()]
        if parts:
            texts = [part.read_text(encoding="utf-8") for part in parts]
            merged = "".join(text if text.endswith("\n") else text + "\n" for text in texts)
            (target / f"train{suffix}").write_text(merged, encoding="utf-8")
    return target


def variant_files(
    pilot: Path, bundle: Path, folder: Path, variants: list[tuple[str, Variant]], steps: Steps, slug: str
) -> list[Path]:
    """Each team variant's test predictions, made once; the missing ones are fitted in one process of the pilot."""
    targets = [folder / team / _file_name(variant.label) for team, variant in variants]
    missing = [
        (variant, target) for (_, variant), target in zip(variants, targets, strict=True) if not target.is_file()
    ]
    if not missing:
        return targets
    with tempfile.TemporaryDirectory(prefix="codefest-demo-") as work:
        merged = merged_bundle(bundle, Path(work) / "train-dev") if any(v.with_dev for v, _ in missing) else bundle
        jobs = [
            {
                "bundle": str(merged if variant.with_dev else bundle),
                "output": str(_fresh_partial(target)),
                "params": variant.params,
                "trivial": variant.trivial,
            }
            for variant, target in missing
        ]
        args = ["-m", "codefest.demo_variant", "--package", package_of(pilot), *map(json.dumps, jobs)]
        labels = "; ".join(variant.label for variant, _ in missing)
        with steps.step(f"{slug}: the teams fit their variants ({labels})"):
            run_in_pilot(pilot, args, f"the teams' variants of {pilot.name}")
    for _, target in missing:
        _partial(target).rename(target)
    return targets


def broken_copy(valid: Path, target: Path) -> None:
    """What a team may really send: a record cut short, an id that is not in the test set, an item left out."""
    lines = valid.read_text(encoding="utf-8").splitlines()
    second = {**json.loads(lines[1]), "id": "NOT-A-TEST-ID"}
    kept = [lines[0][: len(lines[0]) // 2], json.dumps(second, ensure_ascii=False), *lines[2:-1]]
    target.write_text("\n".join(kept) + "\n", encoding="utf-8")


def _file_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in ".-" else "-" for c in label.lower()) + ".jsonl"


def baseline_submissions(item: LoadedChallenge, pilot: Path, layout: Layout, steps: Steps) -> list[Planned]:
    """The organisers' baseline from their trained pilot, and the two files made from it: office-a's template as
    baked, and the broken copy office-c hands the organisers (each made once)."""
    slug = item.spec.slug
    bundle, folder = Workspace(layout.root).bundle(slug), layout.submissions(slug)
    baseline = folder / ORGANISERS / "baseline.jsonl"
    if not baseline.is_file():
        with steps.step(f"{slug}: the organisers predict the test set with {pilot.name}"):
            ensure_file(baseline, lambda p: pilot_predictions(pilot, bundle, p))
    as_baked = ensure_file(folder / "office-a" / "template.jsonl", lambda p: shutil.copyfile(baseline, p))
    broken = ensure_file(folder / "office-c" / "predictions.jsonl", lambda p: broken_copy(baseline, p))
    return [
        Planned(ORGANISERS, "baseline: the template's model", baseline, baseline=True, by_hand=True),
        Planned("office-a", "the template's model, as baked", as_baked),
        Planned("office-c", "a broken predictions file", broken, by_hand=True),
    ]


def variant_submissions(item: LoadedChallenge, pilot: Path, layout: Layout, steps: Steps) -> list[Planned]:
    """office-b's trivial floor and each team's own variant (the task's `demo_variants`), fitted once."""
    spec = item.spec
    bundle, folder = Workspace(layout.root).bundle(spec.slug), layout.submissions(spec.slug)
    variants = [("office-b", TRIVIAL), *team_variants(spec.task)]
    paths = variant_files(pilot, bundle, folder, variants, steps, spec.slug)
    return [Planned(team, variant.label, path) for (team, variant), path in zip(variants, paths, strict=True)]


def code_submission(item: LoadedChallenge, layout: Layout) -> Planned:
    """office-d submits its pilot as baked: the service's worker trains and runs it in the sandbox."""
    code = layout.pilots / f"{CODE_TEAM}-{item.spec.slug}"
    return Planned(CODE_TEAM, "code: its freshly baked pilot, run in the sandbox", code, code=True)


# -- evaluation and leaderboard -------------------------------------------------------------------------------


TEAMS = {ORGANISERS: False, "office-a": True, "office-b": True, "office-c": False, CODE_TEAM: True}  # online?


def enrol_teams(root: Path, teams: dict[str, bool], tokens: dict[str, str], steps: Steps) -> None:
    """The organisers enrol the teams before they submit (only a team on the roster may submit) and hand each team
    that submits to the service its token, kept in `tokens` for the rest of the run: the one enrolling issued, else
    a new one (a token is shown once, so an earlier run's is lost; a new one revokes it, as `codefest teams token`
    does)."""
    from codefest.evaluation.roster import add, new_token, open_ledger

    online = sorted(team for team, submits in teams.items() if submits)
    ledger = open_ledger(root)
    try:
        added = add(root, sorted(teams), ledger)
        if added:
            steps.say(f"enrolled {', '.join(added)} (codefest teams add ...)")
        tokens |= {team: token for team, token in added.items() if team in online}
        renewed = [team for team in online if team not in tokens]
        tokens |= {team: new_token(root, team, ledger) for team in renewed}
        if renewed:
            steps.say(f"new tokens for {', '.join(renewed)} (codefest teams token ...)")
    finally:
        ledger.close()


def evaluate(item: LoadedChallenge, root: Path, submission: Planned, steps: Steps) -> Outcome:
    """One submission through the organisers' evaluation: validated, scored (or refused), recorded in MLflow."""
    from codefest.evaluation.evaluate import Evaluator

    text = f"{item.spec.slug}: the organisers evaluate {submission.team} ({submission.label})"
    with steps.step(text) as progress:
        evaluator = Evaluator(item, root, progress)
        if submission.code:
            return evaluator.code(submission.team, submission.path, baseline=submission.baseline)
        return evaluator.predictions(submission.team, submission.path, baseline=submission.baseline)


def show_outcome(outcome: Outcome, submission: Planned, primary: str, out: Console) -> None:
    from codefest.evaluation.records import Status

    colour = {Status.SCORED: "green", Status.DUPLICATE: "yellow"}.get(outcome.status, "red")
    head = f"{submission.team} ({submission.label})"
    if outcome.status == Status.SCORED and primary in outcome.public:
        value = outcome.public[primary]
        detail = f"{primary} {value.value:.4f} [{value.ci_low:.4f}, {value.ci_high:.4f}] on the public part"
    else:
        detail = outcome.message
    out.print(tagged(f"{outcome.status:>9}", colour, f"{head}: {detail}"))


def publish_leaderboard(item: LoadedChallenge, layout: Layout, steps: Steps) -> Published:
    """Build the public leaderboard, write its page to demo/leaderboards/SLUG.html and publish it to MLflow."""
    from codefest.evaluation.records import Part
    from codefest.evaluation.tracking import Refused, Tracker
    from codefest.leaderboard.board import build
    from codefest.leaderboard.export import as_json
    from codefest.leaderboard.page import render
    from codefest.leaderboard.publish import publish

    slug = item.spec.slug
    with steps.step(f"{slug}: building, writing and publishing the leaderboard") as progress:
        board = build(item, layout.root, progress=progress)
        page = render(board)
        path = layout.leaderboards / f"{slug}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        tracker = Tracker(slug, layout.root)
        try:
            run_id: str | None = publish(tracker, Part.PUBLIC, page, as_json(board), public=True)
        except Refused as refused:
            steps.console.print(tagged("not published to MLflow:", "yellow", refused.message))
            run_id = None
    return Published(board, path, tracker.public, run_id)


def command_name() -> str:
    """`codefest` where the shell finds this one; else its path, relative where it is below the current folder
    (`./run` installs into .venv, not onto PATH: `.venv/bin/codefest`, as the README says)."""
    ours = Path(sys.executable).parent / "codefest"
    found = shutil.which("codefest")
    if found and Path(found).resolve() == ours.resolve():
        return "codefest"
    return _rel(ours) if ours.exists() else "codefest"


def in_workspace(command: str, layout: Layout) -> str:
    """`command` as the user must type it to reach this workspace: with CODEFEST_HOME when it was set."""
    if "CODEFEST_HOME" not in os.environ:
        return command
    return f"CODEFEST_HOME={shlex.quote(_rel(layout.root))} {command}"


def show_where(published: list[Published], layout: Layout, out: Console) -> None:
    """What to do next, each command as it must be typed: open the MLflow UI on each challenge's runs and its
    leaderboard page, find the files, serve the event and submit to it."""
    from codefest.evaluation.mlflow_server import remote_store
    from codefest.evaluation.records import Artifact
    from codefest.evaluation.tracking import run_address, runs_address, ui_base

    command = command_name()
    say = functools.partial(out.print, highlight=False, markup=False, soft_wrap=True)
    out.rule("What next")
    if remote_store():
        say(f"The event's tracking server: open {ui_base()} in a browser.")
    else:
        say(f"Start the MLflow UI over this workspace ({_rel(layout.root)}) with:  {in_workspace(command, layout)} ui")
        say(f"then open {ui_base()} in a browser:")
    for item in published:
        say(f"  {item.board.slug}: {runs_address(item.experiment_id)}")
        if item.run_id:
            say(f"    its leaderboard page in MLflow: {run_address(item.experiment_id, item.run_id, Artifact.PAGE)}")
        say(f"    the same page as a file: {_rel(item.page)}")
    say(f"Pilots baked from templates/: {_rel(layout.pilots)}/; submitted files: {_rel(layout.base / 'submissions')}/")
    say(f"The teams submitted to the event's service (its log: {_rel(layout.service_log)}). Serve it yourself with:")
    say(f"  {in_workspace(command, layout)} serve")
    token = in_workspace(f"{command} teams token TEAM", layout)
    say(f"and, for a team, issue its token with `{token}`; the team then submits with:")
    first = published[0].board.slug if published else "SLUG"
    say(f"  CODEFEST_SERVER=http://127.0.0.1:8000 CODEFEST_TOKEN=TOKEN {command} submit {first} PREDICTIONS.jsonl")


# -- the event's service --------------------------------------------------------------------------------------


def free_port() -> int:
    """A localhost port free now (the system's choice); `codefest serve` says so clearly if it is taken meanwhile."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """`codefest serve` over the workspace, a real subprocess on a free localhost port with its evaluation workers;
    its output goes to demo/serve.log. `start` launches it (once the store exists: its workers open MLflow's store
    as they start, and two processes must not both create it) and `url` waits until it answers; `started` stops it
    (SIGTERM, and it lets its workers finish) when the block ends, whatever ends it (Ctrl+C included)."""

    def __init__(self, layout: Layout, steps: Steps) -> None:
        self.layout, self.log, self.steps = layout, layout.service_log, steps
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""
        self.answered = False
        self.signalled = False
        self._waiting = threading.Lock()  # the challenges' threads all wait for its first answer: one of them polls

    @classmethod
    @contextlib.contextmanager
    def started(cls, layout: Layout, steps: Steps) -> Iterator[Service]:
        service = cls(layout, steps)
        try:
            yield service
        finally:
            service.stop()

    def start(self) -> None:
        """Launch `codefest serve`; it imports and opens the ledger while the demo goes on."""
        port = free_port()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "codefest", "serve", "--port", str(port), "--workers", str(SERVICE_WORKERS)]
        env = {**os.environ, "CODEFEST_HOME": str(self.layout.root), "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, env=env, cwd=self.layout.root
            )
        self.address = f"http://127.0.0.1:{port}"

    def start_after(self, store: Future[None]) -> None:
        """Launch it once the workspace's MLflow store exists (its workers open the store as they start, and two
        processes must not both make it); not at all if making the store failed."""
        store.result()
        self.start()

    def url(self) -> str:
        """The server's address, once it answers (started and waited for the first time)."""
        with self._waiting:
            if self.process is None:
                self.start()
            if not self.answered:
                self._wait()
        return self.address

    def _wait(self) -> None:
        import httpx

        assert self.process is not None  # started
        deadline = time.monotonic() + SERVICE_START_SECONDS
        with self.steps.step(f"starting the event's service, codefest serve on {self.address}"):
            while True:
                if self.process.poll() is not None:
                    raise self._failure(f"codefest serve stopped with exit code {self.process.returncode}")
                try:
                    if httpx.get(f"{self.address}/api/v1/challenges", timeout=2.0).is_success:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise self._failure(f"codefest serve did not answer within {SERVICE_START_SECONDS:.0f} s")
                time.sleep(0.3)
        self.answered = True
        self.steps.console.print(
            tagged("serving", "green", f"the event's API on {self.address}/api/v1 (log: {_rel(self.log)})")
        )

    def _failure(self, what: str) -> CodefestError:
        lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-TAIL_LINES:]
        return CodefestError(f"{what}:\n" + "\n".join(lines), f"see its whole log: {self.log}")

    def request_stop(self) -> None:
        """Ask it to stop (SIGTERM), without waiting: its workers finish what they hold, then it exits."""
        if self.process is not None and self.process.poll() is None and not self.signalled:
            self.process.send_signal(signal.SIGTERM)
            self.signalled = True

    def stop(self) -> None:
        """Stop it and wait until it has, killing it if it takes too long."""
        if self.process is None or self.process.poll() is not None:
            return
        self.request_stop()
        try:
            with self.steps.step("stopping the event's service"):
                self.process.wait(timeout=SERVICE_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass(frozen=True)
class Line:
    """What the demo prints of a submission to the service."""

    status: str
    colour: str
    detail: str


@dataclass(frozen=True)
class Decided:
    """What the service finally says: each submission by id (a duplicate: the one it repeats), each public board."""

    submissions: dict[str, dict[str, Any]]
    boards: dict[str, dict[str, Any]]


def submit_online(
    item: LoadedChallenge,
    planned: list[Planned],
    what: str,
    service: Service,
    tokens: dict[str, str],
    steps: Steps,
) -> list[dict[str, Any]]:
    """Each team submits its file or its pilot to the service as `codefest submit` does (validated here first, then
    uploaded), one after the other without waiting: the service's workers take them in turn. The submissions as the
    service first answered."""
    import httpx

    from codefest.cli.participants import connect, send

    slug, address = item.spec.slug, service.url()
    sent: list[dict[str, Any]] = []
    with steps.step(what) as progress:
        for submission in planned:
            client, base = connect(address, tokens[submission.team])
            client.timeout = httpx.Timeout(ANSWER_SECONDS)
            try:
                progress(f"{submission.team} uploads {submission.path.name}")
                kind = "code" if submission.code else "predictions"
                sent.append(send(client, base, slug, submission.path, kind, show_upload=False)[1])
            finally:
                client.close()
    return sent


def follow(rounds: list[Round], service: Service, tokens: dict[str, str], steps: Steps) -> Decided:
    """Every submission as the server has it once decided (a duplicate: the one it repeats), polled while the
    workers evaluate them, with how many are decided and which are running on the spinner; then each challenge's
    public leaderboard, read once to tell each team its place."""
    import httpx

    from codefest.cli.participants import WAITING, call, connect

    clients = {team: connect(service.url(), tokens[team]) for team in {p.team for one in rounds for p in one.online}}
    for client, _ in clients.values():
        client.timeout = httpx.Timeout(ANSWER_SECONDS)

    def read(key: str, submission: str) -> dict[str, Any]:  # a team reads its own submissions only
        client, base = clients[named[key][1].team]
        return call(client, "GET", f"{base}/submissions/{submission}")

    named = {s["id"]: (one.item.spec.slug, p) for one in rounds for p, s in zip(one.online, one.sent, strict=True)}
    try:
        current = {s["id"]: s for one in rounds for s in one.sent}
        for key, submitted in list(current.items()):
            if submitted["status"] == "duplicate" and submitted.get("duplicate_of"):
                current[key] = read(key, submitted["duplicate_of"])
        with steps.step("the service's workers evaluate the teams' submissions") as progress:
            while waiting := [key for key, s in current.items() if s["status"] in WAITING]:
                running = [named[key] for key in waiting if current[key]["status"] == "running"]
                doing = "; ".join(f"{slug}: {p.team} ({p.label})" for slug, p in running)
                decided = f"{len(current) - len(waiting)} of {len(current)} decided"
                progress(f"{decided}, running {doing}" if doing else decided)
                time.sleep(POLL_SECONDS)
                for key in waiting:
                    current[key] = read(key, current[key]["id"])
        client, base = next(iter(clients.values()))
        boards = {
            one.item.spec.slug: call(client, "GET", f"{base}/challenges/{one.item.spec.slug}/leaderboard")
            for one in rounds
        }
    finally:
        for client, _ in clients.values():
            client.close()
    return Decided(current, boards)


def line(item: LoadedChallenge, first: dict[str, Any], final: dict[str, Any], board: dict[str, Any]) -> Line:
    """A scored submission's primary score with its interval, its team's place and quota; else what the server
    said (a duplicate names the submission it repeats)."""
    from codefest.cli.participants import place_on, quota_line

    primary = item.spec.primary_metric
    if first["status"] == "duplicate":
        return Line("duplicate", "yellow", first["message"])
    value = (final.get("scores") or {}).get(primary) or {}
    if final["status"] != "scored" or value.get("value") is None:
        return Line(final["status"], "red" if final["status"] != "scored" else "green", final["message"])
    score = f"{primary} {value['value']:.4f} [{value['ci_low']:.4f}, {value['ci_high']:.4f}] on the public part"
    quota = f"; {quota_line(final['quota'])}" if final.get("quota") else ""
    return Line("scored", "green", f"{score}; {place_on(board, final['team'])}{quota}")
