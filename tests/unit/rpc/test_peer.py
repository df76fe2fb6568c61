"""The gRPC peer client's one translation of call failures into the domain error tree."""

from __future__ import annotations

import grpc
import pytest

from gateway.core.errors import PeerError, PeerUnavailableError
from gateway.rpc.peer import TRANSIENT_CODES, peer_error


class _Failed(grpc.RpcError):
    """What a failed call raises: an RpcError that is also a grpc.Call."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_the_transient_codes_are_exactly_unavailable_deadline_and_exhausted() -> None:
    assert (
        frozenset(
            {
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            }
        )
        == TRANSIENT_CODES
    )


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    ],
)
def test_a_transient_code_becomes_peer_unavailable(code: grpc.StatusCode) -> None:
    error = peer_error(_Failed(code, "try later"))

    assert type(error) is PeerUnavailableError
    assert str(error) == f"{code.name}: try later"


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.INTERNAL,
    ],
)
def test_any_other_code_is_a_final_refusal(code: grpc.StatusCode) -> None:
    error = peer_error(_Failed(code, "no"), prefix="witness answered ")

    assert type(error) is PeerError
    assert str(error) == f"witness answered {code.name}: no"


def test_an_error_without_a_status_is_unknown_and_final() -> None:
    error = peer_error(grpc.RpcError("channel closed"))

    assert type(error) is PeerError
    assert str(error) == "UNKNOWN: channel closed"
