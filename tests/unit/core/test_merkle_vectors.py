"""The transparency-dev RFC 9162 proof vectors, used as-is (tests/vectors/rfc9162/NOTICE.md)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from gateway.core.errors import ProofError
from gateway.core.merkle import MerkleTree, verify_consistency, verify_inclusion

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "rfc9162"
INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").rglob("*.json"))

# Leaves behind the happy paths (NOTICE.md).
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

# Every refusal must say what failed, in one of the verifier's own words.
FAILURE = re.compile(
    r"^(index -?\d+ is (negative|beyond tree size \d+)"
    r"|(tree size|size1|size2) \d+ is (negative|beyond .*)"
    r"|a consistency proof from the empty tree \(size1 0\) proves nothing"
    r"|proof has \d+ hashes, expected \d+"
    r"|(leaf hash|proof hash \d+) is \d+ bytes, expected 32"
    r"|calculated root differs from the expected root"
    r"|calculated root[12] differs from the expected root[12]"
    r"|root1 differs from root2 although both sizes are \d+)$"
)


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _b64(value: str) -> bytes:
    return base64.b64decode(value, validate=True)


def _proof(data: dict[str, Any]) -> list[bytes]:
    return [_b64(h) for h in data["proof"] or []]


def _id(path: Path) -> str:
    return path.relative_to(VECTORS).as_posix()


def test_vector_folders_are_complete() -> None:
    # Guards against a silently empty parametrisation (a moved folder would pass).
    assert len(INCLUSION) == 98
    assert len(CONSISTENCY) == 98


@pytest.mark.parametrize("path", INCLUSION, ids=_id)
def test_inclusion_vector(path: Path) -> None:
    v = _load(path)

    def verify() -> None:
        verify_inclusion(
            leaf_hash=_b64(v["leafHash"]),
            index=v["leafIdx"],
            size=v["treeSize"],
            proof=_proof(v),
            root=_b64(v["root"]),
        )

    if v["wantErr"]:
        with pytest.raises(ProofError, match=FAILURE):
            verify()
    else:
        verify()


@pytest.mark.parametrize("path", CONSISTENCY, ids=_id)
def test_consistency_vector(path: Path) -> None:
    v = _load(path)

    def verify() -> None:
        verify_consistency(
            size1=v["size1"],
            size2=v["size2"],
            proof=_proof(v),
            root1=_b64(v["root1"]),
            root2=_b64(v["root2"]),
        )

    if v["wantErr"]:
        with pytest.raises(ProofError, match=FAILURE):
            verify()
    else:
        verify()


HAPPY_INCLUSION = [p for p in INCLUSION if p.name == "happy-path.json"]
HAPPY_CONSISTENCY = [
    p for p in CONSISTENCY if p.name == "happy-path.json" and p.parent.name.isdigit()
]


@pytest.mark.parametrize("path", HAPPY_INCLUSION, ids=_id)
def test_our_tree_reproduces_inclusion_vector(path: Path) -> None:
    v = _load(path)
    tree = MerkleTree(CT_LEAVES)
    assert tree.root(v["treeSize"]) == _b64(v["root"])
    assert tree.leaf_hash(v["leafIdx"]) == _b64(v["leafHash"])
    assert tree.inclusion_proof(v["leafIdx"], v["treeSize"]) == _proof(v)


@pytest.mark.parametrize("path", HAPPY_CONSISTENCY, ids=_id)
def test_our_tree_reproduces_consistency_vector(path: Path) -> None:
    v = _load(path)
    tree = MerkleTree(CT_LEAVES)
    assert tree.root(v["size1"]) == _b64(v["root1"])
    assert tree.root(v["size2"]) == _b64(v["root2"])
    assert tree.consistency_proof(v["size1"], v["size2"]) == _proof(v)


def test_refusals_name_the_failure() -> None:
    leaf = _b64("bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=")
    with pytest.raises(ProofError, match=r"^index 5 is beyond tree size 4$"):
        verify_inclusion(leaf_hash=leaf, index=5, size=4, proof=[], root=leaf)
    with pytest.raises(ProofError, match=r"^proof has 0 hashes, expected 2$"):
        verify_inclusion(leaf_hash=leaf, index=0, size=4, proof=[], root=leaf)
    with pytest.raises(ProofError, match=r"^calculated root differs from the expected root$"):
        verify_inclusion(leaf_hash=leaf, index=0, size=1, proof=[], root=bytes(32))
