"""Creating the federation's CAs and certificates, and writing them to a keystore.

The hierarchy (DESIGN §8)::

    federation root (pathlen 2)
    ├── national node CA (pathlen 0)  -> national TLS, signing, clients
    └── provincial node CA (pathlen 1) -> province TLS, signing, clients
        └── city node CA (pathlen 0)  -> city TLS, signing, clients

Every node CA carries the URI SAN of its node, so a verifier can tell which
node vouches for a leaf and refuse a CA that names identities of another node.
All keys are ECDSA P-256 except the Ed25519 record signing key.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gateway.core.errors import ConfigurationError, InputError
from gateway.pki import keystore
from gateway.pki.keystore import ClientPaths, NodePaths, RootPaths
from gateway.pki.names import (
    RECORD_SIGNING_EKU,
    check_client_name,
    check_domain,
    check_role,
    client_uri,
    domain_uri,
    node_level,
    node_tls_name,
    node_uri,
    parent_of,
    role_uri,
)

__all__ = [
    "CA_PATH_LENGTH",
    "init_federation",
    "issue_client",
    "issue_node",
    "node_ca_certificate",
    "sign_signing_certificate",
    "sign_tls_certificate",
    "write_node_leaves",
]

ROOT_VALIDITY = dt.timedelta(days=3652)
NODE_CA_VALIDITY = dt.timedelta(days=1826)
LEAF_VALIDITY = dt.timedelta(days=365)
# Certificates start an hour in the past so that a peer whose clock lags a
# little does not reject a certificate issued a moment ago.
BACKDATE = dt.timedelta(hours=1)

CA_PATH_LENGTH = {"national": 0, "province": 1, "city": 0}
"""BasicConstraints pathlen of each level's node CA (the root has 2)."""
ROOT_PATH_LENGTH = 2

_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")

_CertAndKey = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def utc_now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise InputError("now must be a timezone-aware datetime")
    return now.astimezone(dt.UTC)


def federation_name(root: x509.Certificate) -> str:
    attrs = root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    value = attrs[0].value if attrs else "Credit Gateway Federation"
    return value if isinstance(value, str) else value.decode("utf-8")


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            # Most general first in DER, so RFC 4514 reads "CN=...,O=...".
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, cert_sign: bool = False, content_commitment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=content_commitment,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _builder(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    *,
    issuer: x509.Certificate | None,
    now: dt.datetime,
    validity: dt.timedelta,
) -> x509.CertificateBuilder:
    not_before = now - BACKDATE
    not_after = now + validity
    if issuer is not None:
        if not issuer.not_valid_before_utc <= now <= issuer.not_valid_after_utc:
            raise ConfigurationError(
                f"issuing CA {issuer.subject.rfc4514_string()} is not valid at {now.isoformat()}"
            )
        # A certificate never outlives the CA that vouches for it.
        not_after = min(not_after, issuer.not_valid_after_utc)
        not_before = max(not_before, issuer.not_valid_before_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if issuer is not None:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    return builder


def make_root_ca(federation_name: str, *, now: dt.datetime) -> _CertAndKey:
    """Create the federation root CA (ECDSA P-256, 10 years, pathlen 2)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name("Credit Gateway Federation Root", federation_name)
    cert = (
        _builder(subject, key.public_key(), issuer=None, now=now, validity=ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=ROOT_PATH_LENGTH), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def make_node_ca(
    node_id: str,
    *,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    federation: str,
    now: dt.datetime,
) -> _CertAndKey:
    """Create a node's CA, with the pathlen of its level and its node URI SAN."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = node_ca_certificate(
        node_id,
        key.public_key(),
        issuer=issuer,
        issuer_key=issuer_key,
        federation=federation,
        now=now,
    )
    return cert, key


def node_ca_certificate(
    node_id: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    issuer: x509.Certificate,
    issuer_key: ec.EllipticCurvePrivateKey,
    federation: str,
    now: dt.datetime,
) -> x509.Certificate:
    """Sign a node CA certificate for ``public_key``: pathlen of its level, node URI SAN.

    Every extension is the issuer's choice, never the requester's (a PKCS#10
    request contributes its key and its node id only).
    """
    pathlen = CA_PATH_LENGTH[node_level(node_id)]
    subject = _name(f"Credit Gateway Node CA {node_id}", federation)
    return (
        _builder(subject, public_key, issuer=issuer, now=now, validity=NODE_CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=pathlen), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(node_uri(node_id))]),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def host_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    labels = host.rstrip(".").split(".")
    if len(host) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise InputError(f"host {host!r} is neither an IP address nor a DNS host name")
    return x509.DNSName(host.rstrip(".").lower())


def _leaf(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    sans: list[x509.GeneralName],
    ekus: list[x509.ObjectIdentifier],
    *,
    ca: x509.Certificate,
    now: dt.datetime,
    content_commitment: bool = False,
) -> x509.CertificateBuilder:
    return (
        _builder(subject, public_key, issuer=ca, now=now, validity=LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(content_commitment=content_commitment), critical=True)
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
    )


