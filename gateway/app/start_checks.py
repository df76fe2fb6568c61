"""What a node checks before it serves: its credentials, and its audit log against what
its parent cosigned."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from gateway.node.audit_gap import AuditGapGuard
from gateway.node.config import NodeConfig
from gateway.node.peer_client import ParentWitness, PeerClient
from gateway.pki import NodeCredentials, check_node_credentials, load_node_credentials, parent_of
from gateway.store import Store

__all__ = ["checked_credentials", "checked_parent_witness"]


def checked_parent_witness(
    config: NodeConfig,
    peers: PeerClient,
    store: Store,
    creds: NodeCredentials,
    clock: Callable[[], int],
) -> ParentWitness | None:
    """The parent's Witness service, once the log is found to hold what the parent cosigned.

    Raises:
        ProofError: the log has a gap not yet recorded as an incident (see
            :mod:`gateway.node.audit_gap`): the node must not serve.
    """
    parent = parent_of(config.node_id) if config.parent else None
    if parent is None:
        return None
    # A short wait for the parent at start: if it does not answer, the node serves.
    asked = ParentWitness(peers, parent, timeout_s=3.0)
    guard = AuditGapGuard.for_node(
        node_id=config.node_id, store=store, witness=asked, creds=creds, clock=clock
    )
    guard.check()
    return ParentWitness(peers, parent)


def checked_credentials(config: NodeConfig, clock: Callable[[], float]) -> NodeCredentials:
    """The node's credentials, refused if they are not the node's or not valid now.

    Raises:
        ConfigurationError: unreadable, foreign or expired credentials.
    """
    creds = load_node_credentials(config.keys)
    check_node_credentials(
        creds, node_id=config.node_id, now=dt.datetime.fromtimestamp(clock(), dt.UTC)
    )
    return creds
