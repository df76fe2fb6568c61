"""Checking certificate chains and reading a peer's identity from its certificate.

Chains are built and checked by ``cryptography.x509.verification`` (the
installed version supports custom extension policies, which lets the record
signing EKU replace the TLS one, and accepts Ed25519 leaves signed by an ECDSA
CA). It enforces signatures, validity at the given time, CA flags, pathlen and
key usage with web-PKI strictness. On top of it we check what X.509 cannot
express for URN names: each node CA sits under its region code's parent, and a
CA only vouches for identities of its own node (name constraints do not apply
to URNs, RFC 5280 §4.2.1.10 constrains URIs by host only).

:func:`check_node_credentials` checks a node's own keystore before it serves,
one explicit check per failure so the operator reads which file is wrong.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID

from gateway.core.errors import (
    AlgorithmError,
    ConfigurationError,
    ExpiredError,
    InputError,
    MalformedError,
    SignatureError,
    VerificationError,
)
from gateway.pki.issue import CA_PATH_LENGTH
from gateway.pki.keystore import NodeCredentials
from gateway.pki.names import (
    CLIENT_ROLES,
    RECORD_SIGNING_EKU,
    URN_PREFIX,
    NodeLevel,
    fingerprint,
    node_level,
    parent_of,
    signing_kid,
)

__all__ = [
    "PeerIdentity",
    "check_node_credentials",
    "check_validity",
    "federation_uris",
    "named_node",
    "verify_peer_certificate",
    "verify_signing_certificate",
]

# A federation chain is leaf, at most two node CAs and the root; the bound leaves
# room for a peer that also sends its root, and stops anything longer before parsing.
_MAX_INTERMEDIATES = 4
_MAX_CERTIFICATE_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class PeerIdentity:
    """Who is at the other end of a verified mTLS connection.

    Attributes:
        kind: ``"node"`` for a gateway node, ``"client"`` for a department, auditor or admin.
        node_id: the node itself, or the node the client belongs to.
        name: the client's name (``None`` for nodes).
        role: ``"node"`` for nodes, else ``department``, ``auditor`` or ``admin``.
        domain: a department's domain (e.g. ``procurement``), else ``None``.
        fingerprint: SHA-256 of the leaf certificate DER, lower-case hex.
    """

    kind: Literal["node", "client"]
    node_id: str
    name: str | None
    role: str | None
    domain: str | None
    fingerprint: str


def _describe(cert: x509.Certificate) -> str:
    return f"certificate {cert.subject.rfc4514_string()!r}"


def _parse_certificate(data: bytes | x509.Certificate, what: str) -> x509.Certificate:
    if isinstance(data, x509.Certificate):
        return data
    if len(data) > _MAX_CERTIFICATE_BYTES:
        raise MalformedError(f"{what} is {len(data)} bytes, over {_MAX_CERTIFICATE_BYTES}")
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise MalformedError(f"{what} is not an X.509 certificate") from exc


def _parse_chain(chain: Sequence[bytes | x509.Certificate] | bytes) -> list[x509.Certificate]:
    if isinstance(chain, bytes):
        try:
            certs = x509.load_pem_x509_certificates(chain) if chain.strip() else []
        except ValueError as exc:
            raise MalformedError("certificate chain is not a PEM bundle") from exc
    else:
        certs = [_parse_certificate(c, f"chain certificate {i}") for i, c in enumerate(chain)]
    if len(certs) > _MAX_INTERMEDIATES:
        raise MalformedError(
            f"certificate chain has {len(certs)} certificates, over {_MAX_INTERMEDIATES}"
        )
    return certs


def _utc(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise InputError("verification time must be timezone-aware")
    return when.astimezone(dt.UTC)


def check_validity(cert: x509.Certificate, when: dt.datetime, what: str) -> None:
    """Raise unless ``cert`` is valid at ``when``.

    Raises:
        ExpiredError: naming ``what`` and the validity bound that was crossed.
    """
    if when < cert.not_valid_before_utc:
        raise ExpiredError(
            f"{what}: certificate not yet valid at {when.isoformat()} "
            f"(valid from {cert.not_valid_before_utc.isoformat()})"
        )
    if when > cert.not_valid_after_utc:
        raise ExpiredError(
            f"{what}: certificate expired at {cert.not_valid_after_utc.isoformat()} "
            f"(checked at {when.isoformat()})"
        )


def federation_uris(cert: x509.Certificate) -> list[str]:
    """The URI SANs of ``cert`` in the federation's namespace."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return [u for u in uris if u.startswith(URN_PREFIX)]


