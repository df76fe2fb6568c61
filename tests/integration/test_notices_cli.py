"""`gateway notices issue` for any list, and a check on a listed company's legal representative.

Real `gateway serve` processes over mutual TLS (national, Zhejiang, Huzhou):
the Huzhou court issues a 失信被执行人 entry with the company's legal
representative from a --fields file; at Zhejiang a high-consumption
department's `gateway check` on the representative's citizen number answers
INTERCEPT, naming the company and the measure on persons, and a procurement
department's check on the same number finds nothing. A procurement office
that tries to issue the court's list is refused.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cluster import Cluster, make_cluster, running, wait_for
from tests.support.federation import run_gateway
from tests.support.records import citizen_number, company_code, debtor_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = [NATIONAL, ZHEJIANG, HUZHOU]
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
LEGAL_REP = citizen_number(61)
CLIENTS = [
    (HUZHOU, "court-office", "department", "court"),
    (HUZHOU, "procurement-office", "department", "procurement"),
    (ZHEJIANG, "consumption-office", "department", "high_consumption"),
    (ZHEJIANG, "procurement-office", "department", "procurement"),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    built = make_cluster(tmp_path_factory.mktemp("notices"), NODES, clients=CLIENTS)
    with running(built, NODES) as started:
        yield started


def check(cluster: Cluster, office: str, subject: str, domain: str) -> dict[str, Any]:
    [answer] = cluster.gateway_json_lines(
        "check", "--as", str(cluster.client(ZHEJIANG, office)), subject,
        "--endpoint", cluster.endpoint(ZHEJIANG),
        "--domain", domain, "--purpose", "限制消费令执行",
    )  # fmt: skip
    return dict(answer)


def test_a_court_issues_a_debtor_from_a_fields_file_and_its_legal_representative_is_hit(
    cluster: Cluster, tmp_path: Path
) -> None:
    entry = tmp_path / "debtor.json"
    fields = {
        **debtor_fields(7, decided=DECIDED),
        "FRDB": "钱七",
        "FR_ZJLX": "身份证",
        "FR_ZJHM": LEGAL_REP,
    }
    entry.write_text(json.dumps(fields, ensure_ascii=False), "utf-8")
    [issued] = cluster.gateway_json_lines(
        "notices", "issue", "--as", str(cluster.client(HUZHOU, "court-office")),
        "--endpoint", cluster.endpoint(HUZHOU), "--list", "dishonest_debtor",
        "--fields", str(entry),
    )  # fmt: skip
    record_id = issued["record_id"]
    assert (record_id.startswith(f"{HUZHOU}-"), issued["version"]) == (True, 1)

    def hit() -> dict[str, Any] | None:
        answer = check(cluster, "consumption-office", LEGAL_REP, "high_consumption")
        return answer if answer["hits"] else None

    answer = wait_for("the listing at Zhejiang", hit)
    assert answer["decision"] == "intercept"
    [found] = answer["hits"]
    assert (found["record_id"], found["issuer"], found["category"]) == (
        record_id,
        HUZHOU,
        "dishonest_debtor",
    )
    assert (found["person_role"], found["listed_subject"], found["listed_name"]) == (
        "legal_representative",
        company_code(100_007),
        "被执行测试企业7有限公司",
    )
    assert [m["code"] for m in found["measures"]] == ["M-CONS-01"]
    # Procurement applies no measure on persons: the number tells it nothing.
    other = check(cluster, "procurement-office", LEGAL_REP, "procurement")
    assert (other["decision"], other["hits"]) == ("clear", [])


def test_a_department_outside_the_lists_filers_is_refused_by_the_node(
    cluster: Cluster, tmp_path: Path
) -> None:
    entry = tmp_path / "debtor.json"
    entry.write_text(json.dumps(debtor_fields(8, decided=DECIDED), ensure_ascii=False), "utf-8")
    result = run_gateway(
        "notices", "issue", "--as", str(cluster.client(HUZHOU, "procurement-office")),
        "--endpoint", cluster.endpoint(HUZHOU), "--list", "dishonest_debtor",
        "--fields", str(entry),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: notice refused: category dishonest_debtor (失信被执行人) is filed only by "
        "department domains court, not procurement"
    )


def test_a_list_entry_missing_its_own_fields_is_bad_usage(cluster: Cluster) -> None:
    result = run_gateway(
        "notices", "issue", "--as", str(cluster.client(HUZHOU, "court-office")),
        "--endpoint", cluster.endpoint(HUZHOU), "--list", "dishonest_debtor",
        "--subject", company_code(100_009), "--name", "某公司",
    )  # fmt: skip
    assert result.returncode == 2
    assert "list dishonest_debtor needs LB_AH (案号), LB_ZXFY (执行法院)" in result.stderr
