"""The one place where gateway errors become gRPC status codes.

:data:`STATUS_TABLE` maps each branch of the exception tree (see
``gateway.core.errors``) to a status code and says whether the error's own
message may be shown to the caller. Messages of input, verification and policy
errors are written for the caller (they name what failed and never contain
personal data); storage and configuration details stay in the log. Anything that
is not a :class:`GatewayError` becomes ``INTERNAL`` with a generic message.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from gateway.core import errors as e

__all__ = ["STATUS_TABLE", "PublicStatus", "public_status"]


@dataclass(frozen=True, slots=True)
class PublicStatus:
    """What the caller is told: a status code and a message."""

    code: grpc.StatusCode
    message: str


# Ordered most specific first: the first matching row wins.
STATUS_TABLE: tuple[tuple[type[e.GatewayError], grpc.StatusCode, str | None], ...] = (
    (e.LimitExceededError, grpc.StatusCode.RESOURCE_EXHAUSTED, None),
    (e.InputError, grpc.StatusCode.INVALID_ARGUMENT, None),
    (e.ReplayError, grpc.StatusCode.ALREADY_EXISTS, None),
    # Refusals that pass with time (clocks agree again, the directory is renewed): the
    # sender's push worker retries UNAVAILABLE with backoff instead of failing the items.
    (e.ClockSkewError, grpc.StatusCode.UNAVAILABLE, None),
    (e.DirectoryExpiredError, grpc.StatusCode.UNAVAILABLE, None),
    (e.ExpiredError, grpc.StatusCode.FAILED_PRECONDITION, None),
    # An inconsistent checkpoint or proof: the request is well-formed but contradicts history.
    (e.ProofError, grpc.StatusCode.FAILED_PRECONDITION, None),
    (e.VerificationError, grpc.StatusCode.INVALID_ARGUMENT, None),
    (e.ScopeViolationError, grpc.StatusCode.PERMISSION_DENIED, None),
    (e.PolicyError, grpc.StatusCode.PERMISSION_DENIED, None),
    (e.NotFoundError, grpc.StatusCode.NOT_FOUND, None),
    (e.ConflictError, grpc.StatusCode.ABORTED, None),
    (e.CatalogError, grpc.StatusCode.FAILED_PRECONDITION, "catalog error at this node"),
    (e.ConfigurationError, grpc.StatusCode.FAILED_PRECONDITION, "node is misconfigured"),
    (e.PeerUnavailableError, grpc.StatusCode.UNAVAILABLE, "an upstream node is unavailable"),
    (e.PeerError, grpc.StatusCode.UNAVAILABLE, "an upstream node failed"),
    (e.StorageError, grpc.StatusCode.UNAVAILABLE, "storage is unavailable, retry later"),
    # The caller has gone or given up: the status is for the log and the metrics.
    (e.CallDeadlineError, grpc.StatusCode.DEADLINE_EXCEEDED, None),
    (e.CallCancelledError, grpc.StatusCode.CANCELLED, None),
    (e.GatewayError, grpc.StatusCode.INTERNAL, "internal error"),
)


def public_status(exc: BaseException) -> PublicStatus:
    """The status and public message for ``exc``.

    Storage errors that are not transient become ``INTERNAL``: retrying cannot help.
    """
    if isinstance(exc, e.StorageError) and not exc.transient:
        return PublicStatus(grpc.StatusCode.INTERNAL, "internal storage error")
    for error_type, code, fixed_message in STATUS_TABLE:
        if isinstance(exc, error_type):
            return PublicStatus(code, fixed_message if fixed_message is not None else str(exc))
    return PublicStatus(grpc.StatusCode.INTERNAL, "internal error")
