"""Joint discipline checks (联合奖惩, 逢办必查): what a department must do about a subject.

A department about to act (award a contract, grant a licence, hire) checks the
subject at its own node. The answer is computed here, from what the node holds
about the subject that the department may see: black- and red-list notices,
and the credit records the catalog says a check weighs (``check_reference``,
e.g. administrative penalties), with the catalog and the measures list, for
the department's domain. Each in-force item is a hit, and each hit alone leads
to one of these outcomes:

``INTERCEPT``
    a black-list notice carries a measure of this domain whose effect is
    ``prohibit``, and its measures are not suspended by a pending objection.
``DISPUTED``
    a notice (or weighed record) whose measures this domain would apply has an
    objection pending and its issuer paused the measures meanwhile (status
    ``suspended``, set by the issuer's signed statement under the issuer's
    ``objection_suspends`` rule).
``REVIEW``
    a black-list notice carries only ``restrict`` or ``review`` measures of
    this domain (经营异常名录: 审慎审查, not a ban), or a credit record of a
    severity the catalog's ``review_domains`` names for this domain is in force
    (a serious administrative penalty in procurement).
``GREEN_CHANNEL``
    a red-list entry names this domain among its green domains (its
    incentives not suspended).
``CLEAR``
    nothing of the above: a notice with no measure of this domain, or a credit
    record shown for reference only.

The answer is the most binding outcome, in that order (:func:`strongest`),
with one exception: a green channel is only for a subject with no dishonesty
in force at all (no black-list notice and no graded credit record such as a
penalty, whatever domain they bind), as 守信激励 rewards a clean record.

Why this order: a measure that prohibits and still applies always wins, so a
pending objection on a list whose measures stay in force (失信被执行人, listed
by the courts, under the national catalog: status ``disputed``) still
intercepts, its hit flagged ``disputed``. A suspended measure comes next: the
department must not apply it while the objection is checked
(联合惩戒措施在信息核实期间暂不执行), yet must not treat the subject as clear,
and what is held back may be heavier than any review; the hits still carry
every reason, so a REVIEW in force beside it is not lost. Heightened review
outranks a reward.

Only the latest version of a record counts, and only while its status is
``active``, ``disputed`` or ``suspended`` and its ``exp`` lies ahead: a
corrected, revoked, repaired or expired record never counts. Which records the department may
see, and which of their fields, is the sharing policy's business, decided at
the edge before calling :func:`decide_check`; the decision reads only what the
department may see, so an answer never tells it more than its scope allows.

A check on a person also finds the notices that name them with a listed
organisation (its legal representative, actual controller ...): such a hit
names the listed subject and carries only the measures that fall on persons
(限制高消费, 限制出境, 担任董监高 ...).

A natural person under 18 at the time of the check (民法典 第十七条; the birth
date is in the citizen number) is flagged for 宽容审慎 handling (湖南 2021:
对未成年人失信行为…宽容审慎): the flag informs, it does not change the decision.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from gateway.core.catalog import Catalog, Category, CategoryKind, PersonRole, Severity
from gateway.core.identifiers import SubjectType, age_on, citizen_birth_date
from gateway.core.measures import MeasureEffect, MeasureKind, MeasuresList
from gateway.core.record_status import is_disputed, is_in_force, measures_paused
from gateway.core.records import CHINA_STANDARD_TIME

__all__ = [
    "ADULT_AGE",
    "BASIS_FIELDS",
    "CheckDecision",
    "CheckResult",
    "Hit",
    "HitTerms",
    "MeasureView",
    "NoticeFacts",
    "basis_field",
    "decide_check",
    "is_minor",
    "strongest",
]

BASIS_FIELDS = ("LB_YJ", "HM_YJ", "LB_ZXYJ", "CF_YJ")
"""Fields holding a notice's legal basis, tried in order (列入依据, 认定依据, 执行依据)."""

ADULT_AGE = 18
"""Age of majority (民法典 第十七条: 十八周岁以上的自然人为成年人)."""


class CheckDecision(StrEnum):
    """The answer to a check, from most to least binding (the order is the precedence)."""

    INTERCEPT = "intercept"
    DISPUTED = "disputed"
    REVIEW = "review"
    GREEN_CHANNEL = "green_channel"
    CLEAR = "clear"

    @property
    def precedence(self) -> int:
        """0 for the most binding answer (INTERCEPT), 4 for CLEAR."""
        return _ORDER.index(self)


