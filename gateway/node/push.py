"""The push worker: drains the outbox to peer nodes, retrying only what is transient.

One background thread per node finds the recipients with due outbox rows and,
for each of them at once (a small pool of sender threads, one recipient per
thread), claims its rows (a lease, so several replicas over one PostgreSQL
never send the same row twice), builds a signed hop batch, and pushes it: a
notice reaches three children in about the time of one push, not three.
tenacity retries the call when the peer client says the failure is transient
(:class:`~gateway.core.errors.PeerUnavailableError`) with exponential backoff
and jitter; after that the rows are released for a later attempt with a
growing delay. Any other refusal of the batch
(:class:`~gateway.core.errors.PeerError`: a verification or policy refusal) is
final: the rows are marked failed and the refusal audited, never retried until
the operator says so (``gateway outbox retry``).

The acknowledgement answers for each record (DESIGN §5, "Batches and items"):
the records the peer holds are settled as delivered; a record it refused alone
is retried with the same growing delay when its reason passes with time (clock
skew, not valid yet), else parked as failed with the peer's reason and audited.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
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

from gateway.core.audit import Decision, event_by_node, record_ref, record_refs
from gateway.core.batch_items import ItemResult, ReceiveResult
from gateway.core.errors import GatewayError, PeerError, PeerUnavailableError
from gateway.node.outbound import Outbound, OutboundBatch
from gateway.node.peer_client import HopBatch, PeerClient
from gateway.node.periodic import backoff_s
from gateway.store import OutboxItem, Store

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


def _refused_records(batch: OutboundBatch, receipt: ReceiveResult) -> dict[int, ItemResult]:
    """The records the peer refused alone, by their 0-based place in ``batch``.

    Raises:
        PeerError: the acknowledgement answers for another number of records.
    """
    if not receipt.records:
        # A receiver that answers for the batch only holds every record of it.
        return {}
    if len(receipt.records) != len(batch.records):
        raise PeerError(
            f"{batch.recipient} answered for {len(receipt.records)} records"
            f" of a batch of {len(batch.records)}"
        )
    return {i: result for i, result in enumerate(receipt.records) if not result.delivered}


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
            receipt = self._call(batch.recipient, hop)
            refused = _refused_records(batch, receipt)
        except PeerError as exc:
            self._failed(batch, exc)
            return
        delivered = batch.without_records(refused) if refused else batch

        def settle(conn: Connection) -> None:
            self._outbound.settle(delivered, conn)
            self._park(batch, refused, conn)

        self._store.writer.submit(settle).result()
        log.info(
            "batch delivered",
            peer=batch.recipient,
            batch=batch.batch_id,
            records=len(delivered.records),
            refused=len(refused),
            statements=len(batch.statements),
        )

    def _park(self, batch: OutboundBatch, refused: dict[int, ItemResult], conn: Connection) -> None:
        """Records the peer refused alone: retried later if the reason passes with time,
        else parked as failed with the reason (``gateway outbox list``/``retry``), audited."""
        parked = []
        for index, result in refused.items():
            item = batch.record_items[index]
            if result.passes_with_time:
                at = self._retry_at([item])
                self._store.outbox.mark_retry([item.id], result.reason, at, conn=conn)
                log.info(
                    "record refused for now, will retry",
                    peer=batch.recipient,
                    record_id=item.record_id,
                    at=at,
                    detail=result.reason,
                )
                continue
            self._store.outbox.mark_failed([item.id], result.reason, conn=conn)
            log.warning(
                "record refused by peer, parked",
                peer=batch.recipient,
                record_id=item.record_id,
                detail=result.reason,
            )
            parked.append(
                event_by_node(
                    self._node_id,
                    time=self._clock(),
                    action="push.send",
                    decision=Decision.DENIED,
                    rule=result.reason,
                    records=(record_ref(item.record_id, item.version),),
                    detail=f"batch {batch.batch_id}: refused alone by {batch.recipient}, "
                    "parked until `gateway outbox retry`",
                )
            )
        if parked:
            self._store.audit.append(parked, conn=conn)

    def _retry_at(self, items: Sequence[OutboxItem]) -> int:
        """When to try ``items`` again: backoff growing with their attempts so far."""
        attempts = max((item.attempts for item in items), default=0)
        delay_ms: int = min(
            self._settings.initial_backoff_ms * 2 ** min(attempts, 16),
            self._settings.max_backoff_ms,
        )
        return self._clock() + max(1, delay_ms // 1000)

    def _call(self, recipient: str, batch: HopBatch) -> ReceiveResult:
        settings = self._settings

        def before_sleep(state: RetryCallState) -> None:
            log.debug("push retry", peer=recipient, attempt=state.attempt_number)

        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(settings.attempts_per_call),
            wait=wait_exponential_jitter(
                multiplier=settings.initial_backoff_ms / 1000, max=settings.max_backoff_ms / 1000
            ),
            before_sleep=before_sleep,
            reraise=True,
        )
        timeout_s = settings.call_deadline_ms / 1000
        return retrying(self._peers.push, recipient, batch, timeout_s=timeout_s)

    def _failed(self, batch: OutboundBatch, exc: PeerError) -> None:
        detail = str(exc)
        ids = [i.id for i in (*batch.record_items, *batch.message_items)]
        ids += [i.id for i, _ in batch.statement_items]
        if is_transient(exc):
            # A batch may hold only routed messages: they count as much as records.
            next_at = self._retry_at(
                [*batch.record_items, *batch.message_items, *(i for i, _ in batch.statement_items)]
            )
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
