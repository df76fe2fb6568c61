"""The measures list (《全国失信惩戒措施基础清单》 and supplements).

Each measure has a code (``M-PROC-01``), a kind (a restriction on the
dishonest, or an incentive for the trustworthy), an effect (what it does to a
check: prohibit, restrict, require heightened review, or reward), the
departmental domains that apply it, and its legal basis. Black-list categories
of the catalog name the restrictions they carry, red lists the incentives; a
department checking a subject gets the measures of its own domain.

Every measure needs a legal basis (国办发〔2020〕49号). A supplement adds the
measures of local regulations; it may never redefine or remove a national one,
so that a measure code means the same wherever a subject is checked.

Effects keep the answers proportionate (湖南 2021: 轻重适度, 防止小过重惩): only a
``prohibit`` measure bars the subject; ``restrict`` and ``review`` let the
department act after a closer look.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from gateway.core.catalog import Catalog, Category, CategoryKind, RecipientKind, Visibility
from gateway.core.catalog.supplements import ChainNames, SupplementChain
from gateway.core.catalog.toml_table import TomlTable, load_toml, read_header
from gateway.core.errors import CatalogError, NotFoundError
from gateway.core.identifiers import SubjectType

__all__ = [
    "Measure",
    "MeasureEffect",
    "MeasureKind",
    "MeasuresDocument",
    "MeasuresList",
    "check_catalog_measures",
    "load_measures",
    "merge_measures",
    "parse_measures",
    "person_measure_domains",
]

_CODE = re.compile(r"M-[A-Z]+-\d{2}")
_DOMAIN = re.compile(r"[a-z][a-z0-9_]*")


class MeasureKind(StrEnum):
    """A restriction (失信惩戒) or an incentive (守信激励)."""

    RESTRICTION = "restriction"
    INCENTIVE = "incentive"


class MeasureEffect(StrEnum):
    """What a measure does to a check in the domains that apply it.

    ``prohibit`` bars the subject (禁止: e.g. 限制参加政府采购活动);
    ``restrict`` lets the department act within limits (审慎授信, no
    告知承诺制); ``review`` asks for heightened review (列为重点监管对象);
    ``incentive`` rewards (绿色通道). The first three are restrictions, the last
    an incentive: :attr:`kind` gives the measure kind each effect belongs to.
    """

    PROHIBIT = "prohibit"
    RESTRICT = "restrict"
    REVIEW = "review"
    INCENTIVE = "incentive"

    @property
    def kind(self) -> MeasureKind:
        """The measure kind an effect belongs to."""
        if self is MeasureEffect.INCENTIVE:
            return MeasureKind.INCENTIVE
        return MeasureKind.RESTRICTION


_CHAIN_NAMES = ChainNames(
    entry="measures",
    noun="list",
    item="measure",
    redefine="a supplement may add measures, not redefine or remove them",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Measure:
    """One measure of the list.

    Attributes:
        code: e.g. ``M-PROC-01``.
        label: the Chinese name of the measure.
        kind: restriction or incentive.
        effect: what it does to a check; always of ``kind``.
        domains: the department domains that apply it (``procurement`` ...).
        basis: the legal basis, as cited in the list.
        on_persons: the measure also falls on the people the law restricts with a
            listed organisation (法定代表人, 主要负责人, 实际控制人, 直接责任人员:
            限制高消费, 限制出境, 担任董监高 ...), so a check on one of them
            carries it.
    """

    code: str
    label: str
    kind: MeasureKind
    effect: MeasureEffect
    domains: frozenset[str]
    basis: str
    on_persons: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class MeasuresDocument:
    """One parsed measures file: the national base or a supplement."""

    source: str
    region: str
    version: str
    title: str
    extends: str | None
    measures: Mapping[str, Measure]


@dataclass(frozen=True, slots=True)
class MeasuresList:
    """The merged measures list a node works with.

    Attributes:
        version: base and supplement versions, e.g. ``2025.1+330000.2025.1``.
        sources: the files merged, base first.
        measures: measure code -> measure.
    """

    version: str
    sources: tuple[str, ...]
    measures: Mapping[str, Measure]

    def measure(self, code: str) -> Measure:
        """The measure ``code``.

        Raises:
            NotFoundError: naming the code, if the list has no such measure.
        """
        try:
            return self.measures[code]
        except KeyError:
            raise NotFoundError(
                f"measure {code!r} is not in measures list {self.version}"
            ) from None

    def for_category(self, category: Category, domain: str) -> tuple[Measure, ...]:
        """The measures ``category`` carries that departments of ``domain`` apply.

        Raises:
            NotFoundError: if the category names a measure the list lacks
                (:func:`check_catalog_measures` prevents this at load time).
        """
        found = (self.measure(code) for code in category.measures)
        return tuple(m for m in found if domain in m.domains)


def _parse_measure(table: TomlTable) -> Measure:
    code = table.text("code")
    if not _CODE.fullmatch(code):
        raise table.error(f"measure code {code!r} is not of the form M-XXX-00")
    domains = table.texts("domains")
    if not domains:
        raise table.error("a measure needs the domains that apply it")
    for domain in domains:
        if not _DOMAIN.fullmatch(domain):
            raise table.error(f"domain {domain!r} is not a domain name")
    kind = table.required_choice("kind", MeasureKind)
    effect = table.required_choice("effect", MeasureEffect)
    if effect.kind is not kind:
        raise table.error(f"effect {effect} does not fit a measure of kind {kind}")
    measure = Measure(
        code=code,
        label=table.text("label"),
        kind=kind,
        effect=effect,
        domains=frozenset(domains),
        basis=table.text("basis"),
        on_persons=table.flag("persons", default=False),
    )
    if measure.on_persons and measure.kind is not MeasureKind.RESTRICTION:
        raise table.error("only a restriction falls on the persons of a listed organisation")
    table.close()
    return measure


def _code(measure: Measure) -> str:
    return measure.code


def parse_measures(text: str, *, source: str) -> MeasuresDocument:
    """Parse one measures file (TOML text).

    Args:
        text: the TOML text.
        source: the file name, named in every error.

    Returns:
        The parsed document; supplements still have to be merged.

    Raises:
        CatalogError: naming the source and the entry: malformed TOML, unknown
            keys, wrong types, bad codes or domains, duplicate codes, an
            effect that does not fit the measure's kind.
    """
    root = load_toml(text, source=source)
    version, region, title, extends = read_header(root, "measures")
    measures = root.coded_tables(
        "measure", what="measure", code_key="code", parse=_parse_measure, code=_code
    )
    root.close()
    return MeasuresDocument(
        source=source,
        region=region,
        version=version,
        title=title,
        extends=extends,
        measures=MappingProxyType(measures),
    )


def merge_measures(base: MeasuresDocument, *supplements: MeasuresDocument) -> MeasuresList:
    """Merge the national list with supplements, which may only add measures.

    Raises:
        CatalogError: naming the supplement and the measure, if it redefines a
            measure, or the chain of documents is inconsistent.
    """
    chain = SupplementChain(base, base.measures, names=_CHAIN_NAMES)
    for doc in supplements:
        chain.add(doc, doc.measures)
    return MeasuresList(chain.version, chain.sources, MappingProxyType(chain.entries))


def load_measures(texts: Sequence[tuple[str, str]]) -> MeasuresList:
    """Parse and merge ``(source, text)`` pairs; the first is the national base.

    Raises:
        CatalogError: as :func:`parse_measures` and :func:`merge_measures`.
    """
    documents = [parse_measures(text, source=source) for source, text in texts]
    if not documents:
        raise CatalogError("no measures files given; the national base is required")
    return merge_measures(documents[0], *documents[1:])


def _department_domains(category: Category) -> frozenset[str]:
    domains: set[str] = set()
    for rule in category.share_rules:
        if rule.recipient is RecipientKind.DEPARTMENT:
            domains |= rule.domains
    return frozenset(domains)


def check_catalog_measures(catalog: Catalog, measures: MeasuresList) -> None:
    """Check that the catalog's list categories and the measures list fit together.

    Every measure a category names must exist and be of the list's kind
    (restrictions for black lists, incentives for red lists); every domain
    that applies one must be able to see the category (or a check there
    could never find the notice); a red list's green domains must be domains
    of its incentives. A category that names people restricted with the
    subject (``person`` fields) must carry a measure that falls on them, and
    their numbers, the key of those measures, go in clear only to nodes and
    to departments of the domains that apply such a measure: every other
    recipient gets the masked variant at most.

    Raises:
        CatalogError: naming the catalog, the category and the measure.
    """
    source = " + ".join(catalog.sources)
    wanted = {
        CategoryKind.BLACKLIST: MeasureKind.RESTRICTION,
        CategoryKind.REDLIST: MeasureKind.INCENTIVE,
    }
    for category in catalog.categories.values():
        entry = f"category {category.code}"
        visible = _department_domains(category)
        applied: set[str] = set()
        for code in category.measures:
            measure = measures.measures.get(code)
            if measure is None:
                raise CatalogError(
                    f"measure {code} is not in measures list {measures.version}",
                    source=source,
                    entry=entry,
                )
            if measure.kind is not wanted.get(category.kind):
                raise CatalogError(
                    f"measure {code} is of kind {measure.kind}, "
                    f"which a {category.kind} cannot carry",
                    source=source,
                    entry=entry,
                )
            unseen = sorted(measure.domains - visible) if "*" not in visible else []
            if unseen:
                raise CatalogError(
                    f"measure {code} applies in domain {unseen[0]}, but no share rule "
                    "grants departments there",
                    source=source,
                    entry=entry,
                )
            applied |= measure.domains
        stray = sorted(category.green_domains - applied)
        if stray:
            raise CatalogError(
                f"green domain {stray[0]} has no incentive measure of the category",
                source=source,
                entry=entry,
            )
        _check_person_fields(category, measures, source=source)


_NODE_RECIPIENTS = frozenset({RecipientKind.PARENT, RecipientKind.CHILD, RecipientKind.OTHER_NODE})


def person_measure_domains(category: Category, measures: MeasuresList) -> frozenset[str]:
    """The domains that apply a measure of ``category`` falling on its people."""
    domains: set[str] = set()
    for code in category.measures:
        measure = measures.measures.get(code)
        if measure is not None and measure.on_persons:
            domains |= measure.domains
    return frozenset(domains)


def _check_person_fields(category: Category, measures: MeasuresList, *, source: str) -> None:
    if not category.person_fields:
        return
    entry = f"category {category.code}"
    allowed = person_measure_domains(category, measures)
    if not allowed:
        raise CatalogError(
            "names people restricted with the subject, but carries no measure that falls on them",
            source=source,
            entry=entry,
        )
    for rule in category.share_rules:
        if rule.recipient in _NODE_RECIPIENTS:
            continue
        department = rule.recipient is RecipientKind.DEPARTMENT
        if department and rule.domains <= allowed:
            continue
        for spec in category.person_fields:
            if rule.visibility(spec, SubjectType.LEGAL_PERSON) is Visibility.CLEAR:
                raise CatalogError(
                    f"share rule {rule.rule_id} shows person field {spec.code} in clear, "
                    "but only nodes and departments applying a measure on persons "
                    f"({', '.join(sorted(allowed))}) may see it",
                    source=source,
                    entry=entry,
                )
