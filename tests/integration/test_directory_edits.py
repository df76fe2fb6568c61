"""`gateway directory set-endpoints|remove-node|revoke` at national, picked up without a restart.

Real `gateway serve` processes over mutual TLS on loopback. The operator edits
the national node's directory file; the running national node re-reads it and
every other node fetches it from its parent on its next upkeep round. Nobody
restarts but the node that moves.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import socket
from functools import partial
from pathlib import Path
from typing import Any

from gateway.node.config import load_config
from gateway.node.local_federation import free_port
from gateway.pki import fingerprint, load_node_credentials, signing_kid
from gateway.store import AuditFilter, open_store
from tests.support.cluster import Cluster, listed, make_cluster, running, submit, wait_for
from tests.support.federation import run_gateway
from tests.support.records import penalty_fields

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"
AUDITORS = [
    (node, "audit-office", "auditor", None) for node in (NATIONAL, ZHEJIANG, HUZHOU, LISHUI)
]
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
DEPARTMENTS = [
    (node, "procurement-office", "department", "procurement") for node in (HUZHOU, LISHUI)
]


def _edit(cluster: Cluster, *args: str) -> int:
    """Run a directory edit at national as its operator; the new serial."""
    result = run_gateway(
        "directory", args[0], "--config", str(cluster.configs[NATIONAL]), *args[1:], "--json"
    )
    assert result.returncode == 0, result.stderr
    serial: int = json.loads(result.stdout)["serial"]
    return serial


def _serial(cluster: Cluster, node: str) -> int:
    """The directory serial a node holds (its cached directory file), as `gateway status` says."""
    result = run_gateway("status", "--config", str(cluster.configs[node]), "--json")
    assert result.returncode == 0, result.stderr
    serial: int = json.loads(result.stdout)["directory_serial"] or 0
    return serial


def _events(cluster: Cluster, node: str, *filters: str) -> list[dict[str, Any]]:
    client = ["--as", str(cluster.client(node, "audit-office")), "--endpoint"]
    result = run_gateway("audit", "events", *client, cluster.endpoint(node), *filters, "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_set_endpoints_moves_the_province_and_its_city_follows_without_a_restart(
    tmp_path: Path,
) -> None:
    clients = [c for c in (*AUDITORS, *DEPARTMENTS) if c[0] != LISHUI]
    built = make_cluster(tmp_path, [NATIONAL, ZHEJIANG, HUZHOU], clients=clients)
    moved = f"127.0.0.1:{free_port()}"
    with running(built, [NATIONAL, ZHEJIANG, HUZHOU]) as cluster:
        serial = _edit(cluster, "set-endpoints", ZHEJIANG, moved)
        # National re-reads its file; the province fetches it from national, the city from
        # the province (still at its old address).
        wait_for(
            "the city to hold the edited directory", lambda: _serial(cluster, HUZHOU) == serial
        )
        assert '"source": "file"' in cluster.log(NATIONAL)

        # The province moves (the one restart: it listens elsewhere). The city, whose
        # config still names the old address, pushes to the new one from the directory.
        cluster.stop(ZHEJIANG)
        cluster.ports[ZHEJIANG] = int(moved.rpartition(":")[2])
        cluster.start(ZHEJIANG, env={"GATEWAY_NODE__LISTEN": moved})
        ids = set(
            submit(
                cluster,
                HUZHOU,
                "procurement-office",
                [penalty_fields(i, decided=DECIDED) for i in range(5)],
            )
        )
        wait_for(
            "the city's records at national through the moved province",
            lambda: set(listed(cluster, NATIONAL, "audit-office")) >= ids,
        )
        [event] = _events(cluster, NATIONAL, "--action", "operator.directory_set_endpoints")
        assert (event["actor"], event["address"], event["decision"]) == (
            f"operator:{NATIONAL}/{getpass.getuser()}",
            socket.gethostname(),
            "allowed",
        )
        assert event["detail"] == f"node {ZHEJIANG} at {moved}; directory serial {serial}"


def test_a_removed_or_revoked_city_has_its_push_refused_and_audited_without_a_restart(
    tmp_path: Path,
) -> None:
    built = make_cluster(
        tmp_path, [NATIONAL, ZHEJIANG, HUZHOU, LISHUI], clients=[*AUDITORS, *DEPARTMENTS]
    )
    lishui_certificate = built.keystore.root / "nodes" / LISHUI / "tls.crt"
    lishui_tls = fingerprint(load_node_credentials(built.keystore.root / "nodes" / LISHUI).tls_cert)
    with running(built, [NATIONAL, ZHEJIANG, HUZHOU, LISHUI]) as cluster:
        _edit(cluster, "remove-node", HUZHOU)
        serial = _edit(
            cluster, "revoke", "--certificate", str(lishui_certificate), "--reason", "key leaked"
        )
        wait_for(
            "the province to hold the edited directory",
            lambda: _serial(cluster, ZHEJIANG) == serial,
        )

        for city in (HUZHOU, LISHUI):
            submit(cluster, city, "procurement-office", [penalty_fields(1, decided=DECIDED)])

        def refused_at_province() -> set[tuple[str, str, str]] | None:
            # The removed node passes the revocation check and is refused by the receive use
            # case (push.receive); the revoked certificate is refused before it, per RPC.
            denied = {
                (e["actor"], e["action"], e["rule"])
                for action in ("push.receive", "/gateway.v1.Federation/Push")
                for e in _events(cluster, ZHEJIANG, "--decision", "denied", "--action", action)
            }
            wanted = {
                (f"node:{HUZHOU}/{HUZHOU}", "push.receive", "directory:unknown-node"),
                (f"node:{LISHUI}/{LISHUI}", "/gateway.v1.Federation/Push", "directory:revoked"),
            }
            return denied if denied >= wanted else None

        wait_for("both pushes refused at the province", refused_at_province)
        # Each city learns the refusal as final: its rows fail (for the operator), audited there.
        for city in (HUZHOU, LISHUI):
            [sent] = wait_for(
                f"the refusal audited at {city}",
                partial(_events, cluster, city, "--action", "push.send"),
            )
            assert (sent["decision"], sent["detail"].split(" refused by ")[1]) == (
                "denied",
                ZHEJIANG,
            )
        assert set(listed(cluster, ZHEJIANG, "audit-office")) == set()
        revoked = _events(cluster, NATIONAL, "--action", "operator.directory_revoke")
        assert [e["detail"] for e in revoked] == [
            f"{lishui_tls}: key leaked; directory serial {serial}"
        ]
        removed = _events(cluster, NATIONAL, "--action", "operator.directory_remove_node")
        assert [e["detail"].split(";")[0] for e in removed] == [f"node {HUZHOU}"]


def _refused(cluster: Cluster, node: str, *args: str) -> str:
    """Run a directory edit as ``node``'s operator, expecting a refusal; its message."""
    result = run_gateway("directory", args[0], "--config", str(cluster.configs[node]), *args[1:])
    assert result.returncode == 1, result.stdout + result.stderr
    return result.stderr


