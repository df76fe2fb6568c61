"""Client side: a mutual-TLS channel to a node from a client or node credential folder.

A node run as replicas has several endpoints; :func:`call_with_failover` makes
one call at each in turn, for a few rounds, while the failure is one a retry may
cure. Only calls that are safe to repeat go through it: reads, and writes the
node stores once per client request id (a check's ``request_id``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

import grpc

from gateway.core.errors import ConfigurationError
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.pki import ClientCredentials
from gateway.rpc.options import channel_options

__all__ = ["call_with_failover", "client_endpoints", "open_client_channel"]

T = TypeVar("T")

_RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
"""The same codes as gateway.rpc.peer.TRANSIENT_CODES: those a retry may cure."""


def open_client_channel(
    client: ClientCredentials, *, endpoint: str | None = None, limits: Limits = DEFAULT_LIMITS
) -> grpc.Channel:
    """A secure channel to the client's node (or ``endpoint`` when given).

    Raises:
        ConfigurationError: if no endpoint is known.
    """
    target = endpoint or client.endpoint
    if not target:
        raise ConfigurationError(
            f"no endpoint for client {client.name}: pass --endpoint or set it in client.json"
        )
    credentials = grpc.ssl_channel_credentials(
        root_certificates=client.root_pem(),
        private_key=client.private_key_pem(),
        certificate_chain=client.certificate_chain_pem(),
    )
    return grpc.secure_channel(target, credentials, options=channel_options(limits))


def client_endpoints(client: ClientCredentials, endpoint: str | None) -> tuple[str, ...]:
    """The endpoints to try: ``endpoint`` or the client folder's, comma-separated for replicas.

    Raises:
        ConfigurationError: if no endpoint is known.
    """
    listed = tuple(e.strip() for e in (endpoint or client.endpoint or "").split(",") if e.strip())
    if not listed:
        raise ConfigurationError(
            f"no endpoint for client {client.name}: pass --endpoint or set it in client.json"
        )
    return listed


def call_with_failover(
    client: ClientCredentials,
    endpoints: Sequence[str],
    call: Callable[[grpc.Channel], T],
    *,
    rounds: int = 3,
    pause_s: float = 1.0,
    limits: Limits = DEFAULT_LIMITS,
) -> T:
    """``call`` at each endpoint in turn until one answers; ``rounds`` passes, pausing between.

    Raises:
        grpc.RpcError: a final refusal at once, or the last transient failure.
    """
    last: grpc.RpcError | None = None
    for round_number in range(rounds):
        if round_number:
            time.sleep(pause_s * round_number)
        for endpoint in endpoints:
            channel = open_client_channel(client, endpoint=endpoint, limits=limits)
            try:
                return call(channel)
            except grpc.RpcError as exc:
                code = exc.code() if hasattr(exc, "code") else None
                if code not in _RETRYABLE:
                    raise
                last = exc
            finally:
                channel.close()
    if last is None:
        raise ConfigurationError("no endpoint to call")
    raise last
