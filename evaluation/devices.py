"""The GPUs of a host that code runs may use, and which of them one run holds.

CODEFEST_GPUS (which `codefest worker --gpus` sets) names a worker's devices by index, the N of /dev/nvidiaN,
comma-separated; a challenge's `resources.gpus` says how many one code run needs. A run holds its devices for as long
as it runs through one lock file per device under the workspace (`gpus/HOST/N.lock`, `flock`), rather than by the
index of the Celery pool process that runs it:

- every process of a host that runs pilots shares one pool without knowing of the others: the pool processes of a
  `codefest worker`, the embedded workers of `codefest serve`, `codefest evaluate` itself;
- a run takes exactly the devices its challenge declares, where a split by process index would give each process a
  fixed share whatever the challenge needs;
- the kernel releases a lock when its process ends, however it ends: a killed worker holds no device after.

A device is one only if its node, /dev/nvidiaN, is a character device (CODEFEST_DEVICE_ROOT names another folder
for hosts or containers that mount the nodes elsewhere): a run told CUDA_VISIBLE_DEVICES=N without the node would
run on the CPU and be billed GPU-hours. So every process that runs pilots refuses at start an index without its node
(`check`), and a run looks again when it takes its devices (`held`), in case one was removed since.

A process with fewer devices than a run needs raises `NoDevices` before anything runs (the submission then waits,
queued, for a worker with enough); one whose devices are held by other runs waits until enough are free. The run is
told its devices in its environment (`environment`), and the sandbox shows it only their device nodes
(`codefest.evaluation.jail.device_nodes`, which refuses to start a run whose own node is missing).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from codefest.core.errors import CodefestError
from codefest.evaluation.jail import DEVICE_ROOT_ENV, character_device, device_root, gpu_node

ENV: Final = "CODEFEST_GPUS"
LOCKS: Final = "gpus"  # under the workspace: gpus/HOST/N.lock
POLL_SECONDS: Final = 1.0  # how often a run whose devices are all held looks again
FIX: Final = "give the indices of the devices, the N of /dev/nvidiaN: codefest worker --gpus 0,1 (or CODEFEST_GPUS)"
_INDEX = re.compile(r"[0-9]{1,4}")
log = logging.getLogger("codefest.devices")


def waiting(count: int) -> str:
    """What a team reads while its submission waits for a worker with `count` devices (nothing of any host)."""
    return "waiting for a worker with a GPU" if count == 1 else f"waiting for a worker with {count} GPUs"


class NoDevices(CodefestError):
    """This process has fewer devices than a run of the challenge needs (or some of its devices lost their node):
    the submission waits for another worker."""

    def __init__(self, slug: str, needed: int, available: int, absent: Sequence[int] = ()) -> None:
        self.slug, self.needed, self.available, self.absent = slug, needed, available, tuple(absent)
        gone = f" ({_gone(absent)})" if absent else ""
        super().__init__(
            f"the code runs of {slug} need {needed} GPU(s) and this worker has {available}{gone}",
            "start a worker with enough devices: codefest worker --queues code-gpu --gpus 0,1 (or set CODEFEST_GPUS)",
        )

    @property
    def waiting(self) -> str:
        return waiting(self.needed)


def parse(text: str) -> tuple[int, ...]:
    """Device indices from "0,1" (spaces allowed, nothing for ""); CodefestError for one that is not an index or is
    given twice."""
    parts = [part.strip() for part in text.split(",") if part.strip()]
    for part in parts:
        if not _INDEX.fullmatch(part):
            raise CodefestError(f"the GPU {part!r} is not a device index", FIX)
    indices = [int(part) for part in parts]
    twice = sorted({index for index in indices if indices.count(index) > 1})
    if twice:
        raise CodefestError(f"the GPU {twice[0]} is given twice", FIX)
    return tuple(indices)


def configured() -> tuple[int, ...]:
    """This process's devices, from CODEFEST_GPUS; none when it is unset."""
    return parse(os.environ.get(ENV, ""))


def _listed(indices: Sequence[int]) -> str:
    return ", ".join(str(index) for index in indices)


def _gone(indices: Sequence[int]) -> str:
    """What the organisers' log says of devices whose node was removed: "GPU 2 has no device node any more"."""
    if len(indices) == 1:
        return f"GPU {indices[0]} has no device node any more"
    return f"GPUs {_listed(indices)} have no device node any more"


