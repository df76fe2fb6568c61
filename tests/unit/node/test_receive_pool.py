"""A hub's receive pool: records checked in worker processes, answers as in process.

Each test builds the same federation twice on one manual clock, the province
and national checking records in the node process (``[receive] workers = 0``)
in one and in two worker processes each in the other, pushes the very same signed hop batches to
both provinces and compares what each stored, queued, audited and answered.
The workers are real processes (spawned); the rest runs in this process.
"""

from __future__ import annotations

import base64
import datetime as dt
import gc
import json
import multiprocessing
import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from multiprocessing.queues import Queue
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.core import sdjwt
from gateway.core.algorithms import Ed25519Signer
from gateway.core.batch_items import ItemOutcome, ReceiveResult
from gateway.core.errors import PeerError
from gateway.core.hop import build_hop_batch, sign_hop_batch
from gateway.core.identifiers import SubjectType
from gateway.core.limits import Limits
from gateway.core.records import redact_record
from gateway.node import receive_pool
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.collector import SERVING_THRESHOLDS
from gateway.node.config import FederationSettings
from gateway.node.directory_file import build_directory, sign_directory_file
from gateway.node.forwards import ForwardPlans, ForwardRedactions
from gateway.node.intake import IntakeOutcome, Submission
from gateway.node.peer_client import HopBatch
from gateway.node.receive_pool import ReceivePool, WorkerSetup
from gateway.pki import load_node_credentials, signing_kid
from gateway.store import AuditFilter, Store
from tests.support.federation import Keystore
from tests.support.harness import Clock, InProcessFederation, keystore_for, migrated_template
from tests.support.processes import process_running
from tests.support.records import penalty_fields

NATIONAL, ZHEJIANG, HUZHOU = "000000", "330000", "330500"
NODES = (NATIONAL, ZHEJIANG, HUZHOU)
DECIDED = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=20)
FAST = FederationSettings(initial_backoff_ms=1, max_backoff_ms=2, lease_s=5)
# The province's [limits]: field text up to 200 characters; 270 fit at the city only.
STRICT = Limits(max_field_chars=200)
LONG_CONTENT = "罚款人民币十万元，" * 30
TABLES = ("record", "record_person", "record_change", "outbox", "hop_batch")


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Keystore:
    return keystore_for(tmp_path_factory.mktemp("keys"), NODES)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return migrated_template(tmp_path_factory.mktemp("template"))


class _Twins:
    """The same federation twice: ``plain`` checks in process, ``pooled`` in two workers."""

    def __init__(self, root: Path, keystore: Keystore, template: Path) -> None:
        start = float(int(time.time()))
        for name in ("plain", "pooled"):
            (root / name).mkdir()
        self.plain, self.pooled = (
            InProcessFederation.build(
                root / name,
                keystore,
                NODES,
                settings=FAST,
                clock=Clock(start),
                template=template,
                limits={ZHEJIANG: STRICT},
                receive_workers={ZHEJIANG: workers, NATIONAL: workers},
            )
            for name, workers in (("plain", 0), ("pooled", 2))
        )

    @property
    def pool(self) -> ReceivePool:
        return self.pool_of(ZHEJIANG)

    def pool_of(self, node: str) -> ReceivePool:
        pool = self.pooled[node].federation.pool
        assert pool is not None
        return pool

    def city_batch(self, fields: list[dict[str, str]]) -> HopBatch:
        """The plain city's records as it sends them to the province, signed as it would."""
        city = self.plain[HUZHOU]
        submitted = city.submit(
            [Submission(str(i), "admin_penalty", f) for i, f in enumerate(fields)]
        )
        assert [r.outcome for r in submitted] == [IntakeOutcome.ACCEPTED] * len(fields)
        items = city.store.outbox.claim(
            ZHEJIANG, worker="t", limit=len(fields), now=self.now, lease_s=5
        )
        records = list(city.federation.outbound.build(ZHEJIANG, items).records)
        return self.signed(records)

    def signed(self, records: list[str]) -> HopBatch:
        creds = self.plain[HUZHOU].creds
        signer = Ed25519Signer(signing_kid(creds.signing_cert), creds.signing_key)
        hop = build_hop_batch(
            sender=HUZHOU,
            audience=ZHEJIANG,
            batch_id=uuid.uuid4().hex,
            sent_at=self.now,
            items=records,
        )
        return HopBatch(sign_hop_batch(hop, signer).to_json(), tuple(records))

    @property
    def now(self) -> int:
        return int(self.plain.clock())

    def push(self, batch: HopBatch) -> tuple[ReceiveResult | str, ReceiveResult | str]:
        """The same batch pushed to both provinces: each receipt, or the refusal's message."""
        answers: list[ReceiveResult | str] = []
        for fed in (self.plain, self.pooled):
            try:
                answers.append(fed[HUZHOU].peers.push(ZHEJIANG, batch, timeout_s=5))
            except PeerError as exc:
                answers.append(str(exc))
        return answers[0], answers[1]

    def close(self) -> None:
        self.plain.close()
        self.pooled.close()


