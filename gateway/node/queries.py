"""Record queries: list, get and export what the caller may see.

Every answer passes through the sharing policy: the caller becomes a
:class:`~gateway.core.policy.Recipient`, the plan for (category, recipient)
decides which disclosures go, and the stored SD-JWT is redacted by removing the
others. Expired, revoked, repaired and purged records are never served. Every
query is audited; every record withheld by policy is audited as a denial.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from gateway.core.audit import AuditEvent, Decision, event_by, record_ref, record_refs
from gateway.core.catalog import Catalog, RecipientKind
from gateway.core.errors import AccessDeniedError, IdentifierError, InputError, NotFoundError
from gateway.core.identifiers import SubjectType, validate_citizen_id, validate_uscc
from gateway.core.masking import mask_identifier
from gateway.core.policy import Recipient, SharePlan, decide, node_relation
from gateway.core.principal import Principal, Role
from gateway.core.record_status import is_forwardable
from gateway.core.records import display_fields, redact_record
from gateway.node.cancellation import NEVER_CANCELLED, Cancellation
from gateway.store.record_rows import RecordRow

__all__ = [
    "RecordQueries",
    "RecordReader",
    "RecordView",
    "display_subject",
    "normalise_subject",
    "recipient_of",
]

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class RecordView:
    """A record as one caller may see it."""

    record_id: str
    version: int
    issuer: str
    category: str
    subject_type: str
    status: str
    issued_at: int
    expires_at: int
    sd_jwt: str
    fields: dict[str, str]


def recipient_of(principal: Principal, node_id: str) -> Recipient:
    """The policy recipient a caller of this node stands for.

    Raises:
        AccessDeniedError: for admins, who administer but do not read records.
    """
    if principal.role is Role.DEPARTMENT:
        return Recipient(RecipientKind.DEPARTMENT, domain=principal.domain, role="department")
    if principal.role is Role.AUDITOR:
        return Recipient(RecipientKind.AUDITOR)
    if principal.role is Role.NODE:
        relation = node_relation(node_id, principal.node_id)
        return Recipient(relation, node_id=principal.node_id)
    raise AccessDeniedError("admins may not read records", rule="role:records.read")


def normalise_subject(subject: str) -> tuple[SubjectType, str]:
    """A subject identifier as indexed, with its type.

    Raises:
        IdentifierError: if it is neither a valid USCC nor a citizen number.
    """
    try:
        return SubjectType.LEGAL_PERSON, validate_uscc(subject)
    except IdentifierError as uscc_error:
        try:
            return SubjectType.NATURAL_PERSON, validate_citizen_id(subject)
        except IdentifierError as citizen_error:
            raise IdentifierError(
                f"subject is neither a unified social credit code ({uscc_error}) "
                f"nor a citizen number ({citizen_error})"
            ) from citizen_error


def display_subject(subject_type: str, subject_key: str) -> str:
    """The subject as the audit log shows it: citizen numbers masked."""
    if subject_type == SubjectType.NATURAL_PERSON.value and subject_key:
        return mask_identifier(subject_key)
    return subject_key


class RecordReader(Protocol):
    """What queries need from the record store."""

    def page(
        self, *, subject_key: str, category: str, limit: int, token: str
    ) -> tuple[Sequence[RecordRow], str | None]: ...

    def get(self, record_id: str, version: int | None = None) -> RecordRow: ...


class RecordQueries:
    """Queries over one node's records, redacted per caller."""

    def __init__(
        self,
        *,
        node_id: str,
        catalog: Catalog,
        records: RecordReader,
        audit: Callable[[AuditEvent], None],
        clock: Callable[[], int],
    ) -> None:
        self._node_id = node_id
        self._catalog = catalog
        self._records = records
        self._audit = audit
        self._clock = clock

    def page(
        self,
        principal: Principal,
        *,
        subject: str,
        category: str,
        limit: int,
        token: str,
        purpose: str,
    ) -> tuple[list[RecordView], str | None]:
        """One page of the records the caller may see; returns (views, next page token).

        Raises:
            InputError: bad subject, category, limit or missing purpose.
            AccessDeniedError: if the caller may read no records at all.
        """
        views, next_token, _read = self._page(
            principal,
            subject=subject,
            category=category,
            limit=limit,
            token=token,
            purpose=purpose,
        )
        return views, next_token

    def _page(
        self,
        principal: Principal,
        *,
        subject: str,
        category: str,
        limit: int,
        token: str,
        purpose: str,
    ) -> tuple[list[RecordView], str | None, int]:
        """As :meth:`page`, with the number of rows read."""
        _require_purpose(purpose)
        recipient = recipient_of(principal, self._node_id)
        subject_type, subject_key = (
            normalise_subject(subject) if subject else (SubjectType.LEGAL_PERSON, "")
        )
        if category:
            self._catalog.category(category)
        if not 1 <= limit <= MAX_PAGE:
            raise InputError(f"limit must be between 1 and {MAX_PAGE}, got {limit}")
        rows, next_token = self._records.page(
            subject_key=subject_key, category=category, limit=limit, token=token
        )
        shown = display_subject(subject_type, subject_key)
        views = self._views(
            principal,
            recipient=recipient,
            rows=rows,
            action="records.list",
            purpose=purpose,
            subject=shown,
        )
        return views, next_token, len(rows)

    def get(
        self, principal: Principal, *, record_id: str, version: int, purpose: str
    ) -> RecordView:
        """One record version (latest when ``version`` is 0), as the caller may see it.

        Raises:
            NotFoundError: unknown, expired or purged record.
            AccessDeniedError: the category is not shared with the caller.
        """
        _require_purpose(purpose)
        recipient = recipient_of(principal, self._node_id)
        row = self._records.get(record_id, version or None)
        if not self._servable(row):
            raise NotFoundError(f"record {record_id} is not available (expired, revoked or purged)")
        shown = display_subject(row.subject_type, row.subject_key)
        views = self._views(
            principal,
            recipient=recipient,
            rows=[row],
            action="records.get",
            purpose=purpose,
            subject=shown,
        )
        if not views:
            plan = decide(self._catalog.category(row.category), recipient)
            raise AccessDeniedError(
                f"category {row.category} is not shared with {recipient.describe()}", rule=plan.rule
            )
        return views[0]

    def get_row(self, principal: Principal, record_id: str, *, purpose: str) -> RecordRow:
        """The latest stored version (tombstones too), for status and ledger views.

        Shows no disclosures, so any reader may see it; audited all the same.

        Raises:
            NotFoundError: unknown record.
        """
        recipient_of(principal, self._node_id)
        row = self._records.get(record_id, None)
        self._audit(
            event_by(
                principal,
                node=self._node_id,
                time=self._clock(),
                action="records.where",
                decision=Decision.ALLOWED,
                records=(record_ref(row.record_id, row.version),),
                purpose=purpose,
            )
        )
        return row

    def latest_version(self, record_id: str) -> int:
        """The latest version number of a record held here.

        Raises:
            NotFoundError: unknown record.
        """
        return self._records.get(record_id, None).version

    def export(
        self,
        principal: Principal,
        *,
        subject: str,
        category: str,
        purpose: str,
        page: int = 200,
        cancel: Cancellation = NEVER_CANCELLED,
    ) -> Iterator[RecordView]:
        """Every record the caller may see, page by page (each page read and audited whole).

        Before each page it asks ``cancel`` whether the call is still wanted: an
        export whose caller left, or whose deadline passed, stops there, even
        when its pages yield nothing to send (all expired or withheld).

        Raises:
            InputError / AccessDeniedError: as :meth:`page`.
            CallCancelledError: the caller cancelled (CallDeadlineError: the deadline
                passed); the message says how many pages and rows were read.
        """
        token: str | None = ""
        pages = rows = 0
        while token is not None:
            cancel.check(f"after {pages} pages of the export ({rows} rows read)")
            views, token, read = self._page(
                principal,
                subject=subject,
                category=category,
                limit=page,
                token=token,
                purpose=purpose,
            )
            pages, rows = pages + 1, rows + read
            yield from views

    def _servable(self, row: RecordRow) -> bool:
        return row.sd_jwt is not None and is_forwardable(row.status) and row.exp > self._clock()

    def _views(
        self,
        principal: Principal,
        *,
        recipient: Recipient,
        rows: Sequence[RecordRow],
        action: str,
        purpose: str,
        subject: str,
    ) -> list[RecordView]:
        plans: dict[tuple[str, str], SharePlan] = {}
        views: list[RecordView] = []
        denied: list[str] = []
        rules: set[str] = set()
        for row in rows:
            if not self._servable(row) or row.sd_jwt is None:
                continue
            plan = plans.get((row.category, row.subject_type))
            if plan is None:
                category = self._catalog.category(row.category)
                plan = decide(category, recipient, SubjectType(row.subject_type))
                plans[(row.category, row.subject_type)] = plan
            if not plan.shared:
                denied.append(f"{row.record_id}@{row.version}")
                rules.add(plan.rule)
                continue
            views.append(_view(row, redact_record(row.sd_jwt, plan)))
        allowed = event_by(
            principal,
            node=self._node_id,
            time=self._clock(),
            action=action,
            decision=Decision.ALLOWED,
            subject=subject,
            purpose=purpose,
            records=record_refs((v.record_id, v.version) for v in views),
            detail=f"{len(views)} returned",
        )
        self._audit(allowed)
        if denied:
            self._audit(
                replace(
                    allowed,
                    decision=Decision.DENIED,
                    rule="+".join(sorted(rules)),
                    records=tuple(denied),
                    detail=f"{len(denied)} withheld by policy",
                )
            )
        return views


def _view(row: RecordRow, redacted: str) -> RecordView:
    return RecordView(
        record_id=row.record_id,
        version=row.version,
        issuer=row.issuer,
        category=row.category,
        subject_type=row.subject_type,
        status=row.status,
        issued_at=row.iat,
        expires_at=row.exp,
        sd_jwt=redacted,
        fields=display_fields(redacted),
    )


def _require_purpose(purpose: str) -> None:
    if not purpose.strip():
        raise InputError("a purpose is required: say why the records are needed")
