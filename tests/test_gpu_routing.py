"""Code runs that need GPUs: routed to the `code-gpu` queue's workers, handed their devices, refused elsewhere.

This machine has no GPU. Its device nodes are made with mknod: real character devices with NVIDIA's major number
(195), in a folder of their own that CODEFEST_DEVICE_ROOT names. So the whole path runs for real: a worker's start
(refused for an index whose node is not a character device), the routing (real `codefest worker` processes on a real
Redis broker, the ledger on PostgreSQL), the lock pool that keeps two runs off one device, the jail binding exactly
the run's nodes as /dev/nvidiaN inside bwrap, and the pilot seeing CUDA_VISIBLE_DEVICES and its node; a node removed
after the start leaves the submission queued, never run on the CPU. Real CUDA is not tested: see docs/deploy.md.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from codefest.challenges.discovery import load
from codefest.evaluation import broker, devices, jail
from codefest.evaluation.evaluate import Evaluator
from codefest.evaluation.ledger import Ledger
from codefest.evaluation.ledger.statuses import TERMINAL
from codefest.evaluation.records import Artifact, Tag
from codefest.evaluation.tracking import Tracker
from codefest.shared_datasets.heldout import build
from tests import launcher, test_distributed
from tests.helpers import bundled_spec, right_every, with_empty_store, write_challenge
from tests.processes import wait_for
from tests.test_distributed import (
    FAST,
    SLUG,
    WITHIN,
    Event,
    descendants,
    enrol,
    holder_pid,
    needs_isolation,
    only_row,
)

pytestmark = [
    pytest.mark.slow,  # real brokers, databases, worker processes and sandboxed runs
    pytest.mark.skipif(os.geteuid() != 0, reason="device nodes are made with mknod, which needs root"),
]
event = test_distributed.event  # the fixture: a workspace, a PostgreSQL ledger and a Redis broker of the test's own

WAITING = "waiting for a worker with a GPU"
NVIDIA_MAJOR = 195  # the major number of NVIDIA's device nodes; nvidiactl is its minor 255
ROOT = jail.DEVICE_ROOT_ENV
# Says what the sandbox showed it: its CUDA_VISIBLE_DEVICES and the GPU device nodes it can see, with their numbers.
GPU_PILOT = """\
import argparse
import json
import os
import stat
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--input", type=Path, required=True)
parser.add_argument("--output", type=Path, required=True)
args = parser.parse_args()
print("CUDA_VISIBLE_DEVICES=" + os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"))
def node(name):
    found = os.stat("/dev/" + name)
    return f"{name}:{os.major(found.st_rdev)}:{os.minor(found.st_rdev)}" if stat.S_ISCHR(found.st_mode) else name

print("nodes=" + ",".join(node(name) for name in sorted(os.listdir("/dev")) if name.startswith("nvidia")))
rows = [json.loads(line) for line in args.input.read_text().splitlines() if line.strip()]
args.output.write_text("".join(json.dumps({"id": r["id"], "labels": ["H04L 9/00"]}) + "\\n" for r in rows))
"""


def make_nodes(folder: Path, *gpus: int, shared: tuple[str, ...] = ("nvidiactl",)) -> Path:
    """Character devices as NVIDIA's driver makes them: nvidiaN (195, N) for each of `gpus`, nvidiactl (195, 255)."""
    folder.mkdir(parents=True, exist_ok=True)
    for gpu in gpus:
        os.mknod(folder / f"nvidia{gpu}", stat.S_IFCHR | 0o666, os.makedev(NVIDIA_MAJOR, gpu))
    for name in shared:
        os.mknod(folder / name, stat.S_IFCHR | 0o666, os.makedev(NVIDIA_MAJOR, 255))
    return folder


@pytest.fixture
def dev() -> Iterator[Path]:
    """An empty folder for device nodes that bwrap, as user nobody, can reach (pytest's tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="codefest-dev-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def gpu_challenge(folder: Path, gpus: int) -> None:
    """The distributed tests' small IPC challenge (same slug), its code runs needing `gpus` GPUs."""
    spec = bundled_spec("ipc-classification") | {"slug": SLUG}
    spec["dataset"] = {"builder": "synthetic-ipc", "version": "1", "options": {"size": 300, "seed": 4}}
    spec["submission_limits"] = {"per_team_per_day": 5, "total": 10}
    spec["resources"] = {"wall_time_seconds": 60, "memory_mb": 600, "gpus": gpus}
    write_challenge(folder, spec)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, _empty_store: Path) -> dict[str, Path]:
    """The GPU challenge built once (it replaces test_distributed's `built` for its `event` fixture)."""
    base = tmp_path_factory.mktemp("gpu")
    gpu_challenge(base / "challenges", gpus=1)
    home = base / "home"
    home.mkdir()
    with_empty_store(home, _empty_store)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_CHALLENGES_PATH", str(base / "challenges"))
        build(load(SLUG), home)
    return {"challenges": base / "challenges", "home": home}


