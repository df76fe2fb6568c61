"""The Merkle tree against the RFC 9162 definitions, pymerkle, and its read budget."""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Sequence
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import ConsistencyProof, InclusionProof, InmemoryTree
from pymerkle import verify_consistency as pymerkle_verify_consistency
from pymerkle import verify_inclusion as pymerkle_verify_inclusion

from gateway.core.errors import InputError, NotFoundError, ProofError, StorageError
from gateway.core.merkle import (
    EMPTY_ROOT,
    MemoryNodes,
    MerkleTree,
    append_many,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_added_by_append,
    root_at,
    verify_consistency,
    verify_inclusion,
)

SMALL = 70


def _entries(n: int) -> list[bytes]:
    return [f"event-{i}".encode() for i in range(n)]


# ---------------------------------------------------------------- RFC 9162 §2.1, literally


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _reference(
    leaves: Sequence[bytes],
) -> tuple[
    Callable[[int, int], bytes],
    Callable[[int, int, int], list[bytes]],
    Callable[[int, int, int, bool], list[bytes]],
]:
    """MTH, PATH and PROOF exactly as RFC 9162 §2.1 defines them, by recursion."""
    hashes = [leaf_hash(d) for d in leaves]

    @cache
    def mth(start: int, end: int) -> bytes:
        if end - start == 1:
            return hashes[start]
        k = _k(end - start)
        return node_hash(mth(start, start + k), mth(start + k, end))

    def path(m: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = _k(end - start)
        if m < k:
            return [*path(m, start, start + k), mth(start + k, end)]
        return [*path(m - k, start + k, end), mth(start, start + k)]

    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        if m == end - start:
            return [] if whole else [mth(start, end)]
        k = _k(end - start)
        if m <= k:
            return [*subproof(m, start, start + k, whole), mth(start + k, end)]
        return [*subproof(m - k, start + k, end, False), mth(start, start + k)]

    return mth, path, subproof


def test_hash_functions() -> None:
    left, right = b"l" * 32, b"r" * 32
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"abc") == hashlib.sha256(b"\x00abc").digest()
    assert node_hash(left, right) == hashlib.sha256(b"\x01" + left + right).digest()
    assert MerkleTree().root() == EMPTY_ROOT


@pytest.fixture(scope="module")
def small() -> tuple[MerkleTree, InmemoryTree]:
    ours, theirs = MerkleTree(), InmemoryTree(algorithm="sha256")
    for entry in _entries(SMALL):
        ours.append(entry)
        theirs.append_entry(entry)
    return ours, theirs


def test_roots_match_reference_and_pymerkle(small: tuple[MerkleTree, InmemoryTree]) -> None:
    ours, theirs = small
    mth, _, _ = _reference(_entries(SMALL))
    for size in range(1, SMALL + 1):
        assert ours.root(size) == mth(0, size) == theirs.get_root(size)


def test_every_inclusion_proof_up_to_70(small: tuple[MerkleTree, InmemoryTree]) -> None:
    ours, theirs = small
    _, path, _ = _reference(_entries(SMALL))
    for size in range(1, SMALL + 1):
        root = ours.root(size)
        for index in range(size):
            proof = ours.inclusion_proof(index, size)
            assert proof == path(index, 0, size)
            leaf = ours.leaf_hash(index)
            verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=proof, root=root)
            # pymerkle carries the leaf first and a direction bit per step, which
            # depend only on (index, size): borrow them from its own proof.
            own = theirs.prove_inclusion(index + 1, size)
            wrapped = InclusionProof("sha256", True, size, index + 1, own.rule, [leaf, *proof])
            pymerkle_verify_inclusion(leaf, root, wrapped, index=index + 1, size=size)


def test_every_consistency_proof_up_to_70(small: tuple[MerkleTree, InmemoryTree]) -> None:
    ours, theirs = small
    _, _, subproof = _reference(_entries(SMALL))
    for size2 in range(1, SMALL + 1):
        root2 = ours.root(size2)
        for size1 in range(1, size2 + 1):
            root1 = ours.root(size1)
            proof = ours.consistency_proof(size1, size2)
            assert proof == subproof(size1, 0, size2, True)
            verify_consistency(size1=size1, size2=size2, proof=proof, root1=root1, root2=root2)
            # pymerkle's consistency proofs use another decomposition, so it cannot
            # take ours; it proves instead that our two roots are consistent.
            theirs_proof = theirs.prove_consistency(size1, size2)
            assert isinstance(theirs_proof, ConsistencyProof)
            pymerkle_verify_consistency(root1, root2, theirs_proof, size1, size2)


