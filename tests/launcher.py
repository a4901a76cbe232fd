"""`python -m codefest ...` for the tests' short commands, forked from an interpreter that has loaded the libraries.

Loading MLflow, SQLAlchemy, pandas and FastAPI costs a `codefest` process 2 to 3 CPU-seconds before it does
anything; the tests run a few hundred such commands on 2 cores. Each command here is still a process of its own,
as `subprocess.run` would start it: its own pid, environment, working folder, stdin, stdout and stderr, exit status,
and an interpreter exit of its own (threads joined, atexit handlers run, streams flushed). What differs is only when
the third-party libraries were imported: before the fork, in one interpreter (the zygote) per pytest process.
codefest's own modules are never loaded there: each command imports them, under its own environment. The one
thing a command takes from the zygote is the streams' encoding, which comes from the locale the tests run in.

The commands whose start is what a test checks (start-up, the collector, `codefest ui`, the demo, the guides and the
README run word for word) still start a fresh interpreter.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import io
import json
import os
import runpy
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, NoReturn

# What codefest's commands import from outside codefest: at their start (python -X importtime -m codefest ...) and
# when they first need it (the leaderboard's chart, MLflow's artifacts, the tasks' metrics).
PRELOAD = (
    "mlflow",
    "mlflow.tracking",
    "mlflow.artifacts",
    "mlflow.store.tracking.sqlalchemy_store",
    "pandas",
    "sqlalchemy",
    "fastapi",
    "sklearn.metrics",
    "scipy.sparse",
    "matplotlib.figure",
    "matplotlib.ticker",
    "sacrebleu",
    "ir_measures",
    "jinja2",
    "msgspec",
    "typer",
    "rich.console",
    "rich.progress",
    "yaml",
    "httpx",
    "uvicorn",
    "celery",
    "kombu",
    "redis",
    "psycopg",
)
FRESH = "CODEFEST_TESTS_FRESH_INTERPRETERS"  # set (to anything): every command starts an interpreter of its own
_REQUEST_BYTES = 1 << 20  # the largest request (argv, environment, folder) the zygote reads in one message
_STREAMS = 3  # stdin, stdout, stderr


# -- the zygote: loads once, forks one process a command ---------------------------------------------------------------


def _preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # what was loaded is never walked again by the commands' collectors, nor copied by them


def _serve(path: str) -> tuple[dict[str, Any], list[int]]:
    """Answer requests until the pytest process that started the zygote goes (its stdin closes). Returns only in a
    forked command: its request and the file descriptors of its three streams."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    wake_read, wake_write = socket.socketpair()
    for end in (wake_read, wake_write):
        end.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno())
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that a child's end wakes `select`
    waiting: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    selector.register(sys.stdin, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.fileobj is sys.stdin:  # the pytest process has ended: so does the zygote, leaving its commands
                shutil.rmtree(os.path.dirname(path), ignore_errors=True)
                os._exit(0)
            if key.fileobj is wake_read:
                _drain(wake_read)
                _reap(waiting)
                continue
            connection, _ = listener.accept()
            message, fds, _, _ = socket.recv_fds(connection, _REQUEST_BYTES, _STREAMS)
            pid = os.fork()
            if pid == 0:
                selector.close()
                for end in (listener, wake_read, wake_write, connection, *waiting.values()):
                    end.close()
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                return json.loads(message), fds
            for fd in fds:
                os.close(fd)
            with contextlib.suppress(OSError):  # a client gone already learns nothing; its command runs on
                connection.sendall(f"{pid}".encode())
            waiting[pid] = connection


def _drain(wake: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while wake.recv(512):
            pass


def _reap(waiting: dict[int, socket.socket]) -> None:
    """Tell each waiting client whose command has ended its exit code, as subprocess reports it, and its CPU time."""
    while waiting:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = waiting.pop(pid, None)
        if connection is not None:
            ended = f"{os.waitstatus_to_exitcode(status)} {usage.ru_utime + usage.ru_stime}"
            with contextlib.suppress(OSError):  # unless the client stopped waiting (a timeout: the command killed)
                connection.sendall(ended.encode())
            connection.close()


def _become(request: dict[str, Any], fds: list[int]) -> None:
    """Turn the forked zygote into `python -m MODULE ARGS` run in the request's folder and environment."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if request["session"]:
        os.setsid()
    _fresh_streams()
    sys.path[0] = os.getcwd()  # as `python -m` puts it
    sys.argv = ["-m", *request["args"]]
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)


def _fresh_streams() -> None:
    """sys.stdin, stdout and stderr over the command's descriptors, made as the interpreter makes them at its start
    (buffering from PYTHONUNBUFFERED and whether stdout is a terminal): the zygote's were made for other files."""
    buffered = not os.environ.get("PYTHONUNBUFFERED")
    encoding, errors = sys.stdout.encoding, sys.stdout.errors
    stdin = open(0, "rb", closefd=False)  # noqa: SIM115  # for life, as the others
    streams: dict[str, IO[str]] = {"stdin": io.TextIOWrapper(stdin, encoding, sys.stdin.errors)}
    for fd, name in ((1, "stdout"), (2, "stderr")):
        binary = open(fd, "wb", buffering=-1 if buffered else 0, closefd=False)  # noqa: SIM115  # for life
        streams[name] = io.TextIOWrapper(
            binary,
            encoding,
            "backslashreplace" if fd == 2 else errors,
            line_buffering=buffered and (fd == 2 or os.isatty(fd)),
            write_through=not buffered,
        )
    for name, stream in streams.items():  # and sys.__stdin__ and the others, which the type stubs call final
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


# -- the client: one zygote per pytest process ----------------------------------------------------------------------


class _Zygote:
    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="codefest-zygote-")
        self.path = os.path.join(self.folder, "socket")
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
        root = Path(__file__).resolve().parents[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.launcher", self.path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=root,
            env=env,
            text=True,
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        if ready.strip() != "ready":
            raise RuntimeError(f"the test launcher's zygote did not start: {ready!r}")

    def start(self, request: dict[str, Any], streams: list[int]) -> socket.socket:
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        connection.connect(self.path)
        socket.send_fds(connection, [json.dumps(request).encode()], streams)
        return connection


_zygote: _Zygote | None = None
_starting = threading.Lock()


def _the_zygote() -> _Zygote:
    global _zygote
    with _starting:
        if _zygote is None or _zygote.process.poll() is not None:
            _zygote = _Zygote()
        return _zygote


Stream = int | IO[Any] | None  # as Popen takes it: PIPE, DEVNULL, STDOUT (stderr only), a file, a descriptor, None


class Launched:
    """A command forked by the zygote, with the part of `subprocess.Popen` that the tests use."""

    def __init__(self, args: list[str], connection: socket.socket, readers: dict[str, int], text: bool) -> None:
        self.args = args
        self.returncode: int | None = None
        self.cpu_seconds: float | None = None  # the command's user and system CPU time, once it has ended
        self._connection = connection
        pid = connection.recv(64)
        if not pid:
            raise RuntimeError(f"the test launcher's zygote ended before it started {args[3:]}")
        self.pid = int(pid)
        opened = {name: open(fd, "r" if text else "rb") for name, fd in readers.items()}  # noqa: SIM115  # as Popen
        self.stdout: IO[Any] | None = opened.get("stdout")
        self.stderr: IO[Any] | None = opened.get("stderr")
        self._text = text

    def poll(self) -> int | None:
        if self.returncode is None:
            self._connection.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                self._ended(self._connection.recv(64))
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self._connection.settimeout(timeout)
            try:
                self._ended(self._connection.recv(64))
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout or 0) from None
        assert self.returncode is not None
        return self.returncode

    def _ended(self, message: bytes) -> None:
        if not message:
            raise RuntimeError(f"the test launcher's zygote ended before {self.args[3:]} did")
        code, cpu = message.split()
        self.returncode, self.cpu_seconds = int(code), float(cpu)
        self._connection.close()

    def send_signal(self, number: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, number)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def communicate(self, timeout: float | None = None) -> tuple[Any, Any]:
        """Both pipes read to their end, then the exit awaited, as Popen.communicate does (without input)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        pipes = [stream for stream in (self.stdout, self.stderr) if stream is not None]
        read = iter(_read_all([stream.fileno() for stream in pipes], deadline, self.args, timeout))
        for stream in pipes:
            stream.close()
        self.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
        out, err = (None if stream is None else next(read) for stream in (self.stdout, self.stderr))
        return (_text(out), _text(err)) if self._text else (out, err)


Started = Launched | subprocess.Popen[Any]  # what `start` returns: forked, or a fresh interpreter's Popen


def start(
    args: list[str] | tuple[str, ...],
    *,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    stdout: Stream = None,
    stderr: Stream = None,
    text: bool = False,
    start_new_session: bool = False,
    module: str = "codefest",
) -> Started:
    """`subprocess.Popen([sys.executable, "-m", module, *args], ...)`, forked from the zygote (stdin is
    /dev/null); with CODEFEST_TESTS_FRESH_INTERPRETERS set, that Popen itself."""
    command = [sys.executable, "-m", module, *args]
    if os.environ.get(FRESH):
        return subprocess.Popen(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,  # as a launched command's
            stdout=stdout,
            stderr=stderr,
            text=text,
            start_new_session=start_new_session,
        )
    readers: dict[str, int] = {}
    mine: list[int] = [os.open(os.devnull, os.O_RDONLY)]  # ours to close once the zygote has them
    streams = [mine[0]]
    for name, given in (("stdout", stdout), ("stderr", stderr)):
        if given == subprocess.STDOUT:
            streams.append(streams[1])
        elif given == subprocess.PIPE:
            readers[name], write = os.pipe()
            streams.append(write)
            mine.append(write)
        elif given == subprocess.DEVNULL:
            streams.append(os.open(os.devnull, os.O_WRONLY))
            mine.append(streams[-1])
        elif given is None:
            streams.append(1 if name == "stdout" else 2)
        else:
            streams.append(given if isinstance(given, int) else given.fileno())
    request = {
        "args": list(args),
        "env": dict(os.environ if env is None else env),
        "cwd": os.fspath(cwd or os.getcwd()),
        "session": start_new_session,
        "module": module,
    }
    try:
        connection = _the_zygote().start(request, streams)
    except BaseException:
        for fd in readers.values():
            os.close(fd)
        raise
    finally:
        for fd in mine:
            os.close(fd)
    return Launched(command, connection, readers, text)


def run(
    args: list[str] | tuple[str, ...],
    *,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float = 300,
    module: str = "codefest",
) -> subprocess.CompletedProcess[str]:
    """`subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, ...)`, forked
    from the zygote: TimeoutExpired, the command killed, after `timeout` seconds."""
    process = start(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, module=module)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return subprocess.CompletedProcess(process.args, process.wait(), stdout, stderr)


def _read_all(fds: list[int], deadline: float | None, args: list[str], timeout: float | None) -> list[bytes]:
    """Everything written to each pipe until it is closed; TimeoutExpired past the deadline."""
    chunks: dict[int, list[bytes]] = {fd: [] for fd in fds}
    with selectors.DefaultSelector() as selector:
        for fd in fds:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = selector.select(left)
            if not ready:
                raise subprocess.TimeoutExpired(args, timeout or 0)
            for key, _ in ready:
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
    return [b"".join(chunks[fd]) for fd in fds]


def _text(data: bytes | None) -> str | None:
    """As subprocess decodes with text=True: the locale's encoding, universal newlines."""
    return None if data is None else data.decode().replace("\r\n", "\n").replace("\r", "\n")


def _exit(run: Callable[[], object]) -> NoReturn:
    """Run the command, then end the process as the interpreter's exit would, but for the tearing down of every
    module: for a process that has loaded MLflow, pandas and FastAPI, that takes a quarter of a second and makes
    it copy most of the zygote's memory. As Py_FinalizeEx does: threads joined, atexit handlers (logging's flush
    among them), streams flushed; the exit code of SystemExit, or 1 after the traceback of another exception."""
    try:
        run()
        code = 0
    except SystemExit as stopped:
        code = _exit_code(stopped.code)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as the interpreter ends on an uncaught Ctrl+C: by SIGINT
        code = -signal.SIGINT
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    getattr(threading, "_shutdown")()  # noqa: B009  # the interpreter's own wait for non-daemon threads
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    if code == -signal.SIGINT:
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    _preload()
    request, fds = _serve(sys.argv[1])
    _exit(lambda: _become(request, fds))
