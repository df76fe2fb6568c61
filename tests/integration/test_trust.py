"""Trust boundaries, attacked for real: each test builds one attack of issue 13 with real
`gateway serve` processes, real mTLS certificates and real signatures, and asserts the
refusal (status and message) and its one audit event (actor, fingerprint, address, rule).

One federation serves the whole module: national, Zhejiang and Huzhou run; Lishui is in
the directory but not running (the attacker holds its keys); Changsha is not in the
directory at all (its department certificates still chain to the federation root).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway._proto.v1 import (
    audit_pb2,
    audit_pb2_grpc,
    discipline_pb2,
    discipline_pb2_grpc,
    federation_pb2,
    intake_pb2,
    intake_pb2_grpc,
    records_pb2,
    records_pb2_grpc,
)
from gateway.core.checkpoint import Checkpoint, sign_checkpoint
from gateway.core.dsse import sign_envelope
from gateway.core.messages import MESSAGE_PAYLOAD_TYPE
from gateway.core.note import NoteSigner
from gateway.core.statements import StatusKind, StatusStatement, sign_statement
from gateway.node.audit_log import log_origin
from gateway.pki import fingerprint, load_client_credentials, load_node_credentials
from gateway.rpc.audit import signing_chain_pem
from gateway.rpc.peer import open_peer_channel
from tests.support.cluster import Cluster, listed, make_cluster, running, submit, wait_for
from tests.support.federation import client_channel
from tests.support.peers import (
    claimed_record_id,
    for_parent,
    hop_request,
    node_signer,
    push,
    signed_penalty,
)
from tests.support.records import company_code, penalty_fields

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"
HUNAN, CHANGSHA = "430000", "430100"
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)

CLIENTS = [
    (NATIONAL, "audit-office", "auditor", None),
    (ZHEJIANG, "audit-office", "auditor", None),
    (HUZHOU, "audit-office", "auditor", None),
    (HUZHOU, "procurement-office", "department", "procurement"),
    (HUZHOU, "ops", "admin", None),
    (ZHEJIANG, "ops", "admin", None),
    (LISHUI, "ops", "admin", None),
    (CHANGSHA, "market-office", "department", "market_regulation"),
]


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    built = make_cluster(
        tmp_path_factory.mktemp("trust"),
        [NATIONAL, ZHEJIANG, HUZHOU, LISHUI],
        clients=CLIENTS,
        unlisted=[HUNAN, CHANGSHA],
    )
    with running(built, [NATIONAL, ZHEJIANG, HUZHOU]) as started:
        yield started


# -- helpers ---------------------------------------------------------------------------


def refusal(call: Callable[[], object]) -> tuple[grpc.StatusCode, str]:
    """The status and message of a call that must fail."""
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    raise AssertionError("the call succeeded")


def client_fingerprint(cluster: Cluster, node: str, name: str) -> str:
    return fingerprint(load_client_credentials(cluster.client(node, name)).cert)


def node_fingerprint(cluster: Cluster, node: str) -> str:
    """The fingerprint of ``node``'s TLS certificate: what it calls its peers with."""
    return fingerprint(load_node_credentials(cluster.keystore.node(node)).tls_cert)


def now() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())


def huzhou_penalty(cluster: Cluster, i: int, *, reaches: str) -> str:
    """Submit one penalty at Huzhou and wait (bounded) until ``reaches`` holds it."""
    (record_id,) = submit(
        cluster, HUZHOU, "procurement-office", [penalty_fields(i, decided=DECIDED)]
    )
    wait_for(
        f"{record_id} at {reaches}", lambda: record_id in listed(cluster, reaches, "audit-office")
    )
    return record_id


def denials(cluster: Cluster, node: str, actor: str) -> list[dict[str, Any]]:
    """The denied events of ``actor`` in ``node``'s audit log, read by its auditor."""
    with client_channel(cluster.client(node, "audit-office"), cluster.endpoint(node)) as channel:
        stub = audit_pb2_grpc.AuditStub(channel)
        response = stub.ListEvents(
            audit_pb2.ListEventsRequest(actor=actor, decision="denied", limit=1000)
        )
    return [json.loads(entry.event) for entry in response.events]