def make_tls_certificate(
    node_id: str,
    host: str,
    *,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
) -> _CertAndKey:
    """Create a node's mTLS key and certificate (see :func:`sign_tls_certificate`).

    Raises:
        InputError: if ``host`` is neither an IP literal nor a DNS name.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    cert = sign_tls_certificate(node_id, host, key.public_key(), ca=ca, ca_key=ca_key, now=now)
    return cert, key


def sign_tls_certificate(
    node_id: str,
    host: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
) -> x509.Certificate:
    """A node's mTLS certificate for ``public_key``: node URI SAN, DNS or IP SAN, the node's
    TLS name (:func:`node_tls_name`), server + client auth.

    Raises:
        InputError: if ``host`` is neither an IP literal nor a DNS name.
    """
    san_host = host_name(host)
    return _leaf(
        _name(f"node {node_id} tls", federation_name(ca)),
        public_key,
        [
            x509.UniformResourceIdentifier(node_uri(node_id)),
            san_host,
            # What peers dialling this node check, whatever address it listens on.
            x509.DNSName(node_tls_name(node_id)),
        ],
        [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        ca=ca,
        now=now,
    ).sign(ca_key, hashes.SHA256())


def make_signing_certificate(
    node_id: str, *, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: dt.datetime
) -> tuple[x509.Certificate, Ed25519PrivateKey]:
    """Create a node's Ed25519 record signing key and certificate."""
    key = Ed25519PrivateKey.generate()
    cert = sign_signing_certificate(node_id, key.public_key(), ca=ca, ca_key=ca_key, now=now)
    return cert, key


def sign_signing_certificate(
    node_id: str,
    public_key: Ed25519PublicKey,
    *,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
) -> x509.Certificate:
    """A node's record signing certificate for ``public_key`` (signing EKU, no TLS use)."""
    return _leaf(
        _name(f"node {node_id} record signing", federation_name(ca)),
        public_key,
        [x509.UniformResourceIdentifier(node_uri(node_id))],
        [RECORD_SIGNING_EKU],
        ca=ca,
        now=now,
        content_commitment=True,
    ).sign(ca_key, hashes.SHA256())


