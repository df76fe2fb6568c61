"""RFC 9162 Merkle tree: hashing, proof verification and O(log n) proofs over stored nodes.

Hashing is RFC 9162 §2.1.1: a leaf is ``SHA-256(0x00 || data)``, an interior node
``SHA-256(0x01 || left || right)``, and the empty tree's root is ``SHA-256("")``.

Storage model: every *complete* perfect subtree is stored once, keyed by
``(level, index)``; level 0 holds the leaf hashes and node ``(L, i)`` covers leaves
``[i * 2**L, (i + 1) * 2**L)``. Nodes never change once written, so a store only
ever appends. Any RFC 9162 subtree (root, proof sibling) is the right fold of at
most ``log2(n)`` stored perfect nodes, which is what keeps every proof at
``O(log n)`` reads. Each function below first computes the keys it needs, asks the
:class:`NodeReader` for all of them in a single call, then combines them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from typing import Protocol

from gateway.core.errors import InputError, NotFoundError, ProofError, StorageError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MAX_TREE_SIZE",
    "MemoryNodes",
    "MerkleTree",
    "NodeReader",
    "append_many",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "nodes_added_by_append",
    "root_at",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
MAX_TREE_SIZE = (1 << 64) - 1
"""Tree sizes and indices are uint64 in RFC 9162 and in checkpoints."""

_NodeKey = tuple[int, int]
_Node = tuple[int, int, bytes]


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 9162 leaf hash ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


# --------------------------------------------------------------------------- verification


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Verify an inclusion proof, RFC 9162 §2.1.3.2.

    Raises:
        ProofError: naming what failed (index out of range, wrong proof length,
            a hash of the wrong size, or a root mismatch).
    """
    _check_size("tree size", size)
    if index < 0:
        raise ProofError(f"index {index} is negative")
    if index >= size:
        raise ProofError(f"index {index} is beyond tree size {size}")
    _check_hash("leaf hash", leaf_hash)
    inner = (index ^ (size - 1)).bit_length()
    _check_proof(proof, inner + (index >> inner).bit_count())

    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("proof is shorter than the path to the root")
    if not hmac.compare_digest(r, root):
        raise ProofError("calculated root differs from the expected root")


