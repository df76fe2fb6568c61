"""``notices issue``: a list entry's fields from --fields, --field and the named options."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.commands._notice_fields import (
    NamedOptions,
    assemble_fields,
    missing_fields,
    read_fields_json,
)
from gateway.core.catalog import Catalog
from gateway.core.errors import IdentifierError, InputError
from gateway.node.catalog_files import load_packaged_catalog
from tests.support.records import AUTHORITY, citizen_number, company_code

TODAY = dt.date(2026, 3, 2)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_packaged_catalog("330500")


def test_named_options_fill_each_lists_own_fields(catalog: Catalog) -> None:
    options = NamedOptions(
        subject=company_code(7),
        name="测试企业",
        document="D-1",
        reason="事由",
        basis="依据",
        authority="机关",
        authority_code=AUTHORITY,
        measures="措施",
    )
    tax = assemble_fields(
        catalog.category("tax_major_violation"), given={}, options=options, today=TODAY
    )
    assert tax == {
        "XDR_SHXYM": company_code(7),
        "XDR_LB": "法人及非法人组织",
        "XDR_MC": "测试企业",
        "LB_WSH": "D-1",
        "LB_LRYY": "事由",
        "LB_YJ": "依据",
        "LB_RDJG": "机关",
        "LB_RDJGDM": AUTHORITY,
        "LB_CJCS": "措施",
        "LB_JDRQ": "2026-03-02",
    }
    debtor = assemble_fields(
        catalog.category("dishonest_debtor"),
        given={},
        options=NamedOptions(
            subject=citizen_number(3),
            document="（2026）浙0502执1号",
            reason="拒不履行",
            basis="（2025）浙0502民初1号",
            authority="湖州市吴兴区人民法院",
            decided="2026-01-05",
        ),
        today=TODAY,
    )
    assert debtor == {
        "XDR_ZJHM": citizen_number(3),
        "XDR_LB": "自然人",
        "XDR_ZJLX": "身份证",
        "LB_AH": "（2026）浙0502执1号",
        "LB_SXQX": "拒不履行",
        "LB_ZXYJ": "（2025）浙0502民初1号",
        "LB_ZXFY": "湖州市吴兴区人民法院",
        "LB_FBRQ": "2026-01-05",
    }
    assert missing_fields(catalog.category("dishonest_debtor"), debtor) == [
        "XDR_MC (被执行人姓名/名称)"
    ]


def test_json_and_pairs_combine_and_a_field_given_two_values_is_refused(
    catalog: Catalog, tmp_path: Path
) -> None:
    path = tmp_path / "entry.json"
    path.write_text('{"XDR_MC": "统计测试企业", "LB_WSH": "国统 1"}', "utf-8")
    given = read_fields_json(str(path))
    assert given == read_fields_json('{"XDR_MC": "统计测试企业", "LB_WSH": "国统 1"}')
    category = catalog.category("statistics_dishonesty")
    fields = assemble_fields(
        category, given=given, options=NamedOptions(document="国统 1"), today=TODAY
    )
    assert fields["LB_WSH"] == "国统 1"
    with pytest.raises(InputError, match=r"^field LB_WSH is given twice: '国统 1' and '国统 2'$"):
        assemble_fields(category, given=given, options=NamedOptions(document="国统 2"), today=TODAY)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"XDR_MC": 5}', r"--fields must be a JSON object of field code -> text"),
        ('{"XDR_MC": "a", "XDR_MC": "b"}', r"--fields is not valid JSON: .*duplicate"),
        ("/nonexistent/entry.json", r"cannot read --fields file /nonexistent/entry.json"),
    ],
)
def test_bad_fields_json_is_refused(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_fields_json(text)


def test_options_a_list_has_no_field_for_are_refused(catalog: Catalog) -> None:
    statistics = catalog.category("statistics_dishonesty")
    with pytest.raises(
        InputError, match=r"^list statistics_dishonesty does not list a natural person$"
    ):
        assemble_fields(
            statistics, given={}, options=NamedOptions(subject=citizen_number(1)), today=TODAY
        )
    abnormal = catalog.category("abnormal_operation")
    with pytest.raises(
        InputError,
        match=r"^list abnormal_operation has no field for --basis; give it with --field$",
    ):
        assemble_fields(abnormal, given={}, options=NamedOptions(basis="x"), today=TODAY)
    with pytest.raises(InputError, match=r"^list abnormal_operation has no end date to set"):
        assemble_fields(abnormal, given={}, options=NamedOptions(until="2027-01-01"), today=TODAY)
    with pytest.raises(IdentifierError):
        assemble_fields(abnormal, given={}, options=NamedOptions(subject="91330502X"), today=TODAY)