_ORDER = tuple(CheckDecision)

_EFFECT_OUTCOME = {
    MeasureEffect.PROHIBIT: CheckDecision.INTERCEPT,
    MeasureEffect.RESTRICT: CheckDecision.REVIEW,
    MeasureEffect.REVIEW: CheckDecision.REVIEW,
}


def strongest(outcomes: Iterable[CheckDecision]) -> CheckDecision:
    """The most binding of ``outcomes``; CLEAR when there are none."""
    return min(outcomes, key=lambda d: d.precedence, default=CheckDecision.CLEAR)


@dataclass(frozen=True, slots=True, kw_only=True)
class NoticeFacts:
    """One stored record version about the subject, as the edge read it.

    Attributes:
        record_id: the record id.
        version: the stored version.
        category: its catalog category code.
        issuer: the node that issued (and signed) it.
        status: its stored status (``active``, ``disputed``, ``suspended``, ``revoked`` ...).
        exp: end of disclosure, unix seconds.
        fields: the disclosures the checking department may see (code -> value;
            the masked variant where only that is shown).
        person: the notice was found through a person it names with the listed
            subject (its legal representative ...), in this role; None: the
            notice is about the checked subject itself.
        listed_subject: with ``person``, the listed subject's identifier.
    """

    record_id: str
    version: int
    category: str
    issuer: str
    status: str
    exp: int
    fields: Mapping[str, str] = field(default_factory=dict)
    person: PersonRole | None = None
    listed_subject: str = ""


@dataclass(frozen=True, slots=True)
class MeasureView:
    """A measure as a check shows it: for the checking domain only."""

    code: str
    label: str
    kind: MeasureKind
    basis: str
    effect: MeasureEffect


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """One in-force notice or credit record found about the subject.

    Attributes:
        measures: the notice's measures that the checking domain implements.
        basis: the notice's own legal basis (``LB_YJ`` ...), ``""`` when it has none.
        disputed: an objection is pending (status ``disputed`` or ``suspended``).
        measures_suspended: disputed, and the issuer paused the measures meanwhile.
        outcome: what this hit alone makes the answer (see the module docstring).
        reason: why, in words, for the department.
        reference: a credit record (``check_reference``), not a list notice.
        severity: the severity the record or notice records.
        expires_at: end of its disclosure period, unix seconds.
        fields: what the department may see of it (code -> value).
        dishonesty: a black-list notice or a graded credit record (a penalty),
            which rules out a green channel.
        person: found through a person the notice names with its subject, in
            this role; its measures are then those that fall on persons.
        listed_subject: with ``person``, the listed subject's identifier.
        listed_name: with ``person``, the listed subject's name.
    """

    record_id: str
    version: int
    category: str
    kind: CategoryKind
    issuer: str
    status: str
    measures: tuple[MeasureView, ...]
    basis: str
    disputed: bool
    measures_suspended: bool
    outcome: CheckDecision
    reason: str
    reference: bool
    severity: Severity
    expires_at: int
    fields: Mapping[str, str]
    dishonesty: bool
    person: PersonRole | None = None
    listed_subject: str = ""
    listed_name: str = ""

    @property
    def intercepts(self) -> bool:
        """This hit alone makes the answer INTERCEPT."""
        return self.outcome is CheckDecision.INTERCEPT

    @property
    def green(self) -> bool:
        """This red-list entry grants the checking domain a green channel."""
        return self.outcome is CheckDecision.GREEN_CHANNEL

    @property
    def ref(self) -> str:
        """``record_id@version``, as the audit log names records."""
        return f"{self.record_id}@{self.version}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The decision and every in-force hit it was made from, most binding first.

    Attributes:
        decision: the answer.
        hits: notices and reference records, by outcome precedence.
        minor: the subject is a natural person under :data:`ADULT_AGE`.
        unread: categories with more records about the subject than a check
            reads; each that the catalog weighs in this domain makes the
            answer at least REVIEW (the unread records could hold one that counts).
    """

    decision: CheckDecision
    hits: tuple[Hit, ...]
    minor: bool = False
    unread: tuple[str, ...] = ()

    @property
    def intercepting(self) -> tuple[Hit, ...]:
        """The hits whose measures apply now."""
        return tuple(h for h in self.hits if h.intercepts)


def basis_field(category: Category) -> str | None:
    """The field holding the legal basis of ``category``'s entries, if it has one."""
    return next((code for code in BASIS_FIELDS if category.has_field(code)), None)


