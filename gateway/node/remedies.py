"""Objections (异议) and credit repair (信用修复), decided at the record's issuer.

An objection may be filed at any node holding the record; it is kept there
and travels to the issuer as a routed message, stored there with its deadline
(the catalog's ``objection_deadline_days``). The issuer's catalog says when
measures pause (``objection_suspends``): on arrival the issuer signs a
suspension (measures paused from filing) or a dispute (measures in force,
flagged); accepting suspends a record whose measures pause from acceptance;
rejecting or dismissing the last open objection reinstates it; upholding
revokes it (or replaces it by a corrected version). Each statement reaches
every holder through the delivery ledger, and each decision travels back to
the node where the objection was filed, which keeps it for ``objection list``
once it checked the issuer signed it. A credit repair application is made
at the issuer, refused before the category's minimum period, and its approval
is a repair statement, which purges the record everywhere it went.

Decisions are compare-and-set on the stored state, claimed before the
statement is signed, so two admins deciding at once cannot issue two
statements; if signing fails, the claim is undone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from sqlalchemy import Connection

from gateway.core.audit import Decision, event_by, event_by_node
from gateway.core.catalog import Catalog, Severity
from gateway.core.discipline_messages import (
    OBJECTION_DECISION_KIND,
    OBJECTION_KIND,
    ObjectionFiling,
    ObjectionOutcome,
)
from gateway.core.errors import AccessDeniedError, ConflictError, GatewayError, InputError
from gateway.core.principal import Principal
from gateway.core.record_status import is_in_force
from gateway.core.records import CHINA_STANDARD_TIME
from gateway.core.remedies import (
    OPEN_OBJECTION_STATES,
    ObjectionDecision,
    ObjectionState,
    RepairDecision,
    RepairState,
    check_repair_time,
    decide_repair,
    decided_state,
    next_objection_state,
    objection_deadline,
    pending_status,
    status_statement,
    supersedes,
)
from gateway.core.sdjwt import parse_sd_jwt
from gateway.core.statements import STATUS_EFFECT, StatusKind
from gateway.node.messages import DeliveredMessage, MessageRouter
from gateway.node.statuses import StatusService
from gateway.store import RecordRow, Store
from gateway.store.discipline import DisciplineRepository, ObjectionRow, RepairRow

__all__ = ["Decided", "RemedyService"]

_MAX_TEXT = 2000
_Row = TypeVar("_Row", ObjectionRow, RepairRow)
_Decision = TypeVar("_Decision", ObjectionDecision, RepairDecision)


@dataclass(frozen=True, slots=True)
class Decided(Generic[_Row]):
    """The outcome of a decision: the stored row, the record's status, the statement."""

    row: _Row
    status: str
    statement_id: str


def _text(name: str, value: str) -> str:
    if not value.strip():
        raise InputError(f"{name} is required")
    if len(value) > _MAX_TEXT:
        raise InputError(f"{name} is {len(value)} characters, over {_MAX_TEXT}")
    return value


def _choice(kind: type[_Decision], value: str) -> _Decision:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(k.value for k in kind)
        raise InputError(f"unknown decision {value!r} (one of: {allowed})") from None


@dataclass(frozen=True, slots=True)
class _DecisionColumns:
    """The decision columns of an objection or a repair application."""

    state: str
    decided_at: int | None
    decided_by: str | None
    text: str | None
    statement_id: str | None = None


def _decide_with_statement(
    record: Callable[[str, _DecisionColumns], None],
    *,
    before: _DecisionColumns,
    after: _DecisionColumns,
    issue: Callable[[], str] | None,
) -> str:
    """Record a decision, then issue its statement, if any, and record the statement's id.

    ``record(expected_state, decision)`` is a compare-and-set on the row, so of two
    deciders only one gets past the first step. When issuing fails, the row goes back
    to ``before`` and the error is raised: no decision stands without its statement.

    Returns:
        The statement id, or ``""`` when the decision issues none (``issue`` may
        also find none is needed and return ``""``).
    """
    record(before.state, after)
    if issue is None:
        return ""
    try:
        statement_id = issue()
    except GatewayError:
        record(after.state, before)
        raise
    if statement_id:
        record(after.state, replace(after, statement_id=statement_id))
    return statement_id


