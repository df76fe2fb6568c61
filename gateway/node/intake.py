"""Intake: validate submitted records against the catalog, sign, store durably.

A record's id is derived from (issuer, category, document number, subject), so
the same document submitted twice maps to the same record: unchanged content is
a DUPLICATE (nothing stored), changed content becomes a NEW_VERSION. The
decision, the signing and the insert run as one job of the store writer, so
concurrent submissions of the same document cannot both create version 1.

Categories with a reporting deadline (双公示: 7 working days from the decision)
are stamped on time or late at intake, counted on the official calendar: a
late record is accepted and flagged (the result says by how many working
days), and the filing keeps the verdict for the office's timeliness report.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Connection

from gateway.core.algorithms import Signer
from gateway.core.audit import Decision, event_by, record_ref, record_refs
from gateway.core.catalog import Catalog
from gateway.core.errors import (
    AccessDeniedError,
    InputError,
    LimitExceededError,
    RecordValidationError,
)
from gateway.core.filing import check_category_filer, check_new_version
from gateway.core.principal import Principal
from gateway.core.record_fields import ValidatedRecord, record_key, validate_record
from gateway.core.record_status import RecordStatus
from gateway.core.records import CHINA_STANDARD_TIME, content_digest, expires_at, issue_record
from gateway.core.related_persons import related_persons
from gateway.core.working_days import Lateness, OfficialCalendar, WorkingCalendar, lateness
from gateway.node.metrics import NodeMetrics
from gateway.store import Filing, Refusal, Store
from gateway.store.record_rows import RecordRow

__all__ = ["IntakeOutcome", "IntakeResult", "IntakeService", "Submission"]


class IntakeOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    NEW_VERSION = "new_version"
    REFUSED = "refused"


_STORED = frozenset({IntakeOutcome.ACCEPTED, IntakeOutcome.NEW_VERSION})


@dataclass(frozen=True, slots=True)
class Submission:
    """One record as a department submitted it."""

    ref: str
    category: str
    fields: dict[str, str]
    not_public: str = ""
    """The department's reason the record is never published (不宜公开), signed into it."""


@dataclass(frozen=True, slots=True)
class IntakeResult:
    ref: str
    outcome: IntakeOutcome
    record_id: str = ""
    version: int = 0
    reason: str = ""
    field: str = ""
    lateness: Lateness | None = None
    """Against the category's reporting deadline; None: the category has none."""


@dataclass(frozen=True, slots=True)
class _Valid:
    index: int
    record: ValidatedRecord
    record_id: str
    digest: str
    lateness: Lateness | None
    not_public: str = ""


