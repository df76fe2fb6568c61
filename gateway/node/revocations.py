"""Revoked certificates are refused on every RPC, at once.

Two lists, as the hierarchy keeps them: node and signing certificates are
revoked in the signed federation directory (every node holds the newest one
it has verified); client certificates (departments, auditors, admins) in the
store of the node that issued them, where ``gateway pki revoke`` writes them
and where every call looks them up, so a revocation takes effect with its
commit, without a restart. Revoking is audited as the operator who did it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection

from gateway.core.directory import Directory
from gateway.core.errors import AccessDeniedError, InputError
from gateway.core.principal import Principal, Role
from gateway.node.operator import Operator
from gateway.store import RevokedRow, Store

__all__ = ["Revocation", "Revocations"]


@dataclass(frozen=True, slots=True)
class Revocation:
    """A client certificate to revoke: its fingerprint, whose it is, and why."""

    fingerprint: str
    subject: str
    reason: str


class Revocations:
    """The revocation check of one node, and its operator's revoke command."""

    def __init__(
        self,
        store: Store,
        *,
        node_id: str,
        directory: Callable[[], Directory | None],
        clock: Callable[[], int],
    ) -> None:
        self._store = store
        self._node_id = node_id
        self._directory = directory
        self._clock = clock

    def check(self, principal: Principal, *, conn: Connection | None = None) -> None:
        """Refuse a caller whose certificate is revoked; with ``conn``, this node's list is
        read in its transaction (see :data:`gateway.app.access.CHECKED_AT_COMMIT`).

        Raises:
            AccessDeniedError: rule ``certificate:revoked`` (this node's list) or
                ``directory:revoked`` (the signed directory).
            StorageError: the database failed (the call is refused: fail closed).
        """
        self.check_directory(principal)
        if principal.role is Role.NODE:
            return
        revoked = self._store.revocations.get(principal.fingerprint, conn=conn)
        if revoked is not None:
            raise AccessDeniedError(
                f"certificate {principal.fingerprint[:16]}… of {principal.actor} was revoked "
                f"by node {self._node_id}: {revoked.reason}",
                rule="certificate:revoked",
            )

    def check_directory(self, principal: Principal) -> None:
        """Refuse a caller whose certificate the directory held revokes (no store read).

        Raises:
            AccessDeniedError: rule ``directory:revoked``.
        """
        directory = self._directory()
        if directory is not None and principal.fingerprint in directory.revoked:
            raise AccessDeniedError(
                f"certificate {principal.fingerprint[:16]}… of {principal.actor} is revoked "
                "in the federation directory",
                rule="directory:revoked",
            )

    def revoke(self, operator: Operator, revocation: Revocation) -> bool:
        """Revoke a client certificate of this node, in one transaction with its audit event.

        Returns:
            False when it was revoked already (nothing changes).

        Raises:
            InputError: no reason given, or not a SHA-256 fingerprint.
            StorageError: the database failed.
        """
        if not revocation.reason.strip():
            raise InputError("a revocation needs a reason")
        if len(revocation.fingerprint) != 64 or not all(
            c in "0123456789abcdef" for c in revocation.fingerprint
        ):
            raise InputError(f"{revocation.fingerprint!r} is not a lower-case hex SHA-256")
        now = self._clock()
        row = RevokedRow(
            fingerprint=revocation.fingerprint,
            subject=revocation.subject,
            reason=revocation.reason,
            revoked_at=now,
            revoked_by=f"{operator.user}@{operator.host}",
        )

        def job(conn: Connection) -> bool:
            added = self._store.revocations.add(row, conn=conn)
            self._store.audit.append(
                [
                    operator.allowed(
                        self._node_id,
                        time=now,
                        action="pki.revoke",
                        detail=f"{revocation.subject} {revocation.fingerprint}: "
                        f"{revocation.reason}" + ("" if added else " (already revoked)"),
                    )
                ],
                conn=conn,
            )
            return added

        return self._store.writer.submit(job).result()
