"""What a checking department may see of the records a check reads, kept between checks.

Every check decides the sharing plan of each record it reads for the checking
department (:func:`gateway.core.policy.decide`) and redacts the record's SD-JWT
by that plan (:func:`gateway.core.records.redact_record`, then
:func:`~gateway.core.records.display_fields`): the same work for the same
record, department and catalog at every check of the same subject. Both are pure
functions of what they are given, so :class:`CheckViews` keeps their results:

* a plan per (category, recipient, subject type), for the one catalog the views
  were made with (a node's catalog does not change while it runs);
* the fields a plan lets its recipient see of a record, per (record id, version,
  plan), kept beside the very SD-JWT they were redacted from: a kept entry is
  used only for a row carrying that same SD-JWT, so a new version (or any other
  change of the stored token) is redacted anew.

Both maps are bounded: when one is full it is emptied (and filled again by the
next checks). Threads share them; at worst two threads compute the same entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from gateway.core.catalog import Catalog
from gateway.core.identifiers import SubjectType
from gateway.core.policy import Recipient, SharePlan, decide
from gateway.core.records import display_fields, redact_record

__all__ = ["CheckViews"]

# A plan per category, department recipient and subject type: a few hundred at most.
_MOST_PLANS = 1024
# Records' views: each keeps its SD-JWT (a few KiB), so about 8 MiB when full.
_MOST_FIELDS = 2048

_PlanKey = tuple[str, Recipient, SubjectType]


class CheckViews:
    """Sharing plans and redacted fields of records, for one catalog.

    Args:
        catalog: the catalog every plan is decided from.
        most_plans: plans kept before the map is emptied.
        most_fields: records' fields kept before the map is emptied.
    """

    def __init__(
        self, catalog: Catalog, *, most_plans: int = _MOST_PLANS, most_fields: int = _MOST_FIELDS
    ) -> None:
        self._catalog = catalog
        self._most_plans = most_plans
        self._most_fields = most_fields
        self._plans: dict[_PlanKey, SharePlan] = {}
        # (record id, version, plan key) -> (the SD-JWT redacted, the fields it shows).
        self._fields: dict[tuple[str, int, _PlanKey], tuple[str, Mapping[str, str]]] = {}

    def plan(self, category: str, recipient: Recipient, subject_type: SubjectType) -> SharePlan:
        """``decide(catalog.category(category), recipient, subject_type)``.

        Raises:
            RecordValidationError: the catalog has no such category (nothing is kept).
        """
        key = (category, recipient, subject_type)
        plan = self._plans.get(key)
        if plan is None:
            plan = decide(self._catalog.category(category), recipient, subject_type)
            if len(self._plans) >= self._most_plans:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def fields(
        self,
        record_id: str,
        version: int,
        sd_jwt: str,
        *,
        category: str,
        recipient: Recipient,
        subject_type: SubjectType,
    ) -> Mapping[str, str]:
        """What :meth:`plan` lets ``recipient`` see of a record's ``sd_jwt``, read-only.

        ``display_fields(redact_record(sd_jwt, plan(category, recipient, subject_type)))``.

        Raises:
            RecordValidationError: the catalog has no such category.
        """
        key = (record_id, version, (category, recipient, subject_type))
        kept = self._fields.get(key)
        if kept is not None and kept[0] == sd_jwt:
            return kept[1]
        plan = self.plan(category, recipient, subject_type)
        shown: Mapping[str, str] = MappingProxyType(display_fields(redact_record(sd_jwt, plan)))
        if len(self._fields) >= self._most_fields:
            self._fields.clear()
        self._fields[key] = (sd_jwt, shown)
        return shown
