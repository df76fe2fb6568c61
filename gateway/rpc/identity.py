"""Authentication: the verified peer certificate of an RPC becomes a Principal.

Mutual TLS has already proven that the peer holds a certificate chaining to the
federation root. Here the chain is checked again against the federation's
rules (each CA in its place in the region tree, a CA only vouching for its own
node) and the identity is read from the URI SANs. Results are cached by
certificate fingerprint until the certificate expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from dataclasses import replace

import grpc
from cryptography import x509

from gateway.core.errors import AccessDeniedError, VerificationError
from gateway.core.principal import Principal, Role
from gateway.pki import verify_peer_certificate

__all__ = ["CertificateAuthenticator"]

_MAX_CACHE = 4096


class CertificateAuthenticator:
    """Turns a call's TLS auth context into a :class:`Principal`."""

    def __init__(self, root: x509.Certificate, *, clock: Callable[[], float]) -> None:
        self._root = root
        self._clock = clock
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def __call__(self, context: grpc.ServicerContext) -> Principal:
        """Authenticate the caller of ``context``.

        Raises:
            AccessDeniedError: no certificate, or one the federation does not accept.
        """
        auth = context.auth_context()
        leaf_pems = [bytes(pem) for pem in auth.get("x509_pem_cert") or ()]
        if not leaf_pems:
            raise AccessDeniedError("no client certificate presented", rule="authn:no-certificate")
        leaf_pem = leaf_pems[0]
        key = hashlib.sha256(leaf_pem).hexdigest()
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return replace(cached[0], address=context.peer())
        chain = b"".join(bytes(pem) for pem in auth.get("x509_pem_cert_chain") or ())
        try:
            identity = verify_peer_certificate(
                leaf_pem, chain, root=self._root, now=dt.datetime.fromtimestamp(now, dt.UTC)
            )
        except VerificationError as exc:
            message = f"certificate refused: {exc}"
            raise AccessDeniedError(message, rule="authn:certificate") from exc
        role = Role(identity.role) if identity.role else Role.NODE
        principal = Principal(
            role=role,
            node_id=identity.node_id,
            name=identity.name or identity.node_id,
            domain=identity.domain,
            fingerprint=identity.fingerprint,
        )
        not_after = x509.load_pem_x509_certificate(leaf_pem).not_valid_after_utc.timestamp()
        with self._lock:
            if len(self._cache) >= _MAX_CACHE:
                self._cache.clear()
            self._cache[key] = (principal, not_after)
        return replace(principal, address=context.peer())
