"""Who runs an operator's command on a node's host (audited as ``operator:<node>/<user>``)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.audit import AuditEvent, Decision, error_rule, event_by_operator
from gateway.core.errors import GatewayError

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

    def refused(
        self, node_id: str, *, time: int, action: str, attempt: str, error: GatewayError
    ) -> AuditEvent:
        """The audit event of an operator's command refused at ``node_id``'s host: what was
        tried (``attempt``), and why not (the error's rule, else its class, and message)."""
        return event_by_operator(
            node_id,
            user=self.user,
            host=self.host,
            time=time,
            action=action,
            decision=Decision.DENIED,
            rule=error_rule(error),
            detail=f"{attempt}: {error}",
        )
