"""Record validation against the catalog: refusals, normalisation, the disclosure period."""

from __future__ import annotations

import calendar
import re
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.catalog import Catalog, Severity, load_catalog
from gateway.core.errors import (
    AccessDeniedError,
    IdentifierError,
    LimitExceededError,
    RecordValidationError,
)
from gateway.core.identifiers import SubjectType
from gateway.core.limits import Limits
from gateway.core.record_fields import (
    add_months,
    check_record_issuer,
    record_issuer,
    record_key,
    validate_record,
)

DATA = Path(__file__).resolve().parents[3] / "gateway" / "data" / "catalog"
TODAY = date(2025, 3, 1)
COMPANY = "91110108551385082Q"
AUTHORITY = "91110000600037341L"
CITIZEN = "11010519491231002X"


def _catalog(*regions: str) -> Catalog:
    return load_catalog([(f"{r}.toml", (DATA / f"{r}.toml").read_text("utf-8")) for r in regions])


NATIONAL = _catalog("000000")
HUZHOU = _catalog("000000", "330000", "330500")


def company_penalty(**changes: str) -> dict[str, str]:
    fields = {
        "XDR_MC": "湖州某某贸易有限公司",
        "XDR_LB": "法人及非法人组织",
        "XDR_SHXYM": COMPANY,
        "FRDB": "张三",
        "FR_ZJLX": "身份证",
        "FR_ZJHM": CITIZEN,
        "CF_WSH": "湖市监罚〔2025〕12号",
        "CF_WFXW": "虚假宣传",
        "CF_YJ": "《中华人民共和国反不正当竞争法》第二十条",
        "CF_CFLB": "罚款",
        "CF_NR": "罚款人民币伍万元",
        "CF_NR_FK": "5",
        "CF_JDRQ": "2025-01-31",
        "CF_YXQ": "2099-12-31",
        "CF_CFJG": "湖州市市场监督管理局",
        "CF_CFJGDM": AUTHORITY,
        "CF_SJLY": "湖州市市场监督管理局",
        "CF_SJLYDM": AUTHORITY,
        "CF_YZCD": "serious",
    }
    fields.update(changes)
    return fields


def person_penalty(**changes: str) -> dict[str, str]:
    fields = company_penalty(XDR_MC="李四", XDR_LB="自然人", XDR_ZJLX="身份证", XDR_ZJHM=CITIZEN)
    for code in ("XDR_SHXYM", "FRDB", "FR_ZJLX", "FR_ZJHM"):
        del fields[code]
    fields.update(changes)
    return fields


def test_company_penalty_is_normalised_in_catalog_order() -> None:
    submitted = company_penalty(
        XDR_SHXYM=" " + COMPANY.lower() + " ", CF_NR_FK="005.50", FR_ZJHM=CITIZEN.lower()
    )
    record = validate_record(
        NATIONAL, "admin_penalty", dict(reversed(submitted.items())), today=TODAY
    )
    assert record.category == "admin_penalty"
    assert record.subject_type is SubjectType.LEGAL_PERSON
    assert record.subject_id == COMPANY
    assert record.document_number == "湖市监罚〔2025〕12号"
    assert record.fields["XDR_SHXYM"] == COMPANY
    assert record.fields["FR_ZJHM"] == CITIZEN
    assert record.fields["CF_NR_FK"] == "5.50"
    assert list(record.fields) == [
        c for c in NATIONAL.category("admin_penalty").field_codes if c in submitted
    ]
    assert record.decision_date == date(2025, 1, 31)
    assert record.severity is Severity.SERIOUS


def test_natural_person_is_identified_by_citizen_number() -> None:
    record = validate_record(
        NATIONAL, "admin_penalty", person_penalty(XDR_ZJHM=CITIZEN.lower()), today=TODAY
    )
    assert record.subject_type is SubjectType.NATURAL_PERSON
    assert record.subject_id == CITIZEN


