"""What a keystore holds: every certificate with its expiry, for ``gateway pki list``.

An operator runs a node for years; certificates last one (leaves) to ten (the
root). The inventory reads only certificates (never a private key), so it can
be run on any copy of a keystore, and says which certificates expire within a
warning window so that renewal is planned, not discovered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509

from gateway.pki.keystore import (
    ClientPaths,
    NodePaths,
    RootPaths,
    read_certificates,
    read_signing_history,
)
from gateway.pki.names import fingerprint

__all__ = ["KeystoreCertificate", "keystore_certificates"]

CertificateState = Literal["valid", "expiring", "expired", "not-yet-valid", "retired"]


@dataclass(frozen=True, slots=True)
class KeystoreCertificate:
    """One certificate file of a keystore.

    Attributes:
        path: the file, relative to the keystore folder (``nodes/330500/tls.crt``).
        owner: ``root``, the node id, or ``<node>-<name>`` for a client.
        kind: ``root``, ``node-ca``, ``tls``, ``signing``, ``retired-signing`` or ``client``.
        state: ``expiring`` when it ends within the warning window; ``retired`` for a
            signing certificate replaced by ``pki renew`` (kept to verify what it signed).
    """

    path: str
    owner: str
    kind: str
    subject: str
    fingerprint: str
    not_before: dt.datetime
    not_after: dt.datetime
    state: CertificateState

    def seconds_left(self, now: dt.datetime) -> float:
        return (self.not_after - now).total_seconds()


def _state(cert: x509.Certificate, now: dt.datetime, window: dt.timedelta) -> CertificateState:
    if now < cert.not_valid_before_utc:
        return "not-yet-valid"
    if now > cert.not_valid_after_utc:
        return "expired"
    if now >= cert.not_valid_after_utc - window:
        return "expiring"
    return "valid"


def keystore_certificates(
    # `dir` is the name the CLI and the design use for the keystore folder.
    dir: Path,  # noqa: A002
    *,
    now: dt.datetime,
    warn_within: dt.timedelta,
) -> list[KeystoreCertificate]:
    """Every certificate of the keystore ``dir``: root, each node's CA, TLS, signing and
    retired signing certificates, and each client's; sorted by expiry, soonest first.

    Raises:
        ConfigurationError: a certificate file that exists but cannot be read.
    """
    base = Path(dir)
    found: list[tuple[Path, str, str]] = []
    root = RootPaths.of(base / "root")
    if root.cert.exists():
        found.append((root.cert, "root", "root"))
    for node_dir in sorted((base / "nodes").glob("*")):
        paths = NodePaths.of(node_dir)
        for path, kind in (
            (paths.ca_cert, "node-ca"),
            (paths.tls_cert, "tls"),
            (paths.signing_cert, "signing"),
        ):
            if path.exists():
                found.append((path, node_dir.name, kind))
    for client in sorted((base / "clients").glob("*")):
        cert = ClientPaths.of(client).cert
        if cert.exists():
            found.append((cert, client.name, "client"))
    listed = [
        _entry(base, path, owner, kind, cert, state=_state(cert, now, warn_within))
        for path, owner, kind in found
        for cert in read_certificates(path)
    ]
    for node_dir in sorted((base / "nodes").glob("*")):
        history = NodePaths.of(node_dir).history
        listed += [
            _entry(base, history, node_dir.name, "retired-signing", r.certificate, state="retired")
            for r in read_signing_history(history)
        ]
    return sorted(listed, key=lambda c: (c.not_after, c.path))


def _entry(
    base: Path,
    path: Path,
    owner: str,
    kind: str,
    cert: x509.Certificate,
    *,
    state: CertificateState,
) -> KeystoreCertificate:
    return KeystoreCertificate(
        path=str(path.relative_to(base)),
        owner=owner,
        kind=kind,
        subject=cert.subject.rfc4514_string(),
        fingerprint=fingerprint(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        state=state,
    )
