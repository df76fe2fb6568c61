"""The catalog's data model: categories, their fields and sharing rules, documents."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.core.errors import RecordValidationError
from gateway.core.identifiers import SubjectType
from gateway.core.masking import MaskRule

__all__ = [
    "ANY_DOMAIN",
    "LOCAL_DECISION",
    "Catalog",
    "CatalogDocument",
    "Category",
    "CategoryAmendment",
    "CategoryKind",
    "FieldChange",
    "FieldSpec",
    "FieldType",
    "ObjectionSuspends",
    "PersonRole",
    "RecipientKind",
    "Sensitivity",
    "Severity",
    "ShareRule",
    "Visibility",
]


ANY_DOMAIN = "*"
"""In ``filing_domains`` and department share rules: every department domain."""

LOCAL_DECISION = "local_decision"
"""``period_basis`` of a period that no national source fixes: a local decision."""


class Sensitivity(StrEnum):
    """How sensitive a field is, from least to most: public < restricted < personal."""

    PUBLIC = "public"
    RESTRICTED = "restricted"
    PERSONAL = "personal"

    @property
    def rank(self) -> int:
        """0 for public, 1 for restricted, 2 for personal."""
        return tuple(Sensitivity).index(self)


class ObjectionSuspends(StrEnum):
    """When an objection pauses a list's measures (异议期间暂不执行), from latest to earliest.

    ``never``: measures stay in force while the objection is verified; checks only
    flag it (court lists). ``on_acceptance``: measures pause once the issuer accepts
    the objection. ``on_filing``: they pause as soon as the objection reaches the
    issuer (Huzhou 2018: 联合惩戒措施在信息核实期间暂不执行).
    """

    NEVER = "never"
    ON_ACCEPTANCE = "on_acceptance"
    ON_FILING = "on_filing"

    @property
    def earliness(self) -> int:
        """0 for never, 1 for on_acceptance, 2 for on_filing (a supplement may only raise it)."""
        return tuple(ObjectionSuspends).index(self)


class Severity(StrEnum):
    """Severity of dishonesty (NDRC credit repair rules, 2025): minor, general, serious."""

    MINOR = "minor"
    GENERAL = "general"
    SERIOUS = "serious"


class Visibility(StrEnum):
    """What a recipient gets of a field, from loosest to strictest: clear < masked < withheld."""

    CLEAR = "clear"
    MASKED = "masked"
    WITHHELD = "withheld"

    @property
    def strictness(self) -> int:
        """0 for clear, 1 for masked, 2 for withheld."""
        return tuple(Visibility).index(self)

    def stricter(self, other: Visibility) -> Visibility:
        """The stricter of ``self`` and ``other``."""
        return self if self.strictness >= other.strictness else other


class RecipientKind(StrEnum):
    """Who a share rule is written for."""

    PARENT = "parent"
    CHILD = "child"
    OTHER_NODE = "other_node"
    DEPARTMENT = "department"
    AUDITOR = "auditor"
    PUBLIC = "public"


class CategoryKind(StrEnum):
    """What a category records: plain records, a black list, a red list or commitments."""

    RECORD = "record"
    BLACKLIST = "blacklist"
    REDLIST = "redlist"
    COMMITMENT = "commitment"

    @property
    def is_list(self) -> bool:
        """True for black and red lists, whose entries reach every node (一处失信、处处受限)."""
        return self in (CategoryKind.BLACKLIST, CategoryKind.REDLIST)


class PersonRole(StrEnum):
    """A person the law restricts together with a listed organisation.

    失信被执行人为单位的, 其法定代表人、主要负责人、影响债务履行的直接责任人员、
    实际控制人 (法释〔2015〕17号 第三条); the joint-discipline memoranda name the
    same people for the other lists.
    """

    LEGAL_REPRESENTATIVE = "legal_representative"
    PRINCIPAL = "principal"
    ACTUAL_CONTROLLER = "actual_controller"
    RESPONSIBLE_PERSON = "responsible_person"

    @property
    def label(self) -> str:
        """The Chinese name of the role."""
        return _PERSON_LABELS[self]


_PERSON_LABELS = {
    PersonRole.LEGAL_REPRESENTATIVE: "法定代表人",
    PersonRole.PRINCIPAL: "主要负责人",
    PersonRole.ACTUAL_CONTROLLER: "实际控制人",
    PersonRole.RESPONSIBLE_PERSON: "直接责任人员",
}


class FieldType(StrEnum):
    """The value type of a field; see ``gateway.core.record_fields`` for the checks."""

    STRING = "string"
    TEXT = "text"
    DATE = "date"
    DECIMAL = "decimal"
    INTEGER = "integer"
    ENUM = "enum"
    USCC = "uscc"
    ID_NUMBER = "id_number"
    REGION = "region"


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldSpec:
    """One field of a category, by its 双公示 code.

    Attributes:
        code: the field code (``CF_WSH``), unique within its category.
        label: the Chinese label.
        type: the value type.
        required: whether every record must carry it.
        sensitivity: how sensitive the field is.
        mask: how its masked-variant disclosure is made; None: it has none.
        max_chars: the longest value accepted, in characters.
        allowed: the allowed values of an ENUM field.
        id_type_field: for ID_NUMBER fields, the companion field naming the id kind.
        subject: the subject block the field belongs to; None: any subject.
        natural_person_sensitivity: a stricter sensitivity when the record's subject
            is a natural person (``XDR_MC`` is a company name or a person's name).
        person: on the citizen-number field of a person the law restricts with a
            listed organisation (``FR_ZJHM``: its legal representative), that
            person's role; nodes index these numbers so that a check on the
            person finds the listing.
    """

    code: str
    label: str
    type: FieldType
    required: bool
    sensitivity: Sensitivity
    mask: MaskRule | None
    max_chars: int
    allowed: tuple[str, ...] = ()
    id_type_field: str | None = None
    subject: SubjectType | None = None
    natural_person_sensitivity: Sensitivity | None = None
    person: PersonRole | None = None

    def sensitivity_for(self, subject_type: SubjectType | None = None) -> Sensitivity:
        """The field's sensitivity in a record about ``subject_type``.

        ``None`` (subject unknown) gives the strictest reading, so that a caller
        that does not know the subject fails closed.
        """
        special = self.natural_person_sensitivity
        if special is None or subject_type is SubjectType.LEGAL_PERSON:
            return self.sensitivity
        return special if special.rank > self.sensitivity.rank else self.sensitivity


@dataclass(frozen=True, slots=True, kw_only=True)
class ShareRule:
    """A grant: what one kind of recipient gets of a category's records.

    Attributes:
        recipient: the recipient kind.
        domains: departments only: the domains granted; ``"*"`` is every domain.
        roles: departments only: the client roles granted.
        by_sensitivity: visibility per field sensitivity; missing means withheld.
        fields: per-field overrides of ``by_sensitivity``.
        rule_id: names the rule in audit events and denials.
    """

    recipient: RecipientKind
    domains: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    by_sensitivity: Mapping[Sensitivity, Visibility] = field(default_factory=dict)
    fields: Mapping[str, Visibility] = field(default_factory=dict)
    rule_id: str

    def visibility(self, spec: FieldSpec, subject_type: SubjectType | None = None) -> Visibility:
        """What this rule grants of ``spec`` in a record about ``subject_type``.

        A field override wins over the sensitivity table; a sensitivity the
        table does not list is withheld, and "masked" on a field without a mask
        rule is withheld, because there is no masked variant to send. Without
        ``subject_type`` the field's strictest sensitivity applies (fail
        closed): a company's name is then treated like a person's.
        """
        if spec.code in self.fields:
            granted = self.fields[spec.code]
        else:
            sensitivity = spec.sensitivity_for(subject_type)
            granted = self.by_sensitivity.get(sensitivity, Visibility.WITHHELD)
        if granted is Visibility.MASKED and spec.mask is None:
            return Visibility.WITHHELD
        return granted


@dataclass(frozen=True, slots=True, kw_only=True)
class Category:
    """One category of the catalog (行政处罚, 失信被执行人 ...).

    Attributes:
        subject_fields: subject type -> the field carrying that subject's identifier.
        document_field: the decision document number (``CF_WSH``).
        decision_date_field: the decision date, start of the disclosure period.
        severity_field: an ENUM field giving the record's severity; None: default.
        periods_months: disclosure period per severity, from the decision date.
        repair_min_months: time after the decision before credit repair may be asked.
        sd_size: fixed size of the ``_sd`` array; decoys fill what fields leave.
        measures: measure codes (measures list) that a list category carries.
        green_domains: red lists: department domains that grant a green channel.
        check_reference: records of the category count in a check (信用记录作为
            重要参考依据): each one in force that the checking department may see
            is returned as a reference hit. Lists are always checked.
        review_domains: severity -> department domains where a record of that
            severity in force makes the check ask for heightened review (REVIEW).
        filing_domains: the department domains that may file the category
            (谁产生、谁负责: courts file 失信被执行人); ``"*"``: any department
            (a list every competent authority keeps); empty: any department
            (plain records only: the rules require lists to name their filers).
        basis: the legal basis that establishes the category (a list's founding
            measure: 重大税收违法失信主体信息公布管理办法 ...); lists must name one.
        period_basis: where ``periods_months`` comes from: a citation, or
            :data:`LOCAL_DECISION` when the founding measure's own period is not
            recorded and the value is this federation's decision within the
            NDRC bounds; lists must give one.
        objection_suspends: when an objection pauses the measures of the
            category's entries; the issuer's rule governs at every holder.
        publication_deadline_field: a DATE field that may end disclosure earlier.
        reporting_working_days: the working days after the decision within
            which a department must report it (行政许可/行政处罚: 7); None: no
            per-record deadline (reported at least monthly).
        subject_type_field: an ENUM field naming the subject type (``XDR_LB``).
        subject_type_values: its values, mapped to subject types.
    """

    code: str
    label: str
    kind: CategoryKind
    fields: tuple[FieldSpec, ...]
    subject_fields: Mapping[SubjectType, str]
    document_field: str
    decision_date_field: str
    severity_field: str | None
    default_severity: Severity
    periods_months: Mapping[Severity, int]
    publishable: bool
    objection_suspends: ObjectionSuspends
    objection_deadline_days: int
    repair_min_months: Mapping[Severity, int]
    sd_size: int
    share_rules: tuple[ShareRule, ...]
    measures: tuple[str, ...] = ()
    green_domains: frozenset[str] = frozenset()
    check_reference: bool = False
    review_domains: Mapping[Severity, frozenset[str]] = field(default_factory=dict)
    filing_domains: frozenset[str] = frozenset()
    basis: str = ""
    period_basis: str = ""
    publication_deadline_field: str | None = None
    reporting_working_days: int | None = None
    subject_type_field: str | None = None
    subject_type_values: Mapping[str, SubjectType] = field(default_factory=dict)
    _by_code: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Field lookups are on the intake and receive hot paths: index them once.
        object.__setattr__(self, "_by_code", {spec.code: spec for spec in self.fields})

    def field(self, code: str) -> FieldSpec:
        """The field ``code`` of this category.

        Raises:
            RecordValidationError: naming the field, if the category does not list it.
        """
        spec = self._by_code.get(code)
        if spec is not None:
            return spec
        raise RecordValidationError(
            f"field {code} is not in the catalog for category {self.code}", field=code
        )

    def has_field(self, code: str) -> bool:
        """Whether the category lists field ``code``."""
        return code in self._by_code

    @property
    def person_fields(self) -> tuple[FieldSpec, ...]:
        """The citizen-number fields of the people restricted with the subject."""
        return tuple(spec for spec in self.fields if spec.person is not None)

    @property
    def field_codes(self) -> tuple[str, ...]:
        """The field codes, in catalog order."""
        return tuple(spec.code for spec in self.fields)

    @property
    def disclosure_count(self) -> int:
        """Disclosures a full record needs: one per field plus one per masked variant."""
        return len(self.fields) + sum(1 for spec in self.fields if spec.mask is not None)

    def severity_of(self, values: Mapping[str, str]) -> Severity:
        """The severity a record with field ``values`` records (the default without one)."""
        field_code = self.severity_field
        if field_code is not None and field_code in values:
            return Severity(values[field_code])
        return self.default_severity

    @property
    def period_is_local_decision(self) -> bool:
        """Whether the period is this federation's decision, not the founding measure's."""
        return self.period_basis == LOCAL_DECISION

    def may_be_filed_by(self, domain: str | None) -> bool:
        """Whether a department of ``domain`` may file the category (谁产生、谁负责)."""
        filers = self.filing_domains
        return not filers or ANY_DOMAIN in filers or (domain is not None and domain in filers)

    @property
    def is_dishonesty(self) -> bool:
        """Whether the NDRC credit repair rules govern its periods (black lists, graded records)."""
        return self.kind is CategoryKind.BLACKLIST or (
            self.kind is CategoryKind.RECORD and self.severity_field is not None
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FieldChange:
    """A supplement's tightening of one existing field (None: unchanged)."""

    code: str
    sensitivity: Sensitivity | None = None
    max_chars: int | None = None
    mask: MaskRule | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryAmendment:
    """A supplement's changes to a category defined by an earlier document.

    Every attribute left at its default changes nothing. Share rules replace the
    earlier rule with the same ``rule_id``.
    """

    category: str
    add_fields: tuple[FieldSpec, ...] = ()
    remove_fields: tuple[str, ...] = ()
    field_changes: tuple[FieldChange, ...] = ()
    periods_months: Mapping[Severity, int] = field(default_factory=dict)
    repair_min_months: Mapping[Severity, int] = field(default_factory=dict)
    publishable: bool | None = None
    objection_suspends: ObjectionSuspends | None = None
    objection_deadline_days: int | None = None
    sd_size: int | None = None
    share_rules: tuple[ShareRule, ...] = ()
    add_measures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class CatalogDocument:
    """One parsed catalog file: the national base or a supplement.

    Attributes:
        source: the file name, for error messages.
        region: the GB/T 2260 code of the issuing level (``000000`` for the base).
        extends: the region whose catalog this supplements; None for the base.
        categories: categories this document defines.
        amendments: changes to categories defined by earlier documents.
    """

    source: str
    region: str
    version: str
    title: str
    extends: str | None
    categories: Mapping[str, Category]
    amendments: tuple[CategoryAmendment, ...] = ()


@dataclass(frozen=True, slots=True)
class Catalog:
    """The merged catalog a node works with.

    Attributes:
        version: base and supplement versions, e.g. ``2025.1+330000.2025.1``.
        sources: the files merged, base first.
        categories: category code -> category.
    """

    version: str
    sources: tuple[str, ...]
    categories: Mapping[str, Category]

    def category(self, code: str) -> Category:
        """The category ``code``.

        Raises:
            RecordValidationError: naming the category, if the catalog has none such.
        """
        try:
            return self.categories[code]
        except KeyError:
            raise RecordValidationError(
                f"category {code!r} is not in catalog {self.version}"
            ) from None
