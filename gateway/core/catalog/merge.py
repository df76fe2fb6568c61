"""Merging the national catalog with provincial and city supplements.

A supplement may add categories, add optional fields, and tighten rules: lower
a visibility, narrow a grant, shorten a period, make objections suspend
measures earlier (never < on acceptance < on filing), add restrictions.
Anything looser is refused, naming the supplement and the entry, so that no
level can widen what the level above decided.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

from gateway.core.catalog.model import (
    Catalog,
    CatalogDocument,
    Category,
    CategoryAmendment,
    CategoryKind,
    FieldChange,
    FieldSpec,
    ObjectionSuspends,
    RecipientKind,
    Sensitivity,
    Severity,
    ShareRule,
    Visibility,
)
from gateway.core.catalog.rules import check_category_rules
from gateway.core.catalog.supplements import ChainNames, SupplementChain
from gateway.core.errors import CatalogError
from gateway.core.identifiers import SubjectType

__all__ = ["merge_documents"]

_NAMES = ChainNames(
    entry="catalog",
    noun="catalog",
    item="category",
    redefine="a supplement may amend it with [[amend]], not redefine it",
)


def merge_documents(base: CatalogDocument, supplements: Sequence[CatalogDocument]) -> Catalog:
    """:func:`gateway.core.catalog.merge_catalogs` with the supplements as a sequence.

    Raises:
        CatalogError: as :func:`gateway.core.catalog.merge_catalogs`.
    """
    chain = SupplementChain(base, base.categories, names=_NAMES)
    if base.amendments:
        raise CatalogError(
            "the national base has nothing to amend",
            source=base.source,
            entry=f"amend {base.amendments[0].category}",
        )
    categories = chain.entries
    for doc in supplements:
        chain.add(doc, doc.categories)
        for amendment in doc.amendments:
            current = categories.get(amendment.category)
            if current is None:
                raise CatalogError(
                    "amends a category that no earlier catalog defines",
                    source=doc.source,
                    entry=f"amend {amendment.category}",
                )
            amended = _amend(current, amendment, source=doc.source)
            check_category_rules(amended, source=doc.source)
            categories[amendment.category] = amended
    return Catalog(chain.version, chain.sources, MappingProxyType(categories))


def _amend(category: Category, amendment: CategoryAmendment, *, source: str) -> Category:
    """Apply one amendment, refusing anything that loosens the category."""
    entry = f"amend {category.code}"

    def refuse(message: str) -> CatalogError:
        return CatalogError(message, source=source, entry=entry)

    fields = _amend_fields(category, amendment, refuse)
    periods = _shorten(
        category.periods_months, amendment.periods_months, "period", "disclosure", refuse
    )
    repair = _shorten(
        category.repair_min_months,
        amendment.repair_min_months,
        "minimum before credit repair",
        "credit repair",
        refuse,
    )
    publishable, suspends, deadline = _tighten_objections(category, amendment, refuse)
    sd_size = category.sd_size
    if amendment.sd_size is not None:
        # Fewer decoys tell a reader more about how many fields a record has.
        if amendment.sd_size < sd_size:
            raise refuse(f"shrinks sd_size from {sd_size} to {amendment.sd_size}")
        sd_size = amendment.sd_size
    rules = _tighten_rules(category, amendment.share_rules, fields, refuse)
    if not publishable:
        rules = tuple(rule for rule in rules if rule.recipient is not RecipientKind.PUBLIC)
    measures = category.measures
    if amendment.add_measures:
        if category.kind is CategoryKind.REDLIST:
            raise refuse("adds incentive measures; a supplement may add restrictions only")
        for code in amendment.add_measures:
            if code in measures:
                raise refuse(f"adds measure {code}, which the category already carries")
            measures = (*measures, code)
    return replace(
        category,
        fields=fields,
        periods_months=periods,
        repair_min_months=repair,
        publishable=publishable,
        objection_suspends=suspends,
        objection_deadline_days=deadline,
        sd_size=sd_size,
        share_rules=rules,
        measures=measures,
    )


def _tighten_objections(
    category: Category, amendment: CategoryAmendment, refuse: Callable[[str], CatalogError]
) -> tuple[bool, ObjectionSuspends, int]:
    """Publication and objection handling: (publishable, suspends, deadline days)."""
    publishable = category.publishable
    if amendment.publishable is not None:
        if amendment.publishable and not publishable:
            raise refuse("makes the category publishable; only the base may allow publication")
        publishable = amendment.publishable
    suspends = category.objection_suspends
    if amendment.objection_suspends is not None:
        # Pausing measures later than the level above decided would keep a
        # subject under measures that level says must wait for verification.
        if amendment.objection_suspends.earliness < suspends.earliness:
            raise refuse(
                f"makes objections suspend measures later ({amendment.objection_suspends}) "
                f"than the category does ({suspends})"
            )
        suspends = amendment.objection_suspends
    deadline = category.objection_deadline_days
    if amendment.objection_deadline_days is not None:
        if amendment.objection_deadline_days > deadline:
            raise refuse(
                f"lengthens the objection deadline from {deadline} "
                f"to {amendment.objection_deadline_days} days"
            )
        deadline = amendment.objection_deadline_days
    return publishable, suspends, deadline


def _amend_fields(
    category: Category, amendment: CategoryAmendment, refuse: Callable[[str], CatalogError]
) -> tuple[FieldSpec, ...]:
    by_code = {spec.code: spec for spec in category.fields}
    for code in amendment.remove_fields:
        spec = by_code.pop(code, None)
        if spec is None:
            raise refuse(f"removes field {code}, which the category does not list")
        if spec.required:
            raise refuse(f"removes required field {code}")
    for change in amendment.field_changes:
        spec = by_code.get(change.code)
        if spec is None:
            raise refuse(f"changes field {change.code}, which the category does not list")
        by_code[change.code] = _tighten_field(spec, change, refuse)
    for spec in amendment.add_fields:
        if spec.code in by_code or spec.code in amendment.remove_fields:
            raise refuse(f"adds field {spec.code}, which the category already lists")
        if spec.required:
            raise refuse(
                f"adds required field {spec.code}; a supplement may only add optional fields"
            )
        by_code[spec.code] = spec
    return tuple(by_code.values())


def _tighten_field(
    spec: FieldSpec, change: FieldChange, refuse: Callable[[str], CatalogError]
) -> FieldSpec:
    sensitivity, max_chars, mask = spec.sensitivity, spec.max_chars, spec.mask
    if change.sensitivity is not None:
        if change.sensitivity.rank < sensitivity.rank:
            raise refuse(
                f"lowers the sensitivity of field {spec.code} "
                f"from {sensitivity} to {change.sensitivity}"
            )
        sensitivity = change.sensitivity
    if change.max_chars is not None:
        if change.max_chars > max_chars:
            raise refuse(
                f"raises max_chars of field {spec.code} from {max_chars} to {change.max_chars}"
            )
        max_chars = change.max_chars
    if change.mask is not None:
        if mask is not None and change.mask is not mask:
            raise refuse(f"changes the mask rule of field {spec.code} from {mask} to {change.mask}")
        mask = change.mask
    return replace(spec, sensitivity=sensitivity, max_chars=max_chars, mask=mask)


def _shorten(
    current: Mapping[Severity, int],
    changes: Mapping[Severity, int],
    what: str,
    context: str,
    refuse: Callable[[str], CatalogError],
) -> Mapping[Severity, int]:
    merged = dict(current)
    for severity, months in changes.items():
        if severity not in merged:
            raise refuse(f"sets a {severity} {what}, but the category has no {severity} {context}")
        if months > merged[severity]:
            raise refuse(
                f"lengthens the {severity} {what} from {merged[severity]} to {months} months"
            )
        merged[severity] = months
    return MappingProxyType(merged)


def _describe_grant(rule: ShareRule) -> str:
    if rule.recipient is RecipientKind.DEPARTMENT:
        return (
            f"department domains {', '.join(sorted(rule.domains))} "
            f"(roles {', '.join(sorted(rule.roles))})"
        )
    return f"recipient {rule.recipient}"


def _tighten_rules(
    category: Category,
    changes: Sequence[ShareRule],
    fields: Sequence[FieldSpec],
    refuse: Callable[[str], CatalogError],
) -> tuple[ShareRule, ...]:
    rules = {rule.rule_id: rule for rule in category.share_rules}
    for new in changes:
        old = rules.get(new.rule_id)
        if old is None:
            granted = [r.rule_id for r in rules.values() if r.recipient is new.recipient]
            if not granted:
                raise refuse(
                    f"adds share rule {new.rule_id} for {_describe_grant(new)}, "
                    f"which the category does not grant"
                )
            # Grants combine and the loosest wins, so a second rule can never
            # tighten the first: only replacing it by its id can.
            raise refuse(
                f"adds share rule {new.rule_id} for {_describe_grant(new)}, already granted by "
                f"rule {granted[0]}; tighten that rule by its rule_id instead"
            )
        _check_narrower(old, new, fields, refuse)
        rules[new.rule_id] = new
    return tuple(rules.values())


def _check_narrower(
    old: ShareRule,
    new: ShareRule,
    fields: Sequence[FieldSpec],
    refuse: Callable[[str], CatalogError],
) -> None:
    name = f"share rule {new.rule_id}"
    if new.recipient is not old.recipient:
        raise refuse(f"changes the recipient of {name} from {old.recipient} to {new.recipient}")
    if "*" not in old.domains and not new.domains <= old.domains:
        extra = ", ".join(sorted(new.domains - old.domains))
        raise refuse(f"widens {name} to domains {extra}, which the category does not grant")
    if not new.roles <= old.roles:
        extra = ", ".join(sorted(new.roles - old.roles))
        raise refuse(f"widens {name} to roles {extra}, which the category does not grant")
    for sensitivity in Sensitivity:
        before = old.by_sensitivity.get(sensitivity, Visibility.WITHHELD)
        after = new.by_sensitivity.get(sensitivity, Visibility.WITHHELD)
        if after.strictness < before.strictness:
            raise refuse(
                f"raises the visibility of {sensitivity} fields under {name} "
                f"from {before} to {after}"
            )
    for spec in fields:
        for subject_type in SubjectType:
            before = old.visibility(spec, subject_type)
            after = new.visibility(spec, subject_type)
            if after.strictness < before.strictness:
                raise refuse(
                    f"raises the visibility of field {spec.code} under {name} "
                    f"from {before} to {after}"
                )
