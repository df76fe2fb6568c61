"""Forwarding a record to a neighbour: its share plan, and redactions made ahead of time.

:class:`ForwardPlans` is the one definition of what a record keeps when it goes
to a neighbour (the policy's decision for the recipient's place in the tree,
restricted to what the recipient's own catalog lists); the outbound side uses
it, and so does the receive side: :class:`OnwardRedactions` redacts each record
it verified for the neighbours it goes to next while its reading is at hand (in
the receive workers of :mod:`gateway.node.receive_pool`, or in the node process
through :class:`RedactingCheck`). Those redactions wait in
:class:`ForwardRedactions` until the push takes them; one that is not there
(evicted, never made) is made then.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

from gateway.core.catalog import Catalog, Category
from gateway.core.errors import GatewayError
from gateway.core.identifiers import SubjectType
from gateway.core.policy import Recipient, SharePlan, decide, node_relation, restrict_to_known
from gateway.core.records import redact_verified
from gateway.core.routing import record_recipients
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.record_check import CheckedRecords, RecordChecker
from gateway.node.trust import FederationTrust

__all__ = ["ForwardPlans", "ForwardRedactions", "OnwardRedactions", "RedactingCheck"]


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


class OnwardRedactions:
    """Each verified record of a batch redacted for the neighbours it goes to next.

    As the node's routing and outbound side decide: the recipients of
    :func:`~gateway.core.routing.record_recipients`, each record's plan from
    :class:`ForwardPlans`, redacted by :func:`~gateway.core.records.redact_verified`.
    """

    def __init__(
        self,
        *,
        node_id: str,
        parent: str | None,
        catalog: Catalog,
        trust: FederationTrust,
        catalog_of: Callable[[str], Catalog] = load_packaged_catalog,
    ) -> None:
        self._node_id = node_id
        self._parent = parent
        self._catalog = catalog
        self._trust = trust
        self._plans = ForwardPlans(node_id=node_id, catalog=catalog, catalog_of=catalog_of)

    def made(self, checked: CheckedRecords, sender: str) -> tuple[tuple[int, str, str], ...]:
        """(position in ``checked``, recipient, redacted SD-JWT) for each onward neighbour
        of each verified record; none for a record that failed its check."""
        try:
            children = self._trust.directory().children_of(self._node_id)
        except GatewayError:
            children = ()
        routes: dict[tuple[str, SubjectType], list[str]] = {}
        made: list[tuple[int, str, str]] = []
        for index, record in enumerate(checked):
            if isinstance(record, GatewayError):
                continue
            key = (record.category, record.subject_type)
            try:
                recipients = routes.get(key)
                if recipients is None:
                    recipients = routes[key] = record_recipients(
                        origin=sender,
                        parent=self._parent,
                        children=children,
                        category=self._catalog.category(record.category),
                        subject_type=record.subject_type,
                    )
                for recipient in recipients:
                    plan = self._plans.plan(recipient, record.category, record.subject_type)
                    if plan.shared:
                        made.append((index, recipient, redact_verified(record, plan)))
            except GatewayError:
                # Not made here: the push redacts it itself, and says what fails.
                continue
        return tuple(made)


class RedactingCheck:
    """A :class:`~gateway.node.record_check.RecordChecker` in this process whose verified
    records are also redacted for the forward (:class:`OnwardRedactions`), into
    ``redactions``."""

    def __init__(
        self, check: RecordChecker, onward: OnwardRedactions, redactions: ForwardRedactions
    ) -> None:
        self._check = check
        self._onward = onward
        self._redactions = redactions

    def check(
        self, sd_jwts: Sequence[str], *, sender: str, now: int, alone: bool
    ) -> CheckedRecords:
        """See :meth:`~gateway.node.record_check.RecordChecker.check`."""
        checked = self._check.check(sd_jwts, sender=sender, now=now, alone=alone)
        made = self._onward.made(checked, sender)
        if made:
            self._redactions.put(
                (sd_jwts[index], recipient, redacted) for index, recipient, redacted in made
            )
        return checked


def _size(key: tuple[str, str], redacted: str) -> int:
    return len(key[0]) + len(key[1]) + len(redacted)
