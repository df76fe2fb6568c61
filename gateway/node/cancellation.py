"""Whether the caller still wants a call's work: the port a long use case checks between steps.

A use case that loops over many rows (an export, a catch-up, a stream of
submissions) takes a :class:`Cancellation` and calls :meth:`Cancellation.check`
between bounded steps, so that a call its client cancelled, or whose deadline
passed, stops at the next step instead of running to its end. The transport
builds it (``gateway.rpc.context.call_cancellation`` from the gRPC context);
this package knows nothing of gRPC. Each step commits whole or not at all, so
stopping between two steps leaves nothing half-done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.core.errors import CallCancelledError, CallDeadlineError

__all__ = ["NEVER_CANCELLED", "Cancellation"]


def _always() -> bool:
    return True


def _no_deadline() -> float | None:
    return None


@dataclass(frozen=True, slots=True)
class Cancellation:
    """The caller's wishes for one call.

    Attributes:
        still_wanted: False once the call was cancelled, or ended by its deadline.
        time_left_s: seconds until the call's deadline; None without one.
    """

    still_wanted: Callable[[], bool] = _always
    time_left_s: Callable[[], float | None] = _no_deadline

    def check(self, progress: str) -> None:
        """Go on only if the call is still wanted.

        Args:
            progress: how far the work has gone (``after 3 pages, 600 rows read``),
                for the error, the log and the audit event.

        Raises:
            CallDeadlineError: the call's deadline has passed.
            CallCancelledError: the caller cancelled the call.
        """
        if not self.wanted():
            raise self.stopped(progress)

    def wanted(self) -> bool:
        """True while the call is neither cancelled nor past its deadline."""
        left = self.time_left_s()
        return (left is None or left > 0) and self.still_wanted()

    def stopped(self, progress: str) -> CallCancelledError:
        """The error of a call that is no longer wanted: past its deadline, else cancelled."""
        left = self.time_left_s()
        if left is not None and left <= 0:
            return CallDeadlineError(f"the call's deadline passed; stopped {progress}")
        return CallCancelledError(f"the caller cancelled the call; stopped {progress}")


NEVER_CANCELLED = Cancellation()
"""For callers that are not remote calls (commands, background work, tests)."""
