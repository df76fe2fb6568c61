"""The lean hop receiver: exactly what a hub must do per batch, with no framework around it.

A floor for the hop benchmark's CPU per record, written for this project with
the node's libraries (pyca Ed25519, hashlib, the strict JSON parser, sqlite3)
and its strictness, and nothing else: no use cases, no store layer, no policy
objects, no gRPC. Per batch of records as the sender pushed them it

* verifies the sender's DSSE envelope (PAE, Ed25519) and the SHA-256 of every
  record against the envelope's list, refusing a replayed batch id;
* verifies every record strictly: sizes and counts before parsing, canonical
  base64url, strict JSON, ``alg`` / ``crit`` / ``typ`` / ``kid`` checks, the
  issuer's Ed25519 signature over the received bytes, every Disclosure decoded
  and checked (shape, reserved names, duplicates, referenced by ``_sd``, no
  collision with a visible claim), ``_sd_alg`` and ``exp``;
* reads which of the batch's records are already stored (one statement);
* stores the batch, its records and one change row per record with
  ``executemany``, and one audit leaf (SHA-256 Merkle leaf) for the batch,
  in one transaction on SQLite with ``synchronous=FULL`` and WAL, as the node;
* when forwarding, redacts each record for the next hop from the Disclosures it
  has just decoded, signs one DSSE envelope over the forwarded records' digests
  and queues it in an outbox row (same transaction);
* settles: marks the outbox row sent, in a second transaction.

Only flat records (the shape of every 双公示 record) are accepted; anything
nested is refused, which is stricter than the node, never laxer.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.core import strict_json

__all__ = ["LeanBatch", "LeanHop", "lean_batches"]

PAYLOAD_TYPE = "application/vnd.credit-gateway.batch+json"
_TYP = "vnd.credit-gateway.record+sd-jwt"
_MAX_RECORD_BYTES = 64 * 1024
_MAX_DISCLOSURES = 256
_STD = bytes.maketrans(b"-_", b"+/")
_URL = bytes.maketrans(b"+/", b"-_")
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_UNUSED = {2: 0b1111, 3: 0b11}
_SUBJECT = "XDR_SHXYM"
_RESERVED = frozenset({"_sd", "...", "_sd_alg"})
_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (batch_id TEXT PRIMARY KEY, sender TEXT, envelope BLOB,
    received_at INTEGER);
CREATE TABLE IF NOT EXISTS record (record_id TEXT PRIMARY KEY, version INTEGER, issuer TEXT,
    category TEXT, subject TEXT, sd_jwt TEXT, digest BLOB, expires_at INTEGER,
    received_at INTEGER);
CREATE INDEX IF NOT EXISTS record_subject ON record (subject);
CREATE TABLE IF NOT EXISTS record_change (seq INTEGER PRIMARY KEY, record_id TEXT,
    version INTEGER, at INTEGER);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, leaf BLOB, event TEXT);
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, destination TEXT, batch_id TEXT,
    envelope BLOB, records TEXT, sent INTEGER DEFAULT 0);
"""


def _b64d(text: str) -> bytes:
    # As the node's b64url_decode: "+/=" refused, then the strict decoder checks the rest
    # of the alphabet (a non-ASCII character fails the encode: a ValueError too).
    remainder = len(text) % 4
    if remainder == 1 or "+" in text or "/" in text or "=" in text:
        raise ValueError("not base64url")
    padded = (text + "=" * (-remainder % 4)).encode("ascii").translate(_STD)
    data = binascii.a2b_base64(padded, strict_mode=True)
    unused = _UNUSED.get(remainder, 0)
    if unused and _ALPHABET.index(text[-1]) & unused:
        raise ValueError("not canonical base64url")
    return data


def _b64e(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_URL).rstrip(b"=").decode("ascii")


def _pae(payload: bytes) -> bytes:
    kind = PAYLOAD_TYPE.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True, slots=True)
class LeanBatch:
    """One pushed batch: its DSSE payload and signature, and the records as sent."""

    payload: bytes
    signature: bytes
    records: tuple[str, ...]


