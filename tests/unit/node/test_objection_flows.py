"""Objections across a federation: the issuer's rule suspends or flags everywhere; decisions return.

Four nodes (national, Zhejiang, Huzhou, Lishui) with real stores, keys and use
cases, wired by the in-memory peer client of :mod:`tests.support.harness`.
Huzhou's supplement suspends its black lists from filing (Huzhou 2018:
联合惩戒措施在信息核实期间暂不执行); Lishui has no supplement, so under its own
catalog a debtor listing is never suspended: the issuer's signed statement,
not the holder's catalog, decides what every holder does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.algorithms import Ed25519Signer
from gateway.core.audit import node_actor
from gateway.core.discipline import CheckDecision, CheckResult
from gateway.core.discipline_messages import OBJECTION_DECISION_KIND, ObjectionOutcome
from gateway.core.errors import AccessDeniedError, PeerError
from gateway.core.hop import build_hop_batch, sign_hop_batch
from gateway.core.messages import RoutedMessage, sign_message
from gateway.core.statements import StatusKind, StatusStatement, sign_statement
from gateway.node.peer_client import HopBatch
from gateway.pki import signing_kid
from gateway.store import AuditFilter, Store
from tests.support.discipline import (
    NODES,
    Federation,
    admin,
    debtor,
    discipline_federation,
    serious,
)
from tests.support.federation import Keystore
from tests.support.harness import keystore_for, migrated_template

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = NODES


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


def file(fed: Federation, node: str, record_id: str) -> str:
    objection_id, _issuer = fed[node].remedies.file_objection(
        admin(node), record_id=record_id, version=1, grounds="the judgment was performed"
    )
    fed.deliver()
    return objection_id


def decide(fed: Federation, issuer: str, objection_id: str, decision: str) -> str:
    decided = fed[issuer].remedies.decide_objection(
        admin(issuer), objection_id=objection_id, decision=decision, reason=f"{decision}ed"
    )
    fed.deliver()
    return decided.status


def actions(store: Store, action: str, decision: str = "") -> list[tuple[str, str, str]]:
    found = store.audit.events(AuditFilter(action=action, decision=decision), after=-1, limit=100)
    return [(e.event.actor, e.event.rule, e.event.detail) for e in found]


def flags(result: CheckResult) -> list[tuple[bool, bool, bool]]:
    return [(h.disputed, h.measures_suspended, h.intercepts) for h in result.hits]


# -- item 5: when measures pause, as the issuer's catalog says ---------------------------


def test_an_objection_at_a_peer_city_suspends_a_huzhou_debtor_listing_everywhere_from_filing(
    fed: Federation,
) -> None:
    record_id, subject = debtor(fed, HUZHOU, 1)
    assert fed.check(LISHUI, subject).decision is CheckDecision.INTERCEPT

    objection_id = file(fed, LISHUI, record_id)

    # No admin has decided anything yet: Huzhou signed the suspension on arrival.
    assert fed.objection(HUZHOU, objection_id).state == "filed"
    assert fed.status(record_id) == dict.fromkeys(NODES, "suspended")
    for node in NODES:
        result = fed.check(node, subject)
        assert result.decision is CheckDecision.DISPUTED, node
        assert flags(result) == [(True, True, False)], node
    [(actor, _rule, detail)] = actions(fed[HUZHOU].store, "status.suspension")
    assert actor == node_actor(HUZHOU)
    assert detail.endswith(f": objection {objection_id} filed at node {LISHUI}")


def test_an_on_acceptance_list_stays_in_force_flagged_until_the_issuer_accepts(
    fed: Federation,
) -> None:
    record_id, subject = serious(fed, NATIONAL, 2)  # national catalog: on_acceptance
    objection_id = file(fed, HUZHOU, record_id)

    assert fed.status(record_id) == dict.fromkeys(NODES, "disputed")
    # Huzhou's own catalog would suspend on filing: the issuer's rule governs.
    result = fed.check(HUZHOU, subject)
    assert (result.decision, flags(result)) == (CheckDecision.INTERCEPT, [(True, False, True)])

    assert decide(fed, NATIONAL, objection_id, "accept") == "suspended"

    assert fed.status(record_id) == dict.fromkeys(NODES, "suspended")
    assert fed.check(HUZHOU, subject).decision is CheckDecision.DISPUTED


def test_a_never_list_flags_the_objection_without_suspending_even_once_accepted(
    fed: Federation,
) -> None:
    record_id, subject = debtor(fed, NATIONAL, 3)  # national catalog: never, for debtors
    objection_id = file(fed, HUZHOU, record_id)

    assert fed.status(record_id) == dict.fromkeys(NODES, "disputed")
    assert decide(fed, NATIONAL, objection_id, "accept") == "disputed"
    assert fed.status(record_id) == dict.fromkeys(NODES, "disputed")
    for node in NODES:
        result = fed.check(node, subject)
        assert (result.decision, flags(result)) == (
            CheckDecision.INTERCEPT,
            [(True, False, True)],
        ), node
    assert actions(fed[NATIONAL].store, "status.suspension") == []


def test_the_record_follows_all_its_open_objections_and_is_reinstated_after_the_last(
    fed: Federation,
) -> None:
    record_id, subject = serious(fed, NATIONAL, 10)  # on_acceptance
    first = file(fed, HUZHOU, record_id)
    second = file(fed, LISHUI, record_id)
    assert fed.status(record_id) == dict.fromkeys(NODES, "disputed")

    assert decide(fed, NATIONAL, first, "accept") == "suspended"
    # Rejecting the other one leaves the accepted objection pending: still suspended.
    assert decide(fed, NATIONAL, second, "reject") == "suspended"
    assert fed.status(record_id) == dict.fromkeys(NODES, "suspended")
    assert fed.objection(LISHUI, second).state == "rejected"

    assert decide(fed, NATIONAL, first, "dismiss") == "active"
    assert fed.status(record_id) == dict.fromkeys(NODES, "active")
    assert fed.check(LISHUI, subject).decision is CheckDecision.INTERCEPT
    # One dispute at the first filing, one suspension, one reinstatement: nothing more.
    assert [
        len(actions(fed[NATIONAL].store, f"status.{k}"))
        for k in ("dispute", "suspension", "reinstatement")
    ] == [1, 1, 1]


# -- item 5: every decision goes back to the node where the objection was filed ----------


def test_every_decision_arrives_at_the_filing_node_and_shows_in_its_objection_list(
    fed: Federation,
) -> None:
    rejected = file(fed, LISHUI, debtor(fed, HUZHOU, 4)[0])
    dismissed = file(fed, LISHUI, debtor(fed, HUZHOU, 5)[0])
    record_id = debtor(fed, HUZHOU, 6)[0]
    upheld = file(fed, LISHUI, record_id)
    ids = {rejected, dismissed, upheld}

    def listed_at_lishui() -> dict[str, tuple[str, int | None, str | None]]:
        rows = fed[LISHUI].remedies.list_objections(
            admin(LISHUI), overdue=False, state="", record_id=""
        )
        return {
            r.objection_id: (r.state, r.decided_at, r.resolution)
            for r, _overdue in rows
            if r.objection_id in ids
        }

    assert listed_at_lishui() == dict.fromkeys(ids, ("filed", None, None))

    fed.fed.clock.advance(60)
    first = int(fed.fed.clock())
    assert decide(fed, HUZHOU, rejected, "reject") == "active"
    assert decide(fed, HUZHOU, dismissed, "accept") == "suspended"
    assert decide(fed, HUZHOU, upheld, "accept") == "suspended"
    assert listed_at_lishui() == {
        rejected: ("rejected", first, "rejected"),
        dismissed: ("accepted", first, "accepted"),
        upheld: ("accepted", first, "accepted"),
    }

    fed.fed.clock.advance(60)
    second = int(fed.fed.clock())
    assert decide(fed, HUZHOU, dismissed, "dismiss") == "active"
    assert decide(fed, HUZHOU, upheld, "uphold") == "revoked"
    assert listed_at_lishui() == {
        rejected: ("rejected", first, "rejected"),
        dismissed: ("dismissed", second, "dismissed"),
        upheld: ("upheld", second, "upholded"),
    }
    assert fed.status(record_id) == dict.fromkeys(NODES, "revoked")
    received = actions(fed[LISHUI].store, "discipline.objection.decision.receive", "allowed")
    assert [(actor, detail.split(": ")[1]) for actor, _rule, detail in received] == [
        (node_actor(HUZHOU), "reject -> rejected"),
        (node_actor(HUZHOU), "accept -> accepted"),
        (node_actor(HUZHOU), "accept -> accepted"),
        (node_actor(HUZHOU), "dismiss -> dismissed"),
        (node_actor(HUZHOU), "uphold -> upheld"),
    ]


def test_only_the_issuer_decides_an_objection_filed_elsewhere(fed: Federation) -> None:
    record_id = debtor(fed, HUZHOU, 7)[0]
    objection_id = file(fed, LISHUI, record_id)
    with pytest.raises(AccessDeniedError) as refused:
        fed[LISHUI].remedies.decide_objection(
            admin(LISHUI), objection_id=objection_id, decision="reject", reason="not ours"
        )
    assert str(refused.value) == (
        f"objection {objection_id} is to record {record_id} issued by node {HUZHOU}: "
        "only that node decides it"
    )
    assert refused.value.rule == "objection:issuer-only"
    assert fed.objection(LISHUI, objection_id).state == "filed"


# -- attacks -----------------------------------------------------------------------------


def _signer(fed: Federation, node: str) -> Ed25519Signer:
    creds = fed[node].harness.creds
    return Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)


def _hop(
    fed: Federation,
    sender: str,
    audience: str,
    *,
    statements: tuple[bytes, ...] = (),
    messages: tuple[bytes, ...] = (),
) -> HopBatch:
    """A hop batch signed with ``sender``'s own key, as its push worker would."""
    hop = build_hop_batch(
        sender=sender,
        audience=audience,
        batch_id=uuid.uuid4().hex,
        sent_at=int(fed.fed.clock()),
        items=[*statements, *messages],
    )
    envelope = sign_hop_batch(hop, _signer(fed, sender)).to_json()
    return HopBatch(envelope, statements=statements, messages=messages)


