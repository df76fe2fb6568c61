"""Issue 14 item 9: a restored log goes on as a new epoch, opened by its incident.

In process: the city's publisher and the province's witness over real SQLite
stores, real Ed25519 keys and certificates. The city's log of 6 events is
cosigned at 3 and 6; it is restored from a backup taken at 3, so events 3..5
(cosigned) are lost. Each attack is a city trying to restart its log as a new
epoch to hide those events; each is refused and audited by the province.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.core.audit import Decision, event_by_operator
from gateway.core.checkpoint import Checkpoint, cosign, sign_checkpoint
from gateway.core.errors import EpochError, ProofError, SignatureError
from gateway.core.log_epoch import INCIDENT_ACTION, EpochIncident
from gateway.core.note import NoteSigner
from gateway.node.audit_gap import retired_signing_keys
from gateway.node.audit_log import CheckpointPublisher, CosignRequest, log_origin
from gateway.node.checkpoint_witness import CheckpointWitness
from gateway.node.log_verify import LogReport, PublishedCheckpoint, WitnessedHead, verify_log
from gateway.node.operator import Operator
from gateway.pki import load_node_credentials
from gateway.pki.renew import renew_node
from gateway.rpc.audit import signing_chain_pem
from gateway.store import AuditFilter, Store, open_store
from gateway.store.backup import backup_sqlite
from gateway.store.checkpoints import CheckpointRepository, LogEntries, WitnessRepository
from tests.support.federation import Keystore, make_keystore
from tests.unit.node.test_audit_log import (
    CITY,
    PROVINCE,
    Clock,
    DirectWitness,
    _city_verifier,
    _creds,
    _events,
    _guard,
    _node,
    _open,
    _province_verifier,
    _publisher,
    _witness,
)

OPS = Operator("ops", "host-1")


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return make_keystore(
        tmp_path_factory.mktemp("keys"), nodes=["000000", PROVINCE, CITY], clients=[]
    )


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


@dataclass
class Restored:
    """A city restored behind its province: the restored store, the witness, the old roots."""

    store: Store
    witness: CheckpointWitness
    witness_store: Store
    clock: Clock
    root6: bytes
    checkpoint3_cosignature: str

    def publisher(self, keystore: Keystore) -> CheckpointPublisher:
        return _publisher(keystore, self.store, self.clock, DirectWitness(self.witness))

    def denied(self) -> list[tuple[str, str]]:
        """The province's audited refusals of the city's checkpoints: (rule, detail)."""
        events = self.witness_store.audit.events(AuditFilter(decision="denied"))
        return [(e.event.rule, e.event.detail) for e in events]


@pytest.fixture
def restored(
    keystore: Keystore,
    city_store: Store,
    province_store: Store,
    tmp_path: Path,
) -> Iterator[Restored]:
    clock = Clock()
    witness = _witness(keystore, province_store, clock)
    publisher = _publisher(keystore, city_store, clock, DirectWitness(witness))
    _events(city_store, 3)
    publisher.publish()
    first = publisher.request_cosignature()
    assert first is not None
    backup_sqlite(f"sqlite:///{tmp_path / 'city.db'}", tmp_path / "older.db")
    _events(city_store, 3, start=3)
    publisher.publish()
    assert publisher.request_cosignature() is not None
    store = open_store(f"sqlite:///{tmp_path / 'older.db'}")
    try:
        yield Restored(store, witness, province_store, clock, city_store.audit.root(6), first.line)
    finally:
        store.close()


def _chain(keystore: Keystore) -> bytes:
    return signing_chain_pem(_creds(keystore, CITY))


def _signed(keystore: Keystore, store: Store, origin: str) -> Checkpoint:
    size = store.audit.size()
    return Checkpoint(origin, size, store.audit.root(size))


def _note(keystore: Keystore, checkpoint: Checkpoint) -> str:
    return sign_checkpoint(
        checkpoint, NoteSigner(log_origin(CITY), _creds(keystore, CITY).signing_key)
    )


def _citation(root: bytes) -> str:
    return (
        f"checkpoint 6 of {log_origin(CITY)}, root {root.hex()}, cosigned by {log_origin(PROVINCE)}"
    )


def test_a_restored_log_goes_on_as_a_new_epoch_the_parent_cosigns_after_the_incident(
    keystore: Keystore,
    restored: Restored,
) -> None:
    store, clock = restored.store, restored.clock
    incident = _guard(keystore, store, DirectWitness(restored.witness), clock).record_incident(
        OPS, "disk lost"
    )
    assert (incident.epoch, incident.checkpoint.size, incident.held) == (2, 6, 3)
    _events(store, 2, start=100)
    publisher = restored.publisher(keystore)
    published = publisher.publish()
    assert published is not None
    assert published.note.startswith(f"{log_origin(CITY)}/epoch/2\n6\n"), published.note
    assert publisher.request_cosignature() is not None

    # Within the epoch, consistency as usual: the next checkpoint proves from 6.
    _events(store, 3, start=200)
    assert publisher.publish() is not None
    assert publisher.request_cosignature() is not None
    kept = WitnessRepository(restored.witness_store.engine).history(CITY)
    assert [(r.epoch, r.size) for r in kept] == [(1, 3), (1, 6), (2, 6), (2, 9)]
    allowed = restored.witness_store.audit.events(AuditFilter(action="witness.cosign"))
    assert [(e.event.rule, e.event.detail) for e in allowed[2:]] == [
        (
            "witness:epoch",
            f"cosigned checkpoint 6 of {CITY}, opening epoch 2 with incident event 3 after "
            "checkpoint 6 of epoch 1 (the log holds 3 events: events 3..5 lost)",
        ),
        ("witness:consistent", f"cosigned checkpoint 9 of {CITY} (from 6)"),
    ]
    assert restored.denied() == []

    # The parent's word is now the new epoch's checkpoint, which the log holds.
    _guard(keystore, store, DirectWitness(restored.witness), clock).check()
    head = _open(keystore, restored.witness.latest_cosigned(_node(CITY)), clock.now)
    assert (head.checkpoint.origin, head.checkpoint.size) == (f"{log_origin(CITY)}/epoch/2", 9)
    report = _verify(keystore, store, head=head)
    assert (report.epoch, report.signed_size, report.witnessed_size) == (2, 9, 9)
    [gap] = report.gaps
    assert gap.describe() == (
        f"epoch 2 opens at event 3 (operator:{CITY}/ops) after {_citation(restored.root6)}: "
        "the log holds 3 events: events 3..5 lost; reason: disk lost"
    )


def test_a_new_epoch_without_an_incident_is_refused_and_audited(
    keystore: Keystore,
    restored: Restored,
) -> None:
    # The attack: the city signs its restored log under a fresh epoch's origin,
    # as if it were a new log, so the province has nothing to compare it with.
    _events(restored.store, 4, start=100)
    checkpoint = _signed(keystore, restored.store, f"{log_origin(CITY)}/epoch/2")
    request = CosignRequest(_note(keystore, checkpoint), 0, [], _chain(keystore))
    with pytest.raises(
        EpochError,
        match=re.escape(
            f"epoch 2 opens without an incident event citing {_citation(restored.root6)}: "
            "a log does not restart silently"
        ),
    ):
        restored.witness.cosign(_node(CITY), request)
    [(rule, detail)] = restored.denied()
    assert rule == "witness:epoch-unopened"
    assert detail.startswith("EpochError: epoch 2 opens without an incident event")
    last = WitnessRepository(restored.witness_store.engine).last(CITY)
    assert last is not None
    assert (last.epoch, last.size) == (1, 6)

    # Nor may it skip to a later epoch, or go on with the closed one.
    later = _signed(keystore, restored.store, f"{log_origin(CITY)}/epoch/3")
    with pytest.raises(EpochError, match="checkpoint 7 of epoch 3 cannot follow epoch 1"):
        restored.witness.cosign(
            _node(CITY),
            CosignRequest(_note(keystore, later), 0, [], _chain(keystore), incident=b"x"),
        )


def test_an_incident_citing_an_older_cosigned_checkpoint_is_refused_and_audited(
    keystore: Keystore,
    restored: Restored,
) -> None:
    # The attack: the city cites checkpoint 3, which the province did cosign (and
    # whose cosignature the city holds), to hide that it also cosigned 6.
    store = restored.store
    body3 = Checkpoint(log_origin(CITY), 3, store.audit.root(3))
    false = EpochIncident(2, body3, log_origin(PROVINCE), restored.checkpoint3_cosignature, 3, "")
    store.audit.append(
        [
            event_by_operator(
                CITY,
                user="ops",
                host="host-1",
                time=restored.clock.now,
                action=INCIDENT_ACTION,
                decision=Decision.ALLOWED,
                detail=false.detail(),
            )
        ]
    )
    publisher = restored.publisher(keystore)
    assert publisher.publish(final=True) is not None
    with pytest.raises(
        EpochError,
        match=re.escape(
            f"the incident opening epoch 2 cites checkpoint 3 of {log_origin(CITY)}, root "
            f"{store.audit.root(3).hex()}, cosigned by {log_origin(PROVINCE)}, not "
            f"{_citation(restored.root6)}"
        ),
    ):
        publisher.request_cosignature()
    [(rule, detail)] = restored.denied()
    assert rule == "witness:epoch-unopened"
    assert detail.startswith("EpochError: the incident opening epoch 2 cites checkpoint 3")


def test_an_incident_the_checkpoint_does_not_hold_is_refused(
    keystore: Keystore,
    restored: Restored,
) -> None:
    # The attack: a genuine incident, shown to the province, but left out of the
    # log it is asked to cosign (the index names another event).
    store = restored.store
    _guard(keystore, store, DirectWitness(restored.witness), restored.clock).record_incident(
        OPS, "disk lost"
    )
    [incident] = store.audit.events(AuditFilter(action=INCIDENT_ACTION))
    _events(store, 2, start=100)
    checkpoint = _signed(keystore, store, f"{log_origin(CITY)}/epoch/2")
    request = CosignRequest(
        _note(keystore, checkpoint),
        0,
        [],
        _chain(keystore),
        incident=incident.data,
        incident_index=4,
        incident_proof=store.audit.inclusion_proof(4, checkpoint.size),
    )
    with pytest.raises(ProofError, match="the incident is not event 4 of checkpoint 6"):
        restored.witness.cosign(_node(CITY), request)
    [(rule, _detail)] = restored.denied()
    assert rule == "witness:inconsistent-checkpoint"


def test_once_the_new_epoch_is_cosigned_the_old_one_is_closed(
    keystore: Keystore,
    restored: Restored,
) -> None:
    store = restored.store
    _guard(keystore, store, DirectWitness(restored.witness), restored.clock).record_incident(
        OPS, "disk lost"
    )
    publisher = restored.publisher(keystore)
    assert publisher.publish(final=True) is not None
    assert publisher.request_cosignature() is not None
    # The attack: the city goes back to presenting epoch 1 (its older history).
    old = _signed(keystore, store, log_origin(CITY))
    with pytest.raises(
        EpochError, match="epoch 1 of 330500's log is closed: this witness cosigns its epoch 2"
    ):
        restored.witness.cosign(
            _node(CITY), CosignRequest(_note(keystore, old), 6, [], _chain(keystore))
        )
    assert [rule for rule, _ in restored.denied()] == ["witness:epoch-unopened"]


def test_a_second_restore_opens_a_third_epoch_after_the_seconds_last_cosigned_checkpoint(
    keystore: Keystore, restored: Restored, tmp_path: Path
) -> None:
    store, clock = restored.store, restored.clock
    guard = _guard(keystore, store, DirectWitness(restored.witness), clock)
    guard.record_incident(OPS, "disk lost")
    backup_sqlite(f"sqlite:///{tmp_path / 'older.db'}", tmp_path / "second.db")
    _events(store, 3, start=100)
    publisher = restored.publisher(keystore)
    assert publisher.publish() is not None
    assert publisher.request_cosignature() is not None  # epoch 2, size 7

    again = open_store(f"sqlite:///{tmp_path / 'second.db'}")
    try:
        incident = _guard(keystore, again, DirectWitness(restored.witness), clock).record_incident(
            OPS, "lost again"
        )
        assert (incident.epoch, incident.checkpoint.origin, incident.checkpoint.size) == (
            3,
            f"{log_origin(CITY)}/epoch/2",
            7,
        )
        third = _publisher(keystore, again, clock, DirectWitness(restored.witness))
        published = third.publish(final=True)
        assert published is not None
        assert published.note.startswith(f"{log_origin(CITY)}/epoch/3\n")
        assert third.request_cosignature() is not None
        kept = WitnessRepository(restored.witness_store.engine).last(CITY)
        assert kept is not None
        assert (kept.epoch, kept.size) == (3, 5)
        report = _verify(keystore, again)
        assert [(g.seq, g.incident.epoch, g.incident.checkpoint.size) for g in report.gaps] == [
            (3, 2, 6),
            (4, 3, 7),
        ]
        assert report.epoch == 3
    finally:
        again.close()


def test_an_incident_citing_the_parents_cosignature_from_before_its_key_renewal_opens_the_epoch(
    keystore: Keystore, restored: Restored, tmp_path: Path
) -> None:
    store, clock = restored.store, restored.clock
    _guard(keystore, store, DirectWitness(restored.witness), clock).record_incident(OPS, "lost")
    # The province renews its signing key before the city's first epoch-2 checkpoint.
    renewed = Keystore(tmp_path / "renewed-keys")
    shutil.copytree(keystore.root, renewed.root)
    renew_node(
        renewed.root,
        node_id=PROVINCE,
        new_key=True,
        now=dt.datetime.fromtimestamp(clock.now, dt.UTC),
    )
    creds = load_node_credentials(renewed.node(PROVINCE))
    province = restored.witness_store

    def witness(retired: tuple[Ed25519PublicKey, ...]) -> CheckpointWitness:
        return CheckpointWitness(
            node_id=PROVINCE,
            signing_key=creds.signing_key,
            certificate_chain=signing_chain_pem(creds),
            root=creds.root,
            witnessed=WitnessRepository(province.engine),
            audit=province.audit,
            writer=province.writer,
            clock=clock,
            retired_signing_keys=retired,
        )

    _events(store, 2, start=100)
    forgetful = _publisher(keystore, store, clock, DirectWitness(witness(())))
    assert forgetful.publish(final=True) is not None
    with pytest.raises(SignatureError, match="the cosignature the incident cites"):
        forgetful.request_cosignature()
    assert [rule for rule, _ in restored.denied()] == ["witness:unverified"]
    publisher = _publisher(
        keystore, store, clock, DirectWitness(witness(retired_signing_keys(creds)))
    )
    assert publisher.request_cosignature() is not None
    last = WitnessRepository(province.engine).last(CITY)
    assert last is not None
    assert (last.epoch, last.size) == (2, 6)


# --------------------------------------------------------------------------- the auditor's view


def _published(store: Store) -> list[PublishedCheckpoint]:
    return [
        PublishedCheckpoint(c.size, c.note, tuple(s.line for s in c.cosignatures))
        for c in CheckpointRepository(store.engine).list()
    ]


def _verify(
    keystore: Keystore,
    store: Store,
    *,
    checkpoints: list[PublishedCheckpoint] | None = None,
    head: WitnessedHead | None = None,
) -> LogReport:
    entries = LogEntries(store.engine, store.audit).read(0, 1000)
    return verify_log(
        origin=log_origin(CITY),
        log_key=_city_verifier(keystore),
        witness=_province_verifier(keystore),
        checkpoints=_published(store) if checkpoints is None else checkpoints,
        entries=entries,
        witnessed_head=head,
    )


def test_verify_fails_on_a_checkpoint_of_an_epoch_no_incident_opens(
    keystore: Keystore,
    restored: Restored,
) -> None:
    store = restored.store
    _events(store, 2, start=100)
    # The attack on the auditor: the node serves a checkpoint of a fresh epoch, so
    # that the cosigned epoch-1 history it no longer holds seems to be another log's.
    silent = _signed(keystore, store, f"{log_origin(CITY)}/epoch/2")
    checkpoints = [*_published(store), PublishedCheckpoint(silent.size, _note(keystore, silent))]
    with pytest.raises(
        EpochError,
        match="checkpoint 5 is of epoch 2, but no incident event opens epoch 2 in its events: "
        "the log restarted without an incident",
    ):
        _verify(keystore, store, checkpoints=checkpoints)


def test_verify_fails_until_the_parent_cosigns_the_new_epoch(
    keystore: Keystore,
    restored: Restored,
) -> None:
    store, clock = restored.store, restored.clock
    _guard(keystore, store, DirectWitness(restored.witness), clock).record_incident(OPS, "lost")
    head = _open(keystore, restored.witness.latest_cosigned(_node(CITY)), clock.now)
    with pytest.raises(
        ProofError,
        match=re.escape(
            f"the log holds 4 events, behind checkpoint 6 that its witness {log_origin(PROVINCE)} "
            f"cosigned: it was rolled back (recorded as an incident at event 3 by "
            f"operator:{CITY}/ops; its witness has not yet cosigned epoch 2)"
        ),
    ):
        _verify(keystore, store, head=head)


def test_verify_refuses_an_incident_citing_a_cosignature_the_parent_never_made(
    keystore: Keystore,
    restored: Restored,
) -> None:
    # The attack: the incident cites the right checkpoint, with a cosignature
    # the city made itself under its parent's name.
    store = restored.store
    cited = Checkpoint(log_origin(CITY), 6, restored.root6)
    forged = cosign(cited.body(), log_origin(PROVINCE), _creds(keystore, CITY).signing_key, 1)
    incident = EpochIncident(2, cited, log_origin(PROVINCE), forged.strip(), 3, "lost")
    store.audit.append(
        [
            event_by_operator(
                CITY,
                user="ops",
                host="host-1",
                time=restored.clock.now,
                action=INCIDENT_ACTION,
                decision=Decision.ALLOWED,
                detail=incident.detail(),
            )
        ]
    )
    with pytest.raises(
        SignatureError, match="event 3: the cosignature the incident cites: cosignature is by"
    ):
        _verify(keystore, store)
