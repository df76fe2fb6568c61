"""Hit reports and feedback arriving at the issuer of a notice, as routed messages.

A check that finds a notice reports the hit to the notice's issuer, and the department's
feedback on the hit travels the same way (:mod:`gateway.node.discipline`). At the issuer each
arrives as a routed message inside the transaction that receives its hop batch: it is stored
beside the record it names, or refused and audited if it names a record issued elsewhere or is
malformed, without blocking the batch that carried it.
"""

from __future__ import annotations

import structlog
from sqlalchemy import Connection

from gateway.core.audit import Decision, event_by_node
from gateway.core.discipline_messages import FEEDBACK_KIND, HIT_KIND, FeedbackReport, HitReport
from gateway.core.errors import AccessDeniedError, GatewayError
from gateway.node.hit_feedback import feedback_row
from gateway.node.messages import DeliveredMessage, MessageRouter
from gateway.store import RecordRow, Store
from gateway.store.discipline import DisciplineRepository, HitRow

__all__ = ["DisciplineInbox"]

log = structlog.get_logger("gateway.discipline")


class DisciplineInbox:
    """Stores the hit reports and feedback that other nodes send about this node's records."""

    def __init__(self, *, node_id: str, store: Store, repository: DisciplineRepository) -> None:
        self._node_id = node_id
        self._store = store
        self._repo = repository

    def register(self, router: MessageRouter) -> None:
        """Handle hit and feedback messages delivered through ``router``."""
        router.register(HIT_KIND, self._on_hit)
        router.register(FEEDBACK_KIND, self._on_feedback)

    def _refuse(self, conn: Connection, delivered: DeliveredMessage, exc: Exception) -> None:
        # A bad message must not block the hop batch that carried it: refuse it, audited.
        message = delivered.message
        log.warning("message refused", kind=message.kind, origin=message.origin, error=str(exc))
        event = event_by_node(
            self._node_id,
            time=delivered.received_at,
            action=f"message.{message.kind}",
            decision=Decision.DENIED,
            rule="message:refused",
            detail=f"message {message.message_id} from {message.origin}: {exc}",
        )
        self._store.audit.append([event], conn=conn)

    def _own_record(self, conn: Connection, record_id: str, version: int) -> RecordRow:
        row = self._store.records.get(record_id, version, conn=conn)
        if row.issuer != self._node_id:
            raise AccessDeniedError(
                f"record {record_id} was issued by {row.issuer}, not here", rule="message:issuer"
            )
        return row

    def _on_hit(self, conn: Connection, delivered: DeliveredMessage) -> None:
        message = delivered.message
        try:
            report = HitReport.from_body(message.body)
            row = self._own_record(conn, report.record_id, report.version)
        except GatewayError as exc:
            self._refuse(conn, delivered, exc)
            return
        hit = HitRow(
            check_id=report.check_id,
            record_id=report.record_id,
            version=report.version,
            issuer=row.issuer,
            node=message.origin,
            checked_at=report.checked_at,
            actor=report.department,
            domain=report.domain,
            case_id=report.case_id,
            decision=report.decision,
            measures=",".join(report.measures),
            received_at=delivered.received_at,
        )
        self._repo.add_hits([hit], conn=conn)

    def _on_feedback(self, conn: Connection, delivered: DeliveredMessage) -> None:
        message = delivered.message
        try:
            report = FeedbackReport.from_body(message.body)
            row = self._own_record(conn, report.record_id, report.version)
        except GatewayError as exc:
            self._refuse(conn, delivered, exc)
            return
        self._repo.add_feedback(
            [
                feedback_row(
                    report,
                    issuer=row.issuer,
                    node=message.origin,
                    at=message.created_at,
                    got=delivered.received_at,
                )
            ],
            conn=conn,
        )
        event = event_by_node(
            self._node_id,
            time=delivered.received_at,
            action="discipline.feedback.receive",
            decision=Decision.ALLOWED,
            case_id=report.case_id,
            records=(f"{report.record_id}@{report.version}",),
            detail=f"from {message.origin} ({report.department}): {report.action}",
        )
        self._store.audit.append([event], conn=conn)
