"""Discipline servicer: checks, feedback, objections, credit repair, hits per notice.

Protobuf types stop here: requests become use-case calls on
:class:`~gateway.node.discipline.DisciplineService` and
:class:`~gateway.node.remedies.RemedyService`; their results become messages.
"""

from __future__ import annotations

import grpc

from gateway._proto.v1 import discipline_pb2, discipline_pb2_grpc
from gateway.core.discipline import Hit
from gateway.core.errors import InputError
from gateway.core.limits import Limits
from gateway.node.discipline import DisciplineService
from gateway.node.remedies import RemedyService
from gateway.rpc.context import current_principal
from gateway.rpc.server import ServiceRegistration
from gateway.store.discipline import HitRow, ObjectionRow, RepairRow

__all__ = [
    "CheckServicer",
    "DisciplineServicer",
    "check_service",
    "objection_to_proto",
    "repair_to_proto",
]


def _check_hit(h: HitRow) -> discipline_pb2.CheckHit:
    return discipline_pb2.CheckHit(
        check_id=h.check_id,
        version=h.version,
        node=h.node,
        checked_at=h.checked_at,
        actor=h.actor,
        domain=h.domain,
        case_id=h.case_id,
        decision=h.decision,
        measures=[m for m in h.measures.split(",") if m],
    )


def _hit(hit: Hit) -> discipline_pb2.NoticeHit:
    return discipline_pb2.NoticeHit(
        record_id=hit.record_id,
        version=hit.version,
        category=hit.category,
        kind=hit.kind.value,
        issuer=hit.issuer,
        status=hit.status,
        measures=[
            discipline_pb2.MeasureView(
                code=m.code,
                label=m.label,
                kind=m.kind.value,
                basis=m.basis,
                effect=m.effect.value,
            )
            for m in hit.measures
        ],
        basis=hit.basis,
        disputed=hit.disputed,
        measures_suspended=hit.measures_suspended,
        intercepts=hit.intercepts,
        green=hit.green,
        outcome=hit.outcome.value,
        reason=hit.reason,
        reference=hit.reference,
        severity=hit.severity.value,
        expires_at=hit.expires_at,
        fields=dict(hit.fields),
        person_role=hit.person.value if hit.person else "",
        listed_subject=hit.listed_subject,
        listed_name=hit.listed_name,
    )


def objection_to_proto(row: ObjectionRow, *, overdue: bool = False) -> discipline_pb2.Objection:
    return discipline_pb2.Objection(
        objection_id=row.objection_id,
        record_id=row.record_id,
        version=row.version,
        category=row.category,
        node=row.node,
        filed_by=row.filed_by,
        grounds=row.grounds,
        filed_at=row.filed_at,
        deadline_at=row.deadline_at,
        state=row.state,
        decided_at=row.decided_at or 0,
        decided_by=row.decided_by or "",
        resolution=row.resolution or "",
        statement_id=row.statement_id or "",
        overdue=overdue,
    )


def repair_to_proto(row: RepairRow) -> discipline_pb2.RepairApplication:
    return discipline_pb2.RepairApplication(
        application_id=row.application_id,
        record_id=row.record_id,
        version=row.version,
        category=row.category,
        applied_by=row.applied_by,
        reason=row.reason,
        applied_at=row.applied_at,
        state=row.state,
        decided_at=row.decided_at or 0,
        decided_by=row.decided_by or "",
        note=row.note or "",
        statement_id=row.statement_id or "",
    )


