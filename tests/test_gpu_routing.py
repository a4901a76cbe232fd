"""Code runs that need GPUs: routed to the `code-gpu` queue's workers, handed their devices, refused elsewhere.

This machine has no GPU: what is tested is the routing (real `codefest worker` processes on a real Redis broker, the
ledger on PostgreSQL), the devices a run is told (CUDA_VISIBLE_DEVICES, seen by a pilot in the real sandbox), the
device nodes the sandbox binds (fake nodes made with mknod in a temporary folder), the lock pool that keeps two runs
off one device, and the embedded default without GPUs. Real CUDA is not: see docs/deploy.md.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
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
from tests import test_distributed
from tests.helpers import bundled_spec, right_every, write_challenge
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

pytestmark = pytest.mark.slow  # real brokers, databases, worker processes and sandboxed runs
event = test_distributed.event  # the fixture: a workspace, a PostgreSQL ledger and a Redis broker of the test's own

WAITING = "waiting for a worker with a GPU"
# Says what the sandbox showed it: its CUDA_VISIBLE_DEVICES and the GPU device nodes it can see.
GPU_PILOT = """\
import argparse
import json
import os
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--input", type=Path, required=True)
parser.add_argument("--output", type=Path, required=True)
args = parser.parse_args()
print("CUDA_VISIBLE_DEVICES=" + os.environ.get("CUDA_VISIBLE_DEVICES", "(unset)"))
print("nodes=" + ",".join(sorted(name for name in os.listdir("/dev") if name.startswith("nvidia"))))
rows = [json.loads(line) for line in args.input.read_text().splitlines() if line.strip()]
args.output.write_text("".join(json.dumps({"id": r["id"], "labels": ["H04L 9/00"]}) + "\\n" for r in rows))
"""


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
    shutil.copyfile(_empty_store, home / "mlflow.db")
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
    event: Event, tmp_path: Path
) -> None:
    enrol(event, ["office-g"])
    cpu = event.worker("cpu", "--queues", "code")
    submit_pilot(event, tmp_path / "inbox", "office-g")

    wait_for(lambda: queued_messages(event, broker.CODE_GPU) >= 1, WITHIN, "the message on code-gpu")
    time.sleep(3)  # three sweeps of the code worker, which takes nothing
    row = only_row(event)
    assert (row.status, row.attempts, row.worker, row.message) == ("queued", 0, None, "queued")
    assert queued_messages(event, broker.CODE) == 0 and queued_messages(event, broker.CODE_GPU) >= 1
    assert row.id not in cpu.text()

    gpu = event.worker("gpu", "--queues", "code-gpu", "--gpus", "3")
    done = wait_for(lambda: (r := only_row(event)).status in TERMINAL and r, WITHIN, "the submission ending")
    assert (done.status, done.attempts, done.kind) == ("scored", 1, "code"), done.message
    assert holder_pid(done) in descendants(gpu.process.pid)
    printed = stdout_of(event.home, done.public_run_id).splitlines()
    assert printed == ["CUDA_VISIBLE_DEVICES=3", "nodes="]  # its device, and no node: this host has no GPU
    assert code_gpus_tag(event.home, done.public_run_id) == "1"
    assert "Traceback" not in gpu.text() + cpu.text()


@needs_isolation
def test_a_gpu_run_sent_to_a_code_worker_waits_and_goes_on_to_code_gpu(event: Event, tmp_path: Path) -> None:
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

    gpu = event.worker("gpu", "--queues", "code-gpu", "--gpus", "5")
    done = wait_for(lambda: (r := only_row(event)).status in TERMINAL and r, WITHIN, "the submission ending")
    assert (done.status, done.attempts) == ("scored", 1), done.message
    assert holder_pid(done) in descendants(gpu.process.pid)
    assert stdout_of(event.home, done.public_run_id).splitlines()[0] == "CUDA_VISIBLE_DEVICES=5"


def worker_refusal(tmp_path: Path, gpus: int, *options: str, **env: str) -> subprocess.CompletedProcess[str]:
    gpu_challenge(tmp_path / "challenges", gpus=gpus)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CODEFEST_")}
    environment |= {
        "CODEFEST_HOME": str(tmp_path / "home"),
        "CODEFEST_CHALLENGES_PATH": str(tmp_path / "challenges"),
        "CODEFEST_BROKER_URL": "redis://127.0.0.1:9/0",  # refused before any connection
        **env,
    }
    command = [sys.executable, "-m", "codefest", "worker", *options]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=120)


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


# -- what one run is given --------------------------------------------------------------------------------------------


def char_device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # /dev/null's numbers: harmless wherever it is opened


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_the_sandbox_binds_only_the_runs_own_gpu_nodes_and_the_shared_ones_the_host_has(tmp_path: Path) -> None:
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in ("nvidia3", "nvidia4", "nvidia10", "nvidiactl", "nvidia-uvm"):
        char_device(dev / name)
    (dev / "nvidia-modeset").write_text("")  # not a device node: never bound
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
        devices=[3, 10, 5],  # 5: not on this host
    )

    def binds(devices: list[int]) -> list[tuple[str, str]]:
        argv = jail.bwrap_argv(
            jail.JailSpec(**{**vars(spec), "devices": devices}), jail.Scratch(tmp_path), [], [], str(dev)
        )
        return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == "--dev-bind"]

    assert binds(spec.devices) == [
        (str(dev / "nvidia3"), "/dev/nvidia3"),
        (str(dev / "nvidia10"), "/dev/nvidia10"),
        (str(dev / "nvidiactl"), "/dev/nvidiactl"),
        (str(dev / "nvidia-uvm"), "/dev/nvidia-uvm"),
    ]
    assert binds([]) == []  # a run without GPUs sees no NVIDIA node, not even the driver's
    argv = jail.bwrap_argv(spec, jail.Scratch(tmp_path), [], [], str(dev))
    assert argv.index("--dev") < argv.index("--dev-bind") < argv.index("--remount-ro")  # inside the fresh /dev
    assert jail.JailSpec.from_json(spec.to_json()).devices == [3, 10, 5]


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


def test_two_runs_never_hold_one_device_and_a_third_waits_for_one(tmp_path: Path) -> None:
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


def test_a_lock_dies_with_its_process(tmp_path: Path) -> None:
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


def embedded_worker(home: Path, challenges: Path, log: Path, **more: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFEST_")}
    env |= {"CODEFEST_HOME": str(home), "CODEFEST_CHALLENGES_PATH": str(challenges), **FAST, **more}
    with log.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "codefest.evaluation.workers"], env=env, stdout=sink, stderr=subprocess.STDOUT
        )


def stop(worker: subprocess.Popen[bytes]) -> None:
    worker.terminate()
    worker.wait(timeout=60)


@needs_isolation
def test_the_embedded_default_without_gpus_leaves_a_gpu_run_queued_and_goes_on_with_the_rest(
    embedded: tuple[Path, Ledger], built: dict[str, Path], tmp_path: Path
) -> None:
    home, ledger = embedded
    ledger.add_team("office-e")
    pilot = write_pilot(tmp_path / "pilot")
    # the organisers' own `codefest evaluate` of the pilot, without GPUs: it does not run it
    direct = subprocess.run(
        [sys.executable, "-m", "codefest", "evaluate", SLUG, "--team", "office-e", "--code", str(pilot)],
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        capture_output=True,
        text=True,
        timeout=300,
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

    gpu_worker = embedded_worker(home, built["challenges"], tmp_path / "gpu-worker.log", CODEFEST_GPUS="2")
    try:
        done = wait_for(lambda: (r := ledger.get(code.id)) and r.status in TERMINAL and r, WITHIN, "the code run")
    finally:
        stop(gpu_worker)
    assert done.status == "scored", done.message
    assert stdout_of(home, str(done.public_run_id)).splitlines()[0] == "CUDA_VISIBLE_DEVICES=2"
