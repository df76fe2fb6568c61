"""The negative golden vectors: one refused attack each, with its exact refusal.

Each is made from the positive vectors (:class:`vector_scene.Golden`) and the
scene's keys; ``scripts/gen_vectors.py`` writes them under
``tests/vectors/ours/regressions/`` and lists them in ``regressions.json``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from typing import Any

from vector_scene import (
    HUZHOU,
    LISHUI,
    LOG,
    NODES,
    PARENT,
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

from gateway.core.algorithms import Ed25519Signer
from gateway.core.checkpoint import Checkpoint, cosign, sign_checkpoint
from gateway.core.dsse import sign_envelope
from gateway.core.hop import HOP_PAYLOAD_TYPE, build_hop_batch, sign_hop_batch
from gateway.core.messages import MESSAGE_PAYLOAD_TYPE, sign_message
from gateway.core.records import RECORD_TYP
from gateway.core.statements import STATEMENT_PAYLOAD_TYPE, StatusKind, sign_statement
from gateway.node.audit_log import log_origin


@dataclass(frozen=True)
class Regression:
    """One refused attack: its bytes, how to verify them, and the exact refusal.

    Attributes:
        name: names the attack; the file is ``regressions/<name>.<ext>``.
        refused: what the attack is, in one line.
        check: which verification the test runs (see the README).
        error: the error class the verifier must raise.
        message: the exact message of that error.
        data: the attack's bytes, or None when a positive vector is the attack.
        ext: the file name extension.
        inputs: other files of the check (the hop envelope and items, the previous checkpoint).
        existing: for ``data`` None, the positive vector that is itself the attack.
    """

    name: str
    refused: str
    check: str
    error: str
    message: str
    data: bytes | None
    ext: str = ""
    inputs: dict[str, Any] = field(default_factory=dict)
    existing: str = ""

    @property
    def file(self) -> str:
        return self.existing or f"regressions/{self.name}.{self.ext}"

    def entry(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "refused": self.refused,
            "file": self.file,
            "check": self.check,
            **self.inputs,
            "error": self.error,
            "message": self.message,
        }


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def _unsigned_alg_none(sd_jwt: str) -> str:
    jwt, rest = sd_jwt.split("~", 1)
    payload = jwt.split(".")[1]
    header = {"alg": "none", "kid": key_id(HUZHOU), "typ": RECORD_TYP}
    compact = json.dumps(header, separators=(",", ":")).encode()
    head = base64.urlsafe_b64encode(compact).rstrip(b"=").decode("ascii")
    return f"{head}.{payload}.~{rest}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _resigned(sd_jwt: str, sign_as: Ed25519Signer, **claims: Any) -> str:
    """``sd_jwt`` with ``claims`` changed, signed again: the issuer's own odd record."""
    jwt, rest = sd_jwt.split("~", 1)
    header, payload, _ = jwt.split(".")
    fields = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    text = json.dumps({**fields, **claims}, ensure_ascii=False, separators=(",", ":"))
    signing_input = f"{header}.{_b64url(text.encode())}"
    return f"{signing_input}.{_b64url(sign_as.sign(signing_input.encode()))}~{rest}"


