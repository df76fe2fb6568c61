"""Forwarding a record to a neighbour: its share plan, and redactions made ahead of time.

:class:`ForwardPlans` is the one definition of what a record keeps when it goes
to a neighbour (the policy's decision for the recipient's place in the tree,
restricted to what the recipient's own catalog lists); the outbound side uses
it, and so do the receive workers (:mod:`gateway.node.receive_pool`), which
redact each record they verified for the neighbours it goes to next while its
parse is at hand. Their redactions wait in :class:`ForwardRedactions` until the
push takes them; one that is not there (evicted, never made) is made then.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

from gateway.core.catalog import Catalog, Category
from gateway.core.identifiers import SubjectType
from gateway.core.policy import Recipient, SharePlan, decide, node_relation, restrict_to_known
from gateway.node.catalog_files import load_packaged_catalog

__all__ = ["ForwardPlans", "ForwardRedactions"]


class ForwardPlans:
    """What a record of this node keeps when it goes to ``recipient`` (cached per plan)."""

    def __init__(
        self,
        *,
        node_id: str,
        catalog: Catalog,
        catalog_of: Callable[[str], Catalog] = load_packaged_catalog,
    ) -> None:
        """``catalog_of``: node id -> that node's catalog (national base plus its region's
        supplements), so nothing goes that the recipient does not list."""
        self._node_id = node_id
        self._catalog = catalog
        self._catalog_of = catalog_of
        self._peer_catalogs: dict[str, Catalog] = {}
        self._plans: dict[tuple[str, str, SubjectType], SharePlan] = {}

    def plan(self, recipient: str, category: str, subject_type: SubjectType) -> SharePlan:
        """The plan for a record of ``category`` about a subject of ``subject_type``.

        Raises:
            CatalogError: ``category`` is not in this node's catalog.
        """
        key = (recipient, category, subject_type)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = restrict_to_known(
                decide(
                    self._catalog.category(category),
                    Recipient(node_relation(self._node_id, recipient), node_id=recipient),
                    subject_type,
                ),
                self._known_category(recipient, category),
            )
        return plan

    def _known_category(self, recipient: str, code: str) -> Category | None:
        """The recipient's own version of a category (its packaged catalog chain)."""
        catalog = self._peer_catalogs.get(recipient)
        if catalog is None:
            catalog = self._peer_catalogs[recipient] = self._catalog_of(recipient)
        return catalog.categories.get(code)


class ForwardRedactions:
    """Redactions made ahead of the push, by (SD-JWT as received, recipient); bounded.

    Keyed by the exact text, so a redaction only ever stands for the record it was
    made from. Bounded by count and by the characters held (keys and redactions:
    a key keeps its record's text alive), so large records cannot grow it past
    ``max_chars``; the oldest go first when full, and the push then redacts itself.
    """

    def __init__(self, max_entries: int = 8_192, max_chars: int = 32 * 1024 * 1024) -> None:
        self._max = max_entries
        self._max_chars = max_chars
        self._lock = threading.Lock()
        self._made: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._chars = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._made)

    @property
    def chars(self) -> int:
        """The characters held now: every key's texts and every redaction."""
        with self._lock:
            return self._chars

    def put(self, made: Iterable[tuple[str, str, str]]) -> None:
        """Keep ``(sd_jwt, recipient, redacted)`` triples."""
        with self._lock:
            for sd_jwt, recipient, redacted in made:
                key = (sd_jwt, recipient)
                old = self._made.pop(key, None)
                if old is not None:
                    self._chars -= _size(key, old)
                self._made[key] = redacted
                self._chars += _size(key, redacted)
            while len(self._made) > self._max or self._chars > self._max_chars:
                key, redacted = self._made.popitem(last=False)
                self._chars -= _size(key, redacted)

    def take(self, sd_jwt: str, recipient: str) -> str | None:
        """The redaction of ``sd_jwt`` for ``recipient``, once; None if none was made."""
        key = (sd_jwt, recipient)
        with self._lock:
            redacted = self._made.pop(key, None)
            if redacted is not None:
                self._chars -= _size(key, redacted)
            return redacted


def _size(key: tuple[str, str], redacted: str) -> int:
    return len(key[0]) + len(key[1]) + len(redacted)
