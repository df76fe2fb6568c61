"""The completion of one write job: what :meth:`StoreWriter.submit` hands back.

A :class:`concurrent.futures.Future` per job made every check pay for a Python
``threading.Condition`` (an RLock, a deque of waiters, a lock per waiting thread)
and, on completion, for the Condition's notify loop under that RLock, which the
woken thread then had to take again. A :class:`Completion` waits on one C-level
lock instead: held from creation until the job's outcome is set, so a waiter
blocks in ``acquire`` and is woken by the single ``release`` that publishes the
outcome (each waiter releases it again for the next).

It keeps the part of the ``Future`` API the writer's callers use: ``result`` and
``exception`` (with a timeout), ``add_done_callback``, ``cancel`` (a job not yet
taken by the writer), ``cancelled`` and ``done``; and, for the writer's side,
``set_running_or_notify_cancel``, ``set_result`` and ``set_exception``. It is not
a ``Future``: :func:`concurrent.futures.wait` and ``as_completed`` do not take it.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable
from concurrent.futures import CancelledError
from typing import Any, Generic, TypeVar, cast

import structlog

__all__ = ["Completion"]

_T = TypeVar("_T")

log = structlog.get_logger("gateway.store")

_PENDING = 0
_RUNNING = 1
_CANCELLED = 2
_FINISHED = 3


class Completion(Generic[_T]):
    """The outcome of one job, once it is known: a value, an exception, or cancelled."""

    __slots__ = ("_callbacks", "_done", "_error", "_guard", "_state", "_value")

    def __init__(self) -> None:
        # Held while the outcome is unknown; released once, when it is set.
        self._done = _thread.allocate_lock()
        self._done.acquire()
        # Guards the state's transitions and the callbacks against each other.
        self._guard = _thread.allocate_lock()
        self._state = _PENDING
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Completion[_T]], object]] | None = None

    def done(self) -> bool:
        """The job finished (with a value or an exception) or was cancelled."""
        return self._state >= _CANCELLED

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def cancel(self) -> bool:
        """Cancel the job unless the writer took it already; whether it is cancelled."""
        with self._guard:
            if self._state == _CANCELLED:
                return True
            if self._state != _PENDING:
                return False
            self._state = _CANCELLED
        self._finish()
        return True

    def result(self, timeout: float | None = None) -> _T:
        """The job's value, once it is known.

        Raises:
            CancelledError: the job was cancelled.
            TimeoutError: still unknown after ``timeout`` seconds.
            BaseException: whatever the job raised.
        """
        self._wait(timeout)
        if self._error is not None:
            try:
                raise self._error
            finally:
                # As Future's: break the cycle error -> traceback -> this frame -> self.
                del self
        return cast(_T, self._value)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """What the job raised, or None once it finished with a value.

        Raises:
            CancelledError: the job was cancelled.
            TimeoutError: still unknown after ``timeout`` seconds.
        """
        self._wait(timeout)
        return self._error

    def add_done_callback(self, fn: Callable[[Completion[_T]], object]) -> None:
        """Call ``fn(self)`` once the job is done: now if it is, else on the completing thread.

        An exception ``fn`` raises is logged and goes no further, as with a ``Future``.
        """
        with self._guard:
            if self._state < _CANCELLED:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        _call(fn, self)

    # -- the writer's side ---------------------------------------------------------------

    def set_running_or_notify_cancel(self) -> bool:
        """Mark the job taken by the writer; False if it was cancelled (then skip it)."""
        with self._guard:
            if self._state == _CANCELLED:
                return False
            self._state = _RUNNING
            return True

    def set_result(self, value: _T) -> None:
        self._value = value
        self._set(_FINISHED)

    def set_exception(self, error: BaseException) -> None:
        self._error = error
        self._set(_FINISHED)

    def _set(self, state: int) -> None:
        with self._guard:
            self._state = state
        self._finish()

    def _finish(self) -> None:
        # The state is final before the release: a woken waiter reads it as it is.
        self._done.release()
        callbacks, self._callbacks = self._callbacks, None
        for fn in callbacks or ():
            _call(fn, self)

    def _wait(self, timeout: float | None) -> None:
        if self._state < _CANCELLED:
            if not self._done.acquire(timeout=-1 if timeout is None else max(timeout, 0)):
                raise TimeoutError(f"the job did not finish within {timeout} s")
            self._done.release()  # for the next waiter
        if self._state == _CANCELLED:
            raise CancelledError


def _call(fn: Callable[[Completion[Any]], object], completion: Completion[Any]) -> None:
    try:
        fn(completion)
    except Exception:
        log.exception("store.job_callback_failed")