def write_pilot(folder: Path) -> Path:
    (folder / "src" / "gpuprobe").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "gpuprobe"\nversion = "0.1"\n\n[tool.codefest]\npredict = "gpuprobe.predict"\n'
    )
    (folder / "src" / "gpuprobe" / "predict.py").write_text(GPU_PILOT)
    return folder


def stdout_of(home: Path, run_id: str) -> str:
    return Tracker(SLUG, home).artifact_text(run_id, Artifact.log("stdout.txt")) or ""


def code_gpus_tag(home: Path, run_id: str) -> str | None:
    from mlflow import MlflowClient

    from codefest.evaluation.tracking import tracking_uri

    return MlflowClient(tracking_uri=tracking_uri(home)).get_run(run_id).data.tags.get(Tag.CODE_GPUS)


def queued_messages(event: Event, queue: str) -> int:
    return int(redis.Redis.from_url(event.redis.url).llen(queue))


def submit_pilot(event: Event, inbox: Path, team: str) -> None:
    write_pilot(inbox / team / "pilot")
    sent = event.codefest("evaluate", SLUG, "--inbox", str(inbox))
    assert sent.returncode == 0 and "queued" in sent.stderr, sent.stderr[-3000:]


# -- the broker: code-gpu and its workers ---------------------------------------------------------------------------


@needs_isolation
def test_a_gpu_run_waits_on_code_gpu_past_a_code_worker_and_a_gpu_worker_runs_it_on_its_device(
    event: Event, tmp_path: Path, dev: Path
) -> None:
    make_nodes(dev, 3, 4)  # the host's GPUs 3 and 4, and the driver's nvidiactl
    enrol(event, ["office-g"])
    cpu = event.worker("cpu", "--queues", "code")
    submit_pilot(event, tmp_path / "inbox", "office-g")

    wait_for(lambda: queued_messages(event, broker.CODE_GPU) >= 1, WITHIN, "the message on code-gpu")
    time.sleep(3)  # three sweeps of the code worker, which takes nothing
    row = only_row(event)
    assert (row.status, row.attempts, row.worker, row.message) == ("queued", 0, None, "queued")
    assert queued_messages(event, broker.CODE) == 0 and queued_messages(event, broker.CODE_GPU) >= 1
    assert row.id not in cpu.text()

    gpu = event.worker("gpu", "--queues", "code-gpu", "--gpus", "3", **{ROOT: str(dev)})
    done = wait_for(lambda: (r := only_row(event)).status in TERMINAL and r, WITHIN, "the submission ending")
    assert (done.status, done.attempts, done.kind) == ("scored", 1, "code"), done.message
    assert holder_pid(done) in descendants(gpu.process.pid)
    printed = stdout_of(event.home, done.public_run_id).splitlines()
    # its device, bound as /dev/nvidia3, and the driver's node; not the host's other GPU
    assert printed == ["CUDA_VISIBLE_DEVICES=3", "nodes=nvidia3:195:3,nvidiactl:195:255"]
    assert code_gpus_tag(event.home, done.public_run_id) == "1"
    assert "Traceback" not in gpu.text() + cpu.text()


