"""Merkle trees in memory: ours (RFC 9162, stored perfect subtrees) against pymerkle.

Both build a tree over the same entries, prove inclusion of the same leaves at
the full size and verify their own proofs. pymerkle is the peer (baseline);
its subroot cache is warmed by one untimed pass over the same leaves, as ours
has every perfect subtree stored once built.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pymerkle import InmemoryTree
from pymerkle import verify_inclusion as pymerkle_verify_inclusion

from bench.harness import BenchConfig, BenchResult, Figure, Stats, time_ns
from gateway.core.merkle import MerkleTree, verify_inclusion

__all__ = ["NAME", "run"]

NAME = "merkle"


def _entries(count: int) -> list[bytes]:
    return [f"audit-event-{i:08d}-allowed-records.list".encode() for i in range(count)]


def run(config: BenchConfig) -> BenchResult:
    """Build rate, µs per inclusion proof and per verification, ours and pymerkle's."""
    reps = config.pick(5, 2)
    size = config.pick(50_000, 300)
    proofs = config.pick(2_000, 20)
    entries = _entries(size)
    indices = random.Random(9162).sample(range(size), proofs)

    ours = MerkleTree(entries)
    theirs = InmemoryTree(algorithm="sha256")
    theirs.append_entries(entries)
    root = ours.root()
    if root != theirs.get_root(size):
        raise RuntimeError("our root and pymerkle's differ for the same entries")
    our_leaves = {i: ours.leaf_hash(i) for i in indices}
    our_proofs = {i: ours.inclusion_proof(i) for i in indices}
    their_proofs = {i: theirs.prove_inclusion(i + 1, size) for i in indices}
    their_leaves = {i: theirs.get_leaf(i + 1) for i in indices}

    def build_ours() -> None:
        MerkleTree(entries)

    def build_theirs() -> None:
        InmemoryTree(algorithm="sha256").append_entries(entries)

    def prove_ours() -> None:
        for i in indices:
            ours.inclusion_proof(i)

    def prove_theirs() -> None:
        for i in indices:
            theirs.prove_inclusion(i + 1, size)

    def verify_ours() -> None:
        for i in indices:
            verify_inclusion(
                leaf_hash=our_leaves[i], index=i, size=size, proof=our_proofs[i], root=root
            )

    def verify_theirs() -> None:
        for i in indices:
            pymerkle_verify_inclusion(their_leaves[i], root, their_proofs[i])

    work: dict[str, tuple[Callable[[], None], int]] = {
        "build_theirs": (build_theirs, size),
        "build_ours": (build_ours, size),
        "prove_theirs": (prove_theirs, proofs),
        "prove_ours": (prove_ours, proofs),
        "verify_theirs": (verify_theirs, proofs),
        "verify_ours": (verify_ours, proofs),
    }
    samples: dict[str, list[float]] = {key: [] for key in work}
    for _ in range(reps):
        for key, (fn, count) in work.items():
            elapsed_ns = time_ns(fn)
            if key.startswith("build"):
                samples[key].append(count / (elapsed_ns / 1e9))
            else:
                samples[key].append(elapsed_ns / count / 1000)

    result = BenchResult(
        name=NAME,
        title="Merkle inclusion proofs in memory (peer: pymerkle)",
        measured=(
            f"`gateway.core.merkle.MerkleTree` over {size:,} entries: build rate, µs per "
            f"inclusion proof and per verification, for the same {proofs:,} random leaves "
            "at the full tree size"
        ),
        baseline=(
            "pymerkle `InmemoryTree` (sha256) over the same entries: `append_entries`, "
            "`prove_inclusion`, `verify_inclusion` of its own proofs; roots checked equal"
        ),
    )
    labels = {
        "build": ("build", "entries/s", True),
        "prove": ("inclusion proof", "µs", False),
        "verify": ("verify inclusion", "µs", False),
    }
    for step, (label, unit, higher) in labels.items():
        result.add(
            Figure(
                f"{step}_theirs",
                f"pymerkle {label}",
                unit,
                "baseline",
                Stats.of(samples[f"{step}_theirs"]),
                higher,
            )
        )
        result.add(
            Figure(
                f"{step}_ours",
                f"ours {label}",
                unit,
                "measured",
                Stats.of(samples[f"{step}_ours"]),
                higher,
            )
        )
    result.compare(
        "prove_ours_vs_theirs",
        "prove_ours",
        "prove_theirs",
        "time per proof relative to pymerkle (below 1: ours is faster)",
    )
    result.compare(
        "verify_ours_vs_theirs",
        "verify_ours",
        "verify_theirs",
        "time per verification relative to pymerkle (below 1: ours is faster)",
    )
    result.compare(
        "build_ours_vs_theirs",
        "build_ours",
        "build_theirs",
        "build rate relative to pymerkle (above 1: ours is faster)",
    )
    result.headline = "prove_ours_vs_theirs"
    return result
