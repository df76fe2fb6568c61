"""The federation's X.509 PKI: names, issuance, the on-disk keystore and chain checks.

This is edge code (it reads and writes key files); ``gateway.core`` never imports it.
"""

from __future__ import annotations

from gateway.pki.issue import init_federation, issue_client, issue_node
from gateway.pki.keystore import (
    ClientCredentials,
    ClientPaths,
    NodeCredentials,
    NodePaths,
    ServingCredentials,
    load_client_credentials,
    load_node_credentials,
    load_serving_credentials,
)
from gateway.pki.names import (
    CLIENT_ROLES,
    RECORD_SIGNING_EKU,
    NodeLevel,
    fingerprint,
    node_level,
    node_tls_name,
    parent_of,
    signing_kid,
)
from gateway.pki.validate import (
    PeerIdentity,
    check_node_credentials,
    verify_peer_certificate,
    verify_signing_certificate,
)

__all__ = [
    "CLIENT_ROLES",
    "RECORD_SIGNING_EKU",
    "ClientCredentials",
    "ClientPaths",
    "NodeCredentials",
    "NodeLevel",
    "NodePaths",
    "PeerIdentity",
    "ServingCredentials",
    "check_node_credentials",
    "fingerprint",
    "init_federation",
    "issue_client",
    "issue_node",
    "load_client_credentials",
    "load_node_credentials",
    "load_serving_credentials",
    "node_level",
    "node_tls_name",
    "parent_of",
    "signing_kid",
    "verify_peer_certificate",
    "verify_signing_certificate",
]