def is_minor(subject_type: SubjectType, subject_key: str, *, now: int) -> bool:
    """Whether the subject is a natural person under 18 on the day of ``now`` (China time).

    Raises:
        IdentifierError: a natural person's key that is not a valid citizen number.
    """
    if subject_type is not SubjectType.NATURAL_PERSON:
        return False
    today = datetime.fromtimestamp(now, CHINA_STANDARD_TIME).date()
    return age_on(citizen_birth_date(subject_key), today) < ADULT_AGE


def _latest(notices: Iterable[NoticeFacts]) -> list[NoticeFacts]:
    latest: dict[str, NoticeFacts] = {}
    for notice in notices:
        held = latest.get(notice.record_id)
        if held is None or notice.version > held.version:
            latest[notice.record_id] = notice
    return [latest[record_id] for record_id in sorted(latest)]


def _measures_outcome(
    category: Category, views: tuple[MeasureView, ...], domain: str, *, suspended: bool
) -> tuple[CheckDecision, str]:
    if category.kind is CategoryKind.REDLIST:
        if domain not in category.green_domains:
            return CheckDecision.CLEAR, f"no incentive of {category.code} in {domain}"
        if suspended:
            return CheckDecision.CLEAR, "objection pending: incentives suspended meanwhile"
        names = ", ".join(f"{m.code} {m.label}" for m in views)
        return CheckDecision.GREEN_CHANNEL, f"incentive: {names}"
    if not views:
        return CheckDecision.CLEAR, f"no measure of {category.code} applies in {domain}"
    if suspended:
        names = ", ".join(m.code for m in views)
        return CheckDecision.DISPUTED, f"objection pending: measures {names} suspended meanwhile"
    outcome = strongest(_EFFECT_OUTCOME[m.effect] for m in views)
    binding = [m for m in views if _EFFECT_OUTCOME[m.effect] is outcome]
    verb = "prohibited" if outcome is CheckDecision.INTERCEPT else "restricted, review required"
    reason = f"{verb}: " + ", ".join(f"{m.code} {m.label} ({m.effect})" for m in binding)
    return outcome, reason


def _record_outcome(
    category: Category, severity: Severity, domain: str, *, suspended: bool
) -> tuple[CheckDecision, str]:
    if domain not in category.review_domains.get(severity, frozenset()):
        return CheckDecision.CLEAR, f"{severity} {category.label} in force: for reference"
    if suspended:
        return (
            CheckDecision.DISPUTED,
            f"{severity} {category.label} under objection: not weighed meanwhile",
        )
    return (
        CheckDecision.REVIEW,
        f"{severity} {category.label} in force: the catalog weighs it in {domain}, review required",
    )


def _hit(notice: NoticeFacts, category: Category, domain: str, terms: HitTerms) -> Hit:
    disputed = is_disputed(notice.status)
    # The issuer's statement says whether measures pause, not this node's catalog:
    # a holder under another supplement applies the issuer's rule (一处失信、处处受限).
    suspended = measures_paused(notice.status)
    severity = category.severity_of(notice.fields)
    reference = not category.kind.is_list
    views, outcome, reason = terms.of(
        category,
        domain,
        # Through a person, only the measures that fall on persons apply.
        persons=notice.person is not None,
        suspended=suspended,
        severity=severity if reference else None,
    )
    if disputed and not suspended and outcome is not CheckDecision.CLEAR:
        reason += "; objection pending, measures stay in force meanwhile"
    field_code = basis_field(category)
    return Hit(
        record_id=notice.record_id,
        version=notice.version,
        category=category.code,
        kind=category.kind,
        issuer=notice.issuer,
        status=notice.status,
        measures=views,
        basis=notice.fields.get(field_code, "") if field_code else "",
        disputed=disputed,
        measures_suspended=suspended,
        outcome=outcome,
        reason=reason,
        reference=reference,
        severity=severity,
        expires_at=notice.exp,
        fields=dict(notice.fields),
        dishonesty=category.is_dishonesty,
        person=notice.person,
        listed_subject=notice.listed_subject if notice.person else "",
        listed_name=notice.fields.get("XDR_MC", "") if notice.person else "",
    )


