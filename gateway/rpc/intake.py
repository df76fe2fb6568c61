"""Intake servicer: proto messages in, domain submissions to the use case, results out."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from gateway._proto.v1 import intake_pb2, intake_pb2_grpc
from gateway.core.errors import LimitExceededError
from gateway.core.limits import Limits
from gateway.node.intake import IntakeOutcome, IntakeResult, IntakeService, Submission
from gateway.rpc.context import call_cancellation, client_messages, current_principal

__all__ = ["IntakeServicer", "from_proto", "to_proto"]

_OUTCOMES = {
    IntakeOutcome.ACCEPTED: intake_pb2.SUBMIT_OUTCOME_ACCEPTED,
    IntakeOutcome.DUPLICATE: intake_pb2.SUBMIT_OUTCOME_DUPLICATE,
    IntakeOutcome.NEW_VERSION: intake_pb2.SUBMIT_OUTCOME_NEW_VERSION,
    IntakeOutcome.REFUSED: intake_pb2.SUBMIT_OUTCOME_REFUSED,
}


def from_proto(message: intake_pb2.SubmittedRecord, limits: Limits) -> Submission:
    """Convert one submitted record, checking sizes before anything else.

    Raises:
        LimitExceededError: too many fields, or a value or key too long.
    """
    limits.check_count("fields in one record", len(message.fields), limits.max_fields_per_record)
    for key, value in message.fields.items():
        if len(key) > limits.max_string_chars:
            raise LimitExceededError(f"field name of {len(key)} characters is too long")
        if len(value) > limits.max_field_chars:
            limit = limits.max_field_chars
            raise LimitExceededError(
                f"field {key} is {len(value)} characters, over the limit of {limit}"
            )
    if (
        len(message.ref) > limits.max_string_chars
        or len(message.category) > limits.max_string_chars
    ):
        raise LimitExceededError("record ref or category is too long")
    if len(message.not_public) > limits.max_text_chars:
        raise LimitExceededError("the not_public reason is too long")
    return Submission(
        ref=message.ref,
        category=message.category,
        fields=dict(message.fields),
        not_public=message.not_public,
    )


def to_proto(result: IntakeResult, ref: str) -> intake_pb2.SubmitResult:
    return intake_pb2.SubmitResult(
        ref=ref,
        outcome=_OUTCOMES[result.outcome],
        record_id=result.record_id,
        version=result.version,
        reason=result.reason,
        field=result.field,
        reporting_deadline=result.lateness.deadline.isoformat() if result.lateness else "",
        late_working_days=result.lateness.late_working_days if result.lateness else 0,
        lateness_approximate=result.lateness.approximate if result.lateness else False,
    )


class IntakeServicer(intake_pb2_grpc.IntakeServicer):
    """Streams submissions in and one response per request message out."""

    def __init__(self, service: IntakeService, limits: Limits) -> None:
        self._service = service
        self._limits = limits

    def Submit(
        self,
        request_iterator: Iterator[intake_pb2.SubmitRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[intake_pb2.SubmitResponse]:
        seen = 0
        requests = client_messages(
            request_iterator,
            call_cancellation(context),
            # Each message's records are stored whole (one transaction) or not at all.
            lambda: f"after {seen} records submitted",
        )
        for request in requests:
            self._limits.check_count(
                "records in one message", len(request.records), self._limits.max_batch_records
            )
            seen += len(request.records)
            self._limits.check_count("records in one stream", seen, self._limits.max_stream_records)
            submissions = [from_proto(r, self._limits) for r in request.records]
            results = self._service.submit(submissions, current_principal())
            yield intake_pb2.SubmitResponse(
                results=[
                    to_proto(res, sub.ref) for res, sub in zip(results, submissions, strict=True)
                ]
            )
