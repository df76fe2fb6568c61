"""Checkpoint, cosignature and witnessed-checkpoint storage, and the log at 100,000 events."""

from __future__ import annotations

import dataclasses
import itertools
import random
from pathlib import Path

import pytest

from gateway.core.audit import AuditEvent, Decision
from gateway.core.errors import StorageError
from gateway.core.merkle import (
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from gateway.store import Store, open_store
from gateway.store.checkpoints import (
    CheckpointRepository,
    CheckpointRow,
    CosignatureRow,
    LogEntries,
    WitnessedRow,
    WitnessRepository,
)
from tests.unit.store.conftest import NOW


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        time=NOW + i,
        node="330500",
        actor=f"department:330500/office-{i % 7}",
        action="records.list",
        decision=Decision.ALLOWED if i % 5 else Decision.DENIED,
        subject=f"91330500MA2B{i:06d}",
        purpose="licence review",
        detail=f"event {i}",
    )


def _checkpoint(size: int, root: bytes = b"\x01" * 32) -> CheckpointRow:
    return CheckpointRow(size=size, root=root, note=f"note {size}\n", published_at=NOW + size)


def _cosig(size: int, witness: str = "330000") -> CosignatureRow:
    return CosignatureRow(size, witness, f"— credit-gateway/{witness} sig{size}", b"PEM", NOW)


def test_checkpoints_are_kept_once_per_size_with_their_cosignatures(store: Store) -> None:
    repo = CheckpointRepository(store.engine)
    assert repo.latest() is None
    assert repo.latest_cosigned("330000") is None
    assert repo.add(_checkpoint(3))
    assert repo.add(_checkpoint(8))
    assert not repo.add(_checkpoint(8, root=b"\x02" * 32)), "a size is published once"
    repo.add_cosignature(_cosig(3))
    repo.add_cosignature(_cosig(3))  # a repeated answer is ignored
    repo.add_cosignature(_cosig(3, witness="000000"))

    latest = repo.latest()
    assert latest is not None
    assert (latest.size, latest.root, latest.cosignatures) == (8, b"\x01" * 32, ())
    cosigned = repo.latest_cosigned("330000")
    assert cosigned is not None
    assert cosigned.size == 3
    assert cosigned.cosigned_by("330000")
    assert cosigned.cosigned_by("000000")
    assert [c.witness for c in cosigned.cosignatures] == ["000000", "330000"]
    assert [c.size for c in repo.list()] == [3, 8]
    assert [c.size for c in repo.list(after_size=3)] == [8]
    assert [c.size for c in repo.list(limit=1)] == [3]


def test_a_cosignature_needs_its_checkpoint(store: Store) -> None:
    with pytest.raises(StorageError, match="cosignature of 330000 on checkpoint 5"):
        CheckpointRepository(store.engine).add_cosignature(_cosig(5))


def test_witness_certificates_are_the_newest_per_witness(store: Store) -> None:
    repo = CheckpointRepository(store.engine)
    for size in (2, 4):
        repo.add(_checkpoint(size))
        repo.add_cosignature(
            CosignatureRow(size, "330000", f"line {size}", f"PEM {size}".encode(), NOW)
        )
    assert repo.witness_certificates() == {"330000": b"PEM 4"}


def test_witness_certificate_history_is_each_distinct_chain_oldest_first(store: Store) -> None:
    repo = CheckpointRepository(store.engine)
    chains = {2: b"PEM old", 4: b"PEM old", 6: b"PEM new", 8: b"PEM new"}
    for size, pem in chains.items():
        repo.add(_checkpoint(size))
        repo.add_cosignature(CosignatureRow(size, "330000", f"line {size}", pem, NOW))
    repo.add_cosignature(CosignatureRow(4, "000000", "line", b"PEM national", NOW))
    assert repo.witness_certificate_history() == {
        "330000": [b"PEM old", b"PEM new"],
        "000000": [b"PEM national"],
    }


def test_witnessed_checkpoints_are_kept_per_child_and_never_overwritten(store: Store) -> None:
    repo = WitnessRepository(store.engine)
    assert repo.last("330500") is None
    for size in (4, 9):
        repo.add(WitnessedRow("330500", size, bytes([size]) * 32, f"n{size}\n", f"c{size}", NOW))
    repo.add(WitnessedRow("330600", 20, b"\x05" * 32, "other\n", "c", NOW))
    last = repo.last("330500")
    assert last is not None
    assert (last.size, last.root, last.note, last.cosignature) == (9, b"\x09" * 32, "n9\n", "c9")
    assert [r.size for r in repo.history("330500")] == [4, 9]
    with pytest.raises(StorageError, match="keeping checkpoint 9 of 330500"):
        repo.add(WitnessedRow("330500", 9, b"\x00" * 32, "forged\n", "c", NOW))