@needs_isolation
def test_a_gpu_run_sent_to_a_code_worker_waits_and_goes_on_to_code_gpu(event: Event, tmp_path: Path, dev: Path) -> None:
    """A message on the wrong queue (the challenge declared its GPU after it was sent) is not run on the CPU."""
    enrol(event, ["office-m"])
    submit_pilot(event, tmp_path / "inbox", "office-m")
    wait_for(lambda: queued_messages(event, broker.CODE_GPU) >= 1, WITHIN, "the message on code-gpu")
    row = only_row(event)
    redis.Redis.from_url(event.redis.url).delete(broker.CODE_GPU)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_BROKER_URL", event.redis.url)
        broker.app.cache_clear()
        try:
            broker.send(row.id, broker.CODE)
        finally:
            broker.app.cache_clear()

    cpu = event.worker("cpu", "--queues", "code", CODEFEST_NO_VAULT_RETRY_SECONDS="4")
    wait_for(lambda: WAITING in only_row(event).message, WITHIN, "the waiting message")
    wait_for(lambda: queued_messages(event, broker.CODE_GPU) >= 1, WITHIN, "the message sent on to code-gpu")
    row = only_row(event)
    assert (row.status, row.attempts, row.worker) == ("queued", 0, None)
    assert "needs 1 GPU(s) and this worker has 0; sent to the code-gpu queue" in cpu.text()

    gpu = event.worker("gpu", "--queues", "code-gpu", "--gpus", "5", **{ROOT: str(make_nodes(dev, 5, shared=()))})
    done = wait_for(lambda: (r := only_row(event)).status in TERMINAL and r, WITHIN, "the submission ending")
    assert (done.status, done.attempts) == ("scored", 1), done.message
    assert holder_pid(done) in descendants(gpu.process.pid)
    printed = stdout_of(event.home, done.public_run_id).splitlines()
    assert printed == ["CUDA_VISIBLE_DEVICES=5", "nodes=nvidia5:195:5"]


