"""One bad item never blocks the rest (DESIGN §5, "Batches and items"), in one process.

A record that only fails validation or a time check at the receiver is refused
alone: the others of its batch are stored there and travel on upstream, and the
sender parks the refused one with the receiver's reason (listed, re-sent by the
operator, audited), or retries it with backoff when the reason passes with time.
A fault that shows the sender misbehaving still refuses the whole batch.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.core.algorithms import Ed25519Signer
from gateway.core.audit import record_ref
from gateway.core.batch_items import ItemOutcome, ItemResult
from gateway.core.errors import (
    NotFoundError,
    PeerError,
)
from gateway.core.hop import build_hop_batch, sign_hop_batch
from gateway.core.limits import Limits
from gateway.node.config import FederationSettings
from gateway.node.intake import IntakeOutcome, IntakeResult, Submission
from gateway.node.operator import Operator
from gateway.node.outbox_admin import OutboxAdmin, TroubleState
from gateway.node.peer_client import HopBatch
from gateway.pki import signing_kid
from gateway.store import AuditFilter, Store
from tests.support.federation import Keystore
from tests.support.harness import InProcessFederation, keystore_for, migrated_template
from tests.support.records import penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = (NATIONAL, ZHEJIANG, HUZHOU)
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
FAST = FederationSettings(initial_backoff_ms=1, max_backoff_ms=2, lease_s=5)
# The province's [limits]: field text up to 200 characters (the default is 4000).
STRICT = Limits(max_field_chars=200)
# 270 characters: fine at the city, too long at the province.
LONG_CONTENT = "罚款人民币十万元，" * 30


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), NODES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def fed(tmp_path: Path, keystore: Keystore, template: Path) -> Iterator[InProcessFederation]:
    federation = InProcessFederation.build(
        tmp_path, keystore, NODES, settings=FAST, template=template, limits={ZHEJIANG: STRICT}
    )
    try:
        yield federation
    finally:
        federation.close()


def _penalty(i: int, **changes: str) -> Submission:
    return Submission(str(i), "admin_penalty", {**penalty_fields(i, decided=DECIDED), **changes})


def _accepted(results: list[IntakeResult]) -> list[str]:
    assert [r.outcome for r in results] == [IntakeOutcome.ACCEPTED] * len(results), results
    return [r.record_id for r in results]


def _holds(store: Store, record_id: str) -> bool:
    try:
        store.records.get(record_id, 1)
    except NotFoundError:
        return False
    return True


def _events(store: Store, action: str, decision: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """(rule, detail, records) of the audit events of ``action`` with ``decision``."""
    found = store.audit.events(AuditFilter(action=action, decision=decision), after=-1, limit=100)
    return [(e.event.rule, e.event.detail, tuple(e.event.records)) for e in found]


OPERATOR = Operator(user="operator", host="city-host")


def test_a_record_too_long_for_the_province_is_parked_and_the_other_two_travel_on(
    fed: InProcessFederation,
) -> None:
    city = fed[HUZHOU]
    ids = _accepted(city.submit([_penalty(1), _penalty(2, CF_NR=LONG_CONTENT), _penalty(3)]))
    first, middle, last = ids

    assert fed.deliver() == 2  # the city's batch of three, then the province's of two

    for node in (ZHEJIANG, NATIONAL):
        assert [_holds(fed[node].store, i) for i in ids] == [True, False, True], node
    reason = "OutOfRangeError: disclosure 'CF_NR' length is 270, outside 0..200"
    admin = OutboxAdmin(city.store, HUZHOU, lambda: int(fed.clock()))
    [parked] = admin.troubled()
    assert (parked.recipient, parked.kind, parked.item, parked.state, parked.attempts) == (
        ZHEJIANG,
        "record",
        record_ref(middle, 1),
        TroubleState.FAILED,
        1,
    )
    assert parked.reason == reason
    # Audited at both ends: the province refused one record alone, the city parked it.
    [(rule, detail, records)] = _events(fed[ZHEJIANG].store, "push.receive", "denied")
    assert (rule, records) == ("limits:text", ())
    assert detail.endswith(f": record 2 refused alone: {reason}")
    [(_rule, detail, records)] = _events(fed[ZHEJIANG].store, "push.receive", "allowed")[:1]
    assert records == (record_ref(first, 1), record_ref(last, 1))
    assert detail.endswith(": 2 records, 1 refused alone, 0 statements")
    [(rule, detail, records)] = _events(city.store, "push.send", "denied")
    assert (rule, records) == (reason, (record_ref(middle, 1),))
    assert detail.endswith(f"refused alone by {ZHEJIANG}, parked until `gateway outbox retry`")

    # The province's operator relaxes its limit; the city's operator re-sends.
    fed.restart(ZHEJIANG)
    assert fed.deliver() == 0  # parked: nothing goes by itself
    assert admin.retry(OPERATOR, ids=[parked.id]) == [parked.id]
    assert fed.deliver() == 2

    for node in (ZHEJIANG, NATIONAL):
        assert [_holds(fed[node].store, i) for i in ids] == [True, True, True], node
    assert admin.troubled() == []
    [(_rule, detail, records)] = _events(city.store, "outbox.retry", "allowed")
    assert records == (record_ref(middle, 1),)


def test_a_record_not_yet_valid_at_national_is_retried_with_backoff_until_it_is(
    tmp_path: Path, keystore: Keystore, template: Path
) -> None:
    # The city's clock runs 250 s ahead (within the province's 300 s skew); national
    # allows only 120 s. Records the city issued a while ago pass everywhere; one it
    # issued just now is "not yet valid" at national, for a while.
    fed = InProcessFederation.build(
        tmp_path,
        keystore,
        NODES,
        settings=FAST,
        template=template,
        limits={NATIONAL: Limits(clock_skew_s=120)},
    )
    try:
        fed.offsets[HUZHOU] = 250
        city, province = fed[HUZHOU], fed[ZHEJIANG]
        first, last = _accepted(city.submit([_penalty(1), _penalty(3)]))
        fed.clock.advance(200)
        [middle] = _accepted(city.submit([_penalty(2)]))
        # One batch of three to the province, then one of three to national.
        assert fed.deliver() == 2

        assert [_holds(fed[NATIONAL].store, i) for i in (first, last, middle)] == [
            True,
            True,
            False,
        ]
        admin = OutboxAdmin(province.store, ZHEJIANG, lambda: int(fed.clock()))
        [waiting] = admin.troubled()
        assert (waiting.recipient, waiting.item, waiting.state) == (
            NATIONAL,
            record_ref(middle, 1),
            TroubleState.RETRYING,
        )
        assert waiting.reason.startswith("ClockSkewError: ")
        assert waiting.next_attempt_at == int(fed.clock()) + 1
        assert _events(province.store, "push.send", "denied") == []  # not parked

        fed.clock.advance(1)
        assert fed.deliver() == 1  # tried again: still too early
        [waiting] = admin.troubled()
        assert (waiting.state, waiting.attempts) == (TroubleState.RETRYING, 2)

        fed.clock.advance(130)  # national's clock reaches the record's issue time
        assert fed.deliver() == 1
        assert _holds(fed[NATIONAL].store, middle)
        assert admin.troubled() == []
    finally:
        fed.close()


def _forge_signature(sd_jwt: str) -> str:
    """The same SD-JWT with its issuer signature replaced by 64 bytes nobody signed."""
    jws, rest = sd_jwt.split("~", 1)
    header, payload, _signature = jws.split(".")
    forged = base64.urlsafe_b64encode(bytes(range(64))).rstrip(b"=").decode()
    return f"{header}.{payload}.{forged}~{rest}"


def _city_batch(fed: InProcessFederation, count: int) -> tuple[list[str], list[str]]:
    """(record ids, SD-JWTs as the city sends them to the province) of ``count`` new records."""
    city = fed[HUZHOU]
    ids = _accepted(city.submit([_penalty(20 + i) for i in range(count)]))
    items = city.store.outbox.claim(ZHEJIANG, worker="t", limit=10, now=int(fed.clock()), lease_s=5)
    return ids, list(city.federation.outbound.build(ZHEJIANG, items).records)


def _signed_hop(fed: InProcessFederation, records: list[str]) -> HopBatch:
    """A hop batch of ``records`` signed with the city's own key, as its push worker would."""
    creds = fed[HUZHOU].creds
    signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)
    hop = build_hop_batch(
        sender=HUZHOU,
        audience=ZHEJIANG,
        batch_id=uuid.uuid4().hex,
        sent_at=int(fed.clock()),
        items=records,
    )
    return HopBatch(sign_hop_batch(hop, signer).to_json(), tuple(records))


