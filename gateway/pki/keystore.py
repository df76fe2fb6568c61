"""The on-disk layout of a local federation's keys and certificates.

Layout under the keystore directory ``DIR``::

    DIR/root/ca.crt, ca.key                      federation root CA
    DIR/nodes/<id>/ca.crt, ca.key                the node's CA
    DIR/nodes/<id>/tls.crt, tls.key              mTLS server + client identity
    DIR/nodes/<id>/signing.crt, signing.key      Ed25519 record signing identity
    DIR/nodes/<id>/ca.csr                        PKCS#10 request for the node CA (``pki request``)
    DIR/nodes/<id>/signing-history.json          retired signing certificates, each with
                                                 the time it was retired (``pki renew``)
    DIR/nodes/<id>/chain.pem                     node CA and intermediates, root excluded
    DIR/nodes/<id>/root.crt                      copy of the federation root
    DIR/clients/<node>-<name>/client.crt, client.key, chain.pem, root.crt, client.json

Private keys are written with mode 0600 (created that way, never chmod-ed after
the fact, so there is no window where they are readable), directories 0700,
certificates 0644. Key material is never logged: the credential classes keep
keys out of their ``repr``.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.core.errors import ConfigurationError, ConflictError

__all__ = [
    "ClientCredentials",
    "ClientPaths",
    "NodeCredentials",
    "NodePaths",
    "RetiredSigningCertificate",
    "RootPaths",
    "ServingCredentials",
    "client_dir",
    "load_client_credentials",
    "load_node_credentials",
    "load_serving_credentials",
    "node_dir",
    "read_signing_history",
    "retire_signing_certificate",
    "root_dir",
    "write_signing_history",
]

PrivateKey = EllipticCurvePrivateKey | Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class RootPaths:
    """Files of the federation root CA."""

    directory: Path
    cert: Path
    key: Path

    @classmethod
    def of(cls, directory: Path) -> RootPaths:
        return cls(directory, directory / "ca.crt", directory / "ca.key")


@dataclass(frozen=True, slots=True)
class NodePaths:
    """Files of one node's credentials."""

    directory: Path
    ca_cert: Path
    ca_key: Path
    tls_cert: Path
    tls_key: Path
    signing_cert: Path
    signing_key: Path
    chain: Path
    root: Path
    history: Path
    request: Path

    @classmethod
    def of(cls, directory: Path) -> NodePaths:
        d = directory
        return cls(
            d,
            d / "ca.crt",
            d / "ca.key",
            d / "tls.crt",
            d / "tls.key",
            d / "signing.crt",
            d / "signing.key",
            d / "chain.pem",
            d / "root.crt",
            d / "signing-history.json",
            d / "ca.csr",
        )

    @property
    def keys(self) -> tuple[Path, Path, Path]:
        return (self.ca_key, self.tls_key, self.signing_key)


@dataclass(frozen=True, slots=True)
class ClientPaths:
    """Files of one client's credentials."""

    directory: Path
    cert: Path
    key: Path
    chain: Path
    root: Path
    info: Path

    @classmethod
    def of(cls, directory: Path) -> ClientPaths:
        d = directory
        return cls(
            d,
            d / "client.crt",
            d / "client.key",
            d / "chain.pem",
            d / "root.crt",
            d / "client.json",
        )


def root_dir(base: Path) -> Path:
    """``DIR/root``."""
    return Path(base) / "root"


def node_dir(base: Path, node_id: str) -> Path:
    """``DIR/nodes/<id>``."""
    return Path(base) / "nodes" / node_id


def client_dir(base: Path, node_id: str, name: str) -> Path:
    """``DIR/clients/<node>-<name>``."""
    return Path(base) / "clients" / f"{node_id}-{name}"


def _pem(certs: tuple[x509.Certificate, ...] | list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True, slots=True)
class RetiredSigningCertificate:
    """A signing certificate the node no longer signs with, and since when (Unix seconds).

    What it signed before ``retired_at`` still verifies; a signature under it
    dated later is a forgery with a retired key and is refused.
    """

    certificate: x509.Certificate
    retired_at: int
    chain: tuple[x509.Certificate, ...] = ()
    """Its CA chain (root excluded) when it was retired: the node CA may have been
    signed again since, with a new key."""