class RemedyService:
    """Objections and credit repair at one node."""

    def __init__(
        self,
        *,
        node_id: str,
        catalog: Catalog,
        store: Store,
        router: MessageRouter,
        statuses: StatusService,
        clock: Callable[[], int],
    ) -> None:
        self._node_id = node_id
        self._catalog = catalog
        self._store = store
        self._repo = DisciplineRepository(store.engine)
        self._router = router
        self._statuses = statuses
        self._clock = clock
        router.register(OBJECTION_KIND, self._on_objection)
        router.register(OBJECTION_DECISION_KIND, self._on_decision)

    # -- objections --------------------------------------------------------------------

    def file_objection(
        self, principal: Principal, *, record_id: str, version: int, grounds: str
    ) -> tuple[str, str]:
        """File an objection here; it travels to the record's issuer.

        Returns:
            The objection id and the issuer.

        Raises:
            InputError: blank or over-long grounds.
            NotFoundError: the record is not held here.
            ConflictError: the record is no longer in force.
        """
        _text("grounds", grounds)
        row = self._store.records.get(record_id, version or None)
        if not is_in_force(row.status):
            raise ConflictError(
                f"record {record_id} is {row.status}: there is nothing to object to"
            )
        filing = ObjectionFiling(
            objection_id=uuid.uuid4().hex,
            record_id=row.record_id,
            version=row.version,
            grounds=grounds,
            filed_by=principal.actor,
        )
        now = self._clock()
        deadline = objection_deadline(now, self._catalog.category(row.category))

        def job(conn: Connection) -> None:
            if row.issuer != self._node_id:
                # Kept here too, so that the decisions coming back have a row to update.
                kept = ObjectionRow(
                    objection_id=filing.objection_id,
                    record_id=row.record_id,
                    version=row.version,
                    category=row.category,
                    node=self._node_id,
                    filed_by=filing.filed_by,
                    grounds=filing.grounds,
                    filed_at=now,
                    received_at=now,
                    deadline_at=deadline,
                    state=ObjectionState.FILED.value,
                )
                self._repo.add_objection(kept, conn=conn)
            self._router.send(conn, target=row.issuer, kind=OBJECTION_KIND, body=filing.to_body())
            event = event_by(
                principal,
                node=self._node_id,
                time=now,
                action="discipline.objection.file",
                decision=Decision.ALLOWED,
                records=(f"{row.record_id}@{row.version}",),
                detail=f"objection {filing.objection_id} to issuer {row.issuer}",
            )
            self._store.audit.append([event], conn=conn)

        self._store.writer.submit(job).result()
        return filing.objection_id, row.issuer

    def _on_objection(self, conn: Connection, delivered: DeliveredMessage) -> None:
        message = delivered.message
        try:
            filing = ObjectionFiling.from_body(message.body)
            row = self._store.records.get(filing.record_id, filing.version, conn=conn)
            if row.issuer != self._node_id:
                raise AccessDeniedError(
                    f"record {row.record_id} was issued by {row.issuer}", rule="message:issuer"
                )
            category = self._catalog.category(row.category)
        except GatewayError as exc:
            event = event_by_node(
                self._node_id,
                time=delivered.received_at,
                action="discipline.objection.receive",
                decision=Decision.DENIED,
                rule="message:refused",
                detail=f"message {message.message_id} from {message.origin}: {exc}",
            )
            self._store.audit.append([event], conn=conn)
            return
        stored = ObjectionRow(
            objection_id=filing.objection_id,
            record_id=filing.record_id,
            version=filing.version,
            category=row.category,
            node=message.origin,
            filed_by=filing.filed_by,
            grounds=filing.grounds,
            filed_at=message.created_at,
            received_at=delivered.received_at,
            deadline_at=objection_deadline(message.created_at, category),
            state=ObjectionState.FILED.value,
        )
        if not self._repo.add_objection(stored, conn=conn):
            return
        event = event_by_node(
            self._node_id,
            time=delivered.received_at,
            action="discipline.objection.receive",
            decision=Decision.ALLOWED,
            records=(f"{filing.record_id}@{filing.version}",),
            detail=f"objection {filing.objection_id} filed at {message.origin}",
        )
        self._store.audit.append([event], conn=conn)
        kind = self._pending_statement(conn, row)
        if kind is not None:
            self._statuses.issue_by_node(
                conn,
                kind=kind,
                record_id=row.record_id,
                version=row.version,
                reason=f"objection {filing.objection_id} filed at node {message.origin}",
            )

    def _pending_statement(self, conn: Connection | None, row: RecordRow) -> StatusKind | None:
        """The statement that gives ``row`` the status its open objections call for, if any."""
        states = self._repo.objection_states(row.record_id, row.version, conn=conn)
        open_states = [ObjectionState(s) for s in states if s in OPEN_OBJECTION_STATES]
        rule = self._catalog.category(row.category).objection_suspends
        return status_statement(row.status, pending_status(rule, open_states))

    def list_objections(
        self, principal: Principal, *, overdue: bool, state: str, record_id: str
    ) -> list[tuple[ObjectionRow, bool]]:
        """Objections held here, by deadline, each with whether it is overdue (audited).

        Raises:
            InputError: an unknown state.
        """
        now = self._clock()
        states: list[str] = []
        if state:
            try:
                states = [ObjectionState(state).value]
            except ValueError:
                allowed = ", ".join(s.value for s in ObjectionState)
                raise InputError(f"unknown objection state {state!r} (one of: {allowed})") from None
        if overdue:
            open_states = {s.value for s in OPEN_OBJECTION_STATES}
            states = [s for s in states if s in open_states] if states else sorted(open_states)
            if not states:
                return []
        rows = self._repo.list_objections(
            states=states, record_id=record_id, due_before=now if overdue else None
        )
        event = event_by(
            principal,
            node=self._node_id,
            time=now,
            action="discipline.objection.list",
            decision=Decision.ALLOWED,
            detail=f"{len(rows)} objections" + (" overdue" if overdue else ""),
        )
        self._store.audit.append([event])
        return [(r, r.state in OPEN_OBJECTION_STATES and r.deadline_at < now) for r in rows]

    def decide_objection(
        self,
        principal: Principal,
        *,
        objection_id: str,
        decision: str,
        reason: str,
        new_version: int = 0,
    ) -> Decided[ObjectionRow]:
        """Decide an objection to a record issued here; tell every holder and the filing node.

        Upholding revokes the record (or replaces it by ``new_version``); the other
        decisions issue the statement, if any, that gives the record the status its
        open objections call for under this node's catalog (:func:`pending_status`).
        The decision itself travels back to the node where the objection was filed.

        Raises:
            InputError: unknown decision, blank reason, or a new version for another decision.
            NotFoundError: no such objection here, or the corrected version is not issued.
            AccessDeniedError: the objection was filed here against another node's record:
                only that issuer decides it (rule ``objection:issuer-only``).
            ConflictError: the decision does not apply in the objection's state.
        """
        chosen = _choice(ObjectionDecision, decision)
        _text("reason", reason)
        if new_version and chosen is not ObjectionDecision.UPHOLD:
            raise InputError("a corrected version only goes with an upheld objection")
        objection = self._repo.get_objection(objection_id)
        issuer = self._store.records.get(objection.record_id, objection.version).issuer
        if issuer != self._node_id:
            raise AccessDeniedError(
                f"objection {objection_id} is to record {objection.record_id} issued by node "
                f"{issuer}: only that node decides it",
                rule="objection:issuer-only",
            )
        state = next_objection_state(ObjectionState(objection.state), chosen)
        if chosen is ObjectionDecision.UPHOLD and new_version:
            self._store.records.get(objection.record_id, new_version)
        now = self._clock()

        def record(expected: str, to: _DecisionColumns) -> None:
            self._repo.decide_objection(
                objection_id,
                expected_state=expected,
                state=to.state,
                decided_at=to.decided_at,
                decided_by=to.decided_by,
                resolution=to.text,
                statement_id=to.statement_id,
            )

        def issue() -> str:
            if chosen is ObjectionDecision.UPHOLD:
                kind: StatusKind | None = (
                    StatusKind.CORRECTION if new_version else StatusKind.REVOCATION
                )
            else:
                # The decision is recorded already: the open objections include it.
                row = self._store.records.get(objection.record_id, objection.version)
                kind = self._pending_statement(None, row)
            if kind is None:
                return ""
            return self._statuses.issue_for_procedure(
                principal,
                kind=kind,
                record_id=objection.record_id,
                version=objection.version,
                reason=reason,
                new_version=new_version or None,
            ).statement_id

        statement_id = _decide_with_statement(
            record,
            before=_DecisionColumns(
                objection.state,
                objection.decided_at,
                objection.decided_by,
                objection.resolution,
                objection.statement_id,
            ),
            after=_DecisionColumns(state.value, now, principal.actor, reason),
            issue=issue,
        )
        outcome = ObjectionOutcome(
            objection_id=objection_id,
            record_id=objection.record_id,
            version=objection.version,
            decision=chosen.value,
            decided_at=now,
            decided_by=principal.actor,
            resolution=reason,
            statement_id=statement_id,
        )

        def job(conn: Connection) -> None:
            if objection.node != self._node_id:
                self._router.send(
                    conn,
                    target=objection.node,
                    kind=OBJECTION_DECISION_KIND,
                    body=outcome.to_body(),
                )
            event = event_by(
                principal,
                node=self._node_id,
                time=now,
                action="discipline.objection.decide",
                decision=Decision.ALLOWED,
                records=(f"{objection.record_id}@{objection.version}",),
                detail=f"objection {objection_id}: {chosen.value} -> {state.value}",
            )
            self._store.audit.append([event], conn=conn)

        self._store.writer.submit(job).result()
        row = self._store.records.get(objection.record_id, objection.version)
        return Decided(self._repo.get_objection(objection_id), row.status, statement_id)

    def _on_decision(self, conn: Connection, delivered: DeliveredMessage) -> None:
        """A decision on an objection filed here: kept if the record's issuer sent it."""
        message = delivered.message
        try:
            outcome = ObjectionOutcome.from_body(message.body)
            kept = self._repo.get_objection(outcome.objection_id, conn=conn)
            if kept.node != self._node_id or (kept.record_id, kept.version) != (
                outcome.record_id,
                outcome.version,
            ):
                raise AccessDeniedError(
                    f"objection {outcome.objection_id} to {outcome.record_id}@{outcome.version} "
                    "was not filed here",
                    rule="message:not-filed-here",
                )
            issuer = self._store.records.get(kept.record_id, kept.version, conn=conn).issuer
            if message.origin != issuer:
                # Only the issuer decides: the message is signed by its origin, so a
                # decision signed by any other node is a forgery of the issuer's word.
                raise AccessDeniedError(
                    f"decision on objection {outcome.objection_id} comes from node "
                    f"{message.origin}, not from the record's issuer {issuer}",
                    rule="message:issuer",
                )
        except GatewayError as exc:
            event = event_by_node(
                self._node_id,
                time=delivered.received_at,
                action="discipline.objection.decision.receive",
                decision=Decision.DENIED,
                rule=exc.rule if isinstance(exc, AccessDeniedError) else "message:refused",
                detail=f"message {message.message_id} from {message.origin}: {exc}",
            )
            self._store.audit.append([event], conn=conn)
            return
        state = decided_state(ObjectionDecision(outcome.decision))
        if supersedes(state, ObjectionState(kept.state)):
            self._repo.decide_objection(
                kept.objection_id,
                expected_state=kept.state,
                state=state.value,
                decided_at=outcome.decided_at,
                decided_by=outcome.decided_by,
                resolution=outcome.resolution,
                statement_id=outcome.statement_id or None,
                conn=conn,
            )
        event = event_by_node(
            self._node_id,
            time=delivered.received_at,
            action="discipline.objection.decision.receive",
            decision=Decision.ALLOWED,
            actor_node=message.origin,
            records=(f"{kept.record_id}@{kept.version}",),
            detail=f"objection {kept.objection_id}: {outcome.decision} -> {state.value}",
        )
        self._store.audit.append([event], conn=conn)

    # -- credit repair -----------------------------------------------------------------

    def apply_repair(
        self, principal: Principal, *, record_id: str, version: int, reason: str
    ) -> RepairRow:
        """Accept a credit repair application for a record issued here.

        Raises:
            InputError: blank or over-long reason.
            NotFoundError: the record is not held here.
            AccessDeniedError: the record was issued elsewhere, has no credit repair,
                or the minimum period has not passed (naming the earliest date).
            ConflictError: the record is not in force, or an application is pending.
        """
        _text("reason", reason)
        row = self._store.records.get(record_id, version or None)
        if row.issuer != self._node_id:
            raise AccessDeniedError(
                f"record {record_id} was issued by node {row.issuer}: "
                "apply for credit repair there",
                rule="repair:issuer-only",
            )
        if not is_in_force(row.status):
            raise ConflictError(f"record {record_id} is {row.status}: nothing to repair")
        now = self._clock()
        category = self._catalog.category(row.category)
        decided, severity = self._decision_facts(row)
        today = dt.datetime.fromtimestamp(now, CHINA_STANDARD_TIME).date()
        check_repair_time(category, severity, decided, today)
        if self._repo.list_repairs(states=[RepairState.PENDING.value], record_id=record_id):
            raise ConflictError(f"record {record_id} already has a pending repair application")
        application = RepairRow(
            application_id=uuid.uuid4().hex,
            record_id=row.record_id,
            version=row.version,
            category=row.category,
            applied_by=principal.actor,
            reason=reason,
            applied_at=now,
            state=RepairState.PENDING.value,
        )

        def job(conn: Connection) -> None:
            self._repo.add_repair(application, conn=conn)
            event = event_by(
                principal,
                node=self._node_id,
                time=now,
                action="discipline.repair.apply",
                decision=Decision.ALLOWED,
                records=(f"{row.record_id}@{row.version}",),
                detail=f"application {application.application_id}",
            )
            self._store.audit.append([event], conn=conn)

        self._store.writer.submit(job).result()
        return application

    def _decision_facts(self, row: RecordRow) -> tuple[dt.date, Severity]:
        category = self._catalog.category(row.category)
        if row.sd_jwt is None:
            raise ConflictError(f"record {row.record_id} was purged: nothing to repair")
        values = {
            d.name: d.value
            for d in parse_sd_jwt(row.sd_jwt).disclosures
            if d.name is not None and isinstance(d.value, str)
        }
        try:
            decided = dt.date.fromisoformat(values[category.decision_date_field])
        except (KeyError, ValueError) as exc:
            raise ConflictError(
                f"record {row.record_id} has no readable {category.decision_date_field}"
            ) from exc
        severity = category.severity_of(values)
        return decided, severity

    def decide_repair(
        self, principal: Principal, *, application_id: str, decision: str, note: str
    ) -> Decided[RepairRow]:
        """Approve (a repair statement, purging the record everywhere) or refuse.

        Raises:
            InputError: unknown decision or over-long note.
            NotFoundError: no such application here.
            ConflictError: it was already decided.
        """
        chosen = _choice(RepairDecision, decision)
        if len(note) > _MAX_TEXT:
            raise InputError(f"note is {len(note)} characters, over {_MAX_TEXT}")
        application = self._repo.get_repair(application_id)
        state = decide_repair(RepairState(application.state), chosen)
        now = self._clock()
        reason = note.strip() or f"credit repair application {application_id} {state.value}"

        def record(expected: str, to: _DecisionColumns) -> None:
            self._repo.decide_repair(
                application_id,
                expected_state=expected,
                state=to.state,
                decided_at=to.decided_at,
                decided_by=to.decided_by,
                note=to.text,
                statement_id=to.statement_id,
            )

        def issue() -> str:
            return self._statuses.issue_for_procedure(
                principal,
                kind=StatusKind.REPAIR,
                record_id=application.record_id,
                version=application.version,
                reason=reason,
            ).statement_id

        statement_id = _decide_with_statement(
            record,
            before=_DecisionColumns(
                application.state,
                application.decided_at,
                application.decided_by,
                application.note,
                application.statement_id,
            ),
            after=_DecisionColumns(state.value, now, principal.actor, reason),
            issue=issue if state is RepairState.APPROVED else None,
        )
        event = event_by(
            principal,
            node=self._node_id,
            time=now,
            action="discipline.repair.decide",
            decision=Decision.ALLOWED,
            records=(f"{application.record_id}@{application.version}",),
            detail=f"application {application_id}: {state.value}",
        )
        self._store.audit.append([event])
        row = self._store.records.get(application.record_id, application.version)
        status = STATUS_EFFECT[StatusKind.REPAIR] if statement_id else row.status
        return Decided(self._repo.get_repair(application_id), status, statement_id)