@pytest.fixture
def twins(tmp_path: Path, keystore: Keystore, template: Path) -> Iterator[_Twins]:
    pair = _Twins(tmp_path, keystore, template)
    try:
        yield pair
    finally:
        pair.close()


def _rows(store: Store) -> dict[str, list[tuple[object, ...]]]:
    with store.engine.connect() as conn:
        return {
            table: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
            for table in TABLES
        }


def _leaves(store: Store) -> list[bytes]:
    """The province's audit log as its leaves' bytes, in log order."""
    return [e.data for e in store.audit.events(after=-1, limit=1000)]


def _same_state(twins: _Twins) -> None:
    plain, pooled = twins.plain[ZHEJIANG].store, twins.pooled[ZHEJIANG].store
    assert _rows(pooled) == _rows(plain)
    assert _leaves(pooled) == _leaves(plain)
    assert pooled.audit.root(pooled.audit.size()) == plain.audit.root(plain.audit.size())


def _forward(fed: InProcessFederation, now: int) -> tuple[str, ...]:
    """What the province sends national next: its redacted SD-JWTs, in order."""
    province = fed[ZHEJIANG]
    items = province.store.outbox.claim(NATIONAL, worker="t", limit=100, now=now, lease_s=5)
    return province.federation.outbound.build(NATIONAL, items).records


def _made(fed: InProcessFederation) -> ForwardRedactions:
    """The redactions the province's receive side made for the push."""
    redactions = fed[ZHEJIANG].federation.outbound.redactions
    assert redactions is not None
    return redactions


def _forge_signature(sd_jwt: str) -> str:
    jws, rest = sd_jwt.split("~", 1)
    header, payload, _signature = jws.split(".")
    forged = base64.urlsafe_b64encode(bytes(range(64))).rstrip(b"=").decode()
    return f"{header}.{payload}.{forged}~{rest}"


def test_a_hub_with_two_workers_stores_audits_and_forwards_what_one_without_does(
    twins: _Twins,
) -> None:
    batch = twins.city_batch([penalty_fields(i, decided=DECIDED) for i in range(9)])

    plain, pooled = twins.push(batch)

    assert isinstance(plain, ReceiveResult)
    assert pooled == plain
    assert (plain.stored, plain.duplicates) == (9, 0)
    assert len(twins.pool.pids()) == 2
    _same_state(twins)
    # The workers, and the node without them, redacted each record for national ahead of
    # the push, which takes them: the plan's redaction of the text, as it makes it itself.
    assert len(twins.pool.redactions) == 9
    assert len(_made(twins.plain)) == 9
    plan = ForwardPlans(node_id=ZHEJIANG, catalog=load_packaged_catalog(ZHEJIANG)).plan(
        NATIONAL, "admin_penalty", SubjectType.LEGAL_PERSON
    )
    forwarded = _forward(twins.plain, twins.now)
    sdjwt._PARSED.clear()
    assert forwarded == tuple(redact_record(sd_jwt, plan) for sd_jwt in batch.records)
    assert _forward(twins.pooled, twins.now) == forwarded
    assert len(twins.pool.redactions) == 0
    assert len(_made(twins.plain)) == 0
    # Sent again: duplicates, answered and audited alike.
    plain_again, pooled_again = twins.push(twins.signed(list(batch.records)))
    assert isinstance(plain_again, ReceiveResult)
    assert pooled_again == plain_again
    assert [r.outcome for r in plain_again.records] == [ItemOutcome.DUPLICATE] * 9
    _same_state(twins)