class HitTerms:
    """What a hit's category says for a domain: the measures shown, the outcome and its reason.

    A pure function of the category, the domain, whether the notice was found
    through a person, whether its measures are paused and (for a weighed record)
    its severity, for one measures list: the same for every check of the same
    kind of notice by the same domain, so it is kept (:func:`decide_check` would
    otherwise build the same measure views and reason text at every check). A kept
    entry is used only for the very category object it was made from. Bounded:
    emptied when full. Threads share it; at worst two compute the same entry.

    Args:
        measures: the measures list every entry is taken from.
    """

    _MOST = 1024

    def __init__(self, measures: MeasuresList) -> None:
        self._measures = measures
        self._kept: dict[
            tuple[int, str, bool, bool, Severity | None],
            tuple[Category, tuple[MeasureView, ...], CheckDecision, str],
        ] = {}

    @property
    def measures(self) -> MeasuresList:
        """The measures list the terms are taken from."""
        return self._measures

    def of(
        self,
        category: Category,
        domain: str,
        *,
        persons: bool,
        suspended: bool,
        severity: Severity | None,
    ) -> tuple[tuple[MeasureView, ...], CheckDecision, str]:
        """The measures ``domain`` applies of ``category`` (on persons only with
        ``persons``), and the outcome and reason of a hit: by its measures for a list,
        by ``severity`` for a weighed record (``severity`` None: a list).

        Raises:
            NotFoundError: the category names a measure the list lacks.
        """
        key = (id(category), domain, persons, suspended, severity)
        kept = self._kept.get(key)
        if kept is not None and kept[0] is category:
            return kept[1], kept[2], kept[3]
        views = tuple(
            MeasureView(m.code, m.label, m.kind, m.basis, m.effect)
            for m in self._measures.for_category(category, domain)
            if not persons or m.on_persons
        )
        if severity is not None:
            outcome, reason = _record_outcome(category, severity, domain, suspended=suspended)
        else:
            outcome, reason = _measures_outcome(category, views, domain, suspended=suspended)
        if len(self._kept) >= self._MOST:
            self._kept.clear()
        self._kept[key] = (category, views, outcome, reason)
        return views, outcome, reason


def decide_check(
    notices: Sequence[NoticeFacts],
    *,
    domain: str,
    catalog: Catalog,
    measures: MeasuresList,
    now: int,
    minor: bool = False,
    unread: Collection[str] = (),
    terms: HitTerms | None = None,
) -> CheckResult:
    """Decide a check for a department of ``domain`` (see the module docstring).

    Args:
        notices: every stored version about the subject that the department may
            see, of list categories and of ``check_reference`` categories; other
            categories and stale versions are filtered out here.
        domain: the checking department's domain (``procurement`` ...).
        catalog: the node's catalog (list kinds, objection rules, green and
            review domains).
        measures: the node's measures list.
        now: unix seconds; a record whose ``exp`` is not after it does not count.
        minor: the subject is a minor (:func:`is_minor`), flagged in the result.
        unread: reference categories with more records than the edge read.
        terms: hit terms kept from check to check for ``measures`` (the node's
            discipline service keeps one); None, or kept for another list: made
            for this call.

    Returns:
        The decision and the in-force hits, most binding first.

    Raises:
        RecordValidationError: a record of a category the catalog lacks.
        NotFoundError: the catalog names a measure the list lacks.
    """
    if terms is None or terms.measures is not measures:
        terms = HitTerms(measures)
    hits: list[Hit] = []
    for notice in _latest(notices):
        category = catalog.category(notice.category)
        if not category.kind.is_list and not category.check_reference:
            continue
        if not is_in_force(notice.status) or notice.exp <= now:
            continue
        hits.append(_hit(notice, category, domain, terms))
    hits.sort(
        key=lambda h: (
            h.outcome.precedence,
            h.reference,
            h.kind is not CategoryKind.BLACKLIST,
            h.record_id,
        )
    )
    outcomes = [h.outcome for h in hits]
    skipped = tuple(sorted(unread))
    if any(domain in d for code in skipped for d in catalog.category(code).review_domains.values()):
        outcomes.append(CheckDecision.REVIEW)
    decision = strongest(outcomes)
    if decision is CheckDecision.GREEN_CHANNEL and any(h.dishonesty for h in hits):
        decision = CheckDecision.CLEAR
    return CheckResult(decision, tuple(hits), minor=minor, unread=skipped)