def lean_batches(
    sender: Ed25519PrivateKey, records: Sequence[str], batch: int, tag: str
) -> list[LeanBatch]:
    """The batches a sender pushes (made outside the timed window)."""
    out = []
    for first in range(0, len(records), batch):
        chunk = tuple(records[first : first + batch])
        payload = json.dumps(
            {
                "sender": "330500",
                "audience": "330000",
                "batch_id": f"{tag}-{first}",
                "time": int(time.time()),
                "records": [hashlib.sha256(r.encode()).hexdigest() for r in chunk],
            },
            separators=(",", ":"),
        ).encode()
        out.append(LeanBatch(payload, sender.sign(_pae(payload)), chunk))
    return out


@dataclass(frozen=True, slots=True)
class _Verified:
    record_id: str
    version: int
    issuer: str
    category: str
    subject: str
    expires_at: int
    issuer_jwt: str
    disclosures: tuple[tuple[str, str], ...]
    """(claim name, encoded Disclosure) in received order."""


class LeanHop:
    """A lean receiver on one SQLite file; ``forward`` makes it a hub rather than the root."""

    def __init__(
        self,
        path: Path,
        *,
        sender_key: Ed25519PublicKey,
        issuer_keys: dict[str, Ed25519PublicKey],
        signer: Ed25519PrivateKey | None,
        forward_names: frozenset[str] | None = None,
    ) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._sender_key = sender_key
        self._issuer_keys = issuer_keys
        self._signer = signer
        self._forward_names = forward_names

    def close(self) -> None:
        self._db.close()

    def receive(self, batches: Sequence[LeanBatch], now: int) -> float:
        """Receive every batch; the CPU seconds this thread spent doing it."""
        start = time.thread_time()
        for batch in batches:
            self._receive(batch, now)
        return time.thread_time() - start

    def _receive(self, batch: LeanBatch, now: int) -> None:
        self._sender_key.verify(batch.signature, _pae(batch.payload))
        statement = strict_json.loads(batch.payload)
        listed = statement["records"]
        if len(listed) != len(batch.records):
            raise ValueError("batch lists another number of records")
        digests = []
        verified = []
        for text, expected in zip(batch.records, listed, strict=True):
            digest = hashlib.sha256(text.encode("ascii")).digest()
            if digest.hex() != expected:
                raise ValueError("record digest mismatch")
            digests.append(digest)
            verified.append(self._verify(text, now))
        marks = ",".join("?" * len(verified))
        known = {
            row[0]: row[1]
            for row in self._db.execute(
                f"SELECT record_id, version FROM record WHERE record_id IN ({marks})",
                [v.record_id for v in verified],
            )
        }
        fresh = [
            (v, text, digest)
            for v, text, digest in zip(verified, batch.records, digests, strict=True)
            if known.get(v.record_id, -1) < v.version
        ]
        event = json.dumps(
            {"kind": "batch_received", "batch": statement["batch_id"], "records": len(fresh)},
            separators=(",", ":"),
        ).encode()
        forward = self._forward([v for v, _, _ in fresh], statement["batch_id"])
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "INSERT INTO batch VALUES (?, ?, ?, ?)",
                (statement["batch_id"], statement["sender"], batch.payload + batch.signature, now),
            )
            db.executemany(
                "INSERT OR REPLACE INTO record VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        v.record_id,
                        v.version,
                        v.issuer,
                        v.category,
                        v.subject,
                        text,
                        digest,
                        v.expires_at,
                        now,
                    )
                    for v, text, digest in fresh
                ],
            )
            db.executemany(
                "INSERT INTO record_change (record_id, version, at) VALUES (?, ?, ?)",
                [(v.record_id, v.version, now) for v, _, _ in fresh],
            )
            db.execute(
                "INSERT INTO audit (leaf, event) VALUES (?, ?)",
                (hashlib.sha256(b"\x00" + event).digest(), event.decode()),
            )
            outbox = None
            if forward is not None:
                outbox = db.execute(
                    "INSERT INTO outbox (destination, batch_id, envelope, records) "
                    "VALUES (?, ?, ?, ?)",
                    ("000000", statement["batch_id"], forward[0], forward[1]),
                ).lastrowid
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        if outbox is not None:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE outbox SET sent = 1 WHERE id = ?", (outbox,))
            db.execute("COMMIT")

    def _forward(self, verified: Sequence[_Verified], batch_id: str) -> tuple[bytes, str] | None:
        if self._signer is None:
            return None
        names = self._forward_names
        texts = [
            "".join(
                [
                    v.issuer_jwt,
                    "~",
                    *(f"{d}~" for n, d in v.disclosures if names is None or n in names),
                ]
            )
            for v in verified
        ]
        payload = json.dumps(
            {
                "sender": "330000",
                "audience": "000000",
                "batch_id": batch_id,
                "records": [hashlib.sha256(t.encode("ascii")).hexdigest() for t in texts],
            },
            separators=(",", ":"),
        ).encode()
        return payload + self._signer.sign(_pae(payload)), "\n".join(texts)

    def _verify(self, text: str, now: int) -> _Verified:
        if len(text) > _MAX_RECORD_BYTES or not text.isascii():
            raise ValueError("record too large or not ASCII")
        parts = text.split("~")
        if len(parts) < 2 or parts[-1] or len(parts) - 2 > _MAX_DISCLOSURES:
            raise ValueError("not an SD-JWT without key binding")
        jwt = parts[0]
        segments = jwt.split(".")
        if len(segments) != 3:
            raise ValueError("issuer JWT is not three segments")
        header = strict_json.loads(_b64d(segments[0]))
        if not isinstance(header, dict) or header.get("alg") != "EdDSA" or "crit" in header:
            raise ValueError("bad header")
        if header.get("typ") != _TYP:
            raise ValueError("bad typ")
        key = self._issuer_keys[header["kid"]]
        payload_bytes = _b64d(segments[1])
        key.verify(_b64d(segments[2]), f"{segments[0]}.{segments[1]}".encode("ascii"))
        payload = strict_json.loads(payload_bytes)
        if not isinstance(payload, dict) or payload.get("_sd_alg", "sha-256") != "sha-256":
            raise ValueError("bad payload")
        sd = payload.get("_sd", [])
        if not isinstance(sd, list) or not all(isinstance(d, str) for d in sd):
            raise ValueError("_sd is not an array of strings")
        digests = set(sd)
        if len(digests) != len(sd):
            raise ValueError("a digest appears twice")
        for name, value in payload.items():
            if name == "..." or (isinstance(value, dict | list) and name != "_sd"):
                raise ValueError("not a flat record")
        seen: set[str] = set()
        disclosures = []
        subject = ""
        for encoded in parts[1:-1]:
            if not encoded:
                raise ValueError("empty disclosure")
            digest = _b64e(hashlib.sha256(encoded.encode("ascii")).digest())
            if digest in seen or digest not in digests:
                raise ValueError("duplicate or unreferenced disclosure")
            seen.add(digest)
            array = strict_json.loads(_b64d(encoded))
            if not isinstance(array, list) or len(array) != 3:
                raise ValueError("disclosure is not [salt, name, value]")
            salt, name, value = array
            if not isinstance(salt, str) or not isinstance(name, str) or name in _RESERVED:
                raise ValueError("bad disclosure")
            if name in payload or isinstance(value, dict | list):
                raise ValueError("disclosure collides or is nested")
            disclosures.append((name, encoded))
            if name == _SUBJECT:
                subject = value
        exp = payload.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool) or now >= exp:
            raise ValueError("expired or no exp")
        return _Verified(
            record_id=str(payload["rid"]),
            version=int(payload["ver"]),
            issuer=str(payload["iss"]),
            category=str(payload["cat"]),
            subject=subject,
            expires_at=exp,
            issuer_jwt=jwt,
            disclosures=tuple(disclosures),
        )