class CheckServicer:
    """``Check`` alone: what a check frontend serves (:func:`check_service`)."""

    def __init__(self, discipline: DisciplineService, limits: Limits) -> None:
        self._discipline = discipline
        self._limits = limits

    def _check(self, *values: str) -> None:
        for value in values:
            if len(value) > self._limits.max_field_chars:
                raise InputError(f"a request string is {len(value)} characters, over the limit")

    def Check(
        self, request: discipline_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> discipline_pb2.CheckResponse:
        self._check(
            request.subject, request.domain, request.purpose, request.case_id, request.request_id
        )
        outcome = self._discipline.check(
            current_principal(),
            subject=request.subject,
            domain=request.domain,
            purpose=request.purpose,
            case_id=request.case_id,
            request_id=request.request_id,
        )
        return discipline_pb2.CheckResponse(
            check_id=outcome.check_id,
            decision=outcome.result.decision.value,
            checked_at=outcome.checked_at,
            node=outcome.node,
            hits=[_hit(h) for h in outcome.result.hits],
            minor=outcome.result.minor,
            unread=list(outcome.result.unread),
        )


def check_service(servicer: CheckServicer) -> ServiceRegistration:
    """The Discipline service with ``Check`` alone: any other method is UNIMPLEMENTED."""
    check = grpc.unary_unary_rpc_method_handler(
        servicer.Check,
        request_deserializer=discipline_pb2.CheckRequest.FromString,
        response_serializer=discipline_pb2.CheckResponse.SerializeToString,
    )
    descriptor = discipline_pb2.DESCRIPTOR.services_by_name["Discipline"]
    handler = grpc.method_handlers_generic_handler(descriptor.full_name, {"Check": check})
    return ServiceRegistration(
        descriptor.full_name, lambda server: server.add_generic_rpc_handlers((handler,))
    )


class DisciplineServicer(CheckServicer, discipline_pb2_grpc.DisciplineServicer):
    """Every Discipline method: checks, feedback, objections, credit repair, hits."""

    def __init__(
        self, discipline: DisciplineService, remedies: RemedyService, limits: Limits
    ) -> None:
        super().__init__(discipline, limits)
        self._remedies = remedies

    def Feedback(
        self, request: discipline_pb2.FeedbackRequest, context: grpc.ServicerContext
    ) -> discipline_pb2.FeedbackResponse:
        self._check(request.check_id, request.record_id, request.action, request.note)
        feedback_id, issuer = self._discipline.feedback(
            current_principal(),
            check_id=request.check_id,
            record_id=request.record_id,
            action=request.action,
            note=request.note,
        )
        return discipline_pb2.FeedbackResponse(feedback_id=feedback_id, issuer=issuer)

    def PendingFeedback(
        self, request: discipline_pb2.PendingFeedbackRequest, context: grpc.ServicerContext
    ) -> discipline_pb2.PendingFeedbackResponse:
        self._check(request.department, request.page_token)
        page = self._discipline.awaiting_feedback(
            current_principal(),
            lifted_only=request.lifted_only,
            department=request.department,
            limit=request.limit,
            page_token=request.page_token,
        )
        return discipline_pb2.PendingFeedbackResponse(
            next_page_token=page.next_page_token,
            hits=[
                discipline_pb2.PendingHit(
                    hit=_check_hit(w.hit),
                    record_id=w.hit.record_id,
                    issuer=w.hit.issuer,
                    status=w.status,
                    answered=w.answered,
                    lifted=w.lifted.value if w.lifted is not None else "",
                    lifted_at=w.lifted_at,
                )
                for w in page.hits
            ],
        )

    def FileObjection(
        self, request: discipline_pb2.FileObjectionRequest, context: grpc.ServicerContext
    ) -> discipline_pb2.FileObjectionResponse:
        self._check(request.record_id, request.grounds)
        objection_id, issuer = self._remedies.file_objection(
            current_principal(),
            record_id=request.record_id,
            version=request.version,
            grounds=request.grounds,
        )
        return discipline_pb2.FileObjectionResponse(objection_id=objection_id, issuer=issuer)

    def ListObjections(
        self, request: discipline_pb2.ListObjectionsRequest, context: grpc.ServicerContext
    ) -> discipline_pb2.ListObjectionsResponse:
        self._check(request.state, request.record_id)
        rows = self._remedies.list_objections(
            current_principal(),
            overdue=request.overdue,
            state=request.state,
            record_id=request.record_id,
        )
        return discipline_pb2.ListObjectionsResponse(
            objections=[objection_to_proto(row, overdue=late) for row, late in rows]
        )

    def DecideObjection(
        self, request: discipline_pb2.DecideObjectionRequest, context: grpc.ServicerContext
    ) -> discipline_pb2.DecideObjectionResponse:
        self._check(request.objection_id, request.decision, request.reason)
        decided = self._remedies.decide_objection(
            current_principal(),
            objection_id=request.objection_id,
            decision=request.decision,
            reason=request.reason,
            new_version=request.new_version,
        )
        return discipline_pb2.DecideObjectionResponse(
            objection=objection_to_proto(decided.row),
            status=decided.status,
            statement_id=decided.statement_id,
        )

    def ApplyRepair(
        self, request: discipline_pb2.ApplyRepairRequest, context: grpc.ServicerContext
    ) -> discipline_pb2.ApplyRepairResponse:
        self._check(request.record_id, request.reason)
        row = self._remedies.apply_repair(
            current_principal(),
            record_id=request.record_id,
            version=request.version,
            reason=request.reason,
        )
        return discipline_pb2.ApplyRepairResponse(application=repair_to_proto(row))

    def DecideRepair(
        self, request: discipline_pb2.DecideRepairRequest, context: grpc.ServicerContext
    ) -> discipline_pb2.DecideRepairResponse:
        self._check(request.application_id, request.decision, request.note)
        decided = self._remedies.decide_repair(
            current_principal(),
            application_id=request.application_id,
            decision=request.decision,
            note=request.note,
        )
        return discipline_pb2.DecideRepairResponse(
            application=repair_to_proto(decided.row),
            status=decided.status,
            statement_id=decided.statement_id,
        )

    def ListHits(
        self, request: discipline_pb2.ListHitsRequest, context: grpc.ServicerContext
    ) -> discipline_pb2.ListHitsResponse:
        self._check(request.record_id)
        found = self._discipline.hits(current_principal(), request.record_id)
        return discipline_pb2.ListHitsResponse(
            record_id=found.record_id,
            hits=[_check_hit(h) for h in found.hits],
            feedback=[
                discipline_pb2.FeedbackEntry(
                    feedback_id=f.feedback_id,
                    check_id=f.check_id,
                    version=f.version,
                    node=f.node,
                    actor=f.actor,
                    domain=f.domain,
                    action=f.action,
                    note=f.note,
                    case_id=f.case_id,
                    checked_at=f.checked_at,
                    reported_at=f.reported_at,
                )
                for f in found.feedback
            ],
        )
