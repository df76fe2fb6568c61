"""In-process probe: the node's per-record verification against the lean hub's ``_verify``.

The same records (双公示 penalty records issued by ``issue_record``, one key), each verified
by ``verify_record`` as a hub's receive path does and by ``LeanHop._verify``, alternated in
one process; thread CPU per record, medians of the repetitions, and their ratio.

Run from a tree with ``PYTHONPATH`` at it: ``python -m bench.probe_verify [records] [reps]``
(prints one JSON line). ``--profile`` instead loops the node's verification for py-spy.
``--check`` times the whole of a hub's per-record check instead of ``verify_record`` alone:
:class:`~gateway.node.record_check.RecordCheck` at a province (330000) against a signed
directory, batches of 500 records issued by its child 330500 with that node's signing key
and redacted for it (verification, the key's owner and validity, the arrival rule and the
share plan), each pass on fresh copies of the texts, as a hub receives them (the node's as
``DigestedText``). ``--young=N`` sets the collector's first threshold (a node's is
:data:`gateway.node.collector.SERVING_THRESHOLDS`; Python's default 700).
"""

from __future__ import annotations

import datetime as dt
import gc
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
from gateway.core.algorithms import Ed25519Signer, Verifier
from gateway.core.catalog import RecipientKind
from gateway.core.digested import DigestedText
from gateway.core.limits import DEFAULT_LIMITS
from gateway.core.policy import Recipient, decide
from gateway.core.record_fields import validate_record
from gateway.core.records import issue_record, redact_record, verify_record
from gateway.node.catalog_files import load_packaged_catalog
from gateway.node.directory_file import build_directory, sign_directory_file
from gateway.node.record_check import RecordCheck
from gateway.node.trust import FederationTrust
from gateway.pki import load_node_credentials, signing_kid
from tests.support.federation import make_keystore
from tests.support.records import penalty_fields

NODE, CATEGORY = "330500", "admin_penalty"
HUB, ROOT = "330000", "000000"
BATCH = 500


def _records(count: int, key: Ed25519PrivateKey, now: int, kid: str = "k1") -> list[str]:
    catalog = load_packaged_catalog(NODE)
    today = dt.datetime.fromtimestamp(now, dt.UTC).date()
    signer = Ed25519Signer(kid, key)
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


def _hub_check(scratch: Path, now: int) -> tuple[RecordCheck, Ed25519PrivateKey, str]:
    """A province's :class:`RecordCheck` under a signed directory; its child's signing key."""
    keys = make_keystore(scratch / "keys", nodes=[ROOT, HUB, NODE], clients=[])
    endpoints = {node: f"127.0.0.1:{7000 + i}" for i, node in enumerate((ROOT, HUB, NODE))}
    directory = build_directory(keys.root, endpoints, serial=1, now=now, valid_s=86400)
    hub = load_node_credentials(keys.node(HUB))
    trust = FederationTrust(node_id=HUB, root=hub.root, clock=time.time)
    trust.install(sign_directory_file(keys.root, directory))
    check = RecordCheck(
        node_id=HUB,
        parent=ROOT,
        catalog=load_packaged_catalog(HUB),
        trust=trust,
        limits=DEFAULT_LIMITS,
    )
    child = load_node_credentials(keys.node(NODE))
    return check, child.signing_key, signing_kid(child.signing_cert)


def _as_sent_up(text: str, verifier: Verifier, now: int) -> str:
    """The record as its issuer sends it to its parent: redacted to the parent's plan."""
    record = verify_record(
        text, resolve_key=lambda _k: verifier, key_owner=lambda _k: NODE, now=now
    )
    category = load_packaged_catalog(NODE).category(record.category)
    parent = Recipient(RecipientKind.PARENT, node_id=HUB)
    return redact_record(text, decide(category, parent, record.subject_type))


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(args[0]) if args else 1500
    reps = int(args[1]) if len(args) > 1 else 7
    now = int(time.time())
    scratch_dir = tempfile.TemporaryDirectory()
    scratch = Path(scratch_dir.name)
    if "--check" in sys.argv:
        hub, key, kid = _hub_check(scratch, now)
    else:
        key, kid = Ed25519PrivateKey.generate(), "k1"
    verifier = Ed25519Signer(kid, key).verifier()
    records = _records(count, key, now, kid)
    if "--check" in sys.argv:
        records = [_as_sent_up(text, verifier, now) for text in records]
    sdjwt._PARSED.clear()
    disclosure._DECODED.clear()
    for arg in sys.argv:
        if arg.startswith("--young="):
            gc.set_threshold(int(arg.removeprefix("--young=")), 10, 10)

    def node() -> float:
        if "--check" in sys.argv:
            received = [DigestedText(f"{text} "[:-1]) for text in records]
            start = time.thread_time()
            for i in range(0, count, BATCH):
                hub.check(received[i : i + BATCH], sender=NODE, now=now, alone=True)
            return (time.thread_time() - start) / count * 1e6
        start = time.thread_time()
        for text in records:
            verify_record(text, resolve_key=lambda _k: verifier, key_owner=lambda _k: NODE, now=now)
        return (time.thread_time() - start) / count * 1e6

    if "--profile" in sys.argv:
        while True:
            node()
    with scratch_dir:
        lean = LeanHop(
            scratch / "lean.db",
            sender_key=key.public_key(),
            issuer_keys={kid: key.public_key()},
            signer=None,
        )

        def floor() -> float:
            received = [f"{text} "[:-1] for text in records] if "--check" in sys.argv else records
            start = time.thread_time()
            for text in received:
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