class IntakeService:
    """The intake use case of one node."""

    def __init__(
        self,
        *,
        node_id: str,
        catalog: Catalog,
        signer: Signer,
        store: Store,
        clock: Callable[[], int],
        route: Callable[[Connection, Sequence[RecordRow], int], None] | None = None,
        wake: Callable[[], None] | None = None,
        metrics: NodeMetrics | None = None,
        calendar: WorkingCalendar | None = None,
    ) -> None:
        """Wire the intake of one node.

        Args:
            route: enqueues new records for the federation in the same transaction.
            wake: tells the sender that new outbox rows exist.
            metrics: counts records received, stored and refused (source ``intake``).
            calendar: working days for reporting deadlines (the official PRC calendar).
        """
        self._calendar = calendar if calendar is not None else OfficialCalendar()
        self._metrics = metrics if metrics is not None else NodeMetrics()
        self._route = route
        self._wake = wake
        self._node_id = node_id
        self._catalog = catalog
        self._signer = signer
        self._store = store
        self._clock = clock

    def submit(self, submissions: Sequence[Submission], principal: Principal) -> list[IntakeResult]:
        """Validate, sign and store a batch; one result per submission, in order.

        A refused record never stops the others. Results are returned only once
        the accepted records are committed.

        Raises:
            StorageError: if the batch could not be committed (nothing of it is stored).
        """
        now = self._clock()
        today = datetime.fromtimestamp(now, CHINA_STANDARD_TIME).date()
        results: list[IntakeResult | None] = [None] * len(submissions)
        valid: list[_Valid] = []
        not_theirs: list[AccessDeniedError] = []
        refusals: list[Refusal] = []
        self._metrics.records_received("intake", len(submissions))

        def refuse(index: int, sub: Submission, exc: InputError | AccessDeniedError) -> None:
            field = exc.field or "" if isinstance(exc, RecordValidationError) else ""
            self._metrics.records_refused("intake", type(exc).__name__)
            results[index] = IntakeResult(
                sub.ref, IntakeOutcome.REFUSED, reason=str(exc), field=field
            )
            refusals.append(self._refusal(principal, today, sub.category, exc, field))

        for index, sub in enumerate(submissions):
            try:
                record = validate_record(self._catalog, sub.category, sub.fields, today=today)
            except InputError as exc:
                refuse(index, sub, exc)
                continue
            try:
                check_category_filer(principal, self._catalog.category(record.category))
            except AccessDeniedError as exc:
                refuse(index, sub, exc)
                not_theirs.append(exc)
                continue
            rid = record_key(
                self._node_id, record.category, record.document_number, record.subject_id
            )
            deadline_days = self._catalog.category(record.category).reporting_working_days
            timeliness = (
                None
                if deadline_days is None
                else lateness(record.decision_date, today, deadline_days, self._calendar)
            )
            digest = content_digest(record.category, record.fields)
            valid.append(_Valid(index, record, rid, digest, timeliness, sub.not_public))
        refused = sum(1 for r in results if r is not None)
        stored = self._store.writer.submit(
            lambda conn: self._store_valid(
                conn,
                valid,
                now,
                principal,
                refused=refused,
                not_theirs=not_theirs,
                refusals=refusals,
            )
        )
        for index, result in stored.result():
            results[index] = dataclasses.replace(result, ref=submissions[index].ref)
        self._metrics.records_stored(
            "intake", sum(1 for r in results if r is not None and r.outcome in _STORED)
        )
        if self._wake is not None:
            self._wake()
        return [r for r in results if r is not None]

    def _refusal(
        self,
        principal: Principal,
        day: date,
        category: str,
        exc: InputError | AccessDeniedError,
        field: str,
    ) -> Refusal:
        """A refusal to count: the category only if the catalog knows it (never free text)."""
        known = category if category in self._catalog.categories else "(unknown)"
        return Refusal(
            day=day.isoformat(),
            client=principal.name,
            domain=principal.domain or "",
            category=known,
            reason=refusal_reason(exc),
            field=field,
        )

    def _store_valid(
        self,
        conn: Connection,
        valid: Sequence[_Valid],
        now: int,
        principal: Principal,
        *,
        refused: int,
        not_theirs: Sequence[AccessDeniedError],
        refusals: Sequence[Refusal],
    ) -> list[tuple[int, IntakeResult]]:
        latest = self._store.records.latest_digests([v.record_id for v in valid], conn=conn)
        filed = self._store.filings.get_many([v.record_id for v in valid], conn=conn)
        rows: list[RecordRow] = []
        filings: list[Filing] = []
        # Filing-rule refusals, audited one by one: (records named, the refusal).
        denied: list[tuple[tuple[str, ...], AccessDeniedError]] = [((), e) for e in not_theirs]
        out: list[tuple[int, IntakeResult]] = []
        later: list[Refusal] = []
        for item in valid:
            known = latest.get(item.record_id)
            if known is not None and known[1] == item.digest:
                duplicate = IntakeResult("", IntakeOutcome.DUPLICATE, item.record_id, known[0])
                out.append((item.index, duplicate))
                continue
            if known is not None:
                filer = filed.get(item.record_id)
                try:
                    check_new_version(
                        principal,
                        record_id=item.record_id,
                        filed_by=filer.domain if filer else None,
                    )
                except AccessDeniedError as exc:
                    denied.append(((record_ref(item.record_id, known[0] + 1),), exc))
                    day = datetime.fromtimestamp(now, CHINA_STANDARD_TIME).date()
                    later.append(self._refusal(principal, day, item.record.category, exc, field=""))
                    out.append(
                        (item.index, IntakeResult("", IntakeOutcome.REFUSED, reason=str(exc)))
                    )
                    continue
            else:
                filings.append(_filing(item, principal, now))
            version = 1 if known is None else known[0] + 1
            outcome = IntakeOutcome.ACCEPTED if known is None else IntakeOutcome.NEW_VERSION
            latest[item.record_id] = (version, item.digest)
            category = self._catalog.category(item.record.category)
            sd_jwt = issue_record(
                item.record,
                category,
                issuer=self._node_id,
                record_id=item.record_id,
                version=version,
                catalog_version=self._catalog.version,
                signer=self._signer,
                now=now,
                not_public=item.not_public,
            )
            rows.append(
                RecordRow(
                    record_id=item.record_id,
                    version=version,
                    issuer=self._node_id,
                    category=category.code,
                    subject_type=item.record.subject_type.value,
                    subject_key=item.record.subject_id,
                    document_number=item.record.document_number[:128],
                    status=RecordStatus.ACTIVE,
                    iat=now,
                    exp=expires_at(item.record.expires_on),
                    sd_jwt=sd_jwt,
                    origin="local",
                    stored_at=now,
                    status_changed_at=now,
                    content_digest=item.digest,
                    persons=related_persons(category, item.record.fields),
                )
            )
            result = IntakeResult("", outcome, item.record_id, version, lateness=item.lateness)
            out.append((item.index, result))
        self._store.records.put_many(rows, conn=conn)
        self._store.filings.add_many(filings, conn=conn)
        self._store.refusals.add_many([*refusals, *later], conn=conn)
        if self._route is not None:
            self._route(conn, rows, now)
        # The event commits with the records it names: no intake without its audit.
        self._store.audit.append(
            [
                event_by(
                    principal,
                    node=self._node_id,
                    time=now,
                    action="intake.submit",
                    decision=Decision.ALLOWED,
                    records=record_refs((row.record_id, row.version) for row in rows),
                    detail=f"{len(rows)} stored, "
                    f"{len(valid) - len(rows) - len(denied) + len(not_theirs)} duplicate, "
                    f"{refused + len(denied) - len(not_theirs)} refused",
                ),
                *(
                    event_by(
                        principal,
                        node=self._node_id,
                        time=now,
                        action="intake.submit",
                        decision=Decision.DENIED,
                        rule=exc.rule,
                        records=records,
                        detail=str(exc),
                    )
                    for records, exc in denied
                ),
            ],
            conn=conn,
        )
        return out


def _filing(item: _Valid, principal: Principal, now: int) -> Filing:
    """The filing row of a record's first version, with its timeliness."""
    timeliness = item.lateness
    return Filing(
        item.record_id,
        principal.domain or "",
        principal.name,
        now,
        category=item.record.category,
        decided_on=item.record.decision_date.isoformat(),
        deadline_on=timeliness.deadline.isoformat() if timeliness else None,
        late_working_days=timeliness.late_working_days if timeliness else None,
        timeliness_approximate=timeliness.approximate if timeliness else None,
        not_public=bool(item.not_public),
    )


def refusal_reason(exc: InputError | AccessDeniedError) -> str:
    """The reason a refusal is counted under: the rule broken, or the kind of fault."""
    if isinstance(exc, AccessDeniedError):
        return exc.rule or "access denied"
    if isinstance(exc, LimitExceededError):
        return "over a limit"
    if isinstance(exc, RecordValidationError):
        return "invalid field" if exc.field else "invalid record"
    return "malformed"
