"""A supplement's own fields and categories never leave for nodes whose catalog lacks them."""

from __future__ import annotations

from gateway.core.catalog import RecipientKind, Visibility
from gateway.core.identifiers import SubjectType
from gateway.core.policy import Recipient, decide, disclosure_names, restrict_to_known
from gateway.node.catalog_files import load_packaged_catalog

HUZHOU, ZHEJIANG = "330500", "330000"


def test_a_city_supplement_field_is_withheld_from_the_province() -> None:
    city = load_packaged_catalog(HUZHOU).category("admin_licence")
    province = load_packaged_catalog(ZHEJIANG).category("admin_licence")
    added = {s.code for s in city.fields} - {s.code for s in province.fields}
    assert added, "the Huzhou supplement adds a licence field (HZ_SXBM)"

    to_parent = Recipient(RecipientKind.PARENT, node_id=ZHEJIANG)
    plan = decide(city, to_parent, SubjectType.LEGAL_PERSON)
    assert any(plan.visibility(code) is not Visibility.WITHHELD for code in added)

    restricted = restrict_to_known(plan, province)
    assert restricted.shared
    assert all(restricted.visibility(code) is Visibility.WITHHELD for code in added)
    assert not added & {n.removesuffix("#masked") for n in disclosure_names(restricted)}
    # Everything the province does know goes as before.
    for spec in province.fields:
        assert restricted.visibility(spec.code) is plan.visibility(spec.code)


def test_a_category_the_recipient_lacks_is_not_shared_at_all() -> None:
    province = load_packaged_catalog(ZHEJIANG)
    local = next(c for code, c in province.categories.items() if code.startswith("zj_"))
    plan = decide(local, Recipient(RecipientKind.PARENT, node_id="000000"))
    assert not restrict_to_known(plan, None).shared
    assert restrict_to_known(plan, None).rule.endswith("unknown-to-recipient") or not plan.shared