def one_denial(cluster: Cluster, node: str, actor: str, *, before: int = 0) -> dict[str, Any]:
    """The one denial of ``actor`` at ``node`` after the ``before`` it had (waits, bounded)."""

    def logged() -> list[dict[str, Any]] | None:
        found = denials(cluster, node, actor)
        return found if len(found) > before else None

    events = wait_for(f"a denial of {actor} at {node}", logged)
    assert len(events) == before + 1, events
    return events[-1]


def assert_attributed(event: dict[str, Any], cluster: Cluster, node: str, name: str) -> None:
    """The event names the caller by certificate fingerprint and loopback address."""
    assert event["fingerprint"] == client_fingerprint(cluster, node, name)
    assert event["address"].startswith("ipv4:127.0.0.1:")


def in_channel(
    cluster: Cluster, client: tuple[str, str], at: str, call: Callable[[grpc.Channel], object]
) -> Callable[[], object]:
    def run() -> object:
        with client_channel(cluster.client(*client), cluster.endpoint(at)) as channel:
            return call(channel)

    return run


# -- item 1: a client certificate works only at the node that issued it ------------------


def _foreign_message(owner: str, at: str) -> str:
    return f"a client certificate of node {owner} is valid only there, not at node {at}"


def test_changsha_department_certificate_is_refused_at_national(federation: Cluster) -> None:
    def submit(channel: grpc.Channel) -> object:
        stub = intake_pb2_grpc.IntakeStub(channel)
        request = intake_pb2.SubmitRequest(
            records=[intake_pb2.SubmittedRecord(ref="1", category="admin_penalty", fields={})]
        )
        return list(stub.Submit(iter([request]), timeout=20))

    status = refusal(in_channel(federation, (CHANGSHA, "market-office"), NATIONAL, submit))

    assert status == (grpc.StatusCode.PERMISSION_DENIED, _foreign_message(CHANGSHA, NATIONAL))
    event = one_denial(federation, NATIONAL, f"department:{CHANGSHA}/market-office")
    assert event["rule"] == "authn:client-of-another-node"
    assert event["action"] == "/gateway.v1.Intake/Submit"
    assert_attributed(event, federation, CHANGSHA, "market-office")


def test_lishui_admin_certificate_is_refused_at_huzhou(federation: Cluster) -> None:
    def decide(channel: grpc.Channel) -> object:
        stub = discipline_pb2_grpc.DisciplineStub(channel)
        return stub.DecideObjection(
            discipline_pb2.DecideObjectionRequest(objection_id="0" * 32), timeout=20
        )

    status = refusal(in_channel(federation, (LISHUI, "ops"), HUZHOU, decide))

    assert status == (grpc.StatusCode.PERMISSION_DENIED, _foreign_message(LISHUI, HUZHOU))
    event = one_denial(federation, HUZHOU, f"admin:{LISHUI}/ops")
    assert event["rule"] == "authn:client-of-another-node"
    assert_attributed(event, federation, LISHUI, "ops")


@pytest.mark.parametrize("node", [ZHEJIANG, NATIONAL])
def test_huzhou_auditor_certificate_is_refused_at_the_province_and_national(
    federation: Cluster, node: str
) -> None:
    def events(channel: grpc.Channel) -> object:
        stub = audit_pb2_grpc.AuditStub(channel)
        return stub.ListEvents(audit_pb2.ListEventsRequest(limit=10), timeout=20)

    status = refusal(in_channel(federation, (HUZHOU, "audit-office"), node, events))

    assert status == (grpc.StatusCode.PERMISSION_DENIED, _foreign_message(HUZHOU, node))
    event = one_denial(federation, node, f"auditor:{HUZHOU}/audit-office")
    assert event["rule"] == "authn:client-of-another-node"
    assert event["action"] == "/gateway.v1.Audit/ListEvents"
    assert_attributed(event, federation, HUZHOU, "audit-office")