def test_a_record_refused_alone_is_refused_with_the_same_reason_and_audit_event(
    twins: _Twins,
) -> None:
    fields = [penalty_fields(i, decided=DECIDED) for i in range(6)]
    fields[4] = {**fields[4], "CF_NR": LONG_CONTENT}
    batch = twins.city_batch(fields)

    plain, pooled = twins.push(batch)

    assert isinstance(plain, ReceiveResult)
    assert pooled == plain
    assert [r.outcome for r in plain.records] == [ItemOutcome.STORED] * 4 + [
        ItemOutcome.REFUSED,
        ItemOutcome.STORED,
    ]
    assert plain.records[4].reason == (
        "OutOfRangeError: disclosure 'CF_NR' length is 270, outside 0..200"
    )
    _same_state(twins)
    # A record refused leaves no redaction for the forward, with or without workers.
    for fed in (twins.plain, twins.pooled):
        assert len(_made(fed)) == 5
        assert _made(fed).take(batch.records[4], NATIONAL) is None


def test_a_forged_record_refuses_the_batch_with_the_same_reason_and_audit_event(
    twins: _Twins,
) -> None:
    fields = [penalty_fields(i, decided=DECIDED) for i in range(6)]
    # Record 2 (first worker's run) is refused alone; record 5 (second run) is forged.
    fields[1] = {**fields[1], "CF_NR": LONG_CONTENT}
    records = list(twins.city_batch(fields).records)
    records[4] = _forge_signature(records[4])

    plain, pooled = twins.push(twins.signed(records))

    assert isinstance(plain, str)
    assert plain.startswith("SignatureError: ")
    assert pooled == plain
    assert _rows(twins.pooled[ZHEJIANG].store)["record"] == []
    _same_state(twins)
    # The node without workers checked the batch in order and refused it: nothing made.
    assert len(_made(twins.plain)) == 0


def test_a_worker_killed_mid_batch_loses_nothing_and_is_replaced(twins: _Twins) -> None:
    twins.pool.start()
    before = twins.pool.pids()
    assert len(before) == 2
    first = twins.city_batch([penalty_fields(i, decided=DECIDED) for i in range(60)])
    answers: list[ReceiveResult] = []

    def push() -> None:
        answers.append(twins.pooled[HUZHOU].peers.push(ZHEJIANG, first, timeout_s=60))

    pusher = threading.Thread(target=push)
    pusher.start()
    os.kill(before[0], signal.SIGKILL)
    pusher.join(timeout=120)
    # However far the batch was, it is answered whole, as in process.
    [pooled_first] = answers
    plain_first = twins.plain[HUZHOU].peers.push(ZHEJIANG, first, timeout_s=5)
    assert pooled_first == plain_first
    assert pooled_first.stored == 60
    for _ in range(200):
        if not process_running(before[0]):
            break
        time.sleep(0.05)
    assert not process_running(before[0])

    plain, pooled = twins.push(
        twins.city_batch([penalty_fields(i, decided=DECIDED) for i in range(100, 110)])
    )

    assert pooled == plain
    _same_state(twins)
    after = twins.pool.pids()
    assert len(after) == 2
    assert before[0] not in after


def test_no_worker_outlives_the_node(twins: _Twins) -> None:
    twins.pool.start()
    pids = twins.pool.pids()
    assert len(pids) == 2
    assert [process_running(pid) for pid in pids] == [True, True]

    twins.pooled[ZHEJIANG].federation.stop()

    assert [process_running(pid) for pid in pids] == [False, False]
    assert twins.pool.pids() == ()


def _holds(store: Store, record_ids: list[str]) -> list[bool]:
    with store.engine.connect() as conn:
        held = {
            str(r[0]) for r in conn.execute(text("SELECT record_id FROM record WHERE version = 1"))
        }
    return [record_id in held for record_id in record_ids]


def _denied(store: Store) -> list[str]:
    """The rules of the batches ``store``'s node refused, in log order."""
    found = store.audit.events(AuditFilter(action="push.receive", decision="denied"), limit=100)
    return [e.event.rule for e in found]


