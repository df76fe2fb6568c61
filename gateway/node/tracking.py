"""Following a record through the federation: where it went, and changing its status there.

:class:`RecordTracking` backs the Records service's Where and SetStatus: each is
one use case over the record queries (who may see the record) and the
federation parts (the delivery ledgers, the status statements).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.core.errors import ConfigurationError
from gateway.core.principal import Principal
from gateway.core.statements import StatusKind, StatusStatement
from gateway.node.federation import FederationParts
from gateway.node.peer_client import HolderView
from gateway.node.queries import RecordQueries

__all__ = ["RecordTracking", "Whereabouts"]


@dataclass(frozen=True, slots=True)
class Whereabouts:
    """A record as this node holds it, and every node it went to."""

    record_id: str
    issuer: str
    status: str
    holders: Sequence[HolderView]


class RecordTracking:
    """Where a record is, and status changes issued for it."""

    def __init__(self, queries: RecordQueries, federation: FederationParts | None) -> None:
        self._queries = queries
        self._federation = federation

    def _require_federation(self) -> FederationParts:
        if self._federation is None:
            raise ConfigurationError("this node runs without federation")
        return self._federation

    def where(self, principal: Principal, record_id: str) -> Whereabouts:
        """The record (readable by ``principal``) and the nodes holding it.

        Raises:
            ConfigurationError: this node runs without federation.
            NotFoundError, AccessDeniedError: as :meth:`RecordQueries.get_row`.
        """
        federation = self._require_federation()
        row = self._queries.get_row(principal, record_id, purpose="where")
        return Whereabouts(row.record_id, row.issuer, row.status, federation.where(record_id))

    def set_status(
        self, principal: Principal, *, kind: StatusKind, record_id: str, version: int, reason: str
    ) -> StatusStatement:
        """Issue a status statement for ``record_id`` (``version`` 0: its latest version).

        Raises:
            ConfigurationError: this node runs without federation.
            As :meth:`gateway.node.statuses.StatusService.issue`.
        """
        federation = self._require_federation()
        version = version or self._queries.latest_version(record_id)
        return federation.statuses.issue(
            principal, kind=kind, record_id=record_id, version=version, reason=reason
        )
