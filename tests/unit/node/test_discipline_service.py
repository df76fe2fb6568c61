"""Discipline use cases at one (issuing) node, on a real store with a clock the test moves.

Messages to this node itself are handled at once, so the whole loop (check,
hit report, feedback, objection, decisions, repair) runs in-process here;
tests/integration/test_discipline.py runs it across a real federation.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.core.algorithms import Ed25519Signer
from gateway.core.discipline import CheckDecision
from gateway.core.errors import (
    AccessDeniedError,
    ConflictError,
    IdentifierError,
    InputError,
    NotFoundError,
    StorageError,
)
from gateway.core.principal import Principal, Role
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures
from gateway.node.discipline import DisciplineService
from gateway.node.intake import IntakeService, Submission
from gateway.node.messages import MessageRouter
from gateway.node.operator import Operator
from gateway.node.remedies import RemedyService
from gateway.node.revocations import Revocation, Revocations
from gateway.node.statuses import StatusService
from gateway.store import RevokedRow, Store, open_store
from gateway.store.audit import AuditFilter
from tests.support.records import company_code, notice_fields

NODE = "000000"
START = int(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC).timestamp())
DAY = 86_400

PROCUREMENT = Principal(Role.DEPARTMENT, NODE, "procurement-office", "procurement", "f" * 64)
OTHER_PROCUREMENT = Principal(Role.DEPARTMENT, NODE, "bid-office", "procurement", "e" * 64)
ADMIN = Principal(Role.ADMIN, NODE, "credit-admin", None, "a" * 64)


@dataclass
class Clock:
    now: int = START

    def __call__(self) -> int:
        return self.now


@dataclass
class Node:
    store: Store
    clock: Clock
    intake: IntakeService
    discipline: DisciplineService
    remedies: RemedyService

    def notice(self, i: int, *, decided: dt.date) -> str:
        (result,) = self.intake.submit(
            [Submission("1", "serious_dishonesty", notice_fields(i, decided=decided))], ADMIN
        )
        assert result.record_id, result.reason
        return result.record_id


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    store = open_store(f"sqlite:///{tmp_path / 'node.db'}")
    clock = Clock()
    signer = Ed25519Signer("k" * 16, Ed25519PrivateKey.generate())
    catalog = load_packaged_catalog(NODE)
    router = MessageRouter(
        node_id=NODE, signer=signer, store=store, clock=clock, wake_sender=lambda: None
    )
    statuses = StatusService(
        node_id=NODE, signer=signer, store=store, clock=clock, wake_sender=lambda: None
    )
    try:
        yield Node(
            store=store,
            clock=clock,
            intake=IntakeService(
                node_id=NODE, catalog=catalog, signer=signer, store=store, clock=clock
            ),
            discipline=DisciplineService(
                node_id=NODE,
                catalog=catalog,
                measures=load_packaged_measures(NODE),
                store=store,
                router=router,
                clock=clock,
                revocations=Revocations(store, node_id=NODE, directory=lambda: None, clock=clock),
            ),
            remedies=RemedyService(
                node_id=NODE,
                catalog=catalog,
                store=store,
                router=router,
                statuses=statuses,
                clock=clock,
            ),
        )
    finally:
        store.close()


def subject(i: int) -> str:
    return company_code(100_000 + i)


def today(node: Node) -> dt.date:
    return dt.datetime.fromtimestamp(node.clock.now, dt.UTC).date()


def decide(node: Node, objection_id: str, decision: str) -> str:
    return node.remedies.decide_objection(
        ADMIN, objection_id=objection_id, decision=decision, reason=f"{decision} on review"
    ).status


def test_the_whole_loop_at_the_issuer(node: Node) -> None:
    record_id = node.notice(1, decided=today(node) - dt.timedelta(days=20))
    outcome = node.discipline.check(
        PROCUREMENT, subject=subject(1), domain="", purpose="bid review", case_id="CG-1"
    )
    assert outcome.result.decision is CheckDecision.INTERCEPT
    # The issuer is this node: the check's own hit is its list, stored once, and no
    # hit report message is sent to itself.
    (hit,) = node.discipline.repository.hits_for(record_id)
    assert (hit.check_id, hit.measures, hit.node) == (outcome.check_id, "M-PROC-01", NODE)
    with node.store.engine.connect() as conn:
        kinds = conn.exec_driver_sql("SELECT kind FROM message").scalars().all()
    assert kinds == []

    feedback_id, issuer = node.discipline.feedback(
        PROCUREMENT,
        check_id=outcome.check_id,
        record_id=record_id,
        action="applied",
        note="bid refused",
    )
    assert issuer == NODE
    (stored,) = node.discipline.hits(ADMIN, record_id).feedback
    assert (stored.feedback_id, stored.action, stored.case_id) == (feedback_id, "applied", "CG-1")

    objection_id, _ = node.remedies.file_objection(
        ADMIN, record_id=record_id, version=0, grounds="already performed"
    )
    ((filed, overdue),) = node.remedies.list_objections(
        ADMIN, overdue=False, state="", record_id=""
    )
    assert (filed.objection_id, filed.state, overdue) == (objection_id, "filed", False)
    assert filed.deadline_at == START + 15 * DAY
    assert decide(node, objection_id, "accept") == "suspended"
    check = node.discipline.check(
        PROCUREMENT, subject=subject(1), domain="procurement", purpose="bid review", case_id=""
    )
    assert check.result.decision is CheckDecision.DISPUTED
    assert decide(node, objection_id, "dismiss") == "active"
    check = node.discipline.check(
        PROCUREMENT, subject=subject(1), domain="procurement", purpose="bid review", case_id=""
    )
    assert check.result.decision is CheckDecision.INTERCEPT

    actions = {e.event.action for e in node.store.audit.events(AuditFilter())}
    assert {
        "discipline.check",
        "discipline.feedback",
        "discipline.feedback.receive",
        "discipline.objection.file",
        "discipline.objection.receive",
        "status.suspension",
        "status.reinstatement",
        "discipline.objection.decide",
        "discipline.hits",
    } <= actions


def test_overdue_objections_are_listed_after_the_catalogs_deadline(node: Node) -> None:
    record_id = node.notice(2, decided=today(node) - dt.timedelta(days=20))
    late, _ = node.remedies.file_objection(ADMIN, record_id=record_id, version=0, grounds="a")
    node.clock.now += DAY
    decided, _ = node.remedies.file_objection(ADMIN, record_id=record_id, version=0, grounds="b")
    decide(node, decided, "reject")
    node.clock.now = START + 15 * DAY
    assert node.remedies.list_objections(ADMIN, overdue=True, state="", record_id="") == []
    node.clock.now += 1
    ((row, overdue),) = node.remedies.list_objections(ADMIN, overdue=True, state="", record_id="")
    assert (row.objection_id, overdue) == (late, True)
    assert node.remedies.list_objections(ADMIN, overdue=True, state="rejected", record_id="") == []
    with pytest.raises(InputError, match="unknown objection state 'late'"):
        node.remedies.list_objections(ADMIN, overdue=False, state="late", record_id="")


def test_upholding_revokes_and_decisions_follow_the_state_machine(node: Node) -> None:
    record_id = node.notice(3, decided=today(node) - dt.timedelta(days=20))
    objection_id, _ = node.remedies.file_objection(
        ADMIN, record_id=record_id, version=0, grounds="wrong company"
    )
    with pytest.raises(ConflictError, match="filed cannot be decided 'uphold'"):
        decide(node, objection_id, "uphold")
    decide(node, objection_id, "accept")
    assert decide(node, objection_id, "uphold") == "revoked"
    assert node.remedies.list_objections(ADMIN, overdue=False, state="upheld", record_id="")
    check = node.discipline.check(
        PROCUREMENT, subject=subject(3), domain="", purpose="bid review", case_id=""
    )
    assert check.result.decision is CheckDecision.CLEAR
    with pytest.raises(ConflictError, match="is revoked: there is nothing to object to"):
        node.remedies.file_objection(ADMIN, record_id=record_id, version=0, grounds="again")


def test_repair_waits_for_the_minimum_period_then_clears(node: Node) -> None:
    recent = node.notice(4, decided=today(node) - dt.timedelta(days=20))
    earliest = (today(node) - dt.timedelta(days=20)).replace(year=today(node).year + 1)
    with pytest.raises(AccessDeniedError, match=f"may be asked from {earliest.isoformat()}"):
        node.remedies.apply_repair(ADMIN, record_id=recent, version=0, reason="performed")
    old = node.notice(5, decided=today(node) - dt.timedelta(days=400))
    application = node.remedies.apply_repair(ADMIN, record_id=old, version=0, reason="performed")
    with pytest.raises(ConflictError, match="already has a pending repair application"):
        node.remedies.apply_repair(ADMIN, record_id=old, version=0, reason="again")
    decided = node.remedies.decide_repair(
        ADMIN, application_id=application.application_id, decision="approve", note=""
    )
    assert (decided.row.state, decided.status) == ("approved", "repaired")
    assert node.store.records.get(old).sd_jwt is None
    check = node.discipline.check(
        PROCUREMENT, subject=subject(5), domain="", purpose="bid review", case_id=""
    )
    assert check.result.decision is CheckDecision.CLEAR
    with pytest.raises(ConflictError, match="already approved"):
        node.remedies.decide_repair(
            ADMIN, application_id=application.application_id, decision="refuse", note="x"
        )


def test_a_decision_whose_statement_cannot_be_issued_is_put_back(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_id = node.notice(6, decided=today(node) - dt.timedelta(days=400))
    objection_id, _ = node.remedies.file_objection(
        ADMIN, record_id=record_id, version=0, grounds="already performed"
    )
    application = node.remedies.apply_repair(
        ADMIN, record_id=record_id, version=0, reason="performed"
    )

    def unavailable(*_args: object, **_kwargs: object) -> NoReturn:
        raise StorageError("storing the statement failed: disk full")

    monkeypatch.setattr(StatusService, "issue_for_procedure", unavailable)
    with pytest.raises(StorageError, match="disk full"):
        decide(node, objection_id, "accept")
    with pytest.raises(StorageError, match="disk full"):
        node.remedies.decide_repair(
            ADMIN, application_id=application.application_id, decision="approve", note=""
        )
    ((objection, _),) = node.remedies.list_objections(ADMIN, overdue=False, state="", record_id="")
    assert (objection.state, objection.decided_at, objection.statement_id) == ("filed", None, None)
    pending = node.discipline.repository.get_repair(application.application_id)
    assert (pending.state, pending.decided_by, pending.statement_id) == ("pending", None, None)
    # Still as the filing left it: disputed, its measures in force until acceptance.
    assert node.store.records.get(record_id).status == "disputed"

    # Nothing was half-decided: once statements can be issued, the same decisions go through.
    monkeypatch.undo()
    assert decide(node, objection_id, "accept") == "suspended"
    decided = node.remedies.decide_repair(
        ADMIN, application_id=application.application_id, decision="approve", note=""
    )
    assert (decided.row.state, decided.status) == ("approved", "repaired")
    assert decided.statement_id


def test_checks_are_refused_without_purpose_or_for_another_domain(node: Node) -> None:
    with pytest.raises(InputError, match="a purpose is required"):
        node.discipline.check(PROCUREMENT, subject=subject(1), domain="", purpose=" ", case_id="")
    with pytest.raises(IdentifierError, match="neither a unified social credit code"):
        node.discipline.check(
            PROCUREMENT, subject="91330502MA2B3C4D5X", domain="", purpose="p", case_id="C-9"
        )
    denied = [e.event for e in node.store.audit.events(AuditFilter(decision="denied"))]
    assert [(e.action, e.rule, e.case_id) for e in denied] == [
        ("discipline.check", "check:purpose-required", ""),
        ("discipline.check", "check:invalid-subject", "C-9"),
    ]
    with pytest.raises(
        AccessDeniedError, match="domain procurement may not check for domain travel"
    ):
        node.discipline.check(
            PROCUREMENT, subject=subject(1), domain="travel", purpose="p", case_id=""
        )
    with pytest.raises(AccessDeniedError, match="only a department with a domain may check"):
        node.discipline.check(ADMIN, subject=subject(1), domain="", purpose="p", case_id="")


def _checks_stored(node: Node) -> list[str]:
    with node.store.engine.connect() as conn:
        return list(conn.exec_driver_sql("SELECT check_id FROM discipline_check").scalars())


def test_a_revocation_committed_while_a_check_is_under_way_refuses_it(node: Node) -> None:
    """Issue 19 item 3 moved the check's revocation read from the RPC edge into the
    transaction that commits the check: a department revoked after its check came in,
    before the check committed, is refused as revoked, and nothing of the check is written
    (read at the edge, as before, the check was answered)."""
    node.notice(11, decided=today(node) - dt.timedelta(days=20))
    under_way = threading.Event()

    def revoke_once_the_check_is_under_way(conn: object) -> bool:
        assert under_way.wait(10)
        row = RevokedRow(PROCUREMENT.fingerprint, PROCUREMENT.actor, "laptop stolen", START, "ops")
        return node.store.revocations.add(row, conn=conn)  # type: ignore[arg-type]

    # The writer runs this first: the check's decision queues behind it.
    revoked = node.store.writer.submit(revoke_once_the_check_is_under_way)
    refused: list[AccessDeniedError] = []

    def check() -> None:
        under_way.set()
        try:
            node.discipline.check(
                PROCUREMENT, subject=subject(11), domain="", purpose="bid review", case_id="C-11"
            )
        except AccessDeniedError as exc:
            refused.append(exc)

    caller = threading.Thread(target=check)
    caller.start()
    caller.join(30)
    assert revoked.result(timeout=10) is True
    [error] = refused
    assert error.rule == "certificate:revoked"
    assert str(error) == (
        f"certificate {'f' * 16}… of {PROCUREMENT.actor} was revoked by node {NODE}: laptop stolen"
    )
    assert _checks_stored(node) == []
    # Audited once, at the RPC edge that maps the error (the interceptor's tests show it).
    assert [e.event.action for e in node.store.audit.events()] == ["intake.submit"]


def test_a_revoked_department_is_refused_as_revoked_before_any_other_refusal(node: Node) -> None:
    """The edge leaves the store's revocation list to the check: a revoked caller whose
    check would be refused for its input, or for its domain, is still refused as revoked,
    and no check refusal is audited for it (the edge audits the revoked call)."""
    revocations = Revocations(node.store, node_id=NODE, directory=lambda: None, clock=node.clock)
    revocations.revoke(
        Operator(user="ops", host="gw-1"),
        Revocation(PROCUREMENT.fingerprint, PROCUREMENT.actor, "left the office"),
    )
    asked = [
        {"subject": subject(1), "domain": "", "purpose": " ", "case_id": ""},
        {"subject": "91330502MA2B3C4D5X", "domain": "", "purpose": "p", "case_id": "C-9"},
        {"subject": subject(1), "domain": "", "purpose": "p" * 300, "case_id": ""},
        {"subject": subject(1), "domain": "travel", "purpose": "p", "case_id": ""},
        {"subject": subject(1), "domain": "", "purpose": "p", "case_id": ""},
    ]
    for kwargs in asked:
        with pytest.raises(AccessDeniedError) as caught:
            node.discipline.check(PROCUREMENT, **kwargs)
        assert caught.value.rule == "certificate:revoked"
    assert [e.event.action for e in node.store.audit.events()] == ["pki.revoke"]
    assert _checks_stored(node) == []


def test_feedback_only_on_own_checks_and_their_hits(node: Node) -> None:
    record_id = node.notice(6, decided=today(node) - dt.timedelta(days=20))
    outcome = node.discipline.check(
        PROCUREMENT, subject=subject(6), domain="", purpose="bid review", case_id=""
    )
    with pytest.raises(AccessDeniedError, match="was made by another client"):
        node.discipline.feedback(
            OTHER_PROCUREMENT,
            check_id=outcome.check_id,
            record_id=record_id,
            action="applied",
            note="",
        )
    with pytest.raises(NotFoundError, match="did not find record R0"):
        node.discipline.feedback(
            PROCUREMENT, check_id=outcome.check_id, record_id="R0", action="applied", note=""
        )
    with pytest.raises(InputError, match="unknown feedback action 'ignored'"):
        node.discipline.feedback(
            PROCUREMENT, check_id=outcome.check_id, record_id=record_id, action="ignored", note=""
        )


def test_a_retried_check_with_its_request_id_is_stored_and_audited_once(node: Node) -> None:
    def check(who: Principal, request_id: str) -> tuple[str, int]:
        outcome = node.discipline.check(
            who,
            subject=subject(1),
            domain="",
            purpose="tender 7",
            case_id="",
            request_id=request_id,
        )
        return outcome.check_id, outcome.checked_at

    first = check(PROCUREMENT, "req-1")
    node.clock.now += 5
    assert check(PROCUREMENT, "req-1") == first  # the retry: the first check's id and time
    other = check(OTHER_PROCUREMENT, "req-1")  # another department's id is its own
    fresh = [check(PROCUREMENT, ""), check(PROCUREMENT, "")]  # without an id, each is new
    assert len({first, other, *fresh}) == 4
    events = node.store.audit.events(AuditFilter(action="discipline.check"))
    assert sorted(e.event.detail.split(":")[0] for e in events) == sorted(
        f"check {check_id}" for check_id, _ in (first, other, *fresh)
    )
    with pytest.raises(InputError, match="a request id 64"):
        check(PROCUREMENT, "x" * 65)
