"""Certificate requests: a node makes its CA key, the CA above it signs, the node installs.

The lifecycle, each step on its own machine (see README "Certificate lifecycle")::

    node        request_node_ca   -> DIR/nodes/<id>/ca.key (0600, never leaves) + ca.csr (PKCS#10)
    parent CA   sign_node_request -> the node CA certificate and the signer's chain (PEM)
    node        install_node_ca   -> ca.crt, chain.pem, root.crt; TLS and signing certificates

The root signs the national and provincial node CAs and a province's node CA
the CAs of its cities: the same tree :func:`gateway.pki.validate` enforces on
every chain. The signer takes only the public key and the node id from a
request; every extension (CA flag, pathlen, key usage, the node's URI SAN) is
its own, so a request cannot ask for more than its place in the tree.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from gateway.core.errors import (
    AlgorithmError,
    ConfigurationError,
    InputError,
    MalformedError,
    SignatureError,
)
from gateway.pki import keystore
from gateway.pki.issue import (
    federation_name,
    host_name,
    load_node_ca,
    load_root_ca,
    make_signing_certificate,
    make_tls_certificate,
    node_ca_certificate,
    utc_now,
)
from gateway.pki.keystore import NodeCredentials, NodePaths, retire_signing_certificate
from gateway.pki.names import URN_PREFIX, node_level, node_uri, parent_of
from gateway.pki.validate import check_node_credentials, named_node

__all__ = ["ROOT_SIGNER", "install_node_ca", "request_node_ca", "sign_node_request"]

ROOT_SIGNER = "root"
"""``--ca`` value naming the federation root as the signer."""

_MAX_REQUEST_BYTES = 16 * 1024


def request_node_ca(
    # `dir` is the name the CLI and the design use for the keystore folder.
    dir: Path,  # noqa: A002
    *,
    node_id: str,
    force: bool = False,
) -> Path:
    """Make the node's CA key (kept in ``dir``) and a PKCS#10 request for its certificate.

    Returns the request's path, ``DIR/nodes/<id>/ca.csr``: the file to send to
    the CA above (the province's CA for a city, the root for the others).

    Raises:
        InputError: ``node_id`` is not a node's region code.
        ConflictError: the node's CA key exists and ``force`` is false.
    """
    node_level(node_id)
    paths = NodePaths.of(keystore.node_dir(dir, node_id))
    keystore.refuse_existing_keys([paths.ca_key], force=force)
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [x509.NameAttribute(NameOID.COMMON_NAME, f"Credit Gateway Node CA {node_id}")]
            )
        )
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(node_uri(node_id))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    keystore.ensure_directory(paths.directory)
    keystore.write_private_key(paths.ca_key, key, force=force)
    keystore.write_bytes(paths.request, request.public_bytes(Encoding.PEM))
    return paths.request


def _requested_node(request: x509.CertificateSigningRequest) -> str:
    """The one node URI a request names, refusing any other name.

    Raises:
        SignatureError: the request's self-signature does not verify.
        MalformedError: no SAN, a name other than exactly one node URI.
    """
    if not request.is_signature_valid:
        raise SignatureError("the request's signature does not verify with its own key")
    try:
        san = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise MalformedError("the request names no node (no subject alternative name)") from None
    names = list(san)
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    nodes = [
        u.removeprefix(f"{URN_PREFIX}node:") for u in uris if u.startswith(f"{URN_PREFIX}node:")
    ]
    if len(names) != 1 or len(nodes) != 1:
        shown = ", ".join(str(n.value) for n in names)
        raise MalformedError(f"a node CA request names exactly one node URI, not: {shown}")
    try:
        node_level(nodes[0])
    except InputError as exc:
        raise MalformedError(f"the request's node URI: {exc}") from exc
    return nodes[0]


def check_signer_may_sign(signer: str, node_id: str) -> None:
    """Refuse a request outside the signing CA's place in the region tree.

    The root signs the national and provincial CAs; a province's node CA signs
    its own cities' CAs; nothing else signs a CA.

    Raises:
        SignatureError: naming the signer, the node and the node's proper signer.
    """
    level = node_level(node_id)
    proper = ROOT_SIGNER if level != "city" else parent_of(node_id)
    if signer != proper:
        raise SignatureError(
            f"the CA of {signer} may not sign the node CA of {node_id}: outside its name "
            f"constraints (a {level} node CA is signed by "
            f"{'the federation root' if proper == ROOT_SIGNER else f'the CA of {proper}'})"
        )


def sign_node_request(
    # `dir` is the name the CLI and the design use for the keystore folder.
    dir: Path,  # noqa: A002
    request_pem: bytes,
    *,
    signer: str,
    now: dt.datetime | None = None,
) -> bytes:
    """Sign a node CA request with the CA ``signer`` (a node id, or ``root``) held in ``dir``.

    Returns the PEM bundle to send back: the new node CA certificate, then the
    signer's chain without the root.

    Raises:
        MalformedError: not one PKCS#10 request, or it names other than one node.
        SignatureError: the request's signature is bad, or the node lies outside
            the signer's place in the tree (a province signing another
            province's city, a city signing anything).
        AlgorithmError: the requested key is not ECDSA P-256.
        ConfigurationError: the signer's CA key is not in ``dir``.
    """
    if len(request_pem) > _MAX_REQUEST_BYTES:
        raise MalformedError(f"the request is {len(request_pem)} bytes, over {_MAX_REQUEST_BYTES}")
    try:
        request = x509.load_pem_x509_csr(request_pem)
    except ValueError as exc:
        raise MalformedError("not a PEM certificate request (PKCS#10)") from exc
    node_id = _requested_node(request)
    if signer != ROOT_SIGNER:
        node_level(signer)
    check_signer_may_sign(signer, node_id)
    public_key = request.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        raise AlgorithmError(f"the request of {node_id} is not for an ECDSA P-256 key")
    at = utc_now(now)
    upper: list[x509.Certificate] = []
    if signer == ROOT_SIGNER:
        issuer, issuer_key = load_root_ca(dir)
        root = issuer
    else:
        # A province's keystore holds its copy of the root, never the root's key.
        root = keystore.read_certificate(NodePaths.of(keystore.node_dir(dir, signer)).root)
        issuer, issuer_key, upper = load_node_ca(dir, signer, needed_by=f"node {node_id}")
    cert = node_ca_certificate(
        node_id,
        public_key,
        issuer=issuer,
        issuer_key=issuer_key,
        federation=federation_name(root),
        now=at,
    )
    chain = [cert, *upper]
    return b"".join(c.public_bytes(Encoding.PEM) for c in chain)


def _certifies(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    """Whether ``cert`` is for ``key``'s public half (same SubjectPublicKeyInfo)."""
    spki = (Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*spki) == key.public_key().public_bytes(*spki)


def _certificates(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise ConfigurationError(f"{what} does not hold PEM certificates") from exc
    if not certs:
        raise ConfigurationError(f"{what} holds no certificate")
    return certs


def install_node_ca(
    # `dir` is the name the CLI and the design use for the keystore folder.
    dir: Path,  # noqa: A002
    *,
    node_id: str,
    bundle_pem: bytes,
    root_pem: bytes,
    host: str,
    now: dt.datetime | None = None,
    force: bool = False,
) -> NodePaths:
    """Install the signed node CA and issue the node's TLS and signing certificates with it.

    ``root_pem`` is the federation root as the operator received it out of band
    (the trust anchor is never taken from the signer's answer). Everything is
    checked as peers will check it before a file is written.

    Raises:
        ConfigurationError: no CA key (run ``pki request`` first), the
            certificate is not for this node's CA key or names another node, or
            the credentials would be refused (chain, tree, validity).
        InputError: ``host`` is neither an IP literal nor a DNS name.
        ConflictError: the node's TLS or signing key exists and ``force`` is false.
    """
    paths = NodePaths.of(keystore.node_dir(dir, node_id))
    if not paths.ca_key.exists():
        raise ConfigurationError(
            f"{paths.ca_key} is missing: run `gateway pki request --dir {dir} --node {node_id}` "
            "on this machine first"
        )
    ca_key = keystore.read_ec_private_key(paths.ca_key)
    chain = _certificates(bundle_pem, "the signed certificate")
    roots = _certificates(root_pem, "the root certificate")
    if len(roots) != 1:
        raise ConfigurationError(f"the root certificate file holds {len(roots)} certificates")
    ca, root = chain[0], roots[0]
    if not _certifies(ca, ca_key):
        raise ConfigurationError(
            f"the signed certificate is not for this node's CA key {paths.ca_key}"
        )
    named = named_node(ca, "the signed certificate")
    if named != node_id:
        raise ConfigurationError(f"the signed certificate is for node {named}, not {node_id}")
    host_name(host)
    keystore.refuse_existing_keys([paths.tls_key, paths.signing_key], force=force)
    at = utc_now(now)
    tls, tls_key = make_tls_certificate(node_id, host, ca=ca, ca_key=ca_key, now=at)
    signing, signing_key = make_signing_certificate(node_id, ca=ca, ca_key=ca_key, now=at)
    creds = NodeCredentials(
        directory=paths.directory,
        node_id=node_id,
        root=root,
        ca_cert=ca,
        tls_cert=tls,
        signing_cert=signing,
        chain=tuple(chain),
        ca_key=ca_key,
        tls_key=tls_key,
        signing_key=signing_key,
    )
    check_node_credentials(creds, node_id=node_id, now=at)
    if paths.signing_cert.exists():
        # Re-installed (a new node CA): what the old signing key signed must still verify.
        old = keystore.read_certificate(paths.signing_cert)
        retire_signing_certificate(paths, old, at=int(at.timestamp()))
    keystore.write_certificates(paths.ca_cert, [ca])
    keystore.write_certificates(paths.chain, chain)
    keystore.write_certificates(paths.root, [root])
    keystore.write_private_key(paths.tls_key, tls_key, force=force)
    keystore.write_private_key(paths.signing_key, signing_key, force=force)
    keystore.write_certificates(paths.tls_cert, [tls])
    keystore.write_certificates(paths.signing_cert, [signing])
    return paths