def _suspension(fed: Federation, record_id: str, *, issuer: str) -> StatusStatement:
    return StatusStatement(
        statement_id=uuid.uuid4().hex,
        kind=StatusKind.SUSPENSION,
        issuer=issuer,
        record_id=record_id,
        version=1,
        issued_at=int(fed.fed.clock()),
        reason="objection pending",
        new_version=None,
    )


def test_a_suspension_statement_signed_by_a_non_issuer_is_refused_and_audited(
    fed: Federation,
) -> None:
    record_id, subject = debtor(fed, HUZHOU, 8)
    # Zhejiang holds Huzhou's listing and passes it on, but did not issue it.
    own_name = _suspension(fed, record_id, issuer=ZHEJIANG)
    forged = sign_statement(own_name, _signer(fed, ZHEJIANG)).to_json()

    with pytest.raises(PeerError, match=r"^AccessDeniedError: ") as refused:
        fed[ZHEJIANG].harness.peers.push(
            LISHUI, _hop(fed, ZHEJIANG, LISHUI, statements=(forged,)), timeout_s=1
        )

    assert str(refused.value) == (
        f"AccessDeniedError: statement {own_name.statement_id} about record {record_id} v1 "
        f"is signed by node {ZHEJIANG}, not by the record's issuer {HUZHOU}"
    )
    [(actor, rule, _detail)] = actions(fed[LISHUI].store, "push.receive", "denied")
    assert (actor, rule) == (fed[ZHEJIANG].harness.principal.actor, "statement:issuer-only")

    # Naming the issuer does not help: the signature is not the issuer's.
    claimed = _suspension(fed, record_id, issuer=HUZHOU)
    impersonated = sign_statement(claimed, _signer(fed, ZHEJIANG)).to_json()
    zhejiang_key = _signer(fed, ZHEJIANG).key_id
    with pytest.raises(
        PeerError,
        match=rf"^SignatureError: no signature from a trusted key \(key ids: '{zhejiang_key}'\)$",
    ):
        fed[ZHEJIANG].harness.peers.push(
            LISHUI, _hop(fed, ZHEJIANG, LISHUI, statements=(impersonated,)), timeout_s=1
        )
    assert [rule for _a, rule, _d in actions(fed[LISHUI].store, "push.receive", "denied")] == [
        "statement:issuer-only",
        "SignatureError",
    ]
    assert fed[LISHUI].store.records.get(record_id, 1).status == "active"
    assert fed.check(LISHUI, subject).decision is CheckDecision.INTERCEPT


