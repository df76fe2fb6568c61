"""一处失信、处处受限: list entries reach every node, records still go up only.

An in-process federation of national, two provinces and four cities (the
harness: real stores, keys, signatures and use cases, an injected clock). A
失信被执行人 listing filed by the Huzhou court goes up to national and down every
branch, Zhejiang's included; each node stores it once; its status statements
follow it to every holder and each hop confirms; it expires everywhere from
the signed ``exp`` alone. tests/integration/test_list_propagation.py runs the
same listing through real processes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from gateway.core.algorithms import Ed25519Signer
from gateway.core.discipline import CheckDecision
from gateway.core.errors import NotFoundError, PeerError
from gateway.core.hop import build_hop_batch, sign_hop_batch
from gateway.core.principal import Principal, Role
from gateway.core.statements import STATUS_EFFECT, StatusKind
from gateway.node.catalog_files import load_packaged_catalog, load_packaged_measures
from gateway.node.config import FederationSettings
from gateway.node.discipline import DisciplineService
from gateway.node.intake import IntakeOutcome, Submission
from gateway.node.peer_client import HopBatch
from gateway.node.revocations import Revocations
from gateway.pki import signing_kid
from gateway.store import AuditFilter, Store
from gateway.store.tables import OUTBOX
from tests.support.federation import Keystore
from tests.support.harness import (
    HarnessNode,
    InProcessFederation,
    department,
    keystore_for,
    migrated_template,
)
from tests.support.records import company_code, debtor_fields, penalty_fields

NATIONAL = "000000"
ZHEJIANG, HUZHOU, LISHUI = "330000", "330500", "331100"
HUNAN, CHANGSHA, ZHUZHOU = "430000", "430100", "430200"
NODES = (NATIONAL, ZHEJIANG, HUNAN, HUZHOU, LISHUI, CHANGSHA, ZHUZHOU)
# Every hop a listing filed at Huzhou takes, and nothing else: Zhejiang sends it
# up and to Lishui, never back to Huzhou; national sends it to Hunan, never back
# to Zhejiang.
HUZHOU_LISTING_HOPS = {
    (HUZHOU, ZHEJIANG),
    (ZHEJIANG, NATIONAL),
    (ZHEJIANG, LISHUI),
    (NATIONAL, HUNAN),
    (HUNAN, CHANGSHA),
    (HUNAN, ZHUZHOU),
}
FAST = FederationSettings(initial_backoff_ms=1, max_backoff_ms=2, lease_s=5)
DAY = 86_400


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), NODES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def fed(tmp_path: Path, keystore: Keystore, template: Path) -> Iterator[InProcessFederation]:
    federation = InProcessFederation.build(
        tmp_path, keystore, NODES, settings=FAST, template=template
    )
    try:
        yield federation
    finally:
        federation.close()


def court(node: str) -> Principal:
    """The court department of ``node``: 失信被执行人 are filed by courts (谁产生、谁负责)."""
    return Principal(Role.DEPARTMENT, node, "intermediate-court", "court", "c" * 64, "in-process")


def decided(fed: InProcessFederation) -> dt.date:
    """A decision date 20 days before the federation's clock."""
    return dt.datetime.fromtimestamp(fed.clock(), dt.UTC).date() - dt.timedelta(days=20)


def file_listing(fed: InProcessFederation, node: str, i: int) -> str:
    """The court of ``node`` files 失信被执行人 listing ``i``; returns its record id."""
    [result] = fed[node].submit(
        [Submission(str(i), "dishonest_debtor", debtor_fields(i, decided=decided(fed)))],
        court(node),
    )
    assert result.outcome is IntakeOutcome.ACCEPTED, result.reason
    return result.record_id


def hops(fed: InProcessFederation, record_id: str, kind: str = "record") -> set[tuple[str, str]]:
    """(sender, recipient) of every outbox row of ``kind`` for ``record_id``, federation-wide."""
    query = select(OUTBOX.c.recipient, OUTBOX.c.kind).where(OUTBOX.c.record_id == record_id)
    found: set[tuple[str, str]] = set()
    for node in NODES:
        with fed[node].store.engine.connect() as conn:
            rows = [(r.recipient, r.kind) for r in conn.execute(query)]
        found |= {(node, recipient) for recipient, row_kind in rows if row_kind == kind}
    return found