def worker_refusal(tmp_path: Path, gpus: int, *options: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`codefest worker` with `options` on a host whose GPUs are 0 to 7 (unless `env` says otherwise)."""
    gpu_challenge(tmp_path / "challenges", gpus=gpus)
    nodes = tmp_path / "dev"
    if not nodes.exists():
        make_nodes(nodes, *range(8))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CODEFEST_")}
    environment |= {
        "CODEFEST_HOME": str(tmp_path / "home"),
        "CODEFEST_CHALLENGES_PATH": str(tmp_path / "challenges"),
        "CODEFEST_BROKER_URL": "redis://127.0.0.1:9/0",  # refused before any connection
        ROOT: str(nodes),
        **env,
    }
    return launcher.run(["worker", *options], env=environment, timeout=120)


def refused(done: subprocess.CompletedProcess[str]) -> str:
    """The one-line error of a refused command, once its fix line is checked."""
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "  fix: give only the GPUs this host has" in done.stderr, done.stderr[-3000:]
    return error


@pytest.mark.parametrize(
    ("gpus", "options", "env", "expected"),
    [
        (
            1,
            ["--queues", "code-gpu"],
            {},
            "the code-gpu queue runs pilots that need GPUs, and this worker was given none",
        ),
        (1, ["--queues", "code,code-gpu", "--gpus", "0", "--concurrency", "2"], {}, "fix: --concurrency 1"),
        (2, ["--gpus", "0,1,2", "--concurrency", "2"], {}, f"runs of {SLUG} need 2 GPUs each"),
        (2, ["--queues", "code-gpu", "--gpus", "7"], {}, "fix: give this worker at least 2 GPUs with --gpus"),
        (1, ["--queues", "code-gpu"], {"CODEFEST_GPUS": "0,0"}, "the GPU 0 is given twice"),
        (1, ["--queues", "code-gpu", "--gpus", "/dev/nvidia0"], {}, "the GPU '/dev/nvidia0' is not a device index"),
    ],
)
def test_a_worker_refuses_to_start_without_enough_gpus_for_its_concurrency(
    tmp_path: Path, gpus: int, options: list[str], env: dict[str, str], expected: str
) -> None:
    done = worker_refusal(tmp_path, gpus, *options, **env)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr


def test_a_worker_refuses_a_gpu_whose_node_is_not_a_character_device(tmp_path: Path) -> None:
    """The review's case: a GPU worker on a host without the node would run its pilots on the CPU, billed as GPU."""
    nodes = make_nodes(tmp_path / "dev", 0)
    (nodes / "nvidia1").write_text("")  # a file, not a device
    (nodes / "nvidia2").mkdir()
    cases = [
        (["--gpus", "0,3"], 3),
        (["--gpus", "1"], 1),
        (["--gpus", "0,2"], 2),
        (["--queues", "code", "--gpus", "3"], 3),
    ]
    for options, missing in cases:  # the last: GPUs a worker leaves unused are checked too
        error = refused(worker_refusal(tmp_path, 1, *options))
        assert (
            error == f"error: the GPU {missing} is not on this host: {nodes}/nvidia{missing} is not a character device"
        )
    if Path("/dev/nvidia0").exists():
        pytest.skip("this host has a GPU 0")
    done = worker_refusal(tmp_path, 1, **{devices.ENV: "0", ROOT: ""})  # CODEFEST_GPUS=0 and this host's own /dev
    assert refused(done) == "error: the GPU 0 is not on this host: /dev/nvidia0 is not a character device"


# -- what one run is given --------------------------------------------------------------------------------------------


def test_the_sandbox_binds_only_the_runs_own_gpu_nodes_and_the_shared_ones_the_host_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = make_nodes(tmp_path / "dev", 3, 4, 10, shared=("nvidiactl", "nvidia-uvm"))
    (dev / "nvidia-modeset").write_text("")  # not a device node: never bound
    (dev / "nvidia5").write_text("")
    monkeypatch.setenv(ROOT, str(dev))  # read where the spec is made, and carried to the jail in it
    spec = jail.JailSpec(
        argv=["python"],
        env={},
        memory_mb=100,
        disk_mb=10,
        read_only=[],
        pilot="/run/pilot",
        output="/run/output",
        output_files=1,
        output_bytes=1,
        stage=str(tmp_path / "stage"),
        cgroup_procs=[],
        max_processes=None,
        report_fd=2,
        devices=[3, 10],
    )
    monkeypatch.delenv(ROOT)
    spec = jail.JailSpec.from_json(spec.to_json())  # as the jail, whose environment names no folder, reads it
    assert (spec.device_root, spec.devices) == (str(dev), [3, 10])

    def binds(devices: list[int]) -> list[tuple[str, str]]:
        argv = jail.bwrap_argv(jail.JailSpec(**{**vars(spec), "devices": devices}), jail.Scratch(tmp_path), [], [])
        return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == "--dev-bind"]

    assert binds(spec.devices) == [
        (str(dev / "nvidia3"), "/dev/nvidia3"),
        (str(dev / "nvidia10"), "/dev/nvidia10"),
        (str(dev / "nvidiactl"), "/dev/nvidiactl"),
        (str(dev / "nvidia-uvm"), "/dev/nvidia-uvm"),
    ]
    assert binds([]) == []  # a run without GPUs sees no NVIDIA node, not even the driver's
    argv = jail.bwrap_argv(spec, jail.Scratch(tmp_path), [], [])
    assert argv.index("--dev") < argv.index("--dev-bind") < argv.index("--remount-ro")  # inside the fresh /dev
    for lost in (5, 6):  # its own node a file, or gone: the run is not started at all, never without its GPU
        with pytest.raises(jail.SetupError, match=f"not a character device in {dev}: nvidia{lost}"):
            binds([3, lost])


