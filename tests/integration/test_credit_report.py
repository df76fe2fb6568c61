"""信用报告 through real processes: a department asks its node for a subject's
report, gets the node-signed JSON and its PDF (Chinese text rendered with the
CJK font the install provides, read back with pdftotext), `gateway report
verify` accepts it offline and refuses a tampered copy, and the request is in
the audit log with who asked and why.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import Cluster, make_cluster, running
from tests.support.federation import run_gateway
from tests.support.records import debtor_fields, penalty_fields

HUZHOU = "330500"
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)
CLIENTS = [
    (HUZHOU, "court-office", "department", "court"),
    (HUZHOU, "procurement-office", "department", "procurement"),
    (HUZHOU, "audit-office", "auditor", None),
]
PURPOSE = "政府采购供应商资格审查"

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) is not installed"
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    # Only the city runs: its pushes wait for a province that is not there.
    built = make_cluster(tmp_path, ["000000", "330000", HUZHOU], clients=CLIENTS)
    with running(built, [HUZHOU]) as started:
        yield started


def _gateway(*args: str) -> Any:
    result = run_gateway(*args, "--json")
    assert result.returncode == 0, result.stderr + result.stdout
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def _submit(cluster: Cluster, client: str, category: str, fields: dict[str, str], at: Path) -> None:
    at.write_text(json.dumps({"category": category, "fields": fields}, ensure_ascii=False) + "\n")
    [result] = _gateway(
        "submit", "--as", str(cluster.client(HUZHOU, client)),
        "--endpoint", cluster.endpoint(HUZHOU), str(at),
    )  # fmt: skip
    assert result["outcome"] == "accepted", result


def test_a_department_gets_a_signed_report_with_its_pdf(cluster: Cluster, tmp_path: Path) -> None:
    listing = debtor_fields(1, decided=DECIDED)
    company, name = listing["XDR_SHXYM"], listing["XDR_MC"]
    penalty = {**penalty_fields(1, decided=DECIDED), "XDR_SHXYM": company, "XDR_MC": name}
    _submit(cluster, "court-office", "dishonest_debtor", listing, tmp_path / "listing.jsonl")
    _submit(cluster, "procurement-office", "admin_penalty", penalty, tmp_path / "penalty.jsonl")

    procurement = str(cluster.client(HUZHOU, "procurement-office"))
    out = tmp_path / "report"
    [made] = _gateway(
        "report", "subject", company, "--as", procurement, "--endpoint", cluster.endpoint(HUZHOU),
        "--purpose", PURPOSE, "--out", str(out),
    )  # fmt: skip
    assert (made["subject"], made["lists"], made["records"], made["node"]) == (
        company,
        1,
        1,
        HUZHOU,
    )
    report = json.loads(
        base64.b64decode(json.loads(out.with_suffix(".json").read_bytes())["envelope"]["payload"])
    )
    [entry] = report["lists"]
    assert (entry["category"], entry["label"]) == ("dishonest_debtor", "失信被执行人")
    assert "M-PROC-01" in [m["code"] for m in entry["measures"]]
    [record] = report["records"]
    assert record["category"] == "admin_penalty"
    # The legal representative's name and citizen number are not procurement's to see.
    assert record["fields"]["XDR_MC"] == name
    assert "FR_ZJHM" not in record["fields"]
    assert "FRDB" not in record["fields"]
    assert penalty["FR_ZJHM"] not in out.with_suffix(".json").read_text()
    assert (report["requested_by"], report["purpose"]) == (
        f"department:{HUZHOU}/procurement-office",
        PURPOSE,
    )

    text = subprocess.run(
        ["pdftotext", "-layout", str(out.with_suffix(".pdf")), "-"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    for expected in (
        "公共信用信息报告",
        name,
        "失信被执行人",
        "行政处罚",
        "限制参加政府采购活动",
        PURPOSE,
    ):
        assert expected in text, expected
    assert made["payload_sha256"] in text.replace(" ", "").replace("\n", "")
    assert penalty["FR_ZJHM"] not in text

    [checked] = _gateway("report", "verify", str(out.with_suffix(".json")), "--as", procurement)
    assert (checked["verified"], checked["report_id"], checked["payload_sha256"]) == (
        True,
        made["report_id"],
        made["payload_sha256"],
    )

    # Tampered: the listing removed from the payload, the node's signature kept.
    doc = json.loads(out.with_suffix(".json").read_bytes())
    report["lists"] = []
    doc["envelope"]["payload"] = base64.b64encode(
        json.dumps(report, ensure_ascii=False).encode()
    ).decode()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc), encoding="utf-8")
    refused = run_gateway("report", "verify", str(tampered), "--as", procurement)
    assert refused.returncode == 1, refused.stdout
    assert "does not verify" in refused.stderr

    events = _gateway(
        "audit", "events", "--as", str(cluster.client(HUZHOU, "audit-office")),
        "--endpoint", cluster.endpoint(HUZHOU), "--action", "report.subject",
    )  # fmt: skip
    assert [(e["actor"], e["purpose"], e["decision"]) for e in events] == [
        (f"department:{HUZHOU}/procurement-office", PURPOSE, "allowed")
    ]