def _values(uris: list[str], kind: str) -> list[str]:
    prefix = f"{URN_PREFIX}{kind}:"
    return [u.removeprefix(prefix) for u in uris if u.startswith(prefix)]


def _valid_node_id(value: str, what: str) -> str:
    try:
        node_level(value)
    except InputError as exc:
        raise MalformedError(f"{what}: {exc}") from exc
    return value


def named_node(cert: x509.Certificate, what: str) -> str:
    """The node id in the single ``urn:credit-gateway:node:`` SAN of ``cert``.

    Raises:
        MalformedError: if there is not exactly one such SAN or its id is invalid.
    """
    nodes = _values(federation_uris(cert), "node")
    if len(nodes) != 1:
        raise MalformedError(f"{what} names {len(nodes)} nodes in its URI SANs, expected one")
    return _valid_node_id(nodes[0], what)


def _check_federation_path(chain: list[x509.Certificate]) -> str:
    """Check the node CAs of a built chain ``[leaf, CA..., root]``; return the issuing node.

    Raises:
        SignatureError: if a CA sits outside its place in the region-code tree.
        MalformedError: if a node CA does not name its node.
    """
    if len(chain) < 3:
        raise SignatureError(f"{_describe(chain[0])} is signed by the root, not by a node CA")
    cas = chain[1:-1]
    for position, ca in enumerate(cas):
        node = named_node(ca, f"CA {_describe(ca)}")
        if position + 1 == len(cas):
            if node_level(node) == "city":
                raise SignatureError(f"node CA of city {node} is signed directly by the root")
            continue
        upper = named_node(cas[position + 1], f"CA {_describe(cas[position + 1])}")
        if upper != parent_of(node):
            raise SignatureError(
                f"node CA of {node} is signed by the CA of node {upper}, "
                f"not of its parent {parent_of(node)}"
            )
    return named_node(cas[0], f"CA {_describe(cas[0])}")


def _build_chain(
    leaf: x509.Certificate,
    intermediates: list[x509.Certificate],
    *,
    root: x509.Certificate,
    when: dt.datetime,
    signing: bool,
) -> list[x509.Certificate]:
    builder = verification.PolicyBuilder().store(verification.Store([root])).time(when)
    if signing:
        # The default end-entity policy demands the clientAuth EKU; a signing
        # certificate must have ours instead, and is refused for TLS for lack of it.
        ee_policy = verification.ExtensionPolicy.webpki_defaults_ee().require_present(
            x509.ExtendedKeyUsage, verification.Criticality.AGNOSTIC, _require_signing_eku
        )
        builder = builder.extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy
        )
    try:
        return builder.build_client_verifier().verify(leaf, intermediates).chain
    except verification.VerificationError as exc:
        raise SignatureError(
            f"{_describe(leaf)} does not chain to the federation root: {exc}"
        ) from exc


def _require_signing_eku(
    _policy: verification.Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage
) -> None:
    if RECORD_SIGNING_EKU not in eku:
        raise ValueError("record signing EKU missing")


