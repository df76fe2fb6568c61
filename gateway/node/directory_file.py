"""Building and signing the federation directory at the national node (edge: reads the keystore)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from gateway.core.algorithms import Ed25519Signer
from gateway.core.directory import Directory, DirectoryNode, sign_directory
from gateway.core.errors import ConfigurationError
from gateway.core.node_id import NATIONAL
from gateway.node.trust import SignedDirectoryFile
from gateway.pki import NodePaths, fingerprint, load_node_credentials, parent_of, signing_kid
from gateway.pki.keystore import read_certificate, read_certificates

__all__ = ["build_directory", "sign_directory_file"]


def _node_dir(keys: Path, node_id: str) -> Path:
    path = keys / "nodes" / node_id
    if not (path / "signing.crt").exists():
        raise ConfigurationError(f"no credentials for node {node_id} under {keys}")
    return path


def build_directory(
    keys: Path,
    endpoints: Mapping[str, str],
    *,
    serial: int,
    now: int,
    valid_s: int,
    revoked: Iterable[str] = (),
    catalog_versions: Mapping[str, str] | None = None,
) -> Directory:
    """A directory of the given nodes, read from a keystore holding their certificates.

    ``keys`` needs ``nodes/<id>/tls.crt``, ``signing.crt`` and ``chain.pem`` of
    each node (the files each node's operator sends to the national node), and
    the national node's own credentials to sign.

    Raises:
        ConfigurationError: a node without credentials, or a node whose parent is not listed.
    """
    nodes: dict[str, DirectoryNode] = {}
    for node_id, endpoint in sorted(endpoints.items()):
        # Certificates only: the national operator holds no other node's private key.
        paths = NodePaths.of(_node_dir(keys, node_id))
        signing = read_certificate(paths.signing_cert)
        parent = parent_of(node_id)
        if parent is not None and parent not in endpoints:
            raise ConfigurationError(f"node {node_id} is listed without its parent {parent}")
        signing_pem = b"".join(
            c.public_bytes(Encoding.PEM) for c in (signing, *read_certificates(paths.chain))
        ).decode("ascii")
        nodes[node_id] = DirectoryNode(
            node_id=node_id,
            parent=parent,
            endpoint=endpoint,
            tls_fingerprint=fingerprint(read_certificate(paths.tls_cert)),
            signing_kids=(signing_kid(signing),),
            signing_pem=signing_pem,
        )
    return Directory(
        serial=serial,
        issued_at=now,
        expires_at=now + valid_s,
        nodes=nodes,
        revoked=frozenset(revoked),
        catalog_versions=dict(catalog_versions or {}),
    )


def sign_directory_file(keys: Path, directory: Directory) -> SignedDirectoryFile:
    """Sign with the national node's signing key and attach its certificate chain.

    Raises:
        ConfigurationError: the national node's credentials are missing.
    """
    creds = load_node_credentials(_node_dir(keys, NATIONAL))
    signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)
    envelope = sign_directory(directory, signer)
    chain = b"".join(c.public_bytes(Encoding.PEM) for c in (creds.signing_cert, *creds.chain))
    return SignedDirectoryFile(envelope=envelope.to_json(), signer_chain_pem=chain)
