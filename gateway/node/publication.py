"""The publication feed of one node: the 双公示 and list entries a website pulls.

The feed reads the node's record change log (:mod:`gateway.store.changes`)
for the publishable categories of the catalog, every record the node holds:
its own and those received, so a province's feed covers its cities. Each
change becomes at most one entry:

- a version stored, or reinstated, that the public may see now (in force, not
  suspended, within its period, its disclosures kept, not marked 不宜公开 by its
  issuer) is **published**: the issuer's SD-JWT redacted for the ``public``
  recipient;
- a correction, suspension, revocation or repair is **withdrawn** with the
  issuer's signed status statement as held here; an expiry is withdrawn with a
  withdrawal this node signs (expiry has no statement);
- a dispute that leaves the measures (and the publication) in force, or a
  version no longer public by the time it is read, gives no entry: what
  replaced it comes later in the log.

Changes are read only once ``settle_s`` old: over one PostgreSQL, replicas
commit concurrently and a sequence number may commit after a higher one; the
window lets such stragglers land before a reader moves past them. Reads are
public: they are counted (metrics), not audited one by one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from gateway.core.algorithms import Signer
from gateway.core.catalog import Catalog, RecipientKind
from gateway.core.dsse import sign_envelope
from gateway.core.errors import InputError
from gateway.core.identifiers import SubjectType
from gateway.core.policy import Recipient, decide
from gateway.core.publication import (
    WITHDRAWAL_TYPE,
    EntryKind,
    ExpiryWithdrawal,
    FeedEntry,
    FeedPage,
)
from gateway.core.record_status import RecordStatus
from gateway.core.records import not_public_reason, redact_record
from gateway.core.statements import STATUS_EFFECT
from gateway.store import RecordChange, RecordRow, StatementRow, Store
from gateway.store.record_rows import RecordKey

__all__ = ["MAX_FEED_PAGE", "PublicationFeed"]

MAX_FEED_PAGE = 500
"""Most changes read for one page."""

_PUBLIC = Recipient(RecipientKind.PUBLIC)
# The statements held on each record version of a page, by issue time.
_Statements = Mapping[RecordKey, Sequence[StatementRow]]
# Published while the record is in one of these (a dispute leaves measures in force).
_SHOWN = frozenset({RecordStatus.ACTIVE, RecordStatus.DISPUTED})
_WITHDRAWN_BY_STATEMENT = frozenset(
    {RecordStatus.CORRECTED, RecordStatus.SUSPENDED, RecordStatus.REVOKED, RecordStatus.REPAIRED}
)


class PublicationFeed:
    """Pages of one node's publication feed."""

    def __init__(
        self,
        *,
        node_id: str,
        catalog: Catalog,
        store: Store,
        signer: Signer,
        clock: Callable[[], int],
        settle_s: int = 2,
    ) -> None:
        self._node_id = node_id
        self._catalog = catalog
        self._store = store
        self._signer = signer
        self._clock = clock
        self._settle_s = settle_s
        self._categories = frozenset(
            code for code, category in catalog.categories.items() if category.publishable
        )

    def page(self, after: int, limit: int) -> FeedPage:
        """The entries after position ``after``; at most ``limit`` changes are read.

        Raises:
            InputError: ``after`` negative or ``limit`` outside 1..MAX_FEED_PAGE.
            StorageError: the store failed.
        """
        if after < 0:
            raise InputError(f"after must be 0 or more, got {after}")
        if not 1 <= limit <= MAX_FEED_PAGE:
            raise InputError(f"limit must be between 1 and {MAX_FEED_PAGE}, got {limit}")
        now = self._clock()
        changes = self._store.changes.after(
            after, categories=self._categories, until=now - self._settle_s, limit=limit
        )
        rows = self._store.records.get_many([(c.record_id, c.version) for c in changes])
        statements = self._statements(
            [(c.record_id, c.version) for c in changes if c.status in _WITHDRAWN_BY_STATEMENT]
        )
        entries = []
        for change in changes:
            row = rows.get((change.record_id, change.version))
            entry = None if row is None else self._entry(change, row, now, statements)
            if entry is not None:
                entries.append(entry)
        return FeedPage(
            entries=tuple(entries),
            next=changes[-1].seq if changes else after,
            end=len(changes) < limit,
        )

    def _entry(
        self, change: RecordChange, row: RecordRow, now: int, statements: _Statements
    ) -> FeedEntry | None:
        status = RecordStatus(change.status)
        base = FeedEntry(
            change.seq, EntryKind.PUBLISH, row.issuer, row.record_id, row.version, row.category
        )
        if status is RecordStatus.ACTIVE:
            redacted = self._public(row, now)
            return None if redacted is None else replace(base, sd_jwt=redacted)
        if status is RecordStatus.EXPIRED:
            withdrawal = ExpiryWithdrawal(
                self._node_id, row.issuer, row.record_id, row.version, row.exp
            )
            envelope = sign_envelope(WITHDRAWAL_TYPE, withdrawal.to_payload(), self._signer)
            return replace(
                base,
                kind=EntryKind.WITHDRAW,
                reason=status.value,
                signed=envelope.to_json(),
                signed_by=self._node_id,
            )
        if status in _WITHDRAWN_BY_STATEMENT:
            statement = _statement(statements, row, status)
            return replace(
                base,
                kind=EntryKind.WITHDRAW,
                reason=status.value,
                signed=statement,
                signed_by=row.issuer if statement is not None else None,
            )
        return None

    def _public(self, row: RecordRow, now: int) -> str | None:
        """The record redacted for the public, if the public may see it now."""
        if row.status not in _SHOWN or row.sd_jwt is None or row.exp <= now:
            return None
        if not_public_reason(row.sd_jwt):  # its issuer marked it 不宜公开
            return None
        category = self._catalog.category(row.category)
        plan = decide(category, _PUBLIC, SubjectType(row.subject_type))
        return redact_record(row.sd_jwt, plan) if plan.shared else None

    def _statements(self, keys: list[RecordKey]) -> _Statements:
        """The statements held on these record versions, read for the page at once."""
        by_key: defaultdict[RecordKey, list[StatementRow]] = defaultdict(list)
        for found in self._store.batches.statements_about(keys) if keys else ():
            by_key[(found.record_id, found.version)].append(found)
        return by_key


def _statement(statements: _Statements, row: RecordRow, status: RecordStatus) -> bytes | None:
    """The issuer's statement that gave ``row`` its ``status`` (the latest such)."""
    kinds = {kind.value for kind, effect in STATUS_EFFECT.items() if effect is status}
    found = [
        s
        for s in statements.get((row.record_id, row.version), ())
        if s.kind in kinds and s.issuer == row.issuer
    ]
    return found[-1].envelope if found else None
