"""Changes the national node makes to the federation directory, as pure functions.

Each edit takes the directory in force and returns a new one, still unsigned:
:func:`renewed` then gives it a new serial and validity, and the edge signs it
(:mod:`gateway.node.directory_signer`). An edit that makes no sense (adding a
node twice, removing a node whose children are still listed, revoking a
fingerprint that is not one) raises, so the operator learns at once, and
nothing is signed.
"""

from __future__ import annotations

from dataclasses import replace

from gateway.core.directory import Directory, DirectoryNode
from gateway.core.errors import ConflictError, InputError, NotFoundError
from gateway.core.payload_fields import is_sha256_hex

__all__ = ["add_node", "remove_node", "renewed", "revoke", "set_endpoints"]


def renewed(directory: Directory, *, now: int, valid_s: int) -> Directory:
    """The same directory under a new serial, issued ``now``, valid for ``valid_s`` seconds.

    The serial only grows (nodes keep the highest serial they saw): it is the
    time of signing, or one more than the old serial if the clock lags it.

    Raises:
        InputError: ``valid_s`` is not positive.
    """
    if valid_s <= 0:
        raise InputError(f"a directory must be valid for some time, not {valid_s} s")
    return replace(
        directory,
        serial=max(directory.serial + 1, now),
        issued_at=now,
        expires_at=now + valid_s,
    )


def add_node(directory: Directory, node: DirectoryNode) -> Directory:
    """List ``node``; its parent must be listed and its certificates not revoked.

    Raises:
        ConflictError: the node is listed already, or a certificate of it is revoked.
        NotFoundError: its parent is not listed.
    """
    if node.node_id in directory.nodes:
        raise ConflictError(
            f"node {node.node_id} is already in the directory (set-endpoints changes where "
            "it listens; a new certificate needs remove-node first)"
        )
    if node.parent is not None and node.parent not in directory.nodes:
        raise NotFoundError(f"node {node.node_id}'s parent {node.parent} is not in the directory")
    revoked = {node.tls_fingerprint, *node.signing_kids} & directory.revoked
    if revoked:
        raise ConflictError(
            f"node {node.node_id} presents a revoked certificate {sorted(revoked)[0][:16]}…"
        )
    return replace(directory, nodes={**directory.nodes, node.node_id: node})


def remove_node(directory: Directory, node_id: str) -> Directory:
    """Drop ``node_id`` from the directory: no node accepts it as a peer any more.

    Raises:
        NotFoundError: the node is not listed.
        ConflictError: children of it are still listed (remove them first), or it is
            the national node.
    """
    if node_id not in directory.nodes:
        raise NotFoundError(f"node {node_id} is not in the directory")
    children = directory.children_of(node_id)
    if children:
        raise ConflictError(
            f"node {node_id} still has children in the directory ({', '.join(children)}): "
            "remove them first"
        )
    if directory.nodes[node_id].parent is None:
        raise ConflictError("the national node cannot be removed from its own directory")
    return replace(directory, nodes={k: v for k, v in directory.nodes.items() if k != node_id})


def revoke(directory: Directory, fingerprints: tuple[str, ...]) -> Directory:
    """Add TLS certificate fingerprints or signing key ids to the revoked list.

    Raises:
        InputError: a value is not a hex SHA-256 fingerprint, or none is given.
        ConflictError: it is the national node's own signing key or TLS certificate
            (the directory could then not be trusted at all).
    """
    if not fingerprints:
        raise InputError("name at least one certificate fingerprint to revoke")
    for value in fingerprints:
        if not is_sha256_hex(value):
            raise InputError(f"{value!r} is not a hex SHA-256 certificate fingerprint")
    national = next((n for n in directory.nodes.values() if n.parent is None), None)
    if national is not None:
        own = {national.tls_fingerprint, *national.signing_kids} & set(fingerprints)
        if own:
            raise ConflictError(
                f"{sorted(own)[0][:16]}… is the national node's own certificate: "
                "renew it instead of revoking it in the directory it signs"
            )
    return replace(directory, revoked=directory.revoked | frozenset(fingerprints))


def set_endpoints(directory: Directory, node_id: str, endpoints: tuple[str, ...]) -> Directory:
    """Replace where ``node_id`` listens (``host:port``, one per replica, in order of preference).

    Raises:
        NotFoundError: the node is not listed.
        InputError: no endpoint, a duplicate, or one that is not ``host:port``.
    """
    entry = directory.nodes.get(node_id)
    if entry is None:
        raise NotFoundError(f"node {node_id} is not in the directory")
    if not endpoints:
        raise InputError(f"node {node_id} needs at least one endpoint")
    if len(set(endpoints)) != len(endpoints):
        raise InputError(f"node {node_id} lists an endpoint twice")
    for endpoint in endpoints:
        host, sep, port = endpoint.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise InputError(f"endpoint {endpoint!r} is not host:port")
    updated = replace(entry, endpoints=endpoints)
    return replace(directory, nodes={**directory.nodes, node_id: updated})
