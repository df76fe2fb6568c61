"""Strict TOML reading for the catalog and the measures list.

The catalog decides what personal data may be collected and shared, so it is
read the way untrusted input is: every key must be known and of the right type
and codes must be unique. Each category read is then checked on its own by
:mod:`gateway.core._catalog_rules`; the TOML layout is described in the
national base file, ``gateway/data/catalog/000000.toml``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple, TypeVar

from gateway.core._catalog_rules import check_category_rules, prohibited_kind
from gateway.core.catalog import (
    CatalogDocument,
    Category,
    CategoryAmendment,
    CategoryKind,
    FieldChange,
    FieldSpec,
    FieldType,
    RecipientKind,
    Sensitivity,
    Severity,
    ShareRule,
    Visibility,
)
from gateway.core.errors import CatalogError
from gateway.core.identifiers import SubjectType
from gateway.core.masking import MaskRule
from gateway.core.node_id import is_node_id_shape

__all__ = [
    "DocumentHeader",
    "TomlTable",
    "load_toml",
    "parse_catalog_document",
    "read_header",
]

_E = TypeVar("_E", bound=StrEnum)
_MISSING = object()

# "+" joins versions in a merged catalog, so it may not occur in one.
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]*")

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


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    for kind, name in names.items():
        if type(value) is kind:
            return name
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


class TomlTable:
    """One TOML table read strictly: typed getters, and every key must be read.

    Attributes:
        source: the file name, for errors.
        entry: what this table is ("category admin_penalty, field CF_WSH").
    """

    __slots__ = ("_data", "_seen", "entry", "source")

    def __init__(self, data: Mapping[str, object], *, source: str, entry: str | None) -> None:
        self._data = data
        self._seen: set[str] = set()
        self.source = source
        self.entry = entry

    def error(self, message: str) -> CatalogError:
        """A CatalogError naming this table's source and entry."""
        return CatalogError(message, source=self.source, entry=self.entry)

    def child(self, data: Mapping[str, object], entry: str) -> TomlTable:
        """A reader for a nested table."""
        return TomlTable(data, source=self.source, entry=entry)

    def peek(self, key: str) -> object:
        """The raw value of ``key`` without consuming it (for naming entries)."""
        return self._data.get(key)

    def _take(self, key: str, expected: str, kind: type) -> object:
        self._seen.add(key)
        value = self._data.get(key, _MISSING)
        if value is _MISSING:
            return value
        if type(value) is not kind:
            raise self.error(f"key {key!r} must be {expected}, not {_type_name(value)}")
        return value

    def optional_text(self, key: str) -> str | None:
        """A non-empty string, or None if absent."""
        value = self._take(key, "a string", str)
        if value is _MISSING:
            return None
        text = str(value)
        if not text.strip():
            raise self.error(f"key {key!r} is empty")
        return text

    def text(self, key: str) -> str:
        """A required non-empty string."""
        value = self.optional_text(key)
        if value is None:
            raise self.error(f"key {key!r} is missing")
        return value

    def optional_flag(self, key: str) -> bool | None:
        """A boolean, or None if absent."""
        value = self._take(key, "a boolean", bool)
        return None if value is _MISSING else bool(value)

    def flag(self, key: str, *, default: bool | None = None) -> bool:
        """A boolean; required unless a default is given."""
        value = self.optional_flag(key)
        if value is None:
            if default is None:
                raise self.error(f"key {key!r} is missing")
            return default
        return value

    def optional_integer(self, key: str) -> int | None:
        """A non-negative integer, or None if absent."""
        value = self._take(key, "an integer", int)
        if value is _MISSING:
            return None
        number = int(str(value))
        if number < 0:
            raise self.error(f"key {key!r} must not be negative, got {number}")
        return number

    def integer(self, key: str) -> int:
        """A required non-negative integer."""
        value = self.optional_integer(key)
        if value is None:
            raise self.error(f"key {key!r} is missing")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        """An array of non-empty, distinct strings; empty if absent."""
        value = self._take(key, "an array", list)
        if value is _MISSING:
            return ()
        items = list(value) if isinstance(value, list) else []
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise self.error(f"key {key!r} must hold non-empty strings, not {item!r}")
        duplicates = sorted({item for item in items if items.count(item) > 1})
        if duplicates:
            raise self.error(f"key {key!r} lists {duplicates[0]!r} twice")
        return tuple(str(item) for item in items)

    def table(self, key: str) -> TomlTable | None:
        """A nested table, or None if absent."""
        value = self._take(key, "a table", dict)
        if value is _MISSING:
            return None
        where = f"{self.entry}, {key}" if self.entry else key
        return self.child(value if isinstance(value, dict) else {}, where)

    def tables(self, key: str) -> tuple[Mapping[str, object], ...]:
        """An array of tables (``[[key]]``); empty if absent."""
        value = self._take(key, "an array of tables", list)
        if value is _MISSING:
            return ()
        items = list(value) if isinstance(value, list) else []
        for item in items:
            if not isinstance(item, dict):
                raise self.error(f"key {key!r} must hold tables, not {_type_name(item)}")
        return tuple(item for item in items if isinstance(item, dict))

    def choice(self, key: str, kind: type[_E]) -> _E | None:
        """A string that must be one of ``kind``'s values, or None if absent."""
        value = self.optional_text(key)
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise self.error(f"key {key!r} is {value!r}; expected one of {allowed}") from None

    def required_choice(self, key: str, kind: type[_E]) -> _E:
        """A required string that must be one of ``kind``'s values."""
        value = self.choice(key, kind)
        if value is None:
            raise self.error(f"key {key!r} is missing")
        return value

    def names(self) -> tuple[str, ...]:
        """All keys (for tables whose keys are data, e.g. severities)."""
        return tuple(self._data)

    def close(self) -> None:
        """Refuse keys that were never read.

        Raises:
            CatalogError: naming the first unknown key.
        """
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            raise self.error(f"unknown key {unknown[0]!r}")


