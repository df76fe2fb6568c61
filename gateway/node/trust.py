"""Federation trust at the edge: the current signed directory and the keys it vouches for.

A node trusts a peer or a signature only through the directory signed by the
national node: the peer's TLS certificate must be the one listed and not
revoked; a record's ``kid`` must name a listed signing certificate that chains
to the federation root and was valid when the record was issued.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from gateway.core.algorithms import Ed25519Verifier, Verifier
from gateway.core.directory import DIRECTORY_PAYLOAD_TYPE, Directory, DirectoryNode
from gateway.core.dsse import Envelope, verify_envelope
from gateway.core.errors import (
    AccessDeniedError,
    ConfigurationError,
    ExpiredError,
    MalformedError,
    SignatureError,
)
from gateway.core.node_id import NATIONAL
from gateway.core.principal import Principal
from gateway.pki import signing_kid, verify_signing_certificate

__all__ = [
    "FederationTrust",
    "SignedDirectoryFile",
    "read_directory_file",
    "verify_directory_signature",
    "write_directory_file",
]


@dataclass(frozen=True, slots=True)
class SignedDirectoryFile:
    """The directory as distributed: the DSSE envelope and the signer's chain."""

    envelope: bytes
    signer_chain_pem: bytes


def read_directory_file(path: Path) -> SignedDirectoryFile:
    """Read a signed directory file written by :func:`write_directory_file`.

    Raises:
        ConfigurationError: unreadable or not a directory file.
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return SignedDirectoryFile(
            envelope=doc["envelope"].encode("utf-8"),
            signer_chain_pem=doc["signer_chain_pem"].encode("ascii"),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"cannot read the federation directory {path}: {exc}") from exc


def write_directory_file(path: Path, signed: SignedDirectoryFile) -> None:
    """Write atomically, so a crash never leaves half a directory behind."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(
        json.dumps(
            {
                "envelope": signed.envelope.decode("utf-8"),
                "signer_chain_pem": signed.signer_chain_pem.decode("ascii"),
            },
            indent=1,
        ),
        encoding="utf-8",
    )
    tmp.replace(path)


def verify_directory_signature(
    signed: SignedDirectoryFile, *, root: x509.Certificate, now: int
) -> Directory:
    """The directory if the national node signed it; its expiry is the caller's to check.

    The national node re-signs its own directory even after it expired
    (:mod:`gateway.node.directory_signer`); every other reader goes through
    :meth:`FederationTrust.install`, which refuses an expired one.

    Raises:
        MalformedError: no signer certificate, or not a directory.
        SignatureError / ExpiredError: the signer is not the national node's current
            signing certificate, or the signature does not verify.
    """
    chain = _pem_certificates(signed.signer_chain_pem)
    if not chain:
        raise MalformedError("federation directory comes without its signer's certificate")
    signer_cert, rest = chain[0], chain[1:]
    key = verify_signing_certificate(
        signer_cert,
        rest,
        root=root,
        node_id=NATIONAL,
        at_time=dt.datetime.fromtimestamp(now, dt.UTC),
    )
    verifier = Ed25519Verifier(signing_kid(signer_cert), key)

    def national_key(kid: str) -> Verifier:
        if kid != verifier.key_id:
            raise SignatureError(f"directory key {kid[:16]}… is not the national signing key")
        return verifier

    payload = verify_envelope(
        Envelope.from_json(signed.envelope),
        expected_type=DIRECTORY_PAYLOAD_TYPE,
        resolve_key=national_key,
    )
    return Directory.from_payload(payload)


@dataclass(frozen=True, slots=True)
class _Key:
    verifier: Ed25519Verifier
    owner: str
    not_before: int
    not_after: int
    """The certificate's end, or the key's retirement if earlier."""
    retired: bool = False


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _issuers_of(leaf: x509.Certificate, cas: list[x509.Certificate]) -> list[x509.Certificate]:
    """The CAs above ``leaf`` among ``cas``, nearest first, matched by key identifier.

    A node's entry holds its key history: signing certificates of several node
    CAs when the CA was signed again; only the leaf's own path is its chain.
    """
    found: list[x509.Certificate] = []
    cert = leaf
    while len(found) < len(cas):
        issuer = next((c for c in cas if c not in found and _issued(cert, c)), None)
        if issuer is None:
            break
        found.append(issuer)
        cert = issuer
    return found