def test_huzhou_department_certificate_is_refused_at_the_national_store(
    federation: Cluster,
) -> None:
    def read(channel: grpc.Channel) -> object:
        stub = records_pb2_grpc.RecordsStub(channel)
        return stub.List(records_pb2.ListRecordsRequest(purpose="curious", limit=10), timeout=20)

    status = refusal(in_channel(federation, (HUZHOU, "procurement-office"), NATIONAL, read))

    assert status == (grpc.StatusCode.PERMISSION_DENIED, _foreign_message(HUZHOU, NATIONAL))
    event = one_denial(federation, NATIONAL, f"department:{HUZHOU}/procurement-office")
    assert event["rule"] == "authn:client-of-another-node"
    assert event["action"] == "/gateway.v1.Records/List"
    assert_attributed(event, federation, HUZHOU, "procurement-office")


# -- item 7: every refusal is one audit event, attributed ---------------------------------


def test_department_checking_for_another_domain_is_audited_once_with_its_identity(
    federation: Cluster,
) -> None:
    def check(channel: grpc.Channel) -> object:
        stub = discipline_pb2_grpc.DisciplineStub(channel)
        request = discipline_pb2.CheckRequest(
            subject=company_code(7), domain="bidding", purpose="tender 2026-17"
        )
        return stub.Check(request, timeout=20)

    status = refusal(in_channel(federation, (HUZHOU, "procurement-office"), HUZHOU, check))

    assert status == (
        grpc.StatusCode.PERMISSION_DENIED,
        "a department of domain procurement may not check for domain bidding",
    )
    event = one_denial(federation, HUZHOU, f"department:{HUZHOU}/procurement-office")
    assert event["rule"] == "check:own-domain"
    assert event["action"] == "/gateway.v1.Discipline/Check"
    assert_attributed(event, federation, HUZHOU, "procurement-office")
    assert denials(federation, HUZHOU, "unauthenticated") == []


# -- item 2: a status statement counts only when signed by its record's issuer -------------


def test_lishui_revocation_of_a_huzhou_record_is_refused_at_the_province(
    federation: Cluster,
) -> None:
    record_id = huzhou_penalty(federation, 2001, reaches=NATIONAL)
    forged = StatusStatement(
        statement_id=uuid.uuid4().hex,
        kind=StatusKind.REVOCATION,
        issuer=LISHUI,
        record_id=record_id,
        version=1,
        issued_at=now(),
        reason="decision annulled on review",
        new_version=None,
    )
    envelope = sign_statement(forged, node_signer(federation, LISHUI)).to_json()
    request = hop_request(federation, sender=LISHUI, audience=ZHEJIANG, statements=[envelope])
    before = len(denials(federation, ZHEJIANG, f"node:{LISHUI}/{LISHUI}"))

    status = refusal(lambda: push(federation, sender=LISHUI, to=ZHEJIANG, request=request))

    assert status == (
        grpc.StatusCode.PERMISSION_DENIED,
        f"statement {forged.statement_id} about record {record_id} v1 is signed by node "
        f"{LISHUI}, not by the record's issuer {HUZHOU}",
    )
    event = one_denial(federation, ZHEJIANG, f"node:{LISHUI}/{LISHUI}", before=before)
    assert event["rule"] == "statement:issuer-only"
    assert event["action"] == "push.receive"
    assert event["fingerprint"] == node_fingerprint(federation, LISHUI)
    assert event["address"].startswith("ipv4:127.0.0.1:")
    # Neither applied at the province nor forwarded to national.
    assert listed(federation, ZHEJIANG, "audit-office")[record_id].status == "active"
    assert listed(federation, NATIONAL, "audit-office")[record_id].status == "active"


# -- item 8: peer input never reaches INTERNAL ---------------------------------------------


