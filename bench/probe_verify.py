"""In-process probe: the node's per-record verification against the lean hub's ``_verify``.

The same records (双公示 penalty records issued by ``issue_record``, one key), each verified
by ``verify_record`` as a hub's receive path does and by ``LeanHop._verify``, alternated in
one process; thread CPU per record, medians of the repetitions, and their ratio.

Run from a tree with ``PYTHONPATH`` at it: ``python -m bench.probe_verify [records] [reps]``
(prints one JSON line). ``--profile`` instead loops the node's verification for py-spy.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.lean_hop import LeanHop
from gateway.core import disclosure, sdjwt
from gateway.core.algorithms import Ed25519Signer
from gateway.core.record_fields import validate_record
from gateway.core.records import issue_record, verify_record
from gateway.node.catalog_files import load_packaged_catalog
from tests.support.records import penalty_fields

NODE, CATEGORY = "330500", "admin_penalty"


def _records(count: int, key: Ed25519PrivateKey, now: int) -> list[str]:
    catalog = load_packaged_catalog(NODE)
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    signer = Ed25519Signer("k1", key)
    out = []
    for i in range(count):
        fields = penalty_fields(i, decided=today - dt.timedelta(days=30))
        record = validate_record(catalog, CATEGORY, fields, today=today)
        out.append(
            issue_record(
                record,
                catalog.category(CATEGORY),
                issuer=NODE,
                record_id=f"{NODE}-r-{i:06d}",
                version=1,
                catalog_version=catalog.version,
                signer=signer,
                now=now,
            )
        )
    return out


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(args[0]) if args else 1500
    reps = int(args[1]) if len(args) > 1 else 7
    now = int(time.time())
    key = Ed25519PrivateKey.generate()
    verifier = Ed25519Signer("k1", key).verifier()
    records = _records(count, key, now)
    sdjwt._PARSED.clear()
    disclosure._DECODED.clear()

    def node() -> float:
        start = time.thread_time()
        for text in records:
            verify_record(text, resolve_key=lambda _k: verifier, key_owner=lambda _k: NODE, now=now)
        return (time.thread_time() - start) / count * 1e6

    if "--profile" in sys.argv:
        while True:
            node()
    with tempfile.TemporaryDirectory() as scratch:
        lean = LeanHop(
            Path(scratch) / "lean.db",
            sender_key=key.public_key(),
            issuer_keys={"k1": key.public_key()},
            signer=None,
        )

        def floor() -> float:
            start = time.thread_time()
            for text in records:
                lean._verify(text, now)
            return (time.thread_time() - start) / count * 1e6

        node(), floor()
        pairs = []
        for i in range(reps):
            a, b = (node(), floor()) if i % 2 == 0 else tuple(reversed((floor(), node())))
            pairs.append((a, b))
        lean.close()
    print(
        json.dumps(
            {
                "node_us": statistics.median(a for a, _ in pairs),
                "lean_us": statistics.median(b for _, b in pairs),
                "ratio": statistics.median(a / b for a, b in pairs),
                "load": os.getloadavg()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
