"""Who is calling: the identity taken from a verified client certificate.

The TLS layer proves possession of the certificate; this module only holds the
facts read from it. Roles are closed: anything else is refused at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.core.errors import AccessDeniedError

__all__ = ["Principal", "Role", "require_role"]


class Role(StrEnum):
    """What a certificate holder is."""

    NODE = "node"
    """Another gateway node of the federation."""
    DEPARTMENT = "department"
    """A department of this node's platform, acting in one domain."""
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller.

    Attributes:
        role: what the caller is.
        node_id: the node the caller is (role NODE) or belongs to (clients).
        name: the client's name (e.g. ``procurement-office``); the node id for nodes.
        domain: a department's domain (``procurement``, ``bidding``...), else None.
        fingerprint: hex SHA-256 of the certificate, for the audit log.
        address: the transport peer address, for the audit log.
    """

    role: Role
    node_id: str
    name: str
    domain: str | None
    fingerprint: str
    address: str = ""

    @property
    def actor(self) -> str:
        """A stable, non-personal label for logs and audit: ``role:node/name``."""
        return f"{self.role.value}:{self.node_id}/{self.name}"


def require_role(principal: Principal, allowed: frozenset[Role], *, action: str) -> None:
    """Refuse ``principal`` unless its role is in ``allowed``.

    Raises:
        AccessDeniedError: naming the action, the role and the rule.
    """
    if principal.role not in allowed:
        roles = ", ".join(sorted(r.value for r in allowed))
        raise AccessDeniedError(
            f"{action} is not allowed for role {principal.role.value} (allowed: {roles})",
            rule=f"role:{action}",
        )