def _twin_signature(sd_jwt: str) -> str:
    # 64 signature bytes are 86 characters whose last 4 bits encode nothing:
    # flipping one of them decodes to the same signature, in another spelling.
    jwt, rest = sd_jwt.split("~", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return f"{jwt[:-1]}{alphabet[alphabet.index(jwt[-1]) ^ 1]}~{rest}"


def _hop_payload(golden: Golden, **changes: Any) -> bytes:
    fields = json.loads(golden.hop.payload)
    return json.dumps({**fields, **changes}, sort_keys=True, separators=(",", ":")).encode()


HOP_ITEMS = ["record.parent-330000.sd-jwt", "statement.dsse.json", "message.dsse.json"]


def regressions(golden: Golden) -> list[Regression]:
    """One negative vector per refused attack, made from the positive vectors."""
    kid = {node: key_id(node) for node in NODES}
    fields = penalty_fields()
    other = issue(
        LISHUI, {**fields, "CF_WSH": "丽环罚〔2025〕7号"}, sign_as=signer(LISHUI), seed="other"
    )
    good_statement = sign_statement(golden.statement, signer(HUZHOU))
    forged_message = sign_message(golden.message, signer(LISHUI))
    note = sign_checkpoint(golden.checkpoint, LOG)
    witness_line = golden.cosignature.split(" ")
    stamped = base64.b64decode(witness_line[2])
    redated = stamped[:4] + (SENT_AT + 1).to_bytes(8, "big") + stamped[12:]
    lishui_hop = build_hop_batch(
        sender=HUZHOU,
        audience=ZHEJIANG,
        batch_id=Stream("lishui").uuid4_hex(),
        sent_at=SENT_AT,
        items=golden.items,
    )
    elsewhere = _hop_payload(golden, audience="000000")
    late = _hop_payload(golden, sent_at=SENT_AT - 3600)
    # Two "audience" members: parsers differ on which one wins.
    twice = golden.hop.payload.replace(
        b'{"audience":"330000"', b'{"audience":"330000","audience":"000000"'
    )
    spaced = golden.statement.to_payload().replace(b'","', b'", "')
    huzhou_id = record_id_of(golden.issued)
    # A body text with a lone surrogate: JSON can spell it, UTF-8 cannot hold it.
    surrogate = golden.message.to_payload().replace(b'"excluded"', b'"excluded\\ud800"')
    return [
        Regression(
            name="record-forged-issuer-signature",
            refused="a record under the issuer's key id, signed by another key",
            check="record",
            error="SignatureError",
            message=f"signature by key {kid[HUZHOU]!r} does not verify",
            data=redacted(
                issue(HUZHOU, fields, sign_as=signer(LISHUI, kid_of=HUZHOU), seed="record"),
                PARENT,
            ).encode(),
            ext="sd-jwt",
        ),
        Regression(
            name="record-signed-by-another-node",
            refused="a record claiming Huzhou as issuer, validly signed by Lishui's own key",
            check="record",
            error="SignatureError",
            message=f"record {record_id_of(golden.issued)} claims issuer {HUZHOU}"
            f" but is signed by node {LISHUI}",
            data=redacted(
                issue(HUZHOU, fields, sign_as=signer(LISHUI), seed="record"), PARENT
            ).encode(),
            ext="sd-jwt",
        ),
        Regression(
            name="record-oversharing-to-parent",
            refused="the unredacted record pushed to the parent (the representative in clear)",
            check="record",
            error="ScopeViolationError",
            message="received disclosure 'FRDB' of category admin_penalty, outside the scope"
            " of parent(330000) (rule penalty-parent); 3 in excess",
            data=None,
            existing="record.issued.sd-jwt",
        ),
        Regression(
            name="record-disclosure-from-another-record",
            refused="a disclosure of another record appended to a genuine one",
            check="record",
            error="DisclosureError",
            message=f"disclosure {golden.for_parent.count('~')} is not referenced by any digest",
            data=(golden.for_parent + other.split("~")[1] + "~").encode(),
            ext="sd-jwt",
        ),
        Regression(
            name="record-alg-none",
            refused="a record with JWS alg 'none' and no signature",
            check="record",
            error="AlgorithmError",
            message="algorithm 'none' is not allowed (allowed: EdDSA)",
            data=_unsigned_alg_none(golden.for_parent).encode(),
            ext="sd-jwt",
        ),
        Regression(
            name="record-non-canonical-signature",
            refused="a record whose signature is respelt (same bytes, other base64url text)",
            check="record",
            error="MalformedError",
            message="issuer-signed JWT signature is not canonical base64url",
            data=_twin_signature(golden.for_parent).encode(),
            ext="sd-jwt",
        ),
        Regression(
            name="record-duplicate-disclosure",
            refused="a record carrying one of its disclosures twice",
            check="record",
            error="DisclosureError",
            message=f"disclosure {golden.for_parent.count('~')} is a duplicate of disclosure 1",
            data=(golden.for_parent + golden.for_parent.split("~")[1] + "~").encode(),
            ext="sd-jwt",
        ),
        Regression(
            name="record-version-out-of-range",
            refused="a record validly signed by its issuer with version 2^40",
            check="record",
            error="OutOfRangeError",
            message="record claim 'ver' is 1099511627776, outside 1..1000000",
            data=redacted(
                issue(HUZHOU, fields, sign_as=signer(HUZHOU), seed="record", version=2**40),
                PARENT,
            ).encode(),
            ext="sd-jwt",
        ),
        Regression(
            name="record-exp-out-of-range",
            refused="a record validly signed by its issuer with exp 2^70",
            check="record",
            error="OutOfRangeError",
            message="record claim 'exp' is 1180591620717411303424, outside 0..253402300799",
            data=_resigned(golden.for_parent, signer(HUZHOU), exp=2**70).encode(),
            ext="sd-jwt",
        ),
        Regression(
            name="record-version-of-another-nodes-record",
            refused="Lishui publishing, under its own name and key, version 2 of Huzhou's record",
            check="record",
            error="AccessDeniedError",
            message=f"record {huzhou_id} is not an id of node {LISHUI} but of node {HUZHOU}:"
            " only a record's issuer may publish it, a version of it or its status",
            data=redacted(
                issue(
                    LISHUI,
                    fields,
                    sign_as=signer(LISHUI),
                    seed="record",
                    version=2,
                    record_id=huzhou_id,
                ),
                PARENT,
            ).encode(),
            ext="sd-jwt",
        ),
        Regression(
            name="hop-tampered-record",
            refused="a record changed after the sender signed the hop batch",
            check="hop",
            error="SignatureError",
            message="digest mismatch for item 1",
            data=_flip(golden.for_parent, 40).encode(),
            ext="sd-jwt",
            inputs={
                "envelope": "hop-batch.dsse.json",
                "items": ["regressions/hop-tampered-record.sd-jwt", *HOP_ITEMS[1:]],
            },
        ),
        Regression(
            name="hop-signed-by-another-node",
            refused="a hop batch naming Huzhou as sender, signed by Lishui",
            check="hop",
            error="SignatureError",
            message=f"no signature from a trusted key (key ids: {kid[LISHUI]!r})",
            data=sign_hop_batch(lishui_hop, signer(LISHUI)).to_json(),
            ext="dsse.json",
            inputs={"items": HOP_ITEMS},
        ),
        Regression(
            name="hop-tampered-audience",
            refused="a hop batch whose audience was changed after signing",
            check="hop",
            error="SignatureError",
            message=f"signature by key {kid[HUZHOU]!r} does not verify",
            data=replace(
                golden.hop, payload=golden.hop.payload.replace(ZHEJIANG.encode(), b"000000")
            ).to_json(),
            ext="dsse.json",
            inputs={"items": HOP_ITEMS},
        ),
        Regression(
            name="hop-addressed-elsewhere",
            refused="Huzhou's genuine batch for the national node, relayed to the province",
            check="hop",
            error="SignatureError",
            message="batch is addressed to 000000 but this node is 330000",
            data=sign_envelope(HOP_PAYLOAD_TYPE, elsewhere, signer(HUZHOU)).to_json(),
            ext="dsse.json",
            inputs={"items": HOP_ITEMS},
        ),
        Regression(
            name="hop-replayed-late",
            refused="Huzhou's genuine batch replayed an hour after it was sent",
            check="hop",
            error="ClockSkewError",
            message=f"batch sent_at {SENT_AT - 3600} is 3660 s behind now ({SENT_AT + 60}),"
            " over the allowed skew of 300 s",
            data=sign_envelope(HOP_PAYLOAD_TYPE, late, signer(HUZHOU)).to_json(),
            ext="dsse.json",
            inputs={"items": HOP_ITEMS},
        ),
        Regression(
            name="hop-duplicate-key",
            refused="a signed hop payload naming two audiences (parsers disagree on which wins)",
            check="hop",
            error="MalformedError",
            message="hop batch has duplicate key 'audience'",
            data=sign_envelope(HOP_PAYLOAD_TYPE, twice, signer(HUZHOU)).to_json(),
            ext="dsse.json",
            inputs={"items": HOP_ITEMS},
        ),
        Regression(
            name="hop-statement-as-batch",
            refused="Huzhou's signed statement presented as hop evidence (type confusion)",
            check="hop",
            error="MalformedError",
            message=f"payload type {STATEMENT_PAYLOAD_TYPE!r} is not the expected"
            f" {HOP_PAYLOAD_TYPE!r}",
            data=None,
            existing="statement.dsse.json",
            inputs={"items": HOP_ITEMS},
        ),
        Regression(
            name="statement-signed-by-another-node",
            refused="a suspension naming Huzhou as issuer, signed by Lishui",
            check="statement",
            error="SignatureError",
            message=f"no signature from a trusted key (key ids: {kid[LISHUI]!r})",
            data=sign_statement(golden.statement, signer(LISHUI)).to_json(),
            ext="dsse.json",
        ),
        Regression(
            name="statement-tampered-kind",
            refused="a suspension turned into a revocation after signing",
            check="statement",
            error="SignatureError",
            message=f"signature by key {kid[HUZHOU]!r} does not verify",
            data=replace(
                good_statement,
                payload=good_statement.payload.replace(b'"suspension"', b'"revocation"'),
            ).to_json(),
            ext="dsse.json",
        ),
        Regression(
            name="statement-non-canonical",
            refused="a statement signed by its issuer in a second byte form of the same JSON",
            check="statement",
            error="MalformedError",
            message="status statement is not canonical JSON (sorted keys, compact, UTF-8)",
            data=sign_envelope(STATEMENT_PAYLOAD_TYPE, spaced, signer(HUZHOU)).to_json(),
            ext="dsse.json",
        ),
        Regression(
            name="statement-about-another-nodes-record",
            refused="Lishui revoking Huzhou's record under its own name and key",
            check="statement",
            error="AccessDeniedError",
            message=f"statement {golden.statement.statement_id} about record {huzhou_id} is not"
            f" an id of node {LISHUI} but of node {HUZHOU}:"
            " only a record's issuer may publish it, a version of it or its status",
            data=sign_statement(
                replace(golden.statement, issuer=LISHUI, kind=StatusKind.REVOCATION),
                signer(LISHUI),
            ).to_json(),
            ext="dsse.json",
        ),
        Regression(
            name="statement-version-out-of-range",
            refused="a statement validly signed by the issuer about version 2^40",
            check="statement",
            error="OutOfRangeError",
            message="status statement key 'version' is 1099511627776, outside 1..1000000",
            data=sign_statement(replace(golden.statement, version=2**40), signer(HUZHOU)).to_json(),
            ext="dsse.json",
        ),
        Regression(
            name="message-origin-forged",
            refused="a routed message naming Huzhou as origin, signed by Lishui",
            check="message",
            error="SignatureError",
            message=f"no signature from a trusted key (key ids: {kid[LISHUI]!r})",
            data=forged_message.to_json(),
            ext="dsse.json",
        ),
        Regression(
            name="message-without-signature",
            refused="a routed message envelope with its signatures removed",
            check="message",
            error="SignatureError",
            message="envelope has no signatures",
            data=replace(forged_message, signatures=()).to_json(),
            ext="dsse.json",
        ),
        Regression(
            name="message-lone-surrogate",
            refused="a routed message validly signed by its origin, a lone surrogate in its body",
            check="message",
            error="MalformedError",
            message="routed message: body has text that is not valid Unicode (a lone surrogate)",
            data=sign_envelope(MESSAGE_PAYLOAD_TYPE, surrogate, signer(HUZHOU)).to_json(),
            ext="dsse.json",
        ),
        Regression(
            name="checkpoint-tampered-size",
            refused="a checkpoint whose tree size was changed after the log signed it",
            check="checkpoint",
            error="SignatureError",
            message=f"signature by known key {LOG.name}+{LOG.key_hash.hex()} does not verify",
            data=(note.replace("\n5\n", "\n6\n", 1) + golden.cosignature).encode(),
            ext="note",
        ),
        Regression(
            name="checkpoint-truncated",
            refused="a checkpoint cut short: its signature lines removed",
            check="checkpoint",
            error="MalformedError",
            message="note has no blank line before its signatures",
            data=golden.checkpoint.body().encode(),
            ext="note",
        ),
        Regression(
            name="checkpoint-size-out-of-range",
            refused="a checkpoint of 2^60 entries validly signed by the log's key",
            check="checkpoint",
            error="OutOfRangeError",
            message=f"checkpoint size is {2**60}, outside 0..{2**53}",
            data=sign_checkpoint(Checkpoint(log_origin(HUZHOU), 2**60, bytes(32)), LOG).encode(),
            ext="note",
        ),
        Regression(
            name="cosignature-redated",
            refused="a witness cosignature whose time was changed after signing",
            check="checkpoint",
            error="SignatureError",
            message=f"cosignature by witness {log_origin(ZHEJIANG)}+{stamped[:4].hex()}"
            " does not verify",
            data=(
                note + f"{witness_line[0]} {witness_line[1]} {base64.b64encode(redated).decode()}\n"
            ).encode(),
            ext="note",
        ),
        Regression(
            name="witness-statement-stale",
            refused="the parent's word on the log relayed an hour after it was given",
            check="witness-statement",
            error="ExpiredError",
            message=f"the statement of witness {log_origin(ZHEJIANG)} is 3660 s old,"
            " over the 300 s allowed",
            data=(
                note
                + cosign(
                    golden.checkpoint.body(),
                    log_origin(ZHEJIANG),
                    node_key(ZHEJIANG),
                    SENT_AT - 3600,
                )
            ).encode(),
            ext="note",
        ),
        Regression(
            name="checkpoint-rollback",
            refused="a smaller checkpoint offered to the witness after it cosigned size 5",
            check="witness",
            error="ProofError",
            message="checkpoint size 3 is smaller than cosigned 5",
            data=sign_checkpoint(audit_checkpoint(3), LOG).encode(),
            ext="note",
            inputs={"previous": "checkpoint.cosigned.note"},
        ),
    ]