def verify_peer_certificate(
    leaf_der_or_pem: bytes | x509.Certificate,
    chain: Sequence[bytes | x509.Certificate] | bytes,
    *,
    root: x509.Certificate,
    now: dt.datetime,
) -> PeerIdentity:
    """Check a TLS peer's certificate chain up to ``root`` and return its identity.

    Args:
        leaf_der_or_pem: the peer's certificate (DER, PEM, or parsed).
        chain: intermediates as sent by the peer, in any order (a PEM bundle or a list).
        root: the federation root, the only trust anchor.
        now: the verification time.

    Raises:
        MalformedError: if a certificate cannot be parsed or its URI SANs are not a
            well-formed node or client identity.
        ExpiredError: if the peer certificate is outside its validity period.
        SignatureError: if the chain does not lead to ``root``, a CA sits outside its
            place in the hierarchy, or a CA vouches for another node's identity.
    """
    when = _utc(now)
    leaf = _parse_certificate(leaf_der_or_pem, "peer certificate")
    check_validity(leaf, when, "peer certificate")
    built = _build_chain(leaf, _parse_chain(chain), root=root, when=when, signing=False)
    issuing_node = _check_federation_path(built)
    uris = federation_uris(leaf)
    nodes, clients = _values(uris, "node"), _values(uris, "client")
    if len(nodes) + len(clients) != 1:
        raise MalformedError(
            f"peer certificate names {len(nodes)} nodes and {len(clients)} clients, "
            "expected exactly one identity"
        )
    if nodes:
        node_id = _valid_node_id(nodes[0], "peer certificate")
        _check_same_node(node_id, issuing_node, "peer certificate")
        return PeerIdentity("node", node_id, None, "node", None, fingerprint(leaf))
    node_id, sep, name = clients[0].partition(":")
    if not sep or not name:
        raise MalformedError(f"peer certificate client URI {clients[0]!r} is not <node>:<name>")
    _valid_node_id(node_id, "peer certificate client URI")
    _check_same_node(node_id, issuing_node, f"client {name!r}")
    roles, domains = _values(uris, "role"), _values(uris, "domain")
    if len(roles) != 1 or roles[0] not in CLIENT_ROLES:
        raise MalformedError(f"client {name!r} must name one role of {sorted(CLIENT_ROLES)}")
    role = roles[0]
    if role == "department" and len(domains) != 1:
        raise MalformedError(
            f"department client {name!r} names {len(domains)} domains, expected one"
        )
    if role != "department" and domains:
        raise MalformedError(f"{role} client {name!r} names a domain; only departments have one")
    domain = domains[0] if domains else None
    return PeerIdentity("client", node_id, name, role, domain, fingerprint(leaf))


def _check_same_node(named: str, issuing: str, what: str) -> None:
    if named != issuing:
        raise SignatureError(
            f"{what} belongs to node {named} but was issued by the CA of node {issuing}"
        )


def verify_signing_certificate(
    cert: x509.Certificate,
    chain: Sequence[bytes | x509.Certificate] | bytes,
    *,
    root: x509.Certificate,
    node_id: str,
    at_time: dt.datetime,
) -> Ed25519PublicKey:
    """Check a node's record signing certificate as of ``at_time``; return its key.

    ``at_time`` is when the record or statement was issued: a certificate that
    has expired since still verifies what it signed while it was valid.
    Revocation is the federation directory's business, not checked here.

    Raises:
        ExpiredError: if the certificate was not valid at ``at_time``.
        SignatureError: if it lacks the record signing EKU, does not chain to
            ``root`` (as of ``at_time``), or names or was issued for another node.
        MalformedError: if its node URI SAN is missing or invalid.
        AlgorithmError: if its key is not Ed25519.
    """
    when = _utc(at_time)
    what = f"signing certificate {signing_kid(cert)[:16]}"
    check_validity(cert, when, what)
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = x509.ExtendedKeyUsage([])
    if RECORD_SIGNING_EKU not in eku:
        raise SignatureError(f"{what} lacks the record signing extended key usage")
    if ExtendedKeyUsageOID.SERVER_AUTH in eku or ExtendedKeyUsageOID.CLIENT_AUTH in eku:
        raise SignatureError(f"{what} is also a TLS certificate; signing keys must be separate")
    named = named_node(cert, what)
    if named != node_id:
        raise SignatureError(f"{what} names node {named}, expected {node_id}")
    built = _build_chain(cert, _parse_chain(chain), root=root, when=when, signing=True)
    _check_same_node(named, _check_federation_path(built), what)
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise AlgorithmError(f"{what} has a {type(key).__name__} key, expected Ed25519")
    return key


