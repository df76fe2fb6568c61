"""Where a record goes next: up to the parent, and for list entries down to the children.

Records (licences, penalties, commitments) flow up the region tree only
(city -> province -> national). List entries (black and red list categories,
一处失信、处处受限) reach every node: up to national from wherever they were
issued or filed, and from every hub down to all its children, the branch they
came from included, so a province redistributes a city's listing to its other
cities and national redistributes it to every other province. Nothing goes
back to the neighbour it came from, and only to neighbours the sharing policy
shares its category with.

A node forwards a record only when it first stores that version (the caller's
duty), so with these rules each node receives each version exactly once. The
receiving side holds the converse rule (:func:`check_arrival`): what comes up
from a child was issued in that child's branch.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.core.catalog import Category, RecipientKind
from gateway.core.errors import AccessDeniedError
from gateway.core.identifiers import SubjectType
from gateway.core.node_id import is_descendant
from gateway.core.policy import Recipient, decide

__all__ = ["LOCAL", "check_arrival", "record_recipients"]

LOCAL = "local"
"""Origin of a record issued at this node."""


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
    """The neighbours a record (or list entry) received from ``origin`` goes to next.

    Up: to the parent, unless it came from there. Down, for list entries only:
    to every child but the one it came from.

    Args:
        origin: :data:`LOCAL`, this node's parent, or one of its children.
        parent: this node's parent, None at the national node.
        children: this node's children.
        category: the record's category (its kind says whether it goes down).
        subject_type: the record's subject type (the policy may share by type).
    """
    out: list[str] = []
    if (
        parent is not None
        and origin != parent
        and _shared(category, RecipientKind.PARENT, parent, subject_type)
    ):
        out.append(parent)
    if category.kind.is_list:
        out.extend(
            child
            for child in children
            if child != origin and _shared(category, RecipientKind.CHILD, child, subject_type)
        )
    return out


def check_arrival(*, sender: str, parent: str | None, record_id: str, issuer: str) -> None:
    """Refuse a record that a child passes up from outside its own branch.

    A parent sends down list entries from anywhere in the federation, but a
    child only ever passes up what its branch issued (itself or a node below
    it): now that cities hold other cities' listings, this keeps a city from
    re-injecting one it was given (an old version, one revoked meanwhile).
    The sender was checked to be this node's parent or child before.

    Args:
        sender: the neighbour that pushed the record.
        parent: this node's parent, None at the national node.
        record_id: the record, named in the refusal.
        issuer: the record's issuer, as its verified signature says.

    Raises:
        AccessDeniedError: rule ``federation:up-own-branch-only``.
    """
    if sender in (parent, issuer) or is_descendant(issuer, sender):
        return
    raise AccessDeniedError(
        f"node {sender} passed up record {record_id} issued by node {issuer}, outside its "
        "branch: a child passes up only what its own branch issued",
        rule="federation:up-own-branch-only",
    )