def test_the_environment_names_the_runs_devices_and_none_for_a_run_without() -> None:
    assert devices.environment([3, 10]) == {
        "CUDA_VISIBLE_DEVICES": "3,10",
        "NVIDIA_VISIBLE_DEVICES": "3,10",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
    }
    assert devices.environment([]) == {
        "CUDA_VISIBLE_DEVICES": "",
        "NVIDIA_VISIBLE_DEVICES": "void",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
    }


@pytest.fixture
def host_gpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This host's GPUs 0 and 1, as the processes started here see them too."""
    nodes = make_nodes(tmp_path / "dev", 0, 1)
    monkeypatch.setenv(ROOT, str(nodes))
    return nodes


def test_two_runs_never_hold_one_device_and_a_third_waits_for_one(tmp_path: Path, host_gpus: Path) -> None:
    with devices.held(1, tmp_path, SLUG, [0, 1]) as first, devices.held(1, tmp_path, SLUG, [0, 1]) as second:
        assert (first, second) == ((0,), (1,))
        got: list[tuple[int, ...]] = []

        def third() -> None:
            with devices.held(1, tmp_path, SLUG, [0, 1], poll_seconds=0.05) as taken:
                got.append(taken)

        waiting = threading.Thread(target=third)
        waiting.start()
        time.sleep(0.5)
        assert got == []  # both devices are held
    waiting.join(timeout=10)
    assert got == [(0,)]
    with devices.held(2, tmp_path, SLUG, [0, 1]) as both:
        assert both == (0, 1)
    with pytest.raises(devices.NoDevices, match="need 3 GPU"), devices.held(3, tmp_path, SLUG, [0, 1]):
        pass