def events(store: Store, action: str, decision: str = "") -> list[tuple[str, str, str]]:
    """(actor, rule, detail) of the audit events of ``action``."""
    found = store.audit.events(AuditFilter(action=action, decision=decision), after=-1, limit=100)
    return [(e.event.actor, e.event.rule, e.event.detail) for e in found]


def checker(fed: InProcessFederation, node: HarnessNode) -> DisciplineService:
    """The node's 逢办必查 use case over its own store (as the composition root builds it)."""
    return DisciplineService(
        node_id=node.node_id,
        catalog=load_packaged_catalog(node.node_id),
        measures=load_packaged_measures(node.node_id),
        store=node.store,
        router=node.federation.messages,
        clock=lambda: int(fed.clock()),
        revocations=Revocations(
            node.store, node_id=node.node_id, directory=lambda: None, clock=lambda: int(fed.clock())
        ),
    )


def procurement_check(fed: InProcessFederation, node: str, i: int) -> CheckDecision:
    outcome = checker(fed, fed[node]).check(
        department(node),
        subject=company_code(100_000 + i),
        domain="procurement",
        purpose="政府采购供应商资格审查",
        case_id=f"case-{node}-{i}",
    )
    return outcome.result.decision


def test_a_city_court_listing_reaches_every_node_once_down_every_branch(
    fed: InProcessFederation,
) -> None:
    record_id = file_listing(fed, HUZHOU, 1)
    assert procurement_check(fed, CHANGSHA, 1) is CheckDecision.CLEAR

    # Huzhou -> Zhejiang; Zhejiang -> national and Lishui; national -> Hunan -> both its cities.
    assert fed.deliver() == 3

    assert hops(fed, record_id) == HUZHOU_LISTING_HOPS
    expected_origin = {recipient: sender for sender, recipient in HUZHOU_LISTING_HOPS}
    for node in NODES:
        row = fed[node].store.records.get(record_id, 1)
        # Every hop verified the Huzhou court's listing against Huzhou's signing key.
        assert (row.issuer, row.origin, row.status) == (
            HUZHOU,
            expected_origin.get(node, "local"),
            "active",
        ), node
        assert row.sd_jwt is not None
        received = events(fed[node].store, "push.receive", "allowed")
        assert len(received) == (0 if node == HUZHOU else 1), node
    for node in (HUZHOU, LISHUI, CHANGSHA, ZHUZHOU):
        assert procurement_check(fed, node, 1) is CheckDecision.INTERCEPT, node
    # Each ledger names the neighbours this node delivered to, once.
    ledgers = {
        node: sorted(h.node for h in fed[node].store.outbox.holders(record_id)) for node in NODES
    }
    assert ledgers == {
        NATIONAL: [HUNAN],
        ZHEJIANG: [NATIONAL, LISHUI],
        HUNAN: [CHANGSHA, ZHUZHOU],
        HUZHOU: [ZHEJIANG],
        LISHUI: [],
        CHANGSHA: [],
        ZHUZHOU: [],
    }


def signed_hop(
    fed: InProcessFederation, sender: str, audience: str, records: list[str]
) -> HopBatch:
    """A hop batch of ``records`` signed with ``sender``'s own key, as its push worker would."""
    creds = fed[sender].creds
    signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)
    hop = build_hop_batch(
        sender=sender,
        audience=audience,
        batch_id=uuid.uuid4().hex,
        sent_at=int(fed.clock()),
        items=records,
    )
    return HopBatch(sign_hop_batch(hop, signer).to_json(), tuple(records))


def held(fed: InProcessFederation, node: str, record_id: str) -> str:
    """The SD-JWT of ``record_id`` v1 exactly as ``node`` received it."""
    sd_jwt = fed[node].store.records.get(record_id, 1).sd_jwt
    assert sd_jwt is not None
    return sd_jwt


