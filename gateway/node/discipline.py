"""Discipline checks and feedback at one node (逢办必查, 发起-响应-反馈).

A department checks a subject at its own node: the node reads the notices it
holds about the subject and the credit records of the categories the catalog
says a check weighs (``check_reference``), keeps those the department may see,
each redacted for it (the sharing policy decides, failing closed), and
:func:`~gateway.core.discipline.decide_check` gives the answer. The check, its
hits and its audit event are stored in one transaction, and every hit that
bears on the answer (notices, and records the catalog weighs in the domain) is
reported to its issuer as a routed message in that same transaction, so the
issuer can list every check that found it. Records shown for reference only
are audited as read, not reported. The department's feedback on a hit travels
the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import structlog
from sqlalchemy import Connection

from gateway.core.audit import Decision, event_by, mark_audited
from gateway.core.catalog import Catalog, PersonRole, RecipientKind, Visibility
from gateway.core.discipline import (
    CheckDecision,
    CheckResult,
    Hit,
    HitTerms,
    NoticeFacts,
    decide_check,
    is_minor,
)
from gateway.core.discipline_messages import (
    FEEDBACK_KIND,
    FeedbackReport,
    HitReport,
)
from gateway.core.errors import (
    AccessDeniedError,
    ConfigurationError,
    InputError,
    NotFoundError,
)
from gateway.core.identifiers import SubjectType
from gateway.core.measures import MeasuresList
from gateway.core.policy import Recipient
from gateway.core.principal import Principal, Role
from gateway.core.remedies import FeedbackAction
from gateway.node.check_ledger import (
    CheckLedger,
    CheckWrite,
    DecidedCheck,
    HitReportTo,
    StoreCheckLedger,
)
from gateway.node.check_views import CheckViews
from gateway.node.discipline_inbox import DisciplineInbox
from gateway.node.hit_feedback import (
    MAX_FEEDBACK_PAGE,
    AwaitingFeedbackPage,
    HitsAndFeedback,
    after_hit,
    awaiting,
    feedback_row,
    hit_token,
)
from gateway.node.messages import MessageRouter
from gateway.node.metrics import NodeMetrics
from gateway.node.queries import display_subject, normalise_subject
from gateway.node.revocations import Revocations
from gateway.store import RecordRow, Store
from gateway.store.discipline import (
    CheckRow,
    DisciplineRepository,
    HitRow,
)
from gateway.store.record_rows import RecordKey

__all__ = ["MAX_REFERENCE_ROWS", "CheckOutcome", "DisciplineService"]

log = structlog.get_logger("gateway.discipline")

_PAGE = 500
_MAX_PURPOSE = 256
_MAX_NOTE = 2000
# Credit records read per weighed category and check: a subject with 50,000
# penalties must not take the node down (issue 14 item 5). More than this makes
# the answer at least REVIEW where the category is weighed (see decide_check).
MAX_REFERENCE_ROWS = 50


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    """A check as answered: its id, time, this node and the decision with its hits."""

    check_id: str
    checked_at: int
    node: str
    result: CheckResult


@dataclass(frozen=True, slots=True)
class _Asked:
    """A check as asked, its input checked: what deciding it needs."""

    principal: Principal
    now: int
    domain: str
    subject_type: SubjectType
    subject_key: str
    shown: str
    purpose: str
    case_id: str
    request_id: str


def _department_domain(principal: Principal, asked: str) -> str:
    if principal.role is not Role.DEPARTMENT or not principal.domain:
        raise AccessDeniedError(
            "only a department with a domain may check subjects", rule="check:department-only"
        )
    if asked and asked != principal.domain:
        raise AccessDeniedError(
            f"a department of domain {principal.domain} may not check for domain {asked}",
            rule="check:own-domain",
        )
    return principal.domain


def _reported(hit: Hit) -> bool:
    """Whether a hit bears on the answer: every notice, and records the catalog weighs here."""
    return not hit.reference or hit.outcome is not CheckDecision.CLEAR


class DisciplineService:
    """Checks, feedback and hit lists at one node; handles hit and feedback messages."""

    def __init__(
        self,
        *,
        node_id: str,
        catalog: Catalog,
        measures: MeasuresList,
        store: Store,
        router: MessageRouter | None,
        clock: Callable[[], int],
        revocations: Revocations,
        metrics: NodeMetrics | None = None,
        ledger: CheckLedger | None = None,
    ) -> None:
        """``ledger`` decides and commits checks (default: this store's writer, see
        :mod:`gateway.node.check_ledger`); a check frontend passes its channel to the node's,
        and no ``router``: it sends no message and holds no signing key. ``revocations``
        refuses a revoked caller's check: the RPC edge leaves this node's list to the check
        (:data:`gateway.app.access.CHECKED_AT_COMMIT`), which reads it in the transaction
        that commits the check, and before any refusal it audits."""
        self._metrics = metrics if metrics is not None else NodeMetrics()
        if ledger is None:
            if router is None:
                raise ConfigurationError("a discipline service without a ledger needs a router")
            ledger = StoreCheckLedger(store, router)
        self._ledger = ledger
        self._revocations = revocations
        self._node_id = node_id
        self._catalog = catalog
        self._views = CheckViews(catalog)
        self._measures = measures
        self._terms = HitTerms(measures)
        self._store = store
        self._repo = DisciplineRepository(store.engine)
        self._notice_categories = sorted(
            code for code, category in catalog.categories.items() if category.kind.is_list
        )
        self._reference_categories = sorted(
            code for code, category in catalog.categories.items() if category.check_reference
        )
        self._router = router
        self._clock = clock
        if router is not None:
            DisciplineInbox(node_id=node_id, store=store, repository=self._repo).register(router)

    @property
    def repository(self) -> DisciplineRepository:
        return self._repo

    # -- check -------------------------------------------------------------------------

    def check(
        self,
        principal: Principal,
        *,
        subject: str,
        domain: str,
        purpose: str,
        case_id: str,
        request_id: str = "",
    ) -> CheckOutcome:
        """Answer a department's check from this node's store, and audit it.

        With a ``request_id`` the check is stored and audited once per department and
        id: a retry (after a lost answer, at this replica or another over the same
        database) is answered again from the store as it is now, under the first
        check's id and time, and leaves no second row or audit event.

        Raises:
            InputError: no purpose, or an over-long purpose or case id (each refusal
                is audited).
            IdentifierError: the subject is neither a USCC nor a citizen number (audited).
            AccessDeniedError: not a department, or a domain other than its own; or the
                caller's certificate is revoked (``certificate:revoked``, read in the
                transaction that commits the check, and before any other refusal).
            StorageError: the database failed.
        """
        now = self._clock()
        try:
            domain = _department_domain(principal, domain)
        except AccessDeniedError:
            self._revocations.check(principal)  # a revoked caller is refused as revoked
            raise
        try:
            subject_type, subject_key = normalise_subject(subject)
            shown = display_subject(subject_type.value, subject_key)
        except InputError as exc:
            raise self._refuse_check(
                exc, principal, now, rule="check:invalid-subject", case_id=case_id, detail=str(exc)
            ) from None
        if not purpose.strip():
            raise self._refuse_check(
                InputError("a purpose is required: say why the subject is checked"),
                principal,
                now,
                rule="check:purpose-required",
                shown=shown,
                case_id=case_id,
            )
        if len(purpose) > _MAX_PURPOSE or len(case_id) > _MAX_PURPOSE or len(request_id) > 64:
            raise self._refuse_check(
                InputError(
                    f"purpose and case id may have at most {_MAX_PURPOSE} characters, "
                    "a request id 64"
                ),
                principal,
                now,
                rule="check:input-too-long",
                shown=shown,
            )
        asked = _Asked(
            principal, now, domain, subject_type, subject_key, shown, purpose, case_id, request_id
        )
        decided, first = self._ledger.answer(lambda conn: self._decide(asked, conn))
        result = decided.result
        if first is not None:
            log.info("check.retried", check=first.check_id, request_id=request_id)
            return CheckOutcome(first.check_id, first.checked_at, self._node_id, result)
        self._metrics.check_answered(result.decision.value, domain)
        return CheckOutcome(decided.write.check.check_id, now, self._node_id, result)

    def _decide(self, asked: _Asked, conn: Connection | None) -> DecidedCheck:
        """Decide ``asked`` from reads through ``conn``, as the ledger runs it: on the
        writer, in the transaction that commits it (the revocation read there sees a
        revocation committed since the call came in), or in a frontend with its own reads.

        Raises:
            AccessDeniedError: the caller's certificate is revoked (``certificate:revoked``).
            StorageError: the database failed.
        """
        principal, now, domain, shown = asked.principal, asked.now, asked.domain, asked.shown
        subject_type, subject_key = asked.subject_type, asked.subject_key
        purpose, case_id, request_id = asked.purpose, asked.case_id, asked.request_id
        self._revocations.check(principal, conn=conn)
        recipient = Recipient(RecipientKind.DEPARTMENT, domain=domain, role="department")
        rows, unread = self._rows_about(subject_key, conn)
        facts = [self._facts(row, recipient) for row in rows]
        if subject_type is SubjectType.NATURAL_PERSON:
            facts.extend(
                self._facts(row, recipient, person=role)
                for role, row in self._notices_naming(subject_key, conn)
            )
        result = decide_check(
            [f for f in facts if f is not None],
            domain=domain,
            catalog=self._catalog,
            measures=self._measures,
            now=now,
            minor=is_minor(subject_type, subject_key, now=now),
            unread=unread,
            terms=self._terms,
        )
        check_id = uuid.uuid4().hex
        check = CheckRow(
            check_id,
            now,
            principal.actor,
            domain,
            purpose,
            case_id,
            shown,
            result.decision.value,
            request_id,
        )
        hits = [
            HitRow(
                check_id=check_id,
                record_id=h.record_id,
                version=h.version,
                issuer=h.issuer,
                node=self._node_id,
                checked_at=now,
                actor=principal.actor,
                domain=domain,
                case_id=case_id,
                decision=result.decision.value,
                measures=",".join(m.code for m in h.measures),
                received_at=now,
            )
            for h in result.hits
            if _reported(h)
        ]

        reports = tuple(
            HitReportTo(
                hit.issuer,
                HitReport(
                    check_id=check_id,
                    record_id=hit.record_id,
                    version=hit.version,
                    checked_at=now,
                    department=principal.actor,
                    domain=domain,
                    purpose=purpose,
                    case_id=case_id,
                    decision=result.decision.value,
                    measures=tuple(m.code for m in hit.measures),
                ).to_body(),
            )
            for hit in result.hits
            # The issuer's list of hits is the table the check's hits go to:
            # a report to ourselves would store the same row again.
            if _reported(hit) and hit.issuer != self._node_id
        )
        event = event_by(
            principal,
            node=self._node_id,
            time=now,
            action="discipline.check",
            decision=Decision.ALLOWED,
            subject=shown,
            purpose=purpose,
            case_id=case_id,
            records=tuple(h.ref for h in result.hits),
            detail=_audit_detail(check_id, result),
        )
        return DecidedCheck(CheckWrite(check, tuple(hits), reports, event), result)

    def _refuse_check(
        self,
        error: InputError,
        principal: Principal,
        now: int,
        *,
        rule: str,
        shown: str = "",
        case_id: str = "",
        detail: str = "",
    ) -> InputError:
        """Audit a refused check and return ``error``, marked audited, for raising.

        Raises:
            AccessDeniedError: the caller's certificate is revoked (refused as such,
                as the RPC edge refuses it on every other call).
        """
        self._revocations.check(principal)
        # Audited here with the subject shown and the case id, richer than the RPC edge's event.
        event = event_by(
            principal,
            node=self._node_id,
            time=now,
            action="discipline.check",
            decision=Decision.DENIED,
            rule=rule,
            subject=shown,
            case_id=case_id[:_MAX_PURPOSE],
            detail=detail[:200],
        )
        self._ledger.audit(event)
        mark_audited(error)
        return error

    def _rows_about(
        self, subject_key: str, conn: Connection | None
    ) -> tuple[list[RecordRow], set[str]]:
        """Every notice about the subject, and at most MAX_REFERENCE_ROWS per weighed category.

        One statement, on the category index: a subject's thousands of penalties
        are never read here.

        Returns:
            The rows, and the weighed categories with more rows than were read.
        """
        found = self._store.records.about_subject(
            subject_key,
            every=self._notice_categories,
            first=self._reference_categories,
            limit=MAX_REFERENCE_ROWS + 1,
            conn=conn,
        )
        rows = found.every
        unread: set[str] = set()
        for category in self._reference_categories:
            page = found.first[category]
            if len(page) > MAX_REFERENCE_ROWS:
                unread.add(category)
                # Rows come by (record id, version): drop the record the page cut
                # through, or an older version of it would pass for the latest.
                cut = page[MAX_REFERENCE_ROWS].record_id
                page = [row for row in page[:MAX_REFERENCE_ROWS] if row.record_id != cut]
            rows.extend(page)
        return rows, unread

    def _notices_naming(
        self, person_key: str, conn: Connection | None
    ) -> Iterator[tuple[PersonRole, RecordRow]]:
        # The person index holds list entries only (only lists name people).
        after: RecordKey | None = None
        while True:
            page = self._store.records.list_by_person(
                person_key, limit=_PAGE, after=after, conn=conn
            )
            yield from page
            if len(page) < _PAGE:
                break
            after = page[-1][1].key

    def _facts(
        self, row: RecordRow, recipient: Recipient, *, person: PersonRole | None = None
    ) -> NoticeFacts | None:
        if row.sd_jwt is None or row.category not in self._catalog.categories:
            return None
        category = self._catalog.category(row.category)
        if not category.kind.is_list and not category.check_reference:
            return None
        subject_type = SubjectType(row.subject_type)
        plan = self._views.plan(row.category, recipient, subject_type)
        if not plan.shared:
            # Not the department's to see: a notice then carries no measure of its
            # domain either (the catalog and measures list are checked to fit at
            # load time), and a record is not weighed where it cannot be seen.
            return None
        if person is not None and not any(
            spec.person is person and plan.visibility(spec.code) is Visibility.CLEAR
            for spec in category.person_fields
        ):
            # The person's number is the key of measures this department does not
            # apply: it may not learn whom the listing names (fail closed).
            return None
        return NoticeFacts(
            record_id=row.record_id,
            version=row.version,
            category=row.category,
            issuer=row.issuer,
            status=row.status,
            exp=row.exp,
            # Redacted for the department: the answer shows, and is decided
            # from, only what its scope lets it see.
            fields=self._views.fields(
                row.record_id,
                row.version,
                row.sd_jwt,
                category=row.category,
                recipient=recipient,
                subject_type=subject_type,
            ),
            person=person,
            listed_subject=row.subject_key if person is not None else "",
        )

    # -- feedback ----------------------------------------------------------------------

    def feedback(
        self, principal: Principal, *, check_id: str, record_id: str, action: str, note: str
    ) -> tuple[str, str]:
        """Report what the department did about one hit of its own check.

        Returns:
            The feedback id and the issuer it travels to.

        Raises:
            InputError: unknown action, or an over-long note.
            NotFoundError: no such check here, or the check did not find that record.
            AccessDeniedError: the check was made by another client.
            ConfigurationError: this service sends no messages (a check frontend's).
        """
        router = self._router
        if router is None:
            raise ConfigurationError("feedback is sent from the node, not a check frontend")
        try:
            chosen = FeedbackAction(action)
        except ValueError:
            allowed = ", ".join(a.value for a in FeedbackAction)
            raise InputError(f"unknown feedback action {action!r} (one of: {allowed})") from None
        if len(note) > _MAX_NOTE:
            raise InputError(f"a feedback note may have at most {_MAX_NOTE} characters")
        check = self._repo.get_check(check_id)
        if check.actor != principal.actor:
            raise AccessDeniedError(
                f"check {check_id} was made by another client: only it may give feedback",
                rule="feedback:own-checks-only",
            )
        hit = next(
            (h for h in self._repo.hits_of_check(check_id) if h.record_id == record_id), None
        )
        if hit is None:
            raise NotFoundError(f"check {check_id} did not find record {record_id}")
        now = self._clock()
        report = FeedbackReport(
            feedback_id=uuid.uuid4().hex,
            check_id=check_id,
            record_id=record_id,
            version=hit.version,
            action=chosen.value,
            note=note,
            department=principal.actor,
            domain=hit.domain,
            case_id=hit.case_id,
            checked_at=hit.checked_at,
        )

        def job(conn: Connection) -> None:
            row = feedback_row(report, issuer=hit.issuer, node=self._node_id, at=now, got=now)
            self._repo.add_feedback([row], conn=conn)
            router.send(conn, target=hit.issuer, kind=FEEDBACK_KIND, body=report.to_body())
            event = event_by(
                principal,
                node=self._node_id,
                time=now,
                action="discipline.feedback",
                decision=Decision.ALLOWED,
                case_id=hit.case_id,
                records=(f"{record_id}@{hit.version}",),
                detail=f"check {check_id}: {chosen.value}",
            )
            self._store.audit.append([event], conn=conn)

        self._store.writer.submit(job).result()
        return report.feedback_id, hit.issuer

    def hits(self, principal: Principal, record_id: str) -> HitsAndFeedback:
        """Every check that found ``record_id`` and every feedback on it known here (audited)."""
        found = HitsAndFeedback(
            record_id, self._repo.hits_for(record_id), self._repo.feedback_for(record_id)
        )
        event = event_by(
            principal,
            node=self._node_id,
            time=self._clock(),
            action="discipline.hits",
            decision=Decision.ALLOWED,
            records=(record_id,),
            detail=f"{len(found.hits)} hits, {len(found.feedback)} feedback",
        )
        self._store.audit.append([event])
        return found

    def awaiting_feedback(
        self,
        principal: Principal,
        *,
        lifted_only: bool,
        department: str,
        limit: int = 0,
        page_token: str = "",
    ) -> AwaitingFeedbackPage:
        """A page of the hits of checks made here that wait for feedback, oldest first (audited).

        A hit waits until its department reports what it did; once the notice's
        measures end here (revoked, repaired, or past its signed ``exp`` at this
        node's clock), it waits again until the department reports ``lifted``
        (Huzhou 2018: 及时解除).

        Args:
            lifted_only: only hits whose notice's measures have ended.
            department: only this department client's checks (its actor, e.g.
                ``department:331100/procurement-office``); a department always sees
                only its own.
            limit: hits read for this page, at most :data:`MAX_FEEDBACK_PAGE`
                (0: that many).
            page_token: the previous page's ``next_page_token`` ("" for the first).

        Raises:
            AccessDeniedError: a department asking for another department's hits.
            InputError: a limit over the maximum, a token this node did not issue.
        """
        if limit > MAX_FEEDBACK_PAGE:
            raise InputError(f"limit {limit} is over the maximum page of {MAX_FEEDBACK_PAGE}")
        limit = limit or MAX_FEEDBACK_PAGE
        after = after_hit(page_token)
        now = self._clock()
        actor = department
        if principal.role is Role.DEPARTMENT:
            if department and department != principal.actor:
                raise AccessDeniedError(
                    "a department sees only the hits of its own checks",
                    rule="feedback:own-checks-only",
                )
            actor = principal.actor
        rows = self._repo.open_hits(node=self._node_id, actor=actor, limit=limit + 1, after=after)
        next_token = hit_token(rows[limit - 1].hit) if len(rows) > limit else ""
        found = [w for w in (awaiting(r, now) for r in rows[:limit]) if w is not None]
        if lifted_only:
            found = [w for w in found if w.lifted is not None]
        lifted = sum(1 for w in found if w.lifted is not None)
        event = event_by(
            principal,
            node=self._node_id,
            time=now,
            action="discipline.feedback.pending",
            decision=Decision.ALLOWED,
            records=tuple(f"{w.hit.record_id}@{w.hit.version}" for w in found[:50]),
            detail=f"{len(found)} hits awaiting feedback, {lifted} lifted"
            + (f", department {actor}" if actor else ""),
        )
        self._store.audit.append([event])
        return AwaitingFeedbackPage(found, next_token)


def _audit_detail(check_id: str, result: CheckResult) -> str:
    notices = sum(1 for h in result.hits if not h.reference)
    detail = (
        f"check {check_id}: {result.decision.value}, {notices} notices, "
        f"{len(result.hits) - notices} records"
    )
    if result.unread:
        detail += f", more records than read: {', '.join(result.unread)}"
    if result.minor:
        detail += ", minor (宽容审慎)"
    return detail
