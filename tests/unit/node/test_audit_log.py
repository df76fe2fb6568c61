"""Checkpoint publishing, witnessing by the parent, and offline verification of a log."""

from __future__ import annotations

import base64
import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from gateway.core.audit import AuditEvent, Decision
from gateway.core.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    cosign,
    open_checkpoint,
    sign_checkpoint,
    verify_cosignature,
)
from gateway.core.errors import (
    AccessDeniedError,
    ConflictError,
    ExpiredError,
    MalformedError,
    NotFoundError,
    PeerUnavailableError,
    ProofError,
    SignatureError,
)
from gateway.core.merkle import MerkleTree
from gateway.core.note import NoteSigner, NoteVerifier
from gateway.core.principal import Principal, Role
from gateway.node.audit_gap import AuditGapGuard
from gateway.node.audit_log import (
    CheckpointPublisher,
    CosignReply,
    CosignRequest,
    WitnessClient,
    WitnessStatement,
    log_origin,
)
from gateway.node.checkpoint_witness import CheckpointWitness
from gateway.node.log_verify import (
    PublishedCheckpoint,
    WitnessedHead,
    open_witness_statement,
    verify_log,
)
from gateway.node.operator import Operator
from gateway.pki import NodeCredentials, load_node_credentials
from gateway.rpc.audit import signing_chain_pem
from gateway.store import AuditFilter, Store, open_store
from gateway.store.backup import backup_sqlite
from gateway.store.checkpoints import CheckpointRepository, LogEntries, WitnessRepository
from gateway.store.tables import AUDIT_EVENT, AUDIT_NODE
from tests.support.federation import Keystore, make_keystore

NOW = int(time.time())
"""Certificates are issued now, so the clock starts now."""
CITY, PROVINCE = "330500", "330000"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return make_keystore(
        tmp_path_factory.mktemp("keys"), nodes=["000000", PROVINCE, CITY, "330600"], clients=[]
    )


def _creds(keystore: Keystore, node_id: str) -> NodeCredentials:
    return load_node_credentials(keystore.node(node_id))


@pytest.fixture
def city_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'city.db'}")
    yield store
    store.close()


@pytest.fixture
def province_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'province.db'}")
    yield store
    store.close()


def _node(node_id: str) -> Principal:
    return Principal(role=Role.NODE, node_id=node_id, name=node_id, domain=None, fingerprint="f")


def _events(store: Store, count: int, *, start: int = 0) -> None:
    store.audit.append(
        [
            AuditEvent(
                time=NOW + i,
                node=CITY,
                actor="department:330500/procurement",
                action="records.list",
                decision=Decision.ALLOWED,
                purpose="bid review",
                detail=f"query {i}",
            )
            for i in range(start, start + count)
        ]
    )


def _witness(keystore: Keystore, store: Store, clock: Clock) -> CheckpointWitness:
    creds = _creds(keystore, PROVINCE)
    return CheckpointWitness(
        node_id=PROVINCE,
        signing_key=creds.signing_key,
        certificate_chain=signing_chain_pem(creds),
        root=creds.root,
        witnessed=WitnessRepository(store.engine),
        audit=store.audit,
        writer=store.writer,
        clock=clock,
    )


@dataclasses.dataclass
class DirectWitness:
    """The parent's witness called in-process, as the city's mTLS identity."""

    witness: CheckpointWitness
    calls: int = 0

    def cosign(self, request: CosignRequest) -> CosignReply:
        self.calls += 1
        return self.witness.cosign(_node(CITY), request)

    def latest_cosigned(self) -> WitnessStatement:
        return self.witness.latest_cosigned(_node(CITY))


def _publisher(
    keystore: Keystore,
    store: Store,
    clock: Clock,
    witness: DirectWitness | None = None,
    *,
    every_events: int = 3,
) -> CheckpointPublisher:
    creds = _creds(keystore, CITY)
    return CheckpointPublisher(
        node_id=CITY,
        signing_key=creds.signing_key,
        certificate_chain=signing_chain_pem(creds),
        root=creds.root,
        audit=store.audit,
        entries=LogEntries(store.engine, store.audit),
        checkpoints=CheckpointRepository(store.engine),
        witness=witness,
        every_events=every_events,
        every_s=60,
        clock=clock,
    )


