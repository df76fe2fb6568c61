"""Building and signing the federation directory at the national node (edge: reads the keystore)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.core.algorithms import Ed25519Signer
from gateway.core.directory import Directory, DirectoryNode, sign_directory
from gateway.core.errors import ConfigurationError
from gateway.core.node_id import NATIONAL
from gateway.node.trust import SignedDirectoryFile
from gateway.pki import (
    NodeCredentials,
    NodePaths,
    fingerprint,
    load_node_credentials,
    parent_of,
    signing_kid,
    verify_peer_certificate,
    verify_signing_certificate,
)
from gateway.pki.keystore import read_certificate, read_certificates, read_signing_history

__all__ = ["build_directory", "directory_entry", "sign_directory_file", "sign_directory_with"]


def _node_dir(keys: Path, node_id: str) -> Path:
    path = keys / "nodes" / node_id
    if not (path / "signing.crt").exists():
        raise ConfigurationError(f"no credentials for node {node_id} under {keys}")
    return path


def _pem(certs: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def directory_entry(
    certificates: Path,
    node_id: str,
    endpoints: Sequence[str],
    *,
    root: x509.Certificate | None = None,
    now: int | None = None,
) -> DirectoryNode:
    """The directory entry of ``node_id`` from its certificate folder (public files only:
    ``tls.crt``, ``signing.crt``, ``chain.pem``, as ``gateway pki node`` writes them, and
    ``signing-history.json`` once ``gateway pki renew`` has retired a signing key).

    With ``root`` and ``now``, both certificates must chain to the federation
    root, name ``node_id`` and be valid now: an operator adding a node learns of
    a wrong folder before anything is signed.

    Raises:
        ConfigurationError: a file is missing or unreadable.
        VerificationError: (with ``root``) a certificate does not verify for ``node_id``.
    """
    paths = NodePaths.of(certificates)
    tls = read_certificate(paths.tls_cert)
    signing = read_certificate(paths.signing_cert)
    chain = read_certificates(paths.chain)
    if root is not None and now is not None:
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        identity = verify_peer_certificate(tls, chain, root=root, now=when)
        if identity.kind != "node" or identity.node_id != node_id:
            raise ConfigurationError(
                f"the TLS certificate in {certificates} is not node {node_id}'s"
            )
        verify_signing_certificate(signing, chain, root=root, node_id=node_id, at_time=when)
    # The key history: retired certificates stay listed, with when they were retired,
    # so that what they signed keeps verifying everywhere.
    history = [r for r in read_signing_history(paths.history) if r.certificate != signing]
    # A retired certificate may come from a node CA signed again since: its chain too.
    cas = {fingerprint(c): c for r in history for c in r.chain}
    cas.update((fingerprint(c), c) for c in chain)
    current = [fingerprint(c) for c in chain]
    older = [c for f, c in cas.items() if f not in current]
    return DirectoryNode(
        node_id=node_id,
        parent=parent_of(node_id),
        endpoints=tuple(endpoints),
        tls_fingerprint=fingerprint(tls),
        signing_kids=(signing_kid(signing), *(signing_kid(r.certificate) for r in history)),
        signing_pem=_pem((signing, *(r.certificate for r in history), *chain, *older)).decode(
            "ascii"
        ),
        signing_retired={signing_kid(r.certificate): r.retired_at for r in history},
    )


def build_directory(
    keys: Path,
    endpoints: Mapping[str, str | Sequence[str]],
    *,
    serial: int,
    now: int,
    valid_s: int,
    revoked: Iterable[str] = (),
    catalog_versions: Mapping[str, str] | None = None,
) -> Directory:
    """A directory of the given nodes (one endpoint each, or several for replicas), read
    from a keystore holding their certificates.

    ``keys`` needs ``nodes/<id>/tls.crt``, ``signing.crt`` and ``chain.pem`` of
    each node (the files each node's operator sends to the national node), and
    the national node's own credentials to sign.

    Raises:
        ConfigurationError: a node without credentials, or a node whose parent is not listed.
    """
    nodes: dict[str, DirectoryNode] = {}
    for node_id, where in sorted(endpoints.items()):
        parent = parent_of(node_id)
        if parent is not None and parent not in endpoints:
            raise ConfigurationError(f"node {node_id} is listed without its parent {parent}")
        listed = (where,) if isinstance(where, str) else tuple(where)
        nodes[node_id] = directory_entry(_node_dir(keys, node_id), node_id, listed)
    return Directory(
        serial=serial,
        issued_at=now,
        expires_at=now + valid_s,
        nodes=nodes,
        revoked=frozenset(revoked),
        catalog_versions=dict(catalog_versions or {}),
    )


def sign_directory_with(creds: NodeCredentials, directory: Directory) -> SignedDirectoryFile:
    """Sign with ``creds``' signing key and attach its certificate chain.

    Only the national node's credentials make a directory that nodes install
    (:meth:`~gateway.node.trust.FederationTrust.install` checks the signer).
    """
    signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)
    envelope = sign_directory(directory, signer)
    return SignedDirectoryFile(
        envelope=envelope.to_json(), signer_chain_pem=_pem((creds.signing_cert, *creds.chain))
    )


def sign_directory_file(keys: Path, directory: Directory) -> SignedDirectoryFile:
    """Sign with the national node's credentials from a federation keystore.

    Raises:
        ConfigurationError: the national node's credentials are missing.
    """
    return sign_directory_with(load_node_credentials(_node_dir(keys, NATIONAL)), directory)
