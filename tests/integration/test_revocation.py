"""Revocation is enforced for every certificate kind, on every RPC, without a restart.

Before, a client certificate its node had given up on still listed, checked and
submitted, and a node certificate revoked in the signed directory still called
Records RPCs at other nodes.
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from gateway._proto.v1 import records_pb2, records_pb2_grpc
from gateway.pki import fingerprint, load_client_credentials, load_node_credentials
from gateway.rpc.peer import open_peer_channel
from tests.support.cluster import Cluster, make_cluster, running, wait_for
from tests.support.federation import run_gateway

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"
CLIENTS = [
    (HUZHOU, "procurement-office", "department", "procurement"),
    (HUZHOU, "audit-office", "auditor", None),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("revocation")
    built = make_cluster(root, [NATIONAL, ZHEJIANG, HUZHOU, LISHUI], clients=CLIENTS)
    # Huzhou holds a directory (same nodes, newer) that revokes Lishui's TLS certificate.
    lishui_tls = fingerprint(load_node_credentials(built.keystore.root / "nodes" / LISHUI).tls_cert)
    revoking = root / "directory-revoking-lishui.json"
    args = ["directory", "sign", "--keys", str(built.keystore.root), "--out", str(revoking)]
    for node in (NATIONAL, ZHEJIANG, HUZHOU, LISHUI):
        args += ["--node", f"{node}={built.endpoint(node)}"]
    result = run_gateway(*args, "--revoke", lishui_tls)
    assert result.returncode == 0, result.stderr
    shutil.copy(revoking, root / HUZHOU / "directory.json")
    with running(built, [HUZHOU]) as started:
        yield started


def _gateway(cluster: Cluster, client: str, *args: str) -> Any:
    who = ["--as", str(cluster.client(HUZHOU, client)), "--endpoint", cluster.endpoint(HUZHOU)]
    return run_gateway(*args[:2], *who, *args[2:], "--json")


def _denied(cluster: Cluster, rule: str) -> list[dict[str, Any]]:
    result = _gateway(cluster, "audit-office", "audit", "events", "--decision", "denied")
    assert result.returncode == 0, result.stderr
    return [e for e in map(json.loads, result.stdout.splitlines()) if e["rule"] == rule]


def test_a_revoked_client_certificate_is_refused_at_once_and_both_steps_are_audited(
    cluster: Cluster,
) -> None:
    listing = ("records", "list", "--purpose", "revocation test")
    assert _gateway(cluster, "procurement-office", *listing).returncode == 0

    client = cluster.client(HUZHOU, "procurement-office")
    revoke = run_gateway(
        "pki", "revoke", "--config", str(cluster.configs[HUZHOU]), "--client", str(client),
        "--reason", "laptop stolen", "--json",
    )  # fmt: skip
    assert revoke.returncode == 0, revoke.stderr
    cert = fingerprint(load_client_credentials(client).cert)
    assert json.loads(revoke.stdout) == {"fingerprint": cert, "revoked": True, "new": True}

    refused = _gateway(cluster, "procurement-office", *listing)
    assert refused.returncode == 1
    error = json.loads(refused.stderr)["error"]
    assert (error["code"], error["message"]) == (
        "PERMISSION_DENIED",
        f"PERMISSION_DENIED: certificate {cert[:16]}… of department:{HUZHOU}/procurement-office "
        f"was revoked by node {HUZHOU}: laptop stolen",
    )
    [event] = _denied(cluster, "certificate:revoked")
    assert (event["actor"], event["fingerprint"], event["action"]) == (
        f"department:{HUZHOU}/procurement-office",
        cert,
        "/gateway.v1.Records/List",
    )
    revoked_by = _gateway(cluster, "audit-office", "audit", "events", "--action", "pki.revoke")
    [audit] = [json.loads(line) for line in revoked_by.stdout.splitlines()]
    assert (audit["actor"], audit["address"]) == (
        f"operator:{HUZHOU}/{getpass.getuser()}",
        socket.gethostname(),
    )
    assert audit["detail"] == f"department:{HUZHOU}/procurement-office {cert}: laptop stolen"


def test_a_node_certificate_revoked_in_the_directory_cannot_call_records(cluster: Cluster) -> None:
    lishui = load_node_credentials(cluster.keystore.root / "nodes" / LISHUI)
    channel = open_peer_channel(lishui, cluster.endpoint(HUZHOU), node=HUZHOU)
    try:
        with pytest.raises(grpc.RpcError) as caught:
            records_pb2_grpc.RecordsStub(channel).List(
                records_pb2.ListRecordsRequest(purpose="revoked node"), timeout=30
            )
    finally:
        channel.close()
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert caught.value.details() == (
        f"certificate {fingerprint(lishui.tls_cert)[:16]}… of node:{LISHUI}/{LISHUI} is revoked "
        "in the federation directory"
    )
    [event] = _denied(cluster, "directory:revoked")
    assert (event["actor"], event["action"]) == (
        f"node:{LISHUI}/{LISHUI}",
        "/gateway.v1.Records/List",
    )


def _list_as_node(cluster: Cluster, caller: str, at: str) -> grpc.StatusCode:
    creds = load_node_credentials(cluster.keystore.root / "nodes" / caller)
    channel = open_peer_channel(creds, cluster.endpoint(at), node=at)
    try:
        records_pb2_grpc.RecordsStub(channel).List(
            records_pb2.ListRecordsRequest(purpose="directory reload"), timeout=30
        )
    except grpc.RpcError as exc:
        return exc.code()
    finally:
        channel.close()
    return grpc.StatusCode.OK


def test_the_national_node_applies_a_re_signed_directory_without_a_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp("reload")
    built = make_cluster(root, [NATIONAL, ZHEJIANG], clients=[])
    zhejiang_tls = fingerprint(
        load_node_credentials(built.keystore.root / "nodes" / ZHEJIANG).tls_cert
    )
    with running(built, [NATIONAL]) as cluster:
        assert _list_as_node(cluster, ZHEJIANG, NATIONAL) is grpc.StatusCode.OK
        # The operator re-signs the national directory in place, revoking Zhejiang's certificate.
        args = ["directory", "sign", "--keys", str(built.keystore.root)]
        args += ["--out", str(root / NATIONAL / "directory.json"), "--revoke", zhejiang_tls]
        for node in (NATIONAL, ZHEJIANG):
            args += ["--node", f"{node}={built.endpoint(node)}"]
        result = run_gateway(*args, "--serial", str(2**40))
        assert result.returncode == 0, result.stderr
        wait_for(
            "the national node to refuse the revoked certificate",
            lambda: _list_as_node(cluster, ZHEJIANG, NATIONAL) is grpc.StatusCode.PERMISSION_DENIED,
            timeout_s=60,
        )
        assert '"event": "directory.refreshed"' in cluster.log(NATIONAL)