def _city_verifier(keystore: Keystore) -> NoteVerifier:
    return NoteVerifier.for_key(log_origin(CITY), _creds(keystore, CITY).signing_key.public_key())


def _province_verifier(keystore: Keystore) -> CosignatureVerifier:
    key = _creds(keystore, PROVINCE).signing_key.public_key()
    return CosignatureVerifier.for_key(log_origin(PROVINCE), key)


# --------------------------------------------------------------------------- publishing


def test_a_checkpoint_every_n_events_or_t_seconds_whichever_first(
    keystore: Keystore, city_store: Store
) -> None:
    clock = Clock()
    publisher = _publisher(keystore, city_store, clock)
    assert publisher.publish() is None, "an empty log has nothing to sign"
    _events(city_store, 2)
    assert publisher.publish() is None, "2 events, 0 s: not yet due"
    _events(city_store, 1, start=2)
    first = publisher.publish()
    assert first is not None
    assert first.size == 3
    checkpoint, _ = open_checkpoint(first.note, [_city_verifier(keystore)], origin=log_origin(CITY))
    assert (checkpoint.size, checkpoint.root) == (3, city_store.audit.root(3))

    _events(city_store, 1, start=3)
    clock.now += 59
    assert publisher.publish() is None, "1 event, 59 s: not yet due"
    clock.now += 1
    second = publisher.publish()
    assert second is not None
    assert second.size == 4
    assert publisher.publish() is None, "no new event: no new checkpoint"
    _events(city_store, 1, start=4)
    final = publisher.publish(final=True)
    assert final is not None
    assert final.size == 5
    assert [c.size for c in CheckpointRepository(city_store.engine).list()] == [3, 4, 5]


def test_the_publisher_refuses_to_sign_a_rewritten_or_shrunken_log(
    keystore: Keystore, city_store: Store
) -> None:
    publisher = _publisher(keystore, city_store, Clock())
    _events(city_store, 3)
    assert publisher.publish() is not None
    with city_store.engine.begin() as conn:
        conn.execute(AUDIT_NODE.update().where(AUDIT_NODE.c.level == 1).values(hash=b"\x00" * 32))
    _events(city_store, 3, start=3)
    with pytest.raises(ProofError, match="not consistent with checkpoint 3"):
        publisher.publish()

    other = _publisher(keystore, city_store, Clock())
    with city_store.engine.begin() as conn:
        conn.execute(AUDIT_EVENT.delete().where(AUDIT_EVENT.c.seq >= 2))
    with pytest.raises(ProofError, match="holds 2 events, fewer than the 3"):
        other.publish()
    assert [c.size for c in CheckpointRepository(city_store.engine).list()] == [3]


# --------------------------------------------------------------------------- witnessing