def test_tampered_inclusion_proofs_are_refused(small: tuple[MerkleTree, InmemoryTree]) -> None:
    ours, _ = small
    size, index = 45, 19
    proof, root, leaf = ours.inclusion_proof(index, size), ours.root(size), ours.leaf_hash(index)
    for i in range(len(proof)):
        bad = [*proof]
        bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
        with pytest.raises(ProofError, match=r"^calculated root differs from the expected root$"):
            verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=bad, root=root)
    with pytest.raises(ProofError, match=r"^calculated root differs"):
        verify_inclusion(leaf_hash=leaf, index=index + 1, size=size, proof=proof, root=root)
    with pytest.raises(ProofError, match=rf"^proof has {len(proof) - 1} hashes, expected"):
        verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=proof[:-1], root=root)
    bad = [*proof]
    bad[2] = bad[2][:31]
    with pytest.raises(ProofError, match=r"^proof hash 2 is 31 bytes, expected 32$"):
        verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=bad, root=root)
    with pytest.raises(ProofError, match=r"^index -1 is negative$"):
        verify_inclusion(leaf_hash=leaf, index=-1, size=size, proof=proof, root=root)
    with pytest.raises(ProofError, match=r"^tree size 18446744073709551616 is beyond the uint64"):
        verify_inclusion(leaf_hash=leaf, index=0, size=1 << 64, proof=proof, root=root)


def test_tampered_consistency_proofs_are_refused(small: tuple[MerkleTree, InmemoryTree]) -> None:
    ours, _ = small
    size1, size2 = 13, 61
    proof, root1, root2 = ours.consistency_proof(size1, size2), ours.root(size1), ours.root(size2)
    for i in range(len(proof)):
        bad = [*proof]
        bad[i] = bad[i][:-1] + bytes([bad[i][-1] ^ 0x80])
        with pytest.raises(ProofError, match=r"^calculated root[12] differs from the expected"):
            verify_consistency(size1=size1, size2=size2, proof=bad, root1=root1, root2=root2)
    with pytest.raises(ProofError, match=r"^calculated root1 differs from the expected root1$"):
        verify_consistency(size1=size1, size2=size2, proof=proof, root1=root2, root2=root2)
    with pytest.raises(ProofError, match=r"^calculated root2 differs from the expected root2$"):
        verify_consistency(size1=size1, size2=size2, proof=proof, root1=root1, root2=root1)
    with pytest.raises(ProofError, match=r"^size1 61 is beyond size2 13$"):
        verify_consistency(size1=size2, size2=size1, proof=proof, root1=root2, root2=root1)
    with pytest.raises(ProofError, match=r"^root1 differs from root2 although both sizes are 13$"):
        verify_consistency(size1=size1, size2=size1, proof=[], root1=root1, root2=root2)
    with pytest.raises(ProofError, match=r"^proof has 1 hashes, expected 0$"):
        verify_consistency(size1=size1, size2=size1, proof=proof[:1], root1=root1, root2=root1)


def test_proof_generation_refuses_impossible_requests(
    small: tuple[MerkleTree, InmemoryTree],
) -> None:
    ours, _ = small
    with pytest.raises(InputError, match=r"^index 70 is beyond tree size 70$"):
        ours.inclusion_proof(SMALL)
    with pytest.raises(InputError, match=r"^size 71 is beyond the tree size 70$"):
        ours.root(SMALL + 1)
    with pytest.raises(InputError, match=r"^no consistency proof from size 0 to size 5$"):
        ours.consistency_proof(0, 5)
    with pytest.raises(InputError, match=r"^no consistency proof from size 6 to size 5$"):
        ours.consistency_proof(6, 5)
    with pytest.raises(InputError, match=r"^leaf hash 0 is 3 bytes, expected 32$"):
        MerkleTree().append_leaf_hash(b"abc")


def test_missing_or_short_nodes_are_store_errors() -> None:
    with pytest.raises(NotFoundError, match=r"^merkle node \(0, 1\) is not stored$"):
        inclusion_proof(0, 4, MemoryNodes())

    class Short:
        def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Sequence[bytes]:
            return [bytes(32)] * (len(keys) - 1)

    class Truncated:
        def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Sequence[bytes]:
            return [bytes(31)] * len(keys)

    with pytest.raises(StorageError, match=r"^node store returned 1 hashes for 2 keys$"):
        root_at(3, Short())
    with pytest.raises(StorageError, match=r"^stored node \(1, 0\) is 31 bytes$"):
        root_at(3, Truncated())


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6))
def test_batched_and_single_appends_store_the_same_nodes(batches: list[int]) -> None:
    single, batched = MemoryNodes(), MemoryNodes()
    hashes = [leaf_hash(e) for e in _entries(sum(batches))]
    for size, value in enumerate(hashes):
        single.put_nodes(nodes_added_by_append(size, value, single))
    size = 0
    for count in batches:
        batched.put_nodes(append_many(size, hashes[size : size + count], batched))
        size += count
    assert len(batched) == len(single) == 2 * size - size.bit_count()
    keys = [(lv, i) for lv in range(size.bit_length()) for i in range(size >> lv)]
    assert batched.get_nodes(keys) == single.get_nodes(keys)


# ---------------------------------------------------------------- read budget at scale


