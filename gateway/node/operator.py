"""Who runs an operator's command on a node's host (audited as ``operator:<node>/<user>``)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.audit import AuditEvent, Decision, event_by_operator

__all__ = ["Operator"]


@dataclass(frozen=True, slots=True)
class Operator:
    """Who runs an operator's command: the host's user and the host's name."""

    user: str
    host: str

    def allowed(
        self,
        node_id: str,
        *,
        time: int,
        action: str,
        detail: str = "",
        records: tuple[str, ...] = (),
    ) -> AuditEvent:
        """The audit event of an operator's command that ran at ``node_id``'s host."""
        return event_by_operator(
            node_id,
            user=self.user,
            host=self.host,
            time=time,
            action=action,
            decision=Decision.ALLOWED,
            records=records,
            detail=detail,
        )
