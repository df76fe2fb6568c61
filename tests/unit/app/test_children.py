"""The child supervisor: a child that dies is started again, even after a failed start; stop
ends every child."""

from __future__ import annotations

import os
import signal
import time
from multiprocessing.context import SpawnContext, SpawnProcess

from gateway.app.children import ChildSupervisor


class _Sleeper:
    """A child that sleeps; its first restart fails to launch."""

    def __init__(self) -> None:
        self.launches = 0

    @property
    def name(self) -> str:
        return "sleeper"

    def launch(self, context: SpawnContext) -> SpawnProcess:
        self.launches += 1
        if self.launches == 2:
            raise OSError("no more processes (the test's)")
        process = context.Process(target=time.sleep, args=(120,), daemon=True)
        process.start()
        return process

    def await_ready(self, process: SpawnProcess, timeout_s: float) -> None:
        del process, timeout_s


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_dead_child_is_started_again_after_a_failed_launch_and_stop_ends_it() -> None:
    child = _Sleeper()
    supervisor = ChildSupervisor([child], name="test")
    supervisor.start()
    try:
        first = supervisor.pids()["sleeper"]
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while supervisor.pids()["sleeper"] == first and time.monotonic() < deadline:
            time.sleep(0.2)
        replaced = supervisor.pids()["sleeper"]
    finally:
        supervisor.stop(1.0)
    assert child.launches == 3
    assert replaced != first
    assert not _alive(replaced)
