"""``gateway policy explain``, run through click's test runner against the packaged catalogs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gateway.commands import policy as policy_command
from gateway.commands.policy import policy
from gateway.core.errors import CatalogError


def run(*args: str) -> Result:
    return CliRunner().invoke(policy, ["explain", *args])


def run_json(*args: str) -> dict[str, Any]:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert isinstance(document, dict)
    return document


def test_shared_category_prints_the_rule_and_every_field() -> None:
    result = run("--category", "admin_penalty", "--recipient", "department:procurement")
    assert result.exit_code == 0, result.output
    first, *rest = result.output.splitlines()
    assert first == "shared by rule penalty-dept-screening"
    table = "\n".join(rest)
    assert "admin_penalty" in table
    assert "department(procurement)" in table
    rows = {line.split()[1]: line for line in rest if line.startswith("│ ") and line.split()[1]}
    assert set(rows) >= {"XDR_MC", "FR_ZJHM", "CF_SJLY", "BZ"}
    assert "personal" in rows["FR_ZJHM"]
    assert "masked" in rows["FR_ZJHM"]
    assert "restricted" in rows["CF_SJLY"]
    assert "clear" in rows["CF_SJLY"]


def test_not_shared_category_says_so_first() -> None:
    result = run("--category", "credit_commitment", "--recipient", "other_node")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "not shared: default-deny"
    rows = [line for line in result.output.splitlines() if line.startswith("│ XDR_MC ")]
    assert len(rows) == 1
    assert "withheld" in rows[0]


def test_catalog_failure_is_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(node_id: str) -> None:
        raise CatalogError(
            "loosens rule penalty-dept-screening",
            source="catalog/330000.toml",
            entry="category admin_penalty",
        )

    monkeypatch.setattr(policy_command, "load_packaged_catalog", broken)
    result = run("--category", "admin_penalty", "--recipient", "parent", "--node", "330500")
    assert result.exit_code == 1
    # The error console wraps at the terminal width.
    assert " ".join(result.output.split()) == (
        "error: catalog/330000.toml: category admin_penalty: loosens rule penalty-dept-screening"
    )


def test_json_document_shape() -> None:
    document = run_json(
        "--category",
        "admin_penalty",
        "--recipient",
        "department:procurement",
        "--subject-type",
        "legal_person",
    )
    assert set(document) == {
        "node",
        "catalog",
        "category",
        "label",
        "recipient",
        "subject_type",
        "shared",
        "rule",
        "disclosures",
        "fields",
    }
    assert (document["node"], document["catalog"]) == ("000000", "2025.1")
    assert (document["category"], document["label"]) == ("admin_penalty", "行政处罚")
    assert document["recipient"] == {
        "kind": "department",
        "domain": "procurement",
        "role": "department",
    }
    assert (document["subject_type"], document["shared"]) == ("legal_person", True)
    assert document["rule"] == "penalty-dept-screening"
    fields = {f["code"]: f for f in document["fields"]}
    assert len(fields) == 30
    assert fields["FR_ZJHM"] == {
        "code": "FR_ZJHM",
        "label": "法定代表人证件号码",
        "sensitivity": "personal",
        "visibility": "masked",
        "rule": "penalty-dept-screening",
        "reason": "personal -> masked",
    }
    assert fields["XDR_MC"]["visibility"] == "clear"
    assert "FR_ZJHM#masked" in document["disclosures"]
    assert "FR_ZJHM" not in document["disclosures"]


def test_subject_type_decides_the_name_of_a_person() -> None:
    def name(subject_type: str) -> dict[str, Any]:
        args = ["--category", "admin_licence", "--recipient", "public"]
        document = run_json(*args, "--subject-type", subject_type)
        return next(f for f in document["fields"] if f["code"] == "XDR_MC")

    assert (name("legal_person")["visibility"], name("legal_person")["sensitivity"]) == (
        "clear",
        "public",
    )
    assert (name("natural_person")["visibility"], name("natural_person")["sensitivity"]) == (
        "masked",
        "personal",
    )


def test_without_subject_type_the_strictest_reading_applies() -> None:
    document = run_json("--category", "admin_licence", "--recipient", "public")
    assert document["subject_type"] is None
    name = next(f for f in document["fields"] if f["code"] == "XDR_MC")
    assert name["visibility"] == "masked"


def test_node_supplement_applies() -> None:
    # Zhejiang's supplement withholds personal fields from screening departments.
    args = ["--category", "admin_penalty", "--recipient", "department:procurement"]
    national = run_json(*args)
    zhejiang = run_json(*args, "--node", "330500")
    assert zhejiang["catalog"] == "2025.1+330000.2025.1+330500.2025.1"
    visibility = {f["code"]: f["visibility"] for f in zhejiang["fields"]}
    assert visibility["FR_ZJHM"] == "withheld"
    assert {f["code"]: f["visibility"] for f in national["fields"]}["FR_ZJHM"] == "masked"


def test_department_role_selects_its_rule() -> None:
    args = ["--category", "admin_penalty", "--recipient"]
    plain = run_json(*args, "department:market_regulation")
    assert (plain["shared"], plain["rule"]) == (False, "default-deny")
    enforcement = run_json(*args, "department:market_regulation:enforcement")
    assert enforcement["rule"] == "penalty-dept-enforcement"
    assert {f["visibility"] for f in enforcement["fields"]} == {"clear"}


@pytest.mark.parametrize(
    ("recipient", "message"),
    [
        ("neighbour", "unknown recipient 'neighbour'"),
        ("department", "unknown recipient 'department'"),
        ("department:", "unknown recipient 'department:'"),
        ("department:Procurement", "department domain 'Procurement' must be lower-case"),
        ("department:procurement:Boss", "department role 'Boss' must be lower-case"),
    ],
)
def test_bad_recipient_is_a_usage_error(recipient: str, message: str) -> None:
    result = run("--category", "admin_penalty", "--recipient", recipient)
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_category_is_a_usage_error() -> None:
    result = run("--category", "gossip", "--recipient", "parent")
    assert result.exit_code == 2
    assert "category 'gossip' is not in catalog 2025.1 of node 000000" in result.output
    assert "admin_penalty" in result.output


def test_bad_node_is_a_usage_error() -> None:
    result = run("--category", "admin_penalty", "--recipient", "parent", "--node", "33050")
    assert result.exit_code == 2
    assert "'33050' is not a 6-digit region code" in result.output


def test_missing_option_is_a_usage_error() -> None:
    result = run("--category", "admin_penalty")
    assert result.exit_code == 2
    assert "Missing option '--recipient'" in result.output
