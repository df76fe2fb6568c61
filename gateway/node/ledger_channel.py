"""The channel between a check frontend process and the node's one writer.

A frontend (:mod:`gateway.app.check_frontends`) decides checks itself and hands
what they write to the node over a :class:`multiprocessing.connection.Connection`
it inherited at spawn: only the node's own children hold one, there is no
address a stranger could connect to. :class:`ChannelCheckLedger` is the
frontend's end, a :class:`~gateway.node.check_ledger.CheckLedger`; many threads
call it at once and each waits for its own answer. :func:`serve_channel` is the
node's end: every request is queued on the node's writer as it arrives (so that
the frontends' checks are committed in groups with the node's own), and answered
once its group committed.

Messages are tuples: ``(kind, id, payload)`` from the frontend (kind ``check``
with a :class:`~gateway.node.check_ledger.CheckWrite`, or ``audit`` with an
:class:`~gateway.core.audit.AuditEvent`), and ``(id, ok, value)`` back, the value
being the retried check's row or None, or on failure ``(message, transient)``
(raised in the frontend as :class:`~gateway.core.errors.StorageError`).
"""

from __future__ import annotations

import functools
import itertools
import queue
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

import structlog

from gateway.core.audit import AuditEvent
from gateway.core.errors import ConfigurationError, StorageError
from gateway.node.check_ledger import CheckWrite, DecideCheck, DecidedCheck, StoreCheckLedger
from gateway.store import Completion
from gateway.store.discipline import CheckRow

__all__ = ["ChannelCheckLedger", "await_ready", "serve_channel"]

log = structlog.get_logger("gateway.ledger_channel")

_CHECK = "check"
_AUDIT = "audit"
_READY = "ready"
_FAILED = "failed"


def await_ready(conn: Connection, sentinel: int, timeout_s: float, *, name: str) -> int:
    """Wait for a starting frontend to say it serves; its port.

    Args:
        sentinel: the frontend process's sentinel (readable once it exited).

    Raises:
        ConfigurationError: it could not start (its reason), exited, or took too long.
    """
    ready = wait([conn, sentinel], timeout_s)
    if not ready:
        raise ConfigurationError(f"{name} did not start within {timeout_s:.0f} s")
    if conn in ready:
        try:
            kind, value = conn.recv()
        except (EOFError, OSError):
            kind, value = _FAILED, "it exited"
        if kind == _READY and isinstance(value, int):
            return value
        raise ConfigurationError(f"{name} did not start: {value}")
    raise ConfigurationError(f"{name} exited before serving")


class ChannelCheckLedger:
    """A frontend's ledger: each call waits for the node's writer to commit it.

    Args:
        conn: the frontend's end of the channel.
        on_lost: called once when the node's end closes (the node stopped or died).
    """

    def __init__(self, conn: Connection, *, on_lost: Callable[[], None]) -> None:
        self._conn = conn
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self._pending: dict[int, Completion[Any]] = {}
        self._ids = itertools.count()
        self._lost = False
        self._reader = threading.Thread(target=self._read, name="ledger-channel", daemon=True)
        self._reader.start()

    def ready(self, port: int) -> None:
        """Tell the node this frontend serves, on ``port`` (see :func:`await_ready`)."""
        with self._lock:
            self._conn.send((_READY, port))

    def failed(self, reason: str) -> None:
        """Tell the node this frontend could not start, and why."""
        with self._lock:
            self._conn.send((_FAILED, reason))

    def answer(self, decide: DecideCheck) -> tuple[DecidedCheck, CheckRow | None]:
        # Decided with this process's own reads; the node's writer commits the write.
        decided = decide(None)
        return decided, self.record(decided.write)

    def record(self, write: CheckWrite) -> CheckRow | None:
        """Have the node's writer commit ``write``; see :meth:`CheckLedger.answer`.

        Raises:
            StorageError: the database failed, or the writer is out of reach.
        """
        found = self._call(_CHECK, write)
        return found if isinstance(found, CheckRow) else None

    def audit(self, event: AuditEvent) -> None:
        self._call(_AUDIT, event)

    def _call(self, kind: str, payload: object) -> object:
        future: Completion[Any] = Completion()
        with self._lock:
            if self._lost:
                raise StorageError("the node's writer is out of reach", transient=True)
            call_id = next(self._ids)
            self._pending[call_id] = future
            try:
                self._conn.send((kind, call_id, payload))
            except OSError as exc:
                del self._pending[call_id]
                raise StorageError(
                    f"the node's writer is out of reach: {exc}", transient=True
                ) from exc
        return future.result()

    def _read(self) -> None:
        try:
            while True:
                call_id, ok, value = self._conn.recv()
                with self._lock:
                    future = self._pending.pop(call_id, None)
                if future is None:
                    continue
                if ok:
                    future.set_result(value)
                else:
                    message, transient = value
                    future.set_exception(StorageError(message, transient=transient))
        except (EOFError, OSError):
            pass
        except Exception:  # an answer it cannot read (a node of another version): lost too
            # Ending quietly would leave every waiting call hanging and the process alive,
            # so the node would never replace it: the channel is lost, and said so.
            log.exception("frontend.channel_unreadable")
        with self._lock:
            self._lost = True
            pending = list(self._pending.values())
            self._pending.clear()
        for future in pending:
            # Not known to be committed: the call is not answered as done.
            future.set_exception(StorageError("the node's writer is out of reach", transient=True))
        self._on_lost()


