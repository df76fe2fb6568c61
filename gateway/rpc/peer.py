"""Node-to-node channels: a node calls its peers with its own TLS certificate."""

from __future__ import annotations

import grpc

from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.pki import NodeCredentials
from gateway.rpc.server import channel_options

__all__ = ["open_peer_channel"]


def open_peer_channel(
    creds: NodeCredentials, endpoint: str, *, limits: Limits = DEFAULT_LIMITS
) -> grpc.Channel:
    """A mutual-TLS channel to another node, authenticated by this node's TLS certificate.

    The peer's certificate must chain to the federation root (checked by TLS);
    the peer then reads this node's identity from the certificate's URI SAN.
    """
    credentials = grpc.ssl_channel_credentials(
        root_certificates=creds.root_pem(),
        private_key=creds.tls_private_key_pem(),
        certificate_chain=creds.tls_certificate_chain_pem(),
    )
    return grpc.secure_channel(endpoint, credentials, options=channel_options(limits))
