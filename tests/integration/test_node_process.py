"""One node as a real `gateway serve` process: intake, queries, auth, limits, crashes.

Every test talks to the node over real mutual TLS on loopback, through the CLI
or a gRPC client, against SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from gateway._proto.v1 import intake_pb2, intake_pb2_grpc, records_pb2, records_pb2_grpc
from gateway.core.algorithms import Ed25519Verifier
from gateway.core.records import verify_record
from gateway.pki import signing_kid
from tests.integration.conftest import CITY
from tests.support.federation import (
    Keystore,
    NodeProcess,
    client_channel,
    health_check,
    init_node,
    run_gateway,
    running_node,
    sign_directory,
    start_node,
)
from tests.support.records import penalty_fields, write_penalty_csv

TODAY = dt.datetime.now(dt.UTC).date()
DECIDED = TODAY - dt.timedelta(days=30)
PURPOSE = "integration test"


@pytest.fixture
def node(keystore: Keystore, database: str, tmp_path: Path) -> Iterator[NodeProcess]:
    # Without a current federation directory a node is not ready (its health says so).
    listed = {"000000": "127.0.0.1:1", "330000": "127.0.0.1:2", CITY: "127.0.0.1:3"}
    directory = sign_directory(keystore, tmp_path / "directory.json", listed)
    config = init_node(
        keystore, CITY, tmp_path, database=database, extra=["--directory", str(directory)]
    )
    with running_node(config, CITY, log=tmp_path / "node.log") as process:
        yield process


def _verify(sd_jwt: str, keystore: Keystore) -> None:
    """Verify a record with the city's signing certificate, as any recipient would."""
    cert = x509.load_pem_x509_certificate((keystore.node(CITY) / "signing.crt").read_bytes())
    key = cert.public_key()
    verifier = Ed25519Verifier(signing_kid(cert), key)  # type: ignore[arg-type]
    record = verify_record(
        sd_jwt,
        resolve_key=lambda kid: verifier,
        key_owner=lambda kid: CITY,
        now=int(dt.datetime.now(dt.UTC).timestamp()),
    )
    assert record.issuer == CITY


def _bad_lines_csv(path: Path) -> tuple[Path, dict[int, str]]:
    """Five good rows and four bad ones; returns the file and line -> field at fault."""
    rows = [penalty_fields(i, decided=DECIDED) for i in range(1, 10)]
    code = rows[5]["XDR_SHXYM"]
    rows[5] = {**rows[5], "XDR_SHXYM": code[:-1] + ("0" if code[-1] != "0" else "1")}
    rows[6] = {**rows[6], "CF_WSH": ""}
    rows[7] = {**rows[7], "CF_JDRQ": "2025-02-30"}
    rows[8] = {**rows[8], "XDR_ZJXY": "宗教信仰"}
    write_penalty_csv(path, rows, extra_columns=("XDR_ZJXY",))
    return path, {7: "XDR_SHXYM", 8: "CF_WSH", 9: "CF_JDRQ", 10: "XDR_ZJXY"}