def verify_consistency(
    *, size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Verify a consistency proof between two tree sizes, RFC 9162 §2.1.4.2.

    Equal sizes need an empty proof and equal roots. A proof from the empty tree
    is refused: it proves nothing (callers that accept any tree after an empty
    one, such as a witness, handle size 0 themselves).

    Raises:
        ProofError: naming what failed (sizes out of order, wrong proof length,
            a hash of the wrong size, or which root does not match).
    """
    _check_size("size1", size1)
    _check_size("size2", size2)
    if size1 > size2:
        raise ProofError(f"size1 {size1} is beyond size2 {size2}")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree (size1 0) proves nothing")
    if size1 == size2:
        _check_proof(proof, 0)
        if not hmac.compare_digest(root1, root2):
            raise ProofError(f"root1 differs from root2 although both sizes are {size1}")
        return
    _check_proof(proof, _consistency_proof_length(size1, size2))
    calculated1, calculated2 = _roots_from_consistency_path(size1, size2, [*proof], root1)
    if not hmac.compare_digest(calculated1, root1):
        raise ProofError("calculated root1 differs from the expected root1")
    if not hmac.compare_digest(calculated2, root2):
        raise ProofError("calculated root2 differs from the expected root2")


def _roots_from_consistency_path(
    size1: int, size2: int, path: list[bytes], root1: bytes
) -> tuple[bytes, bytes]:
    # RFC 9162 §2.1.4.2 steps 2-6, on a proof whose length is already checked.
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("proof is longer than the path to root2")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("proof is shorter than the path to root2")
    return fr, sr


def _consistency_proof_length(size1: int, size2: int) -> int:
    # The proof is the part of the inclusion path of leaf size1-1 above the
    # rightmost perfect subtree of the first tree, plus that subtree's root
    # unless the first tree is itself perfect (the verifier already has it).
    fork = ((size1 - 1) ^ (size2 - 1)).bit_length()
    border = ((size1 - 1) >> fork).bit_count()
    shift = (size1 & -size1).bit_length() - 1
    seed = 0 if size1 & (size1 - 1) == 0 else 1
    return seed + fork - shift + border


def _check_size(what: str, size: int) -> None:
    if size < 0:
        raise ProofError(f"{what} {size} is negative")
    if size > MAX_TREE_SIZE:
        raise ProofError(f"{what} {size} is beyond the uint64 range")


def _check_hash(what: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} is {len(value)} bytes, expected {HASH_SIZE}")


def _check_proof(proof: Sequence[bytes], expected: int) -> None:
    if len(proof) != expected:
        raise ProofError(f"proof has {len(proof)} hashes, expected {expected}")
    for i, h in enumerate(proof):
        _check_hash(f"proof hash {i}", h)


# --------------------------------------------------------------------------- stored nodes


class NodeReader(Protocol):
    """Batched read access to stored perfect-subtree hashes."""

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Sequence[bytes]:
        """Return the hash of each ``(level, index)`` key, in the order asked.

        A store answers with one query. A key that is not stored is an error
        (:class:`~gateway.core.errors.NotFoundError` or ``StorageError``).
        """
        ...


def root_at(size: int, reader: NodeReader) -> bytes:
    """Return the root of the tree's first ``size`` leaves, reading ``popcount(size)`` nodes.

    Raises:
        InputError: if ``size`` is negative.
        StorageError: if the reader answers with the wrong number or size of hashes.
    """
    if size < 0:
        raise InputError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    return _resolve([(0, size)], reader)[0]


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """Return the RFC 9162 §2.1.3.1 inclusion proof of leaf ``index`` in the tree of ``size``.

    Reads at most ``2 * log2(size)`` nodes in one ``get_nodes`` call.

    Raises:
        InputError: if ``index`` is not in ``[0, size)``.
        StorageError: if the reader answers with the wrong number or size of hashes.
    """
    if not 0 <= index < size:
        raise InputError(f"index {index} is beyond tree size {size}")
    siblings: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            siblings.append((start + k, end))
            end = start + k
        else:
            siblings.append((start, start + k))
            start += k
    siblings.reverse()
    return _resolve(siblings, reader)


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """Return the RFC 9162 §2.1.4.1 consistency proof from ``size1`` to ``size2``.

    Reads at most ``2 * log2(size2)`` nodes in one ``get_nodes`` call.

    Raises:
        InputError: unless ``0 < size1 <= size2``.
        StorageError: if the reader answers with the wrong number or size of hashes.
    """
    if not 0 < size1 <= size2:
        raise InputError(f"no consistency proof from size {size1} to size {size2}")
    ranges: list[tuple[int, int]] = []
    start, end, m, whole = 0, size2, size1, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, whole = start + k, m - k, False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return _resolve(ranges, reader)


def nodes_added_by_append(
    size_before: int, new_leaf_hash: bytes, reader: NodeReader
) -> list[tuple[int, int, bytes]]:
    """Return the nodes to store when a leaf is appended to a tree of ``size_before``.

    These are the leaf itself and every perfect subtree it completes; computing
    them reads one left sibling per completed level (at most ``log2(n)``).

    Raises:
        InputError: if ``size_before`` is negative or the hash is not 32 bytes.
        StorageError: if the reader answers with the wrong number or size of hashes.
    """
    _check_append(size_before, [new_leaf_hash])
    completed = ((size_before ^ (size_before + 1)).bit_length()) - 1
    keys = [(level, (size_before >> level) - 1) for level in range(completed)]
    nodes = [(0, size_before, new_leaf_hash)]
    current = new_leaf_hash
    for level, left in enumerate(_read(reader, keys), start=1):
        current = node_hash(left, current)
        nodes.append((level, size_before >> level, current))
    return nodes


def append_many(
    size_before: int, leaf_hashes: Iterable[bytes], reader: NodeReader
) -> list[tuple[int, int, bytes]]:
    """Return the nodes to store when ``leaf_hashes`` are appended in order.

    Reads the right edge of the existing tree (``popcount(size_before)`` nodes) in
    one call and keeps it in memory, so a batch costs one read whatever its length.

    Raises:
        InputError: if ``size_before`` is negative or a hash is not 32 bytes.
        StorageError: if the reader answers with the wrong number or size of hashes.
    """
    hashes = list(leaf_hashes)
    _check_append(size_before, hashes)
    edge_keys = _perfect_keys(0, size_before)
    edge = [(lv, i, h) for (lv, i), h in zip(edge_keys, _read(reader, edge_keys), strict=True)]
    nodes: list[_Node] = []
    for size, value in enumerate(hashes, start=size_before):
        level, index, current = 0, size, value
        nodes.append((0, index, current))
        while edge and edge[-1][0] == level:
            left = edge.pop()[2]
            current = node_hash(left, current)
            level, index = level + 1, index >> 1
            nodes.append((level, index, current))
        edge.append((level, index, current))
    return nodes


def _check_append(size_before: int, hashes: Sequence[bytes]) -> None:
    if size_before < 0:
        raise InputError(f"tree size {size_before} is negative")
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise InputError(f"leaf hash {i} is {len(h)} bytes, expected {HASH_SIZE}")


def _split(width: int) -> int:
    """Largest power of two strictly below ``width`` (RFC 9162's ``k``), for width > 1."""
    return 1 << ((width - 1).bit_length() - 1)


def _perfect_keys(start: int, end: int) -> list[_NodeKey]:
    """Stored perfect subtrees covering ``[start, end)``, left to right."""
    keys: list[_NodeKey] = []
    pos = start
    while pos < end:
        level = (end - pos).bit_length() - 1
        if pos:
            level = min(level, (pos & -pos).bit_length() - 1)
        keys.append((level, pos >> level))
        pos += 1 << level
    return keys


def _resolve(ranges: Sequence[tuple[int, int]], reader: NodeReader) -> list[bytes]:
    """Hash of each RFC 9162 subtree in ``ranges``, from one batched read."""
    per_range = [_perfect_keys(start, end) for start, end in ranges]
    values = iter(_read(reader, [key for keys in per_range for key in keys]))
    result = []
    for keys in per_range:
        parts = [next(values) for _ in keys]
        # An RFC 9162 subtree's perfect parts shrink left to right, and its
        # hash nests them to the right: H(p1, H(p2, ... pk)).
        folded = parts[-1]
        for part in reversed(parts[:-1]):
            folded = node_hash(part, folded)
        result.append(folded)
    return result


def _read(reader: NodeReader, keys: Sequence[_NodeKey]) -> list[bytes]:
    if not keys:
        return []
    values = list(reader.get_nodes(keys))
    if len(values) != len(keys):
        raise StorageError(f"node store returned {len(values)} hashes for {len(keys)} keys")
    for (level, index), value in zip(keys, values, strict=True):
        if len(value) != HASH_SIZE:
            raise StorageError(f"stored node ({level}, {index}) is {len(value)} bytes")
    return values


# --------------------------------------------------------------------------- in memory


class MemoryNodes:
    """A dict-backed :class:`NodeReader` and writer, for tests and offline verification."""

    def __init__(self) -> None:
        self._nodes: dict[_NodeKey, bytes] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return the stored hashes of ``keys``.

        Raises:
            NotFoundError: naming the first key that is not stored.
        """
        try:
            return [self._nodes[key] for key in keys]
        except KeyError as exc:
            raise NotFoundError(f"merkle node {exc.args[0]} is not stored") from exc

    def put_nodes(self, nodes: Iterable[tuple[int, int, bytes]]) -> None:
        """Store ``(level, index, hash)`` nodes."""
        for level, index, value in nodes:
            self._nodes[(level, index)] = value


class MerkleTree:
    """An in-memory append-only RFC 9162 tree over :class:`MemoryNodes`."""

    def __init__(self, entries: Iterable[bytes] = ()) -> None:
        self._nodes = MemoryNodes()
        self._size = 0
        self.extend(entries)

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    @property
    def nodes(self) -> MemoryNodes:
        """The stored nodes, usable as a :class:`NodeReader`."""
        return self._nodes

    def append(self, entry: bytes) -> int:
        """Append one entry (hashed as a leaf) and return its index."""
        return self.append_leaf_hash(leaf_hash(entry))

    def append_leaf_hash(self, value: bytes) -> int:
        """Append one leaf hash and return its index.

        Raises:
            InputError: if the hash is not 32 bytes.
        """
        self._nodes.put_nodes(nodes_added_by_append(self._size, value, self._nodes))
        self._size += 1
        return self._size - 1

    def extend(self, entries: Iterable[bytes]) -> int:
        """Append entries (hashed as leaves) and return the new size."""
        return self.extend_leaf_hashes(leaf_hash(e) for e in entries)

    def extend_leaf_hashes(self, values: Iterable[bytes]) -> int:
        """Append leaf hashes and return the new size.

        Raises:
            InputError: if a hash is not 32 bytes.
        """
        nodes = append_many(self._size, values, self._nodes)
        self._nodes.put_nodes(nodes)
        self._size += sum(1 for level, _, _ in nodes if level == 0)
        return self._size

    def leaf_hash(self, index: int) -> bytes:
        """Return the hash of leaf ``index``.

        Raises:
            InputError: if there is no such leaf.
        """
        if not 0 <= index < self._size:
            raise InputError(f"index {index} is beyond tree size {self._size}")
        return self._nodes.get_nodes([(0, index)])[0]

    def root(self, size: int | None = None) -> bytes:
        """Return the root at ``size`` (default: now).

        Raises:
            InputError: if ``size`` is negative or beyond the tree.
        """
        return root_at(self._check_size(size), self._nodes)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """Return the inclusion proof of leaf ``index`` at ``size`` (default: now).

        Raises:
            InputError: if ``size`` is beyond the tree or ``index`` beyond ``size``.
        """
        return inclusion_proof(index, self._check_size(size), self._nodes)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        """Return the consistency proof from ``size1`` to ``size2`` (default: now).

        Raises:
            InputError: if ``size2`` is beyond the tree or not ``0 < size1 <= size2``.
        """
        return consistency_proof(size1, self._check_size(size2), self._nodes)

    def _check_size(self, size: int | None) -> int:
        if size is None:
            return self._size
        if size > self._size:
            raise InputError(f"size {size} is beyond the tree size {self._size}")
        return size
