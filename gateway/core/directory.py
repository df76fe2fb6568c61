"""The federation directory: which nodes exist, where, with which keys.

The national node signs the directory (DSSE, payload type
:data:`DIRECTORY_PAYLOAD_TYPE`) and gives it an expiry; every node refreshes it
from its parent and keeps working on the cached copy until it expires. A peer
or a record the directory does not vouch for is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gateway.core.algorithms import Signer, Verifier
from gateway.core.dsse import (
    Envelope,
    canonical_json,
    sign_envelope,
    verify_envelope,
)
from gateway.core.errors import AccessDeniedError, DirectoryExpiredError, MalformedError
from gateway.core.node_id import is_node_id_shape
from gateway.core.payload_fields import is_sha256_hex, parse_json_payload, payload_int, payload_str

__all__ = [
    "DIRECTORY_PAYLOAD_TYPE",
    "Directory",
    "DirectoryNode",
    "sign_directory",
    "verify_directory",
]

DIRECTORY_PAYLOAD_TYPE = "application/vnd.credit-gateway.directory+json"
_WHAT = "federation directory"
_KEYS = frozenset({"serial", "issued_at", "expires_at", "nodes", "revoked", "catalog_versions"})
_NODE_KEYS = frozenset(
    {"id", "parent", "endpoints", "tls_fingerprint", "signing_kids", "signing_pem"}
)
_LEGACY_NODE_KEYS = (_NODE_KEYS - {"endpoints"}) | {"endpoint"}
"""Before replicas, a node had one ``endpoint`` (a string): still read, never written."""
# Optional node keys: written only when the node has something to say, so that the
# directory of a node that never renewed reads as it always did.
_OPTIONAL_NODE_KEYS = frozenset({"signing_retired"})


@dataclass(frozen=True, slots=True)
class DirectoryNode:
    """One node as the directory lists it.

    Attributes:
        endpoints: where the node listens, one ``host:port`` per replica, in the
            order peers try them.
        signing_kids: every signing key id of the node, current and retired (its key history).
        signing_pem: the node's signing certificate(s) and their CA chain (PEM),
            so any node can verify its records and statements offline.
        signing_retired: key id -> Unix time the node stopped signing with it
            (``gateway pki renew``). What a retired key signed before then still
            verifies; anything it signed later is a forgery and is refused.
    """

    node_id: str
    parent: str | None
    endpoints: tuple[str, ...]
    tls_fingerprint: str
    signing_kids: tuple[str, ...]
    signing_pem: str
    signing_retired: Mapping[str, int] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        """The first endpoint: the one shown where a single address is asked for."""
        return self.endpoints[0]


@dataclass(frozen=True, slots=True)
class Directory:
    """A signed, expiring list of the federation's nodes."""

    serial: int
    issued_at: int
    expires_at: int
    nodes: Mapping[str, DirectoryNode]
    revoked: frozenset[str] = frozenset()
    catalog_versions: Mapping[str, str] = field(default_factory=dict)

    def node(self, node_id: str) -> DirectoryNode:
        """The entry for ``node_id``.

        Raises:
            AccessDeniedError: if the directory does not list it.
        """
        entry = self.nodes.get(node_id)
        if entry is None:
            raise AccessDeniedError(
                f"node {node_id} is not in the federation directory", rule="directory:unknown-node"
            )
        return entry

    def check_peer(self, node_id: str, fingerprint: str) -> DirectoryNode:
        """Refuse a peer whose TLS certificate is revoked or not the one listed.

        Raises:
            AccessDeniedError: unknown node, revoked or unlisted certificate.
        """
        entry = self.node(node_id)
        if fingerprint in self.revoked:
            raise AccessDeniedError(
                f"certificate of node {node_id} is revoked", rule="directory:revoked"
            )
        if fingerprint != entry.tls_fingerprint:
            raise AccessDeniedError(
                f"node {node_id} presented a TLS certificate the directory does not list",
                rule="directory:unlisted-certificate",
            )
        return entry

    def owner_of(self, kid: str) -> str:
        """The node whose signing certificate has key id ``kid``.

        Raises:
            AccessDeniedError: if no node lists it, or it is revoked.
        """
        if kid in self.revoked:
            raise AccessDeniedError(f"signing key {kid[:16]}… is revoked", rule="directory:revoked")
        for entry in self.nodes.values():
            if kid in entry.signing_kids:
                return entry.node_id
        raise AccessDeniedError(
            f"signing key {kid[:16]}… belongs to no node of the directory",
            rule="directory:unknown-key",
        )

    def check_neighbour(self, node_id: str, peer: str) -> None:
        """Refuse ``peer`` unless the directory lists it as ``node_id``'s parent or child.

        Data travels the tree hop by hop, so that each hub applies its checks and
        keeps its delivery ledger: no node may push past its province.

        Raises:
            AccessDeniedError: rule ``federation:push-neighbours-only``; unknown nodes
                as :meth:`node`.
        """
        if peer == self.node(node_id).parent or self.node(peer).parent == node_id:
            return
        raise AccessDeniedError(
            f"node {peer} is neither the parent nor a child of node {node_id} in the "
            "federation directory: it may not push here",
            rule="federation:push-neighbours-only",
        )

    def children_of(self, node_id: str) -> tuple[str, ...]:
        return tuple(sorted(n.node_id for n in self.nodes.values() if n.parent == node_id))

    def check_current(self, now: int, skew_s: int = 0) -> None:
        """Refuse the directory once expired, allowing ``skew_s`` for the signer's clock.

        Raises:
            DirectoryExpiredError: expired (fail closed).
        """
        if now >= self.expires_at + skew_s:
            raise DirectoryExpiredError(
                f"federation directory serial {self.serial} expired at {self.expires_at}"
            )

    def to_payload(self) -> bytes:
        return canonical_json(
            {
                "serial": self.serial,
                "issued_at": self.issued_at,
                "expires_at": self.expires_at,
                "nodes": [_node_payload(n) for n in sorted(self.nodes.values(), key=_by_id)],
                "revoked": sorted(self.revoked),
                "catalog_versions": dict(sorted(self.catalog_versions.items())),
            }
        )

    @classmethod
    def from_payload(cls, data: bytes) -> Directory:
        """Parse a directory payload strictly.

        Raises:
            MalformedError: naming the key or node at fault.
        """
        doc = parse_json_payload(data, what=_WHAT, keys=_KEYS)
        nodes_doc = doc["nodes"]
        revoked = doc["revoked"]
        versions = doc["catalog_versions"]
        if not isinstance(nodes_doc, list) or not isinstance(revoked, list):
            raise MalformedError(f"{_WHAT}: nodes and revoked must be lists")
        if not isinstance(versions, dict):
            raise MalformedError(f"{_WHAT}: catalog_versions must be an object")
        nodes: dict[str, DirectoryNode] = {}
        for index, item in enumerate(nodes_doc, start=1):
            node = _node(item, index)
            if node.node_id in nodes:
                raise MalformedError(f"{_WHAT}: node {node.node_id} is listed twice")
            nodes[node.node_id] = node
        for value in revoked:
            if not is_sha256_hex(value):
                raise MalformedError(f"{_WHAT}: revoked entries must be hex SHA-256 fingerprints")
        directory = cls(
            serial=payload_int(doc, "serial", _WHAT, minimum=1),
            issued_at=payload_int(doc, "issued_at", _WHAT, minimum=0),
            expires_at=payload_int(doc, "expires_at", _WHAT, minimum=0),
            nodes=nodes,
            revoked=frozenset(str(v) for v in revoked),
            catalog_versions={str(k): str(v) for k, v in versions.items()},
        )
        if directory.expires_at <= directory.issued_at:
            raise MalformedError(f"{_WHAT}: expires_at must be after issued_at")
        return directory


