"""The gRPC peer client's one translation of call failures into the domain error tree."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from gateway.core.errors import PeerError, PeerUnavailableError
from gateway.core.limits import DEFAULT_LIMITS
from gateway.pki import load_node_credentials
from gateway.rpc.peer import TRANSIENT_CODES, GrpcPeerClient, PeerChannels, peer_error
from tests.support.federation import make_keystore


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


# -- failover between the endpoints of a node run as replicas ------------------------------

REPLICAS = ("127.0.0.1:7101", "127.0.0.1:7102", "127.0.0.1:7103")


@pytest.fixture(scope="module")
def channels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerChannels]:
    keystore = make_keystore(tmp_path_factory.mktemp("keys"), nodes=["000000"], clients=[])
    opened = PeerChannels(
        creds=load_node_credentials(keystore.node("000000")),
        endpoints_of=lambda _node: REPLICAS,
        limits=DEFAULT_LIMITS,
    )
    try:
        yield opened
    finally:
        opened.close()


def _order(channels: PeerChannels) -> list[str]:
    return [endpoint for endpoint, _channel in channels.candidates("330000")]


def test_endpoints_are_tried_in_listed_order_the_last_that_answered_first(
    channels: PeerChannels,
) -> None:
    assert _order(channels) == list(REPLICAS)
    channels.answered("330000", REPLICAS[1])
    assert _order(channels) == [REPLICAS[1], REPLICAS[0], REPLICAS[2]]
    channels.demote("330000", REPLICAS[1])
    assert _order(channels) == [REPLICAS[0], REPLICAS[2], REPLICAS[1]]
    channels.answered("330000", REPLICAS[1])
    assert _order(channels) == [REPLICAS[1], REPLICAS[0], REPLICAS[2]]


def test_a_transient_failure_moves_the_call_to_the_next_endpoint_and_a_refusal_does_not(
    channels: PeerChannels,
) -> None:
    client = GrpcPeerClient(channels)
    endpoint_of = {id(c): e for e, c in channels.candidates("330000")}
    tried: list[str] = []

    def down_then_up(channel: grpc.Channel) -> str:
        tried.append(endpoint_of[id(channel)])
        if len(tried) == 1:
            raise _Failed(grpc.StatusCode.UNAVAILABLE, "connection refused")
        return "answered"

    first = _order(channels)[0]
    assert client.failover("330000", down_then_up) == "answered"
    assert tried == [first, _order(channels)[0]]
    assert _order(channels)[-1] == first  # the failed one is tried last from now on

    def refuses(channel: grpc.Channel) -> str:
        tried.append(endpoint_of[id(channel)])
        raise _Failed(grpc.StatusCode.PERMISSION_DENIED, "revoked")

    tried.clear()
    with pytest.raises(PeerError, match="PERMISSION_DENIED: revoked"):
        client.failover("330000", refuses)
    assert len(tried) == 1

    def all_down(channel: grpc.Channel) -> str:
        tried.append(endpoint_of[id(channel)])
        raise _Failed(grpc.StatusCode.UNAVAILABLE, "connection refused")

    tried.clear()
    with pytest.raises(PeerUnavailableError, match="UNAVAILABLE: connection refused"):
        client.failover("330000", all_down)
    assert sorted(tried) == sorted(REPLICAS)