# -- a node's own credentials ---------------------------------------------------------


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _check_ca(cert: x509.Certificate, what: str, *, pathlen: int, exact: bool) -> None:
    constraints = _basic_constraints(cert)
    if constraints is None or not constraints.ca:
        raise ConfigurationError(f"{what}: CA constraints broken: not a CA certificate")
    actual = constraints.path_length
    if exact and actual != pathlen:
        raise ConfigurationError(
            f"{what}: CA constraints broken: pathlen {actual}, expected {pathlen}"
        )
    if actual is not None and actual < pathlen:
        raise ConfigurationError(
            f"{what}: CA constraints broken: pathlen {actual}, needs at least {pathlen}"
        )
    try:
        cert_sign = cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        cert_sign = False
    if not cert_sign:
        raise ConfigurationError(f"{what}: CA constraints broken: key usage lacks keyCertSign")


def _check_leaf(cert: x509.Certificate, what: str) -> None:
    constraints = _basic_constraints(cert)
    if constraints is not None and constraints.ca:
        raise ConfigurationError(f"{what}: CA constraints broken: a leaf must not be a CA")


def _ekus(cert: x509.Certificate) -> x509.ExtendedKeyUsage:
    try:
        return cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return x509.ExtendedKeyUsage([])


def _check_issued_by(cert: x509.Certificate, issuer: x509.Certificate, what: str, by: str) -> None:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as exc:
        raise ConfigurationError(
            f"{what}: chain does not lead to the root: not issued by {by}"
        ) from exc


def check_node_credentials(creds: NodeCredentials, *, node_id: str, now: dt.datetime) -> None:
    """Check a node's own keystore before it serves or signs anything.

    Args:
        creds: as loaded by :func:`gateway.pki.keystore.load_node_credentials`.
        node_id: the node this process is configured to be.
        now: the time to check validity at.

    Raises:
        ConfigurationError: naming the file and the problem: certificate expired or
            not yet valid, private key does not match its certificate, wrong node
            id in a SAN, CA constraints (CA flag, pathlen) broken, TLS or signing
            extended key usage missing, chain does not lead to the root.
    """
    when = _utc(now)
    try:
        level = node_level(node_id)
    except InputError as exc:
        raise ConfigurationError(f"configured node id: {exc}") from exc
    _check_all_valid(creds, when)
    _check_key_pairs(creds)
    _check_node_names(creds, node_id)
    _check_constraints(creds, level)
    _check_usages(creds)
    _check_chain(creds, level)
    # The explicit checks above give precise messages; the same verification
    # peers will run catches anything they do not cover (key usage, AKI, ...).
    try:
        verify_peer_certificate(creds.tls_cert, creds.chain, root=creds.root, now=when)
        verify_signing_certificate(
            creds.signing_cert, creds.chain, root=creds.root, node_id=node_id, at_time=when
        )
    except VerificationError as exc:
        raise ConfigurationError(
            f"{creds.directory}: credentials would be refused by peers: {exc}"
        ) from exc


def _check_all_valid(creds: NodeCredentials, when: dt.datetime) -> None:
    d = creds.directory
    keystore, node = d.parent.parent, d.name
    # What the operator runs next, by the certificate that failed.
    renew = f"; renew it with `gateway pki renew --dir {keystore} --node {node}`"
    resign = (
        f"; have the node CA signed again: `gateway pki request --dir {keystore} --node {node}`, "
        "`gateway pki sign` at the parent's CA, then `gateway pki install`"
    )
    files = [
        (d / "root.crt", creds.root, "; the federation root must be replaced"),
        (d / "ca.crt", creds.ca_cert, resign),
        *((d / f"chain.pem[{i}]", c, resign) for i, c in enumerate(creds.chain)),
        (d / "tls.crt", creds.tls_cert, renew),
        (d / "signing.crt", creds.signing_cert, renew),
    ]
    for path, cert, remedy in files:
        try:
            check_validity(cert, when, str(path))
        except ExpiredError as exc:
            raise ConfigurationError(f"{exc}{remedy}") from exc


