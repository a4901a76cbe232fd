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
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from codefest.console import tagged
from codefest.core.errors import CodefestError
from codefest.core.workspace import Workspace

if TYPE_CHECKING:
    import httpx

    from codefest.challenges.discovery import LoadedChallenge
    from codefest.evaluation.evaluate import Outcome
    from codefest.leaderboard.board import Board

Progress = Callable[[str], None]
ORGANISERS = "organisers"
CODE_TEAM = "office-d"
UI_ADDRESS = "http://127.0.0.1:5000"  # where `codefest ui` listens by default
TAIL_LINES = 15  # of a failed pilot command's stderr
SERVICE_START_SECONDS = 120.0  # how long `codefest serve` may take to answer before the demo gives up
SERVICE_STOP_SECONDS = 45.0  # how long it may take to stop (it lets its worker finish) before it is killed
POLL_SECONDS = 1.0  # between two looks at the submissions the service's worker is evaluating


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


def run(slugs: list[str], out: Console, err: Console) -> None:
    """The demo on the given challenges (the bundled ones if none), in the workspace (CODEFEST_HOME)."""
    from codefest.challenges.discovery import load
    from codefest.core.workspace import home

    started = time.monotonic()
    layout = Layout(home())
    challenges = [load(slug) for slug in dict.fromkeys(slugs or bundled_slugs())]  # unknown slugs fail first
    tokens: dict[str, str] = {}  # each team's token, issued once a run
    with Service.started(layout, err) as service:  # started when the first team submits; stopped at the end
        published = [run_challenge(item, layout, service, tokens, out, err) for item in challenges]
    show_where(published, layout, out)
    err.print(f"demo done in {time.monotonic() - started:.0f} s", highlight=False)


def run_challenge(
    item: LoadedChallenge, layout: Layout, service: Service, tokens: dict[str, str], out: Console, err: Console
) -> Published:
    """One challenge from its build to its published leaderboard; each step reuses what an earlier run made."""
    from codefest.leaderboard.terminal import table

    slug, started = item.spec.slug, time.monotonic()
    out.rule(f"{item.spec.title} ({slug})")
    ensure_built(item, layout.root, err)
    pilot = ensure_pilot(item, ORGANISERS, layout, err)
    ensure_trained(pilot, item, layout.root, err)
    planned = plan_submissions(item, pilot, layout, err)
    enrol_teams(layout.root, planned, tokens, err)
    primary = item.spec.primary_metric
    # The organisers evaluate on their own machine with `codefest evaluate`'s code, recorded in the same ledger:
    # their baseline (the service takes only participants' submissions), and the file office-c handed them, which
    # is invalid: the service refuses an invalid file at the door (`codefest submit` does, before uploading), so it
    # is never recorded as evaluated; `codefest evaluate` records it as `invalid`, problems and all, in MLflow.
    for submission in (s for s in planned if s.by_hand):
        show_outcome(evaluate(item, layout.root, submission, err), submission, primary, out)
    online = [s for s in planned if not s.by_hand]
    for submission, line in zip(online, submit_online(item, service, online, tokens, err), strict=True):
        out.print(tagged(f"{line.status:>9}", line.colour, f"{submission.team} ({submission.label}): {line.detail}"))
    published = publish_leaderboard(item, layout, err)
    out.print(table(published.board, out.width))
    err.print(f"{slug} done in {time.monotonic() - started:.0f} s", highlight=False)
    return published


@contextlib.contextmanager
def step(err: Console, text: str) -> Iterator[Progress]:
    """A long step: a spinner on stderr whose text follows the step's own progress."""
    with err.status(escape(text)) as status:
        yield lambda detail: status.update(escape(f"{text}: {detail}"))


def _rel(path: Path) -> str:
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


def ensure_built(item: LoadedChallenge, root: Path, err: Console) -> None:
    """Build the bundle and the vault, unless they already hold the declared dataset."""
    from codefest.shared_datasets.heldout import build

    slug = item.spec.slug
    if is_built(item, root):
        err.print(f"{slug}: bundle and vault already built with the declared dataset; reused", highlight=False)
        return
    with step(err, f"{slug}: building") as progress:
        result = build(item, root, progress)
    err.print(tagged("built", "green", f"{slug} (dataset id {result.dataset_sha256})"))


# -- pilots ---------------------------------------------------------------------------------------------------


