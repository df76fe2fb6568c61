"""The audit log end to end: a province and a city as real `gateway serve` processes.

The city sends its checkpoints to the province for cosigning over real mTLS;
an auditor verifies the city's log with `gateway audit verify`; then the city is
stopped, its SQLite file tampered with, restarted, and the tampering named.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from gateway._proto.v1 import audit_pb2, audit_pb2_grpc
from gateway.core.checkpoint import Checkpoint, sign_checkpoint
from gateway.core.errors import ProofError
from gateway.core.identifiers import make_uscc
from gateway.core.merkle import MerkleTree
from gateway.core.note import NoteSigner
from gateway.node.audit_log import log_origin
from gateway.pki import issue_client, load_node_credentials
from gateway.rpc.audit import signing_chain_pem
from gateway.rpc.errors import public_status
from gateway.rpc.peer import open_peer_channel
from tests.integration.conftest import CITY
from tests.support.audit import (
    checkpoint_sizes,
    copy_db,
    cosigned_sizes,
    delete_event,
    event_bytes,
    event_count,
    init_audited_node,
    rebuild_nodes,
    set_event_bytes,
    sqlite_path,
    use_the_city,
    wait_for,
)
from tests.support.federation import (
    Keystore,
    NodeProcess,
    run_gateway,
    running_node,
)

PROVINCE = "330000"
PURPOSE = "licence review"
SUBJECT = make_uscc("91330500", "MA2B3C4D")


@contextmanager
def _province(keystore: Keystore, tmp_path: Path, database: str | None) -> Iterator[NodeProcess]:
    """The province, with an auditor of its own, on SQLite or the given database."""
    issue_client(keystore.root, node_id=PROVINCE, name="audit-office", role="auditor", force=True)
    config = init_audited_node(keystore, PROVINCE, tmp_path / "province")
    if database is not None:
        text = config.read_text(encoding="utf-8")
        config.write_text(
            "\n".join(
                f"database = {json.dumps(database)}" if line.startswith("database =") else line
                for line in text.splitlines()
            )
            + "\n",
            encoding="utf-8",
        )
    with running_node(config, PROVINCE, log=tmp_path / "province.log") as process:
        yield process


@pytest.fixture
def province(keystore: Keystore, tmp_path: Path) -> Iterator[NodeProcess]:
    """The province on SQLite: the tampering test concerns the city's file only."""
    with _province(keystore, tmp_path, None) as process:
        yield process


@pytest.fixture
def witnessing_province(keystore: Keystore, database: str, tmp_path: Path) -> Iterator[NodeProcess]:
    """The province on SQLite and on PostgreSQL."""
    with _province(keystore, tmp_path, database) as process:
        yield process


def _audit(keystore: Keystore, node_id: str, endpoint: str, *args: str) -> tuple[int, str, str]:
    client = keystore.client(node_id, "audit-office")
    result = run_gateway("audit", *args, "--as", str(client), "--endpoint", endpoint)
    return result.returncode, result.stdout, result.stderr


def _use_the_city(keystore: Keystore, city: NodeProcess) -> None:
    use_the_city(keystore, CITY, city.endpoint, purpose=PURPOSE, subject=SUBJECT)