def assert_node_refusal(
    cluster: Cluster, at: str, peer: str, before: int, *, action: str, rule: str
) -> None:
    event = one_denial(cluster, at, f"node:{peer}/{peer}", before=before)
    assert (event["action"], event["rule"]) == (action, rule)
    assert event["fingerprint"] == node_fingerprint(cluster, peer)
    assert event["address"].startswith("ipv4:127.0.0.1:")


def test_lishui_record_with_version_2_pow_40_is_refused_at_the_province(
    federation: Cluster,
) -> None:
    record = for_parent(signed_penalty(federation, LISHUI, 8001, version=2**40), LISHUI)
    request = hop_request(federation, sender=LISHUI, audience=ZHEJIANG, records=[record])
    before = len(denials(federation, ZHEJIANG, f"node:{LISHUI}/{LISHUI}"))

    [ack] = push(federation, sender=LISHUI, to=ZHEJIANG, request=request)

    # Signed by its issuer, out of this node's bounds: refused alone, nothing of it stored.
    assert (ack.stored, ack.duplicates) == (0, 0)
    assert [(r.outcome, r.reason, r.passes_with_time) for r in ack.records] == [
        (
            federation_pb2.ITEM_OUTCOME_REFUSED,
            "OutOfRangeError: record claim 'ver' is 1099511627776, outside 1..1000000",
            False,
        )
    ]
    assert claimed_record_id(record) not in listed(federation, ZHEJIANG, "audit-office")
    assert_node_refusal(
        federation, ZHEJIANG, LISHUI, before, action="push.receive", rule="limits:record-version"
    )
    # The province still lists its records to every caller (no INTERNAL after it).
    assert listed(federation, ZHEJIANG, "audit-office") is not None


def test_lone_surrogate_in_a_message_body_is_refused_at_the_province(
    federation: Cluster,
) -> None:
    message = {
        "message_id": uuid.uuid4().hex,
        "origin": LISHUI,
        "target": ZHEJIANG,
        "kind": "discipline.feedback",
        "created_at": now(),
        "body": {"note": "\ud800"},
    }
    # ASCII JSON with the lone surrogate escaped: what a hostile encoder writes.
    payload = json.dumps(message, sort_keys=True, separators=(",", ":")).encode()
    envelope = sign_envelope(MESSAGE_PAYLOAD_TYPE, payload, node_signer(federation, LISHUI))
    request = hop_request(
        federation, sender=LISHUI, audience=ZHEJIANG, messages=[envelope.to_json()]
    )
    before = len(denials(federation, ZHEJIANG, f"node:{LISHUI}/{LISHUI}"))

    status = refusal(lambda: push(federation, sender=LISHUI, to=ZHEJIANG, request=request))

    assert status == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "routed message: body has text that is not valid Unicode (a lone surrogate)",
    )
    assert_node_refusal(
        federation, ZHEJIANG, LISHUI, before, action="push.receive", rule="MalformedError"
    )


def test_huzhou_checkpoint_of_size_2_pow_63_is_refused_by_the_province_witness(
    federation: Cluster,
) -> None:
    creds = load_node_credentials(federation.keystore.node(HUZHOU))
    signer = NoteSigner(log_origin(HUZHOU), creds.signing_key)
    note = sign_checkpoint(Checkpoint(log_origin(HUZHOU), 2**63, bytes(32)), signer)
    request = audit_pb2.CosignRequest(
        checkpoint=note, old_size=0, signing_certificate_chain=signing_chain_pem(creds)
    )
    before = len(denials(federation, ZHEJIANG, f"node:{HUZHOU}/{HUZHOU}"))

    def cosign() -> object:
        channel = open_peer_channel(creds, federation.endpoint(ZHEJIANG))
        try:
            return audit_pb2_grpc.WitnessStub(channel).Cosign(request, timeout=20)
        finally:
            channel.close()

    status = refusal(cosign)

    assert status == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"checkpoint size is {2**63}, outside 0..{2**53}",
    )
    assert_node_refusal(
        federation,
        ZHEJIANG,
        HUZHOU,
        before,
        action="/gateway.v1.Witness/Cosign",
        rule="limits:checkpoint-size",
    )


