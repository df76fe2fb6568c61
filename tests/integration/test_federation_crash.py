"""Nothing lost, nothing duplicated: 20,000 records pushed while the province is killed -9."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from gateway._proto.v1 import intake_pb2, intake_pb2_grpc
from gateway.core.algorithms import Ed25519Verifier
from gateway.core.records import verify_record
from gateway.pki import signing_kid
from tests.integration.test_federation import CLIENTS, HUZHOU, NATIONAL, ZHEJIANG
from tests.support.cluster import listed, make_cluster, running, wait_for
from tests.support.federation import client_channel
from tests.support.records import penalty_fields

TOTAL = 20_000
BATCH = 500
LEASE_S = 5
"""Outbox lease of the nodes: what the killed province had claimed goes again this soon."""
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=10)


def _requests() -> Iterator[intake_pb2.SubmitRequest]:
    for start in range(0, TOTAL, BATCH):
        yield intake_pb2.SubmitRequest(
            records=[
                intake_pb2.SubmittedRecord(
                    ref=str(i),
                    category="admin_penalty",
                    fields=penalty_fields(i, decided=DECIDED),
                )
                for i in range(start, start + BATCH)
            ]
        )


def _count(db: Path) -> int:
    """Records stored at a node, read from its SQLite file (cheap enough to poll)."""
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM record").fetchone()
    return int(count)


def _pending(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        (count,) = conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()
    return int(count)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_twenty_thousand_records_reach_national_exactly_once_across_a_province_crash(
    tmp_path: Path,
) -> None:
    cluster = make_cluster(tmp_path, [NATIONAL, ZHEJIANG, HUZHOU], clients=CLIENTS, lease_s=LEASE_S)
    with running(cluster, [NATIONAL, ZHEJIANG, HUZHOU]):
        accepted: list[str] = []
        with client_channel(
            cluster.client(HUZHOU, "procurement-office"), cluster.endpoint(HUZHOU)
        ) as channel:
            for response in intake_pb2_grpc.IntakeStub(channel).Submit(_requests(), timeout=600):
                accepted.extend(r.record_id for r in response.results)
                if len(accepted) == 4 * BATCH:
                    # Mid-stream: the province dies without a chance to clean up.
                    wait_for(
                        "the province to start receiving",
                        lambda: _count(tmp_path / ZHEJIANG / f"{ZHEJIANG}.db") > 0,
                        timeout_s=120,
                    )
                    cluster.kill(ZHEJIANG)
        assert len(set(accepted)) == TOTAL
        cluster.start(ZHEJIANG)

        national_db = tmp_path / NATIONAL / f"{NATIONAL}.db"
        wait_for("all records at national", lambda: _count(national_db) >= TOTAL, timeout_s=600)
        at_national = {k: v.sd_jwt for k, v in listed(cluster, NATIONAL, "audit-office").items()}
        assert set(at_national) == set(accepted)
        cert = x509.load_pem_x509_certificate(
            (cluster.keystore.node(HUZHOU) / "signing.crt").read_bytes()
        )
        verifier = Ed25519Verifier(signing_kid(cert), cert.public_key())  # type: ignore[arg-type]
        now = int(dt.datetime.now(dt.UTC).timestamp())
        for sd_jwt in at_national.values():
            verify_record(
                sd_jwt, resolve_key=lambda _k: verifier, key_owner=lambda _k: HUZHOU, now=now
            )
        # A batch the killed province had pushed but not yet settled stays claimed until its
        # lease (LEASE_S) runs out; then it is pushed again and settled as a duplicate.
        wait_for(
            "every outbox to drain",
            lambda: all(_pending(tmp_path / n / f"{n}.db") == 0 for n in (HUZHOU, ZHEJIANG)),
            timeout_s=300,
        )

    # Every outbox drained; national holds each (record id, version) exactly once.
    for node in (HUZHOU, ZHEJIANG):
        assert _pending(tmp_path / node / f"{node}.db") == 0, node
    with sqlite3.connect(tmp_path / NATIONAL / f"{NATIONAL}.db") as conn:
        rows = conn.execute("SELECT count(*), count(DISTINCT record_id) FROM record").fetchone()
    assert rows == (TOTAL, TOTAL)