def test_subject_type_comes_from_the_identifier_without_xdr_lb() -> None:
    # 经营异常名录 has no subject-type field: the identifier decides.
    record = validate_record(NATIONAL, "abnormal_operation", _abnormal(), today=TODAY)
    assert record.subject_type is SubjectType.LEGAL_PERSON
    assert record.subject_id == COMPANY
    assert record.document_number == "湖市监异〔2025〕3号"
    assert record.severity is Severity.GENERAL
    assert record.expires_on == date(2026, 2, 10)


def _abnormal() -> dict[str, str]:
    return {
        "XDR_MC": "某某有限公司",
        "XDR_SHXYM": COMPANY,
        "LB_WSH": "湖市监异〔2025〕3号",
        "LB_LRYY": "未按规定期限公示年度报告",
        "LB_JDRQ": "2025-02-10",
        "LB_ZCJG": "湖州市市场监督管理局",
        "LB_ZCJGDM": AUTHORITY,
    }


def test_passport_is_a_plain_bounded_string() -> None:
    record = validate_record(
        NATIONAL,
        "admin_penalty",
        person_penalty(XDR_ZJLX="护照号", XDR_ZJHM="E12345678"),
        today=TODAY,
    )
    assert record.subject_id == "E12345678"


def test_empty_values_count_as_absent() -> None:
    record = validate_record(
        NATIONAL, "admin_penalty", company_penalty(BZ="  ", CF_NR_FK="", XDR_ZZJG=""), today=TODAY
    )
    assert "BZ" not in record.fields
    assert "CF_NR_FK" not in record.fields
    with pytest.raises(RecordValidationError, match=r"field CF_WSH: required by category") as info:
        validate_record(NATIONAL, "admin_penalty", company_penalty(CF_WSH=" \u3000"), today=TODAY)
    assert info.value.field == "CF_WSH"


REFUSALS = [
    (
        "field not in the catalog",
        company_penalty(XDR_ZJXY="无"),
        "XDR_ZJXY",
        "not in the catalog for category admin_penalty \\(minimal collection\\)",
    ),
    (
        "missing required field",
        {k: v for k, v in company_penalty().items() if k != "CF_YJ"},
        "CF_YJ",
        "required by category admin_penalty, but missing",
    ),
    (
        "over-long value",
        company_penalty(CF_WSH="号" * 65),
        "CF_WSH",
        "65 characters, over the limit of 64",
    ),
    (
        "control character",
        company_penalty(CF_WFXW="虚假\x00宣传"),
        "CF_WFXW",
        "control character U\\+0000 at position 3",
    ),
    (
        "date that does not exist",
        company_penalty(CF_YXQ="2025-02-30"),
        "CF_YXQ",
        "'2025-02-30' is not a real calendar date",
    ),
    (
        "date in another format",
        company_penalty(CF_YXQ="20991231"),
        "CF_YXQ",
        "'20991231' is not a date in the form YYYY-MM-DD",
    ),
    (
        "negative amount",
        company_penalty(CF_NR_FK="-1"),
        "CF_NR_FK",
        "'-1' is not a non-negative decimal number",
    ),
    (
        "amount with exponent",
        company_penalty(CF_NR_FK="1e3"),
        "CF_NR_FK",
        "'1e3' is not a non-negative decimal number",
    ),
    (
        "enum value not allowed",
        company_penalty(CF_YZCD="grave"),
        "CF_YZCD",
        "'grave' is not one of minor, general, serious",
    ),
    (
        "both subjects",
        company_penalty(XDR_ZJHM=CITIZEN),
        "XDR_ZJHM",
        "the record names two subjects \\(XDR_SHXYM and XDR_ZJHM\\)",
    ),
    (
        "no subject",
        {k: v for k, v in company_penalty().items() if k != "XDR_SHXYM"},
        "XDR_SHXYM",
        "the record names no subject: one of XDR_SHXYM or XDR_ZJHM is required",
    ),
    (
        "subject type disagrees with the identifier",
        company_penalty(XDR_LB="自然人"),
        "XDR_LB",
        "'自然人' is a natural_person subject, but the record identifies a legal_person",
    ),
    (
        "field of the other subject block",
        person_penalty(FRDB="张三"),
        "FRDB",
        "belongs to the legal_person block, but the subject is a natural_person",
    ),
    (
        "decision in the future",
        company_penalty(CF_JDRQ="2025-03-02"),
        "CF_JDRQ",
        "2025-03-02 is after today \\(2025-03-01\\)",
    ),
    (
        "period already over",
        company_penalty(CF_JDRQ="2024-01-31", CF_YZCD="general"),
        "CF_JDRQ",
        "the disclosure period ended on 2025-01-31, before today \\(2025-03-01\\)",
    ),
    (
        "publication deadline passed",
        company_penalty(CF_GSJZQ="2025-02-28"),
        "CF_GSJZQ",
        "the disclosure period ended on 2025-02-28, before today",
    ),
    (
        "publication deadline before the decision",
        company_penalty(CF_GSJZQ="2025-01-30"),
        "CF_GSJZQ",
        "2025-01-30 is before the decision date 2025-01-31",
    ),
]


