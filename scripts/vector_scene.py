"""The golden vectors' scene: three nodes, their fixed keys, fixed times and seeded salts.

Huzhou (330500) issues a penalty and pushes to its province Zhejiang (330000),
which witnesses Huzhou's audit log; Lishui (331100) is the attacker of the
negative vectors. Used by ``scripts/gen_vectors.py`` and ``vector_attacks.py``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date
from functools import cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.core.algorithms import Ed25519Signer
from gateway.core.catalog import Catalog, RecipientKind
from gateway.core.checkpoint import Checkpoint
from gateway.core.dsse import Envelope
from gateway.core.identifiers import SubjectType, compute_citizen_check, make_uscc
from gateway.core.merkle import MerkleTree
from gateway.core.messages import RoutedMessage
from gateway.core.note import NoteSigner
from gateway.core.policy import Recipient, decide
from gateway.core.record_fields import record_key, validate_record
from gateway.core.records import issue_record, redact_record
from gateway.core.statements import StatusStatement
from gateway.node.audit_log import log_origin
from gateway.node.catalog_files import load_packaged_catalog

HUZHOU = "330500"
"""The issuing city: signs the record, the statement, the message, the hop and its log."""
ZHEJIANG = "330000"
"""Huzhou's province: the hop's audience and the witness of Huzhou's audit log."""
LISHUI = "331100"
"""Another city of the province: the attacker of the negative vectors."""
NODES = {HUZHOU: "Huzhou", ZHEJIANG: "Zhejiang", LISHUI: "Lishui"}

TODAY = date(2025, 12, 1)
"""The day of intake in China Standard Time."""
ISSUED_AT = 1_764_554_400
"""2025-12-01T02:00:00Z: the record's ``iat`` and the statement's ``issued_at``."""
SENT_AT = ISSUED_AT + 60
"""When the hop batch, the message and the checkpoint's cosignature are signed."""


def node_key(node: str) -> Ed25519PrivateKey:
    """The node's fixed Ed25519 signing key: its seed is a hash of a label and the node id."""
    seed = hashlib.sha256(f"credit-gateway golden vector key {node}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def key_id(node: str) -> str:
    """Stands in for the fingerprint of the node's signing certificate (no certificates here)."""
    return hashlib.sha256(node_key(node).public_key().public_bytes_raw()).hexdigest()


def signer(node: str, *, kid_of: str | None = None) -> Ed25519Signer:
    """The node's signer; ``kid_of`` names another node's key id (a forgery)."""
    return Ed25519Signer(key_id(kid_of or node), node_key(node))


class Stream:
    """Seeded bytes in place of the system's randomness: SHAKE-256 of a label and a counter."""

    def __init__(self, label: str) -> None:
        self._seed = hashlib.sha256(label.encode()).digest()
        self._counter = 0

    def __call__(self, size: int) -> bytes:
        self._counter += 1
        return hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(size)

    def uuid4_hex(self) -> str:
        """A version 4 UUID in hex, as the nodes make statement, batch and message ids."""
        return uuid.UUID(bytes=self(16), version=4).hex


AUTHORITY = make_uscc("11330500", "00267531")
"""湖州市生态环境局, the deciding authority."""
COMPANY = make_uscc("91330502", "MA2B3C4D")
REPRESENTATIVE = "33050219800115001" + compute_citizen_check("33050219800115001")


def penalty_fields() -> dict[str, str]:
    """One administrative penalty of Huzhou's against a company, with its representative."""
    return {
        "XDR_MC": "湖州示例环保科技有限公司",
        "XDR_LB": "法人及非法人组织",
        "XDR_SHXYM": COMPANY,
        "FRDB": "张三",
        "FR_ZJLX": "身份证",
        "FR_ZJHM": REPRESENTATIVE,
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
        "CF_SJLY": "湖州市生态环境局",
        "CF_SJLYDM": AUTHORITY,
        "CF_YZCD": "general",
    }


@cache
def packaged_catalog() -> Catalog:
    return load_packaged_catalog(HUZHOU)


def issue(
    issuer: str,
    fields: dict[str, str],
    *,
    sign_as: Ed25519Signer,
    seed: str,
    version: int = 1,
    record_id: str | None = None,
) -> str:
    """Validate and issue a penalty as intake does, with seeded salts and decoys.

    ``version`` and ``record_id`` other than intake's make the attacks: a version
    beyond the bounds, a version of another node's record.
    """
    catalog = packaged_catalog()
    record = validate_record(catalog, "admin_penalty", fields, today=TODAY)
    return issue_record(
        record,
        catalog.category("admin_penalty"),
        issuer=issuer,
        record_id=record_id
        or record_key(issuer, record.category, record.document_number, record.subject_id),
        version=version,
        catalog_version=catalog.version,
        signer=sign_as,
        now=ISSUED_AT,
        random_bytes=Stream(seed),
    )


def redacted(sd_jwt: str, recipient: Recipient) -> str:
    """The record as Huzhou sends it to ``recipient`` (a company: legal person rules)."""
    category = packaged_catalog().category("admin_penalty")
    return redact_record(sd_jwt, decide(category, recipient, SubjectType.LEGAL_PERSON))


PARENT = Recipient(RecipientKind.PARENT, node_id=ZHEJIANG)
PUBLIC = Recipient(RecipientKind.PUBLIC)


def record_id_of(sd_jwt: str) -> str:
    # Read without verifying: the script made the record a line earlier.
    payload = sd_jwt.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["rid"])


@dataclass(frozen=True)
class Golden:
    """The positive vectors, as objects, for the negative ones to be made from."""

    issued: str
    for_parent: str
    statement: StatusStatement
    message: RoutedMessage
    items: list[bytes | str]
    hop: Envelope
    checkpoint: Checkpoint
    cosignature: str


LOG = NoteSigner(log_origin(HUZHOU), node_key(HUZHOU))
"""Huzhou's audit log key (the node's signing key, named after the log's origin)."""


def audit_checkpoint(size: int) -> Checkpoint:
    """Huzhou's audit log at ``size`` leaves ``golden audit event <i>`` (unsigned)."""
    tree = MerkleTree(f"golden audit event {i}".encode() for i in range(size))
    return Checkpoint(log_origin(HUZHOU), tree.size, tree.root())
