"""`gateway` commands forked from one interpreter that imported the gateway once.

Starting ``python -m gateway`` costs about 1.2 s of CPU before a subcommand does
anything (the interpreter, SQLAlchemy, SQLModel, alembic, grpc, pydantic and the
gateway's own 180 modules), and the tests run hundreds of subcommands and node
starts: most of a test worker's CPU went there. A command server, one per test
worker, imports all of it once and forks a process per command. Each command
still runs in a process of its own, as with exec: its own pid and session
(``os.setsid``, so a timeout kills its whole group), the stdin, stdout and stderr
it is given, the caller's working folder and environment, and its exit status as
``subprocess`` reports it.

The server stays single-threaded and opens nothing before it forks (no gRPC
channel, no database engine), so a forked child starts as clean as an exec'd one.
What acts only when an interpreter starts cannot be forked in: a command whose
environment differs from the server's in a ``PYTHON*``, ``LD_*`` or ``GRPC_*``
variable (datefudge's ``LD_PRELOAD``, for one) is exec'd as before, and so is
every command when ``GATEWAY_TEST_EXEC=1`` is set.

Protocol, one Unix-socket connection per command: the caller sends a 4-byte
length and the JSON request (args, cwd, env) with three file descriptors (the
command's stdin, stdout and stderr) in one ``sendmsg``; the server answers
``pid\\n`` once forked and ``status\\n`` (the raw ``waitpid`` status) when the
command ended, then closes the connection.
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
from typing import IO

__all__ = [
    "EXEC_VARIABLE",
    "ForkedProcess",
    "forked_command",
    "gateway_command",
    "needs_exec",
    "spawn_forked",
]

EXEC_VARIABLE = "GATEWAY_TEST_EXEC"
"""Set to ``1`` to exec every `gateway` command, as before the server."""

_ROOT = Path(__file__).resolve().parents[2]
_LENGTH = struct.Struct("!I")
_STARTUP_PREFIXES = ("PYTHON", "LD_", "GRPC_")
_START_TIMEOUT_S = 60.0
_PARENT_POLL_S = 0.5


def gateway_command(*args: str) -> list[str]:
    """argv running the `gateway` command with this interpreter (a forked one reports it)."""
    return [sys.executable, "-m", "gateway", *args]


def needs_exec(env: Mapping[str, str]) -> bool:
    """True when a command run with ``env`` must be exec'd: see the module's text."""
    if os.environ.get(EXEC_VARIABLE) == "1":
        return True
    server = _server().env
    return any(
        env.get(name) != server.get(name)
        for name in {*env, *server}
        if name.startswith(_STARTUP_PREFIXES)
    )


def forked_command(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path | None, timeout_s: float
) -> subprocess.CompletedProcess[str]:
    """Run ``gateway *args`` to completion in a process forked from the command server.

    As ``subprocess`` with ``text=True``, ``start_new_session=True`` and both
    outputs captured: on a timeout (``subprocess.TimeoutExpired``), or when the
    caller is stopped meanwhile, the command's whole process group is killed.
    """
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        process = _server().start(list(args), env=env, cwd=cwd, fds=(0, out_w, err_w))
    except BaseException:
        os.close(out_r)
        os.close(err_r)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
    with process:
        stdout, stderr = process.communicate(out_r, err_r, timeout_s)
    return subprocess.CompletedProcess(process.args, process.wait(0), stdout, stderr)


def spawn_forked(args: Sequence[str], *, env: Mapping[str, str], stderr: int) -> ForkedProcess:
    """Start ``gateway *args`` forked from the command server, its stdout a pipe to read.

    As ``subprocess.Popen(..., stdout=PIPE, stderr=stderr, start_new_session=True)``
    in this worker's folder.
    """
    out_r, out_w = os.pipe()
    try:
        process = _server().start(list(args), env=env, cwd=None, fds=(0, out_w, stderr))
    except BaseException:
        os.close(out_r)
        raise
    finally:
        os.close(out_w)
    process.stdout = os.fdopen(out_r, "rb")  # closed with the process
    return process


class ForkedProcess:
    """A command the server forked: the part of ``subprocess.Popen`` the tests use."""

    def __init__(self, conn: socket.socket, pid: int, args: list[str], answer: bytes) -> None:
        self._conn = conn
        self._answer = bytearray(answer)  # the status may have come with the pid
        self.pid = pid
        self.args = args
        self.returncode: int | None = None
        self.stdout: IO[bytes] | None = None

    def __enter__(self) -> ForkedProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.returncode is None:
            # Stopped before it ended: end its group, as run_in_own_session does.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            self.wait()
        self.close()

    def close(self) -> None:
        self._conn.close()
        if self.stdout is not None:
            self.stdout.close()

    def poll(self) -> int | None:
        """The exit code if the command ended (negative: the signal that ended it)."""
        return self._status(0.0)

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the command to end (``subprocess.TimeoutExpired`` after ``timeout``)."""
        code = self._status(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, out_r: int, err_r: int, timeout_s: float) -> tuple[str, str]:
        """Read both outputs to their ends and wait for the status, within ``timeout_s``."""
        chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            for fd in (out_r, err_r):
                selector.register(fd, selectors.EVENT_READ)
            try:
                while selector.get_map():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise subprocess.TimeoutExpired(self.args, timeout_s)
                    for key, _ in selector.select(min(left, 1.0)):
                        data = os.read(key.fd, 65536)
                        if data:
                            chunks[key.fd].append(data)
                        else:
                            selector.unregister(key.fd)
            finally:
                os.close(out_r)
                os.close(err_r)
        if self._status(max(deadline - time.monotonic(), 0.0)) is None:
            raise subprocess.TimeoutExpired(self.args, timeout_s)
        return _text(b"".join(chunks[out_r])), _text(b"".join(chunks[err_r]))

    def _status(self, timeout: float | None) -> int | None:
        if self.returncode is not None:
            return self.returncode
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._answer:
            left = None if deadline is None else max(deadline - time.monotonic(), 0.0)
            self._conn.settimeout(left)
            try:
                data = self._conn.recv(64)
            except (TimeoutError, BlockingIOError):
                return None
            if not data:
                raise RuntimeError(f"the command server ended before `{' '.join(self.args[3:])}`")
            self._answer += data
        self.returncode = os.waitstatus_to_exitcode(int(self._answer.split(b"\n")[0]))
        # The server has said all it will: its socket is not kept open until the
        # object is collected (a test's node is, for the rest of the test).
        self._conn.close()
        return self.returncode