def _by_id(node: DirectoryNode) -> str:
    return node.node_id


def _node_payload(node: DirectoryNode) -> dict[str, object]:
    payload: dict[str, object] = {
        "id": node.node_id,
        "parent": node.parent or "",
        "endpoints": list(node.endpoints),
        "tls_fingerprint": node.tls_fingerprint,
        "signing_kids": list(node.signing_kids),
        "signing_pem": node.signing_pem,
    }
    if node.signing_retired:
        payload["signing_retired"] = dict(sorted(node.signing_retired.items()))
    return payload


def _retired(item: dict[str, object], kids: list[str], what: str) -> dict[str, int]:
    retired = item.get("signing_retired", {})
    if not isinstance(retired, dict) or (not retired and "signing_retired" in item):
        raise MalformedError(f"{what}: signing_retired must be a non-empty object when present")
    for kid, at in retired.items():
        if kid not in kids:
            raise MalformedError(f"{what}: retired key {str(kid)[:16]}… is not in signing_kids")
        if type(at) is not int or at < 0:
            raise MalformedError(f"{what}: the retirement of key {kid[:16]}… must be Unix seconds")
    if kids and len(retired) == len(kids):
        raise MalformedError(f"{what}: every signing key is retired; one must be current")
    return {str(k): int(v) for k, v in retired.items()}


