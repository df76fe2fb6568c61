"""Joint discipline checks (联合奖惩, 逢办必查): what a department must do about a subject.

A department about to act (award a contract, grant a licence, hire) checks the
subject at its own node. The answer is computed here, from the notices the
node holds about the subject (black and red list entries), the catalog and
the measures list, for the department's domain:

``INTERCEPT``
    an in-force black-list notice carries a measure this domain implements,
    and that measure is not suspended by a pending objection.
``DISPUTED``
    nothing intercepts, but a black-list notice whose measures this domain
    would implement has an objection pending and its issuer paused the
    measures meanwhile (status ``suspended``, set by the issuer's signed
    statement under the issuer's ``objection_suspends`` rule).
``GREEN_CHANNEL``
    no in-force black-list notice at all, and an in-force red-list entry names
    this domain among its green domains (its incentives not suspended).
``CLEAR``
    none of the above.

Precedence is in that order: a measure that still applies always wins, so a
pending objection on a list whose measures stay in force during the objection
(status ``disputed``: e.g. 失信被执行人 under the national catalog) still
intercepts; its hit is flagged ``disputed``. Only the latest version of a
record counts, and only while its status is ``active``, ``disputed`` or
``suspended`` and its ``exp`` lies ahead: a corrected, revoked, repaired or
expired notice never intercepts. Plain records and
commitments are never notices. Which notices the department may see at all
is the sharing policy's business, decided at the edge before calling
:func:`decide_check`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.core.catalog import Catalog, Category, CategoryKind
from gateway.core.measures import MeasureKind, MeasuresList
from gateway.core.record_status import is_disputed, is_in_force, measures_paused

__all__ = [
    "BASIS_FIELDS",
    "CheckDecision",
    "CheckResult",
    "Hit",
    "MeasureView",
    "NoticeFacts",
    "basis_field",
    "decide_check",
]

BASIS_FIELDS = ("LB_YJ", "HM_YJ", "LB_ZXYJ", "CF_YJ")
"""Fields holding a notice's legal basis, tried in order (列入依据, 认定依据, 执行依据)."""

_NOTICE_KINDS = frozenset({CategoryKind.BLACKLIST, CategoryKind.REDLIST})


class CheckDecision(StrEnum):
    """The answer to a check, from most to least binding."""

    INTERCEPT = "intercept"
    DISPUTED = "disputed"
    GREEN_CHANNEL = "green_channel"
    CLEAR = "clear"


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
        fields: the disclosures the checking department may see (code -> value).
    """

    record_id: str
    version: int
    category: str
    issuer: str
    status: str
    exp: int
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MeasureView:
    """A measure as a check shows it: for the checking domain only."""

    code: str
    label: str
    kind: MeasureKind
    basis: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Hit:
    """One in-force notice found about the subject.

    Attributes:
        measures: the notice's measures that the checking domain implements.
        basis: the notice's own legal basis (``LB_YJ`` ...), ``""`` when it has none.
        disputed: an objection is pending (status ``disputed`` or ``suspended``).
        measures_suspended: disputed, and the issuer paused the measures meanwhile.
        intercepts: this notice alone makes the answer INTERCEPT.
        green: this red-list entry grants the checking domain a green channel.
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
    intercepts: bool
    green: bool

    @property
    def ref(self) -> str:
        """``record_id@version``, as the audit log names records."""
        return f"{self.record_id}@{self.version}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The decision and every in-force notice it was made from, intercepting ones first."""

    decision: CheckDecision
    hits: tuple[Hit, ...]

    @property
    def intercepting(self) -> tuple[Hit, ...]:
        """The hits whose measures apply now."""
        return tuple(h for h in self.hits if h.intercepts)


def basis_field(category: Category) -> str | None:
    """The field holding the legal basis of ``category``'s entries, if it has one."""
    return next((code for code in BASIS_FIELDS if category.has_field(code)), None)


def _latest(notices: Iterable[NoticeFacts]) -> list[NoticeFacts]:
    latest: dict[str, NoticeFacts] = {}
    for notice in notices:
        held = latest.get(notice.record_id)
        if held is None or notice.version > held.version:
            latest[notice.record_id] = notice
    return [latest[record_id] for record_id in sorted(latest)]


def _hit(notice: NoticeFacts, category: Category, domain: str, measures: MeasuresList) -> Hit:
    views = tuple(
        MeasureView(m.code, m.label, m.kind, m.basis)
        for m in measures.for_category(category, domain)
    )
    disputed = is_disputed(notice.status)
    # The issuer's statement says whether measures pause, not this node's catalog:
    # a holder under another supplement applies the issuer's rule (一处失信、处处受限).
    suspended = measures_paused(notice.status)
    blacklist = category.kind is CategoryKind.BLACKLIST
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
        intercepts=blacklist and bool(views) and not suspended,
        green=not blacklist and domain in category.green_domains and not suspended,
    )


def decide_check(
    notices: Sequence[NoticeFacts],
    *,
    domain: str,
    catalog: Catalog,
    measures: MeasuresList,
    now: int,
) -> CheckResult:
    """Decide a check for a department of ``domain`` (see the module docstring).

    Args:
        notices: every stored version about the subject that the department may
            see; other categories and stale versions are filtered out here.
        domain: the checking department's domain (``procurement`` ...).
        catalog: the node's catalog (list kinds, objection rules, green domains).
        measures: the node's measures list.
        now: unix seconds; a notice whose ``exp`` is not after it does not count.

    Returns:
        The decision and the in-force notices, intercepting ones first.

    Raises:
        RecordValidationError: a notice of a category the catalog lacks.
        NotFoundError: the catalog names a measure the list lacks.
    """
    hits: list[Hit] = []
    for notice in _latest(notices):
        category = catalog.category(notice.category)
        if category.kind not in _NOTICE_KINDS:
            continue
        if not is_in_force(notice.status) or notice.exp <= now:
            continue
        hits.append(_hit(notice, category, domain, measures))
    hits.sort(key=lambda h: (not h.intercepts, h.kind is not CategoryKind.BLACKLIST, h.record_id))
    negative = [h for h in hits if h.kind is CategoryKind.BLACKLIST]
    if any(h.intercepts for h in negative):
        decision = CheckDecision.INTERCEPT
    elif any(h.measures and h.measures_suspended for h in negative):
        decision = CheckDecision.DISPUTED
    elif not negative and any(h.green for h in hits):
        decision = CheckDecision.GREEN_CHANNEL
    else:
        decision = CheckDecision.CLEAR
    return CheckResult(decision, tuple(hits))