def test_the_parent_cosigns_consistent_checkpoints_and_keeps_them(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    clock = Clock()
    direct = DirectWitness(_witness(keystore, province_store, clock))
    publisher = _publisher(keystore, city_store, clock, direct)
    assert publisher.request_cosignature() is None, "nothing published yet"
    for start in (0, 3, 6):
        _events(city_store, 3, start=start)
        published = publisher.publish()
        assert published is not None
        row = publisher.request_cosignature()
        assert row is not None
        assert (row.size, row.witness) == (published.size, PROVINCE)
        body = published.note[: published.note.index("\n\n") + 1]
        verify_cosignature(body, row.line, _province_verifier(keystore))
    assert publisher.request_cosignature() is None, "the latest is already cosigned"
    assert direct.calls == 3

    kept = WitnessRepository(province_store.engine).history(CITY)
    assert [r.size for r in kept] == [3, 6, 9]
    cosigned = province_store.audit.events(AuditFilter(action="witness.cosign"))
    assert [e.event.decision for e in cosigned] == [Decision.ALLOWED] * 3
    assert cosigned[-1].event.actor == f"node:{CITY}/{CITY}"
    assert "cosigned checkpoint 9 of 330500 (from 6)" in cosigned[-1].event.detail


def test_a_child_that_lost_track_proves_from_the_size_the_parent_names(
    keystore: Keystore, city_store: Store, province_store: Store, tmp_path: Path
) -> None:
    clock = Clock()
    direct = DirectWitness(_witness(keystore, province_store, clock))
    _events(city_store, 4)
    publisher = _publisher(keystore, city_store, clock, direct)
    assert publisher.publish() is not None
    assert publisher.request_cosignature() is not None
    # The child forgets the cosignature (say, restored from a backup) and grows.
    with city_store.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_cosignature")
    _events(city_store, 3, start=4)
    assert publisher.publish() is not None
    row = publisher.request_cosignature()
    assert row is not None
    assert row.size == 7
    assert direct.calls == 3, "one refusal naming size 4, then the proof from 4"


def test_the_parent_refuses_an_inconsistent_checkpoint_audits_and_alarms(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    clock = Clock()
    witness = _witness(keystore, province_store, clock)
    publisher = _publisher(keystore, city_store, clock, DirectWitness(witness))
    _events(city_store, 4)
    assert publisher.publish() is not None
    assert publisher.request_cosignature() is not None

    # A forged history of 6 events, properly signed by the city's own key.
    forged = MerkleTree(f"forged {i}".encode() for i in range(6))
    signer = NoteSigner(log_origin(CITY), _creds(keystore, CITY).signing_key)
    note = sign_checkpoint(Checkpoint(log_origin(CITY), 6, forged.root()), signer)
    chain = signing_chain_pem(_creds(keystore, CITY))
    request = CosignRequest(note, 4, forged.consistency_proof(4, 6), chain)
    with (
        capture_logs() as logs,
        pytest.raises(ProofError, match=r"calculated root\d differs from the expected"),
    ):
        witness.cosign(_node(CITY), request)

    alarms = [e for e in logs if e["log_level"] == "error"]
    assert alarms
    assert alarms[0]["child"] == CITY
    assert "inconsistent checkpoint" in alarms[0]["event"]
    denied = province_store.audit.events(AuditFilter(decision="denied"))
    assert len(denied) == 1
    assert denied[0].event.rule == "witness:inconsistent-checkpoint"
    assert denied[0].event.actor == f"node:{CITY}/{CITY}"
    last = WitnessRepository(province_store.engine).last(CITY)
    assert last is not None
    assert last.size == 4, "nothing of the forgery is kept"

    # The same size with another root, and a smaller tree, are refused too.
    for size in (4, 2):
        other = MerkleTree(f"other {i}".encode() for i in range(size))
        note = sign_checkpoint(Checkpoint(log_origin(CITY), size, other.root()), signer)
        with pytest.raises(ProofError, match=r"root other than|smaller than cosigned"):
            witness.cosign(_node(CITY), CosignRequest(note, 4, [], chain))


def test_the_parent_names_its_size_when_old_size_is_stale(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    witness = _witness(keystore, province_store, Clock())
    _events(city_store, 5)
    publisher = _publisher(keystore, city_store, Clock())
    published = publisher.publish()
    assert published is not None
    chain = signing_chain_pem(_creds(keystore, CITY))
    reply = witness.cosign(_node(CITY), CosignRequest(published.note, 3, [], chain))
    assert (reply.cosignature, reply.witnessed_size) == ("", 0)


def test_the_parent_refuses_strangers_and_unverifiable_checkpoints(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    witness = _witness(keystore, province_store, Clock())
    _events(city_store, 3)
    published = _publisher(keystore, city_store, Clock()).publish()
    assert published is not None
    city_chain = signing_chain_pem(_creds(keystore, CITY))
    request = CosignRequest(published.note, 0, [], city_chain)

    with pytest.raises(AccessDeniedError, match="not a child node of 330000") as stranger:
        witness.cosign(_node("000000"), request)
    assert stranger.value.rule == "witness:not-a-child"
    auditor = Principal(Role.AUDITOR, CITY, "audit-office", None, "f")
    with pytest.raises(AccessDeniedError, match="not a child node"):
        witness.cosign(auditor, request)
    # Another city's certificate cannot vouch for this city's checkpoint.
    neighbour = signing_chain_pem(_creds(keystore, "330600"))
    with pytest.raises(SignatureError, match="names node 330600, expected 330500"):
        witness.cosign(_node(CITY), dataclasses.replace(request, certificate_chain=neighbour))
    # The neighbour cannot present the city's checkpoint as one of its own log.
    with pytest.raises(
        SignatureError,
        match="checkpoint origin 'credit-gateway/330500' is not an epoch of log "
        "'credit-gateway/330600'",
    ):
        witness.cosign(_node("330600"), dataclasses.replace(request, certificate_chain=neighbour))
    denied = province_store.audit.events(AuditFilter(decision="denied"))
    assert {e.event.rule for e in denied} == {"witness:unverified"}
    assert WitnessRepository(province_store.engine).last(CITY) is None


# --------------------------------------------------------------------------- offline verification


def _published(
    keystore: Keystore, city_store: Store, province_store: Store, *, batches: int = 3
) -> list[PublishedCheckpoint]:
    """A city log of ``3 * batches`` events (+1 unsigned), each batch checkpointed and cosigned."""
    clock = Clock()
    publisher = _publisher(
        keystore, city_store, clock, DirectWitness(_witness(keystore, province_store, clock))
    )
    for b in range(batches):
        _events(city_store, 3, start=3 * b)
        assert publisher.publish() is not None
        assert publisher.request_cosignature() is not None
    _events(city_store, 1, start=3 * batches)
    return [
        PublishedCheckpoint(c.size, c.note, tuple(s.line for s in c.cosignatures))
        for c in CheckpointRepository(city_store.engine).list()
    ]


def _verify(
    keystore: Keystore, store: Store, checkpoints: list[PublishedCheckpoint], *, witness: bool
) -> object:
    entries = LogEntries(store.engine, store.audit).read(0, 1000)
    return verify_log(
        origin=log_origin(CITY),
        log_key=_city_verifier(keystore),
        witness=_province_verifier(keystore) if witness else None,
        checkpoints=checkpoints,
        entries=entries,
        inclusion=store.audit.inclusion_proof,
    )


def test_an_intact_log_verifies_with_its_witness(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    checkpoints = _published(keystore, city_store, province_store)
    report = _verify(keystore, city_store, checkpoints, witness=True)
    assert dataclasses.asdict(report) == {  # type: ignore[call-overload]
        "events": 10,
        "checkpoints": 3,
        "signed_size": 9,
        "witnessed_size": 9,
        "cosignatures": 3,
        "epoch": 1,
        "gaps": (),
    }


def _set_event(store: Store, seq: int, data: bytes) -> None:
    with store.engine.begin() as conn:
        conn.execute(AUDIT_EVENT.update().where(AUDIT_EVENT.c.seq == seq).values(event=data))


def test_an_altered_event_is_named(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    checkpoints = _published(keystore, city_store, province_store)
    original = LogEntries(city_store.engine, city_store.audit).read(4, 1)[0][1]
    _set_event(city_store, 4, original.replace(b"query 4", b"query 5"))
    with pytest.raises(
        ProofError, match="event 4 was altered: its bytes are not in signed checkpoint 6"
    ):
        _verify(keystore, city_store, checkpoints, witness=True)
    _set_event(city_store, 4, original + b" ")
    with pytest.raises(MalformedError, match=r"event 4 was altered: .*not in canonical form"):
        _verify(keystore, city_store, checkpoints, witness=True)


def test_a_deleted_event_is_named(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    checkpoints = _published(keystore, city_store, province_store)
    with city_store.engine.begin() as conn:
        conn.execute(AUDIT_EVENT.delete().where(AUDIT_EVENT.c.seq == 7))
    with pytest.raises(ProofError, match="event 7 is missing from the log"):
        _verify(keystore, city_store, checkpoints, witness=True)


def test_history_rewritten_after_a_checkpoint_is_named_by_the_checkpoint(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    checkpoints = _published(keystore, city_store, province_store)
    entries = LogEntries(city_store.engine, city_store.audit).read(0, 100)
    rewritten = [data.replace(b"query 5", b"query X") for _, data in entries]
    _set_event(city_store, 5, rewritten[5])
    forged = MerkleTree(rewritten)
    with city_store.engine.begin() as conn:
        for level, idx, _ in conn.execute(AUDIT_NODE.select()).all():
            value = forged.nodes.get_nodes([(level, idx)])[0]
            conn.execute(
                AUDIT_NODE.update()
                .where((AUDIT_NODE.c.level == level) & (AUDIT_NODE.c.idx == idx))
                .values(hash=value)
            )
    assert city_store.audit.root(10) == forged.root(), "the forgery is self-consistent"
    with pytest.raises(ProofError, match=r"checkpoint 6 does not match events 3\.\.5 as stored"):
        _verify(keystore, city_store, checkpoints, witness=True)


def test_forged_signatures_and_a_missing_witness_are_refused(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    checkpoints = _published(keystore, city_store, province_store)
    body, _, sig = checkpoints[1].note.partition("\n\n")
    resized = body.replace("\n6\n", "\n7\n", 1) + "\n\n" + sig
    bad_note = [checkpoints[0], dataclasses.replace(checkpoints[1], note=resized)]
    with pytest.raises(SignatureError, match="checkpoint 6: signature by known key"):
        _verify(keystore, city_store, bad_note, witness=True)

    name, _, encoded = checkpoints[2].cosignatures[0].rpartition(" ")
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 0x01  # one bit of the Ed25519 signature
    forged_line = f"{name} {base64.b64encode(raw).decode()}"
    bad_cosig = [*checkpoints[:2], dataclasses.replace(checkpoints[2], cosignatures=(forged_line,))]
    with pytest.raises(SignatureError, match="checkpoint 9: cosignature by witness"):
        _verify(keystore, city_store, bad_cosig, witness=True)

    unwitnessed = [dataclasses.replace(c, cosignatures=()) for c in checkpoints]
    with pytest.raises(ProofError, match="no checkpoint carries a cosignature by witness"):
        _verify(keystore, city_store, unwitnessed, witness=True)
    assert _verify(keystore, city_store, unwitnessed, witness=False) is not None


def test_a_checkpoint_beyond_the_stored_events_names_the_first_missing_one(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    checkpoints = _published(keystore, city_store, province_store)
    with city_store.engine.begin() as conn:
        conn.execute(AUDIT_EVENT.delete().where(AUDIT_EVENT.c.seq >= 8))
    with pytest.raises(ProofError, match="event 8 is missing from the log"):
        _verify(keystore, city_store, checkpoints, witness=True)


# --------------------------------------------------------------------------- the parent's word


def _cosigned_log(
    keystore: Keystore, city_store: Store, province_store: Store, clock: Clock
) -> CheckpointWitness:
    """A city log of 7 events, checkpoints 3 and 6 cosigned by the province's witness."""
    witness = _witness(keystore, province_store, clock)
    publisher = _publisher(keystore, city_store, clock, DirectWitness(witness))
    for b in range(2):
        _events(city_store, 3, start=3 * b)
        assert publisher.publish() is not None
        assert publisher.request_cosignature() is not None
    _events(city_store, 1, start=6)
    return witness


def _open(keystore: Keystore, statement: WitnessStatement, now: int) -> WitnessedHead:
    return open_witness_statement(
        statement,
        origin=log_origin(CITY),
        log_key=_city_verifier(keystore),
        witness=_province_verifier(keystore),
        now=now,
        max_age_s=300,
    )


def _verify_against(store: Store, keystore: Keystore, head: WitnessedHead) -> object:
    leaves = LogEntries(store.engine, store.audit).leaves(0, 1000)
    return verify_log(
        origin=log_origin(CITY),
        log_key=_city_verifier(keystore),
        witness=None,
        checkpoints=[],
        entries=[(leaf.seq, leaf.data) for leaf in leaves],
        indexed={leaf.seq: leaf.indexed for leaf in leaves},
        witnessed_head=head,
    )


def test_the_parent_vouches_afresh_for_the_latest_checkpoint_it_cosigned(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    clock = Clock()
    witness = _cosigned_log(keystore, city_store, province_store, clock)
    clock.now += 1000
    head = _open(keystore, witness.latest_cosigned(_node(CITY)), clock.now)
    assert (head.witness, head.checkpoint.size, head.cosigned_at) == (
        log_origin(PROVINCE),
        6,
        clock.now,
    )
    assert _verify_against(city_store, keystore, head) is not None


def test_a_stale_or_missing_statement_is_refused(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    clock = Clock()
    witness = _cosigned_log(keystore, city_store, province_store, clock)
    statement = witness.latest_cosigned(_node(CITY))
    # A node relaying a statement it kept from before later checkpoints.
    with pytest.raises(
        ExpiredError,
        match=f"the statement of witness {log_origin(PROVINCE)} is 301 s old, over the 300 s",
    ):
        _open(keystore, statement, clock.now + 301)
    with pytest.raises(
        ProofError, match=f"the node relayed no statement of its witness {log_origin(PROVINCE)}"
    ):
        _open(keystore, WitnessStatement("", "", b""), clock.now)


def test_a_statement_the_node_made_itself_is_refused(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    clock = Clock()
    witness = _cosigned_log(keystore, city_store, province_store, clock)
    genuine = witness.latest_cosigned(_node(CITY))
    body = genuine.checkpoint[: genuine.checkpoint.index("\n\n") + 1]
    # The city cosigns under its parent's name with the only key it has: its own.
    forged = cosign(body, log_origin(PROVINCE), _creds(keystore, CITY).signing_key, clock.now)
    with pytest.raises(
        SignatureError,
        match=f"the statement of witness {log_origin(PROVINCE)}: cosignature is by "
        f"{log_origin(PROVINCE)}\\+[0-9a-f]{{8}}, not witness",
    ):
        _open(keystore, dataclasses.replace(genuine, cosignature=forged), clock.now)


def test_a_log_behind_or_beside_the_vouched_checkpoint_fails(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    clock = Clock()
    witness = _cosigned_log(keystore, city_store, province_store, clock)
    head = _open(keystore, witness.latest_cosigned(_node(CITY)), clock.now)
    original = LogEntries(city_store.engine, city_store.audit).read(1, 1)[0][1]
    # Another history in place of the vouched one (the node's own tree is not consulted).
    _set_event(city_store, 1, original.replace(b"query 1", b"query X"))
    with pytest.raises(
        ProofError,
        match=f"the log's first 6 events are not those of checkpoint 6 that its witness "
        f"{log_origin(PROVINCE)} cosigned: it was rolled back and rewritten",
    ):
        _verify_against(city_store, keystore, head)
    _set_event(city_store, 1, original)
    with city_store.engine.begin() as conn:
        conn.execute(AUDIT_EVENT.delete().where(AUDIT_EVENT.c.seq >= 4))
    with pytest.raises(
        ProofError,
        match=f"the log holds 4 events, behind checkpoint 6 that its witness "
        f"{log_origin(PROVINCE)} cosigned: it was rolled back$",
    ):
        _verify_against(city_store, keystore, head)


def test_an_edited_indexed_column_is_named(
    keystore: Keystore, city_store: Store, province_store: Store
) -> None:
    clock = Clock()
    witness = _cosigned_log(keystore, city_store, province_store, clock)
    head = _open(keystore, witness.latest_cosigned(_node(CITY)), clock.now)
    with city_store.engine.begin() as conn:
        conn.execute(AUDIT_EVENT.update().where(AUDIT_EVENT.c.seq == 2).values(subject="x"))
    with pytest.raises(
        ProofError, match="event 2: its indexed subject column says 'x', its signed bytes say ''"
    ):
        _verify_against(city_store, keystore, head)


def test_the_parent_vouches_only_to_its_children_and_only_for_what_it_cosigned(
    keystore: Keystore, province_store: Store
) -> None:
    witness = _witness(keystore, province_store, Clock())
    with pytest.raises(AccessDeniedError, match="node:000000/000000 is not a child node of 330000"):
        witness.latest_cosigned(_node("000000"))
    with pytest.raises(NotFoundError, match="330000 has cosigned no checkpoint of 330600"):
        witness.latest_cosigned(_node("330600"))


# --------------------------------------------------------------------------- a restored log


class _Unreachable:
    def cosign(self, request: CosignRequest) -> CosignReply:
        raise PeerUnavailableError("parent unreachable")

    def latest_cosigned(self) -> WitnessStatement:
        raise PeerUnavailableError("parent unreachable")


def _guard(keystore: Keystore, store: Store, witness: WitnessClient, clock: Clock) -> AuditGapGuard:
    return AuditGapGuard.for_node(
        node_id=CITY,
        store=store,
        witness=witness,
        creds=_creds(keystore, CITY),
        clock=clock,
    )


def test_a_restored_log_is_refused_until_its_gap_is_an_incident(
    keystore: Keystore, city_store: Store, province_store: Store, tmp_path: Path
) -> None:
    clock = Clock()
    witness = _witness(keystore, province_store, clock)
    publisher = _publisher(keystore, city_store, clock, DirectWitness(witness))
    _events(city_store, 3)
    publisher.publish()
    publisher.request_cosignature()
    backup_sqlite(f"sqlite:///{tmp_path / 'city.db'}", tmp_path / "older.db")
    _events(city_store, 3, start=3)
    publisher.publish()
    assert publisher.request_cosignature() is not None
    statement = witness.latest_cosigned(_node(CITY))
    cited = statement.checkpoint.split("\n")
    root = base64.b64decode(cited[2]).hex()
    signature = statement.cosignature.split(" ")[2].strip()
    _guard(keystore, city_store, DirectWitness(witness), clock).check()  # an intact log

    restored = open_store(f"sqlite:///{tmp_path / 'older.db'}")
    try:
        guard = _guard(keystore, restored, DirectWitness(witness), clock)
        citation = (
            f"checkpoint 6 of {log_origin(CITY)}, root {root}, cosigned by {log_origin(PROVINCE)}"
        )
        with pytest.raises(
            ProofError,
            match=re.escape(
                f"the audit log does not hold {citation} (the log holds 3 events: events 3..5 "
                "lost): record the gap with `gateway audit incident` before serving"
            ),
        ):
            guard.check()
        incident = guard.record_incident(Operator("ops", "host-1"), "disk lost")
        assert (incident.epoch, incident.checkpoint.size, incident.held) == (2, 6, 4)
        guard.check()
        with pytest.raises(ConflictError, match=re.escape(f"the gap at {citation} is already")):
            guard.record_incident(Operator("ops", "host-1"), "again")
        logged = [
            (e.event.actor, e.event.action, e.event.decision.value, e.event.detail)
            for e in restored.audit.events(AuditFilter(), after=2)
        ]
        assert logged == [
            (
                f"node:{CITY}/{CITY}",
                "audit.gap",
                "denied",
                f"{citation}; the log holds 3 events: events 3..5 lost",
            ),
            (
                f"operator:{CITY}/ops",
                "audit.incident",
                "allowed",
                f"epoch 2 opens after {citation} ({signature}); the log holds 4 events: "
                "events 4..5 lost; reason: disk lost",
            ),
        ]
        # Without the parent's word the node cannot see a gap: it serves.
        _guard(keystore, restored, _Unreachable(), clock).check()
    finally:
        restored.close()
