"""Write, or check, our own golden vectors under tests/vectors/ours/.

    python scripts/gen_vectors.py           # rewrite the checked-in vectors
    python scripts/gen_vectors.py --check   # fail if they differ from a rebuild

Every byte comes from fixed inputs: Ed25519 keys derived from fixed seeds, fixed
times, and salts, decoys and ids drawn from a seeded SHAKE-256 stream instead of
the system's randomness. Ed25519 signatures are deterministic, so a rebuild is
byte for byte the same until a format changes; then ``git diff`` of the vectors
shows the change. The negative vectors (``regressions/``) each pin one refused
attack: the bytes, and the exact error type and message the verifier must
raise (``regressions.json``, checked by ``tests/unit/core/test_regression_vectors.py``).

The scene (keys, times, the record's fields) is ``vector_scene.py``; the attacks
are ``vector_attacks.py``; this script builds the positive vectors and writes all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vector_attacks import regressions
from vector_scene import (
    COMPANY,
    HUZHOU,
    ISSUED_AT,
    LISHUI,
    LOG,
    NODES,
    PARENT,
    PUBLIC,
    SENT_AT,
    ZHEJIANG,
    Golden,
    Stream,
    audit_checkpoint,
    issue,
    key_id,
    node_key,
    penalty_fields,
    record_id_of,
    redacted,
    signer,
)

from gateway.core.checkpoint import cosign, sign_checkpoint
from gateway.core.discipline_messages import HIT_KIND, HitReport
from gateway.core.hop import build_hop_batch, sign_hop_batch
from gateway.core.messages import RoutedMessage, sign_message
from gateway.core.record_fields import record_key
from gateway.core.statements import StatusKind, StatusStatement, sign_statement
from gateway.node.audit_log import log_origin

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "vectors" / "ours"


def _json(value: object) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode()


def build() -> dict[str, bytes]:
    """Every vector file, by its path under ``tests/vectors/ours/``."""
    files: dict[str, bytes] = {}
    files["keys.json"] = _json(
        {
            "about": "Test keys of the golden vectors; never use them anywhere else.",
            "keys": [
                {
                    "node": node,
                    "name": name,
                    "seed": node_key(node).private_bytes_raw().hex(),
                    "public": node_key(node).public_key().public_bytes_raw().hex(),
                    "kid": key_id(node),
                }
                for node, name in NODES.items()
            ],
        }
    )

    # A record, issued at Huzhou and redacted for its two usual recipients.
    issued = issue(HUZHOU, penalty_fields(), sign_as=signer(HUZHOU), seed="record")
    for_parent = redacted(issued, PARENT)
    files["record.issued.sd-jwt"] = issued.encode()
    files["record.parent-330000.sd-jwt"] = for_parent.encode()
    files["record.public.sd-jwt"] = redacted(issued, PUBLIC).encode()

    ids = Stream("ids")
    statement = StatusStatement(
        statement_id=ids.uuid4_hex(),
        kind=StatusKind.SUSPENSION,
        issuer=HUZHOU,
        record_id=record_id_of(issued),
        version=1,
        issued_at=ISSUED_AT + 30,
        reason="当事人对处罚决定提出异议，异议处理期间暂停公示",
        new_version=None,
    )
    statement_json = sign_statement(statement, signer(HUZHOU)).to_json()
    files["statement.dsse.json"] = statement_json

    # Huzhou reports a hit on a Lishui record to its issuer, two hops away.
    hit = HitReport(
        check_id=ids.uuid4_hex(),
        record_id=record_key(LISHUI, "admin_penalty", "丽环罚〔2025〕7号", COMPANY),
        version=1,
        checked_at=ISSUED_AT + 40,
        department="湖州市公共资源交易中心",
        domain="procurement",
        purpose="政府采购供应商资格审查",
        case_id="HZCG-2025-0042",
        decision="excluded",
        measures=("M-PROC-01",),
    )
    message = RoutedMessage(
        message_id=ids.uuid4_hex(),
        origin=HUZHOU,
        target=LISHUI,
        kind=HIT_KIND,
        created_at=SENT_AT,
        body=hit.to_body(),
    )
    message_json = sign_message(message, signer(HUZHOU)).to_json()
    files["message.dsse.json"] = message_json

    # One push from Huzhou to its province: the record, the statement, the message.
    items: list[bytes | str] = [for_parent, statement_json, message_json]
    batch = build_hop_batch(
        sender=HUZHOU, audience=ZHEJIANG, batch_id=ids.uuid4_hex(), sent_at=SENT_AT, items=items
    )
    hop = sign_hop_batch(batch, signer(HUZHOU))
    files["hop-batch.dsse.json"] = hop.to_json()

    # Huzhou's audit log at 5 events, cosigned by its province.
    checkpoint = audit_checkpoint(5)
    note = sign_checkpoint(checkpoint, LOG)
    cosignature = cosign(checkpoint.body(), log_origin(ZHEJIANG), node_key(ZHEJIANG), SENT_AT)
    files["checkpoint.cosigned.note"] = (note + cosignature).encode()

    golden = Golden(issued, for_parent, statement, message, items, hop, checkpoint, cosignature)
    negatives = regressions(golden)
    files.update((n.file, n.data) for n in negatives if n.data is not None)
    files["regressions.json"] = _json([n.entry() for n in negatives])
    return files


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    built = build()
    on_disk = {str(path.relative_to(OUT)) for path in OUT.rglob("*") if path.is_file()} - {
        "README.md"
    }
    stale = sorted(
        name for name, data in built.items()
        if not (OUT / name).is_file() or (OUT / name).read_bytes() != data
    )  # fmt: skip
    unknown = sorted(on_disk - built.keys())
    if args.check:
        if stale or unknown:
            print(
                f"stale: {', '.join(stale) or '-'}; not generated: {', '.join(unknown) or '-'};"
                " run scripts/gen_vectors.py",
                file=sys.stderr,
            )
            return 1
        return 0
    for name in unknown:
        (OUT / name).unlink()
        print(f"removed {name}")
    for name in stale:
        path = OUT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(built[name])
        print(f"wrote {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
