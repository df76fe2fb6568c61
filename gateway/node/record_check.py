"""The receiver's checks of the records of one hop batch, with no store and no peer.

Each record verifies strictly against its issuer's signing certificate (valid at
its issue time), comes up from a child only if that child's branch issued it,
and carries no disclosure outside this node's entitlement. These checks need
only the trust material (the directory in force, the root), the catalog and the
limits, so they run the same in the node process (:class:`RecordCheck`) and in
the receive pool's worker processes (:mod:`gateway.node.receive_pool`), which
answer through the same :class:`RecordChecker` port.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.core.batch_items import is_item_fault
from gateway.core.catalog import Catalog
from gateway.core.errors import GatewayError
from gateway.core.identifiers import SubjectType
from gateway.core.limits import Limits
from gateway.core.policy import Recipient, SharePlan, check_received, decide, node_relation
from gateway.core.records import SignedRecord, verify_record
from gateway.core.routing import check_arrival
from gateway.node.trust import FederationTrust

__all__ = ["CheckedRecords", "RecordCheck", "RecordChecker"]

CheckedRecords = Sequence[SignedRecord | GatewayError]
"""One entry per record, in order: the verified record, or the item fault refusing it alone."""


class RecordChecker(Protocol):
    """Checks the records of one batch: in the node process, or in worker processes."""

    def check(
        self, sd_jwts: Sequence[str], *, sender: str, now: int, alone: bool
    ) -> CheckedRecords:
        """Verify ``sd_jwts`` sent by ``sender``, in order.

        With ``alone`` (a pushed batch, answered per item) a record that fails
        only an item fault (:func:`~gateway.core.batch_items.is_item_fault`)
        is returned as that error; any other fault raises, refusing the batch.

        Raises:
            VerificationError, PolicyError, ...: the first record in order
                whose fault refuses the whole batch.
        """
        ...


class RecordCheck:
    """:class:`RecordChecker` in this process, against ``trust`` as it is now."""

    def __init__(
        self,
        *,
        node_id: str,
        parent: str | None,
        catalog: Catalog,
        trust: FederationTrust,
        limits: Limits,
    ) -> None:
        self._node_id = node_id
        self._parent = parent
        self._catalog = catalog
        self._trust = trust
        self._limits = limits

    def check(
        self, sd_jwts: Sequence[str], *, sender: str, now: int, alone: bool
    ) -> CheckedRecords:
        """See :meth:`RecordChecker.check`."""
        # This node's plan as recipient, decided once per (category, subject type).
        plans: dict[tuple[str, SubjectType], SharePlan] = {}
        checked: list[SignedRecord | GatewayError] = []
        for sd_jwt in sd_jwts:
            try:
                checked.append(self._verify(sd_jwt, sender, now, plans))
            except GatewayError as exc:
                if not alone or not is_item_fault(exc):
                    raise
                checked.append(exc)
        return checked

    def _verify(
        self,
        sd_jwt: str,
        sender: str,
        now: int,
        plans: dict[tuple[str, SubjectType], SharePlan],
    ) -> SignedRecord:
        record = verify_record(
            sd_jwt,
            resolve_key=self._trust.resolve,
            key_owner=self._trust.owner,
            now=now,
            limits=self._limits,
        )
        self._trust.check_issued_within(record.key_id, record.issued_at)
        check_arrival(
            sender=sender, parent=self._parent, record_id=record.record_id, issuer=record.issuer
        )
        plan = plans.get((record.category, record.subject_type))
        if plan is None:
            category = self._catalog.category(record.category)
            me = Recipient(node_relation(sender, self._node_id), node_id=self._node_id)
            plan = plans[(record.category, record.subject_type)] = decide(
                category, me, record.subject_type
            )
        check_received(plan, _names(record))
        return record


def _names(record: SignedRecord) -> set[str]:
    return {*record.clear, *(f"{code}#masked" for code in record.masked)}
