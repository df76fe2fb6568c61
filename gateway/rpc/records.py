"""Records servicer: list, get and export, redacted for the caller; where and set-status.

Protobuf stops here: each method converts its request, calls one use case of
:class:`~gateway.node.queries.RecordQueries` or
:class:`~gateway.node.tracking.RecordTracking`, and converts the result.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import structlog

from gateway._proto.v1 import records_pb2, records_pb2_grpc
from gateway.core.errors import InputError
from gateway.core.limits import Limits
from gateway.core.statements import STATUS_EFFECT, StatusKind
from gateway.node.credit_reports import CreditReports
from gateway.node.queries import RecordQueries, RecordView
from gateway.node.tracking import RecordTracking
from gateway.rpc.context import call_cancellation, current_principal

__all__ = ["RecordsServicer", "to_proto"]


def to_proto(view: RecordView) -> records_pb2.RecordView:
    return records_pb2.RecordView(
        record_id=view.record_id,
        version=view.version,
        issuer=view.issuer,
        category=view.category,
        subject_type=view.subject_type,
        status=view.status,
        issued_at=view.issued_at,
        expires_at=view.expires_at,
        sd_jwt=view.sd_jwt,
        fields=view.fields,
    )


class RecordsServicer(records_pb2_grpc.RecordsServicer):
    def __init__(
        self,
        queries: RecordQueries,
        tracking: RecordTracking,
        reports: CreditReports,
        limits: Limits,
    ) -> None:
        self._queries = queries
        self._reports = reports
        self._tracking = tracking
        self._limits = limits

    def _check(self, *values: str) -> None:
        for value in values:
            if len(value) > self._limits.max_string_chars:
                raise InputError(f"a request string is {len(value)} characters, over the limit")

    def List(
        self, request: records_pb2.ListRecordsRequest, context: grpc.ServicerContext
    ) -> records_pb2.ListRecordsResponse:
        self._check(request.subject, request.category, request.purpose, request.page_token)
        views, next_token = self._queries.page(
            current_principal(),
            subject=request.subject,
            category=request.category,
            limit=request.limit or 50,
            token=request.page_token,
            purpose=request.purpose,
        )
        return records_pb2.ListRecordsResponse(
            records=[to_proto(v) for v in views],
            next_page_token=next_token or "",
        )

    def Get(
        self, request: records_pb2.GetRecordRequest, context: grpc.ServicerContext
    ) -> records_pb2.RecordView:
        self._check(request.record_id, request.purpose)
        structlog.contextvars.bind_contextvars(record_id=request.record_id)
        view = self._queries.get(
            current_principal(),
            record_id=request.record_id,
            version=request.version,
            purpose=request.purpose,
        )
        return to_proto(view)

    def Export(
        self, request: records_pb2.ExportRecordsRequest, context: grpc.ServicerContext
    ) -> Iterator[records_pb2.RecordView]:
        self._check(request.subject, request.category, request.purpose)
        principal = current_principal()
        for view in self._queries.export(
            principal,
            subject=request.subject,
            category=request.category,
            purpose=request.purpose,
            cancel=call_cancellation(context),
        ):
            yield to_proto(view)

    def Where(
        self, request: records_pb2.WhereRequest, context: grpc.ServicerContext
    ) -> records_pb2.WhereResponse:
        self._check(request.record_id)
        structlog.contextvars.bind_contextvars(record_id=request.record_id)
        found = self._tracking.where(current_principal(), request.record_id)
        return records_pb2.WhereResponse(
            record_id=found.record_id,
            issuer=found.issuer,
            status=found.status,
            holders=[
                records_pb2.RecordHolder(
                    node=h.node,
                    version=h.version,
                    delivered_at=h.delivered_at,
                    status_sent=h.status_sent,
                    confirmed_status=h.confirmed_status,
                    confirmed_at=h.confirmed_at,
                    reported_by=h.reported_by,
                )
                for h in found.holders
            ],
        )

    def SetStatus(
        self, request: records_pb2.SetStatusRequest, context: grpc.ServicerContext
    ) -> records_pb2.SetStatusResponse:
        self._check(request.record_id, request.kind)
        structlog.contextvars.bind_contextvars(record_id=request.record_id)
        if len(request.reason) > self._limits.max_field_chars:
            raise InputError("reason is too long")
        try:
            kind = StatusKind(request.kind)
        except ValueError as exc:
            kinds = ", ".join(k.value for k in StatusKind)
            raise InputError(f"unknown status kind {request.kind!r} (one of: {kinds})") from exc
        statement = self._tracking.set_status(
            current_principal(),
            kind=kind,
            record_id=request.record_id,
            version=request.version,
            reason=request.reason,
        )
        return records_pb2.SetStatusResponse(
            statement_id=statement.statement_id, status=STATUS_EFFECT[kind]
        )

    def Report(
        self, request: records_pb2.CreditReportRequest, context: grpc.ServicerContext
    ) -> records_pb2.CreditReportResponse:
        self._check(request.subject, request.purpose)
        found = self._reports.report(
            current_principal(), subject=request.subject, purpose=request.purpose
        )
        return records_pb2.CreditReportResponse(report_file=found.to_json())