def serve_channel(
    conn: Connection,
    ledger: StoreCheckLedger,
    *,
    name: str,
    answered: Callable[[CheckWrite], None] = lambda _write: None,
) -> None:
    """Serve one frontend's requests until its end closes (it stopped or died).

    ``answered`` is told of every check committed (not of a retry answered from the
    store): the node counts the frontends' checks in its own metrics.

    Runs on a thread of the node. A request that cannot be queued (the writer is
    closed: the node is stopping) is answered with the error. Answers are sent
    by a thread of their own, never by the writer's: a frontend that stops reading
    must not hold up the node's commits.
    """
    answers: queue.SimpleQueue[tuple[int, bool, object] | None] = queue.SimpleQueue()
    sender = threading.Thread(
        target=_send_answers, args=(conn, answers, name), name=f"{name}-answers", daemon=True
    )
    sender.start()

    def answer(call_id: int, future: Completion[Any]) -> None:
        error = future.exception()
        if error is None:
            answers.put((call_id, True, future.result()))
        else:
            transient = isinstance(error, StorageError) and error.transient
            answers.put((call_id, False, (f"{type(error).__name__}: {error}", transient)))

    try:
        while True:
            kind, call_id, payload = conn.recv()
            future = _queued(ledger, kind, payload)
            if isinstance(payload, CheckWrite):
                future.add_done_callback(functools.partial(_count, answered, payload))
            future.add_done_callback(functools.partial(answer, call_id))
    except (EOFError, OSError):
        log.info("frontend.channel_closed", frontend=name)
    finally:
        answers.put(None)


def _count(
    answered: Callable[[CheckWrite], None], write: CheckWrite, future: Completion[Any]
) -> None:
    if future.exception() is None and future.result() is None:
        answered(write)


def _queued(ledger: StoreCheckLedger, kind: object, payload: object) -> Completion[Any]:
    """The request on the node's writer, or a future holding why it could not be queued."""
    try:
        if kind == _CHECK and isinstance(payload, CheckWrite):
            return ledger.submit(payload)
        if kind == _AUDIT and isinstance(payload, AuditEvent):
            return ledger.submit_audit(payload)
        error = StorageError(f"unknown ledger request {kind!r}")
    except StorageError as exc:
        error = exc
    refused: Completion[Any] = Completion()
    refused.set_exception(error)
    return refused


def _send_answers(
    conn: Connection, answers: queue.SimpleQueue[tuple[int, bool, object] | None], name: str
) -> None:
    while (reply := answers.get()) is not None:
        try:
            conn.send(reply)
        except OSError:
            # The frontend is gone; what it asked for is committed (or not) all the same.
            log.info("frontend.gone", frontend=name, call=reply[0])
            return