def test_huzhou_auditor_reading_entries_from_2_pow_64_minus_1_is_refused(
    federation: Cluster,
) -> None:
    def entries(channel: grpc.Channel) -> object:
        stub = audit_pb2_grpc.AuditStub(channel)
        return stub.GetEntries(audit_pb2.GetEntriesRequest(start=2**64 - 1, limit=10), timeout=20)

    status = refusal(in_channel(federation, (HUZHOU, "audit-office"), HUZHOU, entries))

    assert status == (
        grpc.StatusCode.INVALID_ARGUMENT,
        f"first entry is {2**64 - 1}, outside 0..{2**53}",
    )
    event = one_denial(federation, HUZHOU, f"auditor:{HUZHOU}/audit-office")
    assert (event["action"], event["rule"]) == (
        "/gateway.v1.Audit/GetEntries",
        "limits:log-position",
    )
    assert_attributed(event, federation, HUZHOU, "audit-office")


# -- item 3: a record id is its issuer's alone ----------------------------------------------


def _not_its_id(record_id: str, claimant: str, owner: str) -> str:
    return (
        f"record {record_id} is not an id of node {claimant} but of node {owner}: only a "
        "record's issuer may publish it, a version of it or its status"
    )


def test_lishui_version_2_of_a_huzhou_record_is_refused_at_the_province(
    federation: Cluster,
) -> None:
    record_id = huzhou_penalty(federation, 4001, reaches=ZHEJIANG)
    forged = for_parent(
        signed_penalty(federation, LISHUI, 4001, version=2, record_id=record_id), LISHUI
    )
    request = hop_request(federation, sender=LISHUI, audience=ZHEJIANG, records=[forged])
    before = len(denials(federation, ZHEJIANG, f"node:{LISHUI}/{LISHUI}"))

    status = refusal(lambda: push(federation, sender=LISHUI, to=ZHEJIANG, request=request))

    assert status == (grpc.StatusCode.PERMISSION_DENIED, _not_its_id(record_id, LISHUI, HUZHOU))
    assert_node_refusal(
        federation, ZHEJIANG, LISHUI, before, action="push.receive", rule="record:issuer-only"
    )
    # The province still serves Huzhou's own version as the latest.
    assert listed(federation, ZHEJIANG, "audit-office")[record_id].version == 1


def test_lishui_taking_a_huzhou_record_id_first_is_refused_and_the_genuine_record_arrives(
    federation: Cluster,
) -> None:
    # Ids are predictable: Lishui computes the id Huzhou will give its next penalty...
    stolen = claimed_record_id(signed_penalty(federation, HUZHOU, 4002))
    squatter = for_parent(signed_penalty(federation, LISHUI, 4002, record_id=stolen), LISHUI)
    request = hop_request(federation, sender=LISHUI, audience=ZHEJIANG, records=[squatter])
    before = len(denials(federation, ZHEJIANG, f"node:{LISHUI}/{LISHUI}"))

    status = refusal(lambda: push(federation, sender=LISHUI, to=ZHEJIANG, request=request))

    assert status == (grpc.StatusCode.PERMISSION_DENIED, _not_its_id(stolen, LISHUI, HUZHOU))
    assert_node_refusal(
        federation, ZHEJIANG, LISHUI, before, action="push.receive", rule="record:issuer-only"
    )
    # ...and Huzhou's genuine record, submitted afterwards, still reaches the province.
    assert huzhou_penalty(federation, 9000 + 4002, reaches=ZHEJIANG) == stolen
    assert listed(federation, ZHEJIANG, "audit-office")[stolen].issuer == HUZHOU


# -- item 5: peers are who they must be -----------------------------------------------------


