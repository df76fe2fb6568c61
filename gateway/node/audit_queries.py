"""The auditor's reads of this node's audit log: events, entries, proofs, checkpoints.

Events are served as their exact stored bytes, so an auditor verifies what the
log hashed, never a re-serialisation. Reads of the log's contents (event
listings, subject access, a full read) are themselves audited; proofs,
checkpoints and certificates are not, as they disclose no event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from gateway.core.audit import Decision, event_by
from gateway.core.errors import InputError, NotFoundError
from gateway.core.limits import DEFAULT_LIMITS, Limits
from gateway.core.principal import Principal
from gateway.node.audit_log import WitnessClient, WitnessStatement
from gateway.node.queries import display_subject, normalise_subject
from gateway.store import AuditFilter, Store, StoredEvent
from gateway.store.checkpoints import CheckpointRepository, CheckpointRow, LogEntries, LogLeaf

__all__ = [
    "MAX_PAGE",
    "AuditQueries",
    "CheckpointsPage",
    "EntriesPage",
    "EventsPage",
    "InclusionProof",
    "SigningCertificates",
]

MAX_PAGE = 1000
_DECISIONS = {"", *(d.value for d in Decision)}


@dataclass(frozen=True, slots=True)
class EventsPage:
    """Events as stored, oldest first, and the token of the next page ("" at the end)."""

    events: Sequence[StoredEvent]
    next_page_token: str


@dataclass(frozen=True, slots=True)
class EntriesPage:
    """The log's leaves from a position (exact bytes, indexed columns), and the log's size now."""

    entries: Sequence[LogLeaf]
    tree_size: int


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """An event, its inclusion proof in the tree of ``size``, and that tree's checkpoint if any."""

    seq: int
    size: int
    hashes: Sequence[bytes]
    event: bytes
    checkpoint: str


@dataclass(frozen=True, slots=True)
class CheckpointsPage:
    checkpoints: Sequence[CheckpointRow]
    tree_size: int
    more: bool


@dataclass(frozen=True, slots=True)
class SigningCertificates:
    """This node's signing chain, and each witness's, PEM."""

    node_id: str
    certificate_chain: bytes
    witnesses: Sequence[tuple[str, bytes]]
    retired_chains: Sequence[bytes] = ()
    """The node's signing chains before its renewals (its key history)."""
    witness_retired: Mapping[str, Sequence[bytes]] = field(default_factory=dict)
    """Each witness's earlier signing chains, oldest first (it renewed its key since)."""


def _page(limit: int, default: int) -> int:
    if limit > MAX_PAGE:
        raise InputError(f"limit {limit} is over the maximum page of {MAX_PAGE}")
    return limit or default


def _after(token: str) -> int:
    if not token:
        return -1
    if not token.isdigit() or len(token) > 20:
        raise InputError("page token is not one this node issued")
    return int(token)


def _events_page(events: Sequence[StoredEvent], limit: int) -> EventsPage:
    shown = events[:limit]
    more = len(events) > limit
    return EventsPage(shown, str(shown[-1].seq) if more and shown else "")


