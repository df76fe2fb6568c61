"""A real federation of separate `gateway serve` processes over mutual TLS on loopback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from gateway._proto.v1 import (
    federation_pb2,
    records_pb2,
)
from gateway.core.algorithms import Ed25519Verifier
from gateway.core.records import verify_record
from gateway.pki import signing_kid
from tests.support.cluster import Cluster, listed, make_cluster, running, submit, wait_for
from tests.support.peers import claimed_record_id, for_parent, hop_request, push, signed_penalty
from tests.support.postgres import fresh_postgres_schema
from tests.support.records import citizen_number, disclosed, notice_fields, penalty_fields

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"
TODAY = dt.datetime.now(dt.UTC).date()
DECIDED = TODAY - dt.timedelta(days=20)

CLIENTS = [
    (HUZHOU, "procurement-office", "department", "procurement"),
    (HUZHOU, "audit-office", "auditor", None),
    (ZHEJIANG, "audit-office", "auditor", None),
    (NATIONAL, "audit-office", "auditor", None),
    (NATIONAL, "credit-office", "department", "procurement"),
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    """The federation on SQLite, or with the province on PostgreSQL (a hub's production store)."""
    with ExitStack() as stack:
        databases = {}
        if request.param == "postgresql":
            databases[ZHEJIANG] = stack.enter_context(fresh_postgres_schema())
        built = make_cluster(
            tmp_path,
            [NATIONAL, ZHEJIANG, HUZHOU],
            clients=CLIENTS,
            unlisted=[LISHUI],
            databases=databases,
        )
        with running(built, [NATIONAL, ZHEJIANG, HUZHOU]) as started:
            yield started


def verify_as_issuer(cluster: Cluster, issuer: str, sd_jwt: str) -> None:
    cert = x509.load_pem_x509_certificate(
        (cluster.keystore.node(issuer) / "signing.crt").read_bytes()
    )
    verifier = Ed25519Verifier(signing_kid(cert), cert.public_key())  # type: ignore[arg-type]
    record = verify_record(
        sd_jwt,
        resolve_key=lambda kid: verifier,
        key_owner=lambda kid: issuer,
        now=int(dt.datetime.now(dt.UTC).timestamp()),
    )
    assert record.issuer == issuer


def test_city_records_reach_national_redacted_with_the_city_signature(cluster: Cluster) -> None:
    rows = [penalty_fields(i, decided=DECIDED) for i in range(12)]
    ids = set(submit(cluster, HUZHOU, "procurement-office", rows))

    def national_has_all() -> dict[str, records_pb2.RecordView] | None:
        views = listed(cluster, NATIONAL, "audit-office")
        return views if set(views) >= ids else None

    at_national = wait_for("records at national", national_has_all)
    at_province = listed(cluster, ZHEJIANG, "audit-office")
    assert set(at_province) >= ids
    for record_id in ids:
        verify_as_issuer(cluster, HUZHOU, at_national[record_id].sd_jwt)
        verify_as_issuer(cluster, HUZHOU, at_province[record_id].sd_jwt)
        # The legal representative's citizen number never travels in clear: its
        # disclosure, when one travels at all, carries the masked value.
        for view in (at_national[record_id], at_province[record_id]):
            values = set(map(str, disclosed(view.sd_jwt).values()))
            assert not values & {citizen_number(i) for i in range(12)}

    record_id = sorted(ids)[0]
    where = cluster.gateway_json(
        "records",
        "where",
        "--as",
        str(cluster.client(HUZHOU, "procurement-office")),
        "--endpoint",
        cluster.endpoint(HUZHOU),
        record_id,
    )
    assert isinstance(where, dict)
    holders = {(h["node"], h["reported_by"]) for h in where["holders"]}
    assert holders == {(ZHEJIANG, HUZHOU), (NATIONAL, ZHEJIANG)}

    cluster.gateway_json(
        "records",
        "status",
        "--as",
        str(cluster.client(HUZHOU, "procurement-office")),
        "--endpoint",
        cluster.endpoint(HUZHOU),
        record_id,
        "--kind",
        "revocation",
        "--reason",
        "decision annulled on review",
    )

    def confirmed() -> dict[str, str] | None:
        got = cluster.gateway_json(
            "records",
            "where",
            "--as",
            str(cluster.client(HUZHOU, "procurement-office")),
            "--endpoint",
            cluster.endpoint(HUZHOU),
            record_id,
        )
        assert isinstance(got, dict)
        status = {h["node"]: h["confirmed_status"] for h in got["holders"]}
        return status if set(status.values()) == {"revoked"} else None

    assert wait_for("every holder confirms the revocation", confirmed) == {
        ZHEJIANG: "revoked",
        NATIONAL: "revoked",
    }
    assert record_id not in listed(cluster, NATIONAL, "audit-office")


def test_national_notices_reach_every_city_and_an_offline_city_catches_up(
    cluster: Cluster,
) -> None:
    first = submit(
        cluster,
        NATIONAL,
        "credit-office",
        [notice_fields(1, decided=DECIDED)],
        category="serious_dishonesty",
    )
    wait_for(
        "the notice at the city", lambda: set(first) <= set(listed(cluster, HUZHOU, "audit-office"))
    )

    cluster.stop(HUZHOU)
    while_offline = submit(
        cluster,
        NATIONAL,
        "credit-office",
        [notice_fields(i, decided=DECIDED) for i in (2, 3, 4)],
        category="serious_dishonesty",
    )
    wait_for(
        "the notices at the province",
        lambda: set(while_offline) <= set(listed(cluster, ZHEJIANG, "audit-office")),
    )
    cluster.start(HUZHOU)

    def city_has_all() -> dict[str, records_pb2.RecordView] | None:
        views = listed(cluster, HUZHOU, "audit-office")
        return views if set(while_offline) <= set(views) else None

    at_city = wait_for("the city to catch up", city_has_all)
    for record_id in while_offline:
        verify_as_issuer(cluster, NATIONAL, at_city[record_id].sd_jwt)
    assert "caught up from parent" in cluster.log(HUZHOU) or "batch delivered" in cluster.log(
        ZHEJIANG
    )


def _push(cluster: Cluster, *, signer_node: str, records: list[str]) -> federation_pb2.PushRequest:
    return hop_request(
        cluster, sender=HUZHOU, audience=ZHEJIANG, records=records, signer=signer_node
    )


def _send(cluster: Cluster, request: federation_pb2.PushRequest) -> grpc.StatusCode:
    """Push as the city node (its own TLS certificate) to the province."""
    try:
        push(cluster, sender=HUZHOU, to=ZHEJIANG, request=request)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_province_refuses_replayed_tampered_misattributed_and_oversharing_batches(
    cluster: Cluster,
) -> None:
    good = for_parent(signed_penalty(cluster, HUZHOU, 1), HUZHOU)
    request = _push(cluster, signer_node=HUZHOU, records=[good])
    assert _send(cluster, request) == grpc.StatusCode.OK
    assert _send(cluster, request) == grpc.StatusCode.ALREADY_EXISTS

    refused: list[str] = []
    # One flipped byte inside a record (the hop digest no longer matches).
    flipped = good[:40] + ("A" if good[40] != "A" else "B") + good[41:]
    tampered = _push(
        cluster,
        signer_node=HUZHOU,
        records=[for_parent(signed_penalty(cluster, HUZHOU, 2), HUZHOU)],
    )
    tampered.records[0] = flipped
    assert _send(cluster, tampered) == grpc.StatusCode.INVALID_ARGUMENT
    # A hop signature by another node than the mTLS peer.
    other_signer = for_parent(signed_penalty(cluster, HUZHOU, 3), HUZHOU)
    refused.append(other_signer)
    assert (
        _send(cluster, _push(cluster, signer_node=NATIONAL, records=[other_signer]))
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    # A record issued by a node the directory does not list.
    outsider = for_parent(signed_penalty(cluster, LISHUI, 4), HUZHOU)
    refused.append(outsider)
    assert _send(cluster, _push(cluster, signer_node=HUZHOU, records=[outsider])) in {
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.INVALID_ARGUMENT,
    }
    # Over-sharing: the unredacted record carries the representative's citizen number.
    full = signed_penalty(cluster, HUZHOU, 5)
    refused.append(full)
    assert (
        _send(cluster, _push(cluster, signer_node=HUZHOU, records=[full]))
        == grpc.StatusCode.PERMISSION_DENIED
    )

    held = listed(cluster, ZHEJIANG, "audit-office")
    record_ids = {claimed_record_id(sd) for sd in refused}
    assert not record_ids & set(held)
    assert claimed_record_id(good) in held
    denials = cluster.gateway_json_lines(
        "audit",
        "events",
        "--as",
        str(cluster.client(ZHEJIANG, "audit-office")),
        "--endpoint",
        cluster.endpoint(ZHEJIANG),
        "--decision",
        "denied",
    )
    assert len([e for e in denials if e["action"] == "push.receive"]) >= 4
