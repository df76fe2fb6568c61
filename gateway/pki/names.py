"""Naming conventions of the federation's certificates.

Node ids are GB/T 2260 region codes (:mod:`gateway.core.node_id`, re-exported
here for the certificate code): national, province or city; county codes do not
run nodes and are refused.

Identities travel as URI subject alternative names:

* ``urn:credit-gateway:node:<id>`` on a node's CA, TLS and signing certificates;
* ``urn:credit-gateway:client:<node>:<name>``, ``urn:credit-gateway:role:<role>``
  and, for departments, ``urn:credit-gateway:domain:<domain>`` on client certificates.

Record signing certificates carry the extended key usage
:data:`RECORD_SIGNING_EKU`, an OID of our own under the ``2.25`` arc (an OID
derived from a UUID, ITU-T X.667 §6.3), so no registration was needed and it
cannot collide with anyone else's. No TLS stack accepts it for a handshake.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ObjectIdentifier

from gateway.core.errors import InputError
from gateway.core.node_id import NodeLevel, node_level, parent_of

__all__ = [
    "CLIENT_ROLES",
    "RECORD_SIGNING_EKU",
    "URN_PREFIX",
    "ClientRole",
    "NodeLevel",
    "check_client_name",
    "check_domain",
    "check_role",
    "client_uri",
    "domain_uri",
    "fingerprint",
    "node_level",
    "node_tls_name",
    "node_uri",
    "parent_of",
    "role_uri",
    "signing_kid",
]

ClientRole = Literal["department", "auditor", "admin"]

CLIENT_ROLES: Final[frozenset[str]] = frozenset({"department", "auditor", "admin"})

RECORD_SIGNING_EKU: Final = ObjectIdentifier("2.25.276009096187174174527324444979581553197")
"""EKU for certificates whose key signs records, DSSE envelopes and statements.

UUID ``cfa56b17-7aaa-44d9-8136-bfc33aba0a2d`` as an OID (ITU-T X.667).
"""

URN_PREFIX: Final = "urn:credit-gateway:"

# Names and domains end up in directory names and inside colon-separated URNs,
# so they are restricted to characters that are safe in both. Domains are the
# catalog's snake_case domain codes (procurement, market_regulation, ...).
_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_DOMAIN_RE: Final = re.compile(r"[a-z][a-z0-9_-]{0,62}")


def check_client_name(name: str) -> str:
    """Return ``name`` if it is a valid client name (lower-case letters, digits, ``.-_``).

    Raises:
        InputError: naming the rejected name.
    """
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise InputError(
            f"client name {name!r} must be 1-63 characters of a-z, 0-9, '.', '-', '_' "
            "starting with a letter or digit"
        )
    return name


def check_domain(domain: str) -> str:
    """Return ``domain`` if it is a valid departmental domain (e.g. ``procurement``).

    Raises:
        InputError: naming the rejected domain.
    """
    if not isinstance(domain, str) or _DOMAIN_RE.fullmatch(domain) is None:
        raise InputError(
            f"domain {domain!r} must be 1-63 characters of a-z, 0-9, '-' starting with a letter"
        )
    return domain


def check_role(role: str) -> ClientRole:
    """Return ``role`` if it is one of :data:`CLIENT_ROLES`.

    Raises:
        InputError: naming the rejected role and the allowed ones.
    """
    if role == "department":
        return "department"
    if role == "auditor":
        return "auditor"
    if role == "admin":
        return "admin"
    raise InputError(f"role {role!r} is not one of admin, auditor, department")


def node_uri(node_id: str) -> str:
    """The URI SAN naming a node."""
    return f"{URN_PREFIX}node:{node_id}"


def node_tls_name(node_id: str) -> str:
    """The DNS name in a node's TLS certificate that a peer checks when it dials the node.

    Under ``.invalid`` (RFC 2606), so it never resolves: it is only matched, as
    the TLS target name, against the certificate the server presents.
    """
    return f"node-{node_id}.credit-gateway.invalid"


def client_uri(node_id: str, name: str) -> str:
    """The URI SAN naming a client of a node."""
    return f"{URN_PREFIX}client:{node_id}:{name}"


def role_uri(role: str) -> str:
    """The URI SAN carrying a client's role."""
    return f"{URN_PREFIX}role:{role}"


def domain_uri(domain: str) -> str:
    """The URI SAN carrying a department's domain."""
    return f"{URN_PREFIX}domain:{domain}"


def fingerprint(cert: x509.Certificate) -> str:
    """Lower-case hex SHA-256 of the certificate's DER encoding (federation directory)."""
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()


def signing_kid(cert: x509.Certificate) -> str:
    """Key id of a signing certificate: the JWS ``kid`` and DSSE ``keyid``.

    The same value as :func:`fingerprint`, so the directory's fingerprint of a
    signing certificate is the key id records name.
    """
    return fingerprint(cert)
