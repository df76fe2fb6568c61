"""Audit-log test helpers: node configs with a parent and short checkpoint intervals,
waiting for checkpoints, and tampering with a stopped node's SQLite file."""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from gateway._proto.v1 import records_pb2, records_pb2_grpc
from gateway.core.merkle import MerkleTree
from tests.support.federation import Keystore, client_channel, run_gateway


def init_audited_node(
    keystore: Keystore,
    node_id: str,
    workdir: Path,
    *,
    parent: str | None = None,
    every_events: int = 5,
    every_s: float = 1.0,
) -> Path:
    """`gateway node init` (with ``--parent``) plus an ``[audit]`` section; returns the config."""
    config = workdir / f"{node_id}.toml"
    args = ["node", "init", "--node", node_id, "--keys", str(keystore.root)]
    args += ["--listen", "127.0.0.1:0", "--out", str(config)]
    if parent is not None:
        args += ["--parent", parent]
    result = run_gateway(*args)
    assert result.returncode == 0, result.stderr
    with config.open("a", encoding="utf-8") as handle:
        handle.write(
            f"\n[audit]\ncheckpoint_every_events = {every_events}\ncheckpoint_every_s = {every_s}\n"
        )
    return config


def wait_for(what: str, check: Callable[[], bool], *, timeout_s: float = 30.0) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@contextmanager
def _db(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def sqlite_path(config: Path, node_id: str) -> Path:
    """The SQLite file `gateway node init` puts beside the config."""
    return config.parent / f"{node_id}.db"


def use_the_city(
    keystore: Keystore, node_id: str, endpoint: str, *, purpose: str, subject: str
) -> None:
    """Allowed queries (one about ``subject``) and a query the access table denies.

    Uses the ``procurement-office`` department and the ``ops`` admin of ``node_id``.
    """
    with client_channel(keystore.client(node_id, "procurement-office"), endpoint) as channel:
        stub = records_pb2_grpc.RecordsStub(channel)
        for _ in range(4):
            stub.List(records_pb2.ListRecordsRequest(purpose=purpose))
        stub.List(records_pb2.ListRecordsRequest(subject=subject, purpose=purpose))
    with client_channel(keystore.client(node_id, "ops"), endpoint) as channel:
        with pytest.raises(grpc.RpcError) as denied:
            records_pb2_grpc.RecordsStub(channel).List(
                records_pb2.ListRecordsRequest(purpose=purpose)
            )
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def event_count(db: Path) -> int:
    """How many events the node's SQLite audit log holds."""
    with _db(db) as conn:
        return int(conn.execute("SELECT count(*) FROM audit_event").fetchone()[0])


def copy_db(src: Path, dst: Path) -> None:
    """Copy a stopped node's SQLite file, with its WAL and shared-memory files if any."""
    for suffix in ("", "-wal", "-shm"):
        source = src.with_name(src.name + suffix)
        target = dst.with_name(dst.name + suffix)
        target.unlink(missing_ok=True)
        if source.exists():
            shutil.copyfile(source, target)


def online_copy(src: Path, dst: Path) -> None:
    """Copy a running node's SQLite file with SQLite's online backup API."""
    with _db(src) as source, _db(dst) as target:
        source.backup(target)


def cosigned_sizes(db: Path) -> list[int]:
    """Sizes of this node's checkpoints that carry a cosignature."""
    with _db(db) as conn:
        rows = conn.execute("SELECT size FROM audit_cosignature ORDER BY size").fetchall()
    return [int(r[0]) for r in rows]


def witnessed_sizes(db: Path, child: str, *, epoch: int = 1) -> list[int]:
    """At a parent: sizes of ``child``'s checkpoints it cosigned in epoch ``epoch`` of its log."""
    with _db(db) as conn:
        rows = conn.execute(
            "SELECT size FROM witnessed_checkpoint WHERE child = ? AND epoch = ? ORDER BY size",
            (child, epoch),
        ).fetchall()
    return [int(r[0]) for r in rows]


def checkpoint_sizes(db: Path) -> list[int]:
    with _db(db) as conn:
        return [int(r[0]) for r in conn.execute("SELECT size FROM audit_checkpoint ORDER BY size")]


def event_bytes(db: Path, seq: int) -> bytes:
    with _db(db) as conn:
        row = conn.execute("SELECT event FROM audit_event WHERE seq = ?", (seq,)).fetchone()
    assert row is not None, f"no event {seq}"
    return bytes(row[0])


def set_event_bytes(db: Path, seq: int, data: bytes) -> None:
    with _db(db) as conn:
        conn.execute("UPDATE audit_event SET event = ? WHERE seq = ?", (data, seq))


def delete_event(db: Path, seq: int) -> None:
    with _db(db) as conn:
        conn.execute("DELETE FROM audit_event WHERE seq = ?", (seq,))


def rebuild_nodes(db: Path) -> None:
    """Recompute every stored Merkle node from the events as they now are.

    This is what a careful forger does after rewriting an event: the log is
    self-consistent again, and only a signed checkpoint can contradict it.
    """
    with _db(db) as conn:
        events = [bytes(r[0]) for r in conn.execute("SELECT event FROM audit_event ORDER BY seq")]
        tree = MerkleTree(events)
        keys = [(int(lv), int(ix)) for lv, ix in conn.execute("SELECT level, idx FROM audit_node")]
        stored = tree.nodes.get_nodes(keys)
        conn.execute("BEGIN")
        conn.executemany(
            "UPDATE audit_node SET hash = ? WHERE level = ? AND idx = ?",
            [(h, lv, ix) for (lv, ix), h in zip(keys, stored, strict=True)],
        )
        conn.execute("COMMIT")
