"""An audit log verifies across renewals of the node's key and of its parent's (the witness)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import time
from pathlib import Path

import pytest

from gateway.core.audit import AuditEvent, Decision
from gateway.core.checkpoint import CosignatureVerifier
from gateway.core.errors import SignatureError
from gateway.core.note import NoteVerifier
from gateway.core.principal import Principal, Role
from gateway.node.audit_log import (
    CheckpointPublisher,
    CosignReply,
    CosignRequest,
    WitnessStatement,
    log_origin,
)
from gateway.node.audit_queries import AuditQueries
from gateway.node.checkpoint_witness import CheckpointWitness
from gateway.node.log_verify import PublishedCheckpoint, verify_log
from gateway.pki import NodeCredentials, load_node_credentials
from gateway.pki.renew import renew_node
from gateway.rpc.audit import signing_chain_pem
from gateway.store import Store, open_store
from gateway.store.checkpoints import CheckpointRepository, LogEntries, WitnessRepository
from tests.support.federation import Keystore, make_keystore

CITY, PROVINCE = "330500", "330000"
NOW = int(time.time())


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return make_keystore(
        tmp_path_factory.mktemp("keys"), nodes=["000000", PROVINCE, CITY], clients=[]
    )


@pytest.fixture
def keystore(tmp_path: Path, pristine: Keystore) -> Keystore:
    return Keystore(Path(shutil.copytree(pristine.root, tmp_path / "keys")))


def _store(path: Path) -> Store:
    return open_store(f"sqlite:///{path}")


@dataclasses.dataclass
class DirectWitness:
    """The parent's witness called in-process, as the city's mTLS identity."""

    witness: CheckpointWitness
    me: Principal = dataclasses.field(
        default_factory=lambda: Principal(
            role=Role.NODE, node_id=CITY, name=CITY, domain=None, fingerprint="f"
        )
    )

    def cosign(self, request: CosignRequest) -> CosignReply:
        return self.witness.cosign(self.me, request)

    def latest_cosigned(self) -> WitnessStatement:
        return self.witness.latest_cosigned(self.me)


def _events(store: Store, start: int) -> None:
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
            for i in range(start, start + 3)
        ]
    )


def _round(city: NodeCredentials, province: NodeCredentials, stores: tuple[Store, Store]) -> None:
    """Three events at the city, a checkpoint signed by ``city``, cosigned by ``province``."""
    city_store, province_store = stores
    witness = CheckpointWitness(
        node_id=PROVINCE,
        signing_key=province.signing_key,
        certificate_chain=signing_chain_pem(province),
        root=province.root,
        witnessed=WitnessRepository(province_store.engine),
        audit=province_store.audit,
        writer=province_store.writer,
        clock=lambda: NOW,
    )
    publisher = CheckpointPublisher(
        node_id=CITY,
        signing_key=city.signing_key,
        certificate_chain=signing_chain_pem(city),
        root=city.root,
        audit=city_store.audit,
        entries=LogEntries(city_store.engine, city_store.audit),
        checkpoints=CheckpointRepository(city_store.engine),
        witness=DirectWitness(witness),
        every_events=3,
        every_s=60,
        clock=lambda: NOW,
    )
    _events(city_store, city_store.audit.size())
    assert publisher.publish() is not None
    assert publisher.request_cosignature() is not None


def test_a_log_verifies_across_the_city_and_the_province_renewing_their_keys(
    keystore: Keystore, tmp_path: Path
) -> None:
    stores = (_store(tmp_path / "city.db"), _store(tmp_path / "province.db"))
    try:
        old_city = load_node_credentials(keystore.node(CITY))
        old_province = load_node_credentials(keystore.node(PROVINCE))
        _round(old_city, old_province, stores)
        later = dt.datetime.now(dt.UTC)
        renew_node(keystore.root, node_id=CITY, new_key=True, now=later)
        renew_node(keystore.root, node_id=PROVINCE, new_key=True, now=later)
        city = load_node_credentials(keystore.node(CITY))
        province = load_node_credentials(keystore.node(PROVINCE))
        _round(city, province, stores)

        # What the city serves its auditors: its retired chain, the witness's older chain.
        queries = AuditQueries(
            node_id=CITY,
            store=stores[0],
            entries=LogEntries(stores[0].engine, stores[0].audit),
            checkpoints=CheckpointRepository(stores[0].engine),
            signing_chain=signing_chain_pem(city),
            witness=None,
            clock=lambda: NOW,
        )
        served = queries.signing_certificates()
        assert served.witnesses == [(PROVINCE, signing_chain_pem(province))]
        assert dict(served.witness_retired) == {PROVINCE: [signing_chain_pem(old_province)]}

        city_origin, province_origin = log_origin(CITY), log_origin(PROVINCE)
        published = [
            PublishedCheckpoint(c.size, c.note, tuple(s.line for s in c.cosignatures))
            for c in CheckpointRepository(stores[0].engine).list()
        ]
        entries = LogEntries(stores[0].engine, stores[0].audit).read(0, 100)

        def verify(*, retired_log: bool, retired_witness: bool) -> object:
            return verify_log(
                origin=city_origin,
                log_key=NoteVerifier.for_key(city_origin, city.signing_key.public_key()),
                retired_log_keys=[
                    NoteVerifier.for_key(city_origin, old_city.signing_key.public_key())
                ]
                if retired_log
                else [],
                witness=CosignatureVerifier.for_key(
                    province_origin, province.signing_key.public_key()
                ),
                retired_witness_keys=[
                    CosignatureVerifier.for_key(
                        province_origin, old_province.signing_key.public_key()
                    )
                ]
                if retired_witness
                else [],
                checkpoints=published,
                entries=entries,
            )

        report = verify(retired_log=True, retired_witness=True)
        assert dataclasses.asdict(report) == {  # type: ignore[call-overload]
            "events": 6,
            "checkpoints": 2,
            "signed_size": 6,
            "witnessed_size": 6,
            "cosignatures": 2,
            "epoch": 1,
            "gaps": (),
        }
        with pytest.raises(SignatureError, match=r"^checkpoint 3: "):
            verify(retired_log=False, retired_witness=True)
        with pytest.raises(SignatureError, match=r"^checkpoint 3: "):
            verify(retired_log=True, retired_witness=False)
    finally:
        for store in stores:
            store.close()
