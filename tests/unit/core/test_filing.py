"""谁产生、谁负责: the filing rules for status calls and new versions."""

from __future__ import annotations

import pytest

from gateway.core.errors import AccessDeniedError, InputError
from gateway.core.filing import check_new_version, check_status_call
from gateway.core.principal import Principal, Role
from gateway.core.statements import StatusKind


def _who(role: Role, domain: str | None = None) -> Principal:
    return Principal(role, "330500", "x-office", domain, "0" * 64)


MARKET = _who(Role.DEPARTMENT, "market_regulation")
COURT = _who(Role.DEPARTMENT, "court")
ADMIN = _who(Role.ADMIN)


@pytest.mark.parametrize("kind", [StatusKind.CORRECTION, StatusKind.REVOCATION])
def test_the_filing_department_and_the_admin_may_correct_or_revoke(kind: StatusKind) -> None:
    check_status_call(MARKET, kind, record_id="R1", filed_by="market_regulation", reason="x")
    check_status_call(ADMIN, kind, record_id="R1", filed_by="market_regulation", reason="x")
    check_status_call(ADMIN, kind, record_id="R1", filed_by=None, reason="x")


def test_another_department_may_not_revoke_a_record_it_did_not_file() -> None:
    with pytest.raises(AccessDeniedError) as caught:
        check_status_call(
            COURT, StatusKind.REVOCATION, record_id="R1", filed_by="market_regulation", reason="x"
        )
    assert str(caught.value) == (
        "record R1 was filed by department domain market_regulation: only that department "
        "or the node's admin may make a revocation"
    )
    assert caught.value.rule == "status:filer-only"


def test_a_record_without_a_known_filer_is_the_admins_alone() -> None:
    with pytest.raises(AccessDeniedError, match="filed by an unrecorded department") as caught:
        check_status_call(MARKET, StatusKind.CORRECTION, record_id="R1", filed_by=None, reason="x")
    assert caught.value.rule == "status:filer-only"


@pytest.mark.parametrize(
    ("kind", "procedure"),
    [
        (StatusKind.SUSPENSION, "the objection procedure (gateway objection)"),
        (StatusKind.REINSTATEMENT, "the objection procedure (gateway objection)"),
        (StatusKind.REPAIR, "the repair procedure (gateway repair)"),
    ],
)
def test_suspension_reinstatement_and_repair_only_through_their_procedure(
    kind: StatusKind, procedure: str
) -> None:
    for who in (MARKET, ADMIN):
        with pytest.raises(AccessDeniedError) as caught:
            check_status_call(who, kind, record_id="R1", filed_by="market_regulation", reason="x")
        assert (
            str(caught.value)
            == f"a {kind.value} is made only through {procedure}, not by a status call"
        )
        assert caught.value.rule == "status:procedure-only"


def test_a_status_call_needs_a_reason() -> None:
    with pytest.raises(InputError, match=r"^a correction needs a reason$"):
        check_status_call(
            MARKET, StatusKind.CORRECTION, record_id="R1", filed_by="market_regulation", reason=" "
        )


def test_only_the_filing_department_files_a_new_version() -> None:
    check_new_version(MARKET, record_id="R1", filed_by="market_regulation")
    for who, filed_by in (
        (COURT, "market_regulation"),
        (ADMIN, "market_regulation"),
        (MARKET, None),
    ):
        with pytest.raises(AccessDeniedError) as caught:
            check_new_version(who, record_id="R1", filed_by=filed_by)
        assert caught.value.rule == "intake:filer-only"
