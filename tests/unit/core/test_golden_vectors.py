"""Our own formats, pinned byte for byte by golden vectors (tests/vectors/ours).

``scripts/gen_vectors.py`` writes them from fixed keys, times and seeded salts;
here each one goes through the project's verification functions and reads back
exactly the values it was made from.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.core.catalog import RecipientKind
from gateway.core.discipline_messages import HitReport
from gateway.core.dsse import Envelope
from gateway.core.identifiers import SubjectType
from gateway.core.merkle import MerkleTree
from gateway.core.messages import next_hop
from gateway.core.policy import Recipient, check_received, decide
from gateway.core.records import SignedRecord, verify_record
from gateway.core.sdjwt import parse_sd_jwt
from gateway.core.statements import StatusKind, StatusStatement, verify_statement
from gateway.node.catalog_files import load_packaged_catalog
from tests.support.vectors import (
    HUZHOU,
    LISHUI,
    VERIFY_AT,
    ZHEJIANG,
    key_owner,
    keys,
    keys_of,
    open_cosigned_checkpoint,
    open_relayed_witness_statement,
    read,
    resolve_key,
    verify_hop,
    verify_record_at_parent,
    verify_routed_message,
    verify_statement_of_issuer,
)

ROOT = Path(__file__).resolve().parents[3]

RECORD_ID = "330500-d91b7c63e65be5280f869e9c0147aecc"
HUZHOU_KID = "aa3fa6229bd864ebc40e6eed0101cd4501e6e49730574e4127a2f24df2916736"
ISSUED_AT = 1_764_554_400
SENT_AT = ISSUED_AT + 60
COMPANY = "91330502MA2B3C4D1U"
AUTHORITY = "11330500002675319A"

PUBLIC_FIELDS = {
    "XDR_MC": "湖州示例环保科技有限公司",
    "XDR_LB": "法人及非法人组织",
    "XDR_SHXYM": COMPANY,
    "CF_WSH": "湖环罚〔2025〕101号",
    "CF_WFXW": "超标排放大气污染物",
    "CF_YJ": "《中华人民共和国大气污染防治法》第九十九条",
    "CF_CFLB": "罚款",
    "CF_NR": "罚款人民币十万元",
    "CF_NR_FK": "10",
    "CF_JDRQ": "2025-11-20",
    "CF_YXQ": "2026-11-20",
    "CF_CFJG": "湖州市生态环境局",
    "CF_CFJGDM": AUTHORITY,
    "CF_YZCD": "general",
}
PARENT_FIELDS = {
    **PUBLIC_FIELDS,
    "FR_ZJLX": "身份证",
    "CF_SJLY": "湖州市生态环境局",
    "CF_SJLYDM": AUTHORITY,
}
ALL_FIELDS = {**PARENT_FIELDS, "FRDB": "张三", "FR_ZJHM": "330502198001150012"}
MASKED = {"FRDB": "张*", "FR_ZJHM": "3305**********0012"}
HOP_ITEMS = ["record.parent-330000.sd-jwt", "statement.dsse.json", "message.dsse.json"]


def _text(name: str) -> str:
    return read(name).decode("ascii")


def _assert_record_claims(record: SignedRecord, name: str) -> None:
    assert (
        record.issuer,
        record.record_id,
        record.version,
        record.category,
        record.catalog_version,
        record.subject_type,
        record.issued_at,
        record.expires_at,
        record.key_id,
        record.sd_jwt,
    ) == (
        HUZHOU,
        RECORD_ID,
        1,
        "admin_penalty",
        "2025.1+330000.2025.1+330500.2025.1",
        SubjectType.LEGAL_PERSON,
        ISSUED_AT,
        1_779_292_799,  # end of 2026-05-20 (UTC+8): Huzhou's 6 months for a general penalty
        HUZHOU_KID,
        _text(name),
    )


def test_the_checked_in_vectors_are_exactly_what_the_script_writes() -> None:
    checked = subprocess.run(
        [sys.executable, "scripts/gen_vectors.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")


def test_the_keys_are_the_listed_seeds_and_key_ids() -> None:
    assert sorted(keys()) == [ZHEJIANG, HUZHOU, LISHUI]
    for key in keys().values():
        public = Ed25519PrivateKey.from_private_bytes(key.seed).public_key().public_bytes_raw()
        assert public == key.public
        assert key.kid == hashlib.sha256(public).hexdigest()
    assert keys()[HUZHOU].kid == HUZHOU_KID


def test_the_issued_record_verifies_strictly_with_every_field_and_masked_variant() -> None:
    record = verify_record(
        _text("record.issued.sd-jwt"), resolve_key=resolve_key, key_owner=key_owner, now=VERIFY_AT
    )
    _assert_record_claims(record, "record.issued.sd-jwt")
    assert dict(record.clear) == ALL_FIELDS
    assert dict(record.masked) == {**MASKED, "XDR_MC": "湖***********"}
    parsed = parse_sd_jwt(_text("record.issued.sd-jwt"))
    assert len(parsed.disclosures) == len(ALL_FIELDS) + 3


def test_the_record_redacted_for_the_parent_passes_the_parents_checks() -> None:
    record = verify_record_at_parent(_text("record.parent-330000.sd-jwt"))
    _assert_record_claims(record, "record.parent-330000.sd-jwt")
    assert (dict(record.clear), dict(record.masked)) == (PARENT_FIELDS, MASKED)


def test_the_record_redacted_for_the_public_shows_only_public_fields() -> None:
    record = verify_record(
        _text("record.public.sd-jwt"), resolve_key=resolve_key, key_owner=key_owner, now=VERIFY_AT
    )
    _assert_record_claims(record, "record.public.sd-jwt")
    assert (dict(record.clear), dict(record.masked)) == (PUBLIC_FIELDS, MASKED)
    public = decide(
        load_packaged_catalog(ZHEJIANG).category("admin_penalty"),
        Recipient(RecipientKind.PUBLIC),
        SubjectType.LEGAL_PERSON,
    )
    check_received(public, {*record.clear, *(f"{code}#masked" for code in record.masked)})


def test_redaction_keeps_the_issuers_signed_jwt_byte_for_byte() -> None:
    names = ["record.issued.sd-jwt", "record.parent-330000.sd-jwt", "record.public.sd-jwt"]
    assert len({_text(name).split("~", 1)[0] for name in names}) == 1


def test_the_status_statement_verifies_as_the_record_issuers() -> None:
    expected = StatusStatement(
        statement_id="9e606eeb84b444ceb5af4ca0fe2e9897",
        kind=StatusKind.SUSPENSION,
        issuer=HUZHOU,
        record_id=RECORD_ID,
        version=1,
        issued_at=ISSUED_AT + 30,
        reason="当事人对处罚决定提出异议，异议处理期间暂停公示",
        new_version=None,
    )
    assert verify_statement_of_issuer(read("statement.dsse.json")) == expected
    envelope = Envelope.from_json(read("statement.dsse.json"))
    by_kid = verify_statement(envelope, resolve_key=resolve_key, issuer_keyid=HUZHOU_KID)
    assert by_kid == expected
    assert envelope.to_json() == read("statement.dsse.json")


def test_the_routed_message_verifies_as_its_origins_and_routes_through_the_province() -> None:
    message = verify_routed_message(read("message.dsse.json"))
    assert (
        message.message_id,
        message.origin,
        message.target,
        message.kind,
        message.created_at,
    ) == ("212a7c66a9104f7a8fd18842921f932e", HUZHOU, LISHUI, "discipline.hit", SENT_AT)
    assert HitReport.from_body(message.body) == HitReport(
        check_id="382067df9e394817846e0af8f806c310",
        record_id="331100-5bad45d6492d47515b095489a4af2bd5",
        version=1,
        checked_at=ISSUED_AT + 40,
        department="湖州市公共资源交易中心",
        domain="procurement",
        purpose="政府采购供应商资格审查",
        case_id="HZCG-2025-0042",
        decision="excluded",
        measures=("M-PROC-01",),
    )
    assert next_hop(HUZHOU, LISHUI) == ZHEJIANG


def test_the_hop_batch_signs_each_item_as_sent() -> None:
    items = [read(name) for name in HOP_ITEMS]
    batch = verify_hop(read("hop-batch.dsse.json"), items)
    assert (batch.sender, batch.audience, batch.batch_id, batch.sent_at) == (
        HUZHOU,
        ZHEJIANG,
        "ff2b08d570294cda93d75fab4772234f",
        SENT_AT,
    )
    assert batch.item_digests == tuple(hashlib.sha256(item).hexdigest() for item in items)
    envelope = Envelope.from_json(read("hop-batch.dsse.json"))
    assert [s.keyid for s in envelope.signatures] == [HUZHOU_KID]
    assert keys_of(HUZHOU)(HUZHOU_KID).key_id == HUZHOU_KID


def test_the_checkpoint_verifies_with_the_log_key_and_its_cosignature() -> None:
    checkpoint, cosignature = open_cosigned_checkpoint(read("checkpoint.cosigned.note"))
    tree = MerkleTree(f"golden audit event {i}".encode() for i in range(5))
    assert (checkpoint.origin, checkpoint.size, checkpoint.root, checkpoint.extensions) == (
        "credit-gateway/330500",
        5,
        tree.root(),
        (),
    )
    assert (cosignature.name, cosignature.timestamp) == ("credit-gateway/330000", SENT_AT)
    head = open_relayed_witness_statement(read("checkpoint.cosigned.note"))
    assert (head.witness, head.checkpoint, head.cosigned_at) == (
        "credit-gateway/330000",
        checkpoint,
        SENT_AT,
    )