def test_a_listing_arriving_again_is_stored_once_and_never_forwarded_twice(
    fed: InProcessFederation,
) -> None:
    record_id = file_listing(fed, HUZHOU, 2)
    fed.deliver()

    # The same version pushed again, in a new batch (as after a lost acknowledgement).
    batch = signed_hop(fed, HUZHOU, ZHEJIANG, [held(fed, ZHEJIANG, record_id)])
    fed[HUZHOU].peers.push(ZHEJIANG, batch, timeout_s=1)

    details = [detail for _actor, _rule, detail in events(fed[ZHEJIANG].store, "push.receive")]
    assert [d.split(": ", 1)[1] for d in details] == ["1 records, 0 statements"] * 2
    # Stored once, so it goes no further: nothing new to send anywhere.
    assert fed.deliver() == 0
    assert hops(fed, record_id) == HUZHOU_LISTING_HOPS
    for node in (NATIONAL, LISHUI, HUNAN, CHANGSHA, ZHUZHOU):
        assert len(events(fed[node].store, "push.receive", "allowed")) == 1, node


def test_a_listing_filed_at_a_province_goes_up_and_down_every_branch(
    fed: InProcessFederation,
) -> None:
    record_id = file_listing(fed, HUNAN, 3)

    # Round 1: Hunan -> national and both its cities; round 2: national -> Zhejiang -> its cities.
    assert fed.deliver() == 2

    assert hops(fed, record_id) == {
        (HUNAN, NATIONAL),
        (HUNAN, CHANGSHA),
        (HUNAN, ZHUZHOU),
        (NATIONAL, ZHEJIANG),
        (ZHEJIANG, HUZHOU),
        (ZHEJIANG, LISHUI),
    }
    for node in (HUZHOU, LISHUI, CHANGSHA, ZHUZHOU):
        assert fed[node].store.records.get(record_id, 1).issuer == HUNAN
        assert procurement_check(fed, node, 3) is CheckDecision.INTERCEPT, node


def test_records_still_go_up_only(fed: InProcessFederation) -> None:
    day = decided(fed)
    [city, province] = [
        fed[node].submit([Submission(str(i), "admin_penalty", penalty_fields(i, decided=day))])[0]
        for node, i in ((HUZHOU, 4), (ZHEJIANG, 5))
    ]

    fed.deliver()

    assert hops(fed, city.record_id) == {(HUZHOU, ZHEJIANG), (ZHEJIANG, NATIONAL)}
    assert hops(fed, province.record_id) == {(ZHEJIANG, NATIONAL)}
    for node in (LISHUI, HUNAN, CHANGSHA, ZHUZHOU):
        for record_id in (city.record_id, province.record_id):
            with pytest.raises(NotFoundError):
                fed[node].store.records.get(record_id, 1)


@pytest.mark.parametrize("kind", list(StatusKind))
def test_a_status_statement_follows_the_listing_to_every_holder_and_each_hop_confirms(
    fed: InProcessFederation, kind: StatusKind
) -> None:
    record_id = file_listing(fed, HUZHOU, 6)
    fed.deliver()
    new_version = None
    if kind is StatusKind.CORRECTION:
        # A correction names the corrected version, resubmitted by the court first.
        fields = {**debtor_fields(6, decided=decided(fed)), "LB_SXQX": "违反财产报告制度"}
        [result] = fed[HUZHOU].submit([Submission("6", "dishonest_debtor", fields)], court(HUZHOU))
        assert (result.outcome, result.version) == (IntakeOutcome.NEW_VERSION, 2)
        new_version = 2

    statement = fed[HUZHOU].federation.statuses.issue_for_procedure(
        court(HUZHOU),
        kind=kind,
        record_id=record_id,
        version=1,
        reason="decided at Huzhou",
        new_version=new_version,
    )

    assert fed.deliver() == 3
    status = STATUS_EFFECT[kind].value
    for node in NODES:
        row = fed[node].store.records.get(record_id, 1)
        assert row.status == status, node
        assert (row.sd_jwt is None) is (kind in (StatusKind.REVOCATION, StatusKind.REPAIR)), node
        assert fed[node].store.batches.statement(statement.statement_id).issuer == HUZHOU
    # Each node's delivery ledger: every neighbour it sent the listing to confirmed the status.
    confirmed = {
        (node, h.node, h.confirmed_status)
        for node in NODES
        for h in fed[node].store.outbox.holders(record_id)
        if h.version == 1
    }
    assert confirmed == {(sender, to, status) for sender, to in HUZHOU_LISTING_HOPS}
    assert hops(fed, record_id, "statement") == HUZHOU_LISTING_HOPS
    # The issuer lists every holder, each as reported by the node that delivered to it.
    assert {
        (h.reported_by, h.node, h.confirmed_status)
        for h in fed[HUZHOU].federation.where(record_id)
        if h.version == 1
    } == confirmed
    if kind is StatusKind.CORRECTION:
        # The corrected version travelled the same way, stored once at each node.
        assert {fed[node].store.records.get(record_id, 2).status for node in NODES} == {"active"}
    if kind in (StatusKind.REVOCATION, StatusKind.REPAIR):
        assert procurement_check(fed, CHANGSHA, 6) is CheckDecision.CLEAR