class CountingReader:
    """Counts calls and keys, to prove the O(log n) read budget."""

    def __init__(self, nodes: MemoryNodes) -> None:
        self.nodes = nodes
        self.calls: list[int] = []

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Sequence[bytes]:
        self.calls.append(len(keys))
        return self.nodes.get_nodes(keys)


BIG = 100_000
CHECKPOINTS = 20


@pytest.fixture(scope="module")
def big() -> tuple[MemoryNodes, list[int], list[bytes], list[bytes]]:
    """100,000 leaves, appended half by batches and half one by one, with 20 checkpoints."""
    store = MemoryNodes()
    hashes = [leaf_hash(e) for e in _entries(BIG)]
    sizes, roots = [], []
    step = BIG // CHECKPOINTS
    for n, start in enumerate(range(0, BIG, step)):
        if n % 2:
            for size in range(start, start + step):
                store.put_nodes(nodes_added_by_append(size, hashes[size], store))
        else:
            store.put_nodes(append_many(start, hashes[start : start + step], store))
        sizes.append(start + step)
        roots.append(root_at(start + step, store))
    return store, sizes, roots, hashes


def _budget(n: int) -> int:
    return 2 * math.ceil(math.log2(n))


def test_big_tree_root_matches_rfc_definition(
    big: tuple[MemoryNodes, list[int], list[bytes], list[bytes]],
) -> None:
    store, _, roots, hashes = big

    def mth(start: int, end: int) -> bytes:
        if end - start == 1:
            return hashes[start]
        k = _k(end - start)
        return node_hash(mth(start, start + k), mth(start + k, end))

    assert roots[-1] == mth(0, BIG)
    assert len(store) == 2 * BIG - BIG.bit_count()


def test_proofs_read_log_n_nodes_in_one_call(
    big: tuple[MemoryNodes, list[int], list[bytes], list[bytes]],
) -> None:
    store, _, _, hashes = big
    rng = random.Random(9162)
    for index in [0, 1, BIG // 2, BIG - 2, BIG - 1, *rng.sample(range(BIG), 200)]:
        reader = CountingReader(store)
        inclusion_proof(index, BIG, reader)
        assert len(reader.calls) == 1
        assert reader.calls[0] <= _budget(BIG)
    for _ in range(200):
        size1 = rng.randrange(1, BIG)
        reader = CountingReader(store)
        consistency_proof(size1, BIG, reader)
        assert len(reader.calls) == 1
        assert reader.calls[0] <= _budget(BIG)
    reader = CountingReader(store)
    root_at(BIG - 1, reader)
    assert reader.calls == [(BIG - 1).bit_count()]
    # The worst append completes a subtree at every level: 2^17 - 1 leaves before it.
    deep = MemoryNodes()
    deep.put_nodes(append_many(0, hashes, deep))
    deep.put_nodes(append_many(BIG, [hashes[0]] * ((1 << 17) - 1 - BIG), deep))
    reader = CountingReader(deep)
    added = nodes_added_by_append((1 << 17) - 1, hashes[1], reader)
    assert reader.calls == [17]
    assert len(added) == 18
    reader = CountingReader(deep)
    append_many((1 << 17) - 1, hashes[:1000], reader)
    assert reader.calls == [17]


def test_checkpoints_are_consistent_and_leaves_included(
    big: tuple[MemoryNodes, list[int], list[bytes], list[bytes]],
) -> None:
    store, sizes, roots, hashes = big
    for (s1, r1), (s2, r2) in zip(
        zip(sizes, roots, strict=True), zip(sizes[1:], roots[1:], strict=True), strict=False
    ):
        proof = consistency_proof(s1, s2, store)
        verify_consistency(size1=s1, size2=s2, proof=proof, root1=r1, root2=r2)
    for s1, r1 in zip(sizes, roots, strict=True):
        proof = consistency_proof(s1, BIG, store)
        verify_consistency(size1=s1, size2=BIG, proof=proof, root1=r1, root2=roots[-1])
    rng = random.Random(6962)
    for index in rng.sample(range(BIG), 2000):
        proof = inclusion_proof(index, BIG, store)
        verify_inclusion(
            leaf_hash=hashes[index], index=index, size=BIG, proof=proof, root=roots[-1]
        )
        # Also against the first checkpoint that contains it.
        n = next(i for i, s in enumerate(sizes) if s > index)
        proof = inclusion_proof(index, sizes[n], store)
        verify_inclusion(
            leaf_hash=hashes[index], index=index, size=sizes[n], proof=proof, root=roots[n]
        )


def test_every_one_of_the_100k_leaves_is_included(
    big: tuple[MemoryNodes, list[int], list[bytes], list[bytes]],
) -> None:
    store, _sizes, roots, hashes = big
    for index in range(BIG):
        proof = inclusion_proof(index, BIG, store)
        verify_inclusion(
            leaf_hash=hashes[index], index=index, size=BIG, proof=proof, root=roots[-1]
        )