def test_a_forged_decision_not_signed_by_the_issuer_is_refused_at_the_filing_node_and_audited(
    fed: Federation,
) -> None:
    record_id = debtor(fed, HUZHOU, 9)[0]
    objection_id = file(fed, LISHUI, record_id)
    outcome = ObjectionOutcome(
        objection_id=objection_id,
        record_id=record_id,
        version=1,
        decision="reject",
        decided_at=int(fed.fed.clock()),
        decided_by="credit-admin",
        resolution="rejected",
        statement_id="",
    )
    # Zhejiang, on the route, sends a decision in its own (validly signed) name.
    province = fed[ZHEJIANG].harness
    message = province.store.writer.submit(
        lambda conn: province.federation.messages.send(
            conn, target=LISHUI, kind=OBJECTION_DECISION_KIND, body=outcome.to_body()
        )
    ).result()
    fed.deliver()

    assert fed.objection(LISHUI, objection_id).state == "filed"
    [(actor, rule, detail)] = actions(
        fed[LISHUI].store, "discipline.objection.decision.receive", "denied"
    )
    assert (actor, rule) == (node_actor(LISHUI), "message:issuer")
    assert detail == (
        f"message {message.message_id} from {ZHEJIANG}: decision on objection {objection_id} "
        f"comes from node {ZHEJIANG}, not from the record's issuer {HUZHOU}"
    )

    # Claiming Huzhou as origin does not help: the signature is not Huzhou's.
    claimed = RoutedMessage(
        message_id=uuid.uuid4().hex,
        origin=HUZHOU,
        target=LISHUI,
        kind=OBJECTION_DECISION_KIND,
        created_at=int(fed.fed.clock()),
        body=outcome.to_body(),
    )
    forged = sign_message(claimed, _signer(fed, ZHEJIANG)).to_json()
    zhejiang_key = _signer(fed, ZHEJIANG).key_id
    with pytest.raises(
        PeerError,
        match=rf"^SignatureError: no signature from a trusted key \(key ids: '{zhejiang_key}'\)$",
    ):
        province.peers.push(LISHUI, _hop(fed, ZHEJIANG, LISHUI, messages=(forged,)), timeout_s=1)
    [(_actor, rule, _detail)] = actions(fed[LISHUI].store, "push.receive", "denied")
    assert rule == "SignatureError"
    assert fed.objection(LISHUI, objection_id).state == "filed"
    assert fed.status(record_id) == dict.fromkeys(NODES, "suspended")
