"""Sending and receiving routed messages: store-and-forward towards their target node.

A use case sends with :meth:`MessageRouter.send` inside its own transaction;
the message is signed, stored and queued for the next hop. Each node on the
way stores and re-queues it; at the target, the handler registered for its
kind runs in the same transaction that stores it (no message without its
effect, no effect without its message).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import Connection

from gateway.core.algorithms import Signer
from gateway.core.messages import RoutedMessage, next_hop, sign_message
from gateway.store import MessageRow, Store
from gateway.store.outbox import OutboxEntry, OutboxKind

__all__ = ["DeliveredMessage", "MessageHandler", "MessageRouter"]

log = structlog.get_logger("gateway.messages")


@dataclass(frozen=True, slots=True)
class DeliveredMessage:
    """A verified message that reached this node, its target."""

    message: RoutedMessage
    envelope_json: bytes
    received_at: int


MessageHandler = Callable[[Connection, DeliveredMessage], None]


class MessageRouter:
    """This node's end of the routed-message channel."""

    def __init__(
        self,
        *,
        node_id: str,
        signer: Signer,
        store: Store,
        clock: Callable[[], int],
        wake_sender: Callable[[], None],
    ) -> None:
        self._node_id = node_id
        self._signer = signer
        self._store = store
        self._clock = clock
        self._wake_sender = wake_sender
        self._handlers: dict[str, MessageHandler] = {}

    @property
    def node_id(self) -> str:
        return self._node_id

    def register(self, kind: str, handler: MessageHandler) -> None:
        """Handle messages of ``kind`` addressed to this node."""
        self._handlers[kind] = handler

    def send(
        self, conn: Connection, *, target: str, kind: str, body: Mapping[str, Any]
    ) -> RoutedMessage:
        """Sign a message from this node and queue it (in ``conn``'s transaction).

        A message to this node itself is handled at once.

        Raises:
            MalformedError: an invalid target or kind.
        """
        now = self._clock()
        message = RoutedMessage(
            message_id=uuid.uuid4().hex,
            origin=self._node_id,
            target=target,
            kind=kind,
            created_at=now,
            body=dict(body),
        )
        envelope = sign_message(message, self._signer).to_json()
        self.accept(conn, [(message, envelope)], now=now)
        return message

    def accept(
        self, conn: Connection, messages: Sequence[tuple[RoutedMessage, bytes]], *, now: int
    ) -> None:
        """Store verified messages; handle those for this node, queue the others onwards."""
        rows = [
            MessageRow(m.message_id, m.origin, m.target, m.kind, m.created_at, now, data)
            for m, data in messages
        ]
        new = set(self._store.messages.add(rows, conn=conn))
        onward: list[OutboxEntry] = []
        for message, data in messages:
            if message.message_id not in new:
                continue  # seen before (a retry): already handled or queued
            hop = next_hop(self._node_id, message.target)
            if hop is not None:
                onward.append(
                    OutboxEntry(
                        hop, OutboxKind.MESSAGE.value, "", 0, payload_ref=message.message_id
                    )
                )
                continue
            handler = self._handlers.get(message.kind)
            if handler is None:
                log.warning("no handler for message kind", kind=message.kind)
                continue
            handler(conn, DeliveredMessage(message, data, now))
            self._store.messages.mark_handled(message.message_id, now, conn=conn)
        self._store.outbox.enqueue_many(onward, now=now, conn=conn)
        if onward:
            self._wake_sender()
