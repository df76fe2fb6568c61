"""Which epoch the node's own audit log is in at each size (:mod:`gateway.core.log_epoch`).

The publisher signs each checkpoint under the origin of its tree's epoch and
sends the first checkpoint of a new epoch with the incident that opens it.
Incidents are rare: they are read once from the store, by the action column,
and kept; each later call reads only the events appended since.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.log_epoch import INCIDENT_ACTION, EpochIncident
from gateway.store.audit import AuditFilter, AuditLogRepository

__all__ = ["LogEpochs", "OpeningIncident"]

_PAGE = 500


@dataclass(frozen=True, slots=True)
class OpeningIncident:
    """An incident event of the log: its index, its exact bytes, what it states."""

    seq: int
    data: bytes
    incident: EpochIncident


class LogEpochs:
    """The epochs of one node's log, read from its incident events."""

    def __init__(self, audit: AuditLogRepository) -> None:
        self._audit = audit
        self._incidents: list[OpeningIncident] = []
        self._scanned = 0

    def epoch_at(self, size: int) -> int:
        """The epoch of the tree of the first ``size`` events: its last incident's, or 1.

        Raises:
            MalformedError: an incident event does not state the checkpoint it follows.
            StorageError: the database failed.
        """
        opening = self.opening(size)
        return opening.incident.epoch if opening is not None else 1

    def opening(self, size: int) -> OpeningIncident | None:
        """The incident that opened the epoch of the tree of ``size`` events, if any.

        Raises:
            MalformedError: an incident event does not state the checkpoint it follows.
            StorageError: the database failed.
        """
        while self._scanned < size:
            page = self._audit.events(
                AuditFilter(action=INCIDENT_ACTION), after=self._scanned - 1, limit=_PAGE
            )
            for stored in page:
                if stored.seq < size:
                    incident = EpochIncident.parse(stored.event.detail)
                    self._incidents.append(OpeningIncident(stored.seq, stored.data, incident))
            if len(page) < _PAGE or page[-1].seq >= size:
                self._scanned = size
            else:
                self._scanned = page[-1].seq + 1
        held = [i for i in self._incidents if i.seq < size]
        return held[-1] if held else None
