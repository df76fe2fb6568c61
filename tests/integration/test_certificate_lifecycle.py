"""Trust over years, with real `gateway` commands and `gateway serve` processes over mTLS.

Each node's keystore is its own folder, as on its own machine; the root's
keystore stays offline once the national and provincial CAs are signed.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.core.records import verify_record
from gateway.node.local_federation import free_port
from gateway.node.trust import FederationTrust, read_directory_file
from gateway.pki import init_federation, issue_node, parent_of
from gateway.pki.keystore import read_certificate
from tests.support.cluster import FEDERATION_SETTINGS, Cluster, listed, running, submit, wait_for
from tests.support.federation import Keystore, init_node, run_gateway, start_node
from tests.support.records import penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = (NATIONAL, ZHEJIANG, HUZHOU)
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
PUBLIC_FILES = ("tls.crt", "signing.crt", "chain.pem", "signing-history.json")
AUDIT_SETTINGS = "\n[audit]\ncheckpoint_every_events = 5\ncheckpoint_every_s = 0.5\n"


def _gateway(*args: str) -> str:
    result = run_gateway(*args)
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout


@dataclass
class SeparateCluster(Cluster):
    """A cluster whose nodes each have their own keystore folder."""

    stores: dict[str, Path] = field(default_factory=dict)

    def client(self, node: str, name: str) -> Path:
        return self.stores[node] / "clients" / f"{node}-{name}"


def _enrol(store: Path, node: str, signer_store: Path, signer: str, root_cert: Path) -> None:
    """`pki request` on the node, `pki sign` at the CA above, `pki install` on the node."""
    _gateway("pki", "request", "--dir", str(store), "--node", node)
    signed = store.parent / f"{node}-signed.pem"
    _gateway(
        "pki", "sign", "--dir", str(signer_store), "--ca", signer,
        "--request", str(store / "nodes" / node / "ca.csr"), "--out", str(signed),
    )  # fmt: skip
    _gateway(
        "pki", "install", "--dir", str(store), "--node", node, "--certificate", str(signed),
        "--root", str(root_cert), "--host", "127.0.0.1",
    )  # fmt: skip


def publish_certificates(cluster: SeparateCluster, node: str) -> None:
    """What a node's operator sends the national operator: its public files, no key."""
    target = cluster.stores[NATIONAL] / "nodes" / node
    target.mkdir(parents=True, exist_ok=True)
    for name in PUBLIC_FILES:
        source = cluster.stores[node] / "nodes" / node / name
        if source.exists():
            shutil.copy(source, target / name)


def sign_directory(cluster: SeparateCluster, *, to: tuple[str, ...] = NODES) -> int:
    """The national operator signs the directory; the nodes ``to`` get a copy of the file
    (the others refresh it from their parent). Returns its serial."""
    out = cluster.root / "directory.json"
    args = ["directory", "sign", "--keys", str(cluster.stores[NATIONAL]), "--out", str(out)]
    for node in NODES:
        args += ["--node", f"{node}={cluster.endpoint(node)}"]
    serial = json.loads(_gateway(*args, "--json"))["serial"]
    for node in to:
        shutil.copy(out, cluster.root / node / "directory.json")
    assert isinstance(serial, int)
    return serial


