"""The lean check server: exactly what an audited check must do, with no framework around it.

A floor for the check benchmark, written for this project with the node's
libraries (grpcio with the node's TLS material, worker count and options, the
generated Discipline messages, sqlite3) and nothing else: no interceptor
chain, no use cases, no store layer. Every call

* authenticates the caller from its verified client certificate (parsed once,
  then found by the SHA-256 of its PEM, as the node caches it) and checks it
  against the set of revoked certificates;
* reads the subject's notices with one indexed statement and decides;
* hands one check row, one hit row per notice and one audit leaf (the SHA-256
  Merkle leaf of the audit event) to a single writer thread, which commits
  what has queued up in one transaction (group commit; SQLite, WAL,
  ``synchronous=FULL``), and answers only after that commit.

It serves ``Discipline.Check`` itself, so the benchmark calls it with the very
client code it calls the node with.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from bench.bare_server import Served, spawned
from gateway._proto.v1 import discipline_pb2
from gateway.core.limits import DEFAULT_LIMITS
from gateway.node.config import ServerSettings
from gateway.pki import load_node_credentials
from gateway.rpc.options import server_options

__all__ = ["lean_check_server"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notice (record_id TEXT PRIMARY KEY, version INTEGER, issuer TEXT,
    subject TEXT, category TEXT, kind TEXT, status TEXT, expires_at INTEGER);
CREATE INDEX IF NOT EXISTS notice_subject ON notice (subject);
CREATE TABLE IF NOT EXISTS check_row (check_id TEXT PRIMARY KEY, at INTEGER, actor TEXT,
    domain TEXT, purpose TEXT, case_id TEXT, subject TEXT, decision TEXT);
CREATE TABLE IF NOT EXISTS hit (check_id TEXT, record_id TEXT, version INTEGER, at INTEGER);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, leaf BLOB, event TEXT);
"""
_OTHER_SUBJECTS = 10_000


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    return db


def _seed(path: Path, subject: str) -> None:
    db = _connect(path)
    db.executescript(_SCHEMA)
    expires = int(time.time()) + 365 * 86400
    rows = [
        (f"r{i}", 1, "330500", f"S{i:017d}", "serious_dishonesty", "blacklist", "active", expires)
        for i in range(_OTHER_SUBJECTS)
    ]
    rows.append(
        ("notice-1", 1, "330500", subject, "serious_dishonesty", "blacklist", "active", expires)
    )
    db.execute("BEGIN")
    db.executemany("INSERT OR REPLACE INTO notice VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.execute("COMMIT")
    db.close()


class _Writer:
    """One thread committing every queued check with its hits and audit leaf, in groups."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._queue: queue.SimpleQueue[
            tuple[tuple[Any, ...], list[tuple[Any, ...]], bytes, threading.Event]
        ] = queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True).start()

    def commit(self, check: tuple[Any, ...], hits: list[tuple[Any, ...]], event: bytes) -> None:
        done = threading.Event()
        self._queue.put((check, hits, event, done))
        done.wait()

    def _run(self) -> None:
        db = self._db
        while True:
            group = [self._queue.get()]
            while True:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO check_row VALUES (?, ?, ?, ?, ?, ?, ?, ?)", [g[0] for g in group]
            )
            db.executemany("INSERT INTO hit VALUES (?, ?, ?, ?)", [h for g in group for h in g[1]])
            db.executemany(
                "INSERT INTO audit (leaf, event) VALUES (?, ?)",
                [(hashlib.sha256(b"\x00" + g[2]).digest(), g[2].decode()) for g in group],
            )
            db.execute("COMMIT")
            for g in group:
                g[3].set()


class _Check:
    def __init__(self, path: Path, node: str) -> None:
        self._read = threading.local()
        self._path = path
        self._node = node
        self._writer = _Writer(_connect(path))
        self._identities: dict[str, tuple[str, str]] = {}
        self._revoked: frozenset[str] = frozenset()

    def _reader(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._read, "db", None)
        if db is None:
            db = self._read.db = _connect(self._path)
        return db

    def _caller(self, context: grpc.ServicerContext) -> tuple[str, str]:
        pem = bytes(context.auth_context()["x509_pem_cert"][0])
        fingerprint = hashlib.sha256(pem).hexdigest()
        identity = self._identities.get(fingerprint)
        if identity is None:
            subject = x509.load_pem_x509_certificate(pem).subject
            name = str(subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
            identity = self._identities[fingerprint] = (name, fingerprint)
        if identity[1] in self._revoked:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "certificate revoked")
        return identity

    def __call__(
        self, request: discipline_pb2.CheckRequest, context: grpc.ServicerContext
    ) -> discipline_pb2.CheckResponse:
        actor, _ = self._caller(context)
        if not request.purpose.strip() or len(request.subject) != 18:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "bad check")
        now = int(time.time())
        rows = (
            self._reader()
            .execute(
                "SELECT record_id, version, issuer, category, kind, status FROM notice "
                "WHERE subject = ? AND expires_at > ?",
                (request.subject, now),
            )
            .fetchall()
        )
        decision = "intercept" if any(r[4] == "blacklist" for r in rows) else "clear"
        check_id = uuid.uuid4().hex
        event = json.dumps(
            {
                "kind": "check",
                "check": check_id,
                "actor": actor,
                "subject": request.subject,
                "purpose": request.purpose,
                "decision": decision,
                "at": now,
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        self._writer.commit(
            (
                check_id,
                now,
                actor,
                "procurement",
                request.purpose,
                request.case_id,
                request.subject,
                decision,
            ),
            [(check_id, r[0], r[1], now) for r in rows],
            event,
        )
        return discipline_pb2.CheckResponse(
            check_id=check_id,
            decision=decision,
            checked_at=now,
            node=self._node,
            hits=[
                discipline_pb2.NoticeHit(
                    record_id=r[0],
                    version=r[1],
                    issuer=r[2],
                    category=r[3],
                    kind=r[4],
                    status=r[5],
                    intercepts=True,
                )
                for r in rows
            ],
        )


def _serve(
    path: str,
    node: str,
    key_pem: bytes,
    chain_pem: bytes,
    root_pem: bytes,
    workers: int,
    ports: Any,
    stop: EventType,
) -> None:
    """Child-process body: serve the lean check until ``stop`` is set."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers),
        options=server_options(DEFAULT_LIMITS),
        maximum_concurrent_rpcs=workers * 8,
    )
    handler = grpc.unary_unary_rpc_method_handler(
        _Check(Path(path), node),
        request_deserializer=discipline_pb2.CheckRequest.FromString,
        response_serializer=discipline_pb2.CheckResponse.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("gateway.v1.Discipline", {"Check": handler}),)
    )
    credentials = grpc.ssl_server_credentials(
        [(key_pem, chain_pem)], root_certificates=root_pem, require_client_auth=True
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    ports.put(port)
    stop.wait()
    server.stop(1).wait()


@contextmanager
def lean_check_server(node_dir: Path, node: str, subject: str, scratch: Path) -> Iterator[Served]:
    """The lean check for ``subject`` (one notice) in another process; its address and pid."""
    path = scratch / "lean-check.db"
    _seed(path, subject)
    creds = load_node_credentials(node_dir)
    with spawned(
        _serve,
        str(path),
        node,
        creds.tls_private_key_pem(),
        creds.tls_certificate_chain_pem(),
        creds.root_pem(),
        ServerSettings().workers,
    ) as served:
        yield served