def _issued(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    if cert.issuer != ca.subject:
        return False
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return True
    return aki.key_identifier == ski.digest


def _pem_certificates(pem: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise MalformedError(f"certificate chain is not PEM: {exc}") from exc


class FederationTrust:
    """The directory in force and the signing keys it vouches for (thread-safe)."""

    def __init__(
        self,
        *,
        node_id: str,
        root: x509.Certificate,
        clock: Callable[[], float],
        clock_skew_s: int = 0,
    ) -> None:
        self._node_id = node_id
        self._skew_s = clock_skew_s
        self._root = root
        self._clock = clock
        self._lock = threading.Lock()
        self._directory: Directory | None = None
        self._signed: SignedDirectoryFile | None = None
        self._keys: dict[str, _Key] = {}

    @property
    def root(self) -> x509.Certificate:
        """The federation root every directory and signing certificate chains to."""
        return self._root

    @property
    def signed(self) -> SignedDirectoryFile | None:
        """The signed form of the directory in force, as received (for re-serving)."""
        return self._signed

    @property
    def held(self) -> Directory | None:
        """The directory last installed, expired or not (for metrics: its expiry)."""
        return self._directory

    def directory(self) -> Directory:
        """The directory in force.

        Raises:
            ConfigurationError: no directory yet.
            DirectoryExpiredError: the cached directory has expired (fail closed).
        """
        directory = self._directory
        if directory is None:
            raise ConfigurationError(f"node {self._node_id} has no federation directory yet")
        directory.check_current(int(self._clock()), self._skew_s)
        return directory

    def install(self, signed: SignedDirectoryFile) -> Directory:
        """Verify a signed directory and make it current if it is newer.

        The same signed bytes as the current directory are accepted without
        verifying again (refreshes are frequent; the content cannot differ).

        Raises:
            VerificationError: not signed by the national node, malformed or expired.
        """
        now = int(self._clock())
        with self._lock:
            if self._signed == signed and self._directory is not None:
                self._directory.check_current(now, self._skew_s)
                return self._directory
        directory = verify_directory_signature(signed, root=self._root, now=now)
        directory.check_current(now, self._skew_s)
        with self._lock:
            current = self._directory
            if current is not None and directory.serial <= current.serial:
                return current
            self._directory = directory
            self._signed = signed
            self._keys = {}
        return directory

    def check_peer(self, principal: Principal) -> DirectoryNode:
        """The directory entry of a calling node, refusing unknown or revoked certificates.

        Raises:
            AccessDeniedError: unknown node, revoked or unlisted certificate.
            DirectoryExpiredError / ConfigurationError: no current directory.
        """
        return self.directory().check_peer(principal.node_id, principal.fingerprint)

    def resolve(self, kid: str) -> Verifier:
        """The verifier for signing key ``kid`` if the directory vouches for it.

        The certificate chain is checked as of the certificate's own start; that
        the certificate was valid at a record's issue time is checked after
        verification with :meth:`check_issued_within`.

        Raises:
            AccessDeniedError: no node lists the key, or it is revoked.
            VerificationError: the listed certificate does not verify.
        """
        return self._key(kid).verifier

    def owner(self, kid: str) -> str:
        """The node id whose signing certificate has key id ``kid``."""
        return self._key(kid).owner

    def check_issued_within(self, kid: str, issued_at: int) -> None:
        """Refuse a signature made outside its certificate's validity, or after its key was
        retired (the directory's key history says when).

        Raises:
            SignatureError: signed after the key was retired (a forgery).
            ExpiredError: signed outside the certificate's validity, naming the key and the time.
        """
        key = self._key(kid)
        if key.retired and issued_at > key.not_after:
            # Not a matter of time: whoever signs with a retired key forges.
            raise SignatureError(
                f"signed at {issued_at} with signing key {kid[:16]}…, retired at "
                f"{key.not_after}: forged with a retired key"
            )
        if not key.not_before <= issued_at <= key.not_after:
            raise ExpiredError(
                f"signed at {issued_at}, outside the validity of signing certificate {kid[:16]}…"
            )

    def check_in_force(self, node_id: str, kid: str, *, skew_s: int = 0) -> None:
        """Refuse a key that does not sign for ``node_id`` now: not in its key history in
        the directory, revoked, or retired (a checkpoint or a hop is signed as it is sent).

        Raises:
            SignatureError: the key is not one of the node's listed keys, or is revoked.
            ExpiredError: the key was retired, or its certificate is not valid now.
        """
        try:
            key = self._key(kid)
        except AccessDeniedError as exc:
            raise SignatureError(
                f"signing key {kid[:16]}… is not in the key history of node {node_id} "
                f"in the federation directory ({exc})"
            ) from exc
        if key.owner != node_id:
            raise SignatureError(
                f"signing key {kid[:16]}… is not in the key history of node {node_id} "
                "in the federation directory"
            )
        now = int(self._clock())
        if key.retired and now > key.not_after + skew_s:
            # ExpiredError, not SignatureError: DSSE verification reads a SignatureError from
            # the key lookup as "no trusted key" and would hide why.
            raise ExpiredError(
                f"signing key {kid[:16]}… of node {node_id} was retired at {key.not_after}"
            )
        if not key.not_before - skew_s <= now <= key.not_after + skew_s:
            raise ExpiredError(f"signing key {kid[:16]}… of node {node_id} is not valid at {now}")

    def _key(self, kid: str) -> _Key:
        with self._lock:
            cached = self._keys.get(kid)
        if cached is not None:
            return cached
        directory = self.directory()
        owner = directory.owner_of(kid)
        entry = directory.node(owner)
        certs = _pem_certificates(entry.signing_pem.encode("ascii"))
        leaf = next((c for c in certs if signing_kid(c) == kid), None)
        if leaf is None:
            raise SignatureError(
                f"directory lists key {kid[:16]}… for {owner} without its certificate"
            )
        chain = _issuers_of(leaf, [c for c in certs if _is_ca(c)])
        start = leaf.not_valid_before_utc
        public_key = verify_signing_certificate(
            leaf, chain, root=self._root, node_id=owner, at_time=start + dt.timedelta(seconds=1)
        )
        not_after = int(leaf.not_valid_after_utc.timestamp())
        retired_at = entry.signing_retired.get(kid)
        key = _Key(
            verifier=Ed25519Verifier(kid, public_key),
            owner=owner,
            not_before=int(start.timestamp()),
            not_after=not_after if retired_at is None else min(not_after, retired_at),
            retired=retired_at is not None,
        )
        with self._lock:
            self._keys[kid] = key
        return key
