"""Renewing a node's TLS and signing certificates before they expire, keeping its key history.

A node renews with its own CA (no other keystore is involved). The signing
certificate it replaces is kept in ``signing-history.json`` with the time it was
retired; the directory lists it beside the new one (``signing_retired``), so
records, statements and checkpoints signed before the renewal keep verifying
at every node, and anything the old key signs afterwards is refused.

Operator order (README "Certificate lifecycle"): stop the node, renew, start
it (it signs with the new key from then on), send ``signing.crt``,
``tls.crt``, ``chain.pem`` and ``signing-history.json`` to the national
operator, who signs a directory listing them; until that directory arrives,
peers hold back what the new key signed (its pushes are retried, its parent
does not cosign its checkpoints yet).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.core.errors import ConfigurationError
from gateway.pki import keystore
from gateway.pki.issue import (
    make_signing_certificate,
    make_tls_certificate,
    sign_signing_certificate,
    sign_tls_certificate,
    utc_now,
)
from gateway.pki.keystore import NodeCredentials, NodePaths, retire_signing_certificate
from gateway.pki.names import node_tls_name, signing_kid
from gateway.pki.validate import check_node_credentials

__all__ = ["Renewal", "renew_node", "renew_node_folder"]


@dataclass(frozen=True, slots=True)
class Renewal:
    """What :func:`renew_node` replaced: old and new key ids, and when the old one retired."""

    node_id: str
    old_signing_kid: str
    new_signing_kid: str
    new_key: bool
    retired_at: int
    tls_not_after: dt.datetime
    signing_not_after: dt.datetime


def _tls_host(cert: x509.Certificate, node_id: str) -> str:
    """The host a TLS certificate was issued for: its DNS or IP SAN other than the node name."""
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    for ip in san.get_values_for_type(x509.IPAddress):
        return str(ip)
    for name in san.get_values_for_type(x509.DNSName):
        if name != node_tls_name(node_id):
            return name
    raise ConfigurationError("the TLS certificate names no host to renew it for")


def renew_node(
    # `dir` is the name the CLI and the design use for the keystore folder.
    dir: Path,  # noqa: A002
    *,
    node_id: str,
    new_key: bool = False,
    now: dt.datetime | None = None,
) -> Renewal:
    """Issue the node's TLS and signing certificates again with its own CA.

    With ``new_key`` both get fresh key pairs (the old private keys are
    overwritten: a retired key must not stay usable on disk); otherwise the
    same keys are certified again. The old signing certificate joins the key
    history. Everything is checked as peers will check it before a file is written.

    Raises:
        ConfigurationError: the node's credentials are missing or unusable, or its
            CA does not cover the new certificates (renew the CA first:
            ``pki request`` / ``sign`` / ``install``).
    """
    return renew_node_folder(
        keystore.node_dir(dir, node_id), node_id=node_id, new_key=new_key, now=now
    )


def renew_node_folder(
    folder: Path, *, node_id: str, new_key: bool = False, now: dt.datetime | None = None
) -> Renewal:
    """:func:`renew_node` on the node's credential folder (a node config's ``keys``).

    Raises:
        As :func:`renew_node`.
    """
    paths = NodePaths.of(folder)
    creds = keystore.load_node_credentials(paths.directory)
    at = utc_now(now)
    host = _tls_host(creds.tls_cert, node_id)
    tls_key: ec.EllipticCurvePrivateKey
    signing_key: Ed25519PrivateKey
    if new_key:
        tls, tls_key = make_tls_certificate(
            node_id, host, ca=creds.ca_cert, ca_key=creds.ca_key, now=at
        )
        signing, signing_key = make_signing_certificate(
            node_id, ca=creds.ca_cert, ca_key=creds.ca_key, now=at
        )
    else:
        tls_key, signing_key = creds.tls_key, creds.signing_key
        tls = sign_tls_certificate(
            node_id, host, tls_key.public_key(), ca=creds.ca_cert, ca_key=creds.ca_key, now=at
        )
        signing = sign_signing_certificate(
            node_id, signing_key.public_key(), ca=creds.ca_cert, ca_key=creds.ca_key, now=at
        )
    ends = signing.not_valid_after_utc
    # Clamped to the node CA's end and no later than before: renewing would gain nothing.
    if ends >= creds.ca_cert.not_valid_after_utc and ends <= creds.signing_cert.not_valid_after_utc:
        raise ConfigurationError(
            f"the node CA of {node_id} expires {creds.ca_cert.not_valid_after_utc.isoformat()}: "
            "a renewed certificate would not outlive the current one; have the node CA signed "
            "again first (`gateway pki request`, `pki sign`, `pki install`)"
        )
    renewed = NodeCredentials(
        directory=creds.directory,
        node_id=node_id,
        root=creds.root,
        ca_cert=creds.ca_cert,
        tls_cert=tls,
        signing_cert=signing,
        chain=creds.chain,
        ca_key=creds.ca_key,
        tls_key=tls_key,
        signing_key=signing_key,
    )
    check_node_credentials(renewed, node_id=node_id, now=at)
    retired_at = int(at.timestamp())
    # History first: a crash after it leaves the old certificate current and also
    # listed as retired, which a second renewal repairs; never a lost old key id.
    retire_signing_certificate(paths, creds.signing_cert, at=retired_at)
    if new_key:
        keystore.write_private_key(paths.tls_key, tls_key, force=True)
        keystore.write_private_key(paths.signing_key, signing_key, force=True)
    keystore.write_certificates(paths.tls_cert, [tls])
    keystore.write_certificates(paths.signing_cert, [signing])
    return Renewal(
        node_id=node_id,
        old_signing_kid=signing_kid(creds.signing_cert),
        new_signing_kid=signing_kid(signing),
        new_key=new_key,
        retired_at=retired_at,
        tls_not_after=tls.not_valid_after_utc,
        signing_not_after=signing.not_valid_after_utc,
    )
