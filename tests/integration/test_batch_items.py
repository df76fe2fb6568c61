"""One bad item never blocks the rest, with two real `gateway serve` processes over mTLS.

The province runs with stricter ``[limits]`` than its city (field text up to 200
characters): of a batch of three records, it stores the two that fit and refuses
the long one alone. The city parks that one with the province's reason, lists it
in `gateway outbox list`, and re-sends it on `gateway outbox retry` once the
province's limit is put back.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from gateway.core.audit import record_ref
from tests.support.cluster import Cluster, listed, make_cluster, submit, wait_for
from tests.support.node_config import set_config_keys
from tests.support.peers import claimed_record_id, for_parent, hop_request, push, signed_penalty
from tests.support.records import penalty_fields

NATIONAL, PROVINCE, CITY = "000000", "330000", "330500"
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
CLIENTS = [
    (CITY, "procurement-office", "department", "procurement"),
    (CITY, "audit-office", "auditor", None),
    (PROVINCE, "audit-office", "auditor", None),
]
# 270 characters: within the city's limit (4000), over the province's (200).
LONG_CONTENT = "罚款人民币十万元，" * 30
REASON = "OutOfRangeError: disclosure 'CF_NR' length is 270, outside 0..200"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """National (listed, never started), province and city; stops what runs."""
    built = make_cluster(tmp_path, [NATIONAL, PROVINCE, CITY], clients=CLIENTS)
    try:
        yield built
    finally:
        for node in list(built.processes):
            built.stop(node)


def _as(cluster: Cluster, node: str, client: str) -> list[str]:
    return ["--as", str(cluster.client(node, client)), "--endpoint", cluster.endpoint(node)]


def _troubled(cluster: Cluster) -> list[dict[str, Any]]:
    return cluster.gateway_json_lines("outbox", "list", "--config", str(cluster.configs[CITY]))


def _events(cluster: Cluster, node: str, action: str) -> list[dict[str, Any]]:
    return cluster.gateway_json_lines(
        "audit", "events", *_as(cluster, node, "audit-office"), "--action", action
    )


@pytest.mark.slow
def test_a_record_the_province_refuses_alone_is_parked_and_the_rest_is_stored(
    cluster: Cluster,
) -> None:
    set_config_keys(cluster.configs[PROVINCE], "limits", max_field_chars=200)
    cluster.start(PROVINCE)
    cluster.start(CITY)
    ids = submit(
        cluster,
        CITY,
        "procurement-office",
        [
            penalty_fields(1, decided=DECIDED),
            {**penalty_fields(2, decided=DECIDED), "CF_NR": LONG_CONTENT},
            penalty_fields(3, decided=DECIDED),
        ],
    )
    first, middle, last = ids

    [parked] = wait_for("the parked record at the city", lambda: _troubled(cluster))
    assert {k: parked[k] for k in ("recipient", "kind", "item", "state", "reason")} == {
        "recipient": PROVINCE,
        "kind": "record",
        "item": record_ref(middle, 1),
        "state": "failed",
        "reason": REASON,
    }
    assert set(listed(cluster, PROVINCE, "audit-office")) == {first, last}
    [received] = [
        e for e in _events(cluster, PROVINCE, "push.receive") if e["decision"] == "allowed"
    ]
    assert received["detail"].endswith(": 2 records, 1 refused alone, 0 statements")
    [refused] = [e for e in _events(cluster, PROVINCE, "push.receive") if e["decision"] == "denied"]
    assert (refused["rule"], refused["actor"]) == ("limits:text", f"node:{CITY}/{CITY}")
    [sent] = [e for e in _events(cluster, CITY, "push.send") if e["decision"] == "denied"]
    assert (sent["rule"], sent["records"]) == (REASON, [record_ref(middle, 1)])

    # The province's operator puts the limit back; the city's operator re-sends.
    cluster.stop(PROVINCE)
    set_config_keys(cluster.configs[PROVINCE], "limits", max_field_chars=4000)
    cluster.start(PROVINCE)
    [retried] = cluster.gateway_json_lines(
        "outbox", "retry", "--config", str(cluster.configs[CITY]), "--id", str(parked["id"])
    )
    assert retried["requeued"] == [parked["id"]]

    wait_for(
        "every record at the province",
        lambda: set(listed(cluster, PROVINCE, "audit-office")) == set(ids) or None,
    )
    assert _troubled(cluster) == []


def _forge_signature(sd_jwt: str) -> str:
    """The same SD-JWT with its issuer signature replaced by 64 bytes nobody signed."""
    jws, rest = sd_jwt.split("~", 1)
    header, payload, _signature = jws.split(".")
    forged = base64.urlsafe_b64encode(bytes(range(64))).rstrip(b"=").decode()
    return f"{header}.{payload}.{forged}~{rest}"


@pytest.mark.slow
def test_a_forged_issuer_signature_on_one_record_refuses_the_whole_batch(
    cluster: Cluster,
) -> None:
    cluster.start(PROVINCE)
    # The city's own keys: its TLS certificate on the wire, its key on the hop batch.
    records = [for_parent(signed_penalty(cluster, CITY, 40 + i), CITY) for i in range(3)]
    records[1] = _forge_signature(records[1])
    request = hop_request(cluster, sender=CITY, audience=PROVINCE, records=records)
    before = [e for e in _events(cluster, PROVINCE, "push.receive") if e["decision"] == "denied"]

    with pytest.raises(grpc.RpcError) as refused:
        push(cluster, sender=CITY, to=PROVINCE, request=request)

    assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.value.details() or "").startswith("signature"), refused.value.details()
    held = listed(cluster, PROVINCE, "audit-office")
    assert [claimed_record_id(r) in held for r in records] == [False, False, False]
    denied = [e for e in _events(cluster, PROVINCE, "push.receive") if e["decision"] == "denied"]
    [event] = denied[len(before) :]
    assert (event["actor"], event["rule"]) == (f"node:{CITY}/{CITY}", "SignatureError")
    assert [
        e for e in _events(cluster, PROVINCE, "push.receive") if e["decision"] == "allowed"
    ] == []