def _check_key_pairs(creds: NodeCredentials) -> None:
    pairs: list[tuple[str, x509.Certificate, CertificatePublicKeyTypes]] = [
        ("ca", creds.ca_cert, creds.ca_key.public_key()),
        ("tls", creds.tls_cert, creds.tls_key.public_key()),
        ("signing", creds.signing_cert, creds.signing_key.public_key()),
    ]
    for stem, cert, public in pairs:
        if _spki(cert.public_key()) != _spki(public):
            raise ConfigurationError(
                f"{creds.directory / (stem + '.key')}: private key does not match "
                f"certificate {stem}.crt"
            )


def _check_node_names(creds: NodeCredentials, node_id: str) -> None:
    certs = [("ca", creds.ca_cert), ("tls", creds.tls_cert), ("signing", creds.signing_cert)]
    for stem, cert in certs:
        path = creds.directory / f"{stem}.crt"
        try:
            named = named_node(cert, str(path))
        except MalformedError as exc:
            raise ConfigurationError(f"wrong node id in SAN: {exc}") from exc
        if named != node_id:
            raise ConfigurationError(f"{path}: wrong node id in SAN: {named}, expected {node_id}")


def _check_constraints(creds: NodeCredentials, level: NodeLevel) -> None:
    d = creds.directory
    below_root = 2 if level == "city" else 1
    _check_ca(creds.root, str(d / "root.crt"), pathlen=below_root, exact=False)
    _check_ca(creds.ca_cert, str(d / "ca.crt"), pathlen=CA_PATH_LENGTH[level], exact=True)
    for i, cert in enumerate(creds.chain[1:], start=1):
        _check_ca(cert, str(d / f"chain.pem[{i}]"), pathlen=i, exact=False)
    _check_leaf(creds.tls_cert, str(d / "tls.crt"))
    _check_leaf(creds.signing_cert, str(d / "signing.crt"))


def _check_usages(creds: NodeCredentials) -> None:
    d = creds.directory
    tls_ekus = _ekus(creds.tls_cert)
    for oid, label in (
        (ExtendedKeyUsageOID.SERVER_AUTH, "serverAuth"),
        (ExtendedKeyUsageOID.CLIENT_AUTH, "clientAuth"),
    ):
        if oid not in tls_ekus:
            raise ConfigurationError(f"{d / 'tls.crt'}: TLS certificate lacks the {label} EKU")
    if RECORD_SIGNING_EKU not in _ekus(creds.signing_cert):
        raise ConfigurationError(
            f"{d / 'signing.crt'}: signing certificate lacks the signing EKU "
            f"({RECORD_SIGNING_EKU.dotted_string})"
        )


def _check_chain(creds: NodeCredentials, level: NodeLevel) -> None:
    d = creds.directory
    expected = 2 if level == "city" else 1
    if len(creds.chain) != expected or creds.chain[0] != creds.ca_cert:
        raise ConfigurationError(
            f"{d / 'chain.pem'}: chain does not lead to the root: expected ca.crt and "
            f"{expected - 1} provincial CA, found {len(creds.chain)} certificates"
        )
    _check_issued_by(creds.tls_cert, creds.ca_cert, str(d / "tls.crt"), "ca.crt")
    _check_issued_by(creds.signing_cert, creds.ca_cert, str(d / "signing.crt"), "ca.crt")
    for i, (cert, upper) in enumerate(itertools.pairwise(creds.chain)):
        _check_issued_by(cert, upper, str(d / f"chain.pem[{i}]"), f"chain.pem[{i + 1}]")
    last = len(creds.chain) - 1
    _check_issued_by(creds.chain[last], creds.root, str(d / f"chain.pem[{last}]"), "root.crt")