def _text(data: bytes) -> str:
    # As subprocess's text mode: the locale's UTF-8, universal newlines.
    return data.decode().replace("\r\n", "\n").replace("\r", "\n")


class _Server:
    """This worker's command server: a child process listening on a Unix socket."""

    def __init__(self) -> None:
        self.env = dict(os.environ)
        self._folder = Path(tempfile.mkdtemp(prefix="gateway-commands-"))
        self.path = self._folder / "socket"
        self.process = subprocess.Popen(
            [sys.executable, "-c", _BOOT, str(_ROOT), str(self.path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env=self.env,
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

    def start(
        self,
        args: list[str],
        *,
        env: Mapping[str, str],
        cwd: Path | None,
        fds: tuple[int, int, int],
    ) -> ForkedProcess:
        request = json.dumps({"args": args, "env": dict(env), "cwd": str(cwd or Path.cwd())})
        data = request.encode()
        argv = gateway_command(*args)
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(str(self.path))
            socket.send_fds(conn, [_LENGTH.pack(len(data)) + data], list(fds))
            conn.settimeout(_START_TIMEOUT_S)
            line, rest = _first_line(conn, argv)
        except BaseException:
            conn.close()
            raise
        return ForkedProcess(conn, int(line), argv, rest)


def _first_line(conn: socket.socket, argv: list[str]) -> tuple[bytes, bytes]:
    answer = b""
    while b"\n" not in answer:
        more = conn.recv(64)
        if not more:
            raise RuntimeError(f"the command server refused `{' '.join(argv[3:])}`")
        answer += more
    line, _, rest = answer.partition(b"\n")
    return line, rest


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
    # Everything they import stays; the subcommands' own modules are imported again by
    # each command, after its environment is in place: a rich Console reads COLUMNS,
    # NO_COLOR and the like when it is made, and gateway.commands makes its at import.
    commands = [name for name in sys.modules if f"{name}.".startswith("gateway.commands.")]
    for name in commands:
        del sys.modules[name]
    parent = os.getppid()
    # A child's end wakes the loop: SIGCHLD writes to this pipe.
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".new")
    listener.listen(64)
    Path(path + ".new").rename(path)  # callers wait for the name: it appears listening
    waiting: dict[int, socket.socket] = {}
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    while os.getppid() == parent:
        for key, _ in selector.select(_PARENT_POLL_S):
            if key.fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
                continue
            conn, _address = listener.accept()
            try:
                pid = _fork(conn, (listener, *waiting.values()), (wake_r, wake_w))
            except (OSError, ValueError, KeyError, struct.error):
                conn.close()  # a request that cannot be read: its caller sees the close
                continue
            with contextlib.suppress(OSError):
                conn.sendall(f"{pid}\n".encode())
            waiting[pid] = conn
        _reap(waiting)


def _reap(waiting: dict[int, socket.socket]) -> None:
    for pid, conn in list(waiting.items()):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            with contextlib.suppress(OSError):
                conn.sendall(f"{status}\n".encode())
            conn.close()
            del waiting[pid]


def _fork(conn: socket.socket, sockets: Sequence[socket.socket], pipe: tuple[int, int]) -> int:
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
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            for other in (conn, *sockets):
                other.close()
            for fd in pipe:
                os.close(fd)
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