def node(device: int) -> Path:
    """The device node of the GPU `device` on this host: /dev/nvidiaN, or under CODEFEST_DEVICE_ROOT."""
    return Path(device_root()) / gpu_node(device)


def absent(indices: Sequence[int]) -> tuple[int, ...]:
    """Those of `indices` whose node is not a character device: not a GPU of this host, or not visible here."""
    return tuple(index for index in indices if not character_device(str(node(index))))


def present() -> tuple[int, ...]:
    """This process's devices whose nodes are here now: one removed after the start no longer counts."""
    mine = configured()
    gone = set(absent(mine))
    return tuple(index for index in mine if index not in gone)


def check(indices: Sequence[int]) -> tuple[int, ...]:
    """`indices`, each a GPU of this host; CodefestError for one whose node is not a character device, so that a
    process is refused at start rather than running pilots on the CPU and billing them as GPU runs."""
    missing = absent(indices)
    if missing:
        where = device_root()
        raise CodefestError(
            f"the GPU {missing[0]} is not on this host: {where}/{gpu_node(missing[0])} is not a character device",
            f"give only the GPUs this host has (ls {where}/nvidia*) with --gpus or {ENV}, or set {DEVICE_ROOT_ENV} "
            "to the folder where the device nodes are mounted",
        )
    return tuple(indices)


def checked() -> tuple[int, ...]:
    """This process's devices (CODEFEST_GPUS), each checked to be a GPU of this host: what an embedded worker or
    `codefest evaluate` calls before it starts."""
    return check(configured())


def environment(devices: Sequence[int]) -> dict[str, str]:
    """What tells CUDA and NVIDIA's tools which devices a run may use: its own, by index in PCI bus order (the order
    of nvidia-smi, not CUDA's default "fastest first"); none at all for a run without devices."""
    listed = ",".join(str(device) for device in devices)
    return {
        "CUDA_VISIBLE_DEVICES": listed,
        "NVIDIA_VISIBLE_DEVICES": listed or "void",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
    }


def lock_folder(root: Path) -> Path:
    """The host's device locks in the workspace `root`: per host, in case hosts share the workspace."""
    return root / LOCKS / socket.gethostname()


def _try(folder: Path, devices: Sequence[int], count: int, stack: contextlib.ExitStack) -> tuple[int, ...] | None:
    """`count` free devices of `devices`, each locked until `stack` closes; None (and nothing held) otherwise."""
    taken: list[int] = []
    with contextlib.ExitStack() as attempt:
        for device in devices:
            fd = os.open(folder / f"{device}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            attempt.callback(os.close, fd)  # closing the file releases its lock
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            taken.append(device)
            if len(taken) == count:
                stack.push(attempt.pop_all())
                return tuple(taken)
    return None


@contextlib.contextmanager
def held(
    count: int, root: Path, slug: str, devices: Sequence[int] | None = None, poll_seconds: float = POLL_SECONDS
) -> Iterator[tuple[int, ...]]:
    """Hold `count` of this process's devices (`devices`, else CODEFEST_GPUS) while the block runs: the first free
    ones whose node is here, waiting while other runs hold them. NoDevices when there are fewer than `count` (with
    their nodes); nothing for 0."""
    if count == 0:
        yield ()
        return
    mine = configured() if devices is None else tuple(devices)
    folder = lock_folder(root)
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        told = False
        while (taken := _try(folder, _present(mine, count, slug), count, stack)) is None:
            if not told:
                log.info("a run of %s waits for %d of the GPUs %s, held by other runs", slug, count, mine)
                told = True
            time.sleep(poll_seconds)
        yield taken


def _present(mine: Sequence[int], count: int, slug: str) -> tuple[int, ...]:
    """The devices of `mine` whose node is here now, looked at each time a run tries to take some: NoDevices when
    fewer than `count` are (one removed since the process started, say), so the run waits queued for another
    worker instead of running on the CPU."""
    missing = absent(mine)
    present = tuple(device for device in mine if device not in missing)
    if len(present) < count:
        if missing:
            log.warning("the GPUs %s have no device node in %s: not used", _listed(missing), device_root())
        raise NoDevices(slug, count, len(present), missing)
    return present
