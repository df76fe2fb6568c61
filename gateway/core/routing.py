"""Where a record goes next: upstream to the parent, downstream to the children.

Records flow up the region tree (city -> province -> national); disciplinary
notices (black and red list categories) issued at a province or the national
node flow down to every descendant. A record never goes back to the node it
came from, and only to recipients the sharing policy shares its category with.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.core.catalog import Category, RecipientKind
from gateway.core.identifiers import SubjectType
from gateway.core.policy import Recipient, decide

__all__ = ["LOCAL", "NOTICE_KINDS", "record_recipients"]

LOCAL = "local"
"""Origin of a record issued at this node."""

NOTICE_KINDS = frozenset({"blacklist", "redlist"})


def _shared(category: Category, kind: RecipientKind, node: str, subject: SubjectType) -> bool:
    return decide(category, Recipient(kind, node_id=node), subject).shared


def record_recipients(
    *,
    origin: str,
    parent: str | None,
    children: Sequence[str],
    category: Category,
    subject_type: SubjectType,
) -> list[str]:
    """The neighbours a record (or notice) received from ``origin`` goes to next.

    Args:
        origin: :data:`LOCAL`, this node's parent, or one of its children.
        parent: this node's parent, None at the national node.
        children: this node's children.
    """
    to_parent = parent is not None and origin != parent
    to_children = origin == parent or (origin == LOCAL and str(category.kind) in NOTICE_KINDS)
    out: list[str] = []
    if (
        to_parent
        and parent is not None
        and _shared(category, RecipientKind.PARENT, parent, subject_type)
    ):
        out.append(parent)
    if to_children:
        out.extend(
            child
            for child in children
            if child != origin and _shared(category, RecipientKind.CHILD, child, subject_type)
        )
    return out