def test_a_witnessed_log_verifies_and_each_tampering_is_named(
    keystore: Keystore, province: NodeProcess, tmp_path: Path
) -> None:
    config = init_audited_node(keystore, CITY, tmp_path / "city", parent=province.endpoint)
    db = sqlite_path(config, CITY)
    with running_node(config, CITY, log=tmp_path / "city.log") as city:
        _use_the_city(keystore, city)
        used = event_count(db)
        wait_for(
            "a cosigned checkpoint covering every query",
            lambda: max(cosigned_sizes(db), default=0) >= used,
        )

        code, out, err = _audit(
            keystore, CITY, city.endpoint, "events", "--decision", "denied", "--json"
        )
        assert code == 0, err
        denials = [json.loads(line) for line in out.splitlines()]
        assert any(
            d["actor"] == f"admin:{CITY}/ops"
            and d["action"] == "/gateway.v1.Records/List"
            and d["rule"] == "access-table:/gateway.v1.Records/List"
            for d in denials
        ), denials

        code, out, err = _audit(keystore, CITY, city.endpoint, "subject", SUBJECT, "--json")
        assert code == 0, err
        accesses = [json.loads(line) for line in out.splitlines()]
        assert [(a["actor"], a["purpose"]) for a in accesses if a["action"] == "records.list"] == [
            (f"department:{CITY}/procurement-office", PURPOSE)
        ]

        code, out, err = _audit(keystore, CITY, city.endpoint, "proof", "1")
        assert code == 0, err
        assert "inclusion proof verified against the signed checkpoint" in out

        code, out, err = _audit(keystore, CITY, city.endpoint, "verify")
        assert code == 0, err
        assert f"audit log of {CITY} verified" in out
        assert f"witnessed by {log_origin(PROVINCE)}" in out
    sizes = checkpoint_sizes(db)
    assert sizes
    pristine = tmp_path / "pristine.db"
    copy_db(db, pristine)
    # Without its parent's word the city serves whatever its file holds (a log
    # that lacks a cosigned checkpoint is refused at start otherwise): the
    # tampering must be named from the events and checkpoints alone.
    province.terminate()

    def tampered(tamper: object, expected: str, *, log_name: str) -> str:
        copy_db(pristine, db)
        assert callable(tamper)
        tamper()
        with running_node(config, CITY, log=tmp_path / log_name) as restarted:
            code, _out, err = _audit(keystore, CITY, restarted.endpoint, "verify")
        assert code == 1, err
        assert expected in " ".join(err.split()), err
        return (tmp_path / log_name).read_text(encoding="utf-8")

    # One byte of one event: '0 returned' becomes '1 returned'.
    original = event_bytes(db, 2)
    at = original.index(b'"detail":"') + len(b'"detail":"')
    flipped = original[:at] + bytes([original[at] ^ 0x01]) + original[at + 1 :]
    tampered(
        lambda: set_event_bytes(db, 2, flipped),
        "event 2 was altered: its bytes are not in signed checkpoint",
        log_name="flip.log",
    )

    tampered(lambda: delete_event(db, 3), "event 3 is missing from the log", log_name="delete.log")

    # History rewritten after a checkpoint, the stored tree recomputed to match.
    def rewrite() -> None:
        set_event_bytes(db, 1, event_bytes(pristine, 1).replace(PURPOSE.encode(), b"other reason"))
        rebuild_nodes(db)

    first = min(s for s in sizes if s > 1)
    before = max((s for s in sizes if s <= 1), default=0)
    city_log = tampered(
        rewrite,
        f"checkpoint {first} does not match events {before}..{first - 1} as stored",
        log_name="rewrite.log",
    )
    assert "audit log alarm" in city_log, "the restarted node refuses to sign the rewritten tree"


def test_the_parent_refuses_an_inconsistent_checkpoint(
    keystore: Keystore, witnessing_province: NodeProcess, tmp_path: Path
) -> None:
    province = witnessing_province
    config = init_audited_node(keystore, CITY, tmp_path / "city", parent=province.endpoint)
    db = sqlite_path(config, CITY)
    with running_node(config, CITY, log=tmp_path / "city.log") as city:
        _use_the_city(keystore, city)
        wait_for("a cosigned checkpoint", lambda: bool(cosigned_sizes(db)))

    # The city's own credentials: its TLS identity and its checkpoint signing key.
    creds = load_node_credentials(keystore.node(CITY))
    chain = signing_chain_pem(creds)
    signer = NoteSigner(log_origin(CITY), creds.signing_key)
    channel = open_peer_channel(creds, province.endpoint)
    try:
        stub = audit_pb2_grpc.WitnessStub(channel)
        probe = Checkpoint(log_origin(CITY), 1, MerkleTree([b"probe"]).root())
        asked = stub.Cosign(
            audit_pb2.CosignRequest(
                checkpoint=sign_checkpoint(probe, signer),
                old_size=0,
                signing_certificate_chain=chain,
            )
        )
        witnessed = asked.witnessed_size
        assert witnessed == max(cosigned_sizes(db)), "the province names the size it last cosigned"
        assert not asked.cosignature

        forged = MerkleTree(f"forged {i}".encode() for i in range(witnessed + 3))
        note = sign_checkpoint(Checkpoint(log_origin(CITY), forged.size, forged.root()), signer)
        with pytest.raises(grpc.RpcError) as refused:
            stub.Cosign(
                audit_pb2.CosignRequest(
                    checkpoint=note,
                    old_size=witnessed,
                    consistency_proof=forged.consistency_proof(witnessed),
                    signing_certificate_chain=chain,
                )
            )
    finally:
        channel.close()
    # ProofError's status comes from the one error table (see the report of this change).
    assert refused.value.code() == public_status(ProofError("x")).code
    assert "differs from the expected root" in (refused.value.details() or "")

    code, out, err = _audit(
        keystore, PROVINCE, province.endpoint, "events", "--decision", "denied", "--json"
    )
    assert code == 0, err
    denials = [json.loads(line) for line in out.splitlines()]
    assert [(d["action"], d["rule"], d["actor"]) for d in denials] == [
        ("witness.cosign", "witness:inconsistent-checkpoint", f"node:{CITY}/{CITY}")
    ]
    alarm = [
        json.loads(line)
        for line in province.log.read_text(encoding="utf-8").splitlines()
        if "inconsistent checkpoint" in line
    ]
    assert alarm
    assert alarm[0]["level"] == "error"
    assert alarm[0]["child"] == CITY