@dataclass(frozen=True, slots=True)
class ServingCredentials:
    """What a process that only serves calls needs: the TLS key and the certificates.

    No CA key and no signing key: a node's check frontends hold these only
    (:func:`load_serving_credentials`). ``chain`` is node CA first, root excluded.
    """

    root: x509.Certificate
    tls_cert: x509.Certificate
    signing_cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    tls_key: EllipticCurvePrivateKey = field(repr=False)

    def tls_certificate_chain_pem(self) -> bytes:
        """TLS certificate followed by ``chain``, as a TLS server or client presents it."""
        return _pem([self.tls_cert, *self.chain])

    def tls_private_key_pem(self) -> bytes:
        """The TLS private key as unencrypted PKCS#8 PEM, for the TLS library only."""
        return _key_pem(self.tls_key)

    def root_pem(self) -> bytes:
        """The federation root, the only trust anchor for peers."""
        return _pem([self.root])


@dataclass(frozen=True, slots=True)
class NodeCredentials:
    """A node's certificates and keys, loaded. ``chain`` is node CA first, root excluded."""

    directory: Path
    node_id: str
    root: x509.Certificate
    ca_cert: x509.Certificate
    tls_cert: x509.Certificate
    signing_cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    ca_key: EllipticCurvePrivateKey = field(repr=False)
    tls_key: EllipticCurvePrivateKey = field(repr=False)
    signing_key: Ed25519PrivateKey = field(repr=False)
    retired_signing: tuple[RetiredSigningCertificate, ...] = ()
    """Signing certificates replaced by ``pki renew``: what they signed still verifies."""

    def serving(self) -> ServingCredentials:
        """The part of these a serving process needs (no CA or signing key)."""
        return ServingCredentials(
            root=self.root,
            tls_cert=self.tls_cert,
            signing_cert=self.signing_cert,
            chain=self.chain,
            tls_key=self.tls_key,
        )

    def tls_certificate_chain_pem(self) -> bytes:
        """TLS certificate followed by ``chain``, as a TLS server or client presents it."""
        return self.serving().tls_certificate_chain_pem()

    def tls_private_key_pem(self) -> bytes:
        """The TLS private key as unencrypted PKCS#8 PEM, for the TLS library only."""
        return self.serving().tls_private_key_pem()

    def root_pem(self) -> bytes:
        """The federation root, the only trust anchor for peers."""
        return self.serving().root_pem()

    def certificates(self) -> tuple[tuple[str, x509.Certificate], ...]:
        """Every certificate the node depends on, by name: tls, signing, node-ca, root."""
        return (
            ("tls", self.tls_cert),
            ("signing", self.signing_cert),
            ("node-ca", self.ca_cert),
            ("root", self.root),
        )


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """A client's certificate, key and connection details, loaded."""

    directory: Path
    node_id: str
    name: str
    role: str
    domain: str | None
    endpoint: str | None
    root: x509.Certificate
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    key: EllipticCurvePrivateKey = field(repr=False)

    def certificate_chain_pem(self) -> bytes:
        """Client certificate followed by ``chain``."""
        return _pem([self.cert, *self.chain])

    def private_key_pem(self) -> bytes:
        """The client private key as unencrypted PKCS#8 PEM, for the TLS library only."""
        return _key_pem(self.key)

    def root_pem(self) -> bytes:
        """The federation root."""
        return _pem([self.root])


# -- writing ------------------------------------------------------------------------