class AuditQueries:
    """The auditor's view of this node's log."""

    def __init__(
        self,
        *,
        node_id: str,
        store: Store,
        entries: LogEntries,
        checkpoints: CheckpointRepository,
        signing_chain: bytes,
        witness: WitnessClient | None,
        clock: Callable[[], int],
        limits: Limits = DEFAULT_LIMITS,
        retired_chains: Sequence[bytes] = (),
    ) -> None:
        self._limits = limits
        self._retired_chains = tuple(retired_chains)
        self._node_id = node_id
        self._store = store
        self._entries = entries
        self._checkpoints = checkpoints
        self._signing_chain = signing_chain
        self._witness = witness
        self._clock = clock

    def _position(self, what: str, value: int) -> int:
        """``value`` if it can be a position in a log; the store is never asked past that."""
        limits = self._limits
        limits.check_range(what, value, 0, limits.max_log_entries, rule="limits:log-position")
        return value

    def _audit(self, principal: Principal, action: str, *, subject: str = "", detail: str) -> None:
        self._store.audit.append(
            [
                event_by(
                    principal,
                    node=self._node_id,
                    time=self._clock(),
                    action=action,
                    decision=Decision.ALLOWED,
                    rule="access-table:auditor",
                    subject=subject,
                    detail=detail,
                )
            ]
        )

    def list_events(
        self, principal: Principal, where: AuditFilter, *, page_token: str, limit: int
    ) -> EventsPage:
        """One page of events matching ``where``; the first page's read is audited.

        Raises:
            InputError: an unknown decision, a page over the maximum, a foreign token.
        """
        if where.decision not in _DECISIONS:
            raise InputError(f"decision must be allowed or denied, not {where.decision!r}")
        limit = _page(limit, 100)
        events = self._store.audit.events(where, after=_after(page_token), limit=limit + 1)
        if not page_token:
            self._audit(principal, "audit.list_events", subject=where.subject, detail=f"{where}")
        return _events_page(events, limit)

    def entries(self, principal: Principal, *, start: int, limit: int) -> EntriesPage:
        """The log's leaves from ``start``; a full read (from 0) is audited once.

        Raises:
            InputError: a page over the maximum.
            OutOfRangeError: ``start`` past any log (``max_log_entries``).
        """
        start = self._position("first entry", start)
        limit = _page(limit, MAX_PAGE)
        size = self._store.audit.size()
        entries = self._entries.leaves(start, limit)
        if start == 0:
            # A full read starts here: audit it once, not once per page.
            self._audit(principal, "audit.get_entries", detail=f"log of {size} events")
        return EntriesPage(entries, size)

    def inclusion_proof(self, *, seq: int, size: int) -> InclusionProof:
        """Prove event ``seq`` is in the tree of ``size`` (0: the latest checkpoint's).

        Raises:
            NotFoundError: no checkpoint yet, or the event is missing.
            InputError: no such event in a tree of that size.
        """
        if size == 0:
            latest = self._checkpoints.latest()
            if latest is None:
                raise NotFoundError("this node has published no checkpoint yet")
            size = latest.size
        current = self._store.audit.size()
        if not seq < size <= current:
            raise InputError(f"no event {seq} in a tree of {size} (log size {current})")
        found = self._entries.read(seq, 1)
        if not found or found[0][0] != seq:
            raise NotFoundError(f"event {seq} is missing from the log")
        proof = self._store.audit.inclusion_proof(seq, size)
        published = self._checkpoints.list(after_size=size - 1, limit=1)
        note = published[0].note if published and published[0].size == size else ""
        return InclusionProof(seq=seq, size=size, hashes=proof, event=found[0][1], checkpoint=note)

    def consistency_proof(self, size1: int, size2: int) -> Sequence[bytes]:
        """Prove the tree of ``size1`` is a prefix of the tree of ``size2``.

        Raises:
            InputError: sizes out of order or past the log.
        """
        current = self._store.audit.size()
        if not 0 < size1 <= size2 <= current:
            raise InputError(f"no consistency proof from {size1} to {size2} (log size {current})")
        return self._store.audit.consistency_proof(size1, size2)

    def checkpoints(self, *, after_size: int, limit: int) -> CheckpointsPage:
        """Published checkpoints past ``after_size``, with their cosignatures.

        Raises:
            InputError: a page over the maximum.
            OutOfRangeError: ``after_size`` past any log (``max_log_entries``).
        """
        after_size = self._position("checkpoint size to list after", after_size)
        limit = _page(limit, 100)
        size = self._store.audit.size()
        rows = self._checkpoints.list(after_size=after_size, limit=limit + 1)
        return CheckpointsPage(rows[:limit], size, len(rows) > limit)

    def subject_access(
        self, principal: Principal, subject: str, *, page_token: str, limit: int
    ) -> EventsPage:
        """Events about one subject (normalised as records store it); the first page is audited.

        Raises:
            IdentifierError: not a valid subject identifier.
            InputError: a page over the maximum, a foreign token.
        """
        subject_type, key = normalise_subject(subject)
        shown = display_subject(subject_type.value, key)
        limit = _page(limit, 100)
        events = self._store.audit.events(
            AuditFilter(subject=shown), after=_after(page_token), limit=limit + 1
        )
        if not page_token:
            self._audit(principal, "audit.subject_access", subject=shown, detail="report")
        return _events_page(events, limit)

    def signing_certificates(self) -> SigningCertificates:
        """This node's signing chain and every witness's that cosigned here."""
        witnesses = self._checkpoints.witness_certificates()
        history = self._checkpoints.witness_certificate_history()
        return SigningCertificates(
            self._node_id,
            self._signing_chain,
            sorted(witnesses.items()),
            self._retired_chains,
            {w: [c for c in chains if c != witnesses.get(w)] for w, chains in history.items()},
        )

    def witness_statement(self) -> WitnessStatement:
        """The parent's fresh statement on this log, fetched now and relayed unchanged.

        Raises:
            NotFoundError: this node has no parent to witness its log.
            PeerUnavailableError: the parent cannot be reached.
            PeerError: the parent refused, or has cosigned no checkpoint of this node.
        """
        if self._witness is None:
            raise NotFoundError(f"{self._node_id} has no parent witnessing its audit log")
        return self._witness.latest_cosigned()