def _denied(cluster: Cluster, node: str) -> list[tuple[str, str, str, str, str]]:
    """The refusals in ``node``'s audit log: (actor, address, action, rule, detail)."""
    store = open_store(load_config(cluster.configs[node]).database)
    try:
        events = store.audit.events(AuditFilter(decision="denied"), after=-1, limit=100)
    finally:
        store.close()
    return [
        (e.event.actor, e.event.address, e.event.action, e.event.rule, e.event.detail)
        for e in events
    ]


def test_each_refused_directory_edit_is_audited_with_who_tried_what_and_why(
    tmp_path: Path,
) -> None:
    # No node runs: the operator's commands open the node's store themselves.
    cluster = make_cluster(tmp_path, [NATIONAL, ZHEJIANG], clients=[])
    national = (f"operator:{NATIONAL}/{getpass.getuser()}", socket.gethostname())
    province = (f"operator:{ZHEJIANG}/{getpass.getuser()}", socket.gethostname())
    directory = cluster.root / NATIONAL / "directory.json"
    kept = directory.read_bytes()

    # Bad input, and an unknown node.
    assert "is not host:port" in _refused(cluster, NATIONAL, "set-endpoints", ZHEJIANG, "nowhere")
    assert "is not in the directory" in _refused(cluster, NATIONAL, "remove-node", "339900")
    assert "is not a hex SHA-256" in _refused(
        cluster, NATIONAL, "revoke", "c0ffee", "--reason", "key leaked"
    )
    # No permission: only the national node signs the directory; audited where it was tried.
    assert "is not the national node" in _refused(cluster, ZHEJIANG, "remove-node", HUZHOU)
    # A directory file whose signature does not verify is not edited (nor re-signed).
    doc = json.loads(kept)
    envelope = json.loads(doc["envelope"])
    signature = envelope["signatures"][0]["sig"]
    envelope["signatures"][0]["sig"] = ("A" if signature[0] != "A" else "B") + signature[1:]
    directory.write_text(json.dumps({**doc, "envelope": json.dumps(envelope)}), encoding="utf-8")
    forged = directory.read_bytes()
    national_kid = signing_kid(
        load_node_credentials(cluster.keystore.root / "nodes" / NATIONAL).signing_cert
    )
    forgery = f"signature by key '{national_kid}' does not verify"
    assert forgery in _refused(cluster, NATIONAL, "set-endpoints", ZHEJIANG, "127.0.0.1:1")
    assert directory.read_bytes() == forged

    assert _denied(cluster, NATIONAL) == [
        (
            *national,
            "operator.directory_set_endpoints",
            "InputError",
            f"node {ZHEJIANG} at nowhere: endpoint 'nowhere' is not host:port",
        ),
        (
            *national,
            "operator.directory_remove_node",
            "NotFoundError",
            "node 339900: node 339900 is not in the directory",
        ),
        (
            *national,
            "operator.directory_revoke",
            "InputError",
            "c0ffee: key leaked: 'c0ffee' is not a hex SHA-256 certificate fingerprint",
        ),
        (
            *national,
            "operator.directory_set_endpoints",
            "SignatureError",
            f"node {ZHEJIANG} at 127.0.0.1:1: {forgery}",
        ),
    ]
    assert _denied(cluster, ZHEJIANG) == [
        (
            *province,
            "operator.directory_remove_node",
            "directory:national-only",
            f"node {HUZHOU}: node {ZHEJIANG} is not the national node: only the national "
            "node edits and signs the federation directory",
        )
    ]
