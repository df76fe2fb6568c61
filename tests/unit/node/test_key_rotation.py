"""A city renews its signing key: history keeps verifying, a retired key signs nothing new.

In-process federation (national, province, city) over one keystore; the
renewal is the real `gateway pki renew` function and the directory is signed
again with the city's key history, as the national operator does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from gateway.core.algorithms import Ed25519Signer
from gateway.core.errors import NotFoundError, PeerError
from gateway.core.hop import build_hop_batch, sign_hop_batch
from gateway.core.records import verify_record
from gateway.node.audit_log import CheckpointPublisher
from gateway.node.config import FederationSettings
from gateway.node.directory_file import build_directory, sign_directory_file
from gateway.node.intake import Submission
from gateway.node.peer_client import HopBatch, ParentWitness
from gateway.pki import NodeCredentials, fingerprint, load_node_credentials, signing_kid
from gateway.pki.issue import make_signing_certificate
from gateway.pki.renew import renew_node
from gateway.store import AuditFilter, Store
from gateway.store.checkpoints import CheckpointRepository, LogEntries
from tests.support.federation import Keystore
from tests.support.harness import (
    DIRECTORY_VALID_S,
    InProcessFederation,
    keystore_for,
    migrated_template,
)
from tests.support.records import penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = (NATIONAL, ZHEJIANG, HUZHOU)
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
FAST = FederationSettings(initial_backoff_ms=1, max_backoff_ms=2, lease_s=5)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), NODES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


@pytest.fixture
def keystore(tmp_path: Path, pristine: Keystore) -> Keystore:
    """A copy per test: renewing writes to the keystore."""
    return Keystore(Path(shutil.copytree(pristine.root, tmp_path / "keys")))


@pytest.fixture
def fed(tmp_path: Path, keystore: Keystore, template: Path) -> Iterator[InProcessFederation]:
    federation = InProcessFederation.build(
        tmp_path, keystore, NODES, settings=FAST, template=template
    )
    try:
        yield federation
    finally:
        federation.close()


def penalty(i: int) -> Submission:
    return Submission(str(i), "admin_penalty", penalty_fields(i, decided=DECIDED))


def submit(fed: InProcessFederation, i: int) -> str:
    [result] = fed[HUZHOU].submit([penalty(i)])
    assert result.record_id is not None, result
    return result.record_id


def denied(store: Store, action: str) -> list[tuple[str, str]]:
    found = store.audit.events(AuditFilter(action=action, decision="denied"), after=-1, limit=100)
    return [(e.event.rule, e.event.detail) for e in found]


def publish_directory(fed: InProcessFederation, keystore: Keystore) -> None:
    """The national operator signs a newer directory from the keystore; every node installs it."""
    now = int(fed.clock())
    built = build_directory(
        keystore.root, fed.endpoints, serial=now, now=now, valid_s=DIRECTORY_VALID_S
    )
    fed.signed_directory = sign_directory_file(keystore.root, built)
    for node in fed.nodes.values():
        node.federation.trust.install(fed.signed_directory)


def restart(fed: InProcessFederation, keystore: Keystore, node_id: str, tmp_path: Path) -> None:
    """Stop the node and build it again from its keystore (its new key), on the same store."""
    old = fed.nodes[node_id]
    old.federation.stop()
    old.store.close()
    fed.nodes[node_id] = fed._node(
        keystore, node_id, f"sqlite:///{tmp_path / f'{node_id}.db'}", FAST
    )


def rotate(fed: InProcessFederation, keystore: Keystore) -> str:
    """`gateway pki renew --new-key` at the city, ten seconds on; returns the retired key id."""
    fed.clock.advance(10)
    at = dt.datetime.fromtimestamp(fed.clock(), dt.UTC)
    renewal = renew_node(keystore.root, node_id=HUZHOU, new_key=True, now=at)
    assert renewal.retired_at == int(at.timestamp())
    return renewal.old_signing_kid


def _hop(creds: NodeCredentials, sender: str, audience: str, at: int, items: list[str]) -> HopBatch:
    signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)
    hop = build_hop_batch(
        sender=sender, audience=audience, batch_id=uuid.uuid4().hex, sent_at=at, items=items
    )
    return HopBatch(sign_hop_batch(hop, signer).to_json(), tuple(items))


def _publisher(fed: InProcessFederation, creds: NodeCredentials) -> CheckpointPublisher:
    """The city's checkpoint publisher signing with ``creds``' signing key."""
    city = fed[HUZHOU]
    chain = b"".join(c.public_bytes(Encoding.PEM) for c in (creds.signing_cert, *creds.chain))
    return CheckpointPublisher(
        node_id=HUZHOU,
        signing_key=creds.signing_key,
        certificate_chain=chain,
        root=creds.root,
        audit=city.store.audit,
        entries=LogEntries(city.store.engine, city.store.audit),
        checkpoints=CheckpointRepository(city.store.engine),
        witness=ParentWitness(city.peers, ZHEJIANG),
        every_events=1,
        every_s=60,
        clock=lambda: int(fed.clock()),
    )


def test_records_signed_before_a_renewal_verify_after_it_beside_the_new_keys(
    fed: InProcessFederation, keystore: Keystore, tmp_path: Path
) -> None:
    delivered = submit(fed, 1)
    fed.deliver()
    waiting = submit(fed, 2)  # signed with the old key, still in the city's outbox
    # The operator's order: stop the node, renew, publish the directory, start the node.
    old_kid = rotate(fed, keystore)
    publish_directory(fed, keystore)
    restart(fed, keystore, HUZHOU, tmp_path)
    new_kid = signing_kid(fed[HUZHOU].creds.signing_cert)
    after = submit(fed, 3)
    fed.deliver()

    entry = fed[NATIONAL].federation.trust.directory().node(HUZHOU)
    assert entry.signing_kids == (new_kid, old_kid)
    assert dict(entry.signing_retired) == {old_kid: int(fed.clock())}
    trust = fed[NATIONAL].federation.trust
    signed_by = {}
    for record_id in (delivered, waiting, after):
        sd_jwt = fed[NATIONAL].store.records.get(record_id, 1).sd_jwt
        assert sd_jwt is not None
        record = verify_record(
            sd_jwt, resolve_key=trust.resolve, key_owner=trust.owner, now=int(fed.clock())
        )
        trust.check_issued_within(record.key_id, record.issued_at)
        signed_by[record_id] = record.key_id
    assert signed_by == {delivered: old_kid, waiting: old_kid, after: new_kid}
    assert denied(fed[ZHEJIANG].store, "push.receive") == []


def test_a_record_forged_with_a_retired_key_after_its_retirement_is_refused(
    fed: InProcessFederation, keystore: Keystore
) -> None:
    old_kid = rotate(fed, keystore)
    publish_directory(fed, keystore)
    retired_at = int(fed.clock())
    fed.clock.advance(3600)  # well past any clock skew allowed
    # Whoever kept the retired key signs a record with it, dated now ...
    forged = submit(fed, 3)
    items = fed[HUZHOU].store.outbox.claim(
        ZHEJIANG, worker="t", limit=10, now=int(fed.clock()), lease_s=5
    )
    [record] = fed[HUZHOU].federation.outbound.build(ZHEJIANG, items).records
    # ... and sends it over a connection with the city's current TLS certificate, in a hop
    # signed with the retired key: refused ...
    stale = fed[HUZHOU].creds
    current = load_node_credentials(keystore.node(HUZHOU))
    fed[HUZHOU].principal = dataclasses.replace(
        fed[HUZHOU].principal, fingerprint=fingerprint(current.tls_cert)
    )
    with pytest.raises(PeerError) as refused:
        fed[HUZHOU].peers.push(
            ZHEJIANG, _hop(stale, HUZHOU, ZHEJIANG, int(fed.clock()), [record]), timeout_s=1
        )
    assert str(refused.value) == (
        f"ExpiredError: signing key {old_kid[:16]}… of node {HUZHOU} was retired at {retired_at}"
    )
    # ... or in a hop signed with the city's current key: the record itself is refused.
    with pytest.raises(PeerError) as refused:
        fed[HUZHOU].peers.push(
            ZHEJIANG, _hop(current, HUZHOU, ZHEJIANG, int(fed.clock()), [record]), timeout_s=1
        )
    assert str(refused.value) == (
        f"SignatureError: signed at {retired_at + 3600} with signing key {old_kid[:16]}…, "
        f"retired at {retired_at}: forged with a retired key"
    )
    assert [rule for rule, _detail in denied(fed[ZHEJIANG].store, "push.receive")] == [
        "ExpiredError",
        "SignatureError",
    ]
    with pytest.raises(NotFoundError):
        fed[ZHEJIANG].store.records.get(forged, 1)


def test_the_witness_cosigns_the_new_key_once_listed_and_the_old_history_still_verifies(
    fed: InProcessFederation, keystore: Keystore, tmp_path: Path
) -> None:
    submit(fed, 4)
    old = _publisher(fed, fed[HUZHOU].creds)
    assert old.publish(final=True) is not None
    assert old.request_cosignature() is not None
    rotate(fed, keystore)
    restart(fed, keystore, HUZHOU, tmp_path)
    submit(fed, 5)
    new = _publisher(fed, fed[HUZHOU].creds)
    assert new.publish(final=True) is not None
    with pytest.raises(PeerError, match=r"^SignatureError: signing key .* is not in the key "):
        new.request_cosignature()
    publish_directory(fed, keystore)
    cosigned = new.request_cosignature()
    assert cosigned is not None
    assert cosigned.witness == ZHEJIANG


def test_a_checkpoint_signed_by_a_key_outside_the_history_is_refused_and_audited(
    fed: InProcessFederation,
) -> None:
    """The city's own CA makes a signing certificate it never published, to rewrite its log."""
    city = fed[HUZHOU].creds
    rogue_cert, rogue_key = make_signing_certificate(
        HUZHOU,
        ca=city.ca_cert,
        ca_key=city.ca_key,
        now=dt.datetime.fromtimestamp(fed.clock(), dt.UTC),
    )
    rogue = dataclasses.replace(city, signing_cert=rogue_cert, signing_key=rogue_key)
    submit(fed, 6)
    publisher = _publisher(fed, rogue)
    assert publisher.publish(final=True) is not None
    with pytest.raises(PeerError) as refused:
        publisher.request_cosignature()
    kid = signing_kid(rogue_cert)
    expected = (
        f"signing key {kid[:16]}… is not in the key history of node {HUZHOU} in the "
        f"federation directory (signing key {kid[:16]}… belongs to no node of the directory)"
    )
    assert str(refused.value) == f"SignatureError: {expected}"
    [(rule, detail)] = denied(fed[ZHEJIANG].store, "witness.cosign")
    assert rule == "witness:unverified"
    assert expected in detail