def _node(item: object, index: int) -> DirectoryNode:
    what = f"{_WHAT} node {index}"
    if not isinstance(item, dict):
        raise MalformedError(f"{what} must be an object")
    expected = _LEGACY_NODE_KEYS if "endpoint" in item else _NODE_KEYS
    unknown = sorted((set(item) - _OPTIONAL_NODE_KEYS) ^ expected)
    if unknown:
        raise MalformedError(f"{what} has a missing or unknown key {unknown[0]!r}")
    node_id = payload_str(item, "id", what)
    parent = payload_str(item, "parent", what)
    if not is_node_id_shape(node_id) or (parent and not is_node_id_shape(parent)):
        raise MalformedError(f"{what}: node and parent ids must be 6-digit region codes")
    kids = item["signing_kids"]
    if not isinstance(kids, list) or not all(is_sha256_hex(k) for k in kids):
        raise MalformedError(f"{what}: signing_kids must be hex SHA-256 fingerprints")
    fingerprint = payload_str(item, "tls_fingerprint", what)
    if not is_sha256_hex(fingerprint):
        raise MalformedError(f"{what}: tls_fingerprint must be a hex SHA-256 fingerprint")
    if "endpoint" in item:
        endpoints: tuple[str, ...] = (payload_str(item, "endpoint", what),)
    else:
        listed = item["endpoints"]
        if not isinstance(listed, list) or not listed:
            raise MalformedError(f"{what}: endpoints must be a non-empty list")
        endpoints = tuple(
            payload_str({"endpoint": e}, "endpoint", f"{what} endpoint {i}")
            for i, e in enumerate(listed, start=1)
        )
        if len(set(endpoints)) != len(endpoints):
            raise MalformedError(f"{what}: an endpoint is listed twice")
    return DirectoryNode(
        node_id=node_id,
        parent=parent or None,
        endpoints=endpoints,
        tls_fingerprint=fingerprint,
        signing_kids=tuple(kids),
        signing_pem=payload_str(item, "signing_pem", what),
        signing_retired=_retired(item, kids, what),
    )


def sign_directory(directory: Directory, signer: Signer) -> Envelope:
    """The national node's signature over the directory."""
    return sign_envelope(DIRECTORY_PAYLOAD_TYPE, directory.to_payload(), signer)


def verify_directory(
    envelope: Envelope, *, resolve_key: Callable[[str], Verifier], now: int, skew_s: int = 0
) -> Directory:
    """Verify the national node's signature and the expiry.

    Args:
        resolve_key: key id -> verifier for the national node's signing certificate only.
        skew_s: how far the national node's clock may be from ``now``.

    Raises:
        SignatureError: not signed by the national node.
        MalformedError: not a directory.
        ExpiredError: already expired.
    """
    payload = verify_envelope(
        envelope, expected_type=DIRECTORY_PAYLOAD_TYPE, resolve_key=resolve_key
    )
    directory = Directory.from_payload(payload)
    directory.check_current(now, skew_s)
    return directory
