"""The child supervisor: a child that dies is started again, even after a failed start; stop
ends every child."""

from __future__ import annotations

import os
import signal
import threading
import time
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext, SpawnProcess

from gateway.app.children import ChildSupervisor
from gateway.core.errors import ConfigurationError


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


class _NeverReadyAgain:
    """A child ready at once the first time; a replacement never says it is ready."""

    def __init__(self) -> None:
        self.pids: list[int] = []
        self.waiting = threading.Event()

    @property
    def name(self) -> str:
        return "stuck"

    def launch(self, context: SpawnContext) -> SpawnProcess:
        process = context.Process(target=time.sleep, args=(120,), daemon=True)
        process.start()
        self.pids.append(process.pid or 0)
        return process

    def await_ready(self, process: SpawnProcess, timeout_s: float) -> None:
        if len(self.pids) == 1:
            return
        self.waiting.set()
        wait([process.sentinel], timeout_s)
        raise ConfigurationError(f"{self.name} exited before serving")


def test_a_stop_while_a_replacement_waits_to_be_ready_ends_it_without_waiting() -> None:
    child = _NeverReadyAgain()
    # Far longer than the test may take: a stop that waited for it would not return.
    supervisor = ChildSupervisor([child], name="test", ready_timeout_s=3600.0)
    supervisor.start()
    stopper = threading.Thread(target=supervisor.stop, args=(1.0,), daemon=True)
    try:
        os.kill(child.pids[0], signal.SIGKILL)
        assert child.waiting.wait(60)
        stopper.start()
        stopper.join(120)
        assert not stopper.is_alive()
    finally:
        if stopper.ident is None:
            supervisor.stop(1.0)
    assert len(child.pids) == 2
    assert [_alive(pid) for pid in child.pids] == [False, False]
