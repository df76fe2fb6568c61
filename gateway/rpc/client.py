"""Client side: a mutual-TLS channel to a node from a client or node credential folder."""

from __future__ import annotations

import grpc

from gateway.core.errors import ConfigurationError
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.pki import ClientCredentials
from gateway.rpc.server import channel_options

__all__ = ["open_client_channel"]


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
