"""A client calling a node run as replicas: each endpoint in turn while the failure is transient."""

from __future__ import annotations

import grpc
import pytest

from gateway.core.errors import ConfigurationError
from gateway.pki import ClientCredentials, load_client_credentials
from gateway.rpc.client import call_with_failover, client_endpoints
from tests.support.federation import make_keystore

REPLICAS = ("127.0.0.1:7201", "127.0.0.1:7202")


class _Failed(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        super().__init__(code.name)
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> ClientCredentials:
    keystore = make_keystore(
        tmp_path_factory.mktemp("keys"),
        nodes=["000000"],
        clients=[("000000", "credit-office", "department", "procurement")],
    )
    return load_client_credentials(keystore.client("000000", "credit-office"))


def test_the_endpoints_are_the_option_or_the_folders_comma_separated(
    client: ClientCredentials,
) -> None:
    assert client_endpoints(client, ",".join(REPLICAS)) == REPLICAS
    assert client_endpoints(client, " 127.0.0.1:7201 ") == ("127.0.0.1:7201",)
    with pytest.raises(ConfigurationError, match="no endpoint for client credit-office"):
        client_endpoints(client, ",")


def test_a_transient_failure_moves_to_the_next_endpoint_and_a_refusal_stops(
    client: ClientCredentials,
) -> None:
    answers: list[grpc.StatusCode | None] = [grpc.StatusCode.UNAVAILABLE, None]
    calls: list[int] = []

    def call(channel: grpc.Channel) -> str:
        calls.append(len(calls))
        code = answers[len(calls) - 1]
        if code is not None:
            raise _Failed(code)
        return "answered"

    assert call_with_failover(client, REPLICAS, call, pause_s=0) == "answered"
    assert calls == [0, 1]

    calls.clear()
    answers = [grpc.StatusCode.PERMISSION_DENIED, None]
    with pytest.raises(grpc.RpcError) as refused:
        call_with_failover(client, REPLICAS, call, pause_s=0)
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert calls == [0]

    calls.clear()
    answers = [grpc.StatusCode.DEADLINE_EXCEEDED] * 6
    with pytest.raises(grpc.RpcError):
        call_with_failover(client, REPLICAS, call, rounds=3, pause_s=0)
    assert len(calls) == 6  # three rounds over both endpoints