def ensure_pilot(item: LoadedChallenge, team: str, layout: Layout, err: Console) -> Path:
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
        baked = bake(spec.task, layout.pilots, True, {**answers, "codefest_home": str(layout.root)})
    except BaseException:
        shutil.rmtree(pilot, ignore_errors=True)  # half-baked: the next run bakes it again
        raise
    err.print(tagged("baked", "green", f"{_rel(baked)} from the {spec.task} template (team {team})"))
    return baked


def package_of(pilot: Path) -> str:
    return json.loads((pilot / ".cookiecutter.json").read_text(encoding="utf-8"))["package_name"]


def run_in_pilot(pilot: Path, args: list[str], what: str, env: dict[str, str] | None = None) -> str:
    """codefest's interpreter in the pilot's folder with its src importable, as the team runs it; its stdout."""
    paths = [str(pilot / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    environment = {**os.environ, **(env or {}), "PYTHONPATH": os.pathsep.join(paths)}
    command = [sys.executable, *args]
    done = subprocess.run(command, cwd=pilot, env=environment, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-TAIL_LINES:])
        raise CodefestError(
            f"{what} failed with exit code {done.returncode}:\n{tail}",
            f"run it yourself to see all of its output: cd {pilot} && PYTHONPATH=src {shlex.join(command)}",
        )
    return done.stdout


def is_trained(pilot: Path, root: Path) -> bool:
    """A saved model and a finished training run in the pilot's MLflow experiment."""
    from codefest.evaluation.tracking import has_finished_run

    models = pilot / "models"
    return models.is_dir() and any(models.iterdir()) and has_finished_run(root, pilot.name)


def ensure_trained(pilot: Path, item: LoadedChallenge, root: Path, err: Console) -> None:
    """The pilot's own training on the public bundle, logged to the workspace's store so `codefest ui` shows it."""
    from codefest.evaluation.tracking import tracking_uri

    if is_trained(pilot, root):
        err.print(f"{pilot.name}: already trained; reused", highlight=False)
        return
    args = ["-m", f"{package_of(pilot)}.train", "--bundle", str(Workspace(root).bundle(item.spec.slug))]
    with step(err, f"{item.spec.slug}: training the baseline of {pilot.name} (logged to MLflow)"):
        said = run_in_pilot(pilot, args, f"training {pilot.name}", {"MLFLOW_TRACKING_URI": tracking_uri(root)})
    summary = said.strip().split(", ")[0] or "trained"  # the pilot's line, up to its first dev metric
    err.print(tagged(summary, "green", f"({pilot.name})"))


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


def variant_files(pilot: Path, bundle: Path, folder: Path, variants: list[tuple[str, Variant]]) -> list[Path]:
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


def plan_submissions(item: LoadedChallenge, pilot: Path, layout: Layout, err: Console) -> list[Planned]:
    """Each team's files (made once) and the code submission's pilot, in the order they are submitted."""

    spec, bundle, folder = item.spec, Workspace(layout.root).bundle(item.spec.slug), layout.submissions(item.spec.slug)
    variants = [("office-b", TRIVIAL), *team_variants(spec.task)]
    with step(err, f"{spec.slug}: the teams prepare their submissions") as progress:
        progress("the organisers' baseline")
        baseline = ensure_file(folder / ORGANISERS / "baseline.jsonl", lambda p: pilot_predictions(pilot, bundle, p))
        as_baked = ensure_file(folder / "office-a" / "template.jsonl", lambda p: shutil.copyfile(baseline, p))
        broken = ensure_file(folder / "office-c" / "predictions.jsonl", lambda p: broken_copy(baseline, p))
        progress("; ".join(f"{team}: {variant.label}" for team, variant in variants))
        trivial, *improved = variant_files(pilot, bundle, folder, variants)
    code = ensure_pilot(item, CODE_TEAM, layout, err)
    return [
        Planned(ORGANISERS, "baseline: the template's model", baseline, baseline=True, by_hand=True),
        Planned("office-a", "the template's model, as baked", as_baked),
        Planned("office-b", TRIVIAL.label, trivial),
        Planned("office-c", "a broken predictions file", broken, by_hand=True),
        *(Planned(team, variant.label, path) for (team, variant), path in zip(variants[1:], improved, strict=True)),
        Planned(CODE_TEAM, "code: its freshly baked pilot, run in the sandbox", code, code=True),
    ]


# -- evaluation and leaderboard -------------------------------------------------------------------------------


def enrol_teams(root: Path, planned: list[Planned], tokens: dict[str, str], err: Console) -> None:
    """The organisers enrol the teams before they submit (only a team on the roster may submit) and hand each team
    that submits to the service its token, kept in `tokens` for the rest of the run: the one enrolling issued, else
    a new one (a token is shown once, so an earlier run's is lost; a new one revokes it, as `codefest teams token`
    does)."""
    from codefest.evaluation.roster import add, new_token, open_ledger

    teams = sorted({submission.team for submission in planned})
    online = sorted({submission.team for submission in planned if not submission.by_hand})
    ledger = open_ledger(root)
    try:
        added = add(root, teams, ledger)
        if added:
            err.print(f"enrolled {', '.join(added)} (codefest teams add ...)", highlight=False)
        tokens |= {team: token for team, token in added.items() if team in online}
        renewed = [team for team in online if team not in tokens]
        tokens |= {team: new_token(root, team, ledger) for team in renewed}
        if renewed:
            err.print(f"new tokens for {', '.join(renewed)} (codefest teams token ...)", highlight=False)
    finally:
        ledger.close()


def evaluate(item: LoadedChallenge, root: Path, submission: Planned, err: Console) -> Outcome:
    """One submission through the organisers' evaluation: validated, scored (or refused), recorded in MLflow."""
    from codefest.evaluation.evaluate import Evaluator

    text = f"{item.spec.slug}: evaluating {submission.team} ({submission.label})"
    with step(err, text) as progress:
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


def publish_leaderboard(item: LoadedChallenge, layout: Layout, err: Console) -> Published:
    """Build the public leaderboard, write its page to demo/leaderboards/SLUG.html and publish it to MLflow."""
    from codefest.evaluation.records import Part
    from codefest.evaluation.tracking import Refused, Tracker
    from codefest.leaderboard.board import build
    from codefest.leaderboard.export import as_json
    from codefest.leaderboard.page import render
    from codefest.leaderboard.publish import publish

    slug = item.spec.slug
    with step(err, f"{slug}: building the leaderboard") as progress:
        board = build(item, layout.root, progress=progress)
        page = render(board)
        path = layout.leaderboards / f"{slug}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        tracker = Tracker(slug, layout.root)
        try:
            run_id: str | None = publish(tracker, Part.PUBLIC, page, as_json(board), public=True)
        except Refused as refused:
            err.print(tagged("not published to MLflow:", "yellow", refused.message))
            run_id = None
    return Published(board, path, tracker.public, run_id)


def command_name() -> str:
    """`codefest` where the shell finds this one; else its path (`./run` installs into .venv, not onto PATH)."""
    ours = Path(sys.executable).parent / "codefest"
    found = shutil.which("codefest")
    if found and Path(found).resolve() == ours.resolve():
        return "codefest"
    return str(ours) if ours.exists() else "codefest"


def show_where(published: list[Published], layout: Layout, out: Console) -> None:
    """How to open what the demo made: the MLflow UI with each challenge's experiment, and the pages."""
    from codefest.evaluation.mlflow_server import remote_store
    from codefest.evaluation.records import Artifact

    remote = remote_store()
    address = (remote or UI_ADDRESS).rstrip("/")
    say = functools.partial(out.print, highlight=False, markup=False, soft_wrap=True)
    out.rule("Where to look")
    if remote:
        say(f"The event's tracking server: open {address} in a browser.")
    else:
        say(f"Start the MLflow UI over this workspace ({_rel(layout.root)}) with:  {command_name()} ui")
        say(f"then open {address} in a browser:")
    for item in published:
        experiment = f"{address}/#/experiments/{item.experiment_id}"
        say(f"  {item.board.slug}: {experiment}")
        if item.run_id:
            say(f"    its leaderboard page in MLflow: {experiment}/runs/{item.run_id}/artifacts/{Artifact.PAGE}")
        say(f"    the same page as a file: {_rel(item.page)}")
    say(f"Pilots baked from templates/: {_rel(layout.pilots)}/; submitted files: {_rel(layout.base / 'submissions')}/")
    command = command_name()
    say(f"The teams submitted to the event's service (its log: {_rel(layout.service_log)}). Serve it yourself with:")
    say(f"  {command} serve")
    say(f"and, for a team, issue its token with `{command} teams token TEAM`; the team then submits with:")
    first = published[0].board.slug if published else "SLUG"
    say(f"  CODEFEST_SERVER=http://127.0.0.1:8000 CODEFEST_TOKEN=TOKEN {command} submit {first} PREDICTIONS.jsonl")


# -- the event's service --------------------------------------------------------------------------------------


def free_port() -> int:
    """A localhost port free now (the system's choice); `codefest serve` says so clearly if it is taken meanwhile."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Service:
    """`codefest serve` over the workspace, a real subprocess on a free localhost port with one evaluation worker;
    its output goes to demo/serve.log. It starts when first asked for its address, once the first challenge's store
    exists (its worker opens MLflow's store as it starts: two processes must not both create it), and `started` stops
    it (SIGTERM, and it lets its worker finish) when the block ends, whatever ends it (Ctrl+C included)."""

    def __init__(self, layout: Layout, err: Console) -> None:
        self.layout, self.log, self.err = layout, layout.service_log, err
        self.process: subprocess.Popen[bytes] | None = None
        self.address = ""

    @classmethod
    @contextlib.contextmanager
    def started(cls, layout: Layout, err: Console) -> Iterator[Service]:
        service = cls(layout, err)
        try:
            yield service
        finally:
            service.stop()

    def url(self) -> str:
        """The server's address, once it answers (started and waited for the first time)."""
        if self.process is None:
            self._start()
        return self.address

    def _start(self) -> None:
        import httpx

        port = free_port()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "codefest", "serve", "--port", str(port), "--workers", "1"]
        env = {**os.environ, "CODEFEST_HOME": str(self.layout.root), "PYTHONUNBUFFERED": "1"}
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=sink, stderr=sink, env=env)
        self.address = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVICE_START_SECONDS
        with step(self.err, f"starting the event's service, codefest serve on {self.address}"):
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
        self.err.print(tagged("serving", "green", f"the event's API on {self.address}/api/v1 (log: {_rel(self.log)})"))

    def _failure(self, what: str) -> CodefestError:
        lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-TAIL_LINES:]
        return CodefestError(f"{what}:\n" + "\n".join(lines), f"see its whole log: {self.log}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
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


def submit_online(
    item: LoadedChallenge, service: Service, planned: list[Planned], tokens: dict[str, str], err: Console
) -> list[Line]:
    """Each team submits its file or its pilot to the service as `codefest submit` does (validated here first, then
    uploaded), all at once; then the demo follows them until the worker has decided each one, and reads the public
    leaderboard once to tell each team its place."""
    from codefest.cli.participants import call, connect, send

    slug, address = item.spec.slug, service.url()
    clients = {team: connect(address, tokens[team]) for team in dict.fromkeys(s.team for s in planned)}
    try:
        sent: list[dict[str, Any]] = []
        with step(err, f"{slug}: the teams submit to the service") as progress:
            for submission in planned:
                client, base = clients[submission.team]
                progress(f"{submission.team} uploads {submission.path.name}")
                kind = "code" if submission.code else "predictions"
                sent.append(send(client, base, slug, submission.path, kind, show_upload=False)[1])
        final = follow(slug, clients, planned, sent, err)
        client, base = next(iter(clients.values()))
        board = call(client, "GET", f"{base}/challenges/{slug}/leaderboard")
    finally:
        for client, _ in clients.values():
            client.close()
    return [line(item, first, last, board) for first, last in zip(sent, final, strict=True)]


def follow(
    slug: str,
    clients: dict[str, tuple[httpx.Client, str]],
    planned: list[Planned],
    sent: list[dict[str, Any]],
    err: Console,
) -> list[dict[str, Any]]:
    """Each submission as the server has it once decided (a duplicate: the one it repeats), polled while the worker
    evaluates them, with the count and the one in hand on the spinner."""
    from codefest.cli.participants import WAITING, call

    current = list(sent)
    for index, submitted in enumerate(sent):
        if submitted["status"] == "duplicate" and submitted.get("duplicate_of"):
            client, base = clients[planned[index].team]
            current[index] = call(client, "GET", f"{base}/submissions/{submitted['duplicate_of']}")
    started = time.monotonic()
    with step(err, f"{slug}: the service's worker evaluates them") as progress:
        while True:
            waiting = [i for i, s in enumerate(current) if s["status"] in WAITING]
            if not waiting:
                break
            running = [planned[i] for i in waiting if current[i]["status"] == "running"]
            doing = f"; {running[0].team} ({running[0].label}) running" if running else ""
            decided = len(current) - len(waiting)
            progress(f"{decided} of {len(current)} decided{doing} ({time.monotonic() - started:.0f} s)")
            time.sleep(POLL_SECONDS)
            for i in waiting:
                client, base = clients[planned[i].team]
                current[i] = call(client, "GET", f"{base}/submissions/{current[i]['id']}")
    return current


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
