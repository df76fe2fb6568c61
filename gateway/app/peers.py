"""How a node reaches its neighbours over gRPC."""

from __future__ import annotations

from gateway.core.errors import GatewayError
from gateway.node.config import NodeConfig
from gateway.node.trust import FederationTrust
from gateway.pki import NodeCredentials, parent_of
from gateway.rpc.peer import GrpcPeerClient, PeerChannels

__all__ = ["peer_client"]


def peer_client(
    config: NodeConfig, creds: NodeCredentials, trust: FederationTrust
) -> GrpcPeerClient:
    """Neighbours over gRPC at every endpoint the directory lists for them, failing over.

    The parent is also reached at ``[node] parent``, tried after the directory's
    endpoints: a node starts before it has a directory, and the directory names
    the parent's new endpoints once an operator moved it (``set-endpoints``).
    """
    parent = parent_of(config.node_id) if config.parent is not None else None

    def endpoints_of(node: str) -> tuple[str, ...]:
        bootstrap = (config.parent,) if parent is not None and node == parent else ()
        try:
            listed = trust.directory().node(node).endpoints
        except GatewayError:
            if bootstrap:
                return tuple(e for e in bootstrap if e)
            raise
        return tuple(dict.fromkeys((*listed, *(e for e in bootstrap if e))))

    return GrpcPeerClient(
        PeerChannels(creds=creds, endpoints_of=endpoints_of, limits=config.limits)
    )
