"""The people a list entry names with its subject: indexed by clear citizen number only."""

from __future__ import annotations

import pytest

from gateway.core.catalog import Catalog, PersonRole
from gateway.core.masking import mask_identifier
from gateway.core.related_persons import RelatedPerson, related_persons
from gateway.node.catalog_files import load_packaged_catalog
from tests.support.records import citizen_number

LEGAL_REP = "11010519491231002X"
CONTROLLER = citizen_number(7)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_packaged_catalog("000000")


def test_each_person_field_gives_its_role(catalog: Catalog) -> None:
    debtor = catalog.category("dishonest_debtor")
    assert {s.code: s.person for s in debtor.person_fields} == {
        "FR_ZJHM": PersonRole.LEGAL_REPRESENTATIVE,
        "LB_SJKZR_ZJHM": PersonRole.ACTUAL_CONTROLLER,
        "LB_ZRRY_ZJHM": PersonRole.RESPONSIBLE_PERSON,
    }
    clear = {"FR_ZJHM": LEGAL_REP.lower(), "LB_SJKZR_ZJHM": CONTROLLER, "XDR_MC": "某公司"}
    assert related_persons(debtor, clear) == (
        RelatedPerson(PersonRole.ACTUAL_CONTROLLER, CONTROLLER),
        RelatedPerson(PersonRole.LEGAL_REPRESENTATIVE, LEGAL_REP),
    )
    assert PersonRole.LEGAL_REPRESENTATIVE.label == "法定代表人"


def test_masked_values_passports_and_lists_without_persons_give_nothing(
    catalog: Catalog,
) -> None:
    debtor = catalog.category("dishonest_debtor")
    # A node sent only the masked variant never guesses the number back.
    assert related_persons(debtor, {"FR_ZJHM#masked": mask_identifier(LEGAL_REP)}) == ()
    assert related_persons(debtor, {"FR_ZJHM": mask_identifier(LEGAL_REP)}) == ()
    assert related_persons(debtor, {"FR_ZJHM": "E12345678"}) == ()
    # 经营异常名录 and 统计严重失信企业 carry no measure on persons: no person fields.
    for code in ("abnormal_operation", "statistics_dishonesty", "admin_penalty"):
        assert catalog.category(code).person_fields == ()
        assert related_persons(catalog.category(code), {"FR_ZJHM": LEGAL_REP}) == ()


def test_wage_arrears_names_the_directly_responsible_persons(catalog: Catalog) -> None:
    # 保障农民工工资支付条例 第四十八条 names the directly responsible persons too.
    wage = catalog.category("wage_arrears_dishonesty")
    assert related_persons(wage, {"FR_ZJHM": LEGAL_REP, "LB_ZRRY_ZJHM": CONTROLLER}) == (
        RelatedPerson(PersonRole.LEGAL_REPRESENTATIVE, LEGAL_REP),
        RelatedPerson(PersonRole.RESPONSIBLE_PERSON, CONTROLLER),
    )
    for code in ("serious_dishonesty", "tax_major_violation", "work_safety_dishonesty"):
        assert [s.code for s in catalog.category(code).person_fields] == ["FR_ZJHM"], code
