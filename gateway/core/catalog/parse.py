"""Catalog files to catalog documents.

Read strictly (:mod:`gateway.core.catalog.toml_table`): every key must be known
and of the right type, and codes must be unique. Each category read is then
checked on its own by :mod:`gateway.core.catalog.rules`; the TOML layout is
described in the national base file, ``gateway/data/catalog/000000.toml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

from gateway.core.catalog.model import (
    CatalogDocument,
    Category,
    CategoryAmendment,
    CategoryKind,
    FieldChange,
    FieldSpec,
    FieldType,
    ObjectionSuspends,
    PersonRole,
    RecipientKind,
    Sensitivity,
    Severity,
    ShareRule,
    Visibility,
)
from gateway.core.catalog.rules import check_category_rules, prohibited_kind
from gateway.core.catalog.toml_table import TomlTable, entry_name, load_toml, read_header
from gateway.core.identifiers import SubjectType
from gateway.core.masking import MaskRule

__all__ = ["parse_catalog_document"]

_E = TypeVar("_E", bound=StrEnum)

_DEFAULT_MAX_CHARS = {
    FieldType.STRING: 200,
    FieldType.TEXT: 2000,
    FieldType.DATE: 10,
    FieldType.DECIMAL: 20,
    FieldType.INTEGER: 18,
    FieldType.USCC: 18,
    FieldType.ID_NUMBER: 64,
    FieldType.REGION: 6,
}


def _enum_keyed(table: TomlTable | None, key_kind: type[_E]) -> dict[_E, TomlTable]:
    if table is None:
        return {}
    out: dict[_E, TomlTable] = {}
    for key in table.names():
        try:
            out[key_kind(key)] = table
        except ValueError:
            allowed = ", ".join(member.value for member in key_kind)
            raise table.error(f"unknown key {key!r}; expected one of {allowed}") from None
    return out


def _months(table: TomlTable | None) -> Mapping[Severity, int]:
    return MappingProxyType(
        {
            severity: t.integer(severity.value)
            for severity, t in _enum_keyed(table, Severity).items()
        }
    )


def _domains_by_severity(table: TomlTable | None) -> Mapping[Severity, frozenset[str]]:
    return MappingProxyType(
        {
            severity: frozenset(t.texts(severity.value))
            for severity, t in _enum_keyed(table, Severity).items()
        }
    )


def _visibilities(table: TomlTable | None) -> Mapping[Sensitivity, Visibility]:
    return MappingProxyType(
        {
            s: t.required_choice(s.value, Visibility)
            for s, t in _enum_keyed(table, Sensitivity).items()
        }
    )


def _parse_field(table: TomlTable) -> FieldSpec:
    code, label = table.text("code"), table.text("label")
    declared_kind = table.optional_text("kind") or ""
    what = prohibited_kind(code, label, declared_kind)
    if what is not None:
        raise table.error(f"lists prohibited data: {what} (征信业管理条例 第十四条)")
    field_type = table.required_choice("type", FieldType)
    allowed = table.texts("allowed")
    max_chars = table.optional_integer("max_chars")
    if max_chars is None:
        longest = max((len(value) for value in allowed), default=1)
        max_chars = _DEFAULT_MAX_CHARS.get(field_type, longest)
    spec = FieldSpec(
        code=code,
        label=label,
        type=field_type,
        required=table.flag("required", default=False),
        sensitivity=table.required_choice("sensitivity", Sensitivity),
        mask=table.choice("mask", MaskRule),
        max_chars=max_chars,
        allowed=allowed,
        id_type_field=table.optional_text("id_type_field"),
        subject=table.choice("subject", SubjectType),
        natural_person_sensitivity=table.choice("natural_person_sensitivity", Sensitivity),
        person=table.choice("person", PersonRole),
    )
    table.close()
    return spec


def _parse_fields(table: TomlTable, key: str, owner: str) -> tuple[FieldSpec, ...]:
    specs: list[FieldSpec] = []
    for index, raw in enumerate(table.tables(key)):
        spec = _parse_field(table.child(raw, f"{owner}, {entry_name(raw, 'code', 'field', index)}"))
        if any(s.code == spec.code for s in specs):
            raise table.error(f"field {spec.code} is listed twice")
        specs.append(spec)
    return tuple(specs)


def _parse_share_rule(table: TomlTable, *, default_roles: frozenset[str]) -> ShareRule:
    rule_id = table.text("rule_id")
    recipient = table.required_choice("recipient", RecipientKind)
    department = recipient is RecipientKind.DEPARTMENT
    roles = frozenset(table.texts("roles")) or (default_roles if department else frozenset())
    overrides = table.table("fields")
    fields = {}
    if overrides is not None:
        fields = {code: overrides.required_choice(code, Visibility) for code in overrides.names()}
    rule = ShareRule(
        recipient=recipient,
        domains=frozenset(table.texts("domains")),
        roles=roles,
        by_sensitivity=_visibilities(table.table("by_sensitivity")),
        fields=MappingProxyType(fields),
        rule_id=rule_id,
    )
    table.close()
    return rule


def _parse_share_rules(table: TomlTable, owner: str) -> tuple[ShareRule, ...]:
    rules: list[ShareRule] = []
    for index, raw in enumerate(table.tables("share")):
        child = table.child(raw, f"{owner}, {entry_name(raw, 'rule_id', 'share rule', index)}")
        rule = _parse_share_rule(child, default_roles=frozenset({"department"}))
        if any(r.rule_id == rule.rule_id for r in rules):
            raise table.error(f"share rule {rule.rule_id} is listed twice")
        rules.append(rule)
    return tuple(rules)


def _parse_category(table: TomlTable) -> Category:
    code, label = table.text("code"), table.text("label")
    kind_text = table.text("kind")
    what = prohibited_kind(code, label, kind_text)
    if what is not None:
        raise table.error(f"lists prohibited data: {what} (征信业管理条例 第十四条)")
    try:
        kind = CategoryKind(kind_text)
    except ValueError:
        allowed = ", ".join(member.value for member in CategoryKind)
        raise table.error(f"key 'kind' is {kind_text!r}; expected one of {allowed}") from None
    entry = f"category {code}"
    subjects = _enum_keyed(table.table("subject_fields"), SubjectType)
    subject_values = table.table("subject_type_values")
    values = (
        {}
        if subject_values is None
        else {
            value: subject_values.required_choice(value, SubjectType)
            for value in subject_values.names()
        }
    )
    category = Category(
        code=code,
        label=label,
        kind=kind,
        fields=_parse_fields(table, "field", entry),
        subject_fields=MappingProxyType({s: t.text(s.value) for s, t in subjects.items()}),
        document_field=table.text("document_field"),
        decision_date_field=table.text("decision_date_field"),
        severity_field=table.optional_text("severity_field"),
        default_severity=table.required_choice("default_severity", Severity),
        periods_months=_months(table.table("periods_months")),
        publishable=table.flag("publishable"),
        objection_suspends=table.required_choice("objection_suspends", ObjectionSuspends),
        objection_deadline_days=table.integer("objection_deadline_days"),
        repair_min_months=_months(table.table("repair_min_months")),
        sd_size=table.integer("sd_size"),
        share_rules=_parse_share_rules(table, entry),
        measures=table.texts("measures"),
        green_domains=frozenset(table.texts("green_domains")),
        check_reference=table.flag("check_reference", default=False),
        review_domains=_domains_by_severity(table.table("review_domains")),
        filing_domains=frozenset(table.texts("filing_domains")),
        basis=table.optional_text("basis") or "",
        period_basis=table.optional_text("period_basis") or "",
        publication_deadline_field=table.optional_text("publication_deadline_field"),
        reporting_working_days=table.optional_integer("reporting_working_days"),
        subject_type_field=table.optional_text("subject_type_field"),
        subject_type_values=MappingProxyType(values),
    )
    table.close()
    check_category_rules(category, source=table.source)
    return category


def _parse_amendment(table: TomlTable) -> CategoryAmendment:
    code = table.text("category")
    entry = f"amend {code}"
    changes: list[FieldChange] = []
    for index, raw in enumerate(table.tables("change_field")):
        child = table.child(raw, f"{entry}, {entry_name(raw, 'code', 'field', index)}")
        changes.append(
            FieldChange(
                code=child.text("code"),
                sensitivity=child.choice("sensitivity", Sensitivity),
                max_chars=child.optional_integer("max_chars"),
                mask=child.choice("mask", MaskRule),
            )
        )
        child.close()
    amendment = CategoryAmendment(
        category=code,
        add_fields=_parse_fields(table, "add_field", entry),
        remove_fields=table.texts("remove_fields"),
        field_changes=tuple(changes),
        periods_months=_months(table.table("periods_months")),
        repair_min_months=_months(table.table("repair_min_months")),
        publishable=table.optional_flag("publishable"),
        objection_suspends=table.choice("objection_suspends", ObjectionSuspends),
        objection_deadline_days=table.optional_integer("objection_deadline_days"),
        sd_size=table.optional_integer("sd_size"),
        share_rules=_parse_share_rules(table, entry),
        add_measures=table.texts("add_measures"),
    )
    table.close()
    return amendment


def _code(category: Category) -> str:
    return category.code


def _amended(amendment: CategoryAmendment) -> str:
    return amendment.category


def parse_catalog_document(text: str, *, source: str) -> CatalogDocument:
    """Parse one catalog file; see :func:`gateway.core.catalog.parse_catalog`.

    Raises:
        CatalogError: naming the source and the entry at fault.
    """
    root = load_toml(text, source=source)
    version, region, title, extends = read_header(root, "catalog")
    categories = root.coded_tables(
        "category", what="category", code_key="code", parse=_parse_category, code=_code
    )
    amendments = root.coded_tables(
        "amend",
        what="amend",
        code_key="category",
        parse=_parse_amendment,
        code=_amended,
        duplicate="category {code} is amended twice",
    )
    root.close()
    return CatalogDocument(
        source=source,
        region=region,
        version=version,
        title=title,
        extends=extends,
        categories=MappingProxyType(categories),
        amendments=tuple(amendments.values()),
    )
