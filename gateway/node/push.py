"""The push worker: drains the outbox to peer nodes, retrying only what is transient.

One background thread per node finds the recipients with due outbox rows and,
for each of them at once (a small pool of sender threads, one recipient per
thread), claims its rows (a lease, so several replicas over one PostgreSQL
never send the same row twice), builds a signed hop batch, and pushes it: a
notice reaches three children in about the time of one push, not three.
tenacity retries the call when the peer client says the failure is transient
(:class:`~gateway.core.errors.PeerUnavailableError`) with exponential backoff
and jitter; after that the rows are released for a later attempt with a
growing delay. Any other refusal (:class:`~gateway.core.errors.PeerError`: a
verification or policy refusal) is final: the rows are marked failed and the
refusal audited, never retried.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog
from sqlalchemy import Connection
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from gateway.core.audit import Decision, event_by_node, record_refs
from gateway.core.errors import GatewayError, PeerError, PeerUnavailableError
from gateway.node.outbound import Outbound, OutboundBatch
from gateway.node.peer_client import HopBatch, PeerClient
from gateway.node.periodic import backoff_s
from gateway.store import Store

__all__ = ["PushSettings", "PushWorker", "is_transient"]

log = structlog.get_logger("gateway.push")


@dataclass(frozen=True, slots=True)
class PushSettings:
    """Retry and batching settings; units in the names."""

    batch_records: int = 500
    initial_backoff_ms: int = 200
    max_backoff_ms: int = 30_000
    attempts_per_call: int = 3
    call_deadline_ms: int = 60_000
    lease_s: int = 120
    idle_poll_ms: int = 500
    parallel_peers: int = 4


def is_transient(exc: BaseException) -> bool:
    """True for peer failures that a retry may cure."""
    return isinstance(exc, PeerUnavailableError)


class PushWorker:
    """Background sender of one node's outbox."""

    def __init__(
        self,
        *,
        node_id: str,
        outbound: Outbound,
        store: Store,
        peers: PeerClient,
        clock: Callable[[], int],
        settings: PushSettings = PushSettings(),
    ) -> None:
        self._node_id = node_id
        self._outbound = outbound
        self._store = store
        self._peers = peers
        self._clock = clock
        self._settings = settings
        self._worker = f"{node_id}-{uuid.uuid4().hex[:8]}"
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"push-{node_id}", daemon=True)
        self._senders = ThreadPoolExecutor(
            max_workers=max(1, settings.parallel_peers), thread_name_prefix=f"push-{node_id}-to"
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the batch in flight (if any) is settled."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._senders.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """New outbox rows: look now rather than at the next poll."""
        self._wake.set()

    def _run(self) -> None:
        failures = 0
        idle_s = self._settings.idle_poll_ms / 1000
        while not self._stop.is_set():
            # Cleared before looking, so a wake-up during the round is kept for the wait.
            self._wake.clear()
            try:
                busy = self.drain_once()
            except GatewayError as exc:
                log.warning("push round failed", error=type(exc).__name__, detail=str(exc))
                busy = False
            except Exception:
                # A bug in one round must not end the loop: logged, backed off, retried.
                failures += 1
                log.exception("loop.failed", loop=self._thread.name, failures=failures)
                self._stop.wait(backoff_s(idle_s, failures))
                continue
            failures = 0
            if not busy:
                self._wake.wait(idle_s)

    def drain_once(self) -> bool:
        """Send one batch to every recipient with due rows; True if anything was sent.

        Recipients are served concurrently, each by one sender thread; the round
        ends when every one of them has settled its batch.

        Raises:
            GatewayError: the first failure of a recipient's round (the others
                still finish theirs).
        """
        now = self._clock()
        recipients = self._store.outbox.due_recipients(now)
        futures = [self._senders.submit(self._drain_recipient, r, now) for r in recipients]
        busy = False
        first_error: GatewayError | None = None
        for future in futures:
            try:
                busy = future.result() or busy
            except GatewayError as exc:
                first_error = first_error or exc
        if first_error is not None:
            raise first_error
        return busy

    def _drain_recipient(self, recipient: str, now: int) -> bool:
        if self._stop.is_set():
            return False
        items = self._store.outbox.claim(
            recipient,
            worker=self._worker,
            limit=self._settings.batch_records,
            now=now,
            lease_s=self._settings.lease_s,
        )
        if not items:
            return False
        self._send(self._outbound.build(recipient, items))
        return True

    def _send(self, batch: OutboundBatch) -> None:
        if batch.empty:
            self._store.writer.submit(lambda conn: self._outbound.drop(batch, conn)).result()
            return
        hop = HopBatch(
            envelope_json=batch.envelope_json,
            records=batch.records,
            statements=batch.statements,
            messages=batch.messages,
        )
        try:
            self._call(batch.recipient, hop)
        except PeerError as exc:
            self._failed(batch, exc)
            return
        self._store.writer.submit(lambda conn: self._outbound.settle(batch, conn)).result()
        log.info(
            "batch delivered",
            peer=batch.recipient,
            batch=batch.batch_id,
            records=len(batch.records),
            statements=len(batch.statements),
        )

    def _call(self, recipient: str, batch: HopBatch) -> None:
        settings = self._settings

        def before_sleep(state: RetryCallState) -> None:
            log.debug("push retry", peer=recipient, attempt=state.attempt_number)

        for attempt in Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(settings.attempts_per_call),
            wait=wait_exponential_jitter(
                initial=settings.initial_backoff_ms / 1000, max=settings.max_backoff_ms / 1000
            ),
            before_sleep=before_sleep,
            reraise=True,
        ):
            with attempt:
                self._peers.push(recipient, batch, timeout_s=settings.call_deadline_ms / 1000)

    def _failed(self, batch: OutboundBatch, exc: PeerError) -> None:
        detail = str(exc)
        ids = [i.id for i in (*batch.record_items, *batch.message_items)]
        ids += [i.id for i, _ in batch.statement_items]
        if is_transient(exc):
            # A batch may hold only routed messages: they count as much as records.
            attempts = max(
                (
                    item.attempts
                    for item in (
                        *batch.record_items,
                        *batch.message_items,
                        *(item for item, _ in batch.statement_items),
                    )
                ),
                default=0,
            )
            delay_ms = min(
                self._settings.initial_backoff_ms * 2 ** min(attempts, 16),
                self._settings.max_backoff_ms,
            )
            next_at = self._clock() + max(1, delay_ms // 1000)
            self._store.outbox.mark_retry(ids, detail, next_at)
            # Each retry; the transition is logged once as peer.unreachable (ReachabilityLog).
            log.debug(
                "peer unavailable, will retry", peer=batch.recipient, at=next_at, detail=detail
            )
            return
        log.error(
            "batch refused by peer", peer=batch.recipient, batch=batch.batch_id, detail=detail
        )

        def refuse(conn: Connection) -> None:
            self._store.outbox.mark_failed(ids, detail, conn=conn)
            self._store.audit.append(
                [
                    event_by_node(
                        self._node_id,
                        time=self._clock(),
                        action="push.send",
                        decision=Decision.DENIED,
                        rule=detail,
                        records=record_refs((i.record_id, i.version) for i in batch.record_items),
                        detail=f"batch {batch.batch_id} refused by {batch.recipient}",
                    )
                ],
                conn=conn,
            )

        self._store.writer.submit(refuse).result()