def make_separate_cluster(base: Path) -> SeparateCluster:
    offline = base / "offline-root"
    _gateway("pki", "init", "--dir", str(offline))
    root_cert = offline / "root" / "ca.crt"
    stores = {node: base / f"keys-{node}" for node in NODES}
    _enrol(stores[NATIONAL], NATIONAL, offline, "root", root_cert)
    _enrol(stores[ZHEJIANG], ZHEJIANG, offline, "root", root_cert)
    # From here on the root key is offline: the province signs its city.
    _enrol(stores[HUZHOU], HUZHOU, stores[ZHEJIANG], ZHEJIANG, root_cert)
    clients = [
        (HUZHOU, "procurement-office", "department", "procurement"),
        (HUZHOU, "audit-office", "auditor", None),
        (NATIONAL, "audit-office", "auditor", None),
    ]
    for node, name, role, domain in clients:
        _gateway(
            "pki", "client", "--dir", str(stores[node]), "--node", node, "--name", name,
            "--role", role, *(["--domain", domain] if domain else []),
        )  # fmt: skip
    ports = {node: free_port() for node in NODES}
    cluster = SeparateCluster(base, Keystore(stores[NATIONAL]), ports, {}, stores=stores)
    for node in NODES:
        (base / node).mkdir()
        if node != NATIONAL:
            publish_certificates(cluster, node)
    sign_directory(cluster)
    for node in NODES:
        parent = parent_of(node)
        config = init_node(
            Keystore(stores[node]),
            node,
            base / node,
            listen=cluster.endpoint(node),
            extra=[
                "--directory",
                str(base / node / "directory.json"),
                *(["--parent", cluster.endpoint(parent)] if parent else []),
            ],
        )
        with config.open("a", encoding="utf-8") as handle:
            handle.write(FEDERATION_SETTINGS)
            handle.write(AUDIT_SETTINGS)
        cluster.configs[node] = config
    return cluster


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SeparateCluster]:
    built = make_separate_cluster(tmp_path)
    with running(built, list(NODES)) as started:
        assert isinstance(started, SeparateCluster)
        yield started


def test_federation_runs_with_the_root_key_offline(cluster: SeparateCluster) -> None:
    base = cluster.root
    # Every private key outside the offline root's folder is its own node's.
    keys = sorted(
        str(p.relative_to(base)) for p in base.rglob("*.key") if "offline-root" not in p.parts
    )
    own = [f"keys-{n}/nodes/{n}/{k}.key" for n in NODES for k in ("ca", "signing", "tls")]
    clients = [
        "keys-000000/clients/000000-audit-office/client.key",
        "keys-330500/clients/330500-audit-office/client.key",
        "keys-330500/clients/330500-procurement-office/client.key",
    ]
    assert keys == sorted(own + clients)
    assert [p.name for p in (base / "offline-root").rglob("*.key")] == ["ca.key"]

    ids = set(submit(cluster, HUZHOU, "procurement-office", [penalty_fields(1, decided=DECIDED)]))
    wait_for(
        "the city's record at national",
        lambda: ids <= set(listed(cluster, NATIONAL, "audit-office")),
    )


def _refreshed(cluster: SeparateCluster, node: str, serial: int) -> bool:
    """Whether ``node`` logged that it installed directory ``serial``."""
    for line in cluster.log(node).splitlines():
        if '"directory.refreshed"' in line and json.loads(line).get("serial") == serial:
            return True
    return False


def _verified_at_national(cluster: SeparateCluster, ids: set[str]) -> dict[str, str]:
    """Each record as national holds it, verified against national's directory: record id ->
    the key id that signed it."""
    views = listed(cluster, NATIONAL, "audit-office")
    root = read_certificate(cluster.stores[NATIONAL] / "nodes" / NATIONAL / "root.crt")
    trust = FederationTrust(node_id=NATIONAL, root=root, clock=time.time)
    trust.install(read_directory_file(cluster.root / NATIONAL / "directory.json"))
    signed_by = {}
    for record_id in ids:
        record = verify_record(
            views[record_id].sd_jwt,
            resolve_key=trust.resolve,
            key_owner=trust.owner,
            now=int(time.time()),
        )
        trust.check_issued_within(record.key_id, record.issued_at)
        signed_by[record_id] = record.key_id
    return signed_by


def _audit_verify(cluster: SeparateCluster) -> dict[str, object] | None:
    result = run_gateway(
        "audit", "verify", "--as", str(cluster.client(HUZHOU, "audit-office")),
        "--endpoint", cluster.endpoint(HUZHOU), "--json",
    )  # fmt: skip
    if result.returncode != 0:
        return None
    report = json.loads(result.stdout)
    assert isinstance(report, dict)
    return report


