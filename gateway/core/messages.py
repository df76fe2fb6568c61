"""Routed messages: signed requests that travel hop by hop to any node of the tree.

Feedback on a disciplinary hit, an objection to a record, a credit repair
application: each must reach one particular node (usually the issuer) that
may be two hops away. A message is a DSSE envelope signed by its origin node
(payload type :data:`MESSAGE_PAYLOAD_TYPE`); every node on the way stores it
and passes it one hop closer (:func:`next_hop`), through its outbox, so nothing
is lost while a node is down.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.core.algorithms import Signer, Verifier
from gateway.core.dsse import (
    Envelope,
    canonical_json,
    sign_envelope,
    verify_envelope,
)
from gateway.core.errors import MalformedError, SignatureError
from gateway.core.node_id import ancestors, parent_node
from gateway.core.payload_fields import (
    check_node_id,
    is_hex_id,
    parse_json_payload,
    payload_int,
    payload_str,
)
from gateway.core.strict_json import is_unicode

__all__ = ["MESSAGE_PAYLOAD_TYPE", "RoutedMessage", "next_hop", "sign_message", "verify_message"]

MESSAGE_PAYLOAD_TYPE = "application/vnd.credit-gateway.message+json"
_WHAT = "routed message"
_KEYS = frozenset({"message_id", "origin", "target", "kind", "created_at", "body"})
_KIND = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class RoutedMessage:
    """One message; the constructor validates every field.

    Raises:
        MalformedError: naming the field at fault.
    """

    message_id: str
    origin: str
    target: str
    kind: str
    created_at: int
    body: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not is_hex_id(self.message_id):
            raise MalformedError(f"{_WHAT}: message_id must be 32 lowercase hex characters")
        check_node_id(self.origin, what=_WHAT, key="origin")
        check_node_id(self.target, what=_WHAT, key="target")
        if not _KIND.fullmatch(self.kind):
            raise MalformedError(f"{_WHAT}: kind {self.kind!r} is not a message kind")
        if not isinstance(self.body, Mapping):
            raise MalformedError(f"{_WHAT}: body must be an object")
        if not _all_unicode(self.body):
            # Parsed, but it could never be re-encoded, stored or sent on.
            raise MalformedError(
                f"{_WHAT}: body has text that is not valid Unicode (a lone surrogate)"
            )

    def to_payload(self) -> bytes:
        return canonical_json(
            {
                "message_id": self.message_id,
                "origin": self.origin,
                "target": self.target,
                "kind": self.kind,
                "created_at": self.created_at,
                "body": dict(self.body),
            }
        )

    @classmethod
    def from_payload(cls, data: bytes) -> RoutedMessage:
        """Parse strictly (exact keys, canonical form).

        Raises:
            MalformedError: naming the key at fault.
        """
        doc = parse_json_payload(data, what=_WHAT, keys=_KEYS)
        body = doc["body"]
        if not isinstance(body, dict):
            raise MalformedError(f"{_WHAT}: body must be an object")
        message = cls(
            message_id=payload_str(doc, "message_id", _WHAT),
            origin=payload_str(doc, "origin", _WHAT),
            target=payload_str(doc, "target", _WHAT),
            kind=payload_str(doc, "kind", _WHAT),
            created_at=payload_int(doc, "created_at", _WHAT, minimum=0),
            body=body,
        )
        if message.to_payload() != data:
            raise MalformedError(f"{_WHAT} is not in canonical form")
        return message


def _all_unicode(value: object) -> bool:
    """True if every text in ``value`` (keys and values, at any depth) has a UTF-8 form."""
    if isinstance(value, str):
        return is_unicode(value)
    if isinstance(value, Mapping):
        return all(_all_unicode(k) and _all_unicode(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_all_unicode(item) for item in value)
    return True


def sign_message(message: RoutedMessage, signer: Signer) -> Envelope:
    return sign_envelope(MESSAGE_PAYLOAD_TYPE, message.to_payload(), signer)


def verify_message(
    envelope: Envelope, *, resolve_key: Callable[[str], Verifier], key_owner: Callable[[str], str]
) -> RoutedMessage:
    """Verify a message's signature by its origin node.

    Raises:
        SignatureError: not signed by the node it names as origin.
        MalformedError: not a message.
    """
    claimed = RoutedMessage.from_payload(envelope.payload)

    def origin_key(kid: str) -> Verifier:
        if key_owner(kid) != claimed.origin:
            raise SignatureError(f"key {kid[:16]}… is not a signing key of node {claimed.origin}")
        return resolve_key(kid)

    payload = verify_envelope(envelope, expected_type=MESSAGE_PAYLOAD_TYPE, resolve_key=origin_key)
    return RoutedMessage.from_payload(payload)


def next_hop(me: str, target: str) -> str | None:
    """The neighbour one hop closer to ``target`` (None when ``target`` is ``me``).

    Down the tree when ``target`` is below ``me``, else up to the parent.

    Raises:
        MalformedError: at the national node for a target outside the tree.
    """
    if target == me:
        return None
    path = (target, *ancestors(target))
    if me in path:
        return path[path.index(me) - 1]
    parent = parent_node(me)
    if parent is None:
        raise MalformedError(f"node {target} is not in the federation tree")
    return parent
