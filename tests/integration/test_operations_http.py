"""The operations listener of a real `gateway serve` process: /metrics, /healthz, /readyz.

Scraped over plain HTTP on loopback, as Prometheus and a kubelet would. The
metrics text is parsed with prometheus_client's own parser; names, label sets
and values are asserted after known traffic. Readiness is made to fail for
real: a private PostgreSQL cluster stopped under the node, a SQLite file made
immutable (``chattr +i``; the tests run as root).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from gateway.node.local_federation import free_port
from tests.integration.conftest import CITY
from tests.support.cluster import make_cluster, running, wait_for
from tests.support.federation import (
    Keystore,
    run_gateway,
    running_node,
)
from tests.support.node_config import set_config_keys
from tests.support.operations import PARENT, Samples, city_with_operations, http_get, scrape
from tests.support.private_postgres import PrivatePostgres, private_postgres
from tests.support.records import company_code, penalty_fields, write_penalty_csv

DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=30)
OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "operations-openapi.yaml"


def _described_checks() -> list[str]:
    """The readiness check names docs/operations-openapi.yaml gives for a 503."""
    doc = yaml.safe_load(OPENAPI.read_text(encoding="utf-8"))
    schema = doc["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]
    names: list[str] = schema["schema"]["properties"]["reasons"]["propertyNames"]["enum"]
    return names


# A real node runs exactly the checks the operations API description names.
READINESS_CHECKS = _described_checks()


def _labels(samples: Samples, name: str) -> set[tuple[tuple[str, str], ...]]:
    return {labels for sample_name, labels in samples if sample_name == name}


def _submit(keystore: Keystore, endpoint: str, csv_path: Path) -> list[dict[str, str]]:
    client = keystore.client(CITY, "market-office")
    done = run_gateway(
        "submit", "--as", str(client), "--endpoint", endpoint, str(csv_path), "--json"
    )
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture
def immutable_files() -> Iterator[list[Path]]:
    """Files the test makes immutable; made mutable again whatever happens."""
    files: list[Path] = []
    yield files
    for path in files:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_metrics_count_known_traffic_and_read_the_node_state(
    keystore: Keystore, tmp_path: Path
) -> None:
    config, base = city_with_operations(keystore, tmp_path)
    rows = [penalty_fields(i, decided=DECIDED) for i in range(1, 6)]
    code = rows[4]["XDR_SHXYM"]
    # A wrong check character: the node refuses this record, the CLI cannot tell.
    rows[4] = {**rows[4], "XDR_SHXYM": code[:-1] + ("0" if code[-1] != "0" else "1")}
    csv_path = write_penalty_csv(tmp_path / "penalties.csv", rows)
    with running_node(config, CITY, log=tmp_path / "node.log") as node:
        status, body = http_get(f"{base}/healthz")
        assert (status, json.loads(body)) == (200, {"status": "live"})

        report = _submit(keystore, node.endpoint, csv_path)
        assert sorted(r["outcome"] for r in report) == ["accepted"] * 4 + ["refused"]
        checked = run_gateway(
            "check",
            "--as",
            str(keystore.client(CITY, "procurement-office")),
            "--endpoint",
            node.endpoint,
            company_code(1),
            "--domain",
            "procurement",
            "--purpose",
            "operations test",
            "--json",
        )
        assert checked.returncode == 0, checked.stderr
        decision = json.loads(checked.stdout)["decision"]
        # An auditor may not submit: one refused call.
        refused = run_gateway(
            "submit",
            "--as",
            str(keystore.client(CITY, "audit-office")),
            "--endpoint",
            node.endpoint,
            str(csv_path),
        )
        assert refused.returncode != 0

        # Pushes to the absent parent fail; a checkpoint is published.
        wait_for(
            "a failed push and a checkpoint",
            lambda: (
                s
                if (
                    ("gateway_push_failures_total", (("peer", PARENT), ("reason", "unavailable")))
                    in (s := scrape(base))
                    and ("gateway_audit_checkpoint_age_seconds", ()) in s
                )
                else None
            ),
            timeout_s=60,
        )
        before = time.time()
        samples = scrape(base)
        after = time.time()

    intake = (("source", "intake"),)
    assert samples[("gateway_records_received_total", intake)] == 5
    assert samples[("gateway_records_stored_total", intake)] == 4
    refused_invalid = (("reason", "RecordValidationError"), ("source", "intake"))
    assert samples[("gateway_records_refused_total", refused_invalid)] == 1
    assert samples[("gateway_records_stored_total", (("source", "push"),))] == 0
    assert (
        samples[("gateway_checks_total", (("decision", decision), ("domain", "procurement")))] == 1
    )

    submit = (("method", "Submit"), ("service", "gateway.v1.Intake"))
    assert samples[("gateway_rpc_handled_total", (("code", "OK"), *submit))] == 1
    assert samples[("gateway_rpc_handled_total", (("code", "PERMISSION_DENIED"), *submit))] == 1
    assert samples[("gateway_rpc_duration_seconds_count", submit)] == 2
    assert ("gateway_rpc_duration_seconds_bucket", (("le", "+Inf"), *submit)) in samples

    # The four records wait in the outbox for the parent, which never answered.
    assert samples[("gateway_outbox_depth", (("peer", PARENT),))] == 4
    assert samples[("gateway_outbox_oldest_age_seconds", (("peer", PARENT),))] >= 0
    assert (
        samples[("gateway_push_failures_total", (("peer", PARENT), ("reason", "unavailable")))] >= 1
    )
    assert ("gateway_push_batches_total", (("peer", PARENT),)) not in samples
    assert samples[("gateway_audit_log_events", ())] >= 3
    assert samples[("gateway_audit_checkpoint_age_seconds", ())] >= 0
    # The parent never cosigned: no age to report.
    assert ("gateway_audit_cosignature_age_seconds", ()) not in samples
    assert samples[("gateway_store_up", ())] == 1
    assert samples[("gateway_ready", ())] == 1
    assert {
        labels: value
        for (name, labels), value in samples.items()
        if name == "gateway_readiness_check_ok"
    } == {(("check", c),): 1 for c in READINESS_CHECKS}

    assert _labels(samples, "gateway_certificate_expiry_seconds") == {
        (("certificate", name),) for name in ("tls", "signing", "node-ca", "root")
    }
    for name, file in (("signing", "signing.crt"), ("tls", "tls.crt"), ("root", "root.crt")):
        cert = x509.load_pem_x509_certificate((keystore.node(CITY) / file).read_bytes())
        expiry = cert.not_valid_after_utc.timestamp()
        seconds = samples[("gateway_certificate_expiry_seconds", (("certificate", name),))]
        assert expiry - after <= seconds <= expiry - before
    directory_s = samples[("gateway_directory_expiry_seconds", ())]
    assert 0 < directory_s <= 7 * 86_400
    assert _labels(samples, "gateway_db_pool_connections") == {
        (("state", "idle"),),
        (("state", "in_use"),),
    }
    assert samples[("gateway_db_pool_size", ())] > 0


def _wait_ready(base: str, expected: int, *, failing: int = 0) -> dict[str, object]:
    """The first /readyz answer with ``expected`` status (and at least ``failing`` reasons:
    the checks run one after another, so a report taken while the database goes down may
    name only the later ones)."""

    def probe() -> dict[str, object] | None:
        status, body = http_get(f"{base}/readyz")
        if status != expected:
            return None
        found: dict[str, object] = json.loads(body)
        reasons = found.get("reasons", {})
        return found if isinstance(reasons, dict) and len(reasons) >= failing else None

    found: dict[str, object] = wait_for(f"/readyz {expected}", probe, timeout_s=60)
    return found


@pytest.fixture
def postgres() -> Iterator[PrivatePostgres]:
    with private_postgres() as cluster:
        yield cluster


@pytest.mark.postgres
def test_readyz_follows_a_postgresql_server_that_stops_and_comes_back(
    keystore: Keystore, tmp_path: Path, postgres: PrivatePostgres
) -> None:
    config, base = city_with_operations(keystore, tmp_path, database=postgres.url)
    with running_node(config, CITY, log=tmp_path / "node.log"):
        assert http_get(f"{base}/readyz") == (200, b'{"status":"ready"}')
        postgres.stop()
        down = _wait_ready(base, 503, failing=1)
        assert down["status"] == "not ready"
        reasons = down["reasons"]
        assert isinstance(reasons, dict)
        # The schema is unknown while the store cannot be read: the store alone is blamed.
        assert sorted(reasons) == ["store"]
        assert str(reasons["store"]).startswith("reading the schema revision failed:")
        # Liveness does not follow the database: restarting would not cure it.
        assert http_get(f"{base}/healthz")[0] == 200
        down_samples = scrape(base)
        assert down_samples[("gateway_store_up", ())] == 0
        assert down_samples[("gateway_ready", ())] == 0
        assert down_samples[("gateway_readiness_check_ok", (("check", "store"),))] == 0
        # The store's families are described, without samples.
        assert ("gateway_audit_log_events", ()) not in down_samples
        postgres.start()
        assert _wait_ready(base, 200) == {"status": "ready"}
        assert scrape(base)[("gateway_store_up", ())] == 1


def test_readyz_follows_a_sqlite_file_that_cannot_be_written(
    keystore: Keystore, tmp_path: Path, immutable_files: list[Path]
) -> None:
    database = tmp_path / "node.db"
    config, base = city_with_operations(keystore, tmp_path, database=f"sqlite:///{database}")
    with running_node(config, CITY, log=tmp_path / "node.log"):
        assert http_get(f"{base}/readyz") == (200, b'{"status":"ready"}')
        immutable_files.append(database)
        done = subprocess.run(["chattr", "+i", str(database)], capture_output=True, check=False)
        if done.returncode != 0:
            immutable_files.remove(database)
            pytest.skip(f"this file system refuses the immutable attribute: {done.stderr!r}")
        down = _wait_ready(base, 503)
        assert down == {
            "status": "not ready",
            "reasons": {"store": f"SQLite file {database} is not writable"},
        }
        subprocess.run(["chattr", "-i", str(database)], check=True)
        assert _wait_ready(base, 200) == {"status": "ready"}


def test_a_city_pushing_to_its_province_counts_batches_stored_records_and_the_cosignature(
    tmp_path: Path,
) -> None:
    cluster = make_cluster(
        tmp_path,
        ["000000", PARENT, CITY],
        clients=[(CITY, "market-office", "department", "market_regulation")],
    )
    bases: dict[str, str] = {}
    for node in (PARENT, CITY):
        port = free_port()
        set_config_keys(cluster.configs[node], "operations", listen=f"127.0.0.1:{port}")
        set_config_keys(
            cluster.configs[node], "audit", checkpoint_every_events=1, checkpoint_every_s=0.2
        )
        bases[node] = f"http://127.0.0.1:{port}"
    rows = [penalty_fields(i, decided=DECIDED) for i in range(1, 4)]
    csv_path = write_penalty_csv(tmp_path / "penalties.csv", rows)
    to_parent = (("peer", PARENT),)
    # The national node is not started: only the city's push and cosignature are watched.
    with running(cluster, [PARENT, CITY]):
        report = _submit(cluster.keystore, cluster.endpoint(CITY), csv_path)
        assert [r["outcome"] for r in report] == ["accepted"] * 3

        def settled() -> Samples | None:
            city = scrape(bases[CITY])
            done = (
                city.get(("gateway_push_batches_total", to_parent), 0) >= 1
                and ("gateway_outbox_depth", to_parent) not in city
                and ("gateway_audit_cosignature_age_seconds", ()) in city
            )
            return city if done else None

        city = wait_for("the city's records delivered and a checkpoint cosigned", settled)
        province = scrape(bases[PARENT])

    assert city[("gateway_audit_cosignature_age_seconds", ())] >= 0
    assert city[("gateway_records_stored_total", (("source", "intake"),))] == 3
    assert ("gateway_push_failures_total", (*to_parent, ("reason", "refused"))) not in city
    push = (("source", "push"),)
    assert province[("gateway_records_stored_total", push)] == 3
    # A batch sent again after a lost acknowledgement is received twice, stored once.
    assert province[("gateway_records_received_total", push)] >= 3
    assert _labels(province, "gateway_records_refused_total") == set()
    assert (
        province[
            (
                "gateway_rpc_handled_total",
                (("code", "OK"), ("method", "Push"), ("service", "gateway.v1.Federation")),
            )
        ]
        >= 1
    )
    assert (
        province[
            (
                "gateway_rpc_handled_total",
                (("code", "OK"), ("method", "Cosign"), ("service", "gateway.v1.Witness")),
            )
        ]
        >= 1
    )