def test_submit_reports_each_bad_line_and_stores_only_the_good_ones(
    node: NodeProcess, keystore: Keystore, tmp_path: Path
) -> None:
    csv_path, expected_bad = _bad_lines_csv(tmp_path / "penalties.csv")
    client = keystore.client(CITY, "procurement-office")
    submitted = run_gateway(
        "submit", "--as", str(client), "--endpoint", node.endpoint, str(csv_path), "--json"
    )
    assert submitted.returncode == 1, submitted.stderr
    report = [json.loads(line) for line in submitted.stdout.splitlines()]
    by_line = {r["line"]: r for r in report}
    assert sorted(by_line) == list(range(2, 11))
    for line, field in expected_bad.items():
        assert by_line[line]["outcome"] == "refused", by_line[line]
        assert field in by_line[line]["reason"] + by_line[line]["field"], by_line[line]
    accepted = {r["record_id"] for r in report if r["outcome"] == "accepted"}
    assert len(accepted) == 5

    auditor = keystore.client(CITY, "audit-office")
    listed = run_gateway(
        "records", "list", "--as", str(auditor), "--endpoint", node.endpoint,
        "--purpose", PURPOSE, "--json", "--limit", "100",
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    views = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {v["record_id"] for v in views} == accepted
    for view in views:
        _verify(view["sd_jwt"], keystore)

    again = run_gateway(
        "submit", "--as", str(client), "--endpoint", node.endpoint, str(csv_path), "--json"
    )
    second = [json.loads(line) for line in again.stdout.splitlines()]
    assert {r["record_id"] for r in second if r["outcome"] == "duplicate"} == accepted
    assert not [r for r in second if r["outcome"] in {"accepted", "new_version"}]


def test_department_and_auditor_see_different_fields_of_one_record(
    node: NodeProcess, keystore: Keystore
) -> None:
    fields = penalty_fields(42, decided=DECIDED)
    with client_channel(keystore.client(CITY, "procurement-office"), node.endpoint) as channel:
        results = list(
            intake_pb2_grpc.IntakeStub(channel).Submit(
                iter([intake_pb2.SubmitRequest(records=[
                    intake_pb2.SubmittedRecord(ref="1", category="admin_penalty", fields=fields)
                ])])
            )
        )  # fmt: skip
        record_id = results[0].results[0].record_id
        dept = records_pb2_grpc.RecordsStub(channel).Get(
            records_pb2.GetRecordRequest(record_id=record_id, purpose=PURPOSE)
        )
    with client_channel(keystore.client(CITY, "audit-office"), node.endpoint) as channel:
        audit = records_pb2_grpc.RecordsStub(channel).Get(
            records_pb2.GetRecordRequest(record_id=record_id, purpose=PURPOSE)
        )
    assert set(dept.fields) != set(audit.fields)
    # Neither sees the legal representative's citizen number in clear.
    for view in (dept, audit):
        assert fields["FR_ZJHM"] not in view.sd_jwt
        assert view.fields.get("FR_ZJHM", "").count("*") >= 10 or "FR_ZJHM" not in view.fields
        _verify(view.sd_jwt, keystore)


def test_refuses_callers_without_a_federation_certificate_or_the_right_role(
    node: NodeProcess, keystore: Keystore, foreign_keystore: Keystore
) -> None:
    insecure = grpc.insecure_channel(node.endpoint)
    with pytest.raises(grpc.RpcError) as no_tls:
        health_check(insecure)
    assert no_tls.value.code() == grpc.StatusCode.UNAVAILABLE
    insecure.close()

    # A client certificate of another federation fails the TLS handshake.
    foreign = foreign_keystore.client(CITY, "procurement-office")
    with client_channel(foreign, node.endpoint) as channel, pytest.raises(grpc.RpcError) as other:
        health_check(channel)
    assert other.value.code() == grpc.StatusCode.UNAVAILABLE

    # An auditor may read but not submit; an admin may not read records.
    with client_channel(keystore.client(CITY, "audit-office"), node.endpoint) as channel:
        with pytest.raises(grpc.RpcError) as wrong_role:
            list(intake_pb2_grpc.IntakeStub(channel).Submit(iter([intake_pb2.SubmitRequest()])))
        assert wrong_role.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "not allowed for role auditor" in (wrong_role.value.details() or "")
    with client_channel(keystore.client(CITY, "ops"), node.endpoint) as channel:
        with pytest.raises(grpc.RpcError) as admin:
            records_pb2_grpc.RecordsStub(channel).List(
                records_pb2.ListRecordsRequest(purpose=PURPOSE)
            )
        assert admin.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # Health and reflection stay open to every federation certificate.
        assert health_check(channel) == health_pb2.HealthCheckResponse.SERVING
        services = set(ProtoReflectionDescriptorDatabase(channel).get_services())
    assert {"gateway.v1.Intake", "gateway.v1.Records", "grpc.health.v1.Health"} <= services


def test_limits_are_refused_with_a_clear_status_and_the_node_keeps_serving(
    node: NodeProcess, keystore: Keystore
) -> None:
    client = keystore.client(CITY, "procurement-office")
    with client_channel(client, node.endpoint) as channel:
        stub = intake_pb2_grpc.IntakeStub(channel)
        too_long = {**penalty_fields(7, decided=DECIDED), "CF_NR": "长" * 5000}
        with pytest.raises(grpc.RpcError) as long_field:
            list(stub.Submit(iter([intake_pb2.SubmitRequest(records=[
                intake_pb2.SubmittedRecord(ref="1", category="admin_penalty", fields=too_long)
            ])])))  # fmt: skip
        assert long_field.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "CF_NR" in (long_field.value.details() or "")

        many = [
            intake_pb2.SubmittedRecord(ref=str(i), category="admin_penalty") for i in range(2001)
        ]
        with pytest.raises(grpc.RpcError) as too_many:
            list(stub.Submit(iter([intake_pb2.SubmitRequest(records=many)])))
        assert too_many.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        records = records_pb2_grpc.RecordsStub(channel)
        with pytest.raises(grpc.RpcError) as no_purpose:
            records.List(records_pb2.ListRecordsRequest())
        assert no_purpose.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "purpose" in (no_purpose.value.details() or "")
        assert records.List(records_pb2.ListRecordsRequest(purpose=PURPOSE)) is not None


def test_sigterm_shuts_down_gracefully(keystore: Keystore, database: str, tmp_path: Path) -> None:
    config = init_node(keystore, CITY, tmp_path, database=database)
    process = start_node(config, CITY, log=tmp_path / "node.log")
    assert process.terminate() == 0


def test_kill_9_during_bulk_submit_loses_no_acknowledged_record(
    keystore: Keystore, database: str, tmp_path: Path
) -> None:
    config = init_node(keystore, CITY, tmp_path, database=database)
    client = keystore.client(CITY, "procurement-office")
    batches = 40
    per_batch = 100
    acked: list[str] = []
    node = start_node(config, CITY, log=tmp_path / "node.log")
    killed = threading.Event()

    def requests() -> Iterator[intake_pb2.SubmitRequest]:
        for b in range(batches):
            if killed.is_set():
                return
            yield intake_pb2.SubmitRequest(records=[
                intake_pb2.SubmittedRecord(
                    ref=str(b * per_batch + i),
                    category="admin_penalty",
                    fields=penalty_fields(b * per_batch + i, decided=DECIDED),
                )
                for i in range(per_batch)
            ])  # fmt: skip

    with client_channel(client, node.endpoint) as channel:
        stream = intake_pb2_grpc.IntakeStub(channel).Submit(requests())
        broken = False
        try:
            for response in stream:
                acked.extend(r.record_id for r in response.results)
                if len(acked) >= 10 * per_batch and not killed.is_set():
                    killed.set()
                    node.process.send_signal(signal.SIGKILL)
        except grpc.RpcError:
            broken = True
        assert broken, "the stream outlived the node"
    node.process.wait(timeout=30)
    assert 10 * per_batch <= len(acked) < batches * per_batch

    with running_node(config, CITY, log=tmp_path / "node2.log") as restarted:
        auditor = keystore.client(CITY, "audit-office")
        with client_channel(auditor, restarted.endpoint) as channel:
            stub = records_pb2_grpc.RecordsStub(channel)
            stored: dict[str, str] = {}
            token = ""
            while True:
                page = stub.List(
                    records_pb2.ListRecordsRequest(purpose=PURPOSE, limit=500, page_token=token)
                )
                stored.update((v.record_id, v.sd_jwt) for v in page.records)
                token = page.next_page_token
                if not token:
                    break
    assert set(acked) <= set(stored)
    for sd_jwt in stored.values():
        _verify(sd_jwt, keystore)


def test_serve_refuses_mismatched_credentials_saying_which(
    keystore: Keystore, tmp_path: Path
) -> None:
    forged = tmp_path / "keys"
    shutil.copytree(keystore.root, forged)
    # The city's TLS certificate replaced by the province's: key and certificate disagree.
    shutil.copy(forged / "nodes" / "330000" / "tls.crt", forged / "nodes" / CITY / "tls.crt")
    config = init_node(Keystore(forged), CITY, tmp_path)
    result = run_gateway("serve", "--config", str(config), timeout_s=60)
    assert result.returncode == 1
    assert "tls" in result.stderr.lower()
    assert "error:" in result.stderr