def test_lishui_pushing_straight_to_national_past_its_province_is_refused(
    federation: Cluster,
) -> None:
    record = for_parent(signed_penalty(federation, LISHUI, 5001), LISHUI)
    request = hop_request(federation, sender=LISHUI, audience=NATIONAL, records=[record])
    before = len(denials(federation, NATIONAL, f"node:{LISHUI}/{LISHUI}"))

    status = refusal(lambda: push(federation, sender=LISHUI, to=NATIONAL, request=request))

    assert status == (
        grpc.StatusCode.PERMISSION_DENIED,
        f"node {LISHUI} is neither the parent nor a child of node {NATIONAL} in the "
        "federation directory: it may not push here",
    )
    assert_node_refusal(
        federation,
        NATIONAL,
        LISHUI,
        before,
        action="push.receive",
        rule="federation:push-neighbours-only",
    )
    assert claimed_record_id(record) not in listed(federation, NATIONAL, "audit-office")


def test_huzhou_does_not_push_to_a_server_holding_lishui_certificate_at_its_province_address(
    tmp_path: Path,
) -> None:
    cluster = make_cluster(
        tmp_path,
        [NATIONAL, ZHEJIANG, HUZHOU, LISHUI],
        clients=[
            (HUZHOU, "procurement-office", "department", "procurement"),
            (LISHUI, "audit-office", "auditor", None),
        ],
    )
    # The impostor: a real Lishui node, listening where the directory lists Zhejiang.
    config = cluster.configs[LISHUI]
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            f'listen = "{cluster.endpoint(LISHUI)}"', f'listen = "{cluster.endpoint(ZHEJIANG)}"'
        ),
        encoding="utf-8",
    )
    cluster.ports[LISHUI] = cluster.ports[ZHEJIANG]
    with running(cluster, [LISHUI, HUZHOU]):
        submit(cluster, HUZHOU, "procurement-office", [penalty_fields(6001, decided=DECIDED)])

        def refused_or_unreachable() -> bool:
            return any(
                ('"peer.unreachable"' in line or '"batch refused by peer"' in line)
                and f'"{ZHEJIANG}"' in line
                for line in cluster.log(HUZHOU).splitlines()
            )

        wait_for("Huzhou to try its province", refused_or_unreachable)
        assert '"peer.unreachable"' in cluster.log(HUZHOU)
        with client_channel(cluster.client(LISHUI, "audit-office"), cluster.endpoint(LISHUI)) as ch:
            seen = audit_pb2_grpc.AuditStub(ch).ListEvents(
                audit_pb2.ListEventsRequest(actor=f"node:{HUZHOU}/{HUZHOU}", limit=100)
            )
        assert [json.loads(e.event) for e in seen.events] == []


# -- also: background loops never die -------------------------------------------------------


def test_province_keeps_pushing_after_a_messages_only_batch_meets_an_unreachable_city(
    federation: Cluster,
) -> None:
    # Lishui (in the directory, not running) gives the province one of its records...
    record = for_parent(signed_penalty(federation, LISHUI, 7001), LISHUI)
    push(
        federation,
        sender=LISHUI,
        to=ZHEJIANG,
        request=hop_request(federation, sender=LISHUI, audience=ZHEJIANG, records=[record]),
    )
    # ...and an objection filed at the province travels to Lishui alone: a batch of one
    # routed message, which meets UNAVAILABLE.
    with client_channel(federation.client(ZHEJIANG, "ops"), federation.endpoint(ZHEJIANG)) as ch:
        discipline_pb2_grpc.DisciplineStub(ch).FileObjection(
            discipline_pb2.FileObjectionRequest(
                record_id=claimed_record_id(record), version=1, grounds="已全额缴纳罚款"
            ),
            timeout=20,
        )
    wait_for(
        "the province to find Lishui unreachable",
        lambda: any(
            '"peer.unreachable"' in line and f'"{LISHUI}"' in line
            for line in federation.log(ZHEJIANG).splitlines()
        ),
    )

    # The province's push loop is still alive: a Huzhou record still reaches national
    # (huzhou_penalty waits for it there, bounded, and fails if it never arrives).
    record_id = huzhou_penalty(federation, 3001, reaches=NATIONAL)
    assert record_id.startswith(f"{HUZHOU}-")
