"""Child processes of a node: started by spawn, replaced when they die, stopped with the node.

A :class:`ChildSupervisor` runs a fixed set of :class:`Child` processes (the check
frontends, :mod:`gateway.app.check_frontends`). Each is started with the
``spawn`` start method: a fresh interpreter that inherits only what it is given
(no copy of the node's threads, locks or database connections). The supervisor
waits until every child says it is ready, watches them, and starts a child
again when it exits while the node runs (after a pause that grows while it keeps
failing). :meth:`ChildSupervisor.stop` asks every child to stop (SIGTERM), waits
for it, and kills one that does not stop in time. A child also stops by itself
when the node dies: each holds the end of a channel to the node and stops when
the node's end closes.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from multiprocessing.connection import wait
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Protocol

import structlog

from gateway.core.errors import ConfigurationError

__all__ = ["Child", "ChildSupervisor"]

log = structlog.get_logger("gateway.children")

READY_TIMEOUT_S = 60.0
"""How long a child may take to start (a fresh interpreter importing the gateway), by default."""
_WATCH_S = 0.5
_MAX_BACKOFF_S = 30.0


class Child(Protocol):
    """One supervised child process: how to start it and how to know it is ready."""

    @property
    def name(self) -> str: ...

    def launch(self, context: SpawnContext) -> SpawnProcess:
        """Start the process (do not wait for it)."""
        ...

    def await_ready(self, process: SpawnProcess, timeout_s: float) -> None:
        """Wait until ``process`` serves; return (raising) as soon as it exits.

        Raises:
            ConfigurationError: it failed to start, saying why, or did not start in time.
        """
        ...


class ChildSupervisor:
    """Starts, watches, restarts and stops a node's child processes."""

    def __init__(
        self, children: Sequence[Child], *, name: str, ready_timeout_s: float = READY_TIMEOUT_S
    ) -> None:
        self._children = list(children)
        self._ready_timeout_s = ready_timeout_s
        self._name = name
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[SpawnProcess] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"{name}-watch", daemon=True)

    def start(self) -> None:
        """Start every child and wait until each is ready.

        Raises:
            ConfigurationError: a child did not start (every child is stopped again).
        """
        with self._lock:
            self._processes = [child.launch(self._context) for child in self._children]
        try:
            for child, process in zip(self._children, self._processes, strict=True):
                child.await_ready(process, self._ready_timeout_s)
        except BaseException:
            self.stop(0.0)
            raise
        self._watcher.start()

    def pids(self) -> dict[str, int]:
        """Each child's name and current process id."""
        with self._lock:
            return {
                child.name: process.pid or 0
                for child, process in zip(self._children, self._processes, strict=True)
            }

    def stop(self, grace_s: float) -> None:
        """Stop every child: SIGTERM, up to ``grace_s`` + 5 s to finish, then SIGKILL."""
        self._stopping.set()
        with self._lock:
            processes = list(self._processes)
        for process in processes:
            if process.exitcode is None:
                process.terminate()
        for process in processes:
            process.join(grace_s + 5.0)
            if process.exitcode is None:
                log.warning("child.killed", supervisor=self._name, pid=process.pid)
                process.kill()
                process.join(5.0)
        if self._watcher.is_alive():
            # A replacement that was starting saw its process end and gave up.
            self._watcher.join(self._ready_timeout_s)

    def _watch(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            with self._lock:
                sentinels = [p.sentinel for p in self._processes]
            wait(sentinels, timeout=_WATCH_S)
            for index in range(len(self._children)):
                if self._stopping.is_set():
                    return
                try:
                    replaced = self._replace_if_dead(index)
                except Exception:  # a supervisor loop never dies: logged, paused, retried
                    log.exception("child.restart_failed", supervisor=self._name)
                    replaced = False
                    failures += 1
                    self._stopping.wait(min(_MAX_BACKOFF_S, 2.0**failures))
                if replaced:
                    failures = 0

    def _replace_if_dead(self, index: int) -> bool:
        # The lock guards the process table only: a launch and a readiness wait (up to
        # the ready timeout) happen outside it, so stop() never waits behind them.
        with self._lock:
            dead = self._processes[index]
            if dead.exitcode is None or self._stopping.is_set():
                return False
        child = self._children[index]
        log.warning(
            "child.exited",
            supervisor=self._name,
            child=child.name,
            pid=dead.pid,
            exitcode=dead.exitcode,
        )
        # If launching fails, the dead one stays in the table: the next round finds it
        # and tries again.
        process = child.launch(self._context)
        with self._lock:
            stopping = self._stopping.is_set()
            if not stopping:
                self._processes[index] = process
                dead.close()
        if stopping:
            # stop() took its list of processes before this one was in it.
            _end(process)
            return False
        try:
            child.await_ready(process, self._ready_timeout_s)
        except ConfigurationError:
            _end(process)
            if self._stopping.is_set():
                return False  # stop() ended it while it started: not a failure
            raise
        log.info("child.restarted", supervisor=self._name, child=child.name, pid=process.pid)
        return True


def _end(process: SpawnProcess) -> None:
    if process.exitcode is None:
        process.kill()
        process.join(5.0)