@pytest.mark.parametrize(
    ("fields", "code", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_bad_record_is_refused_naming_the_field(
    fields: dict[str, str], code: str, message: str
) -> None:
    with pytest.raises(RecordValidationError, match=rf"^field {code}: {message}") as info:
        validate_record(NATIONAL, "admin_penalty", fields, today=TODAY)
    assert info.value.field == code


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        (company_penalty(XDR_SHXYM=COMPANY[:-1] + "R"), "XDR_SHXYM"),
        (company_penalty(CF_CFJGDM="9111000060003734"), "CF_CFJGDM"),
        (company_penalty(FR_ZJHM=CITIZEN[:-1] + "1"), "FR_ZJHM"),
        (person_penalty(XDR_ZJHM="110105194912310021"), "XDR_ZJHM"),
        (person_penalty(XDR_ZJLX="001", XDR_ZJHM="E12345678"), "XDR_ZJHM"),
    ],
)
def test_invalid_identifier_is_refused_with_its_reason(fields: dict[str, str], code: str) -> None:
    with pytest.raises(RecordValidationError) as info:
        validate_record(NATIONAL, "admin_penalty", fields, today=TODAY)
    cause = info.value.__cause__
    assert isinstance(cause, IdentifierError)
    assert str(info.value) == f"field {code}: {cause}"
    assert info.value.field == code


def test_unknown_category_and_too_many_fields() -> None:
    with pytest.raises(RecordValidationError, match=r"category 'nope' is not in catalog") as info:
        validate_record(NATIONAL, "nope", company_penalty(), today=TODAY)
    assert info.value.field is None
    with pytest.raises(LimitExceededError, match=r"fields of a admin_penalty record: 19 is over"):
        validate_record(
            NATIONAL,
            "admin_penalty",
            company_penalty(),
            today=TODAY,
            limits=Limits(max_fields_per_record=18),
        )


# --- the disclosure period ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("severity", "decided", "expires"),
    [
        ("serious", "2025-01-31", date(2028, 1, 31)),
        ("general", "2024-03-31", date(2025, 3, 31)),
        ("general", "2024-02-29", date(2025, 2, 28)),
        ("minor", "2024-12-31", date(2025, 3, 31)),
    ],
)
def test_expiry_is_decision_plus_the_period(severity: str, decided: str, expires: date) -> None:
    fields = company_penalty(CF_YZCD=severity, CF_JDRQ=decided)
    today = date.fromisoformat(decided)
    assert validate_record(NATIONAL, "admin_penalty", fields, today=today).expires_on == expires


def test_default_severity_applies_without_severity_field() -> None:
    fields = company_penalty(CF_JDRQ="2024-06-30")
    del fields["CF_YZCD"]
    record = validate_record(NATIONAL, "admin_penalty", fields, today=TODAY)
    assert record.severity is Severity.GENERAL
    assert record.expires_on == date(2025, 6, 30)