def ensure_directory(path: Path) -> None:
    """Create ``path`` and missing parents with mode 0700 (existing ones are left as they are)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700)
        # mkdir's mode is filtered by the umask; set it exactly.
        p.chmod(0o700)


def refuse_existing_keys(paths: tuple[Path, ...] | list[Path], *, force: bool) -> None:
    """Raise before anything is generated if a key would be overwritten.

    Raises:
        ConflictError: naming the first existing key file, unless ``force``.
    """
    if force:
        return
    for path in paths:
        if path.exists():
            raise ConflictError(f"refusing to overwrite existing key {path} (use force)")


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    # A temporary file created with its final mode and renamed over the target:
    # readers never see a half-written file, and a key is never briefly 0644.
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


def write_private_key(path: Path, key: PrivateKey, *, force: bool) -> None:
    """Write ``key`` as PKCS#8 PEM with mode 0600.

    Raises:
        ConflictError: if ``path`` exists and ``force`` is false.
    """
    refuse_existing_keys([path], force=force)
    _write_atomically(path, _key_pem(key), 0o600)


def write_certificates(path: Path, certs: list[x509.Certificate]) -> None:
    """Write one or more certificates as PEM with mode 0644."""
    _write_atomically(path, _pem(certs), 0o644)


def write_bytes(path: Path, data: bytes) -> None:
    """Write a public file (a certificate request) with mode 0644."""
    _write_atomically(path, data, 0o644)


def write_json(path: Path, value: dict[str, Any]) -> None:
    """Write a small JSON document with mode 0644."""
    text = json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    _write_atomically(path, text.encode("utf-8"), 0o644)


# -- reading ------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"{path} is missing") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from exc


def read_certificates(path: Path) -> list[x509.Certificate]:
    """Read a PEM file holding one or more certificates.

    Raises:
        ConfigurationError: if the file is missing, unreadable, empty or not PEM certificates.
    """
    try:
        certs = x509.load_pem_x509_certificates(_read(path))
    except ValueError as exc:
        raise ConfigurationError(f"{path} does not hold PEM certificates") from exc
    if not certs:
        raise ConfigurationError(f"{path} holds no certificate")
    return certs


def read_certificate(path: Path) -> x509.Certificate:
    """Read a PEM file holding exactly one certificate.

    Raises:
        ConfigurationError: if the file is missing, unreadable or not exactly one certificate.
    """
    certs = read_certificates(path)
    if len(certs) != 1:
        raise ConfigurationError(f"{path} holds {len(certs)} certificates, expected one")
    return certs[0]


def _read_private_key(path: Path) -> object:
    data = _read(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigurationError(f"{path} is readable by others (mode {mode:04o}); chmod it 600")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"{path} is not an unencrypted PEM private key") from exc


def read_ec_private_key(path: Path) -> EllipticCurvePrivateKey:
    """Read an unencrypted PEM ECDSA private key.

    Raises:
        ConfigurationError: if the key is missing, readable by group or others,
            not a PEM private key, or not ECDSA.
    """
    key = _read_private_key(path)
    if not isinstance(key, EllipticCurvePrivateKey):
        raise ConfigurationError(f"{path} does not hold an ECDSA private key")
    return key


def read_ed25519_private_key(path: Path) -> Ed25519PrivateKey:
    """Read an unencrypted PEM Ed25519 private key.

    Raises:
        ConfigurationError: if the key is missing, readable by group or others,
            not a PEM private key, or not Ed25519.
    """
    key = _read_private_key(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError(f"{path} does not hold an Ed25519 private key")
    return key


def load_node_credentials(node_dir: Path) -> NodeCredentials:
    """Load a node's certificates and keys from ``DIR/nodes/<id>``.

    Nothing is checked beyond parsing; see
    :func:`gateway.pki.validate.check_node_credentials`.

    Raises:
        ConfigurationError: naming the file that is missing or unusable.
    """
    paths = NodePaths.of(Path(node_dir))
    return NodeCredentials(
        directory=paths.directory,
        node_id=paths.directory.name,
        root=read_certificate(paths.root),
        ca_cert=read_certificate(paths.ca_cert),
        tls_cert=read_certificate(paths.tls_cert),
        signing_cert=read_certificate(paths.signing_cert),
        chain=tuple(read_certificates(paths.chain)),
        ca_key=read_ec_private_key(paths.ca_key),
        tls_key=read_ec_private_key(paths.tls_key),
        signing_key=read_ed25519_private_key(paths.signing_key),
        retired_signing=read_signing_history(paths.history),
    )


def load_serving_credentials(node_dir: Path) -> ServingCredentials:
    """Load only what serving calls needs from ``DIR/nodes/<id>``: the TLS key and the
    certificates. The CA and signing keys are not read (they may be unreadable here).

    Raises:
        ConfigurationError: naming the file that is missing or unusable.
    """
    paths = NodePaths.of(Path(node_dir))
    return ServingCredentials(
        root=read_certificate(paths.root),
        tls_cert=read_certificate(paths.tls_cert),
        signing_cert=read_certificate(paths.signing_cert),
        chain=tuple(read_certificates(paths.chain)),
        tls_key=read_ec_private_key(paths.tls_key),
    )


def read_signing_history(path: Path) -> tuple[RetiredSigningCertificate, ...]:
    """The retired signing certificates in ``signing-history.json`` (none if it is absent).

    Raises:
        ConfigurationError: the file is unreadable or not a history.
    """
    if not path.exists():
        return ()
    try:
        doc = json.loads(_read(path))
        entries = tuple(
            RetiredSigningCertificate(
                x509.load_pem_x509_certificate(str(item["certificate"]).encode("ascii")),
                int(item["retired_at"]),
                tuple(x509.load_pem_x509_certificates(str(item["chain"]).encode("ascii"))),
            )
            for item in doc["retired"]
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigurationError(f"{path} is not a signing key history: {exc}") from exc
    return entries


def write_signing_history(path: Path, entries: Sequence[RetiredSigningCertificate]) -> None:
    """Write the retired signing certificates, oldest first, with mode 0644 (no key in it)."""
    write_json(
        path,
        {
            "retired": [
                {
                    "certificate": e.certificate.public_bytes(serialization.Encoding.PEM).decode(
                        "ascii"
                    ),
                    "retired_at": e.retired_at,
                    "chain": _pem(e.chain).decode("ascii"),
                }
                for e in sorted(entries, key=lambda e: e.retired_at)
            ]
        },
    )


def retire_signing_certificate(paths: NodePaths, cert: x509.Certificate, *, at: int) -> None:
    """Add ``cert`` to the node's signing key history, retired at ``at`` (Unix seconds), with
    the CA chain in ``chain.pem`` now (call it before a new node CA is written)."""
    history = [r for r in read_signing_history(paths.history) if r.certificate != cert]
    chain = tuple(read_certificates(paths.chain))
    retired = RetiredSigningCertificate(cert, at, chain)
    write_signing_history(paths.history, [*history, retired])


def _required_str(info: dict[str, Any], key: str, path: Path) -> str:
    value = info.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{path}: {key!r} must be a non-empty string")
    return value


def _optional_str(info: dict[str, Any], key: str, path: Path) -> str | None:
    if info.get(key) is None:
        return None
    return _required_str(info, key, path)


def load_client_credentials(client_dir: Path) -> ClientCredentials:
    """Load a client's certificate, key and ``client.json`` from ``DIR/clients/<node>-<name>``.

    Raises:
        ConfigurationError: naming the file that is missing or unusable.
    """
    paths = ClientPaths.of(Path(client_dir))
    try:
        info = json.loads(_read(paths.info))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{paths.info} is not valid JSON") from exc
    if not isinstance(info, dict):
        raise ConfigurationError(f"{paths.info} must hold a JSON object")
    return ClientCredentials(
        directory=paths.directory,
        node_id=_required_str(info, "node", paths.info),
        name=_required_str(info, "name", paths.info),
        role=_required_str(info, "role", paths.info),
        domain=_optional_str(info, "domain", paths.info),
        endpoint=_optional_str(info, "endpoint", paths.info),
        root=read_certificate(paths.root),
        cert=read_certificate(paths.cert),
        chain=tuple(read_certificates(paths.chain)),
        key=read_ec_private_key(paths.key),
    )
