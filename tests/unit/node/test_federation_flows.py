"""Federation flows in one process: intake, outbox, push, receive, forward, statements, catch-up.

Three nodes (national, a province, a city) with real stores, keys and use
cases, wired by the in-memory peer client of :mod:`tests.support.harness`;
every step is driven by the test, under a clock that moves only when told.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select

from gateway.core.algorithms import Ed25519Signer
from gateway.core.errors import NotFoundError, PeerError, PeerUnavailableError
from gateway.core.hop import build_hop_batch, sign_hop_batch
from gateway.core.statements import StatusKind
from gateway.node.audit_log import CheckpointPublisher
from gateway.node.config import FederationSettings
from gateway.node.intake import IntakeOutcome, IntakeResult, Submission
from gateway.node.peer_client import HopBatch, ParentWitness
from gateway.node.receive import CATCH_UP_STREAM
from gateway.pki import signing_kid
from gateway.store import AuditFilter, Store
from gateway.store.checkpoints import CheckpointRepository, LogEntries
from gateway.store.outbox import OutboxItem
from gateway.store.tables import OUTBOX
from tests.support.federation import Keystore
from tests.support.harness import (
    InProcessFederation,
    department,
    keystore_for,
    migrated_template,
)
from tests.support.records import citizen_number, disclosed, notice_fields, penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = (NATIONAL, ZHEJIANG, HUZHOU)
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
# Retries without real waiting: tenacity's backoff is milliseconds, the outbox delay one second.
FAST = FederationSettings(initial_backoff_ms=1, max_backoff_ms=2, lease_s=5)


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


def penalty(i: int, **changes: str) -> Submission:
    return Submission(str(i), "admin_penalty", {**penalty_fields(i, decided=DECIDED), **changes})


def notice(i: int) -> Submission:
    return Submission(str(i), "serious_dishonesty", notice_fields(i, decided=DECIDED))


def accepted(results: list[IntakeResult]) -> list[str]:
    assert [r.outcome for r in results] == [IntakeOutcome.ACCEPTED] * len(results), results
    return [r.record_id for r in results]


def outbox(store: Store, recipient: str) -> list[OutboxItem]:
    """Every outbox row for ``recipient``, whatever its state, oldest first."""
    query = select(OUTBOX).where(OUTBOX.c.recipient == recipient).order_by(OUTBOX.c.id)
    with store.engine.connect() as conn:
        return [
            OutboxItem(**{f.name: m[f.name] for f in dataclasses.fields(OutboxItem)})
            for m in conn.execute(query).mappings()
        ]


def events(store: Store, action: str, decision: str = "") -> list[tuple[str, str, str]]:
    """(actor, rule, detail) of the audit events of ``action``."""
    found = store.audit.events(AuditFilter(action=action, decision=decision), after=-1, limit=100)
    return [(e.event.actor, e.event.rule, e.event.detail) for e in found]


def test_a_city_record_goes_up_through_the_province_redacted_and_signed_by_the_city(
    fed: InProcessFederation,
) -> None:
    [record_id] = accepted(fed[HUZHOU].submit([penalty(0)]))

    # Round 1: the city pushes to the province; round 2: the province forwards to national.
    assert fed.deliver() == 2

    for node, origin in ((ZHEJIANG, HUZHOU), (NATIONAL, ZHEJIANG)):
        row = fed[node].store.records.get(record_id, 1)
        assert (row.issuer, row.origin, row.status) == (HUZHOU, origin, "active")
        assert row.sd_jwt is not None
        # The legal representative's citizen number never travels in clear.
        assert "FR_ZJHM" not in disclosed(row.sd_jwt)
        assert citizen_number(0) not in disclosed(row.sd_jwt).values()
    assert [(h.node, h.version) for h in fed[HUZHOU].store.outbox.holders(record_id)] == [
        (ZHEJIANG, 1)
    ]
    assert [(h.node, h.version) for h in fed[ZHEJIANG].store.outbox.holders(record_id)] == [
        (NATIONAL, 1)
    ]
    assert {(h.node, h.reported_by) for h in fed[HUZHOU].federation.where(record_id)} == {
        (ZHEJIANG, HUZHOU),
        (NATIONAL, ZHEJIANG),
    }
    [(actor, _rule, detail)] = events(fed[ZHEJIANG].store, "push.receive", "allowed")
    assert actor == f"node:{HUZHOU}/{HUZHOU}"
    assert detail.endswith(": 1 records, 0 statements")
    # Nothing goes back down, and national sends nothing on.
    assert outbox(fed[NATIONAL].store, ZHEJIANG) == []
    assert outbox(fed[ZHEJIANG].store, HUZHOU) == []


def test_intake_tells_a_duplicate_from_a_new_version_and_both_versions_travel(
    fed: InProcessFederation,
) -> None:
    city = fed[HUZHOU]
    [first] = city.submit([penalty(1)])
    assert (first.outcome, first.version) == (IntakeOutcome.ACCEPTED, 1)

    again, changed, bad = city.submit(
        [penalty(1), penalty(1, CF_NR="罚款人民币二十万元", CF_NR_FK="20"), penalty(2, CF_JDRQ="")]
    )

    assert (again.outcome, again.record_id, again.version) == (
        IntakeOutcome.DUPLICATE,
        first.record_id,
        1,
    )
    assert (changed.outcome, changed.record_id, changed.version) == (
        IntakeOutcome.NEW_VERSION,
        first.record_id,
        2,
    )
    assert (bad.outcome, bad.field) == (IntakeOutcome.REFUSED, "CF_JDRQ")
    assert [e[2] for e in events(city.store, "intake.submit")] == [
        "1 stored, 0 duplicate, 0 refused",
        "1 stored, 1 duplicate, 1 refused",
    ]

    assert fed.deliver() == 2
    held = fed[NATIONAL].store.records
    assert [held.get(first.record_id, v).version for v in (1, 2)] == [1, 2]
    assert held.get(first.record_id).version == 2


def test_a_revocation_reaches_every_holder_purges_it_and_each_confirms(
    fed: InProcessFederation,
) -> None:
    [record_id] = accepted(fed[HUZHOU].submit([penalty(3)]))
    fed.deliver()

    # The department that filed it revokes it (谁产生、谁负责).
    statement = fed[HUZHOU].federation.statuses.issue(
        department(HUZHOU),
        kind=StatusKind.REVOCATION,
        record_id=record_id,
        version=1,
        reason="decision annulled on review",
    )

    assert fed.deliver() == 2
    for node in NODES:
        row = fed[node].store.records.get(record_id, 1)
        assert (row.status, row.sd_jwt) == ("revoked", None), node
        assert fed[node].store.batches.statement(statement.statement_id).kind == "revocation"
    confirmed = {
        (h.node, h.confirmed_status, h.reported_by) for h in fed[HUZHOU].federation.where(record_id)
    }
    assert confirmed == {(ZHEJIANG, "revoked", HUZHOU), (NATIONAL, "revoked", ZHEJIANG)}


def test_a_notice_reaches_an_offline_city_by_catch_up_and_the_province_settles_on_ack(
    fed: InProcessFederation,
) -> None:
    fed.offline.add(HUZHOU)
    [record_id] = accepted(fed[NATIONAL].submit([notice(1)]))

    fed.deliver()
    assert fed[ZHEJIANG].store.records.get(record_id, 1).origin == NATIONAL
    [waiting] = outbox(fed[ZHEJIANG].store, HUZHOU)
    assert (waiting.state, waiting.last_error) == (
        "pending",
        f"UNAVAILABLE: node {HUZHOU} is not reachable",
    )

    fed.offline.discard(HUZHOU)
    assert fed[HUZHOU].catch_up() == 1

    assert fed[HUZHOU].store.records.get(record_id, 1).origin == ZHEJIANG
    assert fed[HUZHOU].store.cursors.position(ZHEJIANG, CATCH_UP_STREAM) == waiting.id
    # The city's second Pull, from its new cursor, is the acknowledgement: the row settles.
    [settled] = outbox(fed[ZHEJIANG].store, HUZHOU)
    assert settled.state == "delivered"
    assert [h.node for h in fed[ZHEJIANG].store.outbox.holders(record_id)] == [HUZHOU]
    acknowledged = [e for e in events(fed[ZHEJIANG].store, "push.send") if "acknowledged" in e[2]]
    assert acknowledged == [
        (
            f"node:{ZHEJIANG}/{ZHEJIANG}",
            "",
            f"acknowledged by {HUZHOU}: 1 records, 0 statements, 0 messages",
        )
    ]
    assert fed[HUZHOU].peers.calls[-2:] == [("pull", ZHEJIANG), ("pull", ZHEJIANG)]
    # Nothing is left to push: the retry finds no due row.
    fed.clock.advance(60)
    assert fed.deliver() == 0


def test_a_transient_failure_is_retried_in_the_call_then_after_the_outbox_delay(
    fed: InProcessFederation,
) -> None:
    fed.offline.add(ZHEJIANG)
    [record_id] = accepted(fed[HUZHOU].submit([penalty(4)]))

    assert fed.deliver() == 1
    # Three attempts inside the call (tenacity), then the row waits one second.
    assert fed[HUZHOU].peers.calls == [("push", ZHEJIANG)] * 3
    [row] = outbox(fed[HUZHOU].store, ZHEJIANG)
    assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 1, int(fed.clock()) + 1)

    fed.offline.discard(ZHEJIANG)
    assert fed.deliver() == 0
    fed.clock.advance(1)
    assert fed.deliver() == 2
    assert fed[NATIONAL].store.records.get(record_id, 1).issuer == HUZHOU


def test_a_refused_batch_is_final_failed_and_audited_at_the_sender(
    fed: InProcessFederation,
) -> None:
    # The city presents a TLS certificate the directory does not list for it.
    fed[HUZHOU].principal = dataclasses.replace(fed[HUZHOU].principal, fingerprint="f" * 64)
    [record_id] = accepted(fed[HUZHOU].submit([penalty(5)]))

    assert fed.deliver() == 1

    [row] = outbox(fed[HUZHOU].store, ZHEJIANG)
    assert (row.state, row.last_error) == (
        "failed",
        f"AccessDeniedError: node {HUZHOU} presented a TLS certificate the directory does not list",
    )
    assert fed[HUZHOU].peers.calls == [("push", ZHEJIANG)]
    [(actor, rule, detail)] = events(fed[HUZHOU].store, "push.send", "denied")
    assert (actor, rule) == (f"node:{HUZHOU}/{HUZHOU}", row.last_error)
    assert detail.endswith(f"refused by {ZHEJIANG}")
    [(_actor, refused_rule, _detail)] = events(fed[ZHEJIANG].store, "push.receive", "denied")
    assert refused_rule == "directory:unlisted-certificate"
    with pytest.raises(NotFoundError):
        fed[ZHEJIANG].store.records.get(record_id, 1)


def test_a_replayed_batch_is_refused_and_audited_by_the_receiver(
    fed: InProcessFederation,
) -> None:
    city = fed[HUZHOU]
    accepted(city.submit([penalty(6)]))
    items = city.store.outbox.claim(
        ZHEJIANG, worker="test", limit=10, now=int(fed.clock()), lease_s=5
    )
    built = city.federation.outbound.build(ZHEJIANG, items)
    batch = HopBatch(built.envelope_json, built.records, built.statements, built.messages)
    city.federation.peers.push(ZHEJIANG, batch, timeout_s=1)

    with pytest.raises(PeerError, match=f"^ReplayError: .*{built.batch_id}") as refused:
        city.federation.peers.push(ZHEJIANG, batch, timeout_s=1)

    assert type(refused.value) is PeerError  # final, never retried
    [(actor, rule, detail)] = events(fed[ZHEJIANG].store, "push.receive", "denied")
    assert (actor, rule) == (city.principal.actor, "ReplayError")
    assert detail.startswith("ReplayError: ")


def test_a_batch_claimed_by_a_sender_that_died_goes_again_after_the_lease_and_counts_once(
    fed: InProcessFederation,
) -> None:
    city = fed[HUZHOU]
    ids = accepted(city.submit([penalty(i) for i in range(7, 10)]))
    # A sender claims the rows and pushes them, then dies before settling them.
    now = int(fed.clock())
    items = city.store.outbox.claim(
        ZHEJIANG, worker="dead", limit=10, now=now, lease_s=FAST.lease_s
    )
    built = city.federation.outbound.build(ZHEJIANG, items)
    city.federation.peers.push(ZHEJIANG, HopBatch(built.envelope_json, built.records), timeout_s=1)
    assert fed.deliver() == 1  # only the province forwards; the city's rows are leased

    fed.clock.advance(FAST.lease_s - 1)
    assert fed.deliver() == 0
    fed.clock.advance(1)
    assert fed.deliver() == 1  # sent again, stored as duplicates: nothing new to forward

    assert {r.state for r in outbox(city.store, ZHEJIANG)} == {"delivered"}
    for node in (ZHEJIANG, NATIONAL):
        assert [fed[node].store.records.get(i, 1).version for i in ids] == [1, 1, 1]
    received = [e[2] for e in events(fed[ZHEJIANG].store, "push.receive", "allowed")]
    assert [d.split(": ", 1)[1] for d in received] == ["3 records, 0 statements"] * 2


def test_only_a_child_may_pull_and_the_refusal_names_the_rule(fed: InProcessFederation) -> None:
    with pytest.raises(PeerError) as refused:
        list(fed[NATIONAL].federation.peers.pull(ZHEJIANG, 0, timeout_s=1))

    assert str(refused.value) == (
        f"AccessDeniedError: node {NATIONAL} is not a child of {ZHEJIANG}: nothing to catch up on"
    )


def _signed_hop(
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


def test_an_unredacted_record_is_refused_as_over_sharing_and_nothing_is_stored(
    fed: InProcessFederation,
) -> None:
    city = fed[HUZHOU]
    [record_id] = accepted(city.submit([penalty(11)]))
    full = city.store.records.get(record_id, 1).sd_jwt
    assert full is not None
    assert disclosed(full)["FR_ZJHM"] == citizen_number(11)

    with pytest.raises(PeerError) as refused:
        city.peers.push(ZHEJIANG, _signed_hop(fed, HUZHOU, ZHEJIANG, [full]), timeout_s=1)

    assert str(refused.value) == (
        "ScopeViolationError: received disclosure 'FRDB' of category admin_penalty, outside the "
        f"scope of parent({ZHEJIANG}) (rule penalty-parent); 3 in excess"
    )

    with pytest.raises(NotFoundError):
        fed[ZHEJIANG].store.records.get(record_id, 1)
    [(actor, rule, _detail)] = events(fed[ZHEJIANG].store, "push.receive", "denied")
    assert (actor, rule) == (city.principal.actor, "ScopeViolationError")


def test_a_record_changed_after_signing_the_hop_is_refused(fed: InProcessFederation) -> None:
    city = fed[HUZHOU]
    accepted(city.submit([penalty(12)]))
    items = city.store.outbox.claim(ZHEJIANG, worker="t", limit=10, now=int(fed.clock()), lease_s=5)
    [record] = city.federation.outbound.build(ZHEJIANG, items).records
    batch = _signed_hop(fed, HUZHOU, ZHEJIANG, [record])
    flipped = record[:40] + ("A" if record[40] != "A" else "B") + record[41:]

    with pytest.raises(PeerError, match=r"^SignatureError: ") as refused:
        city.peers.push(ZHEJIANG, dataclasses.replace(batch, records=(flipped,)), timeout_s=1)

    assert "digest" in str(refused.value)
    [(_actor, rule, _detail)] = events(fed[ZHEJIANG].store, "push.receive", "denied")
    assert rule == "SignatureError"


def test_a_received_record_is_hashed_once_for_its_hop_digest_and_its_stored_digest(
    fed: InProcessFederation, monkeypatch: pytest.MonkeyPatch
) -> None:
    city = fed[HUZHOU]
    [record_id] = accepted(city.submit([penalty(13)]))
    items = city.store.outbox.claim(ZHEJIANG, worker="t", limit=10, now=int(fed.clock()), lease_s=5)
    [record] = city.federation.outbound.build(ZHEJIANG, items).records
    batch = _signed_hop(fed, HUZHOU, ZHEJIANG, [record])
    hashed: list[bytes] = []
    sha256 = hashlib.sha256

    def counting(data: bytes = b"", **kwargs: bool) -> hashlib._Hash:
        hashed.append(bytes(data))
        return sha256(data, **kwargs)

    monkeypatch.setattr(hashlib, "sha256", counting)
    city.peers.push(ZHEJIANG, batch, timeout_s=1)
    monkeypatch.undo()

    assert hashed.count(record.encode("utf-8")) == 1
    stored = fed[ZHEJIANG].store.records.get(record_id, 1)
    assert (stored.sd_jwt, stored.digest) == (record, sha256(record.encode("utf-8")).hexdigest())


def _publisher(fed: InProcessFederation, node: str, parent: str) -> CheckpointPublisher:
    """The node's checkpoint publisher, asking ``parent`` to cosign through the peer client."""
    at = fed[node]
    chain = b"".join(c.public_bytes(Encoding.PEM) for c in (at.creds.signing_cert, *at.creds.chain))
    return CheckpointPublisher(
        node_id=node,
        signing_key=at.creds.signing_key,
        certificate_chain=chain,
        root=at.creds.root,
        audit=at.store.audit,
        entries=LogEntries(at.store.engine, at.store.audit),
        checkpoints=CheckpointRepository(at.store.engine),
        witness=ParentWitness(at.peers, parent),
        every_events=1,
        every_s=60,
        clock=lambda: int(fed.clock()),
    )


def test_the_parent_witnesses_a_checkpoint_through_the_peer_client(
    fed: InProcessFederation,
) -> None:
    accepted(fed[HUZHOU].submit([penalty(13)]))
    publisher = _publisher(fed, HUZHOU, ZHEJIANG)
    published = publisher.publish(final=True)
    assert published is not None

    fed.offline.add(ZHEJIANG)
    with pytest.raises(PeerUnavailableError):
        publisher.request_cosignature()
    fed.offline.discard(ZHEJIANG)
    cosigned = publisher.request_cosignature()

    assert cosigned is not None
    assert (cosigned.size, cosigned.witness) == (published.size, ZHEJIANG)
    assert fed[HUZHOU].peers.calls == [("witness", ZHEJIANG)] * 2
    [(actor, _rule, _detail)] = events(fed[ZHEJIANG].store, "witness.cosign", "allowed")
    assert actor == fed[HUZHOU].principal.actor
