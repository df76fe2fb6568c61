"""`python -m bench` stopped with SIGTERM ends every process it started.

Run for real: the bench in a session of its own, the echo benchmark's bare server
(a spawned process) and the multiprocessing resource tracker seen among its
descendants, then one SIGTERM to the bench alone (not its group).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from bench import bench_check_echo
from tests.support.processes import process_running

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 180
"""Generous: the machine is shared, and the bench imports and makes its keys first."""


def _children() -> dict[int, list[int]]:
    """Every live process's children, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            # The command name is in parentheses and may hold spaces: the fields follow it.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _descendants(pid: int) -> set[int]:
    children = _children()
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _command(pid: int) -> str:
    with suppress(OSError):
        return (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode()
    return ""


@pytest.mark.slow
@pytest.mark.timeout(START_TIMEOUT_S + 120)
def test_a_bench_stopped_with_sigterm_ends_every_process_it_started(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "bench", "--smoke", "--only", bench_check_echo.NAME]
    errors = tmp_path / "stderr"
    with errors.open("wb") as sink:
        bench = subprocess.Popen(
            [*argv, "--out", str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,
        )
    started: set[int] = set()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            started |= _descendants(bench.pid)
            commands = [_command(pid) for pid in started if process_running(pid)]
            bare_server = any("multiprocessing.spawn" in command for command in commands)
            tracker = any("resource_tracker" in command for command in commands)
            if bare_server and tracker:
                break
            assert bench.poll() is None, "the bench ended before its bare server started"
            assert time.monotonic() < deadline, f"no bare server after {START_TIMEOUT_S} s"
            time.sleep(0.1)
        started |= _descendants(bench.pid)
        os.kill(bench.pid, signal.SIGTERM)
        ended = bench.wait(timeout=60)
        deadline = time.monotonic() + 20
        while any(process_running(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert {pid: _command(pid) for pid in started if process_running(pid)} == {}
        assert ended == 128 + signal.SIGTERM
        assert "Traceback" not in errors.read_text(errors="replace")
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.wait()
        for pid in started:
            if process_running(pid):
                with suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def wait_for_stop(ports: Any, stop: Any) -> None:
    """A spawned server's body for the test below: it serves nothing, only says so."""
    ports.put(0)
    stop.wait(30)


_STOP_DURING_START = """
import os, signal, sys
from multiprocessing import util
from bench.__main__ import _end_on_sigterm
from bench.bare_server import spawned
from tests.unit.test_bench_sigterm import wait_for_stop

signal.signal(signal.SIGTERM, _end_on_sigterm)
spawn = util.spawnv_passfds

def spawn_then_stop(path, args, passfds):
    pid = spawn(path, args, passfds)
    if "--multiprocessing-fork" in args:  # the server, not the resource tracker
        print(pid, flush=True)
        os.kill(os.getpid(), signal.SIGTERM)
    return pid

util.spawnv_passfds = spawn_then_stop
with spawned(wait_for_stop):
    print("served", flush=True)
"""


@pytest.mark.timeout(120)
def test_a_sigterm_between_a_servers_exec_and_its_instructions_stops_it_cleanly() -> None:
    """The CI run of 2026-12-06 lost this race: SIGTERM came after the bare server's
    exec and before the bench wrote its instructions, and the child died reading a
    closed pipe ("EOFError: Ran out of input"). Built here exactly at that moment."""
    ended = subprocess.run(
        [sys.executable, "-c", _STOP_DURING_START],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    child = int(ended.stdout.split()[0])
    assert ended.returncode == 128 + signal.SIGTERM, ended.stderr
    assert ended.stdout.split()[1:] == []
    assert "Traceback" not in ended.stderr, ended.stderr
    assert not process_running(child)
