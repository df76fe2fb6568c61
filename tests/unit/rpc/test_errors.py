"""The error map covers the whole exception tree, and says only what is public."""

from __future__ import annotations

import inspect

import grpc
import pytest

from gateway.core import errors
from gateway.rpc.errors import STATUS_TABLE, public_status

ERROR_TYPES = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.GatewayError)
]


def _instance(cls: type[errors.GatewayError]) -> errors.GatewayError:
    return cls("detail naming what failed")


@pytest.mark.parametrize("cls", ERROR_TYPES, ids=lambda c: c.__name__)
def test_every_error_type_has_a_row(cls: type[errors.GatewayError]) -> None:
    assert any(issubclass(cls, row[0]) for row in STATUS_TABLE)
    status = public_status(_instance(cls))
    if cls is errors.GatewayError:
        assert status.code is grpc.StatusCode.INTERNAL
    else:
        assert status.code is not grpc.StatusCode.INTERNAL or cls is errors.StorageError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.LimitExceededError("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.IdentifierError("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.ReplayError("x"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.ExpiredError("x"), grpc.StatusCode.FAILED_PRECONDITION),
        # Passes with time: the sender retries.
        (errors.ClockSkewError("x"), grpc.StatusCode.UNAVAILABLE),
        (errors.DirectoryExpiredError("x"), grpc.StatusCode.UNAVAILABLE),
        (errors.SignatureError("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.ProofError("x"), grpc.StatusCode.FAILED_PRECONDITION),
        (errors.ScopeViolationError("x"), grpc.StatusCode.PERMISSION_DENIED),
        (errors.AccessDeniedError("x"), grpc.StatusCode.PERMISSION_DENIED),
        (errors.NotFoundError("x"), grpc.StatusCode.NOT_FOUND),
        (errors.PeerUnavailableError("x"), grpc.StatusCode.UNAVAILABLE),
        (errors.StorageError("x", transient=True), grpc.StatusCode.UNAVAILABLE),
        (errors.StorageError("x"), grpc.StatusCode.INTERNAL),
        # The caller has gone: its work stopped.
        (errors.CallCancelledError("x"), grpc.StatusCode.CANCELLED),
        (errors.CallDeadlineError("x"), grpc.StatusCode.DEADLINE_EXCEEDED),
    ],
)
def test_codes(error: errors.GatewayError, code: grpc.StatusCode) -> None:
    assert public_status(error).code is code


def test_private_details_never_reach_the_caller() -> None:
    secret = "password=hunter2 at /var/lib/node.db"
    for error in (
        errors.StorageError(secret),
        errors.ConfigurationError(secret),
        errors.CatalogError(secret),
        errors.PeerError(secret),
    ):
        assert secret not in public_status(error).message
    assert public_status(RuntimeError(secret)).message == "internal error"
    assert public_status(RuntimeError(secret)).code is grpc.StatusCode.INTERNAL


def test_caller_errors_keep_their_message() -> None:
    message = "field CF_WSH: required by category admin_penalty, but missing"
    assert public_status(errors.RecordValidationError(message)).message == message
