"""`gateway` commands forked from the test worker's command server answer as exec'd ones."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gateway.node.local_federation import free_port
from tests.support.command_server import (
    EXEC_VARIABLE,
    ForkedProcess,
    forked_command,
    gateway_command,
    needs_exec,
)
from tests.support.federation import (
    init_node,
    listening,
    make_keystore,
    run_in_own_session,
    spawn_node,
)
from tests.support.processes import process_running

_ENV = {**os.environ, "COLUMNS": "200"}


@pytest.mark.parametrize(
    "args",
    [
        ("--version",),
        ("records", "--help"),
        ("no-such-command",),
        ("status", "--config", "/nonexistent/node.toml"),
        ("pki", "init"),
    ],
    ids=["version", "help", "unknown command", "missing config", "missing option"],
)
def test_a_forked_command_answers_exactly_as_the_execd_one(args: tuple[str, ...]) -> None:
    execd = run_in_own_session(gateway_command(*args), timeout_s=60.0, env=_ENV)
    forked = forked_command(args, env=_ENV, cwd=None, timeout_s=60.0)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        execd.returncode,
        execd.stdout,
        execd.stderr,
    )
    assert forked.args == [sys.executable, "-m", "gateway", *args]


def test_a_forked_command_runs_in_the_callers_folder(tmp_path: Path) -> None:
    forked = forked_command(("pki", "init", "--dir", "keys"), env=_ENV, cwd=tmp_path, timeout_s=60)
    assert forked.returncode == 0, forked.stderr
    assert (tmp_path / "keys" / "root" / "ca.crt").is_file()


def test_a_forked_command_sees_the_environment_it_is_given() -> None:
    narrow = forked_command(
        ("records", "--help"), env={**_ENV, "COLUMNS": "50"}, cwd=None, timeout_s=60
    )
    wide = forked_command(("records", "--help"), env=_ENV, cwd=None, timeout_s=60)
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 50
    assert max(len(line) for line in wide.stdout.splitlines()) > 50


def test_what_acts_only_at_an_interpreters_start_is_execd() -> None:
    assert not needs_exec(_ENV)
    assert not needs_exec({**_ENV, "COLUMNS": "80", "GATEWAY_X": "1"})
    assert needs_exec({**_ENV, "LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/datefudge/datefudge.so"})
    assert needs_exec({**_ENV, "PYTHONWARNINGS": "error"})
    assert needs_exec({**_ENV, "GRPC_VERBOSITY": "debug"})
    without = {k: v for k, v in _ENV.items() if k != "PATH"}
    assert not needs_exec(without)


def test_a_forked_command_past_its_timeout_is_killed_with_its_group(tmp_path: Path) -> None:
    keystore = make_keystore(tmp_path / "keys", nodes=["330000"], clients=[])
    port = free_port()
    config = init_node(keystore, "330000", tmp_path, listen=f"127.0.0.1:{port}")
    listening = threading.Event()

    def watch() -> None:
        for _ in range(600):  # at most 30 s
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    listening.set()
                    return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    with pytest.raises(subprocess.TimeoutExpired):
        forked_command(("serve", "--config", str(config)), env=_ENV, cwd=None, timeout_s=20.0)
    watcher.join()
    assert listening.is_set()
    for _ in range(100):  # at most 5 s for the killed node's socket to close
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.05)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


_ORPHAN = """
import os, sys
sys.path.insert(0, sys.argv[1])
from tests.support import command_server
result = command_server.forked_command(("--version",), env=dict(os.environ), cwd=None, timeout_s=60)
print(command_server._server().process.pid, flush=True)
os._exit(0)  # no atexit: the server is left to notice by itself
"""


def test_the_command_server_ends_by_itself_once_its_worker_is_gone() -> None:
    root = Path(__file__).resolve().parents[2]
    done = run_in_own_session([sys.executable, "-c", _ORPHAN, str(root)], timeout_s=60.0)
    assert done.returncode == 0, done.stderr
    server = int(done.stdout)
    for _ in range(100):  # it polls for its parent every 0.5 s
        if not process_running(server):
            break
        time.sleep(0.05)
    assert not process_running(server)


def test_every_command_is_execd_when_the_caller_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(EXEC_VARIABLE, "1")
    assert needs_exec(_ENV)


def test_a_forked_node_is_watched_and_stopped_as_a_popen_is(tmp_path: Path) -> None:
    keystore = make_keystore(tmp_path / "keys", nodes=["330000"], clients=[])
    config = init_node(keystore, "330000", tmp_path)
    node = listening(spawn_node(config, "330000", log=tmp_path / "node.log"))
    assert isinstance(node.process, ForkedProcess)
    assert node.process.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        node.process.wait(timeout=0.2)
    assert node.terminate() == 0
    assert (node.process.poll(), node.process.returncode) == (0, 0)
    node.process.kill()  # ended already: nothing is signalled

    again = listening(spawn_node(config, "330000", log=tmp_path / "node.log"))
    again.process.kill()
    assert again.process.wait(timeout=30) == -signal.SIGKILL