def test_a_lock_dies_with_its_process(tmp_path: Path, host_gpus: Path) -> None:
    """A killed run's devices are free at once: the kernel drops the lock with the process."""
    code = (
        "import sys, time; from pathlib import Path; from codefest.evaluation import devices\n"
        "with devices.held(1, Path(sys.argv[1]), 'x', [0]):\n    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        got: list[tuple[int, ...]] = []

        def take() -> None:
            with devices.held(1, tmp_path, "x", [0], poll_seconds=0.05) as taken:
                got.append(taken)

        waiter = threading.Thread(target=take)
        waiter.start()
        time.sleep(0.5)
        assert got == []
        holder.kill()
        waiter.join(timeout=10)
        assert got == [(0,)]
    finally:
        holder.kill()
        holder.wait()


def test_a_run_takes_no_device_whose_node_is_gone(tmp_path: Path, host_gpus: Path) -> None:
    """A node removed after the worker started: the run is refused (its submission waits), never run on the CPU."""
    (host_gpus / "nvidia1").unlink()
    lost = r"need 2 GPU\(s\) and this worker has 1 \(GPU 1 has no device node any more\)"
    with pytest.raises(devices.NoDevices, match=lost), devices.held(2, tmp_path, SLUG, [0, 1]):
        pass
    with devices.held(1, tmp_path, SLUG, [1, 0]) as taken:
        assert taken == (0,)  # the one that is still here
        got: list[BaseException] = []

        def waiting() -> None:
            try:
                with devices.held(1, tmp_path, SLUG, [0], poll_seconds=0.05):
                    got.append(AssertionError("ran without its node"))
            except devices.NoDevices as refused:
                got.append(refused)

        waiter = threading.Thread(target=waiting)
        waiter.start()
        time.sleep(0.3)
        assert got == []  # it waits for the device held above ...
        (host_gpus / "nvidia0").unlink()
        (host_gpus / "nvidia0").write_text("")  # ... which meanwhile is no longer a device
    waiter.join(timeout=10)
    assert [type(error) for error in got] == [devices.NoDevices], got
    assert devices.absent([0, 1, 2]) == (0, 1, 2)


# -- the embedded default -------------------------------------------------------------------------------------------


@pytest.fixture
def embedded(built: dict[str, Path], tmp_path: Path) -> Iterator[tuple[Path, Ledger]]:
    """A workspace of its own with its SQLite ledger, for the in-process workers of `codefest serve`."""
    home = tmp_path / "home"
    shutil.copytree(built["home"], home)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CODEFEST_CHALLENGES_PATH", str(built["challenges"]))
        env.setenv("CODEFEST_HOME", str(home))
        for name in ("CODEFEST_DATABASE_URL", "CODEFEST_BROKER_URL", devices.ENV):
            env.delenv(name, raising=False)
        ledger = Ledger.open(None, home)
        try:
            yield home, ledger
        finally:
            ledger.close()


def embedded_worker(home: Path, challenges: Path, log: Path, **more: str) -> launcher.Started:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFEST_")}
    env |= {"CODEFEST_HOME": str(home), "CODEFEST_CHALLENGES_PATH": str(challenges), **FAST, **more}
    with log.open("wb") as sink:
        return launcher.start([], module="codefest.evaluation.workers", env=env, stdout=sink, stderr=subprocess.STDOUT)


def stop(worker: launcher.Started) -> None:
    worker.terminate()
    worker.wait(timeout=60)


@needs_isolation
def test_the_embedded_default_without_gpus_leaves_a_gpu_run_queued_and_goes_on_with_the_rest(
    embedded: tuple[Path, Ledger], built: dict[str, Path], tmp_path: Path, dev: Path
) -> None:
    home, ledger = embedded
    ledger.add_team("office-e")
    pilot = write_pilot(tmp_path / "pilot")
    # the organisers' own `codefest evaluate` of the pilot, without GPUs: it does not run it
    direct = launcher.run(
        ["evaluate", SLUG, "--team", "office-e", "--code", str(pilot)],
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    assert WAITING in direct.stderr and "Traceback" not in direct.stderr, direct.stderr[-3000:]
    [code] = ledger.submissions(SLUG)
    assert (code.status, code.attempts, code.message) == ("queued", 0, WAITING)

    queue_only = Evaluator(load(SLUG), home, ledger=ledger, enqueue=lambda row: None)  # received, left to workers
    later = queue_only.predictions("office-e", right_every(home, SLUG, tmp_path / "run.jsonl", 2)).submission_id
    log = tmp_path / "worker.log"
    worker = embedded_worker(home, built["challenges"], log)
    try:
        scored = wait_for(lambda: (r := ledger.get(str(later))) and r.status in TERMINAL and r, WITHIN, "scoring")
        assert scored.status == "scored"
        time.sleep(1)  # four claims of the worker's loop
    finally:
        stop(worker)
    row = ledger.get(code.id)
    assert row is not None and (row.status, row.attempts, row.worker, row.message) == ("queued", 0, None, WAITING)
    text = log.read_text(errors="replace")
    assert text.count(f"submission {code.id} waits for a worker with GPUs") == 1  # given back once, then left
    assert "Traceback" not in text

    nodes = {ROOT: str(make_nodes(dev, 2))}
    gpu_worker = embedded_worker(home, built["challenges"], tmp_path / "gpu-worker.log", CODEFEST_GPUS="2", **nodes)
    try:
        done = wait_for(lambda: (r := ledger.get(code.id)) and r.status in TERMINAL and r, WITHIN, "the code run")
    finally:
        stop(gpu_worker)
    assert done.status == "scored", done.message
    printed = stdout_of(home, str(done.public_run_id)).splitlines()
    assert printed == ["CUDA_VISIBLE_DEVICES=2", "nodes=nvidia2:195:2,nvidiactl:195:255"]


def ready(log: Path, worker: launcher.Started) -> None:
    wait_for(lambda: ": ready" in log.read_text(errors="replace") or worker.poll() is not None, WITHIN, "ready")
    assert worker.poll() is None, log.read_text(errors="replace")[-3000:]


@needs_isolation
def test_an_embedded_worker_whose_gpu_node_is_removed_leaves_the_run_queued_never_on_the_cpu(
    embedded: tuple[Path, Ledger], built: dict[str, Path], tmp_path: Path, dev: Path
) -> None:
    home, ledger = embedded
    ledger.add_team("office-r")
    nodes = {ROOT: str(make_nodes(dev, 2)), devices.ENV: "2"}
    log = tmp_path / "worker.log"
    worker = embedded_worker(home, built["challenges"], log, **nodes)
    try:
        ready(log, worker)  # it started with its GPU ...
        (dev / "nvidia2").unlink()  # ... which is then taken from the host (or the container)
        queue_only = Evaluator(load(SLUG), home, ledger=ledger, enqueue=lambda row: None)  # received, left to workers
        code = queue_only.code("office-r", write_pilot(tmp_path / "pilot")).submission_id
        given_back = f"submission {code} waits for a worker with GPUs"
        wait_for(lambda: given_back in log.read_text(errors="replace"), WITHIN, "the run given back")
        later = queue_only.predictions("office-r", right_every(home, SLUG, tmp_path / "run.jsonl", 2)).submission_id
        scored = wait_for(lambda: (r := ledger.get(str(later))) and r.status in TERMINAL and r, WITHIN, "scoring")
        assert scored.status == "scored"  # it goes on with the rest
    finally:
        stop(worker)
    row = ledger.get(str(code))
    assert row is not None
    assert (row.status, row.attempts, row.worker, row.message, row.public_run_id) == ("queued", 0, None, WAITING, None)
    text = log.read_text(errors="replace")
    assert text.count(given_back) == 1 and "has 0 (GPU 2 has no device node any more)" in text
    assert "Traceback" not in text

    make_nodes(dev, 2, shared=())  # the GPU is back: a worker with it runs the submission on it
    log = tmp_path / "gpu-worker.log"
    gpu_worker = embedded_worker(home, built["challenges"], log, **nodes)
    try:
        done = wait_for(lambda: (r := ledger.get(str(code))) and r.status in TERMINAL and r, WITHIN, "the code run")
    finally:
        stop(gpu_worker)
    assert (done.status, done.attempts) == ("scored", 1), done.message
    printed = stdout_of(home, str(done.public_run_id)).splitlines()
    assert printed == ["CUDA_VISIBLE_DEVICES=2", "nodes=nvidia2:195:2,nvidiactl:195:255"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_embedded_workers_serve_and_evaluate_refuse_a_gpu_without_its_node(
    embedded: tuple[Path, Ledger], built: dict[str, Path], tmp_path: Path
) -> None:
    home, ledger = embedded
    ledger.add_team("office-n")
    nodes = make_nodes(tmp_path / "dev", 0)
    (nodes / "nvidia2").write_text("")  # not a device
    setting = {ROOT: str(nodes), devices.ENV: "0,2"}
    expected = f"the GPU 2 is not on this host: {nodes}/nvidia2 is not a character device"

    log = tmp_path / "worker.log"
    worker = embedded_worker(home, built["challenges"], log, **setting)
    assert worker.wait(timeout=120) == 2
    [line] = [line for line in log.read_text(errors="replace").splitlines() if "ERROR" in line]
    assert line.endswith(
        f"{expected}; fix: give only the GPUs this host has (ls {nodes}/nvidia*) with --gpus or "
        f"{devices.ENV}, or set {ROOT} to the folder where the device nodes are mounted"
    )

    base = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    port = str(free_port())
    serve = launcher.run(["serve", "--port", port], env=base | setting)
    assert refused(serve) == f"error: {expected}"
    pilot = write_pilot(tmp_path / "pilot")
    evaluate = ["evaluate", SLUG, "--team", "office-n", "--code", str(pilot)]
    if not Path("/dev/nvidia0").exists():  # the review's case: CODEFEST_GPUS=0 on a host without /dev/nvidia0
        done = launcher.run(evaluate, env=base | {devices.ENV: "0", ROOT: ""})
        assert refused(done) == "error: the GPU 0 is not on this host: /dev/nvidia0 is not a character device"
    done = launcher.run(evaluate, env=base | setting)
    assert refused(done) == f"error: {expected}"
    assert ledger.submissions(SLUG) == []  # nothing received, nothing run