def test_a_forged_issuer_signature_on_one_record_refuses_the_whole_batch(
    fed: InProcessFederation,
) -> None:
    ids, records = _city_batch(fed, 3)
    records[1] = _forge_signature(records[1])

    with pytest.raises(PeerError, match=r"^SignatureError: ") as refused:
        fed[HUZHOU].peers.push(ZHEJIANG, _signed_hop(fed, records), timeout_s=1)

    assert type(refused.value) is PeerError  # final: never retried by itself
    assert [_holds(fed[ZHEJIANG].store, i) for i in ids] == [False, False, False]
    [(rule, detail, _records)] = _events(fed[ZHEJIANG].store, "push.receive", "denied")
    assert rule == "SignatureError"
    assert detail.startswith("SignatureError: ")
    assert _events(fed[ZHEJIANG].store, "push.receive", "allowed") == []


def test_over_sharing_in_one_record_refuses_the_whole_batch(fed: InProcessFederation) -> None:
    ids, records = _city_batch(fed, 3)
    # The middle record as the city holds it, every disclosure included.
    full = fed[HUZHOU].store.records.get(ids[1], 1).sd_jwt
    assert full is not None
    records[1] = full

    with pytest.raises(PeerError, match=r"^ScopeViolationError: "):
        fed[HUZHOU].peers.push(ZHEJIANG, _signed_hop(fed, records), timeout_s=1)

    assert [_holds(fed[ZHEJIANG].store, i) for i in ids] == [False, False, False]
    [(rule, _detail, _records)] = _events(fed[ZHEJIANG].store, "push.receive", "denied")
    assert rule == "ScopeViolationError"


def test_the_acknowledgement_answers_for_each_record_in_order(fed: InProcessFederation) -> None:
    _ids, records = _city_batch(fed, 2)
    city = fed[HUZHOU]
    [long_id] = _accepted(city.submit([_penalty(30, CF_NR=LONG_CONTENT)]))
    items = city.store.outbox.claim(ZHEJIANG, worker="t", limit=10, now=int(fed.clock()), lease_s=5)
    [long_record] = city.federation.outbound.build(ZHEJIANG, items).records
    city.peers.push(ZHEJIANG, _signed_hop(fed, records[:1]), timeout_s=1)

    receipt = city.peers.push(
        ZHEJIANG, _signed_hop(fed, [records[0], long_record, records[1]]), timeout_s=1
    )

    assert (receipt.stored, receipt.duplicates) == (1, 1)
    assert receipt.records == (
        ItemResult(ItemOutcome.DUPLICATE),
        ItemResult(
            ItemOutcome.REFUSED,
            "OutOfRangeError: disclosure 'CF_NR' length is 270, outside 0..200",
            passes_with_time=False,
        ),
        ItemResult(ItemOutcome.STORED),
    )
    assert not _holds(fed[ZHEJIANG].store, long_id)
