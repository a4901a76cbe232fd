"""Per-pilot environments: what a pilot declares is installed with uv, from wheels only and the organisers' sources,
into an environment cached by what defines it, and shown read-only to the pilot, which sees nothing of codefest's.

The packages are written here as wheels (by the wheel format's spec) into a folder set as CODEFEST_WHEELS; uv runs
offline, as it does by default.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import importlib.util
import io
import json
import multiprocessing
import os
import re
import sys
import tarfile
import textwrap
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from codefest.challenges.discovery import load
from codefest.evaluation import environments, requirements, roster
from codefest.evaluation.environments import EnvironmentFailure
from codefest.evaluation.evaluate import Evaluator
from codefest.evaluation.records import Artifact, Status, Tag, where
from codefest.evaluation.sandbox import CodeLimits, isolation_available, run_pilot
from codefest.evaluation.tracking import tracking_uri
from codefest.shared_datasets.heldout import build
from tests.helpers import bundled_spec, vault_test_labels, write_challenge
from tests.postgres import new_database
from tests.test_event_service import SLUG as SERVICE_SLUG
from tests.test_event_service import Event, make_event, serve

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not isolation_available(), reason="needs root on Linux with bubblewrap"),
]

FORK = multiprocessing.get_context("fork")
LIMITS = CodeLimits(wall_time_seconds=30, memory_mb=1024)

# --- wheels and sdists, written by the spec ---------------------------------------------------------------


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def write_wheel(folder: Path, name: str, version: str, files: dict[str, str | bytes]) -> Path:
    """A pure-Python wheel of `files` (paths inside the wheel): METADATA, WHEEL and RECORD as the spec says."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents: dict[str, bytes] = {
        path: data.encode() if isinstance(data, str) else data for path, data in files.items()
    }
    contents[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: codefest-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = "".join(f"{path},{_digest(data)},{len(data)}\n" for path, data in contents.items())
    contents[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    wheel = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in contents.items():
            archive.writestr(path, data)
    return wheel


def write_widget(folder: Path, name: str = "cf-widget", version: str = "1.0", symbol: str = "H01M 10/00") -> Path:
    """A package that tells the pilot which `symbol` to predict."""
    code = f"SYMBOL = {symbol!r}\nVERSION = {version!r}\n"
    return write_wheel(folder, name, version, {f"{name.replace('-', '_')}/__init__.py": code})


def write_sdist(folder: Path, name: str, marker: Path) -> Path:
    """A source distribution only, whose setup.py would leave `marker` if anything ran it."""
    folder.mkdir(parents=True, exist_ok=True)
    setup = f"from pathlib import Path\nPath({str(marker)!r}).write_text('setup.py ran')\n"
    setup += f"from setuptools import setup\nsetup(name={name!r}, version='1.0', py_modules=[])\n"
    files = {"setup.py": setup, "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"}
    sdist = folder / f"{name.replace('-', '_')}-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for path, data in files.items():
            entry = tarfile.TarInfo(f"{name.replace('-', '_')}-1.0/{path}")
            entry.size = len(data.encode())
            archive.addfile(entry, io.BytesIO(data.encode()))
    return sdist


# --- pilots ------------------------------------------------------------------------------------------------

PREAMBLE = """\
import argparse
import json
import os
import sys
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--input", type=Path, required=True)
parser.add_argument("--output", type=Path, required=True)
args = parser.parse_args()
ids = [json.loads(line)["id"] for line in args.input.read_text().splitlines()]
"""

WIDGET_PILOT = """\
import cf_widget

print("cf_widget", cf_widget.VERSION, "from", cf_widget.__file__)
args.output.write_text("".join(json.dumps({"id": i, "labels": [cf_widget.SYMBOL]}) + "\\n" for i in ids))
"""


def write_pilot(root: Path, code: str, dependencies: list[str] | None = None, **files: str) -> Path:
    """A pilot declaring `dependencies` in its pyproject.toml; `files` (e.g. requirements_txt=...) beside it."""
    (root / "src" / "office_pilot").mkdir(parents=True)
    listed = "" if dependencies is None else f"dependencies = {json.dumps(dependencies)}\n"
    tool = '[tool.codefest]\npredict = "office_pilot.predict"\n'
    (root / "pyproject.toml").write_text(f'[project]\nname = "office-pilot"\nversion = "0.1"\n{listed}\n{tool}')
    (root / "src" / "office_pilot" / "predict.py").write_text(PREAMBLE + textwrap.dedent(code))
    for name, content in files.items():
        (root / name.replace("_", ".")).write_text(content)
    return root


@pytest.fixture
def wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    monkeypatch.setenv(environments.WHEELS_ENV, str(folder))
    monkeypatch.delenv(environments.INDEX_ENV, raising=False)
    return folder


# --- through the evaluator ---------------------------------------------------------------------------------

TEAMS = ["widgets", "widgets-2", "unresolved", "refused", "sourcerers"]


@pytest.fixture(scope="module")
def event(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small classification challenge taking code, built into a workspace of its own."""
    base = tmp_path_factory.mktemp("event")
    spec = bundled_spec("ipc-classification") | {"slug": "env-code"}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 200, "seed": 3}}
    spec["submission_limits"] = {"per_team_per_day": 5, "total": 10}
    spec["resources"] = {"wall_time_seconds": 30, "memory_mb": 1024}
    write_challenge(base / "challenges", spec)
    os.environ["CODEFEST_CHALLENGES_PATH"] = str(base / "challenges")
    try:
        build(load("env-code"), base / "home")
    finally:
        del os.environ["CODEFEST_CHALLENGES_PATH"]
    roster.add(base / "home", TEAMS)
    return {"challenges": base / "challenges", "home": base / "home"}


@pytest.fixture
def evaluator(event: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Evaluator:
    monkeypatch.setenv("CODEFEST_CHALLENGES_PATH", str(event["challenges"]))
    return Evaluator(load("env-code"), event["home"])


def _built(cache: Path) -> list[Path]:
    """The environments in `cache`: folders, not the records beside them nor the lock folder."""
    return sorted(path for path in cache.iterdir() if path.is_dir() and not path.name.startswith("."))


def _record(environment: Path) -> Path:
    return environment.with_name(environment.name + environments.RECORD)


def _left(cache: Path) -> list[str]:
    """What a failed build left in `cache`: the lock folder and the failure's record, nothing half-built (the
    organisers' wheels, linked for uv, are not the build's)."""
    left = [path.name for path in cache.iterdir() if path.name != environments.PINNED]
    return sorted(name if not name.endswith(environments.FAILED) else "<failed>" for name in left)


def _tags(evaluator: Evaluator, run_id: str | None) -> dict[str, str]:
    assert run_id is not None
    return MlflowClient(tracking_uri=tracking_uri(evaluator.root)).get_run(run_id).data.tags


def _public_subclasses(evaluator: Evaluator) -> list[str]:
    """The subclass of each public item's main symbol, from the gold labels."""
    gold = vault_test_labels(evaluator.root, "env-code")
    return [gold[i][0][:4] for i in sorted(evaluator.public_ids)]


def test_a_pilot_depending_on_a_package_codefest_lacks_is_scored_and_the_next_reuses_its_environment(
    evaluator: Evaluator, wheels: Path, tmp_path: Path
) -> None:
    subclasses = _public_subclasses(evaluator)
    common = max(set(subclasses), key=subclasses.count)  # the package tells the pilot to predict it
    write_widget(wheels, symbol=f"{common} 1/00")
    assert importlib.util.find_spec("cf_widget") is None  # not in codefest's environment
    first = evaluator.code("widgets", write_pilot(tmp_path / "first", WIDGET_PILOT, ["cf-widget==1.0"]))
    assert first.status == Status.SCORED, first.message
    # The predictions came from the package: its symbol scores what the gold labels say it should.
    assert first.public["top_prediction@subclass"].value == pytest.approx(subclasses.count(common) / len(subclasses))
    client = MlflowClient(tracking_uri=tracking_uri(evaluator.root))
    stdout = Path(client.download_artifacts(first.run_id, Artifact.log("stdout.txt"), str(tmp_path))).read_text()
    assert "cf_widget 1.0 from <environment>/lib/" in stdout  # its own environment, the path not spelled

    cache = evaluator.root / "environments"
    built = _built(cache)
    assert len(built) == 1
    record = json.loads(_record(built[0]).read_text())
    assert record["requirements"] == ["cf-widget==1.0"] and record["source"] == "pyproject.toml"
    stamp = _record(built[0]).stat().st_mtime_ns

    # Another pilot, the same dependencies spelled differently: the same environment, not built again.
    second_pilot = write_pilot(tmp_path / "second", WIDGET_PILOT + "\n# another pilot\n", ["CF-Widget == 1.0"])
    second = evaluator.code("widgets-2", second_pilot)
    assert second.status == Status.SCORED, second.message
    public = [_tags(evaluator, outcome.run_id) for outcome in (first, second)]
    tags = [_tags(evaluator, shown[Tag.PRIVATE_RUN_ID]) for shown in public]
    assert [t[Tag.ENVIRONMENT_REUSED] for t in tags] == ["false", "true"]
    assert tags[0][Tag.ENVIRONMENT_KEY] == tags[1][Tag.ENVIRONMENT_KEY] == built[0].name[:12]
    for shown in public:  # a team reading its run would learn that another team declared the same set
        assert Tag.ENVIRONMENT_KEY not in shown and Tag.ENVIRONMENT_REUSED not in shown
        assert Tag.ENVIRONMENT_SECONDS in shown
    assert _built(cache) == built
    assert _record(built[0]).stat().st_mtime_ns == stamp
    build_seconds, reuse_seconds = (float(t[Tag.ENVIRONMENT_SECONDS]) for t in tags)
    print(f"environment: built in {build_seconds:.3f} s, reused in {reuse_seconds:.3f} s")  # benchmarks/ times it


def test_the_environment_is_built_before_the_devices_are_taken(
    evaluator: Evaluator, wheels: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build holds no GPU: when the devices are taken, the environment is there."""
    from codefest.evaluation import evaluate

    found: list[list[str]] = []
    taking = evaluate.devices.held

    @contextlib.contextmanager
    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        found.append(sorted(p.name for p in (evaluator.root / "environments").glob(f"*{environments.RECORD}")))
        with taking(*args, **kwargs) as devices:
            yield devices

    monkeypatch.setattr(evaluate.devices, "held", held)
    write_wheel(wheels, "cf-first", "1.0", {"cf_first/__init__.py": ""})
    outcome = evaluator.code("widgets-2", write_pilot(tmp_path / "pilot", "import cf_first\n", ["cf-first"]))
    assert outcome.status == "no-output", outcome.message  # it ran, and wrote nothing
    sources = environments.Sources.current()
    key = environments.key(["cf-first"], sources, sources.wheel_files())
    assert len(found) == 1 and f"{key}{environments.RECORD}" in found[0]


def test_an_unresolvable_dependency_ends_environment_uses_no_quota_and_may_be_sent_again(
    evaluator: Evaluator, wheels: Path, tmp_path: Path
) -> None:
    code = WIDGET_PILOT.replace("cf_widget", "cf_unheard_of")
    pilot = write_pilot(tmp_path / "pilot", code, ["cf-unheard-of>=2"])
    outcome = evaluator.code("unresolved", pilot)
    assert outcome.status == Status.ENVIRONMENT
    assert "cf-unheard-of" in outcome.message and "uv said" in outcome.message  # the resolver's own words
    for server_path in (str(evaluator.root), str(wheels), str(environments.Sources.current().uv_cache), sys.prefix):
        assert server_path not in outcome.message
    assert outcome.quota is not None and outcome.quota.used_total == 0
    row = evaluator.ledger.get(str(outcome.submission_id))
    assert row is not None and (row.status, row.counts_for_quota) == (Status.ENVIRONMENT, False)
    assert [r.tags[Tag.STATUS] for r in evaluator.tracker.runs(where({Tag.TEAM: "unresolved"}))] == ["environment"]

    # The organisers add the wheel; the same pilot, unchanged, sent again, is evaluated again (not a duplicate).
    write_widget(wheels, name="cf-unheard-of", version="2.0")
    again = evaluator.code("unresolved", pilot)
    assert again.status == Status.SCORED, again.message
    assert again.quota is not None and again.quota.used_total == 1


def test_a_direct_reference_is_refused_naming_the_line(evaluator: Evaluator, wheels: Path, tmp_path: Path) -> None:
    listed = "# pinned\ncf-widget==1.0\nother @ https://example.org/other-1.0-py3-none-any.whl\n"
    outcome = evaluator.code("refused", write_pilot(tmp_path / "pilot", WIDGET_PILOT, requirements_txt=listed))
    assert outcome.status == Status.ENVIRONMENT
    assert "line 3 of the pilot's requirements.txt" in outcome.message and "direct reference" in outcome.message
    assert 'depend on "other" by name' in outcome.message
    assert outcome.quota is not None and outcome.quota.used_total == 0


@pytest.mark.parametrize(
    ("listed", "line", "reason"),
    [
        ("cf-widget\n-e .\n", 2, "direct reference"),
        ("--index-url https://example.org/simple\ncf-widget\n", 1, "option line"),
        ("cf-widget\n--extra-index-url https://example.org/simple\n", 2, "option line"),
        ("-f /srv/wheels\n", 1, "option line"),
        ("-r other.txt\n", 1, "option line"),
        ("-c constraints.txt\n", 1, "option line"),
        ("git+https://example.org/repo.git\n", 1, "direct reference"),
        ("./local-package\n", 1, "direct reference"),
        ("libs/cf_widget-1.0-py3-none-any.whl\n", 1, "direct reference"),
        ("cf-widget @ file:///srv/cf_widget-1.0-py3-none-any.whl\n", 1, "direct reference"),
        ("cf-widget @ git+https://example.org/cf-widget.git@main\n", 1, "direct reference"),
        ("cf-widget==1.0 \\\n    --hash=sha256:00\n", 1, "is not a requirement"),
        ("cf-widget==${HOME}\n", 1, "'$'"),
    ],
)
def test_option_lines_direct_references_and_variables_are_refused(
    tmp_path: Path, listed: str, line: int, reason: str
) -> None:
    pilot = write_pilot(tmp_path / "pilot", "", requirements_txt=listed)
    found = requirements.declared(pilot)
    with pytest.raises(EnvironmentFailure) as refused:
        requirements.checked(found.source, found.lines)
    assert f"line {line} of the pilot's requirements.txt" in refused.value.problem and reason in refused.value.problem
    assert refused.value.fix


def test_pyproject_dependencies_are_read_and_a_url_among_them_is_refused(tmp_path: Path) -> None:
    pilot = write_pilot(tmp_path / "pilot", "", ["numpy>=1.26", "scikit-learn ; python_version >= '3.11'"])
    found = requirements.declared(pilot)
    assert requirements.checked(found.source, found.lines) == ["numpy>=1.26", 'scikit-learn; python_version >= "3.11"']
    pilot = write_pilot(tmp_path / "other", "", ["numpy", "x @ https://example.org/x.whl"])
    found = requirements.declared(pilot)
    with pytest.raises(EnvironmentFailure, match=r"dependency 2 of \[project\] dependencies"):
        requirements.checked(found.source, found.lines)


def test_a_link_for_a_requirements_file_is_refused_unread(tmp_path: Path) -> None:
    pilot = write_pilot(tmp_path / "pilot", "")
    (pilot / "requirements.txt").symlink_to("/etc/shadow")
    with pytest.raises(EnvironmentFailure, match="is a link or a special file"):
        requirements.declared(pilot)


def test_a_source_only_dependency_fails_and_its_setup_py_never_runs(
    evaluator: Evaluator, wheels: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "setup-py-ran"
    write_sdist(wheels, "cf-sourcey", marker)
    outcome = evaluator.code("sourcerers", write_pilot(tmp_path / "pilot", WIDGET_PILOT, ["cf-sourcey==1.0"]))
    assert outcome.status == Status.ENVIRONMENT
    assert "cf-sourcey" in outcome.message and "codefest builds no source distribution" in outcome.message
    assert not marker.exists()


# --- the run: the environment alone, read-only -------------------------------------------------------------


def test_an_undeclared_package_is_not_there_and_a_declared_one_is(tmp_path: Path, wheels: Path) -> None:
    inputs = [_inputs(tmp_path)]
    bare = run_pilot(write_pilot(tmp_path / "bare", "import numpy\n"), inputs, LIMITS, [], tmp_path / "r1")
    assert bare.status == "crashed" and "ModuleNotFoundError: No module named 'numpy'" in bare.message
    code = "import numpy\nrows = [{'id': i, 'n': numpy.__version__} for i in ids]\n"
    code += "args.output.write_text(''.join(json.dumps(row) + '\\n' for row in rows))\n"
    declared = run_pilot(write_pilot(tmp_path / "numpy", code, ["numpy"]), inputs, LIMITS, [], tmp_path / "r2")
    assert declared.status == "ok", declared.message  # numpy from uv's cache, offline
    assert declared.environment is not None and declared.environment.requirements == ("numpy",)


def _inputs(tmp_path: Path) -> Path:
    path = tmp_path / "bundle" / "test.jsonl"
    if not path.exists():
        path.parent.mkdir()
        path.write_text("".join(json.dumps({"id": f"T{n}", "text": "a claim"}) + "\n" for n in range(3)))
    return path


READ_ONLY_PILOT = """\
import site
import cf_widget

tried = {}
for target in (Path(sys.prefix) / "planted.py", Path(cf_widget.__file__)):
    try:
        with open(target, "a") as handle:
            handle.write("# changed by the pilot\\n")
        tried[target.name] = "written"
    except OSError as err:
        tried[target.name] = type(err).__name__ + ": " + str(err.strerror)
venv = [p for p in sys.path if ".venv" in p or "site-packages" in p]
(args.output.parent / "seen.json").write_text(json.dumps({"tried": tried, "paths": venv, "prefix": sys.prefix}))
args.output.write_text("".join(json.dumps({"id": i, "labels": []}) + "\\n" for i in ids))
"""


def test_the_environment_is_read_only_and_codefest_s_own_is_not_shown(tmp_path: Path, wheels: Path) -> None:
    write_widget(wheels)
    pilot = write_pilot(tmp_path / "pilot", READ_ONLY_PILOT, ["cf-widget"])
    result = run_pilot(pilot, [_inputs(tmp_path)], LIMITS, [], tmp_path / "run")
    assert result.status == "ok", result.message
    seen = json.loads((tmp_path / "run" / "output" / "seen.json").read_text())
    # a new file: the read-only mount refuses it; a package's file: root's, refused to user nobody as well
    assert seen["tried"] == {
        "planted.py": "OSError: Read-only file system",
        "__init__.py": "PermissionError: Permission denied",
    }
    assert result.environment is not None and seen["prefix"] == str(result.environment.path)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    site_packages = result.environment.path / "lib" / version / "site-packages"
    assert seen["paths"] == [str(site_packages)]  # its own packages: nothing of codefest's .venv
    assert "changed by the pilot" not in (site_packages / "cf_widget" / "__init__.py").read_text()
    assert not (result.environment.path / "planted.py").exists()


def test_a_crash_shows_the_pilot_s_error_output_without_the_organisers_paths(tmp_path: Path) -> None:
    code = 'json.loads("{")\n'
    result = run_pilot(write_pilot(tmp_path / "pilot", code), [_inputs(tmp_path)], LIMITS, [], tmp_path / "run")
    assert result.status == "crashed" and "JSONDecodeError" in result.message
    assert "<python>/lib/python" in result.message  # the standard library's frames, their folder named
    assert result.environment is not None
    for path in (sys.base_prefix, sys.prefix, str(result.environment.path), "codefest-stage-", "bwrap"):
        assert path not in result.message and path not in result.stderr


# --- building ----------------------------------------------------------------------------------------------


def _prepare_in(pilot: Path, cache: Path, queue: multiprocessing.Queue) -> None:
    found = environments.prepare(pilot, cache)
    queue.put((found.reused, str(found.path)))


def test_concurrent_builds_of_one_key_build_once(tmp_path: Path, wheels: Path) -> None:
    write_widget(wheels)
    pilot = write_pilot(tmp_path / "pilot", "", ["cf-widget", "numpy"])
    cache = tmp_path / "environments"
    queue = FORK.Queue()
    workers = [FORK.Process(target=_prepare_in, args=(pilot, cache, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(30)
    assert sorted(reused for reused, _ in results) == [False, True, True, True]  # one built, three found it
    assert len({path for _, path in results}) == 1
    built = Path(results[0][1]).name
    assert sorted(path.name for path in cache.iterdir()) == [
        environments.LOCKS,
        environments.PINNED,
        built,
        built + environments.RECORD,
    ]


def _ends(pid: int, marker: str, seconds: float = 10.0) -> bool:
    """The process is gone (or a zombie) within `seconds`: a SIGKILL takes effect at once, but not in no time on a
    loaded machine; a pid taken meanwhile by another program does not count as the same process."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return True
        if state == "Z" or ("sleep" not in command and marker not in command):
            return True
        time.sleep(0.1)
    return False


def test_a_build_over_its_time_is_stopped_with_all_it_started(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in for uv that hangs and leaves a child behind: both are killed at the limit."""
    pids = tmp_path / "pids"
    slow = tmp_path / "slow-uv"
    slow.write_text(f"#!/bin/sh\nsleep 300 </dev/null >/dev/null 2>&1 &\necho $! >> {pids}\necho $$ >> {pids}\nwait\n")
    slow.chmod(0o755)
    monkeypatch.setattr(environments, "uv_binary", lambda: str(slow))
    monkeypatch.setenv(environments.UV_CACHE_ENV, str(tmp_path / "uv-cache"))
    environments._uv_cache.cache_clear()
    try:
        with pytest.raises(EnvironmentFailure, match="over the limit of 2 s"):
            environments.prepare(write_pilot(tmp_path / "pilot", "", ["cf-widget"]), tmp_path / "envs", seconds=2)
    finally:
        environments._uv_cache.cache_clear()
    for pid in map(int, pids.read_text().split()):
        assert _ends(pid, str(slow)), f"process {pid} of the stand-in outlived the build"
    assert _left(tmp_path / "envs") == [environments.LOCKS, "<failed>"]  # nothing half-built


def test_an_environment_over_its_size_is_refused(tmp_path: Path, wheels: Path) -> None:
    write_wheel(wheels, "cf-heavy", "1.0", {"cf_heavy/__init__.py": "", "cf_heavy/model.bin": os.urandom(3 * 1024**2)})
    pilot = write_pilot(tmp_path / "pilot", "", ["cf-heavy"])
    with pytest.raises(EnvironmentFailure, match=r"over (the limit of )?2 MB"):
        environments.prepare(pilot, tmp_path / "envs", megabytes=2)
    assert _left(tmp_path / "envs") == [environments.LOCKS, "<failed>"]


def test_a_lock_file_is_exported_and_wins_over_the_other_declarations(tmp_path: Path, wheels: Path) -> None:
    write_widget(wheels)
    pilot = write_pilot(tmp_path / "pilot", "", ["numpy"], requirements_txt="numpy\n")
    (pilot / "uv.lock").write_text(LOCK.replace("HASH", "0" * 64))
    found = environments.prepare(pilot, tmp_path / "envs")
    assert (found.source, found.requirements) == ("uv.lock", ("cf-widget==1.0",))
    assert not (pilot / "requirements.txt.lock").exists() and sorted(p.name for p in pilot.iterdir()) == [
        "pyproject.toml",
        "requirements.txt",
        "src",
        "uv.lock",
    ]


def test_a_refused_lock_entry_is_named_by_its_package_and_uv_s_long_lines_are_cut(tmp_path: Path, wheels: Path) -> None:
    pilot = write_pilot(tmp_path / "pilot", "", ["cf-widget"])
    git = 'source = { git = "https://example.org/cf-widget.git?rev=main#' + "0" * 40 + '" }'
    wheels_listed = LOCK[LOCK.index("wheels = [") : LOCK.index("]\n", LOCK.index("wheels = [")) + 2]
    (pilot / "uv.lock").write_text(
        LOCK.replace('source = { registry = "https://pypi.org/simple" }', git).replace(wheels_listed, "")
    )
    with pytest.raises(EnvironmentFailure, match=r"the entry 'cf-widget' of the pilot's uv.lock \(.*direct reference"):
        environments.prepare(pilot, tmp_path / "envs")

    (pilot / "uv.lock").write_text('version = 1\n\n[[package]]\nname = "' + "x" * 5000 + "\n")  # uv echoes the line
    with pytest.raises(EnvironmentFailure, match="uv could not read") as unreadable:
        environments.prepare(pilot, tmp_path / "envs")
    assert max(len(line) for line in str(unreadable.value).splitlines()) <= 210  # each of uv's lines, cut


LOCK = """\
version = 1
revision = 3
requires-python = ">=3.11"

[[package]]
name = "cf-widget"
version = "1.0"
source = { registry = "https://pypi.org/simple" }
wheels = [
    { url = "https://files.example.org/cf_widget-1.0-py3-none-any.whl", hash = "sha256:HASH", size = 1 },
]

[[package]]
name = "office-pilot"
version = "0.1"
source = { virtual = "." }
dependencies = [
    { name = "cf-widget" },
]

[package.metadata]
requires-dist = [{ name = "cf-widget" }]
"""


# --- the ledger: the new status --------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    return new_database(request.getfixturevalue("postgres_server"), f"t{uuid.uuid4().hex[:16]}")


def _insert(connection, id: str, status: str) -> None:  # type: ignore[no-untyped-def]
    connection.execute(
        text(
            "INSERT INTO submissions (id, challenge, team_id, kind, sha256, size, source, status, message, phase,"
            " role, forced, received_at, attempts, failed_code_runs_count, counts_for_quota) VALUES (:id, 'ch',"
            " 1, 'code', 'same', 1, 'pilot', :status, '', 'main', 'participant', false, '2026-03-02', 1, false,"
            " false)"
        ),
        {"id": id, "status": status},
    )


def test_the_migration_allows_the_environment_status_and_keeps_the_duplicate_rule(
    database: str, tmp_path: Path
) -> None:
    from alembic import command

    from codefest.evaluation.ledger.engine import connect, database_url
    from codefest.evaluation.ledger.migrate import config

    engine = connect(database_url(database, tmp_path))
    with engine.begin() as connection:
        command.upgrade(config(connection), "0002")
        connection.execute(text("INSERT INTO teams (id, name, key, created_at) VALUES (1, 'T', 't', '2026-03-02')"))
        _insert(connection, "kept", "scored")
    with engine.begin() as connection:
        command.upgrade(config(connection), "head")
    with engine.begin() as connection:  # an environment failure of the same file, twice: allowed
        _insert(connection, "env-1", "environment")
        _insert(connection, "env-2", "environment")
    with pytest.raises(IntegrityError), engine.begin() as connection:  # a second judged one: still refused
        _insert(connection, "judged-again", "crashed")
    with pytest.raises(IntegrityError), engine.begin() as connection:
        _insert(connection, "unknown", "bewildered")
    with engine.connect() as connection:
        found = connection.execute(text("SELECT id, status FROM submissions ORDER BY id")).all()
    assert [tuple(row) for row in found] == [("env-1", "environment"), ("env-2", "environment"), ("kept", "scored")]
    engine.dispose()


# --- through the service: what a team sees -----------------------------------------------------------------


@pytest.fixture
def service_event(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> Event:
    """The service's own small event (tests/test_event_service.py), in a workspace of this test's."""
    return make_event(tmp_path_factory.mktemp("service"), _empty_store)


def test_a_team_sees_environment_with_uv_s_message_and_sends_the_pilot_again_once_the_wheel_is_there(
    service_event: Event, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    token = service_event.enrol("office-e")
    served = serve(service_event, "--workers", "1", **{environments.WHEELS_ENV: str(wheels)})
    try:
        pilot = write_pilot(tmp_path / "pilot", WIDGET_PILOT, ["cf-widget==1.0"])
        sent = service_event.codefest("submit", SERVICE_SLUG, str(pilot), "--server", served.url, token=token)
        assert sent.returncode == 2, sent.stderr
        shown = sent.stdout + sent.stderr
        assert "environment" in shown and "cf-widget" in shown and "uv said" in shown and "Traceback" not in shown
        assert str(service_event.home) not in shown and str(wheels) not in shown
        assert "3 submission(s) left (0/3 today, 0/10 in all)" in shown  # no quota used
        listed = service_event.codefest("submissions", SERVICE_SLUG, "--server", served.url, token=token)
        assert listed.returncode == 0, listed.stderr
        assert re.search(r"\benvironment\b", listed.stdout) and "(0/3 today, 0/10 in all)" in listed.stdout

        write_widget(wheels)  # the organisers add the wheel: the same pilot, sent again, is evaluated again
        again = service_event.codefest("submit", SERVICE_SLUG, str(pilot), "--server", served.url, token=token)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "scored submission" in again.stderr and "2 submission(s) left (1/3 today, 1/10 in all)" in again.stdout
    finally:
        served.stop()


def test_an_environment_without_its_record_is_built_again(tmp_path: Path, wheels: Path) -> None:
    write_widget(wheels)
    pilot = write_pilot(tmp_path / "pilot", "", ["cf-widget"])
    first = environments.prepare(pilot, tmp_path / "envs")
    _record(first.path).unlink()  # a copy cut short, or emptied by hand
    again = environments.prepare(pilot, tmp_path / "envs")
    assert (again.reused, again.path) == (False, first.path)
    assert json.loads(_record(again.path).read_text())["requirements"] == ["cf-widget"]
    assert environments.prepare(pilot, tmp_path / "envs").reused


def _installed_symbol(environment: Path) -> str:
    (init,) = environment.glob("lib/python*/site-packages/cf_widget/__init__.py")
    return init.read_text()


def test_a_wheel_replaced_in_place_is_installed_as_it_now_is(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The organisers mend a wheel without changing its name, version or size: the next build installs the mended
    one, although uv's shared cache (offline) holds the first under the same name and version."""
    monkeypatch.setenv(environments.UV_CACHE_ENV, str(tmp_path / "uv-cache"))
    environments._uv_cache.cache_clear()
    try:
        pilot = write_pilot(tmp_path / "pilot", "", ["cf-widget==1.0"])
        write_widget(wheels, symbol="H01M 10/00")
        first = environments.prepare(pilot, tmp_path / "envs")
        assert "H01M 10/00" in _installed_symbol(first.path)
        before = (wheels / "cf_widget-1.0-py3-none-any.whl").stat().st_size
        write_widget(wheels, symbol="H02J 10/00")
        assert (wheels / "cf_widget-1.0-py3-none-any.whl").stat().st_size == before
        mended = environments.prepare(pilot, tmp_path / "envs")
    finally:
        environments._uv_cache.cache_clear()
    assert (mended.reused, mended.path == first.path) == (False, False)
    assert "H02J 10/00" in _installed_symbol(mended.path)
    assert "H01M 10/00" in _installed_symbol(first.path)  # the first environment is left as it was built


# --- what a hostile package cannot do to the build ----------------------------------------------------------


@pytest.fixture
def index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, str]]:
    """A package index (PEP 503's simple pages) on this host, set as CODEFEST_PACKAGE_INDEX, with credentials in its
    address; the shared uv cache is a folder of the test's. Yields (the folder its wheels go in, its address)."""
    root = tmp_path / "index"
    files = root / "files"
    files.mkdir(parents=True)

    class Pages(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            parts = self.path.strip("/").split("/")
            if parts[0] == "simple" and len(parts) == 2:
                name = parts[1].replace("-", "_")
                if name == "cf_broken":  # an index that fails: uv names the address it asked
                    self.send_error(500)
                    return
                links = [f'<a href="/files/{w.name}">{w.name}</a>' for w in files.glob(f"{name}-*.whl")]
                if not links:
                    self.send_error(404)
                    return
                body = ("<html><body>" + "".join(links) + "</body></html>").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = f"http://cf-user:s3cr3t-pw@127.0.0.1:{server.server_address[1]}/simple"
    monkeypatch.setenv(environments.INDEX_ENV, address)
    monkeypatch.delenv(environments.WHEELS_ENV, raising=False)
    monkeypatch.setenv(environments.UV_CACHE_ENV, str(tmp_path / "shared-uv-cache"))
    environments._uv_cache.cache_clear()
    try:
        yield files, address
    finally:
        environments._uv_cache.cache_clear()
        server.shutdown()
        server.server_close()


def _files_in(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def test_a_build_from_the_index_leaves_nothing_in_uv_s_shared_cache(tmp_path: Path, index: tuple[Path, str]) -> None:
    write_widget(index[0])
    found = environments.prepare(write_pilot(tmp_path / "pilot", "", ["cf-widget"]), tmp_path / "envs")
    assert (found.path / "lib").is_dir() and list(found.path.glob("lib/python*/site-packages/cf_widget/__init__.py"))
    assert _files_in(tmp_path / "shared-uv-cache") == 0  # the build's own cache, thrown away with its folder
    assert sorted(p.name for p in (tmp_path / "envs").iterdir() if p.name.startswith(environments.BUILDING)) == []


def test_a_wheel_of_zeros_is_stopped_while_it_unpacks_and_its_failure_is_remembered(
    tmp_path: Path, index: tuple[Path, str]
) -> None:
    """A small wheel that unpacks to 600 MB: uv is killed once the build's folders pass the limit, its cache goes
    with it, and the same declaration sent again fails at once; a new wheel (a new key) is built."""
    write_wheel(index[0], "cf-zeros", "1.0", {"cf_zeros/__init__.py": "", "cf_zeros/zeros.bin": bytes(600 * 1024**2)})
    pilot, cache = write_pilot(tmp_path / "pilot", "", ["cf-zeros"]), tmp_path / "envs"
    started = time.monotonic()
    with pytest.raises(EnvironmentFailure, match=r"stopped while installing: over 20 MB") as first:
        environments.prepare(pilot, cache, megabytes=20)
    assert _left(cache) == [environments.LOCKS, "<failed>"]
    assert _files_in(tmp_path / "shared-uv-cache") == 0
    print(f"stopped after {time.monotonic() - started:.1f} s")

    started = time.monotonic()
    with pytest.raises(EnvironmentFailure) as again:
        environments.prepare(pilot, cache, megabytes=20)
    assert time.monotonic() - started < 1.0  # no build, no uv
    assert again.value.problem == first.value.problem and "without a new build" in str(again.value.fix)


def test_a_wheel_of_many_empty_files_is_refused(tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environments, "MAX_FILES", 500)
    write_wheel(wheels, "cf-many", "1.0", {f"cf_many/f{n}.txt": "" for n in range(2000)})
    with pytest.raises(EnvironmentFailure, match=r"500 files"):
        environments.prepare(write_pilot(tmp_path / "pilot", "", ["cf-many"]), tmp_path / "envs")
    assert _built(tmp_path / "envs") == []


def test_an_index_s_address_and_credentials_are_not_shown(tmp_path: Path, index: tuple[Path, str]) -> None:
    with pytest.raises(EnvironmentFailure) as failed:
        environments.prepare(write_pilot(tmp_path / "broken", "", ["cf-broken==1.0"]), tmp_path / "envs")
    shown = str(failed.value)
    assert "uv said" in shown and "<package index>" in shown and "could not be reached" in shown, shown
    for secret in ("127.0.0.1", "cf-user", "s3cr3t-pw", index[1].split("@")[1]):
        assert secret not in shown, shown
    assert _left(tmp_path / "envs") == [environments.LOCKS]  # the index's failure, not the pilot's: not remembered


def test_the_fix_follows_what_uv_said(tmp_path: Path, index: tuple[Path, str]) -> None:
    write_widget(index[0])
    for requirement, fix in [("cf-nowhere==1.0", "check the package's name"), ("cf-widget==0.0.1", "a version")]:
        with pytest.raises(EnvironmentFailure) as failed:
            environments.prepare(write_pilot(tmp_path / requirement, "", [requirement]), tmp_path / "envs")
        assert fix in str(failed.value.fix) and "source distribution" not in str(failed.value.fix), str(failed.value)


@pytest.mark.parametrize(
    ("path", "content", "overwrote"),
    [
        ("pyvenv.cfg", "home = /usr/bin\ninclude-system-site-packages = true\n", "pyvenv.cfg"),
        ("codefest-environment.json/boom", "x", None),  # once the record's place, inside the environment
    ],
)
def test_a_wheel_writing_at_the_environment_s_root_cannot_change_it(
    tmp_path: Path, wheels: Path, path: str, content: str, overwrote: str | None
) -> None:
    write_wheel(wheels, "cf-root", "1.0", {"cf_root/__init__.py": "", f"cf_root-1.0.data/data/{path}": content})
    pilot = write_pilot(tmp_path / "pilot", "", ["cf-root"])
    if overwrote is None:
        found = environments.prepare(pilot, tmp_path / "envs")
        assert json.loads(_record(found.path).read_text())["requirements"] == ["cf-root"]
        return
    with pytest.raises(EnvironmentFailure, match=f"a package overwrote the environment's {overwrote}"):
        environments.prepare(pilot, tmp_path / "envs")
    assert _built(tmp_path / "envs") == []


def test_a_file_error_while_building_is_the_environment_failure(
    tmp_path: Path, wheels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(folder: Path) -> None:
        raise IsADirectoryError(21, "Is a directory", str(folder / "x"))

    monkeypatch.setattr(environments, "_readable", refuse)
    write_widget(wheels)
    with pytest.raises(EnvironmentFailure, match=r"could not be written \(Is a directory\)") as failed:
        environments.prepare(write_pilot(tmp_path / "pilot", "", ["cf-widget"]), tmp_path / "envs")
    assert str(tmp_path) not in str(failed.value)


def test_an_environment_over_this_challenge_s_size_is_not_reused(tmp_path: Path, wheels: Path) -> None:
    write_wheel(wheels, "cf-heavy", "1.0", {"cf_heavy/__init__.py": "", "cf_heavy/model.bin": os.urandom(3 * 1024**2)})
    pilot = write_pilot(tmp_path / "pilot", "", ["cf-heavy"])
    assert not environments.prepare(pilot, tmp_path / "envs", megabytes=100).reused
    with pytest.raises(EnvironmentFailure, match=r"take 3 MB .* over the limit of 2 MB"):
        environments.prepare(pilot, tmp_path / "envs", megabytes=2)


MAPPING_PILOT = """import mmap
data = Path(__file__).with_name("weights.bin")
with open(data, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
    total = sum(mapped[offset] for offset in range(0, len(mapped), 4096))  # every page, touched
args.output.write_text("".join(json.dumps({"id": i, "labels": ["A01B"]}) + "\\n" for i in ids))
"""


def test_a_pilot_mapping_its_own_file_is_charged_for_its_pages(tmp_path: Path) -> None:
    """codefest copies the pilot; the copy's pages are dropped from the page cache, so a pilot that maps its file
    reads them in itself, charged to its run: the peak shows them. A mapping larger than the limit is refused
    (each process's address space is limited too): the run ends `memory`."""
    pilot = write_pilot(tmp_path / "pilot", MAPPING_PILOT)
    (pilot / "src" / "office_pilot" / "weights.bin").write_bytes(bytes(300 * 1024**2))
    limits = CodeLimits(wall_time_seconds=60, memory_mb=1024)
    result = run_pilot(pilot, [_inputs(tmp_path)], limits, [], tmp_path / "run")
    assert result.status == "ok", result.message
    assert result.peak_memory_bytes is not None and result.peak_memory_bytes > 250 * 1024**2, result.peak_memory_bytes

    small = CodeLimits(wall_time_seconds=60, memory_mb=128)
    capped = run_pilot(pilot, [_inputs(tmp_path)], small, [], tmp_path / "run-small")
    assert capped.status == "memory", capped.message


TWO_MAPPINGS_PILOT = """\
import mmap
import subprocess

TOUCH = (
    "import mmap, sys\\n"
    "with open(sys.argv[1], 'rb') as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:\\n"
    "    print(sum(m[o] for o in range(0, len(m), 4096)))\\n"
)
here = Path(__file__).parent
children = [subprocess.Popen([sys.executable, "-c", TOUCH, str(here / name)]) for name in ("a.bin", "b.bin")]
assert all(child.wait() == 0 for child in children)
args.output.write_text("".join(json.dumps({"id": i, "labels": ["A01B"]}) + "\\n" for i in ids))
"""


def test_mapped_file_pages_over_the_whole_run_s_limit_are_reclaimed_not_killed_for(tmp_path: Path) -> None:
    """Two processes map 150 MB each under a 256 MB limit: clean pages of a file are reclaimed (read again when
    touched), so the run ends ok with its peak at the limit, as docs/code-submissions.md says."""
    pilot = write_pilot(tmp_path / "pilot", TWO_MAPPINGS_PILOT)
    for name in ("a.bin", "b.bin"):
        (pilot / "src" / "office_pilot" / name).write_bytes(os.urandom(1024**2) * 150)
    result = run_pilot(pilot, [_inputs(tmp_path)], CodeLimits(60, 256), [], tmp_path / "run")
    assert result.status == "ok", result.message
    peak = result.peak_memory_bytes
    assert peak is not None and 200 * 1024**2 < peak <= 257 * 1024**2, peak
