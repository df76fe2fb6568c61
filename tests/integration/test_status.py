"""`gateway status`: one screen about a node, read on its host from its config, keys and store."""

from __future__ import annotations

import getpass
import json
import socket
from pathlib import Path

import pytest

from gateway.app.operator import operator_session
from gateway.store import AuditFilter, OutboxEntry
from tests.support.cluster import Cluster, make_cluster
from tests.support.federation import run_gateway

NATIONAL, ZHEJIANG, HUZHOU, LISHUI = "000000", "330000", "330500", "331100"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    return make_cluster(
        tmp_path_factory.mktemp("status"), [NATIONAL, ZHEJIANG, HUZHOU, LISHUI], clients=[]
    )


def test_a_province_sees_its_parent_children_backlog_and_readiness(cluster: Cluster) -> None:
    with operator_session(cluster.configs[ZHEJIANG]) as session:
        session.store.outbox.enqueue_many(
            [OutboxEntry(HUZHOU, "record", f"R{i}", 1) for i in range(3)], now=1_000
        )
        found = session.status()
    assert (found.node_id, found.level, found.parent) == (ZHEJIANG, "province", NATIONAL)
    assert [(p.node_id, p.relation, p.endpoint, p.backlog) for p in found.peers] == [
        (NATIONAL, "parent", cluster.endpoint(NATIONAL), 0),
        (HUZHOU, "child", cluster.endpoint(HUZHOU), 3),
        (LISHUI, "child", cluster.endpoint(LISHUI), 0),
    ]
    assert found.peers[1].oldest_waiting_s == pytest.approx(found.at - 1_000)
    assert [p.last_delivery_at for p in found.peers] == [None, None, None]
    assert found.readiness.ready, found.readiness.summary()
    assert [r.name for r in found.readiness.results] == [
        "store",
        "schema",
        "directory",
        "certificates",
    ]
    assert [c.name for c in found.certificates] == ["tls", "signing", "node-ca", "root"]
    assert all(c.expires_in_s > 300 * 86_400 for c in found.certificates)
    assert found.directory_serial is not None
    assert 6 * 86_400 < (found.directory_expires_in_s or 0) <= 7 * 86_400
    assert (found.failed_deliveries, found.audit_events, found.parent_cosignature_age_s) == (
        0,
        0,
        None,
    )


def test_national_has_no_parent_and_its_provinces_as_children(cluster: Cluster) -> None:
    with operator_session(cluster.configs[NATIONAL]) as session:
        found = session.status()
    assert (found.level, found.parent) == ("national", None)
    assert [(p.node_id, p.relation) for p in found.peers] == [(ZHEJIANG, "child")]


def test_a_node_without_a_usable_directory_is_not_ready_and_says_why(
    cluster: Cluster, tmp_path: Path
) -> None:
    config = tmp_path / "huzhou.toml"
    text = cluster.configs[HUZHOU].read_text(encoding="utf-8")
    directory = str(cluster.root / HUZHOU / "directory.json")
    broken = tmp_path / "directory.json"
    broken.write_text("{}", encoding="utf-8")
    config.write_text(text.replace(directory, str(broken)), encoding="utf-8")

    result = run_gateway("status", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["readiness"]["ready"] is False
    assert document["readiness"]["checks"]["directory"].startswith(
        "cannot read the federation directory"
    )
    assert document["directory_serial"] is None
    assert [p["node_id"] for p in document["peers"]] == [ZHEJIANG]

    table = run_gateway("status", "--config", str(config), env={"COLUMNS": "80"})
    assert table.returncode == 0, table.stderr
    assert "NO: directory: cannot read the federation directory" in table.stdout


def test_directory_show_decodes_and_verifies_the_nodes_own_directory(cluster: Cluster) -> None:
    result = run_gateway("directory", "show", "--config", str(cluster.configs[HUZHOU]), "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert [(n["node_id"], n["parent"], n["endpoints"]) for n in document["nodes"]] == [
        (NATIONAL, None, [cluster.endpoint(NATIONAL)]),
        (ZHEJIANG, NATIONAL, [cluster.endpoint(ZHEJIANG)]),
        (HUZHOU, ZHEJIANG, [cluster.endpoint(HUZHOU)]),
        (LISHUI, ZHEJIANG, [cluster.endpoint(LISHUI)]),
    ]
    assert document["expires_at"] - document["issued_at"] == 7 * 86_400
    assert document["revoked"] == []
    table = run_gateway("directory", "show", "--config", str(cluster.configs[HUZHOU]))
    assert table.returncode == 0, table.stderr
    assert f"directory serial {document['serial']}, signed by the national node" in table.stdout
    # Each run is in the node's audit log as the operator who ran it.
    with operator_session(cluster.configs[HUZHOU]) as session:
        shown = [
            (e.event.actor, e.event.address, e.event.detail)
            for e in session.store.audit.events(AuditFilter(action="operator.directory_show"))
        ]
    operator = (f"operator:{HUZHOU}/{getpass.getuser()}", socket.gethostname())
    assert shown == [(*operator, f"serial {document['serial']}")] * 2


def test_directory_show_refuses_a_directory_not_signed_by_the_national_node(
    cluster: Cluster, tmp_path: Path
) -> None:
    # Signed with Zhejiang's key instead of the national one: a forged directory.
    source = json.loads((cluster.root / "directory.json").read_text(encoding="utf-8"))
    zhejiang = (cluster.keystore.root / "nodes" / ZHEJIANG / "signing.crt").read_text()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({**source, "signer_chain_pem": zhejiang}), encoding="utf-8")
    result = run_gateway("directory", "show", str(forged), "--config", str(cluster.configs[HUZHOU]))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("error: ")
    assert "000000" in result.stderr, result.stderr


def test_shell_completion_completes_commands_and_subcommands() -> None:
    script = run_gateway("completion", "bash")
    assert script.returncode == 0, script.stderr
    assert "complete -o nosort -F _gateway_completion gateway" in script.stdout
    env = {
        "_GATEWAY_COMPLETE": "bash_complete",
        "COMP_WORDS": "gateway outbox re",
        "COMP_CWORD": "2",
    }
    completed = run_gateway(env=env)
    assert completed.stdout.splitlines() == ["plain,retry"]