def test_a_city_rotates_its_signing_key_in_traffic_and_all_verifies_at_national(
    cluster: SeparateCluster,
) -> None:
    rows = [penalty_fields(i, decided=DECIDED) for i in range(3)]
    delivered = set(submit(cluster, HUZHOU, "procurement-office", rows))
    wait_for(
        "the first records at national",
        lambda: delivered <= set(listed(cluster, NATIONAL, "audit-office")),
    )
    in_flight = set(
        submit(cluster, HUZHOU, "procurement-office", [penalty_fields(3, decided=DECIDED)])
    )
    before = wait_for("a cosigned checkpoint before the renewal", lambda: _audit_verify(cluster))
    # The operator's order: stop the city, renew, have the directory signed, start the city.
    cluster.stop(HUZHOU)
    renewal = json.loads(
        _gateway("pki", "renew", "--dir", str(cluster.stores[HUZHOU]), "--node", HUZHOU,
                 "--new-key", "--json")
    )  # fmt: skip
    publish_certificates(cluster, HUZHOU)
    serial = sign_directory(cluster, to=(NATIONAL, HUZHOU))
    wait_for(
        "the province to hold the new directory", lambda: _refreshed(cluster, ZHEJIANG, serial)
    )
    cluster.start(HUZHOU)
    after = set(submit(cluster, HUZHOU, "procurement-office", [penalty_fields(4, decided=DECIDED)]))

    everything = delivered | in_flight | after
    wait_for(
        "every record at national",
        lambda: everything <= set(listed(cluster, NATIONAL, "audit-office")),
    )
    signed_by = _verified_at_national(cluster, everything)
    assert signed_by == {
        **dict.fromkeys(delivered | in_flight, renewal["old_signing_kid"]),
        **dict.fromkeys(after, renewal["new_signing_kid"]),
    }

    def verified_across() -> dict[str, object] | None:
        report = _audit_verify(cluster)
        if report is None or not isinstance(report["witnessed_size"], int):
            return None
        return report if report["witnessed_size"] > int(str(before["signed_size"])) else None

    report = wait_for("audit verify across the rotation", verified_across)
    assert report["verified"] is True
    assert report["witness"] == f"credit-gateway/{ZHEJIANG}"


def test_a_node_with_an_expired_certificate_refuses_to_start_and_starts_once_renewed(
    tmp_path: Path,
) -> None:
    """Its certificates were issued 400 days ago: the leaves (one year) have expired."""
    keys = tmp_path / "keys"
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    init_federation(keys, now=issued)
    issue_node(keys, node_id=NATIONAL, parent_id=None, host="127.0.0.1", now=issued)
    (tmp_path / NATIONAL).mkdir()
    config = init_node(Keystore(keys), NATIONAL, tmp_path / NATIONAL)

    listed = json.loads(_gateway("pki", "list", "--dir", str(keys), "--json"))
    assert {(c["kind"], c["state"]) for c in listed} == {
        ("signing", "expired"),
        ("tls", "expired"),
        ("node-ca", "valid"),
        ("root", "valid"),
    }
    refused = run_gateway("serve", "--config", str(config), "--log-json")
    assert refused.returncode == 1
    node_dir = keys / "nodes" / NATIONAL
    assert f"error: {node_dir / 'tls.crt'}: certificate expired at " in refused.stderr
    assert f"; renew it with `gateway pki renew --dir {keys} --node {NATIONAL}`" in refused.stderr

    _gateway("pki", "renew", "--config", str(config))
    node = start_node(config, NATIONAL, log=tmp_path / "national.log")
    try:
        assert node.process.poll() is None
    finally:
        node.terminate()
    listed = json.loads(_gateway("pki", "list", "--dir", str(keys), "--json"))
    assert sorted((c["kind"], c["state"]) for c in listed) == [
        ("node-ca", "valid"),
        ("retired-signing", "retired"),
        ("root", "valid"),
        ("signing", "valid"),
        ("tls", "valid"),
    ]