def make_client_certificate(
    node_id: str,
    name: str,
    role: str,
    domain: str | None,
    *,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
) -> _CertAndKey:
    """Create a client certificate (client auth; client, role and domain URI SANs)."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(client_uri(node_id, name)),
        x509.UniformResourceIdentifier(role_uri(role)),
    ]
    if domain is not None:
        sans.append(x509.UniformResourceIdentifier(domain_uri(domain)))
    cert = _leaf(
        _name(f"{name}@{node_id}", federation_name(ca)),
        key.public_key(),
        sans,
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        ca=ca,
        now=now,
    ).sign(ca_key, hashes.SHA256())
    return cert, key


# -- writing to a local federation's keystore ----------------------------------------


def init_federation(
    # `dir` is the name the CLI and the design use for the keystore folder.
    dir: Path,  # noqa: A002
    *,
    name: str = "Local credit federation",
    now: dt.datetime | None = None,
    force: bool = False,
) -> Path:
    """Create the national root CA in ``dir/root``; return that directory.

    Raises:
        ConflictError: if ``dir/root/ca.key`` exists and ``force`` is false.
        InputError: if ``name`` is empty or ``now`` is naive.
    """
    if not name.strip():
        raise InputError("federation name must not be empty")
    paths = RootPaths.of(keystore.root_dir(dir))
    keystore.refuse_existing_keys([paths.key], force=force)
    cert, key = make_root_ca(name, now=utc_now(now))
    keystore.ensure_directory(paths.directory)
    keystore.write_private_key(paths.key, key, force=force)
    keystore.write_certificates(paths.cert, [cert])
    return paths.directory


def load_root_ca(base: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    paths = RootPaths.of(keystore.root_dir(base))
    if not paths.key.exists():
        raise ConfigurationError(
            f"the federation root key {paths.key} is missing; initialise the federation first"
        )
    return (
        keystore.read_certificate(paths.cert),
        keystore.read_ec_private_key(paths.key),
    )


def load_node_ca(
    base: Path, node_id: str, *, needed_by: str
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, list[x509.Certificate]]:
    paths = NodePaths.of(keystore.node_dir(base, node_id))
    if not paths.ca_key.exists():
        raise ConfigurationError(
            f"cannot issue for {needed_by}: the CA key of node {node_id} ({paths.ca_key}) "
            f"is missing; issue node {node_id} in this keystore first"
        )
    return (
        keystore.read_certificate(paths.ca_cert),
        keystore.read_ec_private_key(paths.ca_key),
        keystore.read_certificates(paths.chain),
    )


def issue_node(
    # `dir` is the name the CLI and the design use for the keystore folder.
    dir: Path,  # noqa: A002
    *,
    node_id: str,
    parent_id: str | None,
    host: str,
    now: dt.datetime | None = None,
    force: bool = False,
) -> NodePaths:
    """Create a node's CA, TLS and signing credentials in ``dir/nodes/<node_id>``.

    A province's and the national node's CA are signed by the root; a city's CA
    by its province's node CA, whose key must be in the same keystore.

    Raises:
        InputError: if ``node_id`` or ``host`` is invalid, or ``parent_id`` is not
            the parent implied by the region code.
        ConfigurationError: if the root or parent CA key is missing or unusable.
        ConflictError: if the node's keys exist and ``force`` is false.
    """
    level = node_level(node_id)
    expected_parent = parent_of(node_id)
    if parent_id != expected_parent:
        raise InputError(
            f"node {node_id} has parent {expected_parent or 'none'} by its region code, "
            f"not {parent_id or 'none'}"
        )
    host_name(host)
    paths = NodePaths.of(keystore.node_dir(dir, node_id))
    keystore.refuse_existing_keys(list(paths.keys), force=force)
    at = utc_now(now)
    root, root_key = load_root_ca(dir)
    if level == "city" and expected_parent is not None:
        issuer, issuer_key, upper = load_node_ca(dir, expected_parent, needed_by=f"node {node_id}")
    else:
        issuer, issuer_key, upper = root, root_key, []
    federation = federation_name(root)
    ca, ca_key = make_node_ca(
        node_id, issuer=issuer, issuer_key=issuer_key, federation=federation, now=at
    )
    keystore.ensure_directory(paths.directory)
    if paths.signing_cert.exists() and paths.chain.exists():
        # Issued again (--force): what the old signing key signed must still verify.
        old = keystore.read_certificate(paths.signing_cert)
        keystore.retire_signing_certificate(paths, old, at=int(at.timestamp()))
    keystore.write_private_key(paths.ca_key, ca_key, force=force)
    keystore.write_certificates(paths.ca_cert, [ca])
    keystore.write_certificates(paths.chain, [ca, *upper])
    keystore.write_certificates(paths.root, [root])
    write_node_leaves(paths, host=host, ca=ca, ca_key=ca_key, now=at, force=force)
    return paths


def write_node_leaves(
    paths: NodePaths,
    *,
    host: str,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    now: dt.datetime,
    force: bool,
) -> None:
    """Issue a node's TLS and signing certificates with its own CA and write them with keys.

    Raises:
        InputError: ``host`` is neither an IP literal nor a DNS name.
        ConflictError: a key exists and ``force`` is false.
    """
    node_id = paths.directory.name
    tls, tls_key = make_tls_certificate(node_id, host, ca=ca, ca_key=ca_key, now=now)
    signing, signing_key = make_signing_certificate(node_id, ca=ca, ca_key=ca_key, now=now)
    keystore.write_private_key(paths.tls_key, tls_key, force=force)
    keystore.write_private_key(paths.signing_key, signing_key, force=force)
    keystore.write_certificates(paths.tls_cert, [tls])
    keystore.write_certificates(paths.signing_cert, [signing])


def _check_endpoint(endpoint: str) -> str:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"endpoint {endpoint!r} must be host:port")
    host_name(host)
    return endpoint


def issue_client(
    # `dir` is the name the CLI and the design use for the keystore folder.
    dir: Path,  # noqa: A002
    *,
    node_id: str,
    name: str,
    role: str,
    domain: str | None = None,
    endpoint: str | None = None,
    now: dt.datetime | None = None,
    force: bool = False,
) -> Path:
    """Create a client's credentials in ``dir/clients/<node>-<name>``; return that directory.

    Raises:
        InputError: if the node id, name, role, domain or endpoint is invalid, a
            department has no domain or another role has one.
        ConfigurationError: if the node's CA key is missing or unusable.
        ConflictError: if the client's key exists and ``force`` is false.
    """
    node_level(node_id)
    check_client_name(name)
    checked_role = check_role(role)
    if checked_role == "department":
        if domain is None:
            raise InputError(f"department client {name!r} needs a domain (e.g. procurement)")
        check_domain(domain)
    elif domain is not None:
        raise InputError(f"only department clients have a domain, not role {role!r}")
    if endpoint is not None:
        _check_endpoint(endpoint)
    paths = ClientPaths.of(keystore.client_dir(dir, node_id, name))
    keystore.refuse_existing_keys([paths.key], force=force)
    at = utc_now(now)
    ca, ca_key, chain = load_node_ca(dir, node_id, needed_by=f"client {name!r}")
    # The node's copy of the root: a node's keystore does not hold the root's folder.
    root = keystore.read_certificate(NodePaths.of(keystore.node_dir(dir, node_id)).root)
    cert, key = make_client_certificate(
        node_id, name, checked_role, domain, ca=ca, ca_key=ca_key, now=at
    )
    keystore.ensure_directory(paths.directory)
    keystore.write_private_key(paths.key, key, force=force)
    keystore.write_certificates(paths.cert, [cert])
    keystore.write_certificates(paths.chain, chain)
    keystore.write_certificates(paths.root, [root])
    keystore.write_json(
        paths.info,
        {
            "node": node_id,
            "name": name,
            "role": checked_role,
            "domain": domain,
            "endpoint": endpoint,
        },
    )
    return paths.directory