def test_a_listing_expires_at_every_node_from_its_signed_exp_with_no_statement(
    fed: InProcessFederation,
) -> None:
    record_id = file_listing(fed, HUZHOU, 7)
    fed.deliver()
    exp = fed[HUZHOU].store.records.get(record_id, 1).exp
    assert {fed[node].store.records.get(record_id, 1).exp for node in NODES} == {exp}

    fed.clock.now = exp - 1
    assert procurement_check(fed, ZHUZHOU, 7) is CheckDecision.INTERCEPT
    fed.clock.now = exp

    # No node needs word from Huzhou: each check and each sweep reads the signed exp.
    assert procurement_check(fed, ZHUZHOU, 7) is CheckDecision.CLEAR
    fed.clock.now = exp + 1
    assert [fed[node].federation.expiry.sweep() for node in NODES] == [1] * len(NODES)
    for node in NODES:
        row = fed[node].store.records.get(record_id, 1)
        assert (row.status, row.sd_jwt) == ("expired", None), node
    assert hops(fed, record_id, "statement") == set()


@pytest.mark.parametrize(("sender", "target"), [(LISHUI, CHANGSHA), (ZHEJIANG, ZHUZHOU)])
def test_a_listing_pushed_down_by_a_node_other_than_the_parent_is_refused_and_audited(
    fed: InProcessFederation, sender: str, target: str
) -> None:
    # Hunan is down: its cities lack Huzhou's listing, and a helpful peer offers it.
    fed.offline.add(HUNAN)
    record_id = file_listing(fed, HUZHOU, 8)
    fed.deliver()
    batch = signed_hop(fed, sender, target, [held(fed, LISHUI, record_id)])

    with pytest.raises(PeerError) as refused:
        fed[sender].peers.push(target, batch, timeout_s=1)

    assert str(refused.value) == (
        f"AccessDeniedError: node {sender} is neither the parent nor a child of node {target} "
        "in the federation directory: it may not push here"
    )
    assert events(fed[target].store, "push.receive") == [
        (fed[sender].principal.actor, "federation:push-neighbours-only", str(refused.value))
    ]
    with pytest.raises(NotFoundError):
        fed[target].store.records.get(record_id, 1)


def test_a_city_passing_up_a_listing_from_another_branch_is_refused_and_audited(
    fed: InProcessFederation,
) -> None:
    record_id = file_listing(fed, CHANGSHA, 9)
    fed.deliver()
    # Lishui holds Changsha's listing now, and offers it back up to its province.
    batch = signed_hop(fed, LISHUI, ZHEJIANG, [held(fed, LISHUI, record_id)])
    before = events(fed[ZHEJIANG].store, "push.receive")

    with pytest.raises(PeerError) as refused:
        fed[LISHUI].peers.push(ZHEJIANG, batch, timeout_s=1)

    assert str(refused.value) == (
        f"AccessDeniedError: node {LISHUI} passed up record {record_id} issued by node "
        f"{CHANGSHA}, outside its branch: a child passes up only what its own branch issued"
    )
    assert events(fed[ZHEJIANG].store, "push.receive") == [
        *before,
        (fed[LISHUI].principal.actor, "federation:up-own-branch-only", str(refused.value)),
    ]


