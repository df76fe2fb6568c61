"""`gateway` commands forked from one interpreter that imported the gateway once.

Starting ``python -m gateway`` costs about 1.2 s of CPU before a subcommand does
anything (the interpreter, SQLAlchemy, SQLModel, alembic, grpc, pydantic and the
gateway's own 180 modules), and the tests run hundreds of subcommands: most of a
test worker's CPU went there. A command server, one per test worker, imports all
of it once and forks a process per command. Each command still runs in a process
of its own, as with exec: its own pid and session (``os.setsid``, so a timeout kills
its whole group), the caller's stdin and pipes for stdout and stderr, the caller's
working folder and environment, and the exit status as ``subprocess`` reports it.

The server stays single-threaded and opens nothing before it forks (no gRPC
channel, no database engine), so a forked child starts as clean as an exec'd one.
What acts only when an interpreter starts cannot be forked in: a request whose
environment differs from the server's in a ``PYTHON*``, ``LD_*`` or ``GRPC_*``
variable (datefudge's ``LD_PRELOAD``, for one) is exec'd as before, and so is
every command when ``GATEWAY_TEST_EXEC=1`` is set.

Protocol, one Unix-socket connection per command: the caller sends a 4-byte
length and the JSON request (argv, cwd, env) with three file descriptors (stdin,
stdout, stderr) in one ``sendmsg``; the server answers ``pid\\n`` once forked and
``status\\n`` (the raw ``waitpid`` status) when the command ended.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["EXEC_VARIABLE", "forked_command", "needs_exec"]

EXEC_VARIABLE = "GATEWAY_TEST_EXEC"
"""Set to ``1`` to exec every `gateway` command, as before the server."""

_ROOT = Path(__file__).resolve().parents[2]
_LENGTH = struct.Struct("!I")
_STARTUP_PREFIXES = ("PYTHON", "LD_", "GRPC_")
_START_TIMEOUT_S = 60.0
_PARENT_POLL_S = 0.5
_STARTUP_ENV = dict(os.environ)
"""The environment the server starts with (this worker's when it imported this module)."""


def needs_exec(env: Mapping[str, str]) -> bool:
    """True when a command run with ``env`` must be exec'd: see the module's text."""
    if os.environ.get(EXEC_VARIABLE) == "1":
        return True
    names = {*env, *_STARTUP_ENV}
    return any(
        env.get(name) != _STARTUP_ENV.get(name)
        for name in names
        if name.startswith(_STARTUP_PREFIXES)
    )


def forked_command(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path | None, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """Run ``gateway *args`` in a process forked from this worker's command server.

    As ``subprocess`` with ``text=True`` and a session of its own: on a timeout
    (``subprocess.TimeoutExpired``), or when the caller is stopped meanwhile, the
    command's whole process group is killed.
    """
    return _server().run(list(args), env=dict(env), cwd=cwd, timeout_s=timeout_s)


class _Server:
    """This worker's command server: a child process listening on a Unix socket."""

    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="gateway-commands-"))
        self.path = self._folder / "socket"
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, str(_ROOT), str(self.path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=_STARTUP_ENV,
            start_new_session=True,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self.path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the command server did not start ({self.process.returncode})")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self._folder.rmdir()

    def run(
        self, args: list[str], *, env: dict[str, str], cwd: Path | None, timeout_s: float
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "gateway", *args]
        request = json.dumps({"args": args, "env": env, "cwd": str(cwd or Path.cwd())}).encode()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            try:
                conn.connect(str(self.path))
                socket.send_fds(conn, [_LENGTH.pack(len(request)) + request], [0, out_w, err_w])
            finally:
                os.close(out_w)
                os.close(err_w)
            return _collect(conn, argv, out_r, err_r, timeout_s)


def _collect(
    conn: socket.socket, argv: list[str], out_r: int, err_r: int, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """Read the command's output and status, as ``Popen.communicate`` would."""
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    answer = bytearray()
    selector = selectors.DefaultSelector()
    for fd in (out_r, err_r, conn.fileno()):
        selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout_s
    pid: int | None = None
    status: int | None = None
    try:
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(argv, timeout_s)
            for key, _ in selector.select(min(left, 1.0)):
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fd)
                elif key.fd == conn.fileno():
                    answer += data
                else:
                    chunks[key.fd].append(data)
            lines = answer.split(b"\n")
            if pid is None and len(lines) > 1:
                pid = int(lines[0])
            if status is None and len(lines) > 2:
                status = int(lines[1])
    finally:
        selector.close()
        if status is None and pid is not None:
            # Timed out or stopped: end the command's group, as run_in_own_session does.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        os.close(out_r)
        os.close(err_r)
    if status is None:
        raise RuntimeError(f"the command server ended before `{' '.join(argv[3:])}` did")
    return subprocess.CompletedProcess(
        argv,
        os.waitstatus_to_exitcode(status),
        _text(b"".join(chunks[out_r])),
        _text(b"".join(chunks[err_r])),
    )


def _text(data: bytes) -> str:
    # As subprocess's text mode: the locale's UTF-8, universal newlines.
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")


_SERVER: list[_Server] = []
_SERVER_LOCK = threading.Lock()


def _server() -> _Server:
    with _SERVER_LOCK:
        if not _SERVER or _SERVER[0].process.poll() is not None:
            _SERVER[:] = [_Server()]
            atexit.register(_SERVER[0].stop)
        return _SERVER[0]


_BOOT = (
    "import sys; sys.path[0] = sys.argv[1]; "
    "from tests.support.command_server import serve; serve(sys.argv[2])"
)


def serve(path: str) -> None:  # pragma: no cover - runs in the server process
    """The server's loop: import the gateway, then fork a child per request.

    Ends by itself when the worker that started it is gone.
    """
    from gateway.cli import _SUBCOMMANDS

    for target in _SUBCOMMANDS.values():
        importlib.import_module(target.partition(":")[0])
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    listener.listen(64)
    Path(path + ".new").rename(path)  # callers wait for the name: it appears listening
    waiting: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    while os.getppid() == parent:
        for _key, _ in selector.select(_PARENT_POLL_S if not waiting else 0.02):
            conn, _address = listener.accept()
            try:
                pid = _fork(conn, listener, waiting)
            except (OSError, ValueError, KeyError, struct.error):
                conn.close()  # a request that cannot be read: its caller sees the close
                continue
            conn.sendall(f"{pid}\n".encode())
            waiting[pid] = conn
        for pid, conn in list(waiting.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                with contextlib.suppress(OSError):
                    conn.sendall(f"{status}\n".encode())
                conn.close()
                del waiting[pid]


def _fork(conn: socket.socket, listener: socket.socket, waiting: dict[int, socket.socket]) -> int:
    data, fds, _flags, _address = socket.recv_fds(conn, 1 << 20, 3)
    try:
        (length,) = _LENGTH.unpack_from(data)
        while len(data) < _LENGTH.size + length:
            more = conn.recv(1 << 20)
            if not more:
                raise ConnectionError("the request ended early")
            data += more
        request = json.loads(data[_LENGTH.size : _LENGTH.size + length])
        if len(fds) != 3:
            raise ConnectionError(f"{len(fds)} file descriptors, not 3")
        pid = os.fork()
        if pid == 0:
            listener.close()
            conn.close()
            for other in waiting.values():
                other.close()
            _child(request, fds)
        return pid
    finally:
        for fd in fds:
            os.close(fd)


def _child(request: dict[str, object], fds: list[int]) -> None:  # pragma: no cover - forked
    """Become ``python -m gateway`` with the request's argv, folder and environment."""
    code = 1
    try:
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        cwd = str(request["cwd"])
        os.chdir(cwd)
        env = request["env"]
        assert isinstance(env, dict)
        os.environ.clear()
        os.environ.update(env)
        time.tzset()
        sys.path.insert(0, cwd)  # as `python -m` puts the working folder first
        args = request["args"]
        assert isinstance(args, list)
        import gateway
        from gateway.cli import main

        sys.argv = [str(Path(gateway.__file__).parent / "__main__.py"), *map(str, args)]

        try:
            main()
            code = 0
        except SystemExit as stop:
            code = _exit_code(stop.code)
        # As the interpreter ends: non-daemon threads joined, then atexit functions.
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001 - as the interpreter does: print it, exit 1
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")  # as the interpreter prints sys.exit("text")
    return 1