def load_toml(text: str, *, source: str) -> TomlTable:
    """Parse TOML text into a strict reader of its root table.

    Raises:
        CatalogError: naming the source, if the text is not valid TOML.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"not valid TOML: {exc}", source=source) from exc
    return TomlTable(data, source=source, entry=None)


def _entry(raw: Mapping[str, object], key: str, what: str, index: int) -> str:
    name = raw.get(key)
    return f"{what} {name}" if isinstance(name, str) and name else f"{what} #{index + 1}"


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
    )
    table.close()
    return spec


def _parse_fields(table: TomlTable, key: str, owner: str) -> tuple[FieldSpec, ...]:
    specs: list[FieldSpec] = []
    for index, raw in enumerate(table.tables(key)):
        spec = _parse_field(table.child(raw, f"{owner}, {_entry(raw, 'code', 'field', index)}"))
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
        child = table.child(raw, f"{owner}, {_entry(raw, 'rule_id', 'share rule', index)}")
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
        objection_suspends_measures=table.flag("objection_suspends_measures"),
        objection_deadline_days=table.integer("objection_deadline_days"),
        repair_min_months=_months(table.table("repair_min_months")),
        sd_size=table.integer("sd_size"),
        share_rules=_parse_share_rules(table, entry),
        measures=table.texts("measures"),
        green_domains=frozenset(table.texts("green_domains")),
        publication_deadline_field=table.optional_text("publication_deadline_field"),
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
        child = table.child(raw, f"{entry}, {_entry(raw, 'code', 'field', index)}")
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
        objection_suspends_measures=table.optional_flag("objection_suspends_measures"),
        objection_deadline_days=table.optional_integer("objection_deadline_days"),
        sd_size=table.optional_integer("sd_size"),
        share_rules=_parse_share_rules(table, entry),
        add_measures=table.texts("add_measures"),
    )
    table.close()
    return amendment


class DocumentHeader(NamedTuple):
    """The header table of a catalog or measures file."""

    version: str
    region: str
    title: str
    extends: str | None


def read_header(root: TomlTable, name: str) -> DocumentHeader:
    """Read and check the header table ``[name]`` of a catalog or measures file.

    Raises:
        CatalogError: the table is missing or malformed, the version holds a
            character other than letters, digits, '.', '-' and '_', a region
            code is not 6 digits, or a file other than the national base
            (000000) extends nothing.
    """
    header = root.table(name)
    if header is None:
        raise root.error(f"the [{name}] table is missing")
    version, region = header.text("version"), header.text("region")
    title, extends = header.text("title"), header.optional_text("extends")
    header.close()
    if not _VERSION.fullmatch(version):
        raise header.error(f"version {version!r} must be letters, digits, '.', '-' or '_'")
    for key, value in (("region", region), ("extends", extends)):
        if value is not None and not is_node_id_shape(value):
            raise header.error(f"{key} {value!r} is not a 6-digit region code")
    if (extends is None) != (region == "000000"):
        raise header.error("only the national base (000000) extends nothing")
    return DocumentHeader(version, region, title, extends)


def parse_catalog_document(text: str, *, source: str) -> CatalogDocument:
    """Parse one catalog file; see :func:`gateway.core.catalog.parse_catalog`.

    Raises:
        CatalogError: naming the source and the entry at fault.
    """
    root = load_toml(text, source=source)
    version, region, title, extends = read_header(root, "catalog")
    categories: dict[str, Category] = {}
    for index, raw in enumerate(root.tables("category")):
        category = _parse_category(root.child(raw, _entry(raw, "code", "category", index)))
        if category.code in categories:
            raise root.error(f"category {category.code} is defined twice")
        categories[category.code] = category
    amendments: list[CategoryAmendment] = []
    for index, raw in enumerate(root.tables("amend")):
        amendment = _parse_amendment(root.child(raw, _entry(raw, "category", "amend", index)))
        if any(a.category == amendment.category for a in amendments):
            raise root.error(f"category {amendment.category} is amended twice")
        amendments.append(amendment)
    root.close()
    return CatalogDocument(
        source=source,
        region=region,
        version=version,
        title=title,
        extends=extends,
        categories=MappingProxyType(categories),
        amendments=tuple(amendments),
    )