def test_workers_check_against_the_directory_the_node_holds_after_it_changes(
    twins: _Twins, keystore: Keystore
) -> None:
    first = twins.city_batch([penalty_fields(i, decided=DECIDED) for i in range(4)])
    twins.push(first)
    for fed in (twins.plain, twins.pooled):
        assert fed.deliver() >= 1
    ids = [_record_id(sd_jwt) for sd_jwt in first.records]
    assert _holds(twins.pooled[NATIONAL].store, ids) == [True] * 4
    # National's workers now hold the first directory. The next leaves the city out:
    # its signing key no longer verifies at national (the province may still push).
    now = twins.now
    listed = {n: e for n, e in twins.plain.endpoints.items() if n != HUZHOU}
    later = sign_directory_file(
        keystore.root,
        build_directory(keystore.root, listed, serial=now + 1, now=now, valid_s=86_400),
    )
    for fed in (twins.plain, twins.pooled):
        fed[NATIONAL].federation.trust.install(later)

    second = twins.city_batch([penalty_fields(i, decided=DECIDED) for i in range(10, 14)])
    plain, pooled = twins.push(second)
    assert pooled == plain
    for fed in (twins.plain, twins.pooled):
        fed.deliver()

    ids = [_record_id(sd_jwt) for sd_jwt in second.records]
    assert _holds(twins.plain[NATIONAL].store, ids) == [False] * 4
    assert _holds(twins.pooled[NATIONAL].store, ids) == [False] * 4
    refused = _denied(twins.plain[NATIONAL].store)
    assert refused != []
    assert _denied(twins.pooled[NATIONAL].store) == refused


def _record_id(sd_jwt: str) -> str:
    payload = sd_jwt.split("~", 1)[0].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["rid"])


def test_runs_still_queued_when_the_pool_stops_are_checked_in_the_node_process(
    twins: _Twins,
) -> None:
    twins.pool.start()
    records = list(
        twins.city_batch([penalty_fields(i, decided=DECIDED) for i in range(120)]).records
    )
    expected = twins.pool.check(records, sender=HUZHOU, now=twins.now, alone=False)
    assert len(expected) == 120
    assert [r for r in expected if isinstance(r, Exception)] == []
    callers = 4
    ready = threading.Barrier(callers + 1)
    answers: list[object] = []

    def check() -> None:
        ready.wait()
        try:
            answers.append(twins.pool.check(records, sender=HUZHOU, now=twins.now, alone=False))
        except BaseException as exc:  # noqa: BLE001 - the test reports what escaped
            answers.append(exc)

    threads = [threading.Thread(target=check) for _ in range(callers)]
    for thread in threads:
        thread.start()
    ready.wait()
    # Four batches of two runs each on two workers: some runs are still queued, and
    # stopping the pool cancels them; they are checked in the node process instead.
    time.sleep(0.05)
    twins.pool.stop()
    for thread in threads:
        thread.join(timeout=120)

    assert answers == [expected] * callers


def _worker_setup(keystore: Keystore) -> WorkerSetup:
    catalog = load_packaged_catalog(ZHEJIANG)
    return WorkerSetup(
        node_id=ZHEJIANG,
        parent=NATIONAL,
        root_pem=load_node_credentials(keystore.node(ZHEJIANG)).root_pem(),
        load_catalog=partial(load_packaged_catalog, ZHEJIANG),
        catalog_version=catalog.version,
        limits=Limits(),
        clock_skew_s=Limits().clock_skew_s,
    )


def _one_worker(keystore: Keystore, node: int) -> ProcessPoolExecutor:
    """One receive worker started as the pool starts its own, for node process ``node``."""
    context = multiprocessing.get_context("spawn")
    started: Queue[int] = context.Queue()
    return ProcessPoolExecutor(
        max_workers=1,
        mp_context=context,
        initializer=receive_pool._start_worker,
        initargs=(_worker_setup(keystore), started, node),
    )


def test_a_worker_sets_its_collector_as_a_serving_node_does(keystore: Keystore) -> None:
    executor = _one_worker(keystore, os.getpid())
    try:
        assert executor.submit(gc.get_threshold).result(timeout=60) == SERVING_THRESHOLDS
        # Its start's heap is frozen too (a fresh interpreter freezes nothing by itself).
        assert executor.submit(gc.get_freeze_count).result(timeout=60) > 0
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def test_a_worker_whose_node_was_killed_while_it_started_ends_by_itself(keystore: Keystore) -> None:
    """A province killed right after it listened had workers still starting: each took its
    new parent for its node and waited for jobs forever. The worker is handed the node's
    pid; here that node is already gone when the worker starts."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    executor = _one_worker(keystore, gone.pid)
    try:
        # The worker ends before it takes a job: the pool breaks. (Watching its new parent
        # instead, it would answer with its pid and wait for the next job forever.)
        with pytest.raises(BrokenProcessPool):
            executor.submit(os.getpid).result(timeout=60)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