def test_witnessed_checkpoints_are_kept_per_epoch_and_the_latest_epoch_is_last(
    store: Store,
) -> None:
    repo = WitnessRepository(store.engine)
    for epoch, size in ((1, 4), (1, 9), (2, 6), (2, 7)):
        row = WitnessedRow("330500", size, bytes([size]) * 32, f"e{epoch}n{size}\n", "c", NOW)
        repo.add(dataclasses.replace(row, epoch=epoch))
    last = repo.last("330500")
    assert last is not None
    assert (last.epoch, last.size, last.note) == (2, 7, "e2n7\n"), "a smaller size, a later epoch"
    assert [(r.epoch, r.size) for r in repo.history("330500")] == [(1, 4), (1, 9), (2, 6), (2, 7)]
    with pytest.raises(StorageError, match="keeping checkpoint 6 of 330500 \\(epoch 2\\)"):
        repo.add(WitnessedRow("330500", 6, b"\x00" * 32, "forged\n", "c", NOW, epoch=2))


def test_log_entries_are_read_unparsed_and_the_head_matches_the_tree(store: Store) -> None:
    events = [_event(i) for i in range(11)]
    store.audit.append(events)
    entries = LogEntries(store.engine, store.audit)
    tree = MerkleTree(e.to_bytes() for e in events)
    assert entries.head() == (11, tree.root())
    assert entries.read(9, 5) == [(9, events[9].to_bytes()), (10, events[10].to_bytes())]
    assert [seq for seq, _ in entries.read(0, 3)] == [0, 1, 2]


def test_empty_log_head_is_the_empty_root(store: Store) -> None:
    assert LogEntries(store.engine, store.audit).head() == (0, MerkleTree().root())


def test_100000_events_prove_inclusion_and_consistency_across_20_checkpoints(
    tmp_path: Path,
) -> None:
    # Correctness at scale only: how fast this runs is the bench's to measure, not a test's.
    store = open_store(f"sqlite:///{tmp_path / 'big.db'}")
    try:
        checkpoints: list[tuple[int, bytes]] = []
        per_checkpoint, batch = 5000, 2500
        for start in range(0, 100_000, batch):
            store.audit.append([_event(i) for i in range(start, start + batch)])
            if (start + batch) % per_checkpoint == 0:
                size = start + batch
                checkpoints.append((size, store.audit.root(size)))
        entries = LogEntries(store.engine, store.audit)
        blobs = [
            data for start in range(0, 100_000, 10_000) for _, data in entries.read(start, 10_000)
        ]
        assert len(checkpoints) == 20
        assert store.audit.size() == 100_000
        assert len(blobs) == 100_000
        assert AuditEvent.from_bytes(blobs[12345]) == _event(12345)

        # An independent tree over the same bytes gives the same roots.
        tree = MerkleTree(blobs)
        for size, root in checkpoints:
            assert tree.root(size) == root, f"root at {size}"
        for (size1, root1), (size2, root2) in itertools.pairwise(checkpoints):
            proof = store.audit.consistency_proof(size1, size2)
            verify_consistency(size1=size1, size2=size2, proof=proof, root1=root1, root2=root2)
        first, last = checkpoints[0], checkpoints[-1]
        verify_consistency(
            size1=first[0],
            size2=last[0],
            proof=store.audit.consistency_proof(first[0], last[0]),
            root1=first[1],
            root2=last[1],
        )
        rng = random.Random(9162)
        for _ in range(100):
            size, root = rng.choice(checkpoints)
            index = rng.randrange(size)
            verify_inclusion(
                leaf_hash=leaf_hash(blobs[index]),
                index=index,
                size=size,
                proof=store.audit.inclusion_proof(index, size),
                root=root,
            )
        # The right edge of each checkpoint, where the tree is least complete.
        for size, root in checkpoints:
            proof = store.audit.inclusion_proof(size - 1, size)
            leaf = leaf_hash(blobs[size - 1])
            verify_inclusion(leaf_hash=leaf, index=size - 1, size=size, proof=proof, root=root)
    finally:
        store.close()
