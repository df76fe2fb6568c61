"""Sharing scope: who may see which disclosure of a record.

One pure function, :func:`decide`, turns (category, recipient) into a
:class:`SharePlan`: not shared at all, or for each catalog field whether the
recipient gets the clear value, only the masked variant, or nothing. The same
plan drives every egress (queries, exports, pushes) and every ingress check
(a peer that sends more than the plan allows is over-sharing). :func:`explain`
gives the same plan with the rule that decided each field.

It fails closed: a category without a rule for the recipient is not shared, and
a field no rule mentions is withheld.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from gateway.core.catalog import (
    Category,
    FieldSpec,
    RecipientKind,
    Sensitivity,
    ShareRule,
    Visibility,
)
from gateway.core.errors import AccessDeniedError, ScopeViolationError
from gateway.core.identifiers import SubjectType
from gateway.core.node_id import parent_node

__all__ = [
    "MASKED_SUFFIX",
    "Explanation",
    "FieldDecision",
    "Recipient",
    "SharePlan",
    "check_received",
    "decide",
    "disclosure_names",
    "explain",
    "node_relation",
    "require_shared",
    "restrict_to_known",
]

MASKED_SUFFIX = "#masked"
"""A field's masked-variant disclosure is named ``<code>#masked``."""

_LOOSENESS = {Visibility.WITHHELD: 0, Visibility.MASKED: 1, Visibility.CLEAR: 2}
_NODE_KINDS = frozenset({RecipientKind.PARENT, RecipientKind.CHILD, RecipientKind.OTHER_NODE})


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who receives a record: a peer node, a local department, an auditor or the public.

    Attributes:
        kind: the recipient kind the catalog's share rules are written for.
        domain: a department's domain (``procurement``...), else None.
        role: a department's role, else None.
        node_id: the receiving node for peer recipients, for audit messages.
    """

    kind: RecipientKind
    domain: str | None = None
    role: str | None = None
    node_id: str | None = None

    def describe(self) -> str:
        """A short label for messages and audit, e.g. ``department(procurement)``."""
        if self.kind is RecipientKind.DEPARTMENT:
            return f"department({self.domain})"
        if self.node_id is not None:
            return f"{self.kind.value}({self.node_id})"
        return self.kind.value


@dataclass(frozen=True, slots=True)
class SharePlan:
    """The decision for one (category, recipient).

    Attributes:
        shared: False means the record does not go to this recipient at all.
        rule: the id(s) of the rule(s) that decided, or ``default-deny``.
        fields: field code -> visibility, for every field of the category.
        relayed_masks: fields a node gets in clear together with their masked
            variant: the people's numbers of a listing, which every holder
            must still serve masked to everyone but nodes and the departments
            applying a measure on persons.
    """

    category: str
    recipient: Recipient
    shared: bool
    rule: str
    fields: Mapping[str, Visibility] = field(default_factory=dict)
    relayed_masks: frozenset[str] = frozenset()

    def visibility(self, code: str) -> Visibility:
        """Visibility of one field; unknown fields are withheld."""
        return self.fields.get(code, Visibility.WITHHELD)


def _matches(rule: ShareRule, recipient: Recipient) -> bool:
    if rule.recipient is not recipient.kind:
        return False
    if recipient.kind is not RecipientKind.DEPARTMENT:
        return True
    # A department without a domain is in no domain, not in every one: "*"
    # must not turn a missing domain into a grant (fail closed).
    if recipient.domain is None:
        return False
    domain_ok = "*" in rule.domains or recipient.domain in rule.domains
    role_ok = recipient.role in rule.roles
    return domain_ok and role_ok


def _field_visibility(
    spec: FieldSpec, rules: Iterable[ShareRule], subject_type: SubjectType | None
) -> Visibility:
    best = Visibility.WITHHELD
    for rule in rules:
        candidate = rule.visibility(spec, subject_type)
        if _LOOSENESS[candidate] > _LOOSENESS[best]:
            best = candidate
    # A masked variant exists only for fields with a mask rule: without one,
    # "masked" cannot be honoured and the field is withheld (fail closed).
    if best is Visibility.MASKED and spec.mask is None:
        return Visibility.WITHHELD
    return best


def decide(
    category: Category, recipient: Recipient, subject_type: SubjectType | None = None
) -> SharePlan:
    """What ``recipient`` may see of records of ``category`` about ``subject_type``.

    Several matching rules combine field by field (each rule is a grant; the
    loosest grant of a field wins). No matching rule: not shared. The subject
    type (the always-visible ``sbt`` claim) decides fields whose sensitivity
    depends on it: a company's name is public, a person's is personal. Without
    it the strictest reading applies.
    """
    rules = [rule for rule in category.share_rules if _matches(rule, recipient)]
    if not rules:
        return SharePlan(category.code, recipient, shared=False, rule="default-deny")
    if recipient.kind is RecipientKind.PUBLIC and not category.publishable:
        return SharePlan(category.code, recipient, shared=False, rule="not-publishable")
    fields = {spec.code: _field_visibility(spec, rules, subject_type) for spec in category.fields}
    rule_ids = "+".join(sorted(rule.rule_id for rule in rules))
    relayed = frozenset(
        spec.code
        for spec in category.person_fields
        if recipient.kind in _NODE_KINDS and fields[spec.code] is Visibility.CLEAR
    )
    return SharePlan(
        category.code, recipient, shared=True, rule=rule_ids, fields=fields, relayed_masks=relayed
    )


@dataclass(frozen=True, slots=True)
class FieldDecision:
    """What a recipient gets of one field, and why.

    Attributes:
        code: the field code.
        label: the catalog's label.
        sensitivity: the field's sensitivity as read for the plan's subject type.
        visibility: what the recipient gets (the plan's decision).
        rule: the id(s) of the rule(s) that decided, joined by ``+``.
        reason: how: ``field override``, ``personal -> masked``,
            ``restricted not granted``, or ``category not shared``.
    """

    code: str
    label: str
    sensitivity: Sensitivity
    visibility: Visibility
    rule: str
    reason: str


@dataclass(frozen=True, slots=True)
class Explanation:
    """A plan with the deciding rule of each field, in catalog order."""

    plan: SharePlan
    fields: tuple[FieldDecision, ...]


def _grant_reason(rule: ShareRule, spec: FieldSpec, subject_type: SubjectType | None) -> str:
    if spec.code in rule.fields:
        return "field override"
    sensitivity = spec.sensitivity_for(subject_type)
    granted = rule.by_sensitivity.get(sensitivity)
    if granted is None:
        return f"{sensitivity} not granted"
    if granted is Visibility.MASKED and spec.mask is None:
        return f"{sensitivity} -> masked, but the field has no mask rule"
    return f"{sensitivity} -> {granted}"


def explain(
    category: Category, recipient: Recipient, subject_type: SubjectType | None = None
) -> Explanation:
    """:func:`decide`, with the rule that decided each field.

    The visibilities are exactly those of ``decide``; a field's deciding rules
    are the matching rules whose own grant equals the plan's (the loosest),
    and for a withheld field every matching rule, since none grants more.
    """
    plan = decide(category, recipient, subject_type)
    rules = sorted(
        (rule for rule in category.share_rules if _matches(rule, recipient)),
        key=lambda rule: rule.rule_id,
    )
    decisions: list[FieldDecision] = []
    for spec in category.fields:
        visibility = plan.visibility(spec.code)
        if not plan.shared:
            rule_id, reason = plan.rule, "category not shared"
        else:
            # decide() takes the loosest grant, so some matching rule grants exactly it.
            deciders = [r for r in rules if r.visibility(spec, subject_type) is visibility] or rules
            rule_id = "+".join(r.rule_id for r in deciders)
            reason = "; ".join(
                dict.fromkeys(_grant_reason(r, spec, subject_type) for r in deciders)
            )
        decisions.append(
            FieldDecision(
                code=spec.code,
                label=spec.label,
                sensitivity=spec.sensitivity_for(subject_type),
                visibility=visibility,
                rule=rule_id,
                reason=reason,
            )
        )
    return Explanation(plan, tuple(decisions))


def restrict_to_known(plan: SharePlan, known: Category | None) -> SharePlan:
    """Withhold what the recipient's own catalog does not know.

    A provincial or city supplement may add fields (or categories) that the
    nodes above it do not list; sending them would be over-sharing at the
    receiver, which refuses the batch. ``known`` is the recipient's version of
    the category (None: the recipient's catalog lacks the category).
    """
    if not plan.shared:
        return plan
    if known is None:
        return replace(plan, shared=False, rule=f"{plan.rule}+unknown-to-recipient")
    codes = {spec.code for spec in known.fields}
    fields = {
        code: (vis if code in codes else Visibility.WITHHELD) for code, vis in plan.fields.items()
    }
    return replace(plan, fields=fields, relayed_masks=plan.relayed_masks & codes)


def require_shared(plan: SharePlan) -> SharePlan:
    """Return ``plan`` if the record may go to its recipient.

    Raises:
        AccessDeniedError: naming the recipient, the category and the rule.
    """
    if not plan.shared:
        raise AccessDeniedError(
            f"category {plan.category} is not shared with {plan.recipient.describe()}",
            rule=plan.rule,
        )
    return plan


# Callers ask for the names of one plan once per record (a batch shares a few
# plans), so the answer of recent plans is kept, by identity: a plan is frozen,
# and the plan itself is kept beside its names so that its id cannot be reused.
_NAMES: dict[int, tuple[SharePlan, frozenset[str]]] = {}
_NAMES_MAX = 256


def disclosure_names(plan: SharePlan) -> frozenset[str]:
    """The disclosure names the recipient may receive under ``plan``."""
    known = _NAMES.get(id(plan))
    if known is not None and known[0] is plan:
        return known[1]
    names = _disclosure_names(plan)
    if len(_NAMES) >= _NAMES_MAX:
        _NAMES.clear()
    _NAMES[id(plan)] = (plan, names)
    return names


def _disclosure_names(plan: SharePlan) -> frozenset[str]:
    if not plan.shared:
        return frozenset()
    names: set[str] = set()
    for code, visibility in plan.fields.items():
        if visibility is Visibility.CLEAR:
            names.add(code)
            if code in plan.relayed_masks:
                names.add(code + MASKED_SUFFIX)
        elif visibility is Visibility.MASKED:
            names.add(code + MASKED_SUFFIX)
    return frozenset(names)


def check_received(plan: SharePlan, received: Iterable[str]) -> None:
    """Refuse disclosures beyond what this node is entitled to (over-sharing).

    Args:
        plan: this node's own plan as the recipient.
        received: the disclosure names that arrived.

    Raises:
        ScopeViolationError: naming the first disclosure outside the entitlement,
            or the category if the record is not shared with this node at all.
    """
    if not plan.shared:
        # The record itself is outside the scope, even with every disclosure removed.
        raise ScopeViolationError(
            f"received a record of category {plan.category}, which is not shared with "
            f"{plan.recipient.describe()} (rule {plan.rule})"
        )
    allowed = disclosure_names(plan)
    extra = sorted(set(received) - allowed)
    if extra:
        raise ScopeViolationError(
            f"received disclosure {extra[0]!r} of category {plan.category}, outside the scope "
            f"of {plan.recipient.describe()} (rule {plan.rule}); {len(extra)} in excess"
        )


def node_relation(me: str, other: str) -> RecipientKind:
    """How node ``other`` stands to node ``me`` in the region-code tree.

    ``000000`` is the national node, ``XX0000`` provinces, ``XXXX00`` cities.
    """
    if other == me:
        return RecipientKind.OTHER_NODE
    if parent_node(me) == other:
        return RecipientKind.PARENT
    if parent_node(other) == me:
        return RecipientKind.CHILD
    return RecipientKind.OTHER_NODE
