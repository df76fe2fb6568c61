"""Departments learn when a measure ends (及时解除): hits awaiting feedback, and lifted ones.

A procurement department at Lishui intercepts four subjects listed by a Huzhou
court. Once it reported what it did, its hits wait for nothing, until the
notice is revoked, repaired or expires at Lishui: then the hit is lifted and
waits for the department's ``lifted`` feedback. Expiry is Lishui's own, from
the signed ``exp`` at its clock: no message announces it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.discipline import CheckDecision
from gateway.core.errors import AccessDeniedError, InputError
from gateway.core.statements import StatusKind
from gateway.node.hit_feedback import AwaitingFeedback, AwaitingFeedbackPage
from gateway.store import AuditFilter
from tests.support.discipline import (
    NODES,
    Federation,
    admin,
    court,
    debtor_with,
    discipline_federation,
)
from tests.support.federation import Keystore
from tests.support.harness import department, keystore_for, migrated_template
from tests.support.records import debtor_fields

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = NODES
PROCUREMENT = department(LISHUI)
OTHER = department(LISHUI, "tender-office")


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), NODES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def fed(tmp_path: Path, keystore: Keystore, template: Path) -> Iterator[Federation]:
    with discipline_federation(tmp_path, keystore, template) as federation:
        yield federation


def pending(
    fed: Federation, *, lifted_only: bool = False
) -> dict[str, tuple[str | None, int, bool]]:
    """record id -> (why lifted, since when, answered), as the procurement department sees it."""
    found = (
        fed[LISHUI]
        .discipline.awaiting_feedback(PROCUREMENT, lifted_only=lifted_only, department="")
        .hits
    )
    return {w.hit.record_id: (w.lifted, w.lifted_at, w.answered) for w in found}


def intercept(fed: Federation, subject: str) -> str:
    outcome = fed[LISHUI].discipline.check(
        PROCUREMENT, subject=subject, domain="", purpose="bid review", case_id="ZB-7"
    )
    assert outcome.result.decision is CheckDecision.INTERCEPT
    return outcome.check_id


def test_a_department_sees_its_hits_lifted_after_revocation_repair_and_expiry_and_not_before(
    fed: Federation,
) -> None:
    today = fed.today
    revoked, s1 = debtor_with(
        fed, HUZHOU, 21, debtor_fields(21, decided=today - dt.timedelta(days=20))
    )
    # Repair of a serious listing may be asked 12 months after the decision.
    repaired, s2 = debtor_with(
        fed, HUZHOU, 22, debtor_fields(22, decided=today - dt.timedelta(days=400))
    )
    expiring_fields = {
        **debtor_fields(23, decided=today - dt.timedelta(days=20)),
        "LB_YXQZ": (today + dt.timedelta(days=10)).isoformat(),
    }
    expiring, s3 = debtor_with(fed, HUZHOU, 23, expiring_fields)
    kept, s4 = debtor_with(
        fed, HUZHOU, 24, debtor_fields(24, decided=today - dt.timedelta(days=20))
    )
    checks = {
        rid: intercept(fed, s)
        for rid, s in ((revoked, s1), (repaired, s2), (expiring, s3), (kept, s4))
    }

    # Hits still waiting for feedback are listed...
    assert pending(fed) == dict.fromkeys(checks, (None, 0, False))
    for record_id, check_id in checks.items():
        fed[LISHUI].discipline.feedback(
            PROCUREMENT,
            check_id=check_id,
            record_id=record_id,
            action="applied",
            note="bid refused",
        )
    # ...until the department reported what it did.
    assert pending(fed) == {}

    # Revoked at Huzhou: lifted at Lishui once the revocation arrived there, not before.
    fed[HUZHOU].harness.federation.statuses.issue(
        court(HUZHOU), kind=StatusKind.REVOCATION, record_id=revoked, version=1, reason="执行完毕"
    )
    assert pending(fed, lifted_only=True) == {}
    fed.deliver()
    revoked_at = fed[LISHUI].store.records.get(revoked, 1).status_changed_at
    assert pending(fed, lifted_only=True) == {revoked: ("revoked", revoked_at, True)}

    # Repaired (信用修复) at Huzhou: the same.
    application = fed[HUZHOU].remedies.apply_repair(
        admin(HUZHOU), record_id=repaired, version=0, reason="已履行全部义务"
    )
    fed[HUZHOU].remedies.decide_repair(
        admin(HUZHOU), application_id=application.application_id, decision="approve", note=""
    )
    assert set(pending(fed, lifted_only=True)) == {revoked}
    fed.deliver()
    repaired_at = fed[LISHUI].store.records.get(repaired, 1).status_changed_at
    assert pending(fed, lifted_only=True) == {
        revoked: ("revoked", revoked_at, True),
        repaired: ("repaired", repaired_at, True),
    }

    # Expiry: Lishui's clock passing the signed exp, with no message and no sweeper.
    exp = fed[LISHUI].store.records.get(expiring, 1).exp
    fed.fed.clock.now = exp - 1
    assert set(pending(fed, lifted_only=True)) == {revoked, repaired}
    fed.fed.clock.now = exp
    assert pending(fed) == {
        revoked: ("revoked", revoked_at, True),
        repaired: ("repaired", repaired_at, True),
        expiring: ("expired", exp, True),
    }

    # The department lifts its measure and says so through the Feedback call: done.
    fed[LISHUI].discipline.feedback(
        PROCUREMENT,
        check_id=checks[revoked],
        record_id=revoked,
        action="lifted",
        note="恢复投标资格",
    )
    assert set(pending(fed)) == {repaired, expiring}
    assert kept not in pending(fed)

    events = fed[LISHUI].store.audit.events(
        AuditFilter(action="discipline.feedback.pending"), after=-1, limit=100
    )
    assert {e.event.actor for e in events} == {PROCUREMENT.actor}
    assert events[-1].event.detail == (
        f"2 hits awaiting feedback, 2 lifted, department {PROCUREMENT.actor}"
    )


def test_a_department_sees_only_its_own_hits_and_the_admin_sees_each_departments(
    fed: Federation,
) -> None:
    record_id, subject = debtor_with(
        fed, HUZHOU, 25, debtor_fields(25, decided=fed.today - dt.timedelta(days=20))
    )
    check_id = intercept(fed, subject)

    assert fed[LISHUI].discipline.awaiting_feedback(
        OTHER, lifted_only=False, department=""
    ) == AwaitingFeedbackPage([], "")
    with pytest.raises(
        AccessDeniedError, match=r"^a department sees only the hits of its own checks$"
    ):
        fed[LISHUI].discipline.awaiting_feedback(
            OTHER, lifted_only=False, department=PROCUREMENT.actor
        )
    seen = (
        fed[LISHUI]
        .discipline.awaiting_feedback(
            admin(LISHUI), lifted_only=False, department=PROCUREMENT.actor
        )
        .hits
    )
    assert [(w.hit.check_id, w.hit.record_id, w.hit.actor, w.status) for w in seen] == [
        (check_id, record_id, PROCUREMENT.actor, "active")
    ]
    assert isinstance(seen[0], AwaitingFeedback)
    # The issuer's own list of hits reported from Lishui is not Huzhou's to follow up.
    assert fed[HUZHOU].discipline.awaiting_feedback(
        admin(HUZHOU), lifted_only=False, department=""
    ) == AwaitingFeedbackPage([], "")


def test_pending_feedback_pages_walk_every_waiting_hit_exactly_once_in_order(
    fed: Federation,
) -> None:
    decided = fed.today - dt.timedelta(days=20)
    listed = [
        debtor_with(fed, HUZHOU, 30 + i, debtor_fields(30 + i, decided=decided)) for i in range(6)
    ]
    checks = {record_id: intercept(fed, subject) for record_id, subject in listed}
    whole = fed[LISHUI].discipline.awaiting_feedback(PROCUREMENT, lifted_only=False, department="")
    assert whole.next_page_token == ""
    order = [w.hit.record_id for w in whole.hits]
    assert sorted(order) == sorted(checks)
    # Two hits in the middle are answered: their pages show fewer than they read.
    answered = order[1:3]
    for record_id in answered:
        fed[LISHUI].discipline.feedback(
            PROCUREMENT,
            check_id=checks[record_id],
            record_id=record_id,
            action="applied",
            note="bid refused",
        )

    pages: list[list[str]] = []
    tokens: list[str] = []
    token = ""
    for _ in range(len(checks) + 1):
        page = fed[LISHUI].discipline.awaiting_feedback(
            PROCUREMENT, lifted_only=False, department="", limit=2, page_token=token
        )
        pages.append([w.hit.record_id for w in page.hits])
        token = page.next_page_token
        tokens.append(token)
        if not token:
            break

    assert pages == [[order[0]], [order[3]], [order[4], order[5]]]
    first, second = (w.hit for w in whole.hits[1:4:2])
    assert tokens == [
        f"h:{first.checked_at}:{first.check_id}:{first.record_id}",
        f"h:{second.checked_at}:{second.check_id}:{second.record_id}",
        "",
    ]
    walked = [record_id for page_ids in pages for record_id in page_ids]
    assert walked == [r for r in order if r not in answered]
    # Every page read is audited, as the unpaged list was.
    events = fed[LISHUI].store.audit.events(
        AuditFilter(action="discipline.feedback.pending"), after=-1, limit=100
    )
    assert [e.event.detail for e in events[-3:]] == [
        f"{n} hits awaiting feedback, 0 lifted, department {PROCUREMENT.actor}" for n in (1, 1, 2)
    ]


def test_pending_feedback_refuses_a_foreign_token_and_an_oversized_page(fed: Federation) -> None:
    discipline = fed[LISHUI].discipline
    with pytest.raises(InputError, match=r"^page_token is not one this node issued$"):
        discipline.awaiting_feedback(
            PROCUREMENT, lifted_only=False, department="", page_token="k:abc:1"
        )
    with pytest.raises(InputError, match=r"^limit 1001 is over the maximum page of 1000$"):
        discipline.awaiting_feedback(PROCUREMENT, lifted_only=False, department="", limit=1001)