def test_publication_deadline_shortens_but_never_lengthens() -> None:
    shorter = company_penalty(CF_GSJZQ="2026-05-01")
    assert validate_record(NATIONAL, "admin_penalty", shorter, today=TODAY).expires_on == date(
        2026, 5, 1
    )
    longer = company_penalty(CF_GSJZQ="2030-01-01")
    assert validate_record(NATIONAL, "admin_penalty", longer, today=TODAY).expires_on == date(
        2028, 1, 31
    )


def test_month_end_clamps() -> None:
    fields = company_penalty(CF_YZCD="minor", CF_JDRQ="2024-11-30")
    assert validate_record(
        NATIONAL, "admin_penalty", fields, today=date(2025, 1, 1)
    ).expires_on == (date(2025, 2, 28))


def test_last_day_of_the_period_is_still_accepted() -> None:
    fields = company_penalty(CF_YZCD="general", CF_JDRQ="2024-03-01")
    assert validate_record(NATIONAL, "admin_penalty", fields, today=TODAY).expires_on == TODAY


def test_city_catalog_period_applies() -> None:
    fields = company_penalty(CF_YZCD="general", CF_JDRQ="2025-01-31")
    assert validate_record(HUZHOU, "admin_penalty", fields, today=TODAY).expires_on == date(
        2025, 7, 31
    )
    assert validate_record(NATIONAL, "admin_penalty", fields, today=TODAY).expires_on == date(
        2026, 1, 31
    )


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2090, 1, 1)), st.integers(0, 60))
def test_add_months_moves_whole_months_and_clamps(start: date, months: int) -> None:
    end = add_months(start, months)
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    # The same day of the month, or the month's last day when it is shorter.
    assert end.day == min(start.day, calendar.monthrange(end.year, end.month)[1])


# --- record_key --------------------------------------------------------------------------


def test_record_key_is_deterministic_and_separates_its_parts() -> None:
    key = record_key("330500", "admin_penalty", "湖市监罚〔2025〕12号", COMPANY)
    assert re.fullmatch(r"330500-[0-9a-f]{32}", key)
    assert record_issuer(key) == "330500"
    assert key == record_key("330500", "admin_penalty", "湖市监罚〔2025〕12号", COMPANY)
    others = {
        record_key("330521", "admin_penalty", "湖市监罚〔2025〕12号", COMPANY),
        record_key("330500", "admin_licence", "湖市监罚〔2025〕12号", COMPANY),
        record_key("330500", "admin_penalty", "湖市监罚〔2025〕13号", COMPANY),
        record_key("330500", "admin_penalty", "湖市监罚〔2025〕12号", AUTHORITY),
        # The same characters split differently must not collide.
        record_key("3305", "00admin_penalty", "湖市监罚〔2025〕12号", COMPANY),
    }
    assert key not in others
    assert len(others) == 5


def test_an_id_of_another_issuer_is_refused_naming_both() -> None:
    key = record_key("330500", "admin_penalty", "湖市监罚〔2025〕12号", COMPANY)
    check_record_issuer(key, "330500")
    with pytest.raises(AccessDeniedError) as caught:
        check_record_issuer(key, "331100")
    assert str(caught.value) == (
        f"record {key} is not an id of node 331100 but of node 330500: only a record's "
        "issuer may publish it, a version of it or its status"
    )
    assert caught.value.rule == "record:issuer-only"


@pytest.mark.parametrize("record_id", ["R0123456789abcdef", "33050-abc", "-abc", "330500abc"])
def test_an_id_naming_no_issuer_is_refused(record_id: str) -> None:
    assert record_issuer(record_id) == ""
    with pytest.raises(AccessDeniedError, match=r"^record .* is not an id of node 330500: only"):
        check_record_issuer(record_id, "330500")