def test_a_hub_refuses_a_listing_whose_city_signature_fails_and_passes_nothing_on(
    fed: InProcessFederation,
) -> None:
    fed.offline.add(HUNAN)
    record_id = file_listing(fed, HUZHOU, 10)
    fed.deliver()
    genuine = held(fed, NATIONAL, record_id)
    header, payload, signature = genuine.split("~", 1)[0].split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    forged = f"{header}.{payload}.{flipped}~{genuine.split('~', 1)[1]}"
    fed.offline.discard(HUNAN)

    with pytest.raises(PeerError, match=r"^SignatureError: ") as refused:
        fed[NATIONAL].peers.push(HUNAN, signed_hop(fed, NATIONAL, HUNAN, [forged]), timeout_s=1)

    [(actor, rule, _detail)] = events(fed[HUNAN].store, "push.receive", "denied")
    assert (actor, rule) == (fed[NATIONAL].principal.actor, "SignatureError")
    assert "signature" in str(refused.value)
    with pytest.raises(NotFoundError):
        fed[HUNAN].store.records.get(record_id, 1)
    assert hops(fed, record_id) == HUZHOU_LISTING_HOPS - {(HUNAN, CHANGSHA), (HUNAN, ZHUZHOU)}
    # National's genuine copy still goes, once Hunan's retry is due, and on to its cities.
    fed.clock.advance(2)
    fed.deliver()
    assert hops(fed, record_id) == HUZHOU_LISTING_HOPS
    assert fed[CHANGSHA].store.records.get(record_id, 1).issuer == HUZHOU


def test_a_statement_overtaking_its_listing_at_a_hub_still_follows_it_onward(
    fed: InProcessFederation,
) -> None:
    record_id = file_listing(fed, HUZHOU, 11)
    # Zhejiang holds the listing, its pushes to national and Lishui still queued...
    assert fed[HUZHOU].push_round()
    assert [h.node for h in fed[ZHEJIANG].store.outbox.holders(record_id)] == []
    # ...when the court's suspension reaches it: its ledger lists nobody to send it to yet.
    fed[HUZHOU].federation.statuses.issue_for_procedure(
        court(HUZHOU),
        kind=StatusKind.SUSPENSION,
        record_id=record_id,
        version=1,
        reason="objection accepted",
    )
    assert fed[HUZHOU].push_round()
    assert fed[ZHEJIANG].store.records.get(record_id, 1).status == "suspended"

    fed.deliver()

    # Each hub sends the statement after the listing it delivered: every node applies it.
    for node in NODES:
        assert fed[node].store.records.get(record_id, 1).status == "suspended", node
    assert hops(fed, record_id, "statement") == HUZHOU_LISTING_HOPS
    confirmed = {
        (node, h.node, h.confirmed_status)
        for node in NODES
        for h in fed[node].store.outbox.holders(record_id)
    }
    assert confirmed == {(sender, to, "suspended") for sender, to in HUZHOU_LISTING_HOPS}


def test_a_city_offline_while_a_listing_travels_catches_up_from_its_province(
    fed: InProcessFederation,
) -> None:
    fed.offline.add(CHANGSHA)
    record_id = file_listing(fed, HUZHOU, 12)
    fed.deliver()
    with pytest.raises(NotFoundError):
        fed[CHANGSHA].store.records.get(record_id, 1)

    fed.offline.discard(CHANGSHA)
    assert fed[CHANGSHA].catch_up() == 1

    row = fed[CHANGSHA].store.records.get(record_id, 1)
    assert (row.issuer, row.origin) == (HUZHOU, HUNAN)
    assert procurement_check(fed, CHANGSHA, 12) is CheckDecision.INTERCEPT
    assert sorted(h.node for h in fed[HUNAN].store.outbox.holders(record_id)) == [
        CHANGSHA,
        ZHUZHOU,
    ]
