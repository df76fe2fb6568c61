"""Checkpoints, cosignatures and the witness rule (c2sp.org tlog-checkpoint / tlog-cosignature)."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.core.checkpoint import (
    Checkpoint,
    CosignatureVerifier,
    cosign,
    cosignature_message,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
    verify_cosignature,
    witness_checkpoint,
)
from gateway.core.errors import (
    AlgorithmError,
    ClockSkewError,
    InputError,
    MalformedError,
    ProofError,
    SignatureError,
)
from gateway.core.merkle import EMPTY_ROOT, MerkleTree
from gateway.core.note import (
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    open_note,
    parse_signature_line,
)

C2SP: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "vectors" / "c2sp" / "c2sp-examples.json").read_text(
        encoding="utf-8"
    )
)

ORIGIN = "330500.credit-gateway/audit"
WITNESS = "330000.credit-gateway/witness"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
LOG = NoteSigner(ORIGIN, LOG_KEY)
WITNESS_VERIFIER = CosignatureVerifier.for_key(WITNESS, WITNESS_KEY.public_key())
TIME = 1_700_000_000


@pytest.fixture(scope="module")
def tree() -> MerkleTree:
    return MerkleTree(f"audit-event-{i}".encode() for i in range(300))


def _checkpoint(tree: MerkleTree, size: int) -> Checkpoint:
    return Checkpoint(ORIGIN, size, tree.root(size))


# ---------------------------------------------------------------- checkpoint text


def test_body_round_trips() -> None:
    checkpoint = Checkpoint(ORIGIN, 42, bytes(range(32)), ("ext one", "ext-two"))
    body = checkpoint.body()
    assert body == (
        f"{ORIGIN}\n42\n{base64.b64encode(bytes(range(32))).decode()}\next one\next-two\n"
    )
    assert parse_checkpoint(body) == checkpoint


def test_spec_example_parses() -> None:
    note = C2SP["checkpoint_note"]
    checkpoint = parse_checkpoint(note.split("\n\n")[0] + "\n")
    assert checkpoint.origin == C2SP["checkpoint_origin"]
    assert checkpoint.size == C2SP["checkpoint_size"]
    assert checkpoint.root == base64.b64decode(C2SP["checkpoint_root"])
    assert checkpoint.extensions == ()


ROOT64 = base64.b64encode(bytes(32)).decode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (f"{ORIGIN}\n1\n{ROOT64}", r"checkpoint does not end in a newline"),
        (f"{ORIGIN}\n1\n", r"checkpoint has 2 lines, expected at least 3"),
        (f"{ORIGIN}\n01\n{ROOT64}\n", r"checkpoint size line '01' is not a decimal"),
        (f"{ORIGIN}\n+1\n{ROOT64}\n", r"checkpoint size line '\+1' is not a decimal"),
        (f"{ORIGIN}\n-1\n{ROOT64}\n", r"checkpoint size line '-1' is not a decimal"),
        (f"{ORIGIN}\n 1\n{ROOT64}\n", r"checkpoint size line ' 1' is not a decimal"),
        (f"{ORIGIN}\n\u0663\n{ROOT64}\n", r"checkpoint size line '\u0663' is not a decimal"),
        (f"{ORIGIN}\n{1 << 64}\n{ROOT64}\n", r"checkpoint size 18446744073709551616 is outside"),
        (f"{ORIGIN}\n1\nAAAA\n", r"checkpoint root is 3 bytes, expected 32"),
        (f"{ORIGIN}\n1\n{ROOT64[:-2]}B=\n", r"checkpoint root is not canonical base64"),
        (f"{ORIGIN}\n1\n{ROOT64[:-1]}\n", r"checkpoint root is not valid base64"),
        (f"\n1\n{ROOT64}\n", r"checkpoint origin is empty"),
        (f"{ORIGIN}\n1\n{ROOT64}\n\n", r"checkpoint extension line 0 is empty"),
        (f"a\tb\n1\n{ROOT64}\n", r"checkpoint origin is empty or has a control character"),
    ],
)
def test_malformed_checkpoints_are_refused(body: str, reason: str) -> None:
    with pytest.raises(MalformedError, match=f"^{reason}"):
        parse_checkpoint(body)


# A validly signed note whose text is not a checkpoint.
LOG_SIGNED_TEXT = (
    "just text\n\n" + NoteSignature(ORIGIN, LOG.key_hash, LOG_KEY.sign(b"just text\n")).line()
)


def test_signed_checkpoint_opens_for_its_origin_only(tree: MerkleTree) -> None:
    checkpoint = _checkpoint(tree, 123)
    signed = sign_checkpoint(checkpoint, LOG)
    opened, note = open_checkpoint(signed, [LOG.verifier()], origin=ORIGIN)
    assert opened == checkpoint
    assert note.verified_by == (ORIGIN,)
    with pytest.raises(SignatureError, match=rf"^checkpoint origin '{ORIGIN}' is not 'other/log'$"):
        open_checkpoint(signed, [LOG.verifier()], origin="other/log")
    with pytest.raises(SignatureError, match=r"^signature by known key 330500\.credit-gateway"):
        open_checkpoint(signed.replace("\n123\n", "\n124\n"), [LOG.verifier()], origin=ORIGIN)
    other = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(SignatureError, match=r"^note has no signature from a trusted key"):
        open_checkpoint(sign_checkpoint(checkpoint, other), [LOG.verifier()], origin=ORIGIN)
    with pytest.raises(MalformedError, match=r"^checkpoint has 1 lines, expected at least 3$"):
        open_checkpoint(LOG_SIGNED_TEXT, [LOG.verifier()], origin=ORIGIN)


# ---------------------------------------------------------------- cosignatures


def test_spec_cosignature_example_carries_its_time() -> None:
    line = C2SP["checkpoint_note"].rstrip("\n").split("\n")[-1]
    sig = parse_signature_line(line)
    assert sig.name == "witness.example.com/w1"
    assert len(sig.signature) == 72
    timestamp = int.from_bytes(sig.signature[:8], "big")
    assert timestamp == C2SP["cosignature_time"]
    body = C2SP["checkpoint_note"].split("\n\n")[0] + "\n"
    assert cosignature_message(body, timestamp) == C2SP["cosignature_message"].encode()


def test_cosignature_matches_an_independent_construction(tree: MerkleTree) -> None:
    body = _checkpoint(tree, 77).body()
    line = cosign(body, WITNESS, WITNESS_KEY, TIME)
    public = WITNESS_KEY.public_key().public_bytes_raw()
    key_id = hashlib.sha256(WITNESS.encode() + b"\n\x04" + public).digest()[:4]
    signed = b"cosignature/v1\ntime 1700000000\n" + body.encode()
    payload = key_id + TIME.to_bytes(8, "big") + WITNESS_KEY.sign(signed)
    assert line == f"— {WITNESS} {base64.b64encode(payload).decode()}\n"

    cosignature = verify_cosignature(body, line, WITNESS_VERIFIER)
    assert (cosignature.name, cosignature.key_hash, cosignature.timestamp) == (
        WITNESS,
        key_id,
        TIME,
    )
    assert cosignature.signature == payload[12:]


def test_cosigned_checkpoint_opens_with_log_and_witness_keys(tree: MerkleTree) -> None:
    checkpoint = _checkpoint(tree, 200)
    signed = sign_checkpoint(checkpoint, LOG)
    cosigned = signed + cosign(checkpoint.body(), WITNESS, WITNESS_KEY, TIME)
    note = open_note(cosigned, [LOG.verifier(), WITNESS_VERIFIER])
    assert note.verified_by == (ORIGIN, WITNESS)
    # A client that trusts only the log still accepts it; the witness line is kept.
    assert open_note(cosigned, [LOG.verifier()]).verified_by == (ORIGIN,)


def test_tampered_cosignatures_are_refused(tree: MerkleTree) -> None:
    body = _checkpoint(tree, 150).body()
    line = cosign(body, WITNESS, WITNESS_KEY, TIME)
    sig = parse_signature_line(line.rstrip("\n"))
    does_not_verify = (
        r"^cosignature by witness 330000\.credit-gateway/witness\+\w{8} does not verify$"
    )

    with pytest.raises(SignatureError, match=does_not_verify):
        verify_cosignature(_checkpoint(tree, 151).body(), line, WITNESS_VERIFIER)

    later = (TIME + 1).to_bytes(8, "big") + sig.signature[8:]
    with pytest.raises(SignatureError, match=does_not_verify):
        verify_cosignature(
            body, NoteSignature(WITNESS, sig.key_hash, later).line(), WITNESS_VERIFIER
        )

    flipped = sig.signature[:-1] + bytes([sig.signature[-1] ^ 1])
    with pytest.raises(SignatureError, match=does_not_verify):
        verify_cosignature(
            body, NoteSignature(WITNESS, sig.key_hash, flipped).line(), WITNESS_VERIFIER
        )

    with pytest.raises(
        SignatureError,
        match=r"^cosignature is by 330000\.credit-gateway/witness\+00000000, not witness",
    ):
        verify_cosignature(
            body, NoteSignature(WITNESS, bytes(4), sig.signature).line(), WITNESS_VERIFIER
        )

    impostor = CosignatureVerifier.for_key(WITNESS, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(SignatureError, match=r"^cosignature is by .* not witness"):
        verify_cosignature(body, line, impostor)

    short = NoteSignature(WITNESS, sig.key_hash, sig.signature[8:]).line()
    with pytest.raises(MalformedError, match=r"is 64 bytes, expected 72$"):
        verify_cosignature(body, short, WITNESS_VERIFIER)

    huge = (1 << 63).to_bytes(8, "big") + sig.signature[8:]
    with pytest.raises(MalformedError, match=r"^cosignature time 9223372036854775808 is over"):
        verify_cosignature(
            body, NoteSignature(WITNESS, sig.key_hash, huge).line(), WITNESS_VERIFIER
        )


def test_cosignature_time_rules(tree: MerkleTree) -> None:
    body = _checkpoint(tree, 10).body()
    line = cosign(body, WITNESS, WITNESS_KEY, TIME)
    assert verify_cosignature(body, line, WITNESS_VERIFIER, now=TIME).timestamp == TIME
    with pytest.raises(ClockSkewError, match=r"^cosignature time 1700000000 is in the future"):
        verify_cosignature(body, line, WITNESS_VERIFIER, now=TIME - 1)
    assert verify_cosignature(body, line, WITNESS_VERIFIER, now=TIME - 1, skew_s=1).timestamp
    with pytest.raises(InputError, match=r"^cosignature time -1 is outside"):
        cosign(body, WITNESS, WITNESS_KEY, -1)
    with pytest.raises(MalformedError, match=r"^checkpoint has 1 lines"):
        cosign("not a checkpoint\n", WITNESS, WITNESS_KEY, TIME)


def test_cosignature_vkeys() -> None:
    vkey = WITNESS_VERIFIER.to_vkey()
    assert vkey.startswith(f"{WITNESS}+{WITNESS_VERIFIER.key_hash.hex()}+B")  # 0x04 -> "B"
    assert CosignatureVerifier.from_vkey(vkey) == WITNESS_VERIFIER
    with pytest.raises(AlgorithmError, match=r"signature type 0x01, expected 0x04$"):
        CosignatureVerifier.from_vkey(LOG.verifier().to_vkey())
    with pytest.raises(AlgorithmError, match=r"signature type 0x04, expected 0x01$"):
        NoteVerifier.from_vkey(vkey)


# ---------------------------------------------------------------- witnessing


def test_witness_accepts_consistent_growth(tree: MerkleTree) -> None:
    witness_checkpoint(None, _checkpoint(tree, 100), [])
    witness_checkpoint(Checkpoint(ORIGIN, 0, EMPTY_ROOT), _checkpoint(tree, 100), [])
    for size1, size2 in [(1, 2), (100, 100), (100, 257), (255, 256), (13, 300)]:
        proof = tree.consistency_proof(size1, size2)
        witness_checkpoint(_checkpoint(tree, size1), _checkpoint(tree, size2), proof)


def test_witness_refuses_inconsistent_checkpoints(tree: MerkleTree) -> None:
    before, after = _checkpoint(tree, 100), _checkpoint(tree, 200)
    proof = tree.consistency_proof(100, 200)
    with pytest.raises(ProofError, match=r"^checkpoint size 100 is smaller than cosigned 200$"):
        witness_checkpoint(after, before, proof)
    forked = Checkpoint(ORIGIN, 100, tree.root(99))
    with pytest.raises(ProofError, match=r"^checkpoint of size 100 has a root other than"):
        witness_checkpoint(before, forked, [])
    with pytest.raises(ProofError, match=r"^calculated root2 differs from the expected root2$"):
        witness_checkpoint(before, Checkpoint(ORIGIN, 200, tree.root(201)), proof)
    bad = [*proof]
    bad[1] = bytes(32)
    with pytest.raises(ProofError, match=r"^calculated root[12] differs"):
        witness_checkpoint(before, after, bad)
    with pytest.raises(ProofError, match=r"^proof has \d+ hashes, expected \d+$"):
        witness_checkpoint(before, after, proof[:-1])
    elsewhere = Checkpoint("other/log", 200, after.root)
    with pytest.raises(ProofError, match=r"^checkpoint origin 'other/log' is not the witnessed"):
        witness_checkpoint(before, elsewhere, proof)
    with pytest.raises(ProofError, match=r"^consistency proof from the empty tree must be empty$"):
        witness_checkpoint(None, after, proof)
    with pytest.raises(ProofError, match=r"^checkpoint of size 0 does not carry the empty"):
        witness_checkpoint(None, Checkpoint(ORIGIN, 0, bytes(32)), [])


def test_whole_witness_flow(tree: MerkleTree) -> None:
    # The log publishes; the witness opens with the log key, checks, cosigns;
    # an auditor trusts the note only with the witness's cosignature.
    cosigned_before = _checkpoint(tree, 64)
    published = sign_checkpoint(_checkpoint(tree, 250), LOG)
    new, _ = open_checkpoint(published, [LOG.verifier()], origin=ORIGIN)
    witness_checkpoint(cosigned_before, new, tree.consistency_proof(64, 250))
    cosigned = published + cosign(new.body(), WITNESS, WITNESS_KEY, TIME)
    note = open_note(cosigned, [LOG.verifier(), WITNESS_VERIFIER])
    assert WITNESS in note.verified_by
    assert parse_checkpoint(note.body) == new
